//! What a domain rule refuses, in the domain's own terms. The HTTP edge maps these to
//! problem responses (`crate::error::ApiError`); the domain itself knows no status codes.

use serde::Serialize;

/// One invalid field of an input, as listed in a problem's `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// Field error codes, so clients can react without parsing messages.
pub mod field_code {
    pub const REQUIRED: &str = "REQUIRED";
    pub const INVALID_TYPE: &str = "INVALID_TYPE";
    pub const INVALID_VALUE: &str = "INVALID_VALUE";
    pub const INVALID_FORMAT: &str = "INVALID_FORMAT";
    pub const OUT_OF_RANGE: &str = "OUT_OF_RANGE";
    pub const TOO_LONG: &str = "TOO_LONG";
    pub const UNEXPECTED_PROPERTY: &str = "UNEXPECTED_PROPERTY";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const RULE_VIOLATED: &str = "RULE_VIOLATED";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Malformed input: every offending field.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Well-formed input that breaks a business rule: every offending field.
    #[error("input breaks a rule: {0:?}")]
    BrokenRule(Vec<FieldError>),
    /// The thing's current state forbids the change; `code` names the rule, e.g.
    /// `INVALID_STATE_TRANSITION`; `fields`, where given, name what it concerns.
    #[error("conflict {code}: {detail}")]
    Conflict { code: &'static str, detail: String, fields: Vec<FieldError> },
}

impl DomainError {
    pub fn invalid(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into(), fields: Vec::new() }
    }

    /// A conflict that names what it concerns, e.g. the ticket types that sold out.
    pub fn conflict_about(code: &'static str, detail: impl Into<String>, fields: Vec<FieldError>) -> Self {
        Self::Conflict { code, detail: detail.into(), fields }
    }
}
