//! Cancelling events: every order refunded exactly once, through SQS, against the fake
//! payment provider, through crashes, failures and duplicate deliveries.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, Provisioned, StackOptions, Tenant, fast_workers, id, isolated_stack, no_workers};
use crate::inventory::event_on_sale;

const PRICE: u64 = 1250;

pub fn with_consumers(extra: Vec<(String, String)>, duplicate_deliveries: bool) -> StackOptions {
    let mut settings = fast_workers();
    settings.duplicate_deliveries = duplicate_deliveries;
    StackOptions { queue_consumers: true, schedules: false, settings, extra }
}

/// An event on sale with `orders` confirmed one-ticket orders spread over `customers`.
/// Returns the event and each order's payment reference → total.
pub async fn sold_event(tenant: &Tenant, orders: usize, customers: usize) -> (Value, HashMap<String, u64>) {
    sold_event_at(tenant, orders, customers, PRICE).await
}

pub async fn sold_event_at(
    tenant: &Tenant,
    orders: usize,
    customers: usize,
    price: u64,
) -> (Value, HashMap<String, u64>) {
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 2000, &[("General", price, 2000, json!({}))]).await;
    // A few buyers at a time, so the holds and confirms fit in the functions' 10 s timeout while
    // the suite's first heavy tests start their stacks together on two cores.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(6));
    let buyers: Vec<_> = (0..customers)
        .map(|c| {
            let gate = std::sync::Arc::clone(&gate);
            let (tenant, event, ticket_type) = (tenant.clone(), event.clone(), types[0].clone());
            let mine: Vec<usize> = (0..orders).filter(|o| o % customers == c).collect();
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                let buyer = tenant.user("customer", &format!("holder-{c}"));
                let mut bought = Vec::new();
                for o in mine {
                    let hold = crate::inventory::reserve(&buyer, &event, &[(&ticket_type, 1)]).await;
                    assert_eq!(hold.status, 201, "{}", hold.text);
                    let order = buyer.pay_and_confirm(&hold.body["reservation"]).await;
                    assert_eq!(order.status, 201, "{} (order {o})", order.text);
                    let order = &order.body["order"];
                    bought.push((
                        order["payment_reference"].as_str().unwrap().to_owned(),
                        order["total"].as_u64().unwrap(),
                    ));
                }
                bought
            })
        })
        .collect();
    let mut totals = HashMap::new();
    for buyer in buyers {
        totals.extend(buyer.await.unwrap());
    }
    assert_eq!(totals.len(), orders);
    (event, totals)
}

pub async fn cancel(client: &Client, event: &Value, body: Value) -> crate::harness::Reply {
    client.post(&format!("/api/v1/events/{}/cancel", id(event)), &body).await
}

/// Polls the cancellation until it is no longer IN_PROGRESS.
pub async fn finished(client: &Client, event: &Value) -> Value {
    finished_within(client, event, Duration::from_mins(4)).await
}

