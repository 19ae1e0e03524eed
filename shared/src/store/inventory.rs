//! Ticket types, holds and orders. Every counter moves inside a transaction whose conditions
//! are the invariants: `available` never goes below zero, a hold ends at most once, a customer
//! stays within their limits. Nothing here reads a counter and then writes it back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::keys::{self, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, PK, SK};
use super::{Item, Page, Store, StoreError, n, s};
use crate::cursor::PageKey;
use crate::domain::event::{Category, Event, EventStatus};
use crate::domain::hold::PricedHold;
use crate::domain::ids::{EventId, OrderId, ReservationId, TenantId, TicketTypeId};
use crate::domain::inventory::EventInventory;
use crate::domain::reservation::{MAX_ACTIVE_HOLDS, MAX_TICKETS_PER_EVENT, Order, Reservation, ReservationStatus};
use crate::domain::ticket_type::TicketType;

/// How a confirm ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Confirmed,
    /// The hold is no longer held and live: the caller re-reads it to say why.
    HoldChanged,
    /// The event was cancelled before this could commit.
    EventCancelled,
    /// The payment already confirmed another reservation.
    PaymentUsed,
}

/// Why a hold could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// The conditions of these lines (by index) failed: sold out, sales closed, or the type
    /// changed since it was read. The caller re-reads to tell which.
    #[error("ticket type conditions failed for lines {0:?}")]
    Lines(Vec<usize>),
    #[error("too many active holds")]
    TooManyHolds,
    #[error("too many tickets for this event")]
    TooManyTickets,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Attributes only transactions change (counters, and the event's sales flag); an update of
/// the type's own fields never rewrites them from a read.
const NOT_REWRITTEN: [&str; 4] = ["available", "reserved", "sold", "sales_open"];

impl Store {
    /// Adds a ticket type, bumping the event's version so concurrent allocation changes (and
    /// capacity changes) serialize: the capacity check the caller made holds when this commits.
    /// `Ok(false)` when the event changed in between.
    pub async fn create_ticket_type(
        &self,
        tenant: TenantId,
        stored: &EventInventory,
        ticket_type: &TicketType,
    ) -> Result<bool, StoreError> {
        let event = &stored.event;
        let mut item = to_item(ticket_type)?;
        item.insert(PK.into(), s(keys::event_pk(tenant, event.id)));
        item.insert(SK.into(), s(keys::ticket_type_sk(ticket_type.id)));
        item.insert("sales_open".into(), AttributeValue::Bool(sales_open_for_new_type(stored)));
        let put = self.put(item, "attribute_not_exists(PK)", Vec::new());
        let items = vec![self.bump_event_version(tenant, event), put];
        Ok(self.transact(items).await?.is_none())
    }

    /// Rewrites a ticket type's descriptive fields and quantity. `available` moves by the
    /// quantity's change under the condition that it stays ≥ 0 (so quantity never drops below
    /// reserved + sold), and a price change requires that nothing was sold. `Ok(false)` when a
    /// condition failed; the caller re-reads to say which.
    pub async fn update_ticket_type(
        &self,
        tenant: TenantId,
        event: &Event,
        before: &TicketType,
        after: &TicketType,
    ) -> Result<bool, StoreError> {
        let item = to_item(after)?;
        let mut names = HashMap::new();
        let mut values: Item = HashMap::new();
        let mut sets = Vec::new();
        for (i, (name, value)) in
            item.into_iter().filter(|(name, _)| !NOT_REWRITTEN.contains(&name.as_str())).enumerate()
        {
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
            sets.push(format!("#a{i} = :a{i}"));
        }
        let delta = i64::from(after.quantity) - i64::from(before.quantity);
        values.insert(":delta".into(), AttributeValue::N(delta.to_string()));
        values.insert(":before".into(), n(before.version));
        names.insert("#version".into(), "version".into());
        let mut condition = "#version = :before".to_owned();
        if delta < 0 {
            condition.push_str(" AND available >= :decrease");
            values.insert(":decrease".into(), AttributeValue::N((-delta).to_string()));
        }
        if after.price != before.price {
            condition.push_str(" AND sold = :zero");
            values.insert(":zero".into(), n(0));
        }
        let update = self
            .update_at(keys::event_pk(tenant, event.id), keys::ticket_type_sk(before.id))
            .update_expression(format!("SET {} ADD available :delta", sets.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and expression are set");
        let items = vec![self.bump_event_version(tenant, event), TransactWriteItem::builder().update(update).build()];
        Ok(self.transact(items).await?.is_none())
    }

    /// Also files the event as due for the lifecycle job: a type's sales window may open or
    /// close its sales sooner than the index says.
    fn bump_event_version(&self, tenant: TenantId, event: &Event) -> TransactWriteItem {
        let update = self
            .update_at(keys::event_pk(tenant, event.id), keys::EVENT_SK)
            .condition_expression("#version = :expected AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(event.version));
        let set = "SET #version = #version + :one";
        let update =
            super::lifecycle::file_under(update, set, tenant, event.id, event.status, Some(crate::domain::now()));
        TransactWriteItem::builder().update(update.build().expect("table, key and expression are set")).build()
    }

    /// Places a hold: every line's availability drops under the condition that it stays ≥ 0,
    /// that sales are open and that the type is still the version the prices came from; the
    /// customer's counters stay within their limits; the reservation is written. All or nothing.
    pub async fn place_hold(&self, tenant: TenantId, priced: &PricedHold) -> Result<(), HoldError> {
        let hold = priced.reservation();
        // The counter's condition below only sees what the customer had before; one hold alone
        // must fit the cap too.
        if hold.tickets() > MAX_TICKETS_PER_EVENT {
            return Err(HoldError::TooManyTickets);
        }
        let mut items = Vec::new();
        for (line, version) in priced.lines() {
            let update = self
                .update_at(keys::event_pk(tenant, hold.event_id), keys::ticket_type_sk(line.ticket_type_id))
                .update_expression("SET available = available - :q, reserved = reserved + :q")
                .condition_expression("available >= :q AND sales_open = :open AND #version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":q", n(u64::from(line.quantity())))
                .expression_attribute_values(":open", AttributeValue::Bool(true))
                .expression_attribute_values(":version", n(version))
                .build()
                .expect("table, key and expression are set");
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let lines = items.len();
        items.push(self.count_holds(tenant, &hold.customer_id, 1));
        let tickets = hold.tickets();
        let room = MAX_TICKETS_PER_EVENT.saturating_sub(tickets);
        let per_event = self
            .update_at(keys::customer_pk(tenant, &hold.customer_id), keys::customer_event_sk(hold.event_id))
            .update_expression("ADD tickets :q")
            .condition_expression("attribute_not_exists(tickets) OR tickets <= :room")
            .expression_attribute_values(":q", n(u64::from(tickets)))
            .expression_attribute_values(":room", n(u64::from(room)))
            .build()
            .expect("table, key and expression are set");
        items.push(TransactWriteItem::builder().update(per_event).build());
        items.push(self.put(reservation_item(tenant, hold)?, "attribute_not_exists(PK)", Vec::new()));

        let operation = format!("hold:{}", hold.id);
        match self.transact_as(items, Some(&operation)).await? {
            None => Ok(()),
            Some(failed) if failed[..lines].iter().any(|f| *f) => {
                Err(HoldError::Lines(failed[..lines].iter().enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect()))
            }
            Some(failed) if failed[lines] => Err(HoldError::TooManyHolds),
            Some(_) => Err(HoldError::TooManyTickets),
        }
    }

    /// `ADD active_holds :delta`; taking a hold is conditional on staying under the limit.
    fn count_holds(&self, tenant: TenantId, customer: &str, delta: i64) -> TransactWriteItem {
        let mut update = self
            .update_at(keys::customer_pk(tenant, customer), keys::HOLDS_SK)
            .update_expression("ADD active_holds :delta")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
        if delta > 0 {
            update = update
                .condition_expression("attribute_not_exists(active_holds) OR active_holds < :max")
                .expression_attribute_values(":max", n(u64::from(MAX_ACTIVE_HOLDS)));
        }
        TransactWriteItem::builder().update(update.build().expect("table, key and expression are set")).build()
    }

    pub async fn get_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.get_one(keys::reservation_pk(tenant, id), keys::RESERVATION_SK).await
    }

    pub async fn get_order(&self, tenant: TenantId, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.get_one(keys::order_pk(tenant, id), keys::ORDER_SK).await
    }

    /// One item by key, read consistently.
    pub(super) async fn get_one<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(super::classify)?;
        output.item.map(from_item).transpose().map_err(StoreError::from)
    }

    /// Ends a hold as `RELEASED` or `EXPIRED`, returning its tickets and the customer's
    /// counters. Only a `HELD` hold ends, and an expiry only once `expires_at` has passed, so
    /// the expiry consumer, the sweep and a release can all race: one wins, the rest are no-ops
    /// (`Ok(false)`).
    pub async fn end_hold(
        &self,
        tenant: TenantId,
        hold: &Reservation,
        outcome: ReservationStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut condition = "#status = :held".to_owned();
        let mut reservation = self
            .update_at(keys::reservation_pk(tenant, hold.id), keys::RESERVATION_SK)
            .update_expression("SET #status = :outcome REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s(ReservationStatus::Held.as_str()))
            .expression_attribute_values(":outcome", s(outcome.as_str()));
        if outcome == ReservationStatus::Expired {
            condition.push_str(" AND expires_at_ms <= :now");
            reservation = reservation.expression_attribute_values(":now", n(millis(now)));
        }
        let reservation = reservation.condition_expression(condition).build().expect("key and expression are set");
        let mut items = vec![TransactWriteItem::builder().update(reservation).build()];
        for line in &hold.items {
            let release =
                self.move_tickets(tenant, hold.event_id, line.ticket_type_id, line.quantity(), "available", "reserved");
            items.push(release.anyway());
        }
        items.push(self.count_holds(tenant, &hold.customer_id, -1));
        let per_event = self
            .update_at(keys::customer_pk(tenant, &hold.customer_id), keys::customer_event_sk(hold.event_id))
            .update_expression("ADD tickets :minus")
            .expression_attribute_values(":minus", AttributeValue::N(format!("-{}", hold.tickets())))
            .build()
            .expect("key and expression are set");
        items.push(TransactWriteItem::builder().update(per_event).build());
        Ok(self.transact(items).await?.is_none())
    }

    /// Turns a live hold into an order, in one transaction: the hold must still be `HELD` and
    /// unexpired, no ticket type may be cancelled, and the payment must not have paid for
    /// anything else. The order goes into the event's order log too, which the cancellation's
    /// fan-out reads, and into the event's and the customer's sales figures (the customer's
    /// under the event's `category`).
    pub async fn confirm_hold(
        &self,
        tenant: TenantId,
        hold: &Reservation,
        order: &Order,
        category: Option<Category>,
        now: DateTime<Utc>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let reservation = self
            .update_at(keys::reservation_pk(tenant, hold.id), keys::RESERVATION_SK)
            .update_expression("SET #status = :confirmed, order_id = :order REMOVE GSI3PK, GSI3SK, GSI1PK, GSI1SK")
            .condition_expression("#status = :held AND expires_at_ms > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s(ReservationStatus::Held.as_str()))
            .expression_attribute_values(":confirmed", s(ReservationStatus::Confirmed.as_str()))
            .expression_attribute_values(":order", s(order.id.to_string()))
            .expression_attribute_values(":now", n(millis(now)))
            .build()
            .expect("key and expression are set");
        let mut items = vec![TransactWriteItem::builder().update(reservation).build()];
        for line in &hold.items {
            let sold_line =
                self.move_tickets(tenant, hold.event_id, line.ticket_type_id, line.quantity(), "sold", "reserved");
            items.push(sold_line.unless_cancelled());
        }
        let lines = hold.items.len();
        let sort = format!("{}#{}", keys::start_prefix(order.created_at), order.id);
        let mut order_item = to_item(order)?;
        for (name, value) in [
            (PK, keys::order_pk(tenant, order.id)),
            (SK, keys::ORDER_SK.to_owned()),
            (GSI1PK, keys::event_orders_pk(tenant, order.event_id)),
            (GSI1SK, sort.clone()),
            (GSI2PK, keys::customer_orders_pk(tenant, &order.customer_id)),
            (GSI2SK, sort),
        ] {
            order_item.insert(name.to_owned(), s(value));
        }
        items.push(self.put(order_item, "attribute_not_exists(PK)", Vec::new()));
        let log_entry = HashMap::from([
            (PK.to_owned(), s(keys::order_log_pk(tenant, order.event_id))),
            (SK.to_owned(), s(keys::order_log_sk(order.id))),
            ("order_id".to_owned(), s(order.id.to_string())),
        ]);
        items.push(self.put(log_entry, "attribute_not_exists(PK)", Vec::new()));
        let claim = HashMap::from([
            (PK.to_owned(), s(keys::payment_claim_pk(&order.payment_reference))),
            (SK.to_owned(), s(keys::PAYMENT_CLAIM_SK)),
            ("tenant_id".to_owned(), s(tenant.to_string())),
            ("reservation_id".to_owned(), s(hold.id.to_string())),
            ("order_id".to_owned(), s(order.id.to_string())),
        ]);
        let claim_index = items.len();
        items.push(self.put(claim, "attribute_not_exists(PK)", Vec::new()));
        items.push(self.count_holds(tenant, &hold.customer_id, -1));
        items.extend(self.count_sale(tenant, order, category));
        let operation = format!("confirm:{}", order.id);
        Ok(match self.transact_as(items, Some(&operation)).await? {
            None => ConfirmOutcome::Confirmed,
            // The hold first: a second confirm of a confirmed hold fails the claim too.
            Some(failed) if failed[0] => ConfirmOutcome::HoldChanged,
            Some(failed) if failed[claim_index] => ConfirmOutcome::PaymentUsed,
            Some(failed) if failed[1..=lines].iter().any(|f| *f) => ConfirmOutcome::EventCancelled,
            Some(_) => ConfirmOutcome::HoldChanged,
        })
    }

    /// `SET to = to + q, from = from - q` on one ticket type.
    fn move_tickets(
        &self,
        tenant: TenantId,
        event: EventId,
        ticket_type: TicketTypeId,
        quantity: u32,
        to: &str,
        from: &str,
    ) -> TicketMove {
        let update = self
            .update_at(keys::event_pk(tenant, event), keys::ticket_type_sk(ticket_type))
            .update_expression(format!("SET {to} = {to} + :q, {from} = {from} - :q"))
            .expression_attribute_values(":q", n(u64::from(quantity)));
        TicketMove(update)
    }

    /// Holds whose expiry has passed, oldest first, across tenants (for the sweep).
    pub async fn expired_holds(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(TenantId, Reservation)>, StoreError> {
        let mut found = Vec::new();
        for item in self.due_in_index("EXPIRY", keys::EXPIRY_SHARDS, now, limit).await? {
            let tenant = item.get("tenant_id").and_then(|v| v.as_s().ok()).and_then(|t| t.parse::<TenantId>().ok());
            let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            match (tenant, from_item::<Reservation>(item)) {
                (Some(tenant), Ok(hold)) => found.push((tenant, hold)),
                // One unreadable item must not stop the sweep for every other tenant.
                (_, Err(error)) => {
                    tracing::error!(%error, item = %key, "an expiry-index item does not decode; skipped");
                }
                (None, Ok(_)) => tracing::error!(item = %key, "an expiry-index item has no tenant; skipped"),
            }
        }
        Ok(found)
    }

    /// One event's orders, oldest first.
    pub async fn list_event_orders(
        &self,
        tenant: TenantId,
        event: EventId,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Order>, StoreError> {
        self.list_orders(super::keys::GSI1, GSI1PK, GSI1SK, keys::event_orders_pk(tenant, event), limit, start).await
    }

    /// One customer's orders, oldest first.
    pub async fn list_customer_orders(
        &self,
        tenant: TenantId,
        customer: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Order>, StoreError> {
        self.list_orders(super::keys::GSI2, GSI2PK, GSI2SK, keys::customer_orders_pk(tenant, customer), limit, start)
            .await
    }

    async fn list_orders(
        &self,
        index: &str,
        pk_name: &'static str,
        sk_name: &'static str,
        pk: String,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Order>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{pk_name} = :pk"))
            .expression_attribute_values(":pk", s(pk));
        self.paginate(query, &[PK, SK, pk_name, sk_name], limit, start).await
    }
}

impl Store {
    /// ON_SALE → SOLD_OUT, only if every ticket type still has nothing available at commit.
    pub async fn mark_sold_out(&self, tenant: TenantId, stored: &EventInventory) -> Result<bool, StoreError> {
        let mut items = vec![self.move_event_status(
            tenant,
            stored.event.id,
            EventStatus::SoldOut,
            "#status = :guard",
            s(EventStatus::OnSale.as_str()),
        )];
        for ticket_type in &stored.ticket_types {
            items.push(self.check_type(tenant, stored.event.id, ticket_type.id, "available = :zero"));
        }
        Ok(self.transact(items).await?.is_none())
    }

    /// SOLD_OUT → ON_SALE, only if some open ticket type has tickets again at commit.
    pub async fn reopen_sales(&self, tenant: TenantId, stored: &EventInventory) -> Result<bool, StoreError> {
        let Some(open) = stored.ticket_types.iter().find(|t| t.available > 0 && t.sales_open) else { return Ok(false) };
        let items = vec![
            self.move_event_status(
                tenant,
                stored.event.id,
                EventStatus::OnSale,
                "#status = :guard",
                s(EventStatus::SoldOut.as_str()),
            ),
            self.check_type(tenant, stored.event.id, open.id, "available > :zero AND sales_open = :open"),
        ];
        Ok(self.transact(items).await?.is_none())
    }

    /// `SET status = to` on a live event (bumping its version) if `condition` holds; the
    /// condition names its one value `:guard`.
    pub(super) fn move_event_status(
        &self,
        tenant: TenantId,
        event: EventId,
        to: EventStatus,
        condition: &str,
        guard: AttributeValue,
    ) -> TransactWriteItem {
        let now = crate::domain::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let update = self
            .update_at(keys::event_pk(tenant, event), keys::EVENT_SK)
            .condition_expression(format!("{condition} AND attribute_not_exists(deleted_at)"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":guard", guard)
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now));
        let set = "SET #status = :to, #version = #version + :one, updated_at = :now";
        let update = super::lifecycle::file_under(update, set, tenant, event, to, Some(crate::domain::now()));
        TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
    }

    fn check_type(
        &self,
        tenant: TenantId,
        event: EventId,
        ticket_type: TicketTypeId,
        condition: &str,
    ) -> TransactWriteItem {
        let mut check = ConditionCheck::builder()
            .table_name(&self.table)
            .key(PK, s(keys::event_pk(tenant, event)))
            .key(SK, s(keys::ticket_type_sk(ticket_type)))
            .condition_expression(condition)
            .expression_attribute_values(":zero", n(0));
        if condition.contains(":open") {
            check = check.expression_attribute_values(":open", AttributeValue::Bool(true));
        }
        TransactWriteItem::builder().condition_check(check.build().expect("key and expression are set")).build()
    }
}

/// A ticket-type counter move, before its condition is chosen.
struct TicketMove(aws_sdk_dynamodb::types::builders::UpdateBuilder);

impl TicketMove {
    fn build(self, condition: &str) -> TransactWriteItem {
        let update = self.0.condition_expression(condition).build().expect("key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Any existing ticket type (returning tickets works on a cancelled event too).
    fn anyway(self) -> TransactWriteItem {
        self.build("attribute_exists(PK)")
    }

    /// Only while the event is not cancelled: what makes "no sale after the cancel" hold.
    fn unless_cancelled(self) -> TransactWriteItem {
        self.build("attribute_exists(PK) AND attribute_not_exists(cancelled)")
    }
}

/// Whether the event accepts holds; kept on every ticket type so holds never touch the event.
pub fn sales_open(event: &Event) -> bool {
    event.status == EventStatus::OnSale
}

/// A type added to an event that sold out by itself is open like its siblings (an automatic
/// sell-out leaves them open, so the event reopens once tickets are back); one added to an
/// event an organizer marked `SOLD_OUT` stays closed with them.
fn sales_open_for_new_type(stored: &EventInventory) -> bool {
    match stored.event.status {
        EventStatus::SoldOut => stored.ticket_types.iter().any(|t| t.sales_open),
        _ => sales_open(&stored.event),
    }
}

pub fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn reservation_item(tenant: TenantId, hold: &Reservation) -> Result<Item, StoreError> {
    let mut item = to_item(hold)?;
    item.insert(PK.into(), s(keys::reservation_pk(tenant, hold.id)));
    item.insert(SK.into(), s(keys::RESERVATION_SK));
    item.insert("tenant_id".into(), s(tenant.to_string()));
    // A number, so conditions compare instants rather than strings of varying precision.
    item.insert("expires_at_ms".into(), n(millis(hold.expires_at)));
    item.insert(GSI1PK.into(), s(keys::event_holds_pk(tenant, hold.event_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", keys::start_prefix(hold.created_at), hold.id)));
    item.insert(GSI3PK.into(), s(keys::expiry_pk(hold.id)));
    item.insert(GSI3SK.into(), s(keys::expiry_sort_key(hold.expires_at, tenant, hold.id)));
    Ok(item)
}
