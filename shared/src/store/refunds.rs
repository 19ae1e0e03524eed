//! An order's refunds. Each refund is a record in the order's `refunds` map; the order's
//! `committed_amount` (refunded plus accepted-and-unfinished) never exceeds its total, and only
//! the refund named by `pending_refund_id` may be at the provider, so one order's refunds are
//! applied one at a time and each is applied once. A cancellation's refund settles the
//! (cancellation, order) pair and moves the cancellation's counters in the same transaction.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value;
use uuid::Uuid;

use super::keys::{self, PK, SK};
use super::{Store, StoreError, n, s};
use crate::domain::ids::{CancellationId, OrderId, TenantId};
use crate::domain::reservation::{Order, OrderStatus, RefundRecord, RefundStatus};

/// The provider calls noted on an order for the refund in its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempts {
    /// Calls that have not ended cleanly: each may still be running at the provider (or its
    /// consumer died), with when it started.
    pub open: Vec<(Uuid, DateTime<Utc>)>,
    /// How many calls were ever noted: a write conditioned on it fails if one started since.
    pub count: u64,
}

fn attempt_entry(attempt: Uuid, at: DateTime<Utc>) -> String {
    format!("{}|{attempt}", at.to_rfc3339())
}

/// How the end of a cancellation's refund counts on the cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub cancellation: CancellationId,
    /// This order was settled as failed before (a redriven or repeated message is retrying it).
    pub previously_failed: bool,
    /// Whether a settlement without any refund counts as a refund that succeeded (the buyer
    /// has what the policy promises) or only as settled (policy `none`).
    pub counts_as_refund: bool,
}

impl Store {
    /// Accepts a single refund of `record.amount`, reserving it on the order at once. `Ok(false)`
    /// when the order cannot take it (not refundable, or more than what is left); an SDK retry
    /// of a write that already landed is recognised and reported as accepted.
    pub async fn request_refund(
        &self,
        tenant: TenantId,
        order: &Order,
        record: &RefundRecord,
    ) -> Result<bool, StoreError> {
        let result = self
            .order_update(tenant, order.id)
            .update_expression("SET refunds.#refund = :record ADD committed_amount :amount")
            .condition_expression(
                "attribute_exists(PK) AND #status IN (:confirmed, :partial, :pending, :failed) AND committed_amount <= :most \
                 AND attribute_not_exists(settled_by) AND attribute_not_exists(refunds.#refund)",
            )
            .expression_attribute_names("#refund", &record.id)
            .expression_attribute_values(":record", to_attribute_value(record)?)
            .expression_attribute_values(":amount", n(record.amount))
            .expression_attribute_values(":most", n(order.totals.total.saturating_sub(record.amount)))
            .expression_attribute_values(":confirmed", status(OrderStatus::Confirmed))
            .expression_attribute_values(":partial", status(OrderStatus::PartiallyRefunded))
            .expression_attribute_values(":pending", status(OrderStatus::RefundPending))
            .expression_attribute_values(":failed", status(OrderStatus::RefundFailed))
            .send()
            .await;
        if super::applied(result)? {
            return Ok(true);
        }
        Ok(self.get_order(tenant, order.id).await?.is_some_and(|o| o.refunds.contains_key(&record.id)))
    }

    /// Takes the order's refund slot for an accepted single refund. `Ok(false)`: the slot is
    /// taken, or the refund is no longer waiting.
    pub async fn begin_single_refund(
        &self,
        tenant: TenantId,
        order: &Order,
        refund_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .order_update(tenant, order.id)
            .update_expression("SET #status = :refunding, pending_refund_id = :refund")
            .condition_expression(
                "attribute_not_exists(pending_refund_id) AND refunds.#refund.#refund_status = :waiting",
            )
            .expression_attribute_names("#refund", refund_id)
            .expression_attribute_names("#refund_status", "status")
            .expression_attribute_values(":refunding", status(OrderStatus::RefundPending))
            .expression_attribute_values(":refund", s(refund_id))
            .expression_attribute_values(":waiting", s(RefundStatus::Pending.as_str()))
            .send()
            .await;
        super::applied(result)
    }

