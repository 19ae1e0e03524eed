//! Ticket types, capacity, holds and orders, over HTTP.

use serde_json::{Value, json};

use crate::harness::{Client, Reply, Tenant, id};

/// An event on sale with the given ticket types (name, price, quantity, extra fields).
pub async fn event_on_sale(
    organizer: &Client,
    capacity: u32,
    types: &[(&str, u64, u32, Value)],
) -> (Value, Vec<Value>) {
    let venue = organizer.venue(capacity).await;
    let event = organizer.event(&venue, "Sale", 30, json!({})).await;
    let mut created = Vec::new();
    for (name, price, quantity, extra) in types {
        let mut body = json!({ "name": name, "price": price, "quantity": quantity });
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let reply = organizer.post(&format!("/api/v1/events/{}/ticket-types", id(&event)), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        created.push(reply.body["ticket_type"].clone());
    }
    for status in ["PUBLISHED", "ON_SALE"] {
        let reply = organizer.put(&format!("/api/v1/events/{}", id(&event)), &json!({ "status": status })).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    (event, created)
}

pub async fn reserve(client: &Client, event: &Value, lines: &[(&Value, u32)]) -> Reply {
    let items: Vec<Value> = lines.iter().map(|(t, q)| json!({ "ticket_type_id": t["id"], "quantity": q })).collect();
    client.post(&format!("/api/v1/events/{}/reservations", id(event)), &json!({ "items": items })).await
}

pub async fn capacity(client: &Client, event: &Value) -> Value {
    let reply = client.get(&format!("/api/v1/events/{}/capacity", id(event))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

/// available + reserved + sold = quantity for every type, and the event totals add up.
pub fn assert_counts_add_up(capacity: &Value) {
    let mut sums = (0, 0, 0, 0);
    for t in capacity["ticket_types"].as_array().unwrap() {
        let (q, a, r, s) = (
            t["quantity"].as_u64().unwrap(),
            t["available"].as_u64().unwrap(),
            t["reserved"].as_u64().unwrap(),
            t["sold"].as_u64().unwrap(),
        );
        assert_eq!(a + r + s, q, "{t}");
        sums = (sums.0 + q, sums.1 + a, sums.2 + r, sums.3 + s);
    }
    assert_eq!(
        (
            capacity["allocated"].as_u64().unwrap(),
            capacity["available"].as_u64().unwrap(),
            capacity["reserved"].as_u64().unwrap(),
            capacity["sold"].as_u64().unwrap()
        ),
        sums,
        "{capacity}"
    );
}

#[tokio::test]
async fn ticket_types_are_bounded_by_the_event_capacity() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Cap", 30, json!({})).await;
    let path = format!("/api/v1/events/{}/ticket-types", id(&event));
    let general = organizer
        .post(&path, &json!({ "name": "General", "price": 5000, "quantity": 70, "service_fee": 500, "facility_fee": 250, "tax_rate_bps": 800 }))
        .await;
    assert_eq!(general.status, 201, "{}", general.text);
    let t = &general.body["ticket_type"];
    assert_eq!(
        (t["currency"].as_str(), t["min_per_order"].as_u64(), t["max_per_order"].as_u64()),
        (Some("USD"), Some(1), Some(10))
    );
    assert_eq!(t["availability"], json!({ "quantity": 70, "available": 70, "reserved": 0, "sold": 0 }));
    assert_eq!(t["current_price"], 5000);
    organizer
        .post(&path, &json!({ "name": "VIP", "price": 9000, "quantity": 31 }))
        .await
        .assert_problem(409, "CAPACITY_EXCEEDED");
    assert_eq!(organizer.post(&path, &json!({ "name": "VIP", "price": 9000, "quantity": 30 })).await.status, 201);
    let capacity = capacity(&organizer, &event).await;
    assert_eq!(
        (capacity["capacity"].as_u64(), capacity["allocated"].as_u64(), capacity["available"].as_u64()),
        (Some(100), Some(100), Some(100))
    );
    assert_counts_add_up(&capacity);
    let listed = organizer.get(&path).await;
    assert_eq!(listed.body["ticket_types"].as_array().unwrap().len(), 2);
    let event_now = organizer.get(&format!("/api/v1/events/{}", id(&event))).await.body["event"].clone();
    assert_eq!(event_now["availability"]["allocated"], 100);
    organizer
        .put(&format!("/api/v1/events/{}", id(&event)), &json!({ "capacity": 99 }))
        .await
        .assert_problem(409, "EVENT_HAS_SALES");
}

#[tokio::test]
async fn concurrent_ticket_type_creation_never_over_allocates() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Race", 30, json!({})).await;
    let path = format!("/api/v1/events/{}/ticket-types", id(&event));
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let (organizer, path) = (organizer.clone(), path.clone());
            tokio::spawn(async move {
                organizer.post(&path, &json!({ "name": format!("T{i}"), "price": 100, "quantity": 40 })).await
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        let reply = attempt.await.unwrap();
        match reply.status {
            201 => created += 1,
            _ => assert_eq!(reply.code(), "CAPACITY_EXCEEDED", "{}", reply.text),
        }
    }
    assert_eq!(created, 2, "only two types of 40 fit in 100");
}

#[tokio::test]
async fn ticket_type_input_is_validated() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Valid", 30, json!({})).await;
    let path = format!("/api/v1/events/{}/ticket-types", id(&event));
    for (body, field) in [
        (json!({ "price": 1, "quantity": 1 }), "name"),
        (json!({ "name": "x", "price": -1, "quantity": 1 }), "price"),
        (json!({ "name": "x", "price": 100_000_000, "quantity": 1 }), "price"),
        (json!({ "name": "x", "price": 1, "quantity": 0 }), "quantity"),
        (json!({ "name": "x", "price": 1, "quantity": 1, "currency": "usd" }), "currency"),
        (json!({ "name": "x", "price": 1, "quantity": 1, "tax_rate_bps": 10_001 }), "tax_rate_bps"),
        (json!({ "name": "x", "price": 1, "quantity": 1, "max_per_order": 101 }), "max_per_order"),
        (json!({ "name": "x", "price": 1, "quantity": 1, "sales_start_at": "2027-01-01T00:00:00" }), "sales_start_at"),
        (
            json!({ "name": "x", "price": 1, "quantity": 1, "pricing": { "group_discount": { "min_quantity": 1, "percent": 10 } } }),
            "pricing.group_discount.min_quantity",
        ),
        (json!({ "name": "x", "price": 1, "quantity": 1, "color": "red" }), "color"),
    ] {
        let reply = organizer.post(&path, &body).await;
        reply.assert_problem(400, "VALIDATION_ERROR");
        assert!(reply.error_fields().contains(&field.to_owned()), "{body}: {}", reply.text);
    }
    let after_start = event["ends_at"].clone();
    for (body, field) in [
        (json!({ "name": "x", "price": 1, "quantity": 1, "sales_end_at": after_start }), "sales_end_at"),
        (json!({ "name": "x", "price": 1, "quantity": 1, "min_per_order": 5, "max_per_order": 2 }), "min_per_order"),
        (
            json!({ "name": "x", "price": 100, "quantity": 1, "pricing": { "early_bird": { "price": 100, "ends_at": "2027-01-01T00:00:00Z" } } }),
            "pricing.early_bird.price",
        ),
        (
            json!({ "name": "x", "price": 100, "quantity": 1, "pricing": { "early_bird": { "price": 50, "ends_at": after_start } } }),
            "pricing.early_bird.ends_at",
        ),
        (
            json!({ "name": "x", "price": 100, "quantity": 1,
                "pricing": { "demand": { "steps": [{ "sold_percent": 50, "price": 200 }], "max_price": 150 } } }),
            "pricing.demand.max_price",
        ),
    ] {
        let reply = organizer.post(&path, &body).await;
        reply.assert_problem(422, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    Tenant::new()
        .admin()
        .post(&path, &json!({ "name": "x", "price": 1, "quantity": 1 }))
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_hold_locks_prices_and_moves_tickets_from_available_to_reserved() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let extra = json!({ "service_fee": 500, "facility_fee": 250, "tax_rate_bps": 800 });
    let (event, types) = event_on_sale(&organizer, 100, &[("General", 5000, 40, extra)]).await;
    let buyer = tenant.user("customer", "alice");
    let reply = reserve(&buyer, &event, &[(&types[0], 2)]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let hold = &reply.body["reservation"];
    assert_eq!((hold["status"].as_str(), hold["customer_id"].as_str()), (Some("HELD"), Some("alice")));
    assert_eq!(
        (hold["subtotal"].as_u64(), hold["fees"].as_u64(), hold["tax"].as_u64(), hold["total"].as_u64()),
        (Some(10_000), Some(1_500), Some(920), Some(12_420))
    );
    assert_eq!(hold["items"][0]["unit_price"], 5000);
    let capacity = capacity(&organizer, &event).await;
    assert_eq!(
        capacity["ticket_types"][0],
        json!({ "id": types[0]["id"], "name": "General", "quantity": 40, "available": 38, "reserved": 2, "sold": 0 })
    );
    assert_counts_add_up(&capacity);

    let path = format!("/api/v1/reservations/{}", id(hold));
    assert_eq!(buyer.get(&path).await.body["reservation"], *hold);
    assert_eq!(organizer.get(&path).await.status, 200, "staff read holds");
    tenant.user("customer", "mallory").get(&path).await.assert_problem(404, "NOT_FOUND");
    Tenant::new().admin().get(&path).await.assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn releasing_returns_capacity_at_once_and_twice_changes_nothing() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let buyer = tenant.customer();
    let hold = reserve(&buyer, &event, &[(&types[0], 3)]).await.body["reservation"].clone();
    let path = format!("/api/v1/reservations/{}", id(&hold));
    tenant.user("customer", "someone-else").delete(&path).await.assert_problem(404, "NOT_FOUND");
    let first = buyer.delete(&path).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["reservation"]["status"], "RELEASED");
    assert_eq!(capacity(&organizer, &event).await["available"], 10);
    let second = buyer.delete(&path).await;
    assert_eq!((second.status, &second.body), (200, &first.body), "releasing again answers the same");
    assert_eq!(capacity(&organizer, &event).await["available"], 10, "and returns nothing twice");
    buyer
        .post(&format!("{path}/confirm"), &json!({ "payment_reference": "pi_1" }))
        .await
        .assert_problem(409, "RESERVATION_NOT_HELD");
}

#[tokio::test]
async fn confirming_turns_a_hold_into_an_order_once() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("General", 2500, 50, json!({}))]).await;
    let buyer = tenant.user("customer", "bob");
    let hold = reserve(&buyer, &event, &[(&types[0], 4)]).await.body["reservation"].clone();
    let confirm = format!("/api/v1/reservations/{}/confirm", id(&hold));
    tenant
        .user("customer", "eve")
        .post(&confirm, &json!({ "payment_reference": "pi_x" }))
        .await
        .assert_problem(404, "NOT_FOUND");
    organizer.post(&confirm, &json!({ "payment_reference": "pi_x" })).await.assert_problem(403, "FORBIDDEN");
    buyer.post(&confirm, &json!({ "payment_reference": "" })).await.assert_problem(400, "VALIDATION_ERROR");
    let reply = buyer.pay_and_confirm(&hold).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let order = &reply.body["order"];
    assert_eq!(
        (order["status"].as_str(), order["total"].as_u64(), order["refunded_amount"].as_u64()),
        (Some("CONFIRMED"), Some(10_000), Some(0))
    );
    assert_eq!(order["reservation_id"], hold["id"]);
    buyer.post(&confirm, &json!({ "payment_reference": "pi_123" })).await.assert_problem(409, "ALREADY_CONFIRMED");
    buyer.delete(&format!("/api/v1/reservations/{}", id(&hold))).await.assert_problem(409, "ALREADY_CONFIRMED");
    let capacity = capacity(&organizer, &event).await;
    assert_eq!(
        (capacity["sold"].as_u64(), capacity["reserved"].as_u64(), capacity["available"].as_u64()),
        (Some(4), Some(0), Some(46))
    );
    assert_counts_add_up(&capacity);

    let read = buyer.get(&format!("/api/v1/orders/{}", id(order))).await;
    assert_eq!(read.body["order"], *order);
    tenant.user("customer", "eve").get(&format!("/api/v1/orders/{}", id(order))).await.assert_problem(404, "NOT_FOUND");
    let event_orders = organizer.get(&format!("/api/v1/events/{}/orders", id(&event))).await;
    assert_eq!(event_orders.body["orders"], json!([order]));
    buyer.get(&format!("/api/v1/events/{}/orders", id(&event))).await.assert_problem(403, "FORBIDDEN");
    assert_eq!(buyer.get("/api/v1/customers/bob/orders").await.body["orders"], json!([order]));
    buyer.get("/api/v1/customers/eve/orders").await.assert_problem(403, "FORBIDDEN");
    assert_eq!(organizer.get("/api/v1/customers/bob/orders").await.body["orders"], json!([order]));
    assert_eq!(
        buyer.get(&format!("/api/v1/reservations/{}", id(&hold))).await.body["reservation"]["order_id"],
        order["id"]
    );
}

#[tokio::test]
async fn holds_respect_per_order_bounds_sales_state_and_windows() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let later = chrono::Utc::now() + chrono::Duration::days(5);
    let (event, types) = event_on_sale(
        &organizer,
        100,
        &[
            ("Pairs", 1000, 20, json!({ "min_per_order": 2, "max_per_order": 4 })),
            ("Later", 1000, 20, json!({ "sales_start_at": crate::harness::rfc3339(later) })),
        ],
    )
    .await;
    let buyer = tenant.customer();
    let reply = reserve(&buyer, &event, &[(&types[0], 1)]).await;
    reply.assert_problem(422, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["items[0].quantity"]);
    // Any quantity outside the type's own bounds is a 422, including 0 and more than any type sells.
    for outside in [0, 5, 101] {
        reserve(&buyer, &event, &[(&types[0], outside)]).await.assert_problem(422, "VALIDATION_ERROR");
    }
    reserve(&buyer, &event, &[(&types[1], 1)]).await.assert_problem(409, "SALES_NOT_OPEN");
    let unknown = json!({ "id": uuid::Uuid::now_v7() });
    let reply = reserve(&buyer, &event, &[(&unknown, 1)]).await;
    reply.assert_problem(422, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["items[0].ticket_type_id"]);
    organizer.put(&format!("/api/v1/events/{}", id(&event)), &json!({ "status": "SALES_PAUSED" })).await;
    reserve(&buyer, &event, &[(&types[0], 2)]).await.assert_problem(409, "SALES_NOT_OPEN");
    let events_path = format!("/api/v1/events/{}/reservations", id(&event));
    buyer.post(&events_path, &json!({ "items": [] })).await.assert_problem(400, "VALIDATION_ERROR");
    buyer
        .post(
            &events_path,
            &json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 2 }], "hold_minutes": 61 }),
        )
        .await
        .assert_problem(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn customers_are_held_to_five_holds_and_fifty_tickets_per_event() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 500, &[("Any", 100, 500, json!({ "max_per_order": 40 }))]).await;
    let buyer = tenant.user("customer", "collector");
    for _ in 0..5 {
        assert_eq!(reserve(&buyer, &event, &[(&types[0], 1)]).await.status, 201);
    }
    let sixth = reserve(&buyer, &event, &[(&types[0], 1)]).await;
    sixth.assert_problem(409, "LIMIT_EXCEEDED");
    assert!(sixth.body["detail"].as_str().unwrap().contains("at most 5 "), "{}", sixth.text);
    assert_eq!(capacity(&organizer, &event).await["reserved"], 5, "the refused hold took nothing");

    let bulk = tenant.user("customer", "bulk-buyer");
    assert_eq!(reserve(&bulk, &event, &[(&types[0], 40)]).await.status, 201);
    let over = reserve(&bulk, &event, &[(&types[0], 11)]).await;
    over.assert_problem(409, "LIMIT_EXCEEDED");
    assert!(over.body["detail"].as_str().unwrap().contains("50"), "{}", over.text);
    assert_eq!(reserve(&bulk, &event, &[(&types[0], 10)]).await.status, 201, "exactly 50 is allowed");
}

