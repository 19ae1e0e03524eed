//! Price quotes: `POST /events/{id}/price-quote`.

use http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::Caller;
use super::events::load_visible;
use crate::domain::quote::{QuoteInput, quote as price};
use crate::error::ApiError;
use crate::http::{json_response, parse_body, path_id};

/// Prices the lines at this moment for anyone who may see the event (customers see published
/// public events only, as for every event read).
pub async fn quote(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let lines = parse_body::<QuoteInput>(req)?.validate()?;
    let current = load_visible(caller, path_id(req, "event_id")?).await?;
    let quoted = price(&current.ticket_types, &lines, crate::domain::now())?;
    Ok(json_response(StatusCode::OK, &quoted))
}
