//! The payment client against the fake provider: payments read back, idempotent refunds,
//! retries on 5xx only and never past the caller's deadline, and refund statuses honoured.

use std::time::Duration;

use serde_json::{Value, json};
use shared::payments::{PaymentClient, PaymentError, PaymentSettings, RefundOutcome};
use tokio::net::TcpListener;
use tokio::time::Instant;

async fn fake_provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(local_runner::fake_payments::serve(listener));
    url
}

fn client(base_url: &str, timeout: Duration) -> PaymentClient {
    PaymentClient::new(PaymentSettings {
        base_url: base_url.to_owned(),
        secret_key: "sk_test_local".into(),
        timeout,
        max_attempts: 3,
        first_backoff: Duration::from_millis(20),
    })
    .unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn configure(base_url: &str, config: Value) {
    let reply = reqwest::Client::new().post(format!("{base_url}/_fake/config")).json(&config).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}

async fn recorded(base_url: &str) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{base_url}/_fake/refunds")).await.unwrap().json().await.unwrap();
    body["refunds"].as_array().unwrap().clone()
}

async fn paid(base_url: &str, amount: u64) -> String {
    crate::harness::pay(&reqwest::Client::new(), base_url, amount, "USD", Some("r-1")).await
}

#[tokio::test]
async fn a_payment_reads_back_as_the_provider_keeps_it() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let intent = paid(&url, 4200).await;
    let read = payments.payment_intent(&intent, soon()).await.unwrap().unwrap();
    assert_eq!((read.status.as_str(), read.amount, read.currency.as_str()), ("succeeded", 4200, "usd"));
    assert_eq!(read.metadata.get("reservation_id").map(String::as_str), Some("r-1"));
    assert_eq!(payments.payment_intent("pi_never_paid", soon()).await.unwrap(), None);
}

#[tokio::test]
async fn a_refund_retried_with_its_key_is_the_same_refund() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let intent = paid(&url, 1250).await;
    let first = payments.refund(&intent, 1250, "cancel-a-order-1", soon()).await.unwrap();
    let again = payments.refund(&intent, 1250, "cancel-a-order-1", soon()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!((first.amount, first.outcome()), (1250, RefundOutcome::Succeeded));
    let refunds = recorded(&url).await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["idempotency_key"], "cancel-a-order-1");
    // The key was used with other parameters: what that first call did is for the list to say.
    let reused = payments.refund(&intent, 999, "cancel-a-order-1", soon()).await;
    assert!(matches!(reused, Err(PaymentError::Unavailable { maybe_running: true, .. })), "{reused:?}");
}

#[tokio::test]
async fn the_provider_refuses_unknown_payments_and_more_than_was_paid() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let unknown = payments.refund("pi_never_paid", 100, "k-1", soon()).await;
    assert!(matches!(unknown, Err(PaymentError::Refused { status: 400, .. })), "{unknown:?}");
    let intent = paid(&url, 1000).await;
    assert!(payments.refund(&intent, 600, "k-2", soon()).await.is_ok());
    let too_much = payments.refund(&intent, 401, "k-3", soon()).await;
    assert!(matches!(too_much, Err(PaymentError::Refused { status: 400, .. })), "{too_much:?}");
    assert!(payments.refund(&intent, 400, "k-4", soon()).await.is_ok());
}

#[tokio::test]
async fn server_errors_are_retried_and_refusals_are_not() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let (good, bad) = (paid(&url, 100).await, paid(&url, 100).await);
    configure(&url, json!({ "failure_rate": 1.0 })).await;
    let answered = payments.refund(&good, 100, "k-2", soon()).await;
    assert!(
        matches!(answered, Err(PaymentError::Unavailable { maybe_running: true, .. })),
        "a 5xx leaves the outcome unknown: {answered:?}"
    );
    assert!(matches!(payments.payment_intent(&good, soon()).await, Err(PaymentError::Unavailable { .. })));
    configure(&url, json!({ "fail_payment_intents": [bad] })).await;
    let refused = payments.refund(&bad, 100, "k-3", soon()).await;
    assert!(matches!(refused, Err(PaymentError::Refused { status: 400, .. })), "{refused:?}");
    assert!(payments.refund(&good, 100, "k-2", soon()).await.is_ok(), "a failed attempt is not remembered");
    assert_eq!(recorded(&url).await.len(), 1);
}

