//! A hold request checked and priced against the event and ticket types as read: every rule that
//! does not need the database. The hold's transaction then re-checks at commit time what can
//! change meanwhile (availability, sales open, each type's version).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::error::{DomainError, FieldError};
use super::event::{Event, EventStatus};
use super::ids::{ReservationId, TicketTypeId};
use super::quote::{PricedLines, choose, priced_lines};
use super::reservation::{Reservation, ReservationLine, ReservationStatus, Totals};
use super::ticket_type::TicketType;

/// A hold priced from the ticket types at the versions it was priced from; the transaction that
/// places it requires each type still at that version, so a price or quantity edit in between
/// makes it price again instead of locking a stale price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedHold {
    reservation: Reservation,
    type_versions: BTreeMap<TicketTypeId, u64>,
}

impl PricedHold {
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }

    pub fn into_reservation(self) -> Reservation {
        self.reservation
    }

    /// Each line with the version of its ticket type at pricing.
    pub fn lines(&self) -> impl Iterator<Item = (&ReservationLine, u64)> {
        self.reservation.items.iter().map(|line| (line, self.type_versions[&line.ticket_type_id]))
    }
}

/// What a customer asks to hold: `(ticket type, quantity)` lines, for how long.
#[derive(Debug, Clone, Copy)]
pub struct HoldRequest<'a> {
    pub lines: &'a [(TicketTypeId, u32)],
    pub customer_id: &'a str,
    pub hold_for: Duration,
}

/// Checks `request` against `event` and its ticket types and prices it at `now`.
pub fn price_hold(
    event: &Event,
    ticket_types: &[TicketType],
    request: HoldRequest<'_>,
    now: DateTime<Utc>,
) -> Result<PricedHold, DomainError> {
    let types = choose(ticket_types, request.lines)?;
    let sold_out = |lines: Vec<FieldError>| {
        DomainError::conflict_about("SOLD_OUT", "not enough tickets left for the ticket types listed", lines)
    };
    if now >= event.starts_at {
        return Err(DomainError::conflict("SALES_NOT_OPEN", "the event has started; its tickets are no longer sold"));
    }
    match event.status {
        EventStatus::OnSale => {}
        EventStatus::SoldOut => {
            return Err(sold_out(types.iter().map(|(i, t, _)| sold_out_line(*i, t.id)).collect()));
        }
        other => {
            return Err(DomainError::conflict(
                "SALES_NOT_OPEN",
                format!("the event is {}, not on sale", other.as_str()),
            ));
        }
    }
    if let Some((_, closed, _)) = types.iter().find(|(_, t, _)| !t.is_selling_at(now)) {
        return Err(DomainError::conflict("SALES_NOT_OPEN", format!("sales of {} are not open now", closed.name)));
    }
    let short: Vec<_> =
        types.iter().filter(|(_, t, q)| t.available < *q).map(|(i, t, _)| sold_out_line(*i, t.id)).collect();
    if !short.is_empty() {
        return Err(sold_out(short));
    }
    let PricedLines { lines: items, currency } = priced_lines(&types, now)?;
    let reservation = Reservation {
        id: ReservationId::generate(),
        event_id: event.id,
        customer_id: request.customer_id.to_owned(),
        status: ReservationStatus::Held,
        totals: Totals::of(&items),
        items,
        currency,
        expires_at: now + request.hold_for,
        created_at: now,
        order_id: None,
    };
    Ok(PricedHold { reservation, type_versions: types.iter().map(|(_, t, _)| (t.id, t.version)).collect() })
}