pub async fn finished_within(client: &Client, event: &Value, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let reply = client.get(&format!("/api/v1/events/{}/cancellation", id(event))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let cancellation = reply.body["cancellation"].clone();
        if cancellation["status"] != "IN_PROGRESS" {
            return cancellation;
        }
        if started.elapsed() >= limit {
            let orders = order_statuses(client, event).await;
            panic!("still in progress: {cancellation}; orders by status: {orders:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn fake_refunds(stack: &Provisioned) -> Vec<Value> {
    let body: Value =
        reqwest::get(format!("{}/_fake/refunds", stack.payments_url)).await.unwrap().json().await.unwrap();
    body["refunds"].as_array().unwrap().clone()
}

pub async fn configure_fake(stack: &Provisioned, config: Value) {
    let reply =
        reqwest::Client::new().post(format!("{}/_fake/config", stack.payments_url)).json(&config).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}

/// Every message on a queue, drained.
pub async fn drain(stack: &Provisioned, queue: &str) -> Vec<Value> {
    let url = &stack.queues[queue].url;
    let mut bodies = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let sqs = stack.deps.sqs.as_ref().expect("the suite's stack has a queue client");
        let received =
            sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message.body.as_deref().unwrap()).unwrap());
            sqs.delete_message().queue_url(url).receipt_handle(message.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
    bodies
}

pub async fn order_statuses(organizer: &Client, event: &Value) -> HashMap<String, usize> {
    let mut statuses = HashMap::new();
    let mut path = format!("/api/v1/events/{}/orders?limit=100", id(event));
    loop {
        let page = organizer.get(&path).await;
        for order in page.body["orders"].as_array().unwrap() {
            *statuses.entry(order["status"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/events/{}/orders?limit=100&cursor={cursor}", id(event)),
            None => return statuses,
        }
    }
}

fn assert_one_refund_per_order(refunds: &[Value], totals: &HashMap<String, u64>, amount: impl Fn(u64) -> u64) {
    let mut seen = HashSet::new();
    for refund in refunds {
        let intent = refund["payment_intent"].as_str().unwrap();
        assert!(seen.insert(intent.to_owned()), "{intent} refunded twice");
        assert_eq!(refund["amount"].as_u64().unwrap(), amount(totals[intent]), "{refund}");
    }
    assert_eq!(seen.len(), totals.len(), "every order refunded");
}

#[tokio::test]
async fn a_crashing_fan_out_still_refunds_250_orders_in_full_exactly_once() {
    let _turn = crate::harness::heavy_test().await;
    // The fan-out dies after 10 pages per run (between sending a page and checkpointing it),
    // so SQS redelivers it twice and some refund messages go out twice. The resumer runs, as on
    // AWS. Without it, a fresh-clone CI run on a loaded machine once left 2 of 250 orders
    // unsettled after 4 minutes: with nothing failing at the provider, their messages had each
    // failed five times (which failures, that run did not keep) and lay in the dead-letter
    // queue, which on AWS is the resumer's to send again. So this test proves the outcome of the
    // system as deployed; how many messages needed the resumer is printed, not asserted.
    let mut options = with_consumers(
        vec![("FANOUT_STOP_AFTER_STEPS".into(), "10".into()), ("CANCELLATION_STALL_SECONDS".into(), "5".into())],
        false,
    );
    options.schedules = true;
    let (tenant, stack) = isolated_stack(options).await;
    let started = Instant::now();
    let (event, totals) = sold_event(&tenant, 250, 100).await;
    println!("sold 250 orders in {:?}", started.elapsed());
    let admin = tenant.admin();
    let reply = cancel(&admin, &event, json!({ "reason": "The venue flooded" })).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.body["cancellation"]["status"], "IN_PROGRESS");
    let cancellation = finished(&admin, &event).await;
    println!("cancelled 250 orders after {:?}", started.elapsed());
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    let total: u64 = totals.values().sum();
    assert_eq!(
        (
            cancellation["orders_total"].as_u64(),
            cancellation["refunds_succeeded"].as_u64(),
            cancellation["refunds_failed"].as_u64()
        ),
        (Some(250), Some(250), Some(0))
    );
    assert_eq!(cancellation["refunded_amount"].as_u64(), Some(total));
    assert_eq!(cancellation["notifications_sent"], 100);
    assert_one_refund_per_order(&fake_refunds(&stack).await, &totals, |t| t);
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUNDED".to_owned(), 250)]));
    let notified: Vec<Value> = drain(&stack, "NotificationQueue").await;
    let holders: HashSet<&str> = notified.iter().map(|n| n["customer_id"].as_str().unwrap()).collect();
    assert_eq!((notified.len(), holders.len()), (100, 100), "one notification per distinct holder");
    assert_eq!(notified[0]["type"], "event.cancelled");
    println!("refund messages in the dead-letter queue: {}", drain(&stack, "RefundDeadLetterQueue").await.len());
}

#[tokio::test]
async fn flaky_payments_and_duplicate_deliveries_still_refund_each_order_once_at_33_percent() {
    let _turn = crate::harness::heavy_test().await;
    // The whole system, resumer included, as on AWS: a refund whose outcome is still open on its
    // fifth delivery (a timed-out call, say) goes to the dead-letter queue unsettled, and only
    // the resumer sends it again. Fresh-clone CI runs on a loaded machine hit such a streak.
    let mut options = with_consumers(vec![("CANCELLATION_STALL_SECONDS".into(), "5".into())], true);
    options.schedules = true;
    let (tenant, stack) = isolated_stack(options).await;
    let (event, totals) = sold_event(&tenant, 250, 100).await;
    configure_fake(&stack, json!({ "failure_rate": 0.3 })).await;
    let admin = tenant.admin();
    let reply =
        cancel(&admin, &event, json!({ "reason": "Artist ill", "refund_policy": "partial", "partial_percent": 33 }))
            .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    // 33 % of 1250 is 412.5: half-up gives 413 for every order.
    let partial = |total: u64| (total * 33 * 2 + 100) / 200;
    assert_eq!(partial(PRICE), 413);
    assert_one_refund_per_order(&fake_refunds(&stack).await, &totals, partial);
    assert_eq!(
        (cancellation["refunds_succeeded"].as_u64(), cancellation["refunded_amount"].as_u64()),
        (Some(250), Some(250 * 413))
    );
    assert_eq!(cancellation["notifications_sent"], 100);
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("PARTIALLY_REFUNDED".to_owned(), 250)]));
    // Every refund counted once in the sales figures, however often its message came.
    let event_id: shared::domain::ids::EventId = id(&event).parse().unwrap();
    let sales = stack.deps.store.event_sales(tenant.id, &[event_id]).await.unwrap()[&event_id].clone();
    let usd = sales.0["USD"];
    assert_eq!((usd.orders, usd.gross, usd.refunded), (250, 250 * PRICE, 250 * 413));
}