    /// Takes the order's refund slot for a cancellation's refund of `record.amount`, which the
    /// caller computed from the order as read: conditional on nothing having been refunded or
    /// accepted since (so the amount is still right), on the slot being free and on the order
    /// not being settled by the cancellation (or settled as failed, to try again).
    pub async fn begin_cancellation_refund(
        &self,
        tenant: TenantId,
        order: &Order,
        record: &RefundRecord,
    ) -> Result<bool, StoreError> {
        let result = self
            .order_update(tenant, order.id)
            .update_expression(
                "SET #status = :refunding, pending_refund_id = :refund, refunds.#refund = :record ADD committed_amount :amount",
            )
            .condition_expression(
                "attribute_not_exists(pending_refund_id) AND refunded_amount = :refunded AND committed_amount = :refunded \
                 AND committed_amount <= :most AND (attribute_not_exists(settled_by) OR settled_outcome = :failed)",
            )
            .expression_attribute_names("#refund", &record.id)
            .expression_attribute_values(":refunding", status(OrderStatus::RefundPending))
            .expression_attribute_values(":refund", s(&record.id))
            .expression_attribute_values(":record", to_attribute_value(record)?)
            .expression_attribute_values(":amount", n(record.amount))
            .expression_attribute_values(":refunded", n(order.refunded_amount))
            .expression_attribute_values(":most", n(order.totals.total.saturating_sub(record.amount)))
            .expression_attribute_values(":failed", s(RefundStatus::Failed.as_str()))
            .send()
            .await;
        super::applied(result)
    }

