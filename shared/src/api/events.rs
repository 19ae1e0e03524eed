//! Event endpoints: create, read, list, update (with the lifecycle), publish, soft delete.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::Caller;
use crate::domain::event::{Event, EventChanges, EventInput, EventStatus, EventView, InputKind};
use crate::domain::fields;
use crate::domain::ids::{EventId, VenueId};
use crate::domain::inventory::EventInventory;
use crate::domain::venue::Venue;
use crate::error::{ApiError, FieldError, field_code};
use crate::http::{Query, empty_response, json_response, parse_body, path_id};
use crate::store::{EventFilter, EventWriteError};

/// Optimistic-concurrency retries for writes whose caller did not pin a `version`.
const WRITE_ATTEMPTS: usize = 3;

pub async fn create(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let input: EventInput = parse_body(req)?;
    let changes = input.validate(InputKind::Create)?;
    let venue = load_venue(caller, changes.venue_id.expect("required on create")).await?;
    let now = crate::domain::now();
    let event = Event::create(EventId::generate(), changes, &venue, &caller.principal.user_id, now);
    event.check_rules(None, &venue, caller.deps.start_window, now)?;
    caller.deps.store.create_event(caller.tenant(), &event).await?;
    Ok(event_response(StatusCode::CREATED, &EventInventory::without_ticket_types(event)))
}

pub async fn get(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let stored = load_visible(caller, path_id(req, "event_id")?).await?;
    Ok(event_response(StatusCode::OK, &stored))
}

pub async fn list(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req, &["status", "venue_id", "from", "to", "limit", "cursor"])?;
    let limit = query.limit()?;
    let filter = event_filter(&query, !caller.principal.is_staff())?;
    // The scope binds a cursor to this tenant, this list and these exact filters.
    let scope = format!(
        "{}|events|{}|{:?}|{:?}|{:?}|{:?}",
        caller.tenant(),
        filter.public_only,
        filter.status,
        filter.venue_id,
        filter.from,
        filter.to
    );
    let start = caller.resume_from(&scope, &query)?;
    let page = caller.deps.store.list_events(caller.tenant(), &filter, limit, start).await?;
    let events: Vec<EventView<'_>> =
        page.items.iter().map(|s| EventView { event: &s.event, availability: s.availability }).collect();
    let next_cursor = caller.next_cursor(&scope, page.next.as_ref())?;
    Ok(json_response(StatusCode::OK, &json!({ "events": events, "next_cursor": next_cursor })))
}

pub async fn update(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let id = path_id(req, "event_id")?;
    let input: EventInput = parse_body(req)?;
    let changes = input.validate(InputKind::Update)?;
    let stored = change(caller, id, &changes, StatusRequest::IfDifferent).await?;
    Ok(event_response(StatusCode::OK, &stored))
}

pub async fn publish(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let id = path_id(req, "event_id")?;
    let body = crate::http::body_bytes(req);
    if !body.iter().all(u8::is_ascii_whitespace) {
        // Publishing takes no options: an unknown field is refused rather than ignored.
        let NoOptions {} = crate::http::parse_json(body)?;
    }
    let changes = EventChanges { status: Some(EventStatus::Published), ..EventChanges::default() };
    let stored = change(caller, id, &changes, StatusRequest::Always).await?;
    Ok(event_response(StatusCode::OK, &stored))
}

