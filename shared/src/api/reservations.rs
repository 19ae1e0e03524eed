//! Holds and orders: reserve, read, release, confirm; order reads and lists.

use chrono::{DateTime, Utc};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::Caller;
use crate::deps::Deps;
use crate::domain::error::DomainError;
use crate::domain::hold::{HoldRequest, price_hold};
use crate::domain::ids::{OrderId, ReservationId, TicketTypeId};
use crate::domain::reservation::{
    ConfirmInput, MAX_ACTIVE_HOLDS, MAX_TICKETS_PER_EVENT, Order, Reservation, ReservationInput, ReservationStatus,
};
use crate::error::ApiError;
use crate::http::{Query, json_response, parse_body, path_id};
use crate::monitoring::{Metric, count};
use crate::payments::PaymentError;
use crate::store::inventory::{ConfirmOutcome, HoldError};
use crate::usecases::availability::{self, Change};
use crate::usecases::holds;

/// Attempts when a ticket type changed between the read and the hold (a price or quantity edit).
const HOLD_ATTEMPTS: usize = 5;

pub async fn create(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let event_id = path_id(req, "event_id")?;
    let request = parse_body::<ReservationInput>(req)?.validate()?;
    let asked_types: Vec<TicketTypeId> = request.lines.iter().map(|(id, _)| *id).collect();
    for _ in 0..HOLD_ATTEMPTS {
        // The event and the types asked for only: what the hold needs, whatever else the event sells.
        let current = caller.deps.store.event_for_sale(caller.tenant(), event_id, &asked_types).await?;
        let current = current.filter(|c| c.event.is_visible_to(caller.principal)).ok_or(ApiError::NotFound)?;
        let now = crate::domain::now();
        let asked =
            HoldRequest { lines: &request.lines, customer_id: &caller.principal.user_id, hold_for: request.hold };
        let priced = price_hold(&current.event, &current.ticket_types, asked, now).inspect_err(|error| {
            if matches!(error, DomainError::Conflict { code: "SOLD_OUT", .. }) {
                count(Metric::SoldOutRefusals, 1);
            }
        })?;
        match caller.deps.store.place_hold(caller.tenant(), &priced).await {
            Ok(()) => {
                count(Metric::HoldsPlaced, 1);
                let hold = priced.into_reservation();
                holds::schedule_expiry(caller.deps, caller.tenant(), &hold).await;
                availability::follow_hold(caller.deps, caller.tenant(), &current, &asked_types).await;
                return Ok(json_response(StatusCode::CREATED, &json!({ "reservation": hold })));
            }
            // Sold out, closed or edited meanwhile: the next read tells which.
            Err(HoldError::Lines(_)) => {}
            Err(HoldError::TooManyHolds) => {
                return Err(ApiError::conflict(
                    "LIMIT_EXCEEDED",
                    format!("a customer may hold at most {MAX_ACTIVE_HOLDS} reservations at once"),
                ));
            }
            Err(HoldError::TooManyTickets) => {
                return Err(ApiError::conflict(
                    "LIMIT_EXCEEDED",
                    format!("a customer may hold or buy at most {MAX_TICKETS_PER_EVENT} tickets for one event"),
                ));
            }
            Err(HoldError::Store(error)) => return Err(error.into()),
        }
    }
    Err(ApiError::Unavailable("ticket types kept changing during the hold".into()))
}

pub async fn get(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let hold = load_own(caller, path_id(req, "reservation_id")?).await?;
    Ok(json_response(StatusCode::OK, &json!({ "reservation": hold.as_seen_at(crate::domain::now()) })))
}