#[tokio::test]
async fn a_single_hold_cannot_take_more_than_fifty_tickets_of_one_event() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let kinds: Vec<(String, Value)> = (0..6).map(|k| (format!("Zone {k}"), json!({ "max_per_order": 10 }))).collect();
    let specs: Vec<(&str, u64, u32, Value)> =
        kinds.iter().map(|(name, extra)| (name.as_str(), 100, 20, extra.clone())).collect();
    let (event, types) = event_on_sale(&organizer, 120, &specs).await;
    let lines: Vec<(&Value, u32)> = types.iter().map(|t| (t, 10)).collect();
    let greedy = reserve(&tenant.user("customer", "greedy"), &event, &lines).await;
    greedy.assert_problem(409, "LIMIT_EXCEEDED");
    assert_eq!(capacity(&organizer, &event).await["reserved"], 0, "nothing held");
    assert_eq!(
        reserve(&tenant.user("customer", "greedy"), &event, &lines[..5]).await.status,
        201,
        "50 in one hold is fine"
    );
}

#[tokio::test]
async fn selling_the_last_ticket_marks_the_event_sold_out_and_a_release_reopens_it() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("A", 100, 3, json!({})), ("B", 100, 2, json!({}))]).await;
    let event_path = format!("/api/v1/events/{}", id(&event));
    let first = reserve(&tenant.user("customer", "c1"), &event, &[(&types[0], 3)]).await;
    assert_eq!(first.status, 201);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "ON_SALE", "B still has tickets");
    let last = reserve(&tenant.user("customer", "c2"), &event, &[(&types[1], 2)]).await;
    assert_eq!(last.status, 201);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "SOLD_OUT");
    let refused = reserve(&tenant.user("customer", "c3"), &event, &[(&types[0], 1)]).await;
    refused.assert_problem(409, "SOLD_OUT");
    assert_eq!(refused.error_fields(), ["items[0].ticket_type_id"], "the sold-out type is named");

    let released =
        tenant.user("customer", "c2").delete(&format!("/api/v1/reservations/{}", id(&last.body["reservation"]))).await;
    assert_eq!(released.status, 200);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "ON_SALE", "capacity came back");
    assert_eq!(reserve(&tenant.user("customer", "c3"), &event, &[(&types[1], 1)]).await.status, 201);
}

