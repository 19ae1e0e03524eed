//! The payment provider, in Stripe's shape: payment intents are read to verify a purchase
//! (`GET /v1/payment_intents/{id}`), and refunds are created with `POST /v1/refunds`
//! (form-encoded `payment_intent`, `amount` and `metadata[refund_id]`, a bearer secret key, and
//! an `Idempotency-Key` that makes a retried refund the same refund). A refund whose answer was
//! lost is found again by listing the payment's refunds (`GET /v1/refunds?payment_intent=`) and
//! matching that metadata.
//!
//! Every call is bounded twice: each attempt by the client's timeout, and all attempts
//! together by a deadline the caller passes (a queue consumer's Lambda deadline, a request's
//! budget). A retry only starts if it can finish before that deadline.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

#[derive(Clone)]
pub struct PaymentSettings {
    pub base_url: String,
    pub secret_key: String,
    /// One HTTP attempt, connection included.
    pub timeout: Duration,
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

impl std::fmt::Debug for PaymentSettings {
    // The secret key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentSettings")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A refund as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: u64,
    /// `succeeded`, `pending`, `requires_action`, `failed` or `canceled`.
    pub status: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

/// The metadata key under which each refund carries our id for it (its idempotency key).
const REFUND_ID_METADATA: &str = "refund_id";

/// One page of a provider list.
#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
}

impl Refund {
    pub fn outcome(&self) -> RefundOutcome {
        match self.status.as_str() {
            "succeeded" => RefundOutcome::Succeeded,
            "failed" | "canceled" => RefundOutcome::Failed,
            _ => RefundOutcome::Pending,
        }
    }
}

/// What a refund's provider status means for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The money is on its way back: the refund counts.
    Succeeded,
    /// The provider has not finished: ask again later, count nothing yet.
    Pending,
    /// The provider gave up on it: nothing was refunded.
    Failed,
}

/// A payment as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: u64,
    pub currency: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused the call (a 4xx other than 409 and 429): retrying will not help.
    #[error("refused by the payment provider ({status}): {message}")]
    Refused { status: u16, message: String },
    /// 5xx, 429, 409 (a call with the same idempotency key still running), an idempotency
    /// error, timeouts or no connection, after every attempt that fit the deadline.
    /// `maybe_running` is false only when every attempt was turned away before the provider
    /// did anything (429, or no connection): a 5xx leaves the result unknown (Stripe may still
    /// finish or reconcile it), as do a timeout and a call with the same key still running.
    #[error("payment provider unavailable: {reason}")]
    Unavailable { reason: String, maybe_running: bool },
}

impl PaymentError {
    fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable { reason: reason.into(), maybe_running: false }
    }
}

