//! Holds end on time: by the SQS delay path alone, by the sweep alone, and a hold past its
//! expiry is never sold even before either has run. These tests wait out a real one-minute
//! hold, so they run side by side.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::api::Job;

use crate::harness::{StackOptions, Tenant, fast_workers, id, isolated_stack, no_workers, sqs_record};
use crate::inventory::{assert_counts_add_up, capacity, event_on_sale};

/// A one-minute hold of 2 tickets of a 10-ticket type; returns it and the event.
async fn one_minute_hold(tenant: &Tenant) -> (Value, Value) {
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let reply = tenant
        .customer()
        .post(
            &format!("/api/v1/events/{}/reservations", id(&event)),
            &json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 2 }], "hold_minutes": 1 }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (reply.body["reservation"].clone(), event)
}

/// Polls the event's availability until it is back to 10; returns when that happened.
async fn wait_for_capacity_back(tenant: &Tenant, event: &Value, limit: Duration) -> Option<DateTime<Utc>> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let counts = capacity(&tenant.organizer(), event).await;
        if counts["available"] == 10 {
            assert_counts_add_up(&counts);
            return Some(Utc::now());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

async fn assert_returned_within_a_minute_of_expiry(options: StackOptions, path: &str) {
    let (tenant, _) = isolated_stack(options).await;
    let (hold, event) = one_minute_hold(&tenant).await;
    let expires_at: DateTime<Utc> = hold["expires_at"].as_str().unwrap().parse().unwrap();
    let back = wait_for_capacity_back(&tenant, &event, Duration::from_secs(150)).await.expect("capacity comes back");
    assert!(back >= expires_at, "{path}: capacity came back before the hold expired");
    let lag = back - expires_at;
    assert!(lag <= chrono::Duration::seconds(60), "{path}: capacity came back {lag} after expiry");
    let read = tenant.customer().get(&format!("/api/v1/reservations/{}", id(&hold))).await;
    assert_eq!(read.body["reservation"]["status"], "EXPIRED", "{path}");
}

#[tokio::test]
async fn the_expiry_queue_alone_returns_a_holds_capacity_on_time() {
    let options = StackOptions { queue_consumers: true, schedules: false, settings: fast_workers(), extra: Vec::new() };
    assert_returned_within_a_minute_of_expiry(options, "SQS path").await;
}

#[tokio::test]
async fn the_sweep_alone_returns_a_holds_capacity_on_time() {
    let options = StackOptions { queue_consumers: false, schedules: true, settings: fast_workers(), extra: Vec::new() };
    assert_returned_within_a_minute_of_expiry(options, "sweep").await;
}

#[tokio::test]
async fn an_expired_hold_is_never_sold_and_expires_once() {
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let deps = stack.deps;
    let (hold, event) = one_minute_hold(&tenant).await;
    let expires_at: DateTime<Utc> = hold["expires_at"].as_str().unwrap().parse().unwrap();
    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;

    // Nothing has cleaned up yet, and still: it reads expired and cannot be bought.
    let path = format!("/api/v1/reservations/{}", id(&hold));
    let customer = tenant.customer();
    assert_eq!(customer.get(&path).await.body["reservation"]["status"], "EXPIRED");
    customer
        .post(&format!("{path}/confirm"), &json!({ "payment_reference": "pi_late" }))
        .await
        .assert_problem(410, "RESERVATION_EXPIRED");
    let before_cleanup = capacity(&tenant.organizer(), &event).await;
    assert_eq!((before_cleanup["reserved"].as_u64(), before_cleanup["sold"].as_u64()), (Some(2), Some(0)));

    let first = Job::SweepHolds.handle(&deps, json!({}), crate::harness::deadline()).await.unwrap();
    assert_eq!(first["expired"], 1);
    let second = Job::SweepHolds.handle(&deps, json!({}), crate::harness::deadline()).await.unwrap();
    assert_eq!(second["expired"], 0, "expiring twice changes nothing");
    let after = capacity(&tenant.organizer(), &event).await;
    assert_eq!(
        (after["available"].as_u64(), after["reserved"].as_u64(), after["sold"].as_u64()),
        (Some(10), Some(0), Some(0))
    );
    let released = customer.delete(&path).await;
    assert_eq!((released.status, released.body["reservation"]["status"].as_str()), (200, Some("EXPIRED")));
    assert_eq!(
        capacity(&tenant.organizer(), &event).await["available"],
        10,
        "releasing an expired hold returns nothing twice"
    );
}

#[tokio::test]
async fn a_poisoned_message_fails_alone_and_a_duplicate_delivery_returns_nothing_twice() {
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let deps = stack.deps;
    let (hold, event) = one_minute_hold(&tenant).await;
    let expires_at: DateTime<Utc> = hold["expires_at"].as_str().unwrap().parse().unwrap();
    tokio::time::sleep((expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300)).await;

    let due =
        json!({ "tenant_id": tenant.id, "reservation_id": hold["id"], "expires_at": hold["expires_at"] }).to_string();
    let batch =
        json!({ "Records": [sqs_record("m-1", &due), sqs_record("m-poison", "{not json"), sqs_record("m-2", &due)] });
    let response = Job::ExpireHolds.handle(&deps, batch.clone(), crate::harness::deadline()).await.unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{ "itemIdentifier": "m-poison" }]),
        "only the poisoned message is retried"
    );
    let again = Job::ExpireHolds.handle(&deps, batch, crate::harness::deadline()).await.unwrap();
    assert_eq!(again["batchItemFailures"], json!([{ "itemIdentifier": "m-poison" }]));
    let counts = capacity(&tenant.organizer(), &event).await;
    assert_eq!(
        (counts["available"].as_u64(), counts["reserved"].as_u64()),
        (Some(10), Some(0)),
        "four deliveries, one release"
    );
    assert_counts_add_up(&counts);
}

