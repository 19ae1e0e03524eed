//! The payment client against the fake provider: idempotent refunds, retries on 5xx only.

use std::time::Duration;

use serde_json::{Value, json};
use shared::payments::{PaymentClient, PaymentError, PaymentSettings};
use tokio::net::TcpListener;

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

async fn configure(base_url: &str, config: Value) {
    let reply = reqwest::Client::new().post(format!("{base_url}/_fake/config")).json(&config).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}

async fn recorded(base_url: &str) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{base_url}/_fake/refunds")).await.unwrap().json().await.unwrap();
    body["refunds"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_refund_retried_with_its_key_is_the_same_refund() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    let first = payments.refund("pi_1", 1250, "cancel-a-order-1").await.unwrap();
    let again = payments.refund("pi_1", 1250, "cancel-a-order-1").await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.amount, 1250);
    let refunds = recorded(&url).await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["idempotency_key"], "cancel-a-order-1");
    assert!(matches!(
        payments.refund("pi_1", 999, "cancel-a-order-1").await,
        Err(PaymentError::Refused { status: 400, .. })
    ));
}

#[tokio::test]
async fn server_errors_are_retried_and_refusals_are_not() {
    let url = fake_provider().await;
    let payments = client(&url, Duration::from_secs(2));
    configure(&url, json!({ "failure_rate": 1.0 })).await;
    assert!(matches!(payments.refund("pi_2", 100, "k-2").await, Err(PaymentError::Unavailable(_))));
    configure(&url, json!({ "fail_payment_intents": ["pi_bad"] })).await;
    let refused = payments.refund("pi_bad", 100, "k-3").await;
    assert!(matches!(refused, Err(PaymentError::Refused { status: 400, .. })), "{refused:?}");
    assert!(payments.refund("pi_2", 100, "k-2").await.is_ok(), "a failed attempt is not remembered");
    assert_eq!(recorded(&url).await.len(), 1);
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let url = fake_provider().await;
    configure(&url, json!({ "latency_ms": 600 })).await;
    let impatient = client(&url, Duration::from_millis(150));
    assert!(matches!(impatient.refund("pi_3", 100, "k-4").await, Err(PaymentError::Unavailable(_))));
    let patient = client(&url, Duration::from_secs(3));
    assert!(patient.refund("pi_3", 100, "k-4").await.is_ok());
}

#[tokio::test]
async fn the_fake_wants_a_key_and_sane_parameters() {
    let url = fake_provider().await;
    let http = reqwest::Client::new();
    let no_key =
        http.post(format!("{url}/v1/refunds")).form(&[("payment_intent", "pi"), ("amount", "1")]).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let bad = http
        .post(format!("{url}/v1/refunds"))
        .bearer_auth("sk")
        .form(&[("payment_intent", "pi"), ("amount", "-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let config = http.post(format!("{url}/_fake/config")).json(&json!({ "failure_rate": 2 })).send().await.unwrap();
    assert_eq!(config.status(), 400);
}