    /// Notes that a call to the provider for the refund in the order's slot starts now, as
    /// `attempt`: one entry in the order's set of calls, and one more in its count of them.
    /// `false` if the refund is no longer in the slot.
    pub async fn mark_refund_attempt(
        &self,
        tenant: TenantId,
        order: OrderId,
        refund_id: &str,
        attempt: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .order_item_update(tenant, order)
            .update_expression("ADD refund_attempts :entry, refund_attempt_count :one")
            .condition_expression("pending_refund_id = :refund")
            .expression_attribute_values(":entry", AttributeValue::Ss(vec![attempt_entry(attempt, at)]))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":refund", s(refund_id))
            .send()
            .await;
        super::applied(result)
    }

    /// Takes `attempt` out of the set: it ended with an answer after which nothing of it can
    /// still be running at the provider (it was turned away, refused, or answered).
    pub async fn end_refund_attempt(
        &self,
        tenant: TenantId,
        order: OrderId,
        attempt: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.order_item_update(tenant, order)
            .update_expression("DELETE refund_attempts :entry")
            .expression_attribute_values(":entry", AttributeValue::Ss(vec![attempt_entry(attempt, at)]))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(())
    }

    /// The calls for the refund in the order's slot that have not ended cleanly, and how many
    /// were ever noted (read strongly consistently).
    pub async fn refund_attempts(&self, tenant: TenantId, order: OrderId) -> Result<Attempts, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::order_pk(tenant, order)))
            .key(SK, s(keys::ORDER_SK))
            .consistent_read(true)
            .projection_expression("refund_attempts, refund_attempt_count")
            .send()
            .await
            .map_err(super::classify)?
            .item
            .unwrap_or_default();
        let open = item
            .get("refund_attempts")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let (at, id) = entry.split_once('|')?;
                let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
                Some((Uuid::parse_str(id).ok()?, at))
            })
            .collect();
        let count =
            item.get("refund_attempt_count").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Attempts { open, count })
    }

    /// Ends the refund in the order's slot as `Succeeded` or `Failed` and frees the slot; for a
    /// cancellation's refund, settles the order and counts it, all in one transaction.
    /// `order` is the order as read while the slot was held (its amounts cannot have moved).
    /// `Ok(false)`: someone else ended it already.
    pub async fn end_refund(
        &self,
        tenant: TenantId,
        order: &Order,
        refund: &RefundRecord,
        outcome: RefundStatus,
        settlement: Option<Settlement>,
        attempts_seen: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .update_at(keys::order_pk(tenant, order.id), keys::ORDER_SK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#refund", &refund.id)
            .expression_attribute_names("#refund_status", "status")
            .expression_attribute_values(":refund", s(&refund.id))
            .expression_attribute_values(":outcome", s(outcome.as_str()));
        let mut sets = vec!["refunds.#refund.#refund_status = :outcome", "#status = :order_status"];
        let mut condition = "pending_refund_id = :refund".to_owned();
        if let Some(count) = attempts_seen {
            // Ended for what a look at every call showed: only if no call started since.
            condition.push_str(" AND refund_attempt_count = :attempts");
            update = update.expression_attribute_values(":attempts", n(count));
        }
        // A success adds to what was refunded; a failure gives back what it had promised.
        let (order_status, add) = if outcome == RefundStatus::Succeeded {
            update = update.expression_attribute_values(":amount", n(refund.amount));
            (order.status_after_refund(refund.amount), "refunded_amount :amount")
        } else {
            update = update.expression_attribute_values(":minus", AttributeValue::N(format!("-{}", refund.amount)));
            (OrderStatus::RefundFailed, "committed_amount :minus")
        };
        update = update.expression_attribute_values(":order_status", status(order_status));
        if let Some(settlement) = settlement {
            sets.extend(["settled_by = :cancellation", "settled_outcome = :outcome"]);
            if settlement.previously_failed {
                condition.push_str(" AND settled_outcome = :failed");
                update = update.expression_attribute_values(":failed", s(RefundStatus::Failed.as_str()));
            } else {
                condition.push_str(" AND attribute_not_exists(settled_by)");
            }
            update = update.expression_attribute_values(":cancellation", s(settlement.cancellation.to_string()));
        }
        let update = update
            .update_expression(format!(
                "SET {} REMOVE pending_refund_id, refund_attempts, refund_attempt_count ADD {add}",
                sets.join(", ")
            ))
            .condition_expression(condition)
            .build()
            .expect("key and expression are set");
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if outcome == RefundStatus::Succeeded {
            items.extend(self.count_refund(tenant, order, refund.amount));
        }
        if let Some(settlement) = settlement {
            let amount = i64::try_from(refund.amount).unwrap_or(i64::MAX);
            let counters: &[(&str, i64)] = match (outcome, settlement.previously_failed) {
                (RefundStatus::Succeeded, false) => {
                    &[("refunds_succeeded", 1), ("refunded_amount", amount), ("orders_settled", 1)]
                }
                (RefundStatus::Succeeded, true) => {
                    &[("refunds_succeeded", 1), ("refunded_amount", amount), ("refunds_failed", -1)]
                }
                (_, false) => &[("refunds_failed", 1), ("orders_settled", 1)],
                // Failed again: it is already counted as failed.
                (_, true) => &[],
            };
            if !counters.is_empty() {
                items.push(self.count_on_cancellation(tenant, order.event_id, settlement.cancellation, counters));
            }
        }
        // A settlement counts on the cancellation at the time of writing, so a second delivery's
        // write is never the same request: under one token DynamoDB would only answer
        // `IdempotentParameterMismatch`. Its conditions alone keep it to once.
        let seen = attempts_seen.map_or_else(String::new, |count| format!(":{count}"));
        let operation = settlement.is_none().then(|| format!("end-refund:{}:{}{seen}", refund.id, outcome.as_str()));
        Ok(self.transact_as(items, operation.as_deref()).await?.is_none())
    }

    /// Settles an order that the cancellation owes nothing (policy `none`, or already refunded
    /// as far as the policy promises), exactly once, conditional on the order being as read.
    pub async fn settle_without_refund(
        &self,
        tenant: TenantId,
        order: &Order,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let update = self
            .update_at(keys::order_pk(tenant, order.id), keys::ORDER_SK)
            .update_expression("SET settled_by = :cancellation, settled_outcome = :succeeded")
            .condition_expression(
                "attribute_not_exists(settled_by) AND attribute_not_exists(pending_refund_id) \
                 AND refunded_amount = :refunded AND committed_amount = :refunded",
            )
            .expression_attribute_values(":cancellation", s(settlement.cancellation.to_string()))
            .expression_attribute_values(":succeeded", s(RefundStatus::Succeeded.as_str()))
            .expression_attribute_values(":refunded", n(order.refunded_amount))
            .build()
            .expect("key and expression are set");
        let counters: &[(&str, i64)] = if settlement.counts_as_refund {
            &[("orders_settled", 1), ("refunds_succeeded", 1)]
        } else {
            &[("orders_settled", 1)]
        };
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.count_on_cancellation(tenant, order.event_id, settlement.cancellation, counters),
        ];
        // No request token, as for a settling `end_refund`: the count carries the time.
        Ok(self.transact(items).await?.is_none())
    }

    /// An update of the order that sets its status (`#status`).
    fn order_update(
        &self,
        tenant: TenantId,
        order: OrderId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.order_item_update(tenant, order).expression_attribute_names("#status", "status")
    }

    fn order_item_update(
        &self,
        tenant: TenantId,
        order: OrderId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.update_item_at(keys::order_pk(tenant, order), keys::ORDER_SK)
    }
}

fn status(status: OrderStatus) -> AttributeValue {
    s(status.as_str())
}
