//! The lifecycle index (GSI3, `LIFECYCLE#<shard>`, sorted by when to look at an event next) and
//! the writes of the job that moves events on time. Every write here is conditional on the
//! event's `version` as read, so a person's change (or another run) in between makes it a no-op
//! rather than undoing or repeating anything.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::keys::{self, GSI3PK, GSI3SK};
use super::{Store, StoreError, lifecycle_keys, n, s};
use crate::domain::event::{Event, EventStatus};
use crate::domain::ids::{EventId, TenantId};
use crate::domain::inventory::EventInventory;

impl Store {
    /// Events due for a look at `now`, across tenants, oldest first within each shard; at most
    /// `limit` per shard.
    pub async fn events_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<(TenantId, EventId)>, StoreError> {
        let mut due = Vec::new();
        for item in self.due_in_index("LIFECYCLE", keys::LIFECYCLE_SHARDS, now, limit).await? {
            let sort = item.get(GSI3SK).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or_default();
            if let Some(found) = keys::parse_lifecycle_sort_key(sort) {
                due.push(found);
            } else {
                // One malformed entry must not stop the job for every other tenant.
                tracing::error!(key = %sort, "a lifecycle-index entry does not name an event; skipped");
            }
        }
        Ok(due)
    }

    /// Moves the event read as `stored` to `to` (bumping its version) and files it to be looked
    /// at again at `next_look`, if it is still the version read. Sales open or close on every
    /// ticket type in the same transaction, as a person's status change does. `Ok(false)` when
    /// the event changed in between.
    pub async fn move_on_time(
        &self,
        tenant: TenantId,
        stored: &EventInventory,
        to: EventStatus,
        next_look: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let event = &stored.event;
        let update = self
            .update_at(keys::event_pk(tenant, event.id), keys::EVENT_SK)
            .condition_expression("#status = :from AND #version = :expected AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":from", s(event.status.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":expected", n(event.version))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
        let set = "SET #status = :to, #version = #version + :one, updated_at = :now";
        let update = file_under(update, set, tenant, event.id, to, next_look);
        let mut items =
            vec![TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()];
        let open = to == EventStatus::OnSale;
        items.extend(stored.ticket_types.iter().map(|t| self.set_sales_open(tenant, event.id, t.id, open, false)));
        Ok(self.transact(items).await?.is_none())
    }

    /// Files an event the job failed on to be looked at again at `at`, if it is still in the index,
    /// so events it cannot move do not stay at the front of the index ahead of the rest.
    pub async fn postpone_look(&self, tenant: TenantId, event: EventId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .update_item_at(keys::event_pk(tenant, event), keys::EVENT_SK)
            .update_expression(format!("SET {GSI3SK} = :later"))
            .condition_expression(format!("attribute_exists({GSI3PK})"))
            .expression_attribute_values(":later", s(keys::lifecycle_sort_key(at, tenant, event)))
            .send()
            .await;
        super::applied(result).map(|_| ())
    }

    /// Files the event to be looked at again at `next_look` (or takes it out of the index), if it
    /// is still the version read; a writer that changed it has filed it as due already.
    pub async fn file_next_look(
        &self,
        tenant: TenantId,
        event: &Event,
        next_look: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let update = self
            .update_at(keys::event_pk(tenant, event.id), keys::EVENT_SK)
            .condition_expression("#version = :expected AND attribute_not_exists(deleted_at)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(event.version));
        let update = file_under(update, "", tenant, event.id, event.status, next_look);
        let item = TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build();
        Ok(self.transact(vec![item]).await?.is_none())
    }
}

/// Completes an event update whose `SET` clause is `set`: an event whose status moves on time is
/// filed in the lifecycle index under `next_look` (writers other than the job pass now: it works
/// out when the event is really due); any other, or no time, takes it out of the index.
pub(super) fn file_under(
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    set: &str,
    tenant: TenantId,
    event: EventId,
    status: EventStatus,
    next_look: Option<DateTime<Utc>>,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    let keys = next_look.and_then(|at| lifecycle_keys(tenant, event, status, at));
    match (keys, set.is_empty()) {
        (Some((pk, sk)), _) => {
            let file = format!("{GSI3PK} = :lifecycle_pk, {GSI3SK} = :lifecycle_sk");
            let expression = if set.is_empty() { format!("SET {file}") } else { format!("{set}, {file}") };
            update
                .update_expression(expression)
                .expression_attribute_values(":lifecycle_pk", s(pk))
                .expression_attribute_values(":lifecycle_sk", s(sk))
        }
        (None, true) => update.update_expression(format!("REMOVE {GSI3PK}, {GSI3SK}")),
        (None, false) => update.update_expression(format!("{set} REMOVE {GSI3PK}, {GSI3SK}")),
    }
}
