//! `Idempotency-Key` for POST requests, as the API contract specifies: scoped to tenant, user and
//! route; the first outcome (unless 5xx) is replayed byte for byte with
//! `Idempotent-Replayed: true`; another body under the same key is a 422; a key whose first
//! request is still running is a 409 with `Retry-After`.

use std::future::Future;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};

use super::Caller;
use crate::error::{ApiError, field_code};
use crate::http::{body_bytes, problem_response};
use crate::store::idempotency::{Claim, IdempotencyRecord, KeyScope};
use crate::store::inventory::millis;

pub const HEADER: &str = "idempotency-key";
/// How long a claim is held when there is no Lambda deadline to go by (local runs).
const DEFAULT_LOCK_MS: u64 = 30_000;

/// The request's key, validated; `required` makes a missing key a 400.
pub fn key(req: &Request, required: bool) -> Result<Option<String>, ApiError> {
    let invalid = |message: &str| ApiError::bad_field("Idempotency-Key", field_code::INVALID_VALUE, message);
    match req.headers().get(HEADER) {
        None if required => Err(ApiError::bad_field(
            "Idempotency-Key",
            field_code::REQUIRED,
            "this request needs an Idempotency-Key header",
        )),
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().map_err(|_| invalid("must be ASCII"))?;
            let valid = (1..=255).contains(&key.len())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if valid {
                Ok(Some(key.to_owned()))
            } else {
                Err(invalid("must be 1 to 255 characters of A-Z, a-z, 0-9, _ and -"))
            }
        }
    }
}

/// What makes two requests "the same": method, path and body.
pub fn fingerprint(req: &Request) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str().as_bytes());
    hash.update(b"\n");
    hash.update(req.uri().path().as_bytes());
    hash.update(b"\n");
    hash.update(body_bytes(req));
    hash.finalize().iter().fold(String::with_capacity(64), |mut hex, byte| {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Runs `handler` at most once per key; see the module docs for the outcomes.
pub async fn run_once<F>(
    caller: Caller<'_>,
    route: &str,
    key: &str,
    req: &Request,
    request_id: &str,
    handler: F,
) -> Result<Response<Body>, ApiError>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let scope = KeyScope { tenant: caller.tenant(), user: &caller.principal.user_id, route, key };
    let fingerprint = fingerprint(req);
    let now = millis(crate::domain::now());
    let locked_until = req.lambda_context_ref().map_or(now + DEFAULT_LOCK_MS, |c| c.deadline.max(now) + 1_000);
    let store = &caller.deps.store;
    match store.claim_idempotency_key(&scope, &fingerprint, locked_until, now).await? {
        Claim::Existing(record) => answer_existing(&record, &fingerprint, now, request_id),
        Claim::Claimed => {
            let response = match handler.await {
                Ok(response) => response,
                Err(error) if error.status().is_server_error() => {
                    if let Err(release) = store.abandon_idempotency_key(&scope, &fingerprint).await {
                        tracing::warn!(error = %release, "could not release an idempotency key after a 5xx");
                    }
                    return Err(error);
                }
                Err(error) => {
                    tracing::info!(code = error.code(), "request refused");
                    problem_response(&error, request_id)
                }
            };
            let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
            let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            store
                .complete_idempotency_key(&scope, &fingerprint, response.status().as_u16(), &body, content_type)
                .await?;
            Ok(response)
        }
    }
}

fn answer_existing(
    record: &IdempotencyRecord,
    fingerprint: &str,
    now: u64,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::KeyReused);
    }
    if record.status != "COMPLETED" {
        let mut response = problem_response(
            &ApiError::conflict(
                "IDEMPOTENCY_IN_PROGRESS",
                "a request with this Idempotency-Key is still running; retry later",
            ),
            request_id,
        );
        let seconds = record.locked_until_ms.saturating_sub(now).div_ceil(1000).max(1);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let mut response = Response::new(Body::Text(record.response_body.clone().unwrap_or_default()));
    *response.status_mut() =
        record.response_status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    if let Some(content_type) = record.response_content_type.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_key(value: &[u8]) -> Request {
        let mut req = Request::new(lambda_http::Body::Empty);
        req.headers_mut().insert(HEADER, http::HeaderValue::from_bytes(value).unwrap());
        req
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// A key is 1 to 255 characters of `[A-Za-z0-9_-]`; anything else is a 400 on the header.
        #[test]
        fn a_key_is_taken_exactly_when_it_is_well_formed(
            key in "[A-Za-z0-9_-]{0,300}|[A-Za-z0-9_ .:/+=-]{1,20}|[a-zé]{1,5}",
            required in any::<bool>(),
        ) {
            let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            match super::key(&with_key(key.as_bytes()), required) {
                Ok(taken) => prop_assert!(valid && taken.as_deref() == Some(key.as_str()), "{key:?}"),
                Err(error) => prop_assert!(!valid && matches!(error, ApiError::BadRequest(_)), "{key:?}: {error:?}"),
            }
        }
    }

    #[test]
    fn a_missing_key_is_refused_only_where_one_is_required() {
        let without = Request::new(lambda_http::Body::Empty);
        assert!(matches!(key(&without, true), Err(ApiError::BadRequest(_))));
        assert!(matches!(key(&without, false), Ok(None)));
    }
}