/// Releases a hold. Releasing again answers the same; a hold found past its expiry ends as
/// `EXPIRED`. Capacity is back before the response is sent.
pub async fn release(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let id = path_id(req, "reservation_id")?;
    let hold = load_own(caller, id).await?;
    if hold.status == ReservationStatus::Held {
        let now = crate::domain::now();
        let outcome = if now >= hold.expires_at { ReservationStatus::Expired } else { ReservationStatus::Released };
        if caller.deps.store.end_hold(caller.tenant(), &hold, outcome, now).await? {
            let ended =
                if outcome == ReservationStatus::Expired { Metric::HoldsExpired } else { Metric::HoldsReleased };
            count(ended, 1);
            availability::follow(caller.deps, caller.tenant(), hold.event_id, Change::Sales).await;
        }
    }
    let hold = load_own(caller, id).await?;
    if hold.status == ReservationStatus::Confirmed {
        return Err(already_confirmed());
    }
    Ok(json_response(StatusCode::OK, &json!({ "reservation": hold.as_seen_at(crate::domain::now()) })))
}

pub async fn confirm(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let id = path_id(req, "reservation_id")?;
    let payment_reference = parse_body::<ConfirmInput>(req)?.validate()?;
    let hold = load_own(caller, id).await?;
    if hold.customer_id != caller.principal.user_id {
        // Staff may read and release others' holds, but only the holder buys.
        return Err(ApiError::Forbidden);
    }
    check_confirmable(&hold, crate::domain::now())?;
    // Nothing is sold at or after the start. (A cancelled event is refused by the transaction.)
    let sale = caller.deps.store.event_for_sale(caller.tenant(), hold.event_id, &[]).await?;
    let Some(sale) = sale.filter(|s| crate::domain::now() < s.event.starts_at) else {
        return Err(ApiError::conflict("SALES_NOT_OPEN", "the event has started; its tickets are no longer sold"));
    };
    verify_payment(caller.deps, &hold, &payment_reference).await?;
    // The hold may have expired while the provider answered; the transaction re-checks it.
    let now = crate::domain::now();
    let order = Order::from_hold(OrderId::generate(), &hold, payment_reference, now);
    match caller.deps.store.confirm_hold(caller.tenant(), &hold, &order, sale.event.category, now).await? {
        ConfirmOutcome::Confirmed => {
            count(Metric::OrdersConfirmed, 1);
            availability::refresh_listed_if_stale(caller.deps, caller.tenant(), &sale).await;
            Ok(json_response(StatusCode::CREATED, &json!({ "order": order.view() })))
        }
        ConfirmOutcome::PaymentUsed => {
            Err(ApiError::conflict("PAYMENT_ALREADY_USED", "this payment already confirmed another reservation"))
        }
        ConfirmOutcome::EventCancelled => {
            Err(ApiError::conflict("INVALID_EVENT_STATE", "the event was cancelled; this hold can no longer be bought"))
        }
        ConfirmOutcome::HoldChanged => {
            // The hold changed between the read and the commit: say what it became.
            let hold = load_own(caller, id).await?;
            check_confirmable(&hold, crate::domain::now())?;
            Err(ApiError::internal("a live hold failed to confirm"))
        }
    }
}

/// How long a confirm may wait for the provider, inside the function's 10 s.
const PAYMENT_CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(6);

/// Asks the provider about the payment before anything is sold: it must have succeeded, for
/// exactly the reservation's total and currency, and, if it names a reservation, this one.
async fn verify_payment(deps: &Deps, hold: &Reservation, reference: &str) -> Result<(), ApiError> {
    let payments =
        deps.payments.as_ref().ok_or_else(|| ApiError::Unavailable("no payment provider configured".into()))?;
    let deadline = tokio::time::Instant::now() + PAYMENT_CHECK_BUDGET;
    let intent = match payments.payment_intent(reference, deadline).await {
        Ok(intent) => intent,
        Err(PaymentError::Refused { status: 400, .. }) => None,
        Err(error) => return Err(ApiError::Unavailable(error.into())),
    };
    let not_verified = |detail: String| {
        count(Metric::PaymentsRefused, 1);
        Err(ApiError::PaymentNotVerified(detail))
    };
    let Some(intent) = intent else {
        return not_verified("the payment provider knows no payment with this reference".into());
    };
    if intent.status != "succeeded" {
        return not_verified(format!("the payment's status is {}, not succeeded", intent.status));
    }
    if intent.amount != hold.totals.total {
        return not_verified(format!(
            "the payment is for {} but the reservation's total is {}",
            intent.amount, hold.totals.total
        ));
    }
    if !intent.currency.eq_ignore_ascii_case(&hold.currency) {
        return not_verified(format!(
            "the payment is in {} but the reservation is in {}",
            intent.currency.to_ascii_uppercase(),
            hold.currency
        ));
    }
    if let Some(paid_for) = intent.metadata.get("reservation_id")
        && paid_for != &hold.id.to_string()
    {
        return not_verified("the payment was made for another reservation".into());
    }
    Ok(())
}