#[tokio::test]
async fn new_or_enlarged_ticket_types_reopen_an_event_that_sold_out_by_itself() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 20, &[("A", 100, 2, json!({}))]).await;
    let event_path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(reserve(&tenant.user("customer", "c1"), &event, &[(&types[0], 2)]).await.status, 201);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "SOLD_OUT");
    // A type added now sells once the event reopens, which the new tickets make it do.
    let added = organizer
        .post(&format!("{event_path}/ticket-types"), &json!({ "name": "B", "price": 100, "quantity": 2 }))
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "ON_SALE");
    let late = tenant.user("customer", "c2");
    assert_eq!(reserve(&late, &event, &[(&added.body["ticket_type"], 2)]).await.status, 201);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "SOLD_OUT");
    // Raising a sold-out type's quantity reopens it too.
    let raised =
        organizer.put(&format!("{event_path}/ticket-types/{}", id(&types[0])), &json!({ "quantity": 3 })).await;
    assert_eq!(raised.status, 200, "{}", raised.text);
    assert_eq!(organizer.get(&event_path).await.body["event"]["status"], "ON_SALE");
    assert_eq!(reserve(&tenant.user("customer", "c3"), &event, &[(&types[0], 1)]).await.status, 201);
}

#[tokio::test]
async fn ticket_type_changes_respect_what_is_sold() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 100, &[("General", 1000, 50, json!({}))]).await;
    let path = format!("/api/v1/events/{}/ticket-types/{}", id(&event), id(&types[0]));
    let repriced = organizer.put(&path, &json!({ "price": 1200 })).await;
    assert_eq!(
        (repriced.status, repriced.body["ticket_type"]["price"].as_u64()),
        (200, Some(1200)),
        "{}",
        repriced.text
    );
    // Nothing sold or held yet: the event may still move (its types are checked at commit).
    let sooner = chrono::Utc::now() + chrono::Duration::days(30);
    let times = |at: chrono::DateTime<chrono::Utc>| json!({ "starts_at": crate::harness::rfc3339(at), "ends_at": crate::harness::rfc3339(at + chrono::Duration::hours(2)) });
    let event_path = format!("/api/v1/events/{}", id(&event));
    let moved = organizer.put(&event_path, &times(sooner)).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let buyer = tenant.customer();
    let hold = reserve(&buyer, &event, &[(&types[0], 5)]).await.body["reservation"].clone();
    assert_eq!(hold["items"][0]["unit_price"], 1200);
    assert_eq!(buyer.pay_and_confirm(&hold).await.status, 201);
    organizer.put(&path, &json!({ "price": 1500 })).await.assert_problem(409, "TICKETS_SOLD");
    organizer.put(&path, &json!({ "quantity": 4 })).await.assert_problem(409, "CAPACITY_EXCEEDED");
    organizer.put(&path, &json!({ "quantity": 101 })).await.assert_problem(409, "CAPACITY_EXCEEDED");
    let shrunk = organizer.put(&path, &json!({ "quantity": 5 })).await;
    assert_eq!(shrunk.status, 200, "{}", shrunk.text);
    assert_eq!(
        shrunk.body["ticket_type"]["availability"],
        json!({ "quantity": 5, "available": 0, "reserved": 0, "sold": 5 })
    );
    assert_counts_add_up(&capacity(&organizer, &event).await);
    let later = chrono::Utc::now() + chrono::Duration::days(40);
    organizer.put(&event_path, &times(later)).await.assert_problem(409, "EVENT_HAS_SALES");
    organizer.delete(&event_path).await.assert_problem(409, "EVENT_HAS_SALES");
}

