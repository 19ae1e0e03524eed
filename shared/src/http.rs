//! Request parsing (bodies, path ids, query strings) and response building.
//!
//! Bodies are parsed strictly: request DTOs use `deny_unknown_fields`, and every serde
//! failure becomes a 400 naming the field and a machine-readable code.

use std::collections::HashMap;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, FieldError, field_code};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

pub fn body_bytes(req: &Request) -> &[u8] {
    req.body().as_ref()
}

/// Parses a JSON body into a request DTO, turning serde's complaints into field errors.
pub fn parse_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_field("body", field_code::REQUIRED, "a JSON object body is required"));
    }
    parse_json(bytes)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::domain::json::decode(bytes).map_err(|error| ApiError::BadRequest(vec![error]))
}

/// A path parameter that must be a hyphenated UUID; anything else is a 400.
pub fn path_id<Id: From<Uuid>>(req: &Request, name: &str) -> Result<Id, ApiError> {
    let raw = req.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default().to_owned();
    parse_id(name, &raw)
}

/// A path parameter taken as text (user ids come from the identity provider, not from us).
pub fn path_text(req: &Request, name: &str) -> Result<String, ApiError> {
    let raw = req.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default();
    if raw.is_empty() || raw.len() > 255 {
        return Err(ApiError::bad_field(name, field_code::INVALID_VALUE, "must be 1 to 255 characters"));
    }
    Ok(raw.to_owned())
}

pub fn parse_id<Id: From<Uuid>>(field: &str, raw: &str) -> Result<Id, ApiError> {
    crate::domain::fields::id(field, raw).map_err(|error| ApiError::BadRequest(vec![error]))
}

/// Query-string parameters, restricted to the ones a route knows (a typo is a 400, not ignored).
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(req: &Request, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        let mut errors = Vec::new();
        if let Some(map) = req.query_string_parameters_ref() {
            for (name, value) in map.iter() {
                if !allowed.contains(&name) {
                    errors.push(FieldError::new(name, field_code::UNEXPECTED_PROPERTY, "unknown query parameter"));
                } else if values.insert(name.to_owned(), value.to_owned()).is_some() {
                    errors.push(FieldError::new(name, field_code::INVALID_VALUE, "given more than once"));
                }
            }
        }
        if errors.is_empty() { Ok(Self(values)) } else { Err(ApiError::BadRequest(errors)) }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `?limit=`: 1–100, default 20.
    pub fn limit(&self) -> Result<usize, ApiError> {
        self.get("limit").map_or(Ok(DEFAULT_PAGE_SIZE), |raw| {
            // Digits only: Rust parses `+5` as a number, but it is no page size.
            let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| raw.parse::<usize>().ok()).flatten().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(
                || ApiError::bad_field("limit", field_code::OUT_OF_RANGE, "limit must be a whole number from 1 to 100"),
            )
        })
    }
}

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).expect("response types serialize");
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

pub fn problem_response(error: &ApiError, request_id: &str) -> Response<Body> {
    let mut response = json_response(error.status(), &error.to_problem(request_id));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if let ApiError::RateLimited { retry_after_seconds } = error {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyphenated_uuids_are_ids() {
        assert!(parse_id::<Uuid>("id", "0190a5d4-7f7e-7c3a-8b1e-1234567890ab").is_ok());
        assert!(parse_id::<Uuid>("id", "0190a5d47f7e7c3a8b1e1234567890ab").is_err());
        assert!(parse_id::<Uuid>("id", "not-a-uuid").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { failure_persistence: None, ..Default::default() })]

        /// `limit` is a whole number from 1 to 100 in plain decimal digits; absent, 20.
        #[test]
        fn a_page_size_is_taken_exactly_when_it_is_1_to_100(
            raw in proptest::option::of("[0-9]{1,4}|-?[0-9]{1,3}|[ +0-9a-z.]{0,4}|0{0,3}10[01]")
        ) {
            let query = Query(raw.iter().map(|r| ("limit".to_owned(), r.clone())).collect());
            // By hand: digits only, their value from 1 to 100 (leading zeros allowed).
            let expected = match &raw {
                None => Some(20),
                Some(r) if r.is_empty() || !r.chars().all(|c| c.is_ascii_digit()) => None,
                Some(r) => {
                    let value = r.trim_start_matches('0');
                    let small = !value.is_empty() && value.len() <= 3;
                    small.then(|| value.parse::<usize>().unwrap()).filter(|n| *n <= 100)
                }
            };
            proptest::prop_assert_eq!(query.limit().ok(), expected, "{:?}", raw);
        }
    }
}
