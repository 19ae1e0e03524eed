//! Price quotes through the API: the contract's worked examples, the rules that change a price
//! over time and with sales, and a hold locking what was quoted.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, Tenant, id};
use crate::inventory::{event_on_sale, reserve};

async fn quote(client: &Client, event: &Value, lines: &[(&Value, u32)]) -> crate::harness::Reply {
    let items: Vec<Value> = lines.iter().map(|(t, q)| json!({ "ticket_type_id": t["id"], "quantity": q })).collect();
    client.post(&format!("/api/v1/events/{}/price-quote", id(event)), &json!({ "items": items })).await
}

/// (subtotal, fees, tax, total) of a quote's first line, and the quote's own totals.
fn amounts(quote: &Value) -> [(u64, u64, u64, u64); 2] {
    let of = |v: &Value| {
        (
            v["subtotal"].as_u64().unwrap(),
            v["fees"].as_u64().unwrap(),
            v["tax"].as_u64().unwrap(),
            v["total"].as_u64().unwrap(),
        )
    };
    [of(&quote["lines"][0]), of(quote)]
}

#[tokio::test]
async fn the_contracts_worked_examples_hold_through_the_api() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let fees = json!({ "service_fee": 500, "facility_fee": 250, "tax_rate_bps": 800 });
    let group = json!({ "max_per_order": 20, "pricing": { "group_discount": { "min_quantity": 10, "percent": 15 } } });
    let (event, types) = event_on_sale(
        &organizer,
        1000,
        &[
            ("Fees and tax", 5000, 100, fees),
            ("Odd tax", 11500, 100, json!({ "tax_rate_bps": 875 })),
            ("Groups", 10000, 100, group),
            ("Half a unit of tax", 1000, 100, json!({ "tax_rate_bps": 5 })),
        ],
    )
    .await;
    let customer = tenant.customer();

    let reply = quote(&customer, &event, &[(&types[0], 2)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(amounts(&reply.body), [(10_000, 1_500, 920, 12_420); 2]);
    assert_eq!(reply.body["lines"][0]["unit_price"], 5000);
    assert_eq!(reply.body["lines"][0]["rule"], "standard");
    assert_eq!(reply.body["currency"], "USD");

    let reply = quote(&customer, &event, &[(&types[1], 1)]).await;
    assert_eq!(reply.body["tax"], 1006, "875 bps of 11500 is 1006.25: {}", reply.text);

    let reply = quote(&customer, &event, &[(&types[3], 1)]).await;
    assert_eq!(reply.body["tax"], 1, "5 bps of 1000 is 0.5, rounded half-up: {}", reply.text);

    let reply = quote(&customer, &event, &[(&types[2], 10)]).await;
    assert_eq!(
        (reply.body["lines"][0]["discount"].as_u64(), reply.body["subtotal"].as_u64()),
        (Some(15_000), Some(85_000))
    );
    let reply = quote(&customer, &event, &[(&types[2], 5)]).await;
    assert_eq!((reply.body["lines"][0]["discount"].as_u64(), reply.body["subtotal"].as_u64()), (Some(0), Some(50_000)));

    // Several lines: the totals are the lines' sums.
    let reply = quote(&customer, &event, &[(&types[0], 2), (&types[1], 1), (&types[2], 10)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let lines = reply.body["lines"].as_array().unwrap();
    for field in ["subtotal", "fees", "tax", "total"] {
        let sum: u64 = lines.iter().map(|l| l[field].as_u64().unwrap()).sum();
        assert_eq!(reply.body[field].as_u64(), Some(sum), "{field}");
    }
}

#[tokio::test]
async fn an_early_bird_price_ends_on_time_and_demand_steps_follow_sales() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let early = json!({ "pricing": { "early_bird": { "price": 7500, "ends_at": in_an_hour } } });
    let demand = json!({ "pricing": { "demand": { "steps": [{ "sold_percent": 50, "price": 12500 }] } } });
    let (event, types) =
        event_on_sale(&organizer, 100, &[("Early", 10_000, 10, early), ("Demand", 10_000, 10, demand)]).await;
    let customer = tenant.customer();
    let unit = |reply: &crate::harness::Reply| {
        let line = &reply.body["lines"][0];
        (line["unit_price"].as_u64(), line["rule"].as_str().map(str::to_owned))
    };

    let reply = quote(&customer, &event, &[(&types[0], 1)]).await;
    assert_eq!(unit(&reply), (Some(7500), Some("early_bird".to_owned())), "{}", reply.text);
    // The early bird now ends in a second (nothing of the type is sold, so its pricing may change).
    let ends_at = chrono::Utc::now() + chrono::Duration::seconds(1);
    let path = format!("/api/v1/events/{}/ticket-types/{}", id(&event), id(&types[0]));
    let body = json!({ "pricing": { "early_bird": { "price": 7500, "ends_at": ends_at.to_rfc3339() } } });
    let reply = organizer.put(&path, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tokio::time::sleep((ends_at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200)).await;
    let reply = quote(&customer, &event, &[(&types[0], 1)]).await;
    assert_eq!(unit(&reply), (Some(10_000), Some("standard".to_owned())), "{}", reply.text);

    let reply = quote(&customer, &event, &[(&types[1], 1)]).await;
    assert_eq!(unit(&reply), (Some(10_000), Some("standard".to_owned())), "nothing sold yet");
    let buy_one = || async {
        let hold = reserve(&customer, &event, &[(&types[1], 1)]).await;
        assert_eq!(customer.pay_and_confirm(&hold.body["reservation"]).await.status, 201);
    };
    for _ in 0..3 {
        buy_one().await;
    }
    let reply = quote(&customer, &event, &[(&types[1], 1)]).await;
    assert_eq!(unit(&reply), (Some(10_000), Some("standard".to_owned())), "the 4th of 10: {}", reply.text);
    buy_one().await;
    // The 5th of 10 tickets is the one that crosses 50 %: it pays the step.
    let reply = quote(&customer, &event, &[(&types[1], 1)]).await;
    assert_eq!(unit(&reply), (Some(12_500), Some("demand".to_owned())), "the 5th of 10: {}", reply.text);
    let hold = reserve(&customer, &event, &[(&types[1], 1)]).await;
    assert_eq!(hold.body["reservation"]["items"][0]["unit_price"].as_u64(), Some(12_500), "{}", hold.text);
}

#[tokio::test]
async fn a_hold_locks_what_was_quoted() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let early_bird =
        json!({ "price": 2999, "ends_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339() });
    let extra = json!({ "service_fee": 125, "tax_rate_bps": 1999, "max_per_order": 12,
        "pricing": { "group_discount": { "min_quantity": 3, "percent": 7 }, "early_bird": early_bird } });
    let (event, types) = event_on_sale(&organizer, 100, &[("General", 3333, 50, extra)]).await;
    let customer = tenant.customer();
    let quoted = quote(&customer, &event, &[(&types[0], 7)]).await;
    assert_eq!(quoted.status, 200, "{}", quoted.text);
    let hold = reserve(&customer, &event, &[(&types[0], 7)]).await;
    assert_eq!(hold.status, 201, "{}", hold.text);
    let locked = &hold.body["reservation"];
    for field in ["subtotal", "fees", "tax", "total"] {
        assert_eq!(locked[field], quoted.body[field], "{field}");
        assert_eq!(locked["items"][0][field], quoted.body["lines"][0][field], "line {field}");
    }
    for field in ["quantity", "unit_price", "rule", "discount"] {
        assert_eq!(locked["items"][0][field], quoted.body["lines"][0][field], "line {field}");
    }
    assert_eq!(quoted.body["lines"][0]["rule"], "early_bird");
}

#[tokio::test]
async fn quotes_refuse_what_cannot_be_priced_and_hide_what_cannot_be_seen() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 100, &[("General", 1000, 50, json!({ "max_per_order": 4 }))]).await;
    let customer = tenant.customer();
    let path = format!("/api/v1/events/{}/price-quote", id(&event));

    quote(&customer, &event, &[(&types[0], 5)]).await.assert_problem(422, "VALIDATION_ERROR");
    let unknown = json!({ "items": [{ "ticket_type_id": uuid::Uuid::now_v7(), "quantity": 1 }] });
    customer.post(&path, &unknown).await.assert_problem(422, "VALIDATION_ERROR");
    customer.post(&path, &json!({ "items": [] })).await.assert_problem(400, "VALIDATION_ERROR");
    let extra = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 1 }], "hold_minutes": 5 });
    let reply = customer.post(&path, &extra).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.body["errors"][0]["code"], "UNEXPECTED_PROPERTY", "{}", reply.text);
    let one = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 1 }] });
    customer.post("/api/v1/events/not-a-uuid/price-quote", &one).await.assert_problem(400, "VALIDATION_ERROR");

    // Another tenant's event does not exist for this tenant.
    let stranger = Tenant::new().customer();
    let reply = quote(&stranger, &event, &[(&types[0], 1)]).await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    // A draft is the organizer's to see, not a customer's.
    let venue = organizer.venue(100).await;
    let draft = organizer.event(&venue, "Draft", 30, json!({})).await;
    let reply = organizer
        .post(
            &format!("/api/v1/events/{}/ticket-types", id(&draft)),
            &json!({ "name": "A", "price": 100, "quantity": 5 }),
        )
        .await;
    let draft_type = reply.body["ticket_type"].clone();
    assert_eq!(quote(&organizer, &draft, &[(&draft_type, 1)]).await.status, 200, "the organizer previews prices");
    assert_eq!(quote(&customer, &draft, &[(&draft_type, 1)]).await.status, 404);
}
