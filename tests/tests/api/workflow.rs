//! Cancellations always finish: a big event under the template's timeouts, a fan-out message
//! that is lost, and a slow provider with a refund that fails until it is redriven.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cancellation::{
    cancel, configure_fake, drain, fake_refunds, finished, order_statuses, sold_event, with_consumers,
};
use crate::harness::{fast_workers, id, isolated_stack, no_workers, template};
use crate::inventory::{capacity, event_on_sale, reserve};

#[tokio::test]
async fn an_event_with_1500_open_holds_and_300_orders_is_cancelled_completely() {
    let _turn = crate::harness::heavy_test().await;
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 2000, &[("General", 900, 2000, json!({}))]).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let customers: Vec<_> = (0..300)
        .map(|n| {
            let (tenant, event, ticket_type, gate) =
                (tenant.clone(), event.clone(), types[0].clone(), Arc::clone(&gate));
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                let buyer = tenant.user("customer", &format!("fan-{n}"));
                let hold = reserve(&buyer, &event, &[(&ticket_type, 1)]).await;
                let order = buyer.pay_and_confirm(&hold.body["reservation"]).await;
                assert_eq!(order.status, 201, "{}", order.text);
                // Then the most a customer may hold at once, left open.
                for _ in 0..5 {
                    let open = reserve(&buyer, &event, &[(&ticket_type, 1)]).await;
                    assert_eq!(open.status, 201, "{}", open.text);
                }
                order.body["order"]["payment_reference"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut payments = HashSet::new();
    for customer in customers {
        payments.insert(customer.await.unwrap());
    }
    let before = capacity(&organizer, &event).await;
    assert_eq!((before["reserved"].as_u64(), before["sold"].as_u64()), (Some(1500), Some(300)));
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Venue closed" })).await.status, 202);
    let started = Instant::now();
    let cancellation = crate::cancellation::finished_within(&admin, &event, Duration::from_mins(5)).await;
    println!("1,500 holds voided and 300 orders refunded in {:?}", started.elapsed());
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    assert_eq!(
        (cancellation["orders_total"].as_u64(), cancellation["refunds_succeeded"].as_u64()),
        (Some(300), Some(300))
    );
    let after = capacity(&organizer, &event).await;
    assert_eq!((after["reserved"].as_u64(), after["available"].as_u64()), (Some(0), Some(1700)), "every hold voided");
    let refunds = fake_refunds(&stack).await;
    let refunded: HashSet<String> = refunds.iter().map(|r| r["payment_intent"].as_str().unwrap().to_owned()).collect();
    assert_eq!((refunds.len(), refunded), (300, payments), "every order refunded once");
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUNDED".to_owned(), 300)]));
}

#[tokio::test]
async fn a_cancellation_whose_fan_out_message_is_lost_finishes_by_itself() {
    let options = no_workers(&[("CANCELLATION_STALL_SECONDS", "2")]);
    let (tenant, stack) = isolated_stack(options).await;
    let (event, totals) = sold_event(&tenant, 12, 4).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Lost message" })).await.status, 202);
    // The fan-out dies before it sends anything, and its message is gone with it.
    assert_eq!(drain(&stack, "CancellationQueue").await.len(), 1);
    // Lambda's event sources start: only the resumer can know the cancellation is there.
    let template = template();
    for trigger in &template.queue_triggers {
        let queue = stack.queues[&trigger.queue].clone();
        tokio::spawn(local_runner::workers::poll_queue(
            stack.functions.of(&trigger.function),
            trigger.clone(),
            queue,
            fast_workers(),
        ));
    }
    for trigger in &template.schedules {
        tokio::spawn(local_runner::workers::run_schedule(
            stack.functions.of(&trigger.function),
            trigger.clone(),
            fast_workers(),
        ));
    }
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED", "{cancellation}");
    assert_eq!(cancellation["refunded_amount"].as_u64(), Some(totals.values().sum()));
    assert_eq!(fake_refunds(&stack).await.len(), 12);
}

#[tokio::test]
async fn a_slow_provider_and_a_refund_that_dies_in_the_dead_letter_queue_still_settle_every_order_once() {
    let (tenant, stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let (event, totals) = sold_event(&tenant, 30, 10).await;
    let declined = totals.keys().next().unwrap().clone();
    configure_fake(&stack, json!({ "latency_ms": 8000, "fail_payment_intents": [declined] })).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Slow bank" })).await.status, 202);
    let cancellation = finished(&admin, &event).await;
    assert_eq!(cancellation["status"], "COMPLETED_WITH_FAILURES", "{cancellation}");
    let counts = |c: &Value| {
        (
            c["orders_total"].as_u64().unwrap(),
            c["refunds_succeeded"].as_u64().unwrap(),
            c["refunds_failed"].as_u64().unwrap(),
        )
    };
    assert_eq!(counts(&cancellation), (30, 29, 1));
    // The dead-letter queue holds exactly the messages of orders that read REFUND_FAILED.
    let started = Instant::now();
    let mut dead = Vec::new();
    while dead.is_empty() && started.elapsed() < Duration::from_secs(30) {
        dead = drain(&stack, "RefundDeadLetterQueue").await;
    }
    assert!(!dead.is_empty());
    for message in &dead {
        let order = admin.get(&format!("/api/v1/orders/{}", message["order_id"].as_str().unwrap())).await;
        assert_eq!(order.body["order"]["status"], "REFUND_FAILED", "{message}");
        assert_eq!(order.body["order"]["payment_reference"], declined.as_str());
    }
    // The provider recovers and an operator redrives the dead letters.
    configure_fake(&stack, json!({})).await;
    for message in &dead {
        stack
            .deps
            .sqs
            .as_ref()
            .expect("the suite's stacks have a queue client")
            .send_message()
            .queue_url(&stack.queues["RefundQueue"].url)
            .message_body(message.to_string())
            .send()
            .await
            .unwrap();
    }
    let started = Instant::now();
    let redriven = loop {
        let read = admin.get(&format!("/api/v1/events/{}/cancellation", id(&event))).await.body["cancellation"].clone();
        if read["refunds_failed"] == 0 && read["status"] == "COMPLETED" {
            break read;
        }
        assert!(started.elapsed() < Duration::from_mins(1), "the redrive never landed: {read}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(counts(&redriven), (30, 30, 0));
    assert_eq!(redriven["status"], "COMPLETED");
    assert_eq!(redriven["refunded_amount"].as_u64(), Some(totals.values().sum()));
    let refunds = fake_refunds(&stack).await;
    assert_eq!(refunds.iter().filter(|r| r["payment_intent"] == declined.as_str()).count(), 1, "refunded once");
    assert_eq!(refunds.len(), 30);
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUNDED".to_owned(), 30)]));
}

#[tokio::test]
async fn jobs_are_cut_off_at_their_timeout_and_refunds_start_only_with_time_for_a_provider_call() {
    use local_runner::workers::{InvokeError, invoke};
    use shared::jobs::Job;
    let options = no_workers(&[]);
    let (tenant, stack) = isolated_stack(options).await;
    let (event, totals) = sold_event(&tenant, 1, 1).await;
    let admin = tenant.admin();
    assert_eq!(cancel(&admin, &event, json!({ "reason": "Cut off" })).await.status, 202);
    let fan_out = drain(&stack, "CancellationQueue").await;
    let record = |id: &str, body: &Value| crate::harness::sqs_record(id, &body.to_string());
    let batch = json!({ "Records": [record("fan-out", &fan_out[0])] });
    // The runner cuts an invocation off at its timeout, as Lambda does.
    let cut = invoke(&stack.deps, Job::FanOutRefunds, batch.clone(), Duration::from_millis(1)).await;
    assert!(matches!(cut, Err(InvokeError::TimedOut(_))), "{cut:?}");
    invoke(&stack.deps, Job::FanOutRefunds, batch, Duration::from_mins(1)).await.unwrap();
    let refund = drain(&stack, "RefundQueue").await;
    assert_eq!(refund.len(), 1);
    let batch = json!({ "Records": [record("refund", &refund[0])] });
    // Five seconds cannot fit a 10 s provider attempt: the refund is handed back untouched.
    let short = invoke(&stack.deps, Job::ProcessRefunds, batch.clone(), Duration::from_secs(5)).await.unwrap();
    assert_eq!(short["batchItemFailures"], json!([{ "itemIdentifier": "refund" }]));
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("CONFIRMED".to_owned(), 1)]), "no slot taken");
    assert!(fake_refunds(&stack).await.is_empty());
    // The redelivery, with the template's timeout, refunds it once.
    let again = invoke(&stack.deps, Job::ProcessRefunds, batch, Duration::from_mins(1)).await.unwrap();
    assert_eq!(again["batchItemFailures"], json!([]));
    assert_eq!(order_statuses(&admin, &event).await, HashMap::from([("REFUNDED".to_owned(), 1)]));
    let refunds = fake_refunds(&stack).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"].as_u64(), totals.values().next().copied());
    assert_eq!(finished(&admin, &event).await["status"], "COMPLETED");
}