#[tokio::test]
async fn a_hold_prepared_before_an_event_is_deleted_cannot_commit_after() {
    use shared::domain::hold::{HoldRequest, price_hold};
    use shared::store::inventory::HoldError;
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, _) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let stack = crate::harness::stack();
    let deps = stack.deps(&stack.table, None);
    let event_id = id(&event).parse().unwrap();
    let read_before = deps.store.get_event(tenant.id, event_id).await.unwrap().unwrap();
    assert_eq!(organizer.delete(&format!("/api/v1/events/{event_id}")).await.status, 204);

    // Priced from the read taken before the delete, as a racing request would have.
    let lines = [(read_before.ticket_types[0].id, 1)];
    let request = HoldRequest { lines: &lines, customer_id: "late", hold_for: chrono::Duration::minutes(5) };
    let hold = price_hold(&read_before.event, &read_before.ticket_types, request, chrono::Utc::now()).unwrap();
    let result = deps.store.place_hold(tenant.id, &hold).await;
    assert!(matches!(result, Err(HoldError::Lines(ref lines)) if lines == &[0]), "{result:?}");
}

#[tokio::test]
async fn nothing_is_held_or_bought_once_the_event_has_started() {
    use crate::harness::{isolated_stack, no_workers, rfc3339};
    let options = no_workers(&[("EVENT_MIN_LEAD_HOURS", "0")]);
    let (tenant, _stack) = isolated_stack(options).await;
    let organizer = tenant.organizer();
    let venue = organizer.venue(10).await;
    let starts = chrono::Utc::now() + chrono::Duration::seconds(4);
    let times = json!({ "starts_at": rfc3339(starts), "ends_at": rfc3339(starts + chrono::Duration::hours(2)) });
    let event = organizer.event(&venue, "Starting now", 0, times).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let created =
        organizer.post(&format!("{path}/ticket-types"), &json!({ "name": "Door", "price": 500, "quantity": 5 })).await;
    assert_eq!(created.status, 201, "{}", created.text);
    for status in ["PUBLISHED", "ON_SALE"] {
        assert_eq!(organizer.put(&path, &json!({ "status": status })).await.status, 200);
    }
    let buyer = tenant.customer();
    let hold = reserve(&buyer, &event, &[(&created.body["ticket_type"], 1)]).await;
    assert_eq!(hold.status, 201, "{}", hold.text);
    let wait = (starts - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    reserve(&buyer, &event, &[(&created.body["ticket_type"], 1)]).await.assert_problem(409, "SALES_NOT_OPEN");
    buyer.pay_and_confirm(&hold.body["reservation"]).await.assert_problem(409, "SALES_NOT_OPEN");
    assert_eq!(capacity(&organizer, &event).await["sold"], 0);
}