#[tokio::test]
async fn an_order_whose_refund_always_fails_ends_refund_failed_in_the_dead_letter_queue() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, totals) = sold_event(&tenant, 6, 3).await;
    let declined = totals.keys().next().unwrap().clone();
    configure_fake(&stack, json!({ "fail_payment_intents": [declined] })).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Strike" })).await.status, 202);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED_WITH_FAILURES", "{cancellation}");
    assert_eq!(
        (cancellation["refunds_succeeded"].as_u64(), cancellation["refunds_failed"].as_u64()),
        (Some(5), Some(1))
    );
    let refunded: HashSet<String> =
        fake_refunds(&stack).await.iter().map(|r| r["payment_intent"].as_str().unwrap().to_owned()).collect();
    assert_eq!(refunded.len(), 5);
    assert!(!refunded.contains(&declined));
    assert_eq!(totals.len(), 6);
    let statuses = order_statuses(&admin, &event).await;
    assert_eq!(statuses, HashMap::from([("REFUNDED".to_owned(), 5), ("REFUND_FAILED".to_owned(), 1)]));
    let dead = dead_letters(&stack, 1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(cancellation["notifications_sent"], 3, "holders are told even when their refund failed");
}

/// Waits for `count` messages in the refund dead-letter queue (moved on the receive after the
/// last failed delivery; a loaded machine can take a while).
pub async fn dead_letters(stack: &Provisioned, count: usize) -> Vec<Value> {
    let started = Instant::now();
    let mut dead = Vec::new();
    while dead.len() < count && started.elapsed() < Duration::from_secs(90) {
        dead.extend(drain(stack, "RefundDeadLetterQueue").await);
    }
    dead
}

#[tokio::test]
async fn refunds_whose_answers_were_lost_are_learned_from_the_provider_on_the_last_delivery() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, totals) = sold_event(&tenant, 3, 3).await;
    // Every refund is made, but every answer (and every replay of it) is a 500.
    configure_fake(&stack, json!({ "refund_creates": "lose_answers" })).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Venue flooded" })).await.status, 202);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    assert_eq!(
        (cancellation["refunds_succeeded"].as_u64(), cancellation["refunded_amount"].as_u64()),
        (Some(3), Some(3 * PRICE))
    );
    assert_one_refund_per_order(&fake_refunds(&stack).await, &totals, |total| total);
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUNDED".to_owned(), 3)]));
    assert!(drain(&stack, "RefundDeadLetterQueue").await.is_empty(), "settled, so nothing is dead");
}