#[tokio::test]
async fn a_message_that_keeps_failing_ends_in_the_dead_letter_queue() {
    let options = StackOptions { queue_consumers: true, schedules: false, settings: fast_workers(), extra: Vec::new() };
    let (_, stack) = isolated_stack(options).await;
    let (deps, queues) = (stack.deps, stack.queues);
    let (queue, dead_letter) = (&queues["ExpiryQueue"], &queues["ExpiryDeadLetterQueue"]);
    let good =
        json!({ "tenant_id": uuid::Uuid::now_v7(), "reservation_id": uuid::Uuid::now_v7(), "expires_at": Utc::now() });
    deps.sqs.send_message().queue_url(&queue.url).message_body("poison").send().await.unwrap();
    deps.sqs.send_message().queue_url(&queue.url).message_body(good.to_string()).send().await.unwrap();
    let started = Instant::now();
    let mut moved = Vec::new();
    while started.elapsed() < Duration::from_secs(40) && moved.is_empty() {
        let received =
            deps.sqs.receive_message().queue_url(&dead_letter.url).wait_time_seconds(1).send().await.unwrap();
        moved.extend(received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
    }
    assert_eq!(moved, ["poison"], "after five failed receives, only the poisoned message is dead-lettered");
}

#[tokio::test]
async fn an_unreadable_item_in_the_expiry_index_does_not_stop_the_sweep() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let options = no_workers(&[]);
    let (tenant, stack) = isolated_stack(options).await;
    let emulators = &crate::harness::stack().emulators;
    let (dynamodb, _) = local_runner::emulator_clients(&emulators.dynamodb.endpoint(), &emulators.sqs.endpoint());
    let mut put = dynamodb.put_item().table_name(stack.deps.store.table_name());
    for (name, value) in [
        ("PK", format!("T#{}#RES#junk", tenant.id)),
        ("SK", "RES".to_owned()),
        ("tenant_id", tenant.id.to_string()),
        ("GSI3PK", "EXPIRY#0".to_owned()),
        ("GSI3SK", format!("2000-01-01T00:00:00.000Z#{}#junk", tenant.id)),
    ] {
        put = put.item(name, AttributeValue::S(value));
    }
    put.send().await.unwrap();
    let due = stack.deps.store.expired_holds(Utc::now(), 50).await;
    assert!(due.as_ref().is_ok_and(Vec::is_empty), "the item is skipped, not fatal: {:?}", due.err());
    let swept = Job::SweepHolds.handle(&stack.deps, json!({}), crate::harness::deadline()).await.unwrap();
    assert_eq!(swept["expired"], 0);
}
