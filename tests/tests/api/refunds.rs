//! Single-order refunds: the amount reserved at request time, organizer scope, the record on
//! the order, the provider's refund status honoured, and refunds that are still at the provider
//! when the event is cancelled.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use crate::cancellation::{cancel, configure_fake, fake_refunds, finished, sold_event_at, with_consumers};
use crate::harness::{Client, Tenant, id, isolated_stack};

/// The only order of `event`.
async fn only_order(staff: &Client, event: &Value) -> Value {
    let orders = staff.get(&format!("/api/v1/events/{}/orders", id(event))).await.body["orders"].clone();
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "{orders}");
    orders[0].clone()
}

/// Polls the order until `done` holds for it.
async fn order_until(staff: &Client, order: &Value, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let read = staff.get(&format!("/api/v1/orders/{}", id(order))).await.body["order"].clone();
        if done(&read) {
            return read;
        }
        assert!(started.elapsed() < Duration::from_mins(1), "the order never got there: {read}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A 10,000 order gets a single refund of 1,000 that is still at a slow provider (3 s) when
/// the event is cancelled with `policy`; the buyer must end with exactly `promised`.
async fn refund_in_flight_then_cancel(policy: Value, promised: u64, final_status: &str) {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, totals) = sold_event_at(&tenant, 1, 1, 10_000).await;
    let intent = totals.keys().next().unwrap().clone();
    assert_eq!(totals[&intent], 10_000);
    configure_fake(&stack, json!({ "latency_ms": 3000 })).await;
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let reply = admin
        .post(&format!("/api/v1/orders/{}/refund", id(&order)), &json!({ "reason": "Goodwill", "amount": 1000 }))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    order_until(&admin, &order, |o| o["status"] == "REFUND_PENDING").await;
    let cancelled = cancel(&admin, &event, policy).await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    assert_eq!((cancellation["orders_total"].as_u64(), cancellation["refunds_succeeded"].as_u64()), (Some(1), Some(1)));
    assert_eq!(cancellation["refunded_amount"].as_u64(), Some(promised - 1000), "what the cancellation itself paid");
    let order = order_until(&admin, &order, |o| o["status"] != "REFUND_PENDING").await;
    assert_eq!((order["status"].as_str(), order["refunded_amount"].as_u64()), (Some(final_status), Some(promised)));
    let mut amounts: Vec<u64> = fake_refunds(&stack)
        .await
        .iter()
        .filter(|r| r["payment_intent"] == intent.as_str())
        .map(|r| r["amount"].as_u64().unwrap())
        .collect();
    amounts.sort_unstable();
    assert_eq!(amounts, [1000, promised - 1000], "exactly two refunds at the provider");
    let reasons: Vec<&str> =
        order["refunds"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["Goodwill", "Sold out tour cancelled"]);
}

#[tokio::test]
async fn a_refund_still_at_the_provider_counts_toward_a_full_cancellation() {
    refund_in_flight_then_cancel(json!({ "reason": "Sold out tour cancelled" }), 10_000, "REFUNDED").await;
}

#[tokio::test]
async fn a_refund_still_at_the_provider_counts_toward_a_partial_cancellation() {
    let policy = json!({ "reason": "Sold out tour cancelled", "refund_policy": "partial", "partial_percent": 50 });
    refund_in_flight_then_cancel(policy, 5_000, "PARTIALLY_REFUNDED").await;
}

#[tokio::test]
async fn two_refunds_racing_for_one_order_never_exceed_what_was_paid() {
    let tenant = Tenant::new();
    let (event, _) = sold_event_at(&tenant, 1, 1, 10_000).await;
    let organizer = tenant.organizer();
    let order = only_order(&organizer, &event).await;
    let path = format!("/api/v1/orders/{}/refund", id(&order));
    let body = json!({ "reason": "Double click", "amount": 6000 });
    let (a, b) = tokio::join!(organizer.post(&path, &body), organizer.post(&path, &body));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 422], "{} / {}", a.text, b.text);
    let refused = if a.status == 422 { a } else { b };
    refused.assert_problem(422, "REFUND_EXCEEDS_REMAINING");
    // What is left is exactly what the first one did not take.
    organizer
        .post(&path, &json!({ "reason": "More", "amount": 4001 }))
        .await
        .assert_problem(422, "REFUND_EXCEEDS_REMAINING");
    let other_organizer = tenant.user("organizer", "organizer-2");
    other_organizer.post(&path, &json!({ "reason": "Not mine" })).await.assert_problem(403, "FORBIDDEN");
    tenant.user("customer", "holder-0").post(&path, &json!({ "reason": "Me" })).await.assert_problem(403, "FORBIDDEN");
    Tenant::new().admin().post(&path, &json!({ "reason": "Elsewhere" })).await.assert_problem(404, "NOT_FOUND");
    let rest = organizer.post(&path, &json!({ "reason": "The rest" })).await;
    assert_eq!((rest.status, rest.body["refund"]["amount"].as_u64()), (202, Some(4000)), "{}", rest.text);
    let done = order_until(&organizer, &order, |o| o["status"] == "REFUNDED").await;
    assert_eq!(done["refunded_amount"], 10_000);
    let requested: Vec<(&str, &str)> = done["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["requested_by"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(requested, [("organizer-1", "SUCCEEDED"), ("organizer-1", "SUCCEEDED")]);
}

