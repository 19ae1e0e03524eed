//! Venue endpoints.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::Caller;
use crate::domain::ids::VenueId;
use crate::domain::venue::{CreateVenue, UpdateVenue, Venue};
use crate::error::ApiError;
use crate::http::{Query, json_response, parse_body, path_id};

/// Optimistic-concurrency retries for updates that did not name a `version`.
const UPDATE_ATTEMPTS: usize = 3;

pub async fn create(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let input: CreateVenue = parse_body(req)?;
    let venue = input.into_venue(VenueId::generate(), &caller.principal.user_id, crate::domain::now())?;
    caller.deps.store.create_venue(caller.tenant(), &venue).await?;
    Ok(json_response(StatusCode::CREATED, &json!({ "venue": venue })))
}

pub async fn get(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let venue = load(caller, path_id(req, "venue_id")?).await?;
    Ok(json_response(StatusCode::OK, &json!({ "venue": venue })))
}

pub async fn list(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req, &["limit", "cursor"])?;
    let limit = query.limit()?;
    let scope = format!("{}|venues", caller.tenant());
    let start = caller.resume_from(&scope, &query)?;
    let page = caller.deps.store.list_venues(caller.tenant(), limit, start).await?;
    let next_cursor = caller.next_cursor(&scope, page.next.as_ref())?;
    Ok(json_response(StatusCode::OK, &json!({ "venues": page.items, "next_cursor": next_cursor })))
}

pub async fn update(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let id = path_id(req, "venue_id")?;
    let update: UpdateVenue = parse_body(req)?;
    for _ in 0..UPDATE_ATTEMPTS {
        let current = load(caller, id).await?;
        let next = update.apply_to(&current, crate::domain::now())?;
        if caller.deps.store.replace_venue(caller.tenant(), &next, current.version).await? {
            return Ok(json_response(StatusCode::OK, &json!({ "venue": next })));
        }
    }
    Err(ApiError::conflict("VERSION_CONFLICT", "the venue kept changing concurrently; retry"))
}

async fn load(caller: Caller<'_>, id: VenueId) -> Result<Venue, ApiError> {
    caller.deps.store.get_venue(caller.tenant(), id).await?.ok_or(ApiError::NotFound)
}