fn check_confirmable(hold: &Reservation, now: DateTime<Utc>) -> Result<(), ApiError> {
    match hold.status_at(now) {
        ReservationStatus::Held => Ok(()),
        ReservationStatus::Confirmed => Err(already_confirmed()),
        ReservationStatus::Expired => Err(ApiError::Gone {
            code: "RESERVATION_EXPIRED",
            detail: "the hold expired; its tickets were not sold".into(),
        }),
        ReservationStatus::Released | ReservationStatus::Cancelled => {
            Err(ApiError::conflict("RESERVATION_NOT_HELD", format!("the reservation is {}", hold.status.as_str())))
        }
    }
}

fn already_confirmed() -> ApiError {
    ApiError::conflict("ALREADY_CONFIRMED", "the reservation is already confirmed")
}

/// A reservation of the caller's tenant that the caller may see: its holder, or staff.
async fn load_own(caller: Caller<'_>, id: ReservationId) -> Result<Reservation, ApiError> {
    let hold = caller.deps.store.get_reservation(caller.tenant(), id).await?.ok_or(ApiError::NotFound)?;
    if caller.principal.is_staff() || hold.customer_id == caller.principal.user_id {
        Ok(hold)
    } else {
        Err(ApiError::NotFound)
    }
}

pub async fn get_order(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let id = path_id(req, "order_id")?;
    let order = caller.deps.store.get_order(caller.tenant(), id).await?.ok_or(ApiError::NotFound)?;
    if !caller.principal.is_staff() && order.customer_id != caller.principal.user_id {
        return Err(ApiError::NotFound);
    }
    Ok(json_response(StatusCode::OK, &json!({ "order": order.view() })))
}

pub async fn event_orders(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let event_id = path_id(req, "event_id")?;
    super::events::load_visible(caller, event_id).await?;
    let query = Query::parse(req, &["limit", "cursor"])?;
    let scope = format!("{}|event-orders|{event_id}", caller.tenant());
    let start = caller.resume_from(&scope, &query)?;
    let page = caller.deps.store.list_event_orders(caller.tenant(), event_id, query.limit()?, start).await?;
    let next_cursor = caller.next_cursor(&scope, page.next.as_ref())?;
    let orders: Vec<_> = page.items.iter().map(Order::view).collect();
    Ok(json_response(StatusCode::OK, &json!({ "orders": orders, "next_cursor": next_cursor })))
}

pub async fn customer_orders(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    let customer = crate::http::path_text(req, "customer_id")?;
    if !caller.principal.is_staff() && customer != caller.principal.user_id {
        return Err(ApiError::Forbidden);
    }
    let query = Query::parse(req, &["limit", "cursor"])?;
    let scope = format!("{}|customer-orders|{customer}", caller.tenant());
    let start = caller.resume_from(&scope, &query)?;
    let page = caller.deps.store.list_customer_orders(caller.tenant(), &customer, query.limit()?, start).await?;
    let next_cursor = caller.next_cursor(&scope, page.next.as_ref())?;
    let orders: Vec<_> = page.items.iter().map(Order::view).collect();
    Ok(json_response(StatusCode::OK, &json!({ "orders": orders, "next_cursor": next_cursor })))
}