#[tokio::test]
async fn a_slow_provider_times_out_and_retries_stop_at_the_deadline() {
    let url = fake_provider().await;
    let intent = paid(&url, 100).await;
    configure(&url, json!({ "latency_ms": 600 })).await;
    let impatient = client(&url, Duration::from_millis(150));
    let started = Instant::now();
    let deadline = started + Duration::from_millis(400);
    let timed_out = impatient.refund(&intent, 100, "k-4", deadline).await;
    assert!(
        matches!(timed_out, Err(PaymentError::Unavailable { maybe_running: true, .. })),
        "a call that timed out may still be running at the provider: {timed_out:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(550), "{:?}: retries ran past the deadline", started.elapsed());
    let closed = client("http://127.0.0.1:1", Duration::from_millis(150)).refund(&intent, 100, "k-4", soon()).await;
    assert!(
        matches!(closed, Err(PaymentError::Unavailable { maybe_running: false, .. })),
        "a connection never made sent nothing: {closed:?}"
    );
    let patient = client(&url, Duration::from_secs(3));
    assert!(patient.refund(&intent, 100, "k-4", soon()).await.is_ok());
}

#[tokio::test]
async fn a_pending_refund_is_not_a_refund_until_the_provider_says_so() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let intent = paid(&url, 500).await;
    configure(&url, json!({ "refund_status": "pending" })).await;
    let pending = payments.refund(&intent, 500, "k-5", soon()).await.unwrap();
    assert_eq!(pending.outcome(), RefundOutcome::Pending);
    configure(&url, json!({ "refund_status": "succeeded" })).await;
    let settled = payments.refund(&intent, 500, "k-5", soon()).await.unwrap();
    assert_eq!((settled.outcome(), settled.id), (RefundOutcome::Succeeded, pending.id));
    let failing = paid(&url, 500).await;
    configure(&url, json!({ "refund_status": "failed" })).await;
    assert_eq!(payments.refund(&failing, 500, "k-6", soon()).await.unwrap().outcome(), RefundOutcome::Failed);
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_found_by_its_key_and_no_other() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let intent = paid(&url, 100_000).await;
    // More refunds than one page of the provider's list, so a lookup of the oldest pages on.
    for n in 0..105 {
        payments.refund(&intent, 1, &format!("early-{n}"), soon()).await.unwrap();
    }
    configure(&url, json!({ "refund_creates": "lose_answers" })).await;
    let lost = payments.refund(&intent, 500, "lost-1", soon()).await;
    assert!(matches!(lost, Err(PaymentError::Unavailable { maybe_running: true, .. })), "{lost:?}");
    let found = payments.find_refund(&intent, "lost-1", soon()).await.unwrap().unwrap();
    assert_eq!((found.amount, found.outcome()), (500, RefundOutcome::Succeeded));
    let oldest = payments.find_refund(&intent, "early-0", soon()).await.unwrap().unwrap();
    assert_eq!(oldest.amount, 1);
    assert_eq!(payments.find_refund(&intent, "never-sent", soon()).await.unwrap(), None);
    let other = paid(&url, 100).await;
    assert_eq!(payments.find_refund(&other, "lost-1", soon()).await.unwrap(), None, "only that payment's refunds");
    configure(&url, json!({ "refund_creates": "rate_limited" })).await;
    let turned_away = payments.refund(&other, 100, "never-made", soon()).await;
    assert!(
        matches!(turned_away, Err(PaymentError::Unavailable { maybe_running: false, .. })),
        "a 429 did nothing: {turned_away:?}"
    );
    assert_eq!(payments.find_refund(&other, "never-made", soon()).await.unwrap(), None);
    assert_eq!(recorded(&url).await.len(), 106, "the lost answer's refund was made once");
}

#[tokio::test]
async fn the_fake_wants_a_test_key_and_sane_parameters() {
    let url = fake_provider().await;
    let http = reqwest::Client::new();
    let no_key =
        http.post(format!("{url}/v1/refunds")).form(&[("payment_intent", "pi"), ("amount", "1")]).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let live_key = http.get(format!("{url}/v1/payment_intents/pi")).bearer_auth("sk_live_x").send().await.unwrap();
    assert_eq!(live_key.status(), 401);
    let bad = http
        .post(format!("{url}/v1/refunds"))
        .bearer_auth("sk_test_x")
        .form(&[("payment_intent", "pi"), ("amount", "-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let config = http.post(format!("{url}/_fake/config")).json(&json!({ "failure_rate": 2 })).send().await.unwrap();
    assert_eq!(config.status(), 400);
}
