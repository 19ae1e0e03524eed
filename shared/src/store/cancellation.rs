//! Cancellation and refunds. Each order's refund moves `CONFIRMED → REFUND_PENDING →
//! REFUNDED | PARTIALLY_REFUNDED | REFUND_FAILED` under conditions, and the cancellation's
//! counters move in the same transaction as the order's final step, so a duplicate delivery
//! finds the condition false and counts nothing twice.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde_dynamo::aws_sdk_dynamodb_1::to_item;
use uuid::Uuid;

use super::keys::{self, GSI1, GSI1PK, GSI1SK, PK, SK};
use super::{Store, StoreError, StoredEvent, classify, n, s};
use crate::domain::cancellation::{Cancellation, CancellationStatus};
use crate::domain::event::EventStatus;
use crate::domain::reservation::{Order, OrderStatus, Reservation};

const CANCELLATION_SK: &str = "CANCELLATION";

fn cancellation_marks_pk(tenant: Uuid, cancellation: Uuid) -> String {
    format!("T#{tenant}#CANCELLATION#{cancellation}")
}

#[derive(serde::Deserialize)]
struct NotifiedMark {
    sent: bool,
}

/// Where a holder's notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// Claimed now (and counted): send it.
    Claimed,
    /// Claimed before but not confirmed sent: send it again.
    Unsent,
    Sent,
}

impl Store {
    /// Marks the event `CANCELLED` (if it is still the version read), writes the cancellation,
    /// and closes sales on every ticket type, in one transaction.
    pub async fn cancel_event(
        &self,
        tenant: Uuid,
        stored: &StoredEvent,
        cancellation: &Cancellation,
    ) -> Result<bool, StoreError> {
        let event = &stored.event;
        let update =
            self.move_event_status(tenant, event.id, EventStatus::Cancelled, "#version = :guard", n(event.version));
        let mut item = to_item(cancellation)?;
        item.insert(PK.into(), s(keys::event_pk(tenant, event.id)));
        item.insert(SK.into(), s(CANCELLATION_SK));
        let put = self.put(item, "attribute_not_exists(PK)", Vec::new());
        let mut items = vec![update, put];
        items.extend(stored.ticket_types.iter().map(|t| self.set_sales_open(tenant, event.id, t.id, false, false)));
        Ok(self.transact(items).await?.is_none())
    }

    pub async fn get_cancellation(&self, tenant: Uuid, event: Uuid) -> Result<Option<Cancellation>, StoreError> {
        self.get_one(keys::event_pk(tenant, event), CANCELLATION_SK).await
    }

