//! The API's one error type and its one mapping to RFC 7807 problem responses.
//!
//! Expected failures (bad input, missing resources, business-rule conflicts) are values of
//! [`ApiError`]; the handler wrapper turns them into `application/problem+json` responses.
//! Unexpected failures carry their source for the logs only: 401, 403 and 5xx bodies are
//! generic and never include internal text.

use http::StatusCode;
use serde::Serialize;

use crate::domain::error::DomainError;
pub use crate::domain::error::{FieldError, field_code};

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: 400 with the offending fields.
    #[error("invalid request: {0:?}")]
    BadRequest(Vec<FieldError>),
    /// Well-formed input that breaks a business rule: 422 with the offending fields.
    #[error("request breaks a rule: {0:?}")]
    Unprocessable(Vec<FieldError>),
    /// An `Idempotency-Key` sent again with a different request: 422.
    #[error("idempotency key reused for a different request")]
    KeyReused,
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// A 409 with a rule-specific code such as `DUPLICATE_EVENT`.
    #[error("conflict {code}: {detail}")]
    Conflict { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 402: the payment named for a purchase did not pass the provider check (the detail says which).
    #[error("payment not verified: {0}")]
    PaymentNotVerified(String),
    /// 422: a refund larger than what is left of the order after refunded and pending refunds.
    #[error("refund exceeds what is left: {0}")]
    RefundExceedsRemaining(String),
    /// A 410 with a rule-specific code such as `RESERVATION_EXPIRED`.
    #[error("gone {code}: {detail}")]
    Gone { code: &'static str, detail: String },
    #[error("payload too large")]
    PayloadTooLarge,
    /// 429: over the user's requests per minute; `Retry-After` says when the window ends.
    #[error("rate limited for {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(#[source] Source),
    #[error("internal error: {0}")]
    Internal(#[source] Source),
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => Self::BadRequest(errors),
            DomainError::BrokenRule(errors) => Self::Unprocessable(errors),
            DomainError::Conflict { code, detail, fields } => Self::conflict_about(code, detail, fields),
        }
    }
}

impl ApiError {
    pub fn bad_field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest(vec![FieldError::new(field, code, message)])
    }

    pub fn rule(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldError::new(field, field_code::RULE_VIOLATED, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into(), errors: Vec::new() }
    }

    /// A 409 that names what it concerns, e.g. the ticket types that sold out.
    pub fn conflict_about(code: &'static str, detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::Conflict { code, detail: detail.into(), errors }
    }

    pub fn internal(source: impl Into<Source>) -> Self {
        Self::Internal(source.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) | Self::KeyReused | Self::RefundExceedsRemaining(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::PaymentNotVerified(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Gone { .. } => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::Unprocessable(_) => "VALIDATION_ERROR",
            Self::KeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::PaymentNotVerified(_) => "PAYMENT_NOT_VERIFIED",
            Self::RefundExceedsRemaining(_) => "REFUND_EXCEEDS_REMAINING",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict { code, .. } | Self::Gone { code, .. } => code,
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The problem document for this error. Only 400/402/404/409/410/413/422 say anything specific.
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let status = self.status();
        let (title, detail, errors) = match self {
            Self::BadRequest(errors) => {
                ("Invalid request", "The request is malformed; see errors.".to_owned(), Some(errors.clone()))
            }
            Self::Unprocessable(errors) => (
                "Request breaks a rule",
                "The request is well-formed but breaks a business rule; see errors.".to_owned(),
                Some(errors.clone()),
            ),
            Self::KeyReused => {
                ("Idempotency key reused", "This Idempotency-Key was used for a different request.".to_owned(), None)
            }
            Self::Unauthorized => ("Unauthorized", "Missing or invalid credentials.".to_owned(), None),
            Self::Forbidden => ("Forbidden", "You are not allowed to do this.".to_owned(), None),
            Self::NotFound => ("Not found", "No such resource.".to_owned(), None),
            Self::Conflict { detail, errors, .. } => {
                ("Conflict", detail.clone(), (!errors.is_empty()).then(|| errors.clone()))
            }
            Self::Gone { detail, .. } => ("Gone", detail.clone(), None),
            Self::PaymentNotVerified(detail) => ("Payment not verified", detail.clone(), None),
            Self::RefundExceedsRemaining(detail) => ("Refund exceeds what is left", detail.clone(), None),
            Self::PayloadTooLarge => ("Payload too large", "The request body exceeds 64 KiB.".to_owned(), None),
            Self::RateLimited { .. } => (
                "Too many requests",
                "Too many requests this minute; retry after Retry-After seconds.".to_owned(),
                None,
            ),
            Self::Unavailable(_) => {
                ("Service unavailable", "The service is temporarily unavailable; retry later.".to_owned(), None)
            }
            Self::Internal(_) => ("Internal error", "Something went wrong on our side.".to_owned(), None),
        };
        Problem {
            problem_type: format!("/problems/{}", self.code().to_ascii_lowercase().replace('_', "-")),
            title,
            status: status.as_u16(),
            detail,
            code: self.code(),
            request_id: request_id.to_owned(),
            errors,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_put_their_source_in_the_body() {
        let error = ApiError::internal("ResourceNotFoundException: table events-prod missing");
        let body = serde_json::to_string(&error.to_problem("req-1")).unwrap();
        assert!(!body.contains("events-prod"), "{body}");
        assert!(!body.contains("ResourceNotFound"), "{body}");
        assert!(body.contains("\"code\":\"INTERNAL_ERROR\""));
        assert!(body.contains("\"request_id\":\"req-1\""));
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let error = ApiError::bad_field("name", field_code::REQUIRED, "name is required");
        let problem = serde_json::to_value(error.to_problem("r")).unwrap();
        assert_eq!(problem["status"], 400);
        assert_eq!(problem["code"], "VALIDATION_ERROR");
        assert_eq!(problem["errors"][0]["field"], "name");
        assert_eq!(problem["type"], "/problems/validation-error");
    }
}