#[tokio::test]
async fn a_refund_pending_at_the_provider_is_not_counted_until_it_succeeds() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, _) = sold_event_at(&tenant, 1, 1, 3000).await;
    configure_fake(&stack, json!({ "refund_status": "pending" })).await;
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let reply = admin.post(&format!("/api/v1/orders/{}/refund", id(&order)), &json!({ "reason": "Pending" })).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    order_until(&admin, &order, |o| o["status"] == "REFUND_PENDING").await;
    // Deliveries come and go (about one a second here); the provider still says pending. Not
    // longer: the fifth delivery is the last, and the switch below must come before it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    assert_eq!((waiting["status"].as_str(), waiting["refunded_amount"].as_u64()), (Some("REFUND_PENDING"), Some(0)));
    assert_eq!(waiting["refunds"][0]["status"], "PENDING");
    configure_fake(&stack, json!({ "refund_status": "succeeded" })).await;
    let done = order_until(&admin, &order, |o| o["status"] == "REFUNDED").await;
    assert_eq!(
        (done["refunded_amount"].as_u64(), done["refunds"][0]["status"].as_str()),
        (Some(3000), Some("SUCCEEDED"))
    );
    assert_eq!(fake_refunds(&stack).await.len(), 1, "one refund, asked about again, never paid twice");
}

#[tokio::test]
async fn a_single_refund_whose_answers_are_lost_ends_succeeded_once() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, _) = sold_event_at(&tenant, 1, 1, 3000).await;
    configure_fake(&stack, json!({ "refund_creates": "lose_answers" })).await;
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let reply = admin
        .post(&format!("/api/v1/orders/{}/refund", id(&order)), &json!({ "reason": "Lost answer", "amount": 1000 }))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let done = order_until(&admin, &order, |o| o["status"] != "REFUND_PENDING" && o["status"] != "CONFIRMED").await;
    assert_eq!(
        (done["status"].as_str(), done["refunded_amount"].as_u64(), done["refunds"][0]["status"].as_str()),
        (Some("PARTIALLY_REFUNDED"), Some(1000), Some("SUCCEEDED"))
    );
    assert_eq!(fake_refunds(&stack).await.len(), 1, "asked five times, paid once");
}

#[tokio::test]
async fn a_refund_whose_outcome_stays_unknown_keeps_its_amount_reserved() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, _) = sold_event_at(&tenant, 1, 1, 3000).await;
    // Every refund call answers 500 (the provider may or may not have done it); its list of
    // refunds still answers, and shows nothing yet.
    configure_fake(&stack, json!({ "refund_creates": "fail" })).await;
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let path = format!("/api/v1/orders/{}/refund", id(&order));
    assert_eq!(admin.post(&path, &json!({ "reason": "Unknown", "amount": 1000 })).await.status, 202);
    let dead = crate::cancellation::dead_letters(&stack, 1).await;
    assert_eq!(dead.len(), 1, "five deliveries, then the dead-letter queue");
    let waiting = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    assert_eq!(
        (waiting["status"].as_str(), waiting["refunds"][0]["status"].as_str()),
        (Some("REFUND_PENDING"), Some("PENDING")),
        "not failed: the money may already be on its way"
    );
    let more = admin.post(&path, &json!({ "reason": "Again", "amount": 2001 })).await;
    assert_eq!(more.status, 422, "the unknown 1000 stays reserved: {}", more.text);
    assert!(fake_refunds(&stack).await.is_empty());
}

