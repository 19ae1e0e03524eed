//! A fake of the payment provider for local runs and tests, on 127.0.0.1, in Stripe's shapes.
//!
//! - `POST /v1/payment_intents` (form `amount`, `currency`, optional `metadata[reservation_id]`):
//!   a payment that has succeeded at once, as in Stripe's test mode; `GET /v1/payment_intents/{id}`
//!   reads it back (404 if unknown). Any `Bearer sk_test_…` key is accepted, so a client or a
//!   test can pay without knowing the runner's own key.
//! - `POST /v1/refunds` (form `payment_intent`, `amount`, optional `metadata[…]`): records a
//!   refund. As at Stripe, a repeated `Idempotency-Key` with the same parameters returns the
//!   first refund again, and with other parameters is a 400; a refund of an unknown intent, or of
//!   more than the intent has left, is refused (400). Failures are not remembered.
//!   `GET /v1/refunds/{id}` reads one; `GET /v1/refunds?payment_intent=…&limit=…&starting_after=…`
//!   lists a payment's refunds, newest first, as Stripe pages them.
//! - `GET /_fake/refunds`: every refund accepted, each idempotency key once.
//! - `POST /_fake/config` `{ failure_rate, fail_payment_intents, latency_ms, refund_status,
//!   refund_creates, forget_idempotency_keys }`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FakeConfig {
    /// Share of API calls (0–1: refunds and payment reads) that fail with a 500 and do nothing.
    pub failure_rate: f64,
    /// Payment intents whose refunds are always declined (400).
    pub fail_payment_intents: Vec<String>,
    /// Added to every refund call.
    pub latency_ms: u64,
    /// The status new refunds get (`succeeded`, or `pending` / `failed` to test how they count).
    pub refund_status: String,
    /// How refund creations go (reads and lists are not affected).
    pub refund_creates: RefundCreates,
    /// Idempotency keys are not honoured, as at Stripe once a key is older than 24 hours: the
    /// same key makes a new refund.
    pub forget_idempotency_keys: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            failure_rate: 0.0,
            fail_payment_intents: Vec::new(),
            latency_ms: 0,
            refund_status: "succeeded".into(),
            refund_creates: RefundCreates::Normal,
            forget_idempotency_keys: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundCreates {
    #[default]
    Normal,
    /// Turned away with a 429 before anything is done.
    RateLimited,
    /// A new refund answers 500 and is not made.
    Fail,
    /// Made, but answered with a 500, as if the answer were lost on the way; a retry with the
    /// same key gets the 500 again (Stripe replays a saved result).
    LoseAnswers,
}

#[derive(Debug, Clone, Serialize)]
pub struct FakeRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: u64,
    pub idempotency_key: Option<String>,
    pub created: i64,
    pub status: String,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
struct FakeIntent {
    id: String,
    object: &'static str,
    status: &'static str,
    amount: u64,
    currency: String,
    metadata: HashMap<String, String>,
    amount_refunded: u64,
}

#[derive(Default)]
struct Ledger {
    config: FakeConfig,
    refunds: Vec<FakeRefund>,
    by_key: HashMap<String, usize>,
    intents: HashMap<String, FakeIntent>,
}

type Shared = Arc<Mutex<Ledger>>;

/// The key the local stack's payment client uses (the fake accepts any `sk_test_` key).
pub const LOCAL_SECRET_KEY: &str = "sk_test_local_fake";

/// The variables that point the payment client at a fake served on `base_url` (its key is a
/// secret, provisioned by [`crate::secrets`]).
pub fn client_variables(base_url: &str) -> [(String, String); 1] {
    [("PAYMENTS_BASE_URL".to_owned(), base_url.to_owned())]
}

/// Serves the fake on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let ledger: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/{id}", get(read_intent))
        .route("/v1/refunds", post(refund).get(list_refunds))
        .route("/v1/refunds/{id}", get(read_refund))
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
            "status": refund.status, "created": refund.created, "metadata": refund.metadata })
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key.starts_with("sk_test_"))
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "invalid_request_error", "no valid test-mode API key provided")
}

/// Rolls the configured failure rate: `true` means "answer 500 and do nothing".
fn unlucky(ledger: &Ledger) -> bool {
    // Random bits from a v4 UUID are plenty for a coin toss.
    let [a, b, c, d, ..] = uuid::Uuid::new_v4().into_bytes();
    let roll = f64::from(u32::from_be_bytes([a, b, c, d])) / f64::from(u32::MAX);
    roll < ledger.config.failure_rate
}

fn simulated_failure() -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "simulated failure")
}

async fn create_intent(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(amount) = form.get("amount").and_then(|a| a.parse::<u64>().ok()).filter(|a| *a > 0) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "amount must be a positive integer");
    };
    let Some(currency) = form.get("currency").filter(|c| c.len() == 3).map(|c| c.to_ascii_lowercase()) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "currency must be a three-letter code");
    };
    let intent = FakeIntent {
        id: format!("pi_fake_{}", uuid::Uuid::new_v4().simple()),
        object: "payment_intent",
        status: "succeeded",
        amount,
        currency,
        metadata: metadata(&form),
        amount_refunded: 0,
    };
    let body = json!(intent);
    ledger.lock().expect("ledger lock").intents.insert(intent.id.clone(), intent);
    ok_json(&body)
}

