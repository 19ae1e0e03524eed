//! Holds end on time: by the SQS delay path alone, by the sweep alone, and a hold past its
//! expiry is never sold even before either has run. These tests wait out a real one-minute
//! hold, so they run side by side.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::jobs::Job;

use crate::harness::{StackOptions, Tenant, fast_workers, id, isolated_stack, no_workers, sqs_record};
use crate::inventory::{assert_counts_add_up, capacity, event_on_sale};

/// A one-minute hold of all 10 tickets of a 10-ticket type (so the event reads SOLD_OUT until
/// the hold ends); returns it and the event.
async fn one_minute_hold(tenant: &Tenant) -> (Value, Value) {
    hold_on_a_new_event(tenant, 10, 1).await
}

/// A hold of `quantity` of a new 10-ticket type, for `minutes`; returns it and the event.
async fn hold_on_a_new_event(tenant: &Tenant, quantity: u32, minutes: u32) -> (Value, Value) {
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let reply = tenant
        .customer()
        .post(
            &format!("/api/v1/events/{}/reservations", id(&event)),
            &json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": quantity }], "hold_minutes": minutes }),
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
    let event_path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(tenant.organizer().get(&event_path).await.body["event"]["status"], "SOLD_OUT", "{path}");
    let expires_at: DateTime<Utc> = hold["expires_at"].as_str().unwrap().parse().unwrap();
    let back = wait_for_capacity_back(&tenant, &event, Duration::from_secs(150)).await.expect("capacity comes back");
    assert!(back >= expires_at, "{path}: capacity came back before the hold expired");
    let lag = back - expires_at;
    assert!(lag <= chrono::Duration::seconds(60), "{path}: capacity came back {lag} after expiry");
    let read = tenant.customer().get(&format!("/api/v1/reservations/{}", id(&hold))).await;
    assert_eq!(read.body["reservation"]["status"], "EXPIRED", "{path}");
    let status = tenant.organizer().get(&event_path).await.body["event"]["status"].clone();
    assert_eq!(status, "ON_SALE", "{path}: the expiry put the tickets back on sale");
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
    assert_eq!((before_cleanup["reserved"].as_u64(), before_cleanup["sold"].as_u64()), (Some(10), Some(0)));

    let first = local_runner::workers::invoke(&deps, Job::SweepHolds, json!({}), std::time::Duration::from_mins(1))
        .await
        .unwrap();
    assert_eq!(first["expired"], 1);
    let second = local_runner::workers::invoke(&deps, Job::SweepHolds, json!({}), std::time::Duration::from_mins(1))
        .await
        .unwrap();
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
    let response =
        local_runner::workers::invoke(&deps, Job::ExpireHolds, batch.clone(), std::time::Duration::from_mins(1))
            .await
            .unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{ "itemIdentifier": "m-poison" }]),
        "only the poisoned message is retried"
    );
    let again =
        local_runner::workers::invoke(&deps, Job::ExpireHolds, batch, std::time::Duration::from_mins(1)).await.unwrap();
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
    let sqs = deps.sqs.as_ref().expect("the suite's stack has a queue client");
    sqs.send_message().queue_url(&queue.url).message_body("poison").send().await.unwrap();
    sqs.send_message().queue_url(&queue.url).message_body(good.to_string()).send().await.unwrap();
    let started = Instant::now();
    let mut moved = Vec::new();
    while started.elapsed() < Duration::from_secs(40) && moved.is_empty() {
        let received = sqs.receive_message().queue_url(&dead_letter.url).wait_time_seconds(1).send().await.unwrap();
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
    let dynamodb = local_runner::emulator_clients(&emulators.dynamodb.endpoint(), &emulators.sqs.endpoint()).dynamodb;
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
    let swept =
        local_runner::workers::invoke(&stack.deps, Job::SweepHolds, json!({}), std::time::Duration::from_mins(1))
            .await
            .unwrap();
    assert_eq!(swept["expired"], 0);
}