#[tokio::test]
async fn a_last_delivery_never_fails_a_refund_another_consumer_is_still_making() {
    use local_runner::workers::invoke;
    use shared::jobs::Job;
    let (tenant, stack) = isolated_stack(crate::harness::no_workers(&[])).await;
    let (event, _) = sold_event_at(&tenant, 1, 1, 3000).await;
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let reply = admin
        .post(&format!("/api/v1/orders/{}/refund", id(&order)), &json!({ "reason": "Twice", "amount": 1000 }))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let message = crate::cancellation::drain(&stack, "RefundQueue").await;
    let body = message[0].to_string();
    // Consumer A's call takes eight seconds at the provider, and then succeeds.
    configure_fake(&stack, json!({ "latency_ms": 8000 })).await;
    let first = {
        let deps = std::sync::Arc::clone(&stack.deps);
        let batch = json!({ "Records": [crate::harness::sqs_record("first", &body)] });
        tokio::spawn(async move { invoke(&deps, Job::ProcessRefunds, batch, Duration::from_mins(1)).await.unwrap() })
    };
    // A has taken the slot and noted its call (milliseconds) and is waiting for the provider.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let holding = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    assert_eq!(holding["status"], "REFUND_PENDING");
    // Meanwhile a duplicate's fifth delivery is turned away and finds nothing in the list yet.
    configure_fake(&stack, json!({ "refund_creates": "rate_limited" })).await;
    let mut last = crate::harness::sqs_record("last", &body);
    last["attributes"]["ApproximateReceiveCount"] = json!("5");
    let answer =
        invoke(&stack.deps, Job::ProcessRefunds, json!({ "Records": [last] }), Duration::from_mins(1)).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([{ "itemIdentifier": "last" }]), "left open, not failed");
    assert_eq!(first.await.unwrap()["batchItemFailures"], json!([]));
    let done = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    assert_eq!(
        (done["status"].as_str(), done["refunded_amount"].as_u64(), done["refunds"][0]["status"].as_str()),
        (Some("PARTIALLY_REFUNDED"), Some(1000), Some("SUCCEEDED"))
    );
    assert_eq!(fake_refunds(&stack).await.len(), 1);
}

#[tokio::test]
async fn a_refund_older_than_the_providers_key_memory_is_looked_up_before_it_is_sent_again() {
    use local_runner::workers::invoke;
    use shared::jobs::Job;
    let (tenant, stack) = isolated_stack(crate::harness::no_workers(&[])).await;
    let (event, totals) = sold_event_at(&tenant, 1, 1, 3000).await;
    let intent = totals.keys().next().unwrap().clone();
    let admin = tenant.admin();
    let order = only_order(&admin, &event).await;
    let reply = admin
        .post(&format!("/api/v1/orders/{}/refund", id(&order)), &json!({ "reason": "Late", "amount": 1000 }))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let refund_id = reply.body["refund"]["id"].as_str().unwrap().to_owned();
    // A day ago the provider made this refund, and its answer was lost.
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{}/v1/refunds", stack.payments_url))
        .bearer_auth("sk_test_any")
        .header("Idempotency-Key", &refund_id)
        .form(&[("payment_intent", intent.as_str()), ("amount", "1000"), ("metadata[refund_id]", refund_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let day_ago = crate::harness::rfc3339(chrono::Utc::now() - chrono::Duration::hours(24));
    let emulators = &crate::harness::stack().emulators;
    let dynamodb = local_runner::emulator_clients(&emulators.dynamodb.endpoint(), &emulators.sqs.endpoint()).dynamodb;
    dynamodb
        .update_item()
        .table_name(stack.deps.store.table_name())
        .key("PK", AttributeValue::S(shared::store::keys::order_pk(tenant.id, id(&order).parse().unwrap())))
        .key("SK", AttributeValue::S(shared::store::keys::ORDER_SK.to_owned()))
        .update_expression("SET refunds.#refund.created_at = :then")
        .expression_attribute_names("#refund", &refund_id)
        .expression_attribute_values(":then", AttributeValue::S(day_ago))
        .send()
        .await
        .unwrap();
    // Since then the provider has forgotten the key: sending it again would pay twice.
    configure_fake(&stack, json!({ "forget_idempotency_keys": true })).await;
    let message = crate::cancellation::drain(&stack, "RefundQueue").await;
    assert_eq!(message.len(), 1);
    let batch = json!({ "Records": [crate::harness::sqs_record("late", &message[0].to_string())] });
    let answer = invoke(&stack.deps, Job::ProcessRefunds, batch, Duration::from_mins(1)).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    let done = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    assert_eq!(
        (done["status"].as_str(), done["refunded_amount"].as_u64(), done["refunds"][0]["status"].as_str()),
        (Some("PARTIALLY_REFUNDED"), Some(1000), Some("SUCCEEDED"))
    );
    assert_eq!(fake_refunds(&stack).await.len(), 1, "found, not paid a second time");
}

#[tokio::test]
async fn the_cancellation_deadline_cannot_be_shortened_once_tickets_are_held() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = crate::inventory::event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(crate::inventory::reserve(&tenant.customer(), &event, &[(&types[0], 1)]).await.status, 201);
    organizer.put(&path, &json!({ "cancellation_deadline_hours": 0 })).await.assert_problem(409, "EVENT_HAS_SALES");
    let longer = organizer.put(&path, &json!({ "cancellation_deadline_hours": 48 })).await;
    assert_eq!((longer.status, longer.body["event"]["cancellation_deadline_hours"].as_u64()), (200, Some(48)));
}