/// The `metadata[key]` fields of a Stripe form.
fn metadata(form: &HashMap<String, String>) -> HashMap<String, String> {
    form.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')).map(|k| (k.to_owned(), v.clone()))
        })
        .collect()
}

async fn read_intent(State(ledger): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let ledger = ledger.lock().expect("ledger lock");
    if unlucky(&ledger) {
        return simulated_failure();
    }
    match ledger.intents.get(&id) {
        Some(intent) => ok_json(&json!(intent)),
        None => error(StatusCode::NOT_FOUND, "invalid_request_error", &format!("No such payment_intent: '{id}'")),
    }
}

async fn refund(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(intent) = form.get("payment_intent").filter(|p| !p.is_empty()).cloned() else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "payment_intent is required");
    };
    let Some(amount) = form.get("amount").and_then(|a| a.parse::<u64>().ok()).filter(|a| *a > 0) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "amount must be a positive integer");
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (latency, rate_limited) = {
        let ledger = ledger.lock().expect("ledger lock");
        (ledger.config.latency_ms, ledger.config.refund_creates == RefundCreates::RateLimited)
    };
    // Turned away at the door, before anything is looked at or done.
    if rate_limited {
        return error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "too many requests");
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut ledger = ledger.lock().expect("ledger lock");
    let remembered = key.as_ref().filter(|_| !ledger.config.forget_idempotency_keys).and_then(|k| ledger.by_key.get(k));
    if let Some(index) = remembered.copied() {
        let first = ledger.refunds[index].clone();
        if first.payment_intent != intent || first.amount != amount || first.metadata != metadata(&form) {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "keys can only be reused with the same parameters",
            );
        }
        if ledger.config.refund_creates == RefundCreates::LoseAnswers {
            return simulated_failure();
        }
        return ok_json(&refund_json(&first));
    }
    if ledger.config.fail_payment_intents.contains(&intent) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "this payment cannot be refunded");
    }
    if ledger.config.refund_creates == RefundCreates::Fail || unlucky(&ledger) {
        return simulated_failure();
    }
    let Some(paid) = ledger.intents.get(&intent).cloned() else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &format!("No such payment_intent: '{intent}'"));
    };
    if paid.amount_refunded + amount > paid.amount {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({})",
                paid.amount - paid.amount_refunded
            ),
        );
    }
    let status = ledger.config.refund_status.clone();
    if status != "failed" && status != "canceled" {
        ledger.intents.get_mut(&intent).expect("read above").amount_refunded += amount;
    }
    let refund = FakeRefund {
        id: format!("re_fake_{}", ledger.refunds.len() + 1),
        payment_intent: intent,
        amount,
        idempotency_key: key.clone(),
        created: chrono::Utc::now().timestamp(),
        status,
        metadata: metadata(&form),
    };
    let body = refund_json(&refund);
    ledger.refunds.push(refund);
    if let Some(key) = key {
        let index = ledger.refunds.len() - 1;
        ledger.by_key.insert(key, index);
    }
    if ledger.config.refund_creates == RefundCreates::LoseAnswers {
        return simulated_failure();
    }
    ok_json(&body)
}

async fn list_refunds(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let ledger = ledger.lock().expect("ledger lock");
    if unlucky(&ledger) {
        return simulated_failure();
    }
    let Some(limit) =
        query.get("limit").map_or(Some(10), |l| l.parse::<usize>().ok()).filter(|l| (1..=100).contains(l))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "limit must be from 1 to 100");
    };
    let (intent, after) = (query.get("payment_intent"), query.get("starting_after"));
    if after.is_some_and(|after| !ledger.refunds.iter().any(|r| r.id == *after)) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "starting_after names no refund");
    }
    let newest_first = ledger
        .refunds
        .iter()
        .rev()
        .filter(|r| intent.is_none_or(|p| *p == r.payment_intent))
        .skip_while(|r| after.is_some_and(|after| *after != r.id))
        .skip(usize::from(after.is_some()));
    let page: Vec<Value> = newest_first.take(limit + 1).map(refund_json).collect();
    let has_more = page.len() > limit;
    let data: Vec<&Value> = page.iter().take(limit).collect();
    ok_json(&json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/refunds" }))
}

async fn read_refund(State(ledger): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut ledger = ledger.lock().expect("ledger lock");
    let Some(index) = ledger.refunds.iter().position(|r| r.id == id) else {
        return error(StatusCode::NOT_FOUND, "invalid_request_error", &format!("No such refund: '{id}'"));
    };
    // A pending refund settles the way the fake is now configured, as one at Stripe settles later.
    let settled = ledger.config.refund_status.clone();
    if ledger.refunds[index].status == "pending" && settled != "pending" {
        let refund = &mut ledger.refunds[index];
        refund.status.clone_from(&settled);
        let (intent, amount) = (refund.payment_intent.clone(), refund.amount);
        if settled == "failed"
            && let Some(paid) = ledger.intents.get_mut(&intent)
        {
            paid.amount_refunded -= amount;
        }
    }
    ok_json(&refund_json(&ledger.refunds[index]))
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
    if !["succeeded", "pending", "failed"].contains(&config.refund_status.as_str()) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "refund_status: succeeded, pending or failed");
    }
    ledger.lock().expect("ledger lock").config = config.clone();
    ok_json(&json!(config))
}
