//! Reservations (holds on tickets, with prices locked) and the orders they become.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, field_code};
use super::fields::{self, Problems};
use super::ids::{CancellationId, EventId, OrderId, ReservationId, TicketTypeId};
use super::pricing::LinePrice;

/// A customer may hold at most this many reservations at once…
pub const MAX_ACTIVE_HOLDS: u32 = 5;
/// …and hold or own at most this many tickets of one event.
pub const MAX_TICKETS_PER_EVENT: u32 = 50;
pub const DEFAULT_HOLD_MINUTES: u32 = 15;
pub const MAX_LINES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Released,
    Expired,
    Cancelled,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Confirmed => "CONFIRMED",
            Self::Released => "RELEASED",
            Self::Expired => "EXPIRED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One ticket type of a reservation, priced when the hold was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationLine {
    pub ticket_type_id: TicketTypeId,
    pub name: String,
    #[serde(flatten)]
    pub price: LinePrice,
}

impl ReservationLine {
    pub fn new(ticket_type_id: TicketTypeId, name: &str, price: LinePrice) -> Self {
        Self { ticket_type_id, name: name.to_owned(), price }
    }

    pub fn quantity(&self) -> u32 {
        self.price.quantity
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: u64,
    pub fees: u64,
    pub tax: u64,
    pub total: u64,
}

impl Totals {
    pub fn of(lines: &[ReservationLine]) -> Self {
        lines.iter().map(|l| l.price).fold(Self::default(), |t, l| Self {
            subtotal: t.subtotal + l.subtotal,
            fees: t.fees + l.fees,
            tax: t.tax + l.tax,
            total: t.total + l.total,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub event_id: EventId,
    pub customer_id: String,
    pub status: ReservationStatus,
    pub items: Vec<ReservationLine>,
    #[serde(flatten)]
    pub totals: Totals,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub order_id: Option<OrderId>,
}

impl Reservation {
    /// The status a reader sees: a hold past its expiry reads `EXPIRED` before cleanup runs.
    pub fn status_at(&self, now: DateTime<Utc>) -> ReservationStatus {
        if self.status == ReservationStatus::Held && now >= self.expires_at {
            ReservationStatus::Expired
        } else {
            self.status
        }
    }

    /// A copy as a reader at `now` should see it.
    pub fn as_seen_at(&self, now: DateTime<Utc>) -> Self {
        Self { status: self.status_at(now), ..self.clone() }
    }

    pub fn tickets(&self) -> u32 {
        self.items.iter().map(ReservationLine::quantity).sum()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    ticket_type_id: String,
    quantity: i64,
}

/// The largest quantity a hold line may ask for before it is malformed (400). Within it, a
/// quantity outside the ticket type's own min/max per order is a 422, as the API contract says.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000;

/// `POST /events/{id}/reservations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationInput {
    items: Vec<LineInput>,
    #[serde(default, deserialize_with = "fields::not_null")]
    hold_minutes: Option<i64>,
}

/// A validated reservation request: distinct ticket types with positive quantities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub lines: Vec<(TicketTypeId, u32)>,
    pub hold: Duration,
}

impl ReservationInput {
    pub fn validate(self) -> Result<ReservationRequest, DomainError> {
        let mut p = Problems::default();
        let lines = ticket_lines(&self.items, &mut p);
        let minutes = self
            .hold_minutes
            .map_or(Some(DEFAULT_HOLD_MINUTES), |m| p.take(fields::whole_number("hold_minutes", m, 1, 60)));
        p.finish()?;
        Ok(ReservationRequest { lines, hold: Duration::minutes(i64::from(minutes.expect("checked"))) })
    }
}

/// The `items` of a hold or a price quote: 1 to 10 lines, each a ticket type at most once with
/// a whole quantity. Problems are recorded in `p`; the lines that passed are returned.
pub fn ticket_lines(items: &[LineInput], p: &mut Problems) -> Vec<(TicketTypeId, u32)> {
    if items.is_empty() || items.len() > MAX_LINES {
        p.push("items", field_code::OUT_OF_RANGE, "items must have 1 to 10 lines");
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for (i, line) in items.iter().enumerate() {
        let id = p.take(fields::id(&format!("items[{i}].ticket_type_id"), &line.ticket_type_id));
        let quantity =
            p.take(fields::whole_number(&format!("items[{i}].quantity"), line.quantity, 0, MAX_LINE_QUANTITY));
        if let Some(id) = id
            && !seen.insert(id)
        {
            p.push(&format!("items[{i}].ticket_type_id"), field_code::INVALID_VALUE, "each ticket type at most once");
        }
        if let (Some(id), Some(quantity)) = (id, quantity) {
            lines.push((id, quantity));
        }
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Confirmed,
    RefundPending,
    Refunded,
    PartiallyRefunded,
    RefundFailed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "CONFIRMED",
            Self::RefundPending => "REFUND_PENDING",
            Self::Refunded => "REFUNDED",
            Self::PartiallyRefunded => "PARTIALLY_REFUNDED",
            Self::RefundFailed => "REFUND_FAILED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }
}

/// One refund of an order: who asked for it, why, and how it ended. Its id is also the
/// payment provider's idempotency key, so the same refund is never paid twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub id: String,
    pub amount: u64,
    pub status: RefundStatus,
    pub reason: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    /// Set when the refund is part of an event's cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_id: Option<CancellationId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub customer_id: String,
    pub items: Vec<ReservationLine>,
    #[serde(flatten)]
    pub totals: Totals,
    pub currency: String,
    pub status: OrderStatus,
    pub payment_reference: String,
    /// Refunds that succeeded at the provider.
    pub refunded_amount: u64,
    pub created_at: DateTime<Utc>,
    /// `refunded_amount` plus every refund accepted and not yet ended: what refunds have
    /// promised. Conditions keep it ≤ `total`, so accepted refunds never exceed what was paid.
    #[serde(default)]
    pub committed_amount: u64,
    /// Every refund, by id.
    #[serde(default)]
    pub refunds: HashMap<String, RefundRecord>,
    /// The refund at the provider right now. Only its holder may end it, so one order's
    /// refunds are applied one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_refund_id: Option<String>,
    /// The cancellation that settled this order, and how: each (cancellation, order) pair is
    /// counted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<CancellationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_outcome: Option<RefundStatus>,
}

/// What the API shows of an order.
#[derive(Debug, Serialize)]
pub struct OrderView<'a> {
    pub id: OrderId,
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub customer_id: &'a str,
    pub items: &'a [ReservationLine],
    #[serde(flatten)]
    pub totals: Totals,
    pub currency: &'a str,
    pub status: OrderStatus,
    pub payment_reference: &'a str,
    pub refunded_amount: u64,
    pub refunds: Vec<&'a RefundRecord>,
    pub created_at: DateTime<Utc>,
}

impl Order {
    pub fn from_hold(id: OrderId, hold: &Reservation, payment_reference: String, now: DateTime<Utc>) -> Self {
        Self {
            id,
            reservation_id: hold.id,
            event_id: hold.event_id,
            customer_id: hold.customer_id.clone(),
            items: hold.items.clone(),
            totals: hold.totals,
            currency: hold.currency.clone(),
            status: OrderStatus::Confirmed,
            payment_reference,
            refunded_amount: 0,
            created_at: now,
            committed_amount: 0,
            refunds: HashMap::new(),
            pending_refund_id: None,
            settled_by: None,
            settled_outcome: None,
        }
    }

    pub fn view(&self) -> OrderView<'_> {
        let mut refunds: Vec<&RefundRecord> = self.refunds.values().collect();
        refunds.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        OrderView {
            id: self.id,
            reservation_id: self.reservation_id,
            event_id: self.event_id,
            customer_id: &self.customer_id,
            items: &self.items,
            totals: self.totals,
            currency: &self.currency,
            status: self.status,
            payment_reference: &self.payment_reference,
            refunded_amount: self.refunded_amount,
            refunds,
            created_at: self.created_at,
        }
    }

    /// What is left to refund after refunds that succeeded and refunds still pending.
    pub fn refundable(&self) -> u64 {
        self.totals.total.saturating_sub(self.committed_amount)
    }

    /// Accepted refunds that have not started at the provider yet (requested singly).
    pub fn waiting_refunds(&self) -> impl Iterator<Item = &RefundRecord> {
        self.refunds
            .values()
            .filter(|r| r.status == RefundStatus::Pending && self.pending_refund_id.as_ref() != Some(&r.id))
    }

    /// The status after a refund of `amount` succeeds.
    pub fn status_after_refund(&self, amount: u64) -> OrderStatus {
        if self.refunded_amount + amount >= self.totals.total {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        }
    }
}

/// `POST /reservations/{id}/confirm` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmInput {
    payment_reference: String,
}

impl ConfirmInput {
    pub fn validate(self) -> Result<String, DomainError> {
        fields::text("payment_reference", &self.payment_reference, 1, 200).map_err(DomainError::invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::decode;

    fn request(json: &str) -> Result<ReservationRequest, DomainError> {
        decode::<ReservationInput>(json.as_bytes()).map_err(DomainError::invalid)?.validate()
    }

    #[test]
    fn a_request_defaults_to_a_fifteen_minute_hold() {
        let id = TicketTypeId::generate();
        let parsed = request(&format!(r#"{{"items":[{{"ticket_type_id":"{id}","quantity":2}}]}}"#)).unwrap();
        assert_eq!(parsed, ReservationRequest { lines: vec![(id, 2)], hold: Duration::minutes(15) });
    }

    #[test]
    fn lines_must_be_distinct_and_few() {
        let id = TicketTypeId::generate();
        let twice = format!(
            r#"{{"items":[{{"ticket_type_id":"{id}","quantity":1}},{{"ticket_type_id":"{id}","quantity":1}}]}}"#
        );
        assert!(request(&twice).is_err());
        assert!(request(r#"{"items":[]}"#).is_err());
        let line = format!(r#"{{"ticket_type_id":"{}","quantity":1}}"#, TicketTypeId::generate());
        let eleven = format!(r#"{{"items":[{}]}}"#, vec![line; 11].join(","));
        assert!(request(&eleven).is_err());
        let zero = format!(r#"{{"items":[{{"ticket_type_id":"{id}","quantity":-1}}],"hold_minutes":61}}"#);
        let Err(DomainError::Invalid(errors)) = request(&zero) else { panic!() };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["items[0].quantity", "hold_minutes"]);
    }

    #[test]
    fn an_expired_hold_reads_as_expired() {
        let now = Utc::now();
        let hold = Reservation {
            id: ReservationId::generate(),
            event_id: EventId::generate(),
            customer_id: "c".into(),
            status: ReservationStatus::Held,
            items: vec![],
            totals: Totals::default(),
            currency: "USD".into(),
            expires_at: now,
            created_at: now,
            order_id: None,
        };
        assert_eq!(hold.status_at(now - Duration::seconds(1)), ReservationStatus::Held);
        assert_eq!(hold.status_at(now), ReservationStatus::Expired);
    }
}
