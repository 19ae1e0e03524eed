//! Ticket types and an event's capacity.

use crate::usecases::availability::Change;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;

use super::Caller;
use super::events::{load_managed, load_visible};
use crate::domain::ids::TicketTypeId;
use crate::domain::inventory::EventInventory;
use crate::domain::ticket_type::{TicketType, TicketTypeChanges, TicketTypeInput};
use crate::error::ApiError;
use crate::http::{json_response, parse_body, path_id};

/// Optimistic-concurrency attempts: allocation changes serialize on the event's version.
const WRITE_ATTEMPTS: usize = 5;
/// Keeps every event-wide transaction (a status change reaches every type) within DynamoDB's
/// 100-item limit.
pub const MAX_TICKET_TYPES: usize = 50;

pub async fn create(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let event_id = path_id(req, "event_id")?;
    let changes = parse_body::<TicketTypeInput>(req)?.validate(true)?;
    let id = TicketTypeId::generate();
    for _ in 0..WRITE_ATTEMPTS {
        let current = load_managed(caller, event_id).await?;
        refuse_if_closed(&current)?;
        if current.ticket_types.len() >= MAX_TICKET_TYPES {
            return Err(ApiError::conflict(
                "LIMIT_EXCEEDED",
                format!("an event has at most {MAX_TICKET_TYPES} ticket types"),
            ));
        }
        let now = crate::domain::now();
        let ticket_type = TicketType::create(id, &current.event, changes.clone(), now);
        ticket_type.check_rules(&current.event)?;
        check_capacity(&current, None, ticket_type.quantity)?;
        if caller.deps.store.create_ticket_type(caller.tenant(), &current, &ticket_type).await? {
            // New tickets may reopen an event that sold out by itself.
            crate::usecases::availability::follow(caller.deps, caller.tenant(), event_id, Change::TicketTypes).await;
            return Ok(json_response(StatusCode::CREATED, &json!({ "ticket_type": ticket_type.view(now) })));
        }
    }
    Err(kept_changing())
}

pub async fn list(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let current = load_visible(caller, path_id(req, "event_id")?).await?;
    let now = crate::domain::now();
    let views: Vec<_> = current.ticket_types.iter().map(|t| t.view(now)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "ticket_types": views })))
}

pub async fn update(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let event_id = path_id(req, "event_id")?;
    let id = path_id(req, "ticket_type_id")?;
    let changes = parse_body::<TicketTypeInput>(req)?.validate(false)?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = load_managed(caller, event_id).await?;
        let before = current.ticket_type(id).ok_or(ApiError::NotFound)?;
        refuse_if_closed(&current)?;
        if changes.version.is_some_and(|v| v != before.version) {
            return Err(ApiError::conflict(
                "VERSION_CONFLICT",
                format!("the ticket type is at version {}", before.version),
            ));
        }
        let now = crate::domain::now();
        let after = before.with_changes(&changes, now);
        after.check_rules(&current.event)?;
        check_update(&current, before, &after, &changes)?;
        if caller.deps.store.update_ticket_type(caller.tenant(), &current.event, before, &after).await? {
            // More (or fewer) tickets may reopen the event, or sell it out.
            crate::usecases::availability::follow(caller.deps, caller.tenant(), event_id, Change::TicketTypes).await;
            // Counters may have moved since the read; answer with what is stored now.
            let fresh = load_visible(caller, event_id).await?;
            let stored = fresh.ticket_type(id).ok_or(ApiError::NotFound)?;
            return Ok(json_response(StatusCode::OK, &json!({ "ticket_type": stored.view(now) })));
        }
    }
    Err(kept_changing())
}

#[derive(Serialize)]
struct TypeCapacity<'a> {
    id: TicketTypeId,
    name: &'a str,
    quantity: u32,
    available: u32,
    reserved: u32,
    sold: u32,
}

pub async fn capacity(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let current = load_visible(caller, path_id(req, "event_id")?).await?;
    let a = current.availability;
    let types: Vec<_> = current
        .ticket_types
        .iter()
        .map(|t| TypeCapacity {
            id: t.id,
            name: &t.name,
            quantity: t.quantity,
            available: t.available,
            reserved: t.reserved,
            sold: t.sold,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "capacity": a.capacity, "allocated": a.allocated, "available": a.available,
                 "reserved": a.reserved, "sold": a.sold, "ticket_types": types }),
    ))
}

fn refuse_if_closed(current: &EventInventory) -> Result<(), ApiError> {
    if current.event.status.is_terminal() {
        return Err(ApiError::conflict(
            "INVALID_EVENT_STATE",
            format!("a {} event's ticket types cannot change", current.event.status.as_str()),
        ));
    }
    Ok(())
}

/// The sum of all quantities stays within the event's capacity. The write that follows is
/// conditional on the event's version, which every allocation change bumps, so this check
/// still holds when the write commits.
fn check_capacity(current: &EventInventory, replacing: Option<&TicketType>, quantity: u32) -> Result<(), ApiError> {
    let others = current.availability.allocated - replacing.map_or(0, |t| t.quantity);
    let room = current.event.capacity.saturating_sub(others);
    if quantity > room {
        return Err(ApiError::conflict(
            "CAPACITY_EXCEEDED",
            format!(
                "the event has room for {room} more tickets (capacity {}, allocated {others})",
                current.event.capacity
            ),
        ));
    }
    Ok(())
}

fn check_update(
    current: &EventInventory,
    before: &TicketType,
    after: &TicketType,
    changes: &TicketTypeChanges,
) -> Result<(), ApiError> {
    if changes.price.is_some_and(|p| p != before.price) && before.sold > 0 {
        return Err(ApiError::conflict("TICKETS_SOLD", "the price cannot change once tickets are sold"));
    }
    let committed = before.reserved + before.sold;
    if after.quantity < committed {
        return Err(ApiError::conflict(
            "CAPACITY_EXCEEDED",
            format!("quantity cannot go below the {committed} tickets already held or sold"),
        ));
    }
    check_capacity(current, Some(before), after.quantity)
}

fn kept_changing() -> ApiError {
    ApiError::conflict("VERSION_CONFLICT", "the event kept changing concurrently; retry")
}