    /// The event's holds that are still `HELD` (the index holds them only while they are).
    pub async fn held_reservations_of(&self, tenant: Uuid, event: Uuid) -> Result<Vec<Reservation>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression(format!("{GSI1PK} = :pk"))
            .expression_attribute_values(":pk", s(keys::event_holds_pk(tenant, event)));
        let mut holds = Vec::new();
        let mut start = None;
        loop {
            let page = self.paginate(query.clone(), &[PK, SK, GSI1PK, GSI1SK], 100, start).await?;
            holds.extend(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(holds),
            }
        }
    }

    /// Records that the fan-out enqueued `enqueued` more orders and now resumes at `next`
    /// (`None`: done). Conditional on no one else having checkpointed since `read`.
    pub async fn checkpoint_fanout(
        &self,
        tenant: Uuid,
        read: &Cancellation,
        next: Option<String>,
        enqueued: u64,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::event_pk(tenant, read.event_id)))
            .key(SK, s(CANCELLATION_SK))
            .condition_expression("fanout_pages = :pages")
            .expression_attribute_values(":pages", n(read.fanout_pages))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":enqueued", n(enqueued));
        update = match next {
            Some(cursor) => update
                .update_expression("SET fanout_cursor = :cursor ADD fanout_pages :one, orders_total :enqueued")
                .expression_attribute_values(":cursor", s(cursor)),
            None => update
                .update_expression(
                    "SET fanout_done = :done, fanout_cursor = :none ADD fanout_pages :one, orders_total :enqueued",
                )
                .expression_attribute_values(":done", AttributeValue::Bool(true))
                .expression_attribute_values(":none", AttributeValue::Null(true)),
        };
        super::applied(update.send().await)
    }

    /// `CONFIRMED | PARTIALLY_REFUNDED | REFUND_FAILED → REFUND_PENDING` for this refund, if
    /// `amount` still fits in what was paid. `Ok(false)` if the order is not in such a state.
    pub async fn begin_refund(
        &self,
        tenant: Uuid,
        order: &Order,
        refund_id: &str,
        amount: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::order_pk(tenant, order.id)))
            .key(SK, s(keys::ORDER_SK))
            .update_expression("SET #status = :pending, pending_refund_id = :refund")
            // A refund already applied never starts again, however late its duplicate arrives.
            .condition_expression(
                "#status IN (:confirmed, :partial, :failed) AND refunded_amount <= :most AND NOT contains(refund_ids, :refund)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(order_status(OrderStatus::RefundPending)))
            .expression_attribute_values(":confirmed", s(order_status(OrderStatus::Confirmed)))
            .expression_attribute_values(":partial", s(order_status(OrderStatus::PartiallyRefunded)))
            .expression_attribute_values(":failed", s(order_status(OrderStatus::RefundFailed)))
            .expression_attribute_values(":refund", s(refund_id))
            .expression_attribute_values(":most", n(order.totals.total.saturating_sub(amount)))
            .send()
            .await;
        super::applied(result)
    }

    /// Ends a pending refund as refunded (`Some(amount)`) or failed (`None`), counting it on
    /// the cancellation, if any, in the same transaction. `Ok(false)`: already ended.
    pub async fn end_refund(
        &self,
        tenant: Uuid,
        order: &Order,
        refund_id: &str,
        refunded: Option<u64>,
        cancellation: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(keys::order_pk(tenant, order.id)))
            .key(SK, s(keys::ORDER_SK))
            .condition_expression("#status = :pending AND pending_refund_id = :refund")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(order_status(OrderStatus::RefundPending)))
            .expression_attribute_values(":refund", s(refund_id));
        update = match refunded {
            Some(amount) => {
                let status = if order.refunded_amount + amount >= order.totals.total {
                    OrderStatus::Refunded
                } else {
                    OrderStatus::PartiallyRefunded
                };
                update
                    .update_expression(
                        "SET #status = :done, last_refund_id = :refund ADD refunded_amount :amount, refund_ids :applied REMOVE pending_refund_id",
                    )
                    .expression_attribute_values(":done", s(order_status(status)))
                    .expression_attribute_values(":amount", n(amount))
                    .expression_attribute_values(":applied", AttributeValue::Ss(vec![refund_id.to_owned()]))
            }
            None => update
                .update_expression("SET #status = :failed REMOVE pending_refund_id")
                .expression_attribute_values(":failed", s(order_status(OrderStatus::RefundFailed))),
        };
        let mut items =
            vec![TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()];
        if let Some(cancellation) = cancellation {
            let counters = match refunded {
                Some(amount) => vec![("refunds_succeeded", 1), ("refunded_amount", amount), ("orders_settled", 1)],
                None => vec![("refunds_failed", 1), ("orders_settled", 1)],
            };
            items.push(self.count_on_cancellation(tenant, order.event_id, cancellation, &counters));
        }
        Ok(self.transact(items).await?.is_none())
    }

    /// Settles an order that gets no refund (policy `none`) exactly once.
    pub async fn settle_without_refund(
        &self,
        tenant: Uuid,
        order: &Order,
        cancellation: Uuid,
    ) -> Result<bool, StoreError> {
        let mark = HashMap::from([
            (PK.to_owned(), s(cancellation_marks_pk(tenant, cancellation))),
            (SK.to_owned(), s(format!("ORDER#{}", order.id))),
        ]);
        let items = vec![
            self.put(mark, "attribute_not_exists(PK)", Vec::new()),
            self.count_on_cancellation(tenant, order.event_id, cancellation, &[("orders_settled", 1)]),
        ];
        Ok(self.transact(items).await?.is_none())
    }

    /// Claims the one notification of `customer` for this cancellation, counting it once.
    pub async fn claim_notification(
        &self,
        tenant: Uuid,
        event: Uuid,
        cancellation: Uuid,
        customer: &str,
    ) -> Result<Notification, StoreError> {
        let (pk, sk) = (cancellation_marks_pk(tenant, cancellation), format!("NOTIFIED#{}", keys::key_part(customer)));
        let mark = HashMap::from([
            (PK.to_owned(), s(pk.clone())),
            (SK.to_owned(), s(sk.clone())),
            ("sent".to_owned(), AttributeValue::Bool(false)),
        ]);
        let items = vec![
            self.put(mark, "attribute_not_exists(PK)", Vec::new()),
            self.count_on_cancellation(tenant, event, cancellation, &[("notifications_sent", 1)]),
        ];
        if self.transact(items).await?.is_none() {
            return Ok(Notification::Claimed);
        }
        let sent = self.get_one::<NotifiedMark>(pk, &sk).await?.is_some_and(|mark| mark.sent);
        Ok(if sent { Notification::Sent } else { Notification::Unsent })
    }

    pub async fn mark_notified(&self, tenant: Uuid, cancellation: Uuid, customer: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(cancellation_marks_pk(tenant, cancellation)))
            .key(SK, s(format!("NOTIFIED#{}", keys::key_part(customer))))
            .update_expression("SET sent = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// Marks the cancellation finished once every enqueued order is settled. Conditional on the
    /// counts read, so a late duplicate cannot finish it with stale numbers.
    pub async fn complete_cancellation(&self, tenant: Uuid, read: &Cancellation) -> Result<bool, StoreError> {
        let status = if read.refunds_failed > 0 {
            CancellationStatus::CompletedWithFailures
        } else {
            CancellationStatus::Completed
        };
        let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let now = crate::domain::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::event_pk(tenant, read.event_id)))
            .key(SK, s(CANCELLATION_SK))
            .update_expression("SET #status = :final, completed_at = :now")
            .condition_expression(
                "#status = :in_progress AND fanout_done = :yes AND orders_settled = orders_total AND refunds_failed = :failed",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":final", s(status))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":failed", n(read.refunds_failed))
            .send()
            .await;
        super::applied(result)
    }

    fn count_on_cancellation(
        &self,
        tenant: Uuid,
        event: Uuid,
        cancellation: Uuid,
        counters: &[(&str, u64)],
    ) -> TransactWriteItem {
        let adds: Vec<String> = counters.iter().map(|(name, _)| format!("{name} :{name}")).collect();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(keys::event_pk(tenant, event)))
            .key(SK, s(CANCELLATION_SK))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .condition_expression("id = :cancellation")
            .expression_attribute_values(":cancellation", s(cancellation.to_string()));
        for (name, value) in counters {
            update = update.expression_attribute_values(format!(":{name}"), n(*value));
        }
        TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
    }
}

fn order_status(status: OrderStatus) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