#[tokio::test]
async fn a_message_for_a_hold_longer_than_the_longest_delay_waits_again() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let (hold, event) = hold_on_a_new_event(&tenant, 1, 30).await;
    let hold = &hold;
    let delayed = || async {
        let attributes = stack
            .deps
            .sqs
            .as_ref()
            .expect("the suite's stacks have a queue client")
            .get_queue_attributes()
            .queue_url(&stack.queues["ExpiryQueue"].url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .unwrap();
        attributes.attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessagesDelayed].clone()
    };
    assert_eq!(delayed().await, "1", "the hold's message, delayed SQS's longest 15 minutes");

    // That message arrives after 15 minutes, with 15 still to go: it is sent again, not acted on.
    let message =
        json!({ "tenant_id": tenant.id, "reservation_id": hold["id"], "expires_at": hold["expires_at"] }).to_string();
    let batch = json!({ "Records": [sqs_record("early", &message)] });
    let response = local_runner::workers::invoke(&stack.deps, Job::ExpireHolds, batch, Duration::from_mins(1)).await;
    assert_eq!(response.unwrap()["batchItemFailures"], json!([]));
    assert_eq!(delayed().await, "2", "sent again for the rest of the hold");
    let read = tenant.customer().get(&format!("/api/v1/reservations/{}", id(hold))).await;
    assert_eq!(read.body["reservation"]["status"], "HELD");
    assert_eq!(capacity(&tenant.organizer(), &event).await["reserved"], 1);
}

#[tokio::test]
async fn a_backlog_of_expired_holds_is_swept_in_runs_that_each_end_in_time() {
    let turn = crate::harness::heavy_test().await;
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 600, &[("General", 1000, 600, json!({}))]).await;
    let path = format!("/api/v1/events/{}/reservations", id(&event));
    let body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 1 }], "hold_minutes": 1 });
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    // 120 customers × 5 holds (the most one may have open): 600 holds due in the same minute.
    let holds: Vec<_> = (0..600)
        .map(|n| {
            let (buyer, path, body, gate) =
                (tenant.user("customer", &format!("backlog-{}", n / 5)), path.clone(), body.clone(), gate.clone());
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                let reply = buyer.post(&path, &body).await;
                assert_eq!(reply.status, 201, "{}", reply.text);
                reply.body["reservation"]["expires_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap()
            })
        })
        .collect();
    let mut last_expiry = Utc::now();
    for hold in holds {
        last_expiry = last_expiry.max(hold.await.unwrap());
    }
    // Other heavy tests may run while these holds wait out their minute.
    drop(turn);
    tokio::time::sleep((last_expiry - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1)).await;
    let _turn = crate::harness::heavy_test().await;

    let timeout = crate::harness::template()
        .schedules
        .iter()
        .find(|s| s.function == Job::SweepHolds.function_name())
        .unwrap()
        .timeout;
    // Each run ends what it can in its time and stops before it is cut off; the next takes the rest.
    let mut runs = Vec::new();
    while runs.iter().sum::<u64>() < 600 {
        let started = Instant::now();
        let swept = local_runner::workers::invoke(&stack.deps, Job::SweepHolds, json!({}), timeout).await;
        let expired = swept.expect("the run ends before the function's timeout")["expired"].as_u64().unwrap();
        println!("sweep run {}: {expired} holds in {:?}", runs.len() + 1, started.elapsed());
        assert!(expired > 0, "every run makes progress");
        runs.push(expired);
        assert!(runs.len() <= 5, "{runs:?}");
    }
    assert_eq!(runs.iter().sum::<u64>(), 600, "each hold expired once: {runs:?}");
    let counts = capacity(&organizer, &event).await;
    assert_eq!((counts["available"].as_u64(), counts["reserved"].as_u64()), (Some(600), Some(0)));
}