fn sold_out_line(index: usize, ticket_type: TicketTypeId) -> FieldError {
    FieldError::new(
        format!("items[{index}].ticket_type_id"),
        "SOLD_OUT",
        format!("ticket type {ticket_type} is sold out"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn event(status: &str, starts_at: DateTime<Utc>) -> Event {
        fixtures::event_at(status, starts_at)
    }

    fn ticket_type(name: &str, version: u64, available: u32) -> TicketType {
        TicketType { name: name.into(), version, available, sold: 100 - available, ..fixtures::ticket_type() }
    }

    fn ask(lines: &[(TicketTypeId, u32)]) -> HoldRequest<'_> {
        HoldRequest { lines, customer_id: "customer-1", hold_for: Duration::minutes(15) }
    }

    fn on_sale() -> Event {
        event("ON_SALE", Utc::now() + Duration::days(3))
    }

    fn conflict(result: Result<PricedHold, DomainError>) -> (&'static str, Vec<String>) {
        match result {
            Err(DomainError::Conflict { code, fields, .. }) => (code, fields.into_iter().map(|f| f.field).collect()),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn broken(result: Result<PricedHold, DomainError>) -> Vec<String> {
        match result {
            Err(DomainError::BrokenRule(fields)) => fields.into_iter().map(|f| f.field).collect(),
            other => panic!("expected a broken rule, got {other:?}"),
        }
    }

    #[test]
    fn each_line_is_priced_and_keeps_the_version_of_its_own_type() {
        let (a, b) = (ticket_type("A", 3, 50), ticket_type("B", 7, 50));
        let now = Utc::now();
        let lines = [(b.id, 2), (a.id, 1)];
        let priced = price_hold(&on_sale(), &[a.clone(), b.clone()], ask(&lines), now).unwrap();
        let versions: Vec<_> = priced.lines().map(|(line, version)| (line.ticket_type_id, version)).collect();
        assert_eq!(versions, [(b.id, 7), (a.id, 3)], "by type, whatever the order of the request");
        let first = priced.lines().next().unwrap().0.price;
        assert_eq!((first.subtotal, first.fees, first.tax, first.total), (10_000, 1_500, 920, 12_420));
        let hold = priced.reservation();
        assert_eq!((hold.totals.subtotal, hold.totals.total), (15_000, 12_420 + 6_210));
        assert_eq!((hold.status, hold.customer_id.as_str()), (ReservationStatus::Held, "customer-1"));
        assert_eq!((hold.created_at, hold.expires_at), (now, now + Duration::minutes(15)));
    }

    #[test]
    fn unknown_types_and_quantities_outside_the_order_limits_break_a_rule() {
        let a = ticket_type("A", 1, 50);
        let mut euro = ticket_type("E", 1, 50);
        euro.currency = "EUR".into();
        let types = [a.clone(), euro.clone()];
        let refused = |lines: &[(TicketTypeId, u32)]| broken(price_hold(&on_sale(), &types, ask(lines), Utc::now()));
        assert_eq!(refused(&[(a.id, 1), (TicketTypeId::generate(), 1)]), ["items[1].ticket_type_id"]);
        assert_eq!(refused(&[(a.id, 11)]), ["items[0].quantity"]);
        assert_eq!(refused(&[(a.id, 1), (euro.id, 1)]), ["items"]);
        assert_eq!(refused(&[]), ["items"]);
    }

    #[test]
    fn only_an_event_on_sale_before_its_start_with_open_windows_sells() {
        let a = ticket_type("A", 1, 50);
        let lines = [(a.id, 1)];
        let types = [a.clone()];
        let published = event("PUBLISHED", Utc::now() + Duration::days(3));
        assert_eq!(conflict(price_hold(&published, &types, ask(&lines), Utc::now())).0, "SALES_NOT_OPEN");
        let started = on_sale();
        assert_eq!(conflict(price_hold(&started, &types, ask(&lines), started.starts_at)).0, "SALES_NOT_OPEN");
        let mut closed = a.clone();
        closed.sales_end_at = Some(Utc::now() - Duration::minutes(1));
        assert_eq!(conflict(price_hold(&on_sale(), &[closed], ask(&lines), Utc::now())).0, "SALES_NOT_OPEN");
    }

    #[test]
    fn sold_out_names_the_lines_that_cannot_be_served() {
        let (a, b) = (ticket_type("A", 1, 50), ticket_type("B", 1, 1));
        let lines = [(a.id, 2), (b.id, 2)];
        let types = [a.clone(), b.clone()];
        assert_eq!(
            conflict(price_hold(&on_sale(), &types, ask(&lines), Utc::now())),
            ("SOLD_OUT", vec!["items[1].ticket_type_id".to_owned()])
        );
        let sold_out = event("SOLD_OUT", Utc::now() + Duration::days(3));
        assert_eq!(
            conflict(price_hold(&sold_out, &types, ask(&lines), Utc::now())).1,
            ["items[0].ticket_type_id", "items[1].ticket_type_id"]
        );
    }
}
