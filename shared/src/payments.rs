//! The payment provider's refund API, in Stripe's shape: `POST /v1/refunds`, form-encoded
//! `payment_intent` and `amount`, a bearer secret key, and an `Idempotency-Key` that makes a
//! retried refund the same refund.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub base_url: String,
    pub secret_key: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: u64,
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused this refund (a 4xx other than 429): retrying will not help.
    #[error("refund refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// 5xx, 429, timeouts or no connection, after every attempt.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
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
    message: Option<String>,
}

impl PaymentClient {
    pub fn new(settings: PaymentSettings) -> Result<Self, PaymentError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        Ok(Self { http, settings })
    }

    /// Refunds `amount` minor units of `payment_intent`. The same `idempotency_key` always
    /// means the same refund, so calling again after any failure is safe.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> Result<Refund, PaymentError> {
        let url = format!("{}/v1/refunds", self.settings.base_url.trim_end_matches('/'));
        let form = [("payment_intent", payment_intent.to_owned()), ("amount", amount.to_string())];
        let mut backoff = self.settings.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.settings.max_attempts.max(1) {
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.settings.secret_key)
                .header("Idempotency-Key", idempotency_key)
                .form(&form)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    return response.json::<Refund>().await.map_err(|e| PaymentError::Unavailable(e.to_string()));
                }
                Ok(response) if response.status().is_client_error() && response.status().as_u16() != 429 => {
                    let status = response.status().as_u16();
                    let message = response
                        .json::<ErrorBody>()
                        .await
                        .ok()
                        .and_then(|b| b.error.message)
                        .unwrap_or_else(|| "no message".into());
                    return Err(PaymentError::Refused { status, message });
                }
                Ok(response) => last = format!("HTTP {}", response.status()),
                Err(error) => last = error.to_string(),
            }
            if attempt < self.settings.max_attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(PaymentError::Unavailable(last))
    }
}