pub async fn delete(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let id = path_id(req, "event_id")?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = load_managed(caller, id).await?;
        let now = crate::domain::now();
        let event = &current.event;
        if matches!(event.status, EventStatus::InProgress | EventStatus::Completed) || event.starts_at <= now {
            return Err(ApiError::conflict(
                "INVALID_EVENT_STATE",
                "an event that has started or completed cannot be deleted",
            ));
        }
        if current.availability.has_sales_or_holds() {
            return Err(has_sales("an event with sold or held tickets cannot be deleted"));
        }
        match caller.deps.store.delete_event(caller.tenant(), &current, now).await {
            Ok(()) => return Ok(empty_response(StatusCode::NO_CONTENT)),
            Err(EventWriteError::VersionChanged) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::conflict("VERSION_CONFLICT", "the event kept changing concurrently; retry"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoOptions {}

/// Whether a requested status equal to the current one is a no-op (PUT echoing the status
/// back) or a transition that must be allowed (publish).
#[derive(Clone, Copy, PartialEq, Eq)]
enum StatusRequest {
    IfDifferent,
    Always,
}

/// Applies changes under optimistic concurrency: with a client `version` a lost race is a
/// 409; without one the change is re-validated against the fresh event and retried.
async fn change(
    caller: Caller<'_>,
    id: EventId,
    changes: &EventChanges,
    status_request: StatusRequest,
) -> Result<EventInventory, ApiError> {
    for _ in 0..WRITE_ATTEMPTS {
        let current = load_managed(caller, id).await?;
        let before = &current.event;
        if before.status.is_terminal() {
            return Err(ApiError::conflict(
                "INVALID_EVENT_STATE",
                format!("a {} event cannot be changed", before.status.as_str()),
            ));
        }
        if changes.version.is_some_and(|v| v != before.version) {
            return Err(version_conflict(before.version));
        }
        let now = crate::domain::now();
        let mut next = before.with_changes(changes, now);
        if let Some(status) = changes.status
            && (status != before.status || status_request == StatusRequest::Always)
        {
            before.status.check_move_to(status)?;
            next.status = status;
        }
        let venue = load_venue(caller, next.venue_id).await?;
        next.check_rules(Some(before), &venue, caller.deps.start_window, now)?;
        // A shorter deadline would let an organizer slip back inside it and cancel after all.
        let deadline_lowered = next.cancellation_deadline_hours < before.cancellation_deadline_hours;
        let fixed_by_sales = next.changes_schedule_or_place(before) || deadline_lowered;
        if current.availability.has_sales_or_holds() && deadline_lowered {
            return Err(has_sales("cancellation_deadline_hours cannot be lowered once tickets are sold or held"));
        }
        if current.availability.has_sales_or_holds() && fixed_by_sales {
            return Err(has_sales("venue, times and time zone are fixed once tickets are sold or held"));
        }
        if next.capacity < current.availability.allocated {
            return Err(has_sales("capacity cannot go below what ticket types already allocate"));
        }
        match caller.deps.store.replace_event(caller.tenant(), &current, &next, fixed_by_sales).await {
            Ok(()) => return Ok(EventInventory::with_ticket_types(next, current.ticket_types)),
            Err(EventWriteError::VersionChanged) if changes.version.is_none() => {}
            Err(EventWriteError::VersionChanged) => {
                return Err(version_conflict(before.version + 1));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::conflict("VERSION_CONFLICT", "the event kept changing concurrently; retry"))
}

fn version_conflict(current: u64) -> ApiError {
    ApiError::conflict("VERSION_CONFLICT", format!("version is stale; the event is at version {current} or later"))
}

fn has_sales(detail: &str) -> ApiError {
    ApiError::conflict("EVENT_HAS_SALES", detail)
}

fn event_response(status: StatusCode, stored: &EventInventory) -> Response<Body> {
    json_response(status, &json!({ "event": EventView { event: &stored.event, availability: stored.availability } }))
}

/// The event if it exists in the caller's tenant and the caller may see it; 404 otherwise.
pub(crate) async fn load_visible(caller: Caller<'_>, id: EventId) -> Result<EventInventory, ApiError> {
    let stored = caller.deps.store.get_event(caller.tenant(), id).await?.ok_or(ApiError::NotFound)?;
    if stored.event.is_visible_to(caller.principal) { Ok(stored) } else { Err(ApiError::NotFound) }
}

/// The event if the caller may change it: 404 when missing, 403 when it is someone else's.
pub(crate) async fn load_managed(caller: Caller<'_>, id: EventId) -> Result<EventInventory, ApiError> {
    let stored = load_visible(caller, id).await?;
    if stored.event.can_be_managed_by(caller.principal) { Ok(stored) } else { Err(ApiError::Forbidden) }
}

/// A venue named in a body: unknown (or another tenant's) is a 422 on `venue_id`.
async fn load_venue(caller: Caller<'_>, id: VenueId) -> Result<Venue, ApiError> {
    caller.deps.store.get_venue(caller.tenant(), id).await?.ok_or_else(|| {
        ApiError::Unprocessable(vec![FieldError::new("venue_id", field_code::NOT_FOUND, "no such venue")])
    })
}

fn event_filter(query: &Query, public_only: bool) -> Result<EventFilter, ApiError> {
    let mut problems = fields::Problems::default();
    let status = query.get("status").and_then(|raw| {
        let parsed = serde_json::from_value::<EventStatus>(serde_json::Value::String(raw.to_owned()));
        problems.take(parsed.map_err(|_| FieldError::new("status", field_code::INVALID_VALUE, "unknown event status")))
    });
    let venue_id = query.get("venue_id").and_then(|raw| problems.take(fields::id("venue_id", raw)));
    let (from, to) = start_range(query, &mut problems);
    if from.zip(to).is_some_and(|(from, to)| from > to) {
        problems.push("to", field_code::OUT_OF_RANGE, "to must not be before from");
    }
    problems.finish()?;
    Ok(EventFilter { status, venue_id, from, to, public_only })
}

/// The `from` and `to` of a query on events' start times (both inclusive, either open), each
/// parsed; whether they are in order is the caller's to say.
pub(super) fn start_range(
    query: &Query,
    problems: &mut fields::Problems,
) -> (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>) {
    let from = query.get("from").and_then(|raw| problems.take(fields::timestamp("from", raw)));
    let to = query.get("to").and_then(|raw| problems.take(fields::timestamp("to", raw)));
    (from, to)
}