#[derive(Clone)]
pub struct PaymentClient {
    http: reqwest::Client,
    settings: PaymentSettings,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

/// One attempt's result: done (either way), or worth another attempt.
enum Attempt<T> {
    Done(Result<T, PaymentError>),
    Retry { reason: String, maybe_running: bool },
}

impl PaymentClient {
    pub fn new(settings: PaymentSettings) -> Result<Self, PaymentError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| PaymentError::unavailable(e.to_string()))?;
        Ok(Self { http, settings })
    }

    /// The longest one attempt can take: what a caller must have left before starting a call.
    pub fn attempt_timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Refunds `amount` minor units of `payment_intent`. The same `idempotency_key` always
    /// means the same refund, so calling again after any failure is safe. A `pending` answer
    /// is read once more by id, so a refund that settles quickly is seen as settled.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: u64,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<Refund, PaymentError> {
        let url = self.url("/v1/refunds");
        let metadata_field = format!("metadata[{REFUND_ID_METADATA}]");
        let form = [
            ("payment_intent", payment_intent.to_owned()),
            ("amount", amount.to_string()),
            (metadata_field.as_str(), idempotency_key.to_owned()),
        ];
        let refund: Refund = self
            .with_retries(deadline, || {
                self.http
                    .post(&url)
                    .bearer_auth(&self.settings.secret_key)
                    .header("Idempotency-Key", idempotency_key)
                    .form(&form)
            })
            .await?;
        if refund.outcome() != RefundOutcome::Pending || Instant::now() + self.settings.timeout > deadline {
            return Ok(refund);
        }
        let url = self.url(&format!("/v1/refunds/{}", refund.id));
        self.with_retries(deadline, || self.http.get(&url).bearer_auth(&self.settings.secret_key)).await
    }

    /// The refund of `payment_intent` created with `idempotency_key`, if the provider has one:
    /// how a refund whose answer was lost is learned without creating it again.
    pub async fn find_refund(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
        deadline: Instant,
    ) -> Result<Option<Refund>, PaymentError> {
        let mut after: Option<String> = None;
        loop {
            let query = {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("payment_intent", payment_intent).append_pair("limit", "100");
                if let Some(last) = &after {
                    query.append_pair("starting_after", last);
                }
                query.finish()
            };
            let url = self.url(&format!("/v1/refunds?{query}"));
            let page: Page<Refund> =
                self.with_retries(deadline, || self.http.get(&url).bearer_auth(&self.settings.secret_key)).await?;
            if let Some(found) = page
                .data
                .iter()
                .find(|r| r.metadata.get(REFUND_ID_METADATA).map(String::as_str) == Some(idempotency_key))
            {
                return Ok(Some(found.clone()));
            }
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
    }

    /// The payment intent `id`, or `None` if the provider does not know it.
    pub async fn payment_intent(&self, id: &str, deadline: Instant) -> Result<Option<PaymentIntent>, PaymentError> {
        let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let url = self.url(&format!("/v1/payment_intents/{encoded}"));
        match self.with_retries(deadline, || self.http.get(&url).bearer_auth(&self.settings.secret_key)).await {
            Ok(intent) => Ok(Some(intent)),
            Err(PaymentError::Refused { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// Sends `request()` until it answers, retrying 5xx, 429 and transport failures with
    /// jittered exponential backoff while another attempt still fits before `deadline`.
    async fn with_retries<T: serde::de::DeserializeOwned>(
        &self,
        deadline: Instant,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, PaymentError> {
        let mut backoff = self.settings.first_backoff;
        let mut last = "no attempt fitted before the deadline".to_owned();
        let mut maybe_running = false;
        for attempt in 1..=self.settings.max_attempts.max(1) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // The last attempt that fits may be cut short by the deadline rather than the timeout.
            let outcome = match tokio::time::timeout(left, Self::attempt(request())).await {
                Ok(outcome) => outcome,
                Err(_) => Attempt::Retry { reason: "the deadline passed during the call".into(), maybe_running: true },
            };
            match outcome {
                Attempt::Done(result) => return result,
                Attempt::Retry { reason, maybe_running: running } => {
                    last = reason;
                    maybe_running |= running;
                }
            }
            let pause = jitter(backoff);
            if attempt == self.settings.max_attempts || Instant::now() + pause + self.settings.timeout > deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            backoff *= 2;
        }
        Err(PaymentError::Unavailable { reason: last, maybe_running })
    }

    async fn attempt<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> Attempt<T> {
        match request.send().await {
            Ok(response) if response.status().is_success() => Attempt::Done(
                // The provider did something; what, this answer does not say.
                response.json::<T>().await.map_err(|e| PaymentError::Unavailable {
                    reason: format!("unreadable answer: {e}"),
                    maybe_running: true,
                }),
            ),
            // Another call with the same idempotency key is still running: ask again shortly.
            Ok(response) if response.status() == reqwest::StatusCode::CONFLICT => {
                Attempt::Retry { reason: "HTTP 409: a call with the same key is running".into(), maybe_running: true }
            }
            Ok(response) if response.status().is_client_error() && response.status().as_u16() != 429 => {
                let status = response.status().as_u16();
                let detail = response.json::<ErrorBody>().await.ok().map(|b| b.error);
                let kind = detail.as_ref().and_then(|d| d.kind.clone()).unwrap_or_default();
                let message = detail.and_then(|d| d.message).unwrap_or_else(|| "no message".into());
                if kind == "idempotency_error" {
                    // The key was used before with other parameters: what that call did is unknown.
                    return Attempt::Done(Err(PaymentError::Unavailable {
                        reason: format!("idempotency error ({status}): {message}"),
                        maybe_running: true,
                    }));
                }
                Attempt::Done(Err(PaymentError::Refused { status, message }))
            }
            // Turned away before anything was done.
            Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                Attempt::Retry { reason: "HTTP 429".into(), maybe_running: false }
            }
            Ok(response) => Attempt::Retry { reason: format!("HTTP {}", response.status()), maybe_running: true },
            // A connection never made sent nothing; any other failure may have reached the provider.
            Err(error) => Attempt::Retry { maybe_running: !error.is_connect(), reason: error.to_string() },
        }
    }
}

/// Between half and all of `backoff`, so retries of many consumers do not arrive together.
fn jitter(backoff: Duration) -> Duration {
    let random = uuid::Uuid::new_v4().as_u128();
    let fraction = 0.5 + f64::from(u32::try_from(random % 1000).unwrap_or(0)) / 2000.0;
    backoff.mul_f64(fraction)
}