#[tokio::test]
async fn refunds_the_provider_never_made_end_refund_failed_in_the_dead_letter_queue() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, _) = sold_event(&tenant, 3, 3).await;
    // Every refund call is turned away (429) before anything is done: no refusal ever comes,
    // and only the provider's list, read when no call can still be running, tells.
    configure_fake(&stack, json!({ "refund_creates": "rate_limited" })).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Venue flooded" })).await.status, 202);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED_WITH_FAILURES", "{cancellation}");
    assert_eq!((cancellation["refunds_failed"].as_u64(), cancellation["refunded_amount"].as_u64()), (Some(3), Some(0)));
    assert!(fake_refunds(&stack).await.is_empty());
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUND_FAILED".to_owned(), 3)]));
    assert_eq!(dead_letters(&stack, 3).await.len(), 3);
}

#[tokio::test]
async fn cancelling_twice_policies_notifications_and_deadlines() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let admin = tenant.admin();

    // No refunds, but holders hear about it; a second cancel changes nothing.
    let (event, _) = sold_event(&tenant, 4, 2).await;
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Rain", "refund_policy": "none" })).await.status, 202);
    let done = finished(&admin, &event).await;
    assert_eq!(
        (done["status"].as_str(), done["orders_total"].as_u64(), done["refunds_succeeded"].as_u64()),
        (Some("COMPLETED"), Some(4), Some(0))
    );
    assert_eq!(done["notifications_sent"], 2);
    cancel(&admin, &event, json!({ "reason": "Again" })).await.assert_problem(409, "INVALID_EVENT_STATE");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(fake_refunds(&stack).await.is_empty(), "refund_policy none refunds nothing");
    assert_eq!(drain(&stack, "NotificationQueue").await.len(), 2, "and the second cancel notified no one");
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("CONFIRMED".to_owned(), 4)]));

    // notify_holders false: refunds, no notifications.
    let (quiet, _) = sold_event(&tenant, 2, 2).await;
    assert_eq!(cancel(&admin, &quiet, json!({ "reason": "Quiet", "notify_holders": false })).await.status, 202);
    let done = finished(&admin, &quiet).await;
    assert_eq!((done["refunds_succeeded"].as_u64(), done["notifications_sent"].as_u64()), (Some(2), Some(0)));
    assert!(drain(&stack, "NotificationQueue").await.is_empty());

    // Inside the deadline: organizers are refused, admins are not.
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let soon = organizer
        .event(
            &venue,
            "Soon",
            0,
            json!({
                "starts_at": crate::harness::rfc3339(chrono::Utc::now() + chrono::Duration::hours(10)),
                "ends_at": crate::harness::rfc3339(chrono::Utc::now() + chrono::Duration::hours(12)),
            }),
        )
        .await;
    cancel(&organizer, &soon, json!({ "reason": "Too late" }))
        .await
        .assert_problem(409, "CANCELLATION_DEADLINE_PASSED");
    cancel(&tenant.customer(), &soon, json!({ "reason": "Mine" })).await.assert_problem(403, "FORBIDDEN");
    cancel(&admin, &soon, json!({ "reason": "" })).await.assert_problem(400, "VALIDATION_ERROR");
    let by_admin = cancel(&admin, &soon, json!({ "reason": "Admin override" })).await;
    assert_eq!(by_admin.status, 202, "{}", by_admin.text);
    assert_eq!(admin.get(&format!("/api/v1/events/{}", id(&soon))).await.body["event"]["status"], "CANCELLED");
    Tenant::new()
        .admin()
        .post(&format!("/api/v1/events/{}/cancel", id(&soon)), &json!({ "reason": "x" }))
        .await
        .assert_problem(404, "NOT_FOUND");
    cancel(&admin.without_idempotency_key(), &soon, json!({ "reason": "x" }))
        .await
        .assert_problem(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn cancelling_stops_sales_and_voids_open_holds() {
    let (tenant, _stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let held = crate::inventory::reserve(&tenant.customer(), &event, &[(&types[0], 3)]).await;
    assert_eq!(held.status, 201);
    assert_eq!(cancel(&organizer, &event, json!({ "reason": "Cancelled" })).await.status, 202);
    crate::inventory::reserve(&tenant.user("customer", "late"), &event, &[(&types[0], 1)])
        .await
        .assert_problem(409, "SALES_NOT_OPEN");
    // The fan-out voids open holds, after the cancel has answered.
    assert_eq!(finished(&organizer, &event).await["status"], "COMPLETED");
    let voided = tenant.customer().get(&format!("/api/v1/reservations/{}", id(&held.body["reservation"]))).await;
    assert_eq!(voided.body["reservation"]["status"], "CANCELLED");
    let capacity = crate::inventory::capacity(&organizer, &event).await;
    assert_eq!((capacity["reserved"].as_u64(), capacity["available"].as_u64()), (Some(0), Some(10)));
}

#[tokio::test]
async fn a_single_order_is_refunded_through_the_queue() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, _) = sold_event(&tenant, 1, 1).await;
    let admin = tenant.admin();
    let order = admin.get(&format!("/api/v1/events/{}/orders", id(&event))).await.body["orders"][0].clone();
    let path = format!("/api/v1/orders/{}/refund", id(&order));
    admin
        .post(&path, &json!({ "reason": "Goodwill", "amount": PRICE + 1 }))
        .await
        .assert_problem(422, "REFUND_EXCEEDS_REMAINING");
    admin.post(&path, &json!({ "reason": "Goodwill", "amount": 0 })).await.assert_problem(400, "VALIDATION_ERROR");
    admin.post(&path, &json!({ "reason": "  " })).await.assert_problem(400, "VALIDATION_ERROR");
    tenant.user("customer", "holder-0").post(&path, &json!({ "reason": "Me" })).await.assert_problem(403, "FORBIDDEN");
    let reply = admin.post(&path, &json!({ "reason": "Goodwill", "amount": 250 })).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(
        (reply.body["refund"]["status"].as_str(), reply.body["refund"]["amount"].as_u64()),
        (Some("PENDING"), Some(250))
    );
    let started = Instant::now();
    let read = loop {
        let read = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
        if read["status"] == "PARTIALLY_REFUNDED" || started.elapsed() > Duration::from_secs(30) {
            break read;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!((read["status"].as_str(), read["refunded_amount"].as_u64()), (Some("PARTIALLY_REFUNDED"), Some(250)));
    let rest = admin.post(&path, &json!({ "reason": "The rest" })).await;
    assert_eq!(rest.body["refund"]["amount"].as_u64(), Some(PRICE - 250));
    let started = Instant::now();
    while admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"]["status"] != "REFUNDED" {
        assert!(started.elapsed() < Duration::from_secs(30), "the rest was not refunded");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let amounts: Vec<u64> = fake_refunds(&stack).await.iter().map(|r| r["amount"].as_u64().unwrap()).collect();
    assert_eq!(amounts, [250, PRICE - 250]);
    admin.post(&path, &json!({ "reason": "Again" })).await.assert_problem(422, "REFUND_EXCEEDS_REMAINING");
    // Every refund is on the order: how much, why, who asked, how it ended.
    let order = admin.get(&format!("/api/v1/orders/{}", id(&order))).await.body["order"].clone();
    let refunds: Vec<(u64, &str, &str, &str)> = order["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["amount"].as_u64().unwrap(),
                r["status"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
                r["requested_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(refunds, [(250, "SUCCEEDED", "Goodwill", "admin-1"), (PRICE - 250, "SUCCEEDED", "The rest", "admin-1")]);
}

#[tokio::test]
async fn a_fan_out_that_dies_mid_page_resumes_at_its_checkpoint() {
    use shared::jobs::Job;
    let options = no_workers(&[("FANOUT_STOP_AFTER_STEPS", "2")]);
    let (tenant, stack) = isolated_stack(options).await;
    let (event, _) = sold_event(&tenant, 45, 15).await;
    assert_eq!(cancel(&tenant.admin(), &event, json!({ "reason": "Crash test" })).await.status, 202);
    let job = drain(&stack, "CancellationQueue").await;
    assert_eq!(job.len(), 1);
    let record = crate::harness::sqs_record("fan-out-1", &job[0].to_string());
    let event_id = id(&event).parse().unwrap();
    let mut runs = 0;
    loop {
        runs += 1;
        let batch = json!({ "Records": [record.clone()] });
        let response =
            local_runner::workers::invoke(&stack.deps, Job::FanOutRefunds, batch, std::time::Duration::from_mins(1))
                .await
                .unwrap();
        let cancellation = stack.deps.store.get_cancellation(tenant.id, event_id).await.unwrap().unwrap();
        if cancellation.fanout_done {
            assert_eq!(response["batchItemFailures"], json!([]));
            break;
        }
        // Each run takes two steps and dies before checkpointing the second.
        assert_eq!(response["batchItemFailures"], json!([{ "itemIdentifier": "fan-out-1" }]), "run {runs}");
        assert_eq!(cancellation.fanout_pages, runs, "one step checkpointed per crashed run");
        assert!(runs < 10, "the fan-out makes progress");
    }
    let cancellation = stack.deps.store.get_cancellation(tenant.id, event_id).await.unwrap().unwrap();
    // One step for the (no) holds, then five pages of orders.
    assert_eq!((cancellation.orders_total, cancellation.fanout_pages, runs), (45, 6, 6));
    let refunds = drain(&stack, "RefundQueue").await;
    let distinct: HashSet<&str> = refunds.iter().map(|r| r["order_id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 45, "no order skipped");
    assert!(refunds.len() > 45, "pages sent before a crash went out again ({} messages)", refunds.len());
}

#[tokio::test]
async fn a_hold_missed_by_the_voiding_still_cannot_be_bought() {
    use shared::domain::cancellation::CancelInput;
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let buyer = tenant.customer();
    let hold = crate::inventory::reserve(&buyer, &event, &[(&types[0], 1)]).await.body["reservation"].clone();
    // Cancel the way the API does, minus voiding holds: as if this hold reached the index late.
    let event_id = id(&event).parse().unwrap();
    let stored = stack.deps.store.get_event(tenant.id, event_id).await.unwrap().unwrap();
    let input: CancelInput = serde_json::from_value(json!({ "reason": "Late index" })).unwrap();
    let cancellation = input.into_cancellation(event_id, "admin-1", chrono::Utc::now()).unwrap();
    assert!(stack.deps.store.cancel_event(tenant.id, &stored, &cancellation).await.unwrap());
    buyer.pay_and_confirm(&hold).await.assert_problem(409, "INVALID_EVENT_STATE");
    assert_eq!(crate::inventory::capacity(&organizer, &event).await["sold"], 0);
}

#[tokio::test]
async fn a_fan_out_near_its_deadline_hands_over_to_a_fresh_invocation() {
    use shared::jobs::Job;
    use shared::jobs::fanout::STEP_BUDGET;
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let (event, _) = sold_event(&tenant, 3, 3).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Hand-over" })).await.status, 202);
    let job = drain(&stack, "CancellationQueue").await;
    assert_eq!(job.len(), 1);
    let batch = |body: &Value| json!({ "Records": [crate::harness::sqs_record("fan-out-1", &body.to_string())] });
    // Less time left than a step may take: the run passes the work on without starting a step.
    let response =
        local_runner::workers::invoke(&stack.deps, Job::FanOutRefunds, batch(&job[0]), STEP_BUDGET).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "handing over is not a failure");
    let handed_over = drain(&stack, "CancellationQueue").await;
    assert_eq!(handed_over, job, "the same fan-out message, for a fresh invocation");
    let event_id = id(&event).parse().unwrap();
    let cancellation = stack.deps.store.get_cancellation(tenant.id, event_id).await.unwrap().unwrap();
    assert_eq!((cancellation.fanout_pages, cancellation.fanout_done), (0, false), "no step started");

    let long = std::time::Duration::from_mins(1);
    let response = local_runner::workers::invoke(&stack.deps, Job::FanOutRefunds, batch(&handed_over[0]), long).await;
    assert_eq!(response.unwrap()["batchItemFailures"], json!([]));
    let cancellation = stack.deps.store.get_cancellation(tenant.id, event_id).await.unwrap().unwrap();
    assert!(cancellation.fanout_done, "the fresh invocation finished the fan-out");
    assert_eq!(drain(&stack, "RefundQueue").await.len(), 3, "every order's refund sent once");
}
