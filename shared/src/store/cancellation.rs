//! Cancellations: the cancel transaction, the fan-out's checkpoints, the counters, the
//! holders' notification marks and the resumer's index of cancellations still in progress.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::keys::{self, GSI1, GSI1PK, GSI1SK, GSI3, GSI3PK, GSI3SK, PK, SK};
use super::{Item, Page, Store, StoreError, classify, n, s};
use crate::cursor::PageKey;
use crate::domain::cancellation::{Cancellation, CancellationStatus};
use crate::domain::event::EventStatus;
use crate::domain::ids::{CancellationId, EventId, OrderId, TenantId};
use crate::domain::inventory::EventInventory;
use crate::domain::reservation::Reservation;

pub(super) const CANCELLATION_SK: &str = "CANCELLATION";

fn cancellation_marks_pk(tenant: TenantId, cancellation: CancellationId) -> String {
    format!("T#{tenant}#CANCELLATION#{cancellation}")
}

#[derive(serde::Deserialize)]
struct NotifiedMark {
    sent: bool,
    #[serde(default)]
    claimed_at: Option<DateTime<Utc>>,
}

/// A claim this old that is still not marked sent belongs to a delivery that died.
const NOTIFICATION_CLAIM_TIMEOUT: chrono::Duration = chrono::Duration::seconds(60);

/// Where a holder's notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// Claimed now (and counted): send it.
    Claimed,
    /// Claimed a moment ago by another delivery, which is sending it now.
    InFlight,
    /// Claimed long ago and never confirmed sent: the claimer died; send it again.
    Unsent,
    Sent,
}

/// What one fan-out step achieved, written with its checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// Where the current phase resumes; `None` when the phase is finished.
    pub cursor: Option<String>,
    pub holds_voided: u64,
    /// Orders enqueued by this step that count toward `orders_total` (first pass only).
    pub orders_enqueued: u64,
}

fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl Store {
    /// Marks the event `CANCELLED` (if it is still the version read), writes the cancellation
    /// (listed among the cancellations in progress), and closes sales on every ticket type, in
    /// one transaction. The `cancelled` flag on each ticket type is what holds and confirms are
    /// conditioned on, so none of them can commit after this does, whatever it read before.
    pub async fn cancel_event(
        &self,
        tenant: TenantId,
        stored: &EventInventory,
        cancellation: &Cancellation,
    ) -> Result<bool, StoreError> {
        let event = &stored.event;
        let update =
            self.move_event_status(tenant, event.id, EventStatus::Cancelled, "#version = :guard", n(event.version));
        let mut item = to_item(cancellation)?;
        item.insert(PK.into(), s(keys::event_pk(tenant, event.id)));
        item.insert(SK.into(), s(CANCELLATION_SK));
        item.insert("tenant_id".into(), s(tenant.to_string()));
        item.insert(GSI3PK.into(), s(keys::ACTIVE_CANCELLATIONS));
        item.insert(GSI3SK.into(), s(format!("{tenant}#{}", event.id)));
        let put = self.put(item, "attribute_not_exists(PK)", Vec::new());
        let mut items = vec![update, put];
        for ticket_type in &stored.ticket_types {
            let close = self
                .update_at(keys::event_pk(tenant, event.id), keys::ticket_type_sk(ticket_type.id))
                .update_expression("SET sales_open = :closed, cancelled = :yes")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":closed", AttributeValue::Bool(false))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .build()
                .expect("key and expression are set");
            items.push(TransactWriteItem::builder().update(close).build());
        }
        let operation = format!("cancel-event:{}:{}", cancellation.id, event.version);
        Ok(self.transact_as(items, Some(&operation)).await?.is_none())
    }

    pub async fn get_cancellation(&self, tenant: TenantId, event: EventId) -> Result<Option<Cancellation>, StoreError> {
        self.get_one(keys::event_pk(tenant, event), CANCELLATION_SK).await
    }

    /// Cancellations still in progress, across tenants (for the resumer). Their number is the
    /// number of events being cancelled right now, so reading them all is cheap.
    pub async fn active_cancellations(&self) -> Result<Vec<(TenantId, Cancellation)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI3)
            .key_condition_expression(format!("{GSI3PK} = :active"))
            .expression_attribute_values(":active", s(keys::ACTIVE_CANCELLATIONS));
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page: Page<Item> = self.paginate_items(query.clone(), &[PK, SK, GSI3PK, GSI3SK], 100, start).await?;
            for item in page.items {
                let tenant = item.get("tenant_id").and_then(|v| v.as_s().ok()).and_then(|t| t.parse::<TenantId>().ok());
                match (tenant, from_item::<Cancellation>(item)) {
                    (Some(tenant), Ok(cancellation)) => found.push((tenant, cancellation)),
                    // One unreadable item must not hide every other tenant's cancellation.
                    (_, Err(error)) => tracing::error!(%error, "an active cancellation does not decode"),
                    (None, Ok(cancellation)) => {
                        tracing::error!(cancellation = %cancellation.id, "an active cancellation has no tenant");
                    }
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// A page of the event's holds that are still `HELD` (the index holds them only while they are).
    pub async fn held_reservations_page(
        &self,
        tenant: TenantId,
        event: EventId,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Reservation>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression(format!("{GSI1PK} = :pk"))
            .expression_attribute_values(":pk", s(keys::event_holds_pk(tenant, event)));
        self.paginate(query, &[PK, SK, GSI1PK, GSI1SK], limit, start).await
    }

    /// A page of the ids of the event's orders, read strongly consistently from the order log,
    /// so every order committed before this read is in it.
    pub async fn order_ids_page(
        &self,
        tenant: TenantId,
        event: EventId,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<OrderId>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Entry {
            order_id: OrderId,
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::order_log_pk(tenant, event)))
            .consistent_read(true);
        let page: Page<Entry> = self.paginate(query, &[PK, SK], limit, start).await?;
        Ok(Page { items: page.items.into_iter().map(|e| e.order_id).collect(), next: page.next })
    }

    /// Records a fan-out step. Conditional on no one else having checkpointed since `read`, so
    /// two runs of the fan-out never both count a page.
    pub async fn checkpoint_fanout(
        &self,
        tenant: TenantId,
        read: &Cancellation,
        step: Checkpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut sets = vec!["fanout_cursor = :cursor", "progress_at = :now"];
        let cursor = step.cursor.clone().map_or(AttributeValue::Null(true), s);
        let mut update = self
            .update_item_at(keys::event_pk(tenant, read.event_id), CANCELLATION_SK)
            .condition_expression("fanout_pages = :pages")
            .expression_attribute_values(":pages", n(read.fanout_pages))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":voided", n(step.holds_voided))
            .expression_attribute_values(":enqueued", n(step.orders_enqueued))
            .expression_attribute_values(":cursor", cursor)
            .expression_attribute_values(":now", timestamp(now));
        if step.cursor.is_none() {
            // The phase is over: holds hand over to orders, orders end the fan-out.
            sets.push(if read.holds_done { "fanout_done = :yes" } else { "holds_done = :yes" });
            update = update.expression_attribute_values(":yes", AttributeValue::Bool(true));
        }
        update = update.update_expression(format!(
            "SET {} ADD fanout_pages :one, holds_voided :voided, orders_total :enqueued",
            sets.join(", ")
        ));
        super::applied(update.send().await)
    }

    /// Starts the fan-out again for a cancellation that stalled: a pass over the orders that
    /// re-sends every refund not yet settled (counting nothing twice), or, if the fan-out had
    /// not finished, just a fresh clock for it. Conditional on the checkpoint read.
    pub async fn restart_fanout(
        &self,
        tenant: TenantId,
        read: &Cancellation,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .update_item_at(keys::event_pk(tenant, read.event_id), CANCELLATION_SK)
            .condition_expression("fanout_pages = :pages AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pages", n(read.fanout_pages))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", timestamp(now));
        update = if read.fanout_done {
            update
                .update_expression(
                    "SET fanout_done = :no, fanout_resumed = :yes, fanout_cursor = :none, progress_at = :now ADD fanout_pages :one",
                )
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":none", AttributeValue::Null(true))
        } else {
            update.update_expression("SET progress_at = :now ADD fanout_pages :one")
        };
        super::applied(update.send().await)
    }

    /// Claims the one notification of `customer` for this cancellation, counting it once.
    pub async fn claim_notification(
        &self,
        tenant: TenantId,
        event: EventId,
        cancellation: CancellationId,
        customer: &str,
    ) -> Result<Notification, StoreError> {
        let (pk, sk) = (cancellation_marks_pk(tenant, cancellation), format!("NOTIFIED#{}", keys::key_part(customer)));
        let now = crate::domain::now();
        let mark = HashMap::from([
            (PK.to_owned(), s(pk.clone())),
            (SK.to_owned(), s(sk.clone())),
            ("sent".to_owned(), AttributeValue::Bool(false)),
            ("claimed_at".to_owned(), timestamp(now)),
        ]);
        let items = vec![
            self.put(mark, "attribute_not_exists(PK)", Vec::new()),
            self.count_on_cancellation(tenant, event, cancellation, &[("notifications_sent", 1)]),
        ];
        if self.transact(items).await?.is_none() {
            return Ok(Notification::Claimed);
        }
        Ok(match self.get_one::<NotifiedMark>(pk, &sk).await? {
            Some(mark) if mark.sent => Notification::Sent,
            Some(mark) if mark.claimed_at.is_some_and(|at| now - at < NOTIFICATION_CLAIM_TIMEOUT) => {
                Notification::InFlight
            }
            _ => Notification::Unsent,
        })
    }

    pub async fn mark_notified(
        &self,
        tenant: TenantId,
        cancellation: CancellationId,
        customer: &str,
    ) -> Result<(), StoreError> {
        self.update_item_at(
            cancellation_marks_pk(tenant, cancellation),
            format!("NOTIFIED#{}", keys::key_part(customer)),
        )
        .update_expression("SET sent = :yes")
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .send()
        .await
        .map(|_| ())
        .map_err(classify)
    }

    /// Marks the cancellation finished once every enqueued order is settled, and takes it off
    /// the resumer's list. Conditional on the counts read, so a late duplicate cannot finish it
    /// with stale numbers.
    pub async fn complete_cancellation(&self, tenant: TenantId, read: &Cancellation) -> Result<bool, StoreError> {
        let status = if read.refunds_failed > 0 {
            CancellationStatus::CompletedWithFailures
        } else {
            CancellationStatus::Completed
        };
        let result = self.update_item_at(keys::event_pk(tenant, read.event_id), CANCELLATION_SK)
            .update_expression(format!("SET #status = :final, completed_at = :now REMOVE {GSI3PK}, {GSI3SK}"))
            .condition_expression(
                "#status = :in_progress AND fanout_done = :yes AND orders_settled = orders_total AND refunds_failed = :failed",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":final", s(status_text(status)))
            .expression_attribute_values(":now", timestamp(crate::domain::now()))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":failed", n(read.refunds_failed))
            .send()
            .await;
        super::applied(result)
    }

    /// A finished cancellation whose last failed refund later succeeded (a redriven message)
    /// reads `COMPLETED`.
    pub async fn clear_failures(&self, tenant: TenantId, event: EventId) -> Result<bool, StoreError> {
        let result = self
            .update_item_at(keys::event_pk(tenant, event), CANCELLATION_SK)
            .update_expression("SET #status = :completed")
            .condition_expression("#status = :with_failures AND refunds_failed = :zero")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(status_text(CancellationStatus::Completed)))
            .expression_attribute_values(":with_failures", s(status_text(CancellationStatus::CompletedWithFailures)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        super::applied(result)
    }

    /// `ADD` signed `counters` on the cancellation, which must be `cancellation`, and note the progress.
    pub(super) fn count_on_cancellation(
        &self,
        tenant: TenantId,
        event: EventId,
        cancellation: CancellationId,
        counters: &[(&str, i64)],
    ) -> TransactWriteItem {
        let adds: Vec<String> = counters.iter().map(|(name, _)| format!("{name} :{name}")).collect();
        let mut update = self
            .update_at(keys::event_pk(tenant, event), CANCELLATION_SK)
            .update_expression(format!("SET progress_at = :now ADD {}", adds.join(", ")))
            .condition_expression("id = :cancellation")
            .expression_attribute_values(":cancellation", s(cancellation.to_string()))
            .expression_attribute_values(":now", timestamp(crate::domain::now()));
        for (name, value) in counters {
            update = update.expression_attribute_values(format!(":{name}"), AttributeValue::N(value.to_string()));
        }
        TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
    }
}

fn status_text(status: CancellationStatus) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
