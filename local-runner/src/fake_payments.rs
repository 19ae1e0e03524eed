//! A fake of the payment provider's refund endpoint for local runs and tests, on 127.0.0.1.
//!
//! - `POST /v1/refunds` (form `payment_intent`, `amount`; bearer key required): records a refund.
//!   As at Stripe, a repeated `Idempotency-Key` with the same parameters returns the first
//!   refund again, and with other parameters is a 400; failures are not remembered.
//! - `GET /_fake/refunds`: every refund accepted, each idempotency key once.
//! - `POST /_fake/config` `{ failure_rate, fail_payment_intents, latency_ms }`: how it behaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FakeConfig {
    /// Share of refund calls (0–1) that fail with a 500 before anything is recorded.
    pub failure_rate: f64,
    /// Payment intents whose refunds are always declined (400).
    pub fail_payment_intents: Vec<String>,
    /// Added to every refund call.
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: u64,
    pub idempotency_key: Option<String>,
    pub created: i64,
}

#[derive(Default)]
struct Ledger {
    config: FakeConfig,
    refunds: Vec<FakeRefund>,
    by_key: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Ledger>>;

/// The variables that point the refund client at a fake served on `base_url`.
pub fn client_variables(base_url: &str) -> [(String, String); 2] {
    [
        ("PAYMENTS_BASE_URL".to_owned(), base_url.to_owned()),
        ("PAYMENTS_SECRET_KEY".to_owned(), "sk_test_local_fake".to_owned()),
    ]
}

/// Serves the fake on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let ledger: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1/refunds", post(refund))
        .route("/_fake/refunds", get(list))
        .route("/_fake/config", post(configure))
        .with_state(ledger);
    axum::serve(listener, app).await
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({ "error": { "type": kind, "message": message } }).to_string();
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok_json(value: &Value) -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn refund_json(refund: &FakeRefund) -> Value {
    json!({ "id": refund.id, "object": "refund", "amount": refund.amount, "payment_intent": refund.payment_intent,
            "status": "succeeded", "created": refund.created })
}

async fn refund(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| !key.is_empty());
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "invalid_request_error", "no API key provided");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(intent) = form.get("payment_intent").filter(|p| !p.is_empty()).cloned() else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "payment_intent is required");
    };
    let Some(amount) = form.get("amount").and_then(|a| a.parse::<u64>().ok()).filter(|a| *a > 0) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "amount must be a positive integer");
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let latency = ledger.lock().expect("ledger lock").config.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut ledger = ledger.lock().expect("ledger lock");
    if let Some(index) = key.as_ref().and_then(|k| ledger.by_key.get(k)).copied() {
        let first = ledger.refunds[index].clone();
        if first.payment_intent != intent || first.amount != amount {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "keys can only be reused with the same parameters",
            );
        }
        return ok_json(&refund_json(&first));
    }
    if ledger.config.fail_payment_intents.contains(&intent) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "this payment cannot be refunded");
    }
    // Random bits from a v4 UUID are plenty for a coin toss.
    let [a, b, c, d, ..] = uuid::Uuid::new_v4().into_bytes();
    let roll = f64::from(u32::from_be_bytes([a, b, c, d])) / f64::from(u32::MAX);
    if roll < ledger.config.failure_rate {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "simulated failure");
    }
    let refund = FakeRefund {
        id: format!("re_fake_{}", ledger.refunds.len() + 1),
        payment_intent: intent,
        amount,
        idempotency_key: key.clone(),
        created: chrono::Utc::now().timestamp(),
    };
    let body = refund_json(&refund);
    ledger.refunds.push(refund);
    if let Some(key) = key {
        let index = ledger.refunds.len() - 1;
        ledger.by_key.insert(key, index);
    }
    ok_json(&body)
}

async fn list(State(ledger): State<Shared>) -> Response {
    let ledger = ledger.lock().expect("ledger lock");
    ok_json(&json!({ "refunds": ledger.refunds }))
}

async fn configure(State(ledger): State<Shared>, body: Bytes) -> Response {
    let config: FakeConfig = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &e.to_string()),
    };
    if !(0.0..=1.0).contains(&config.failure_rate) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "failure_rate must be from 0 to 1");
    }
    ledger.lock().expect("ledger lock").config = config.clone();
    ok_json(&json!(config))
}
