//! The refund queue's consumer: one order's refund per message.
//!
//! A message names what to refund, never how much: a single refund by the id of the record the
//! API accepted on the order, or a cancellation's refund by the cancellation, whose amount is
//! computed here from the order as it stands when the refund starts (what the policy promises
//! minus what the buyer already has). Every step is a conditional write on the order, so
//! duplicates, redeliveries, redrives and crashes at any point never refund twice, and each
//! (cancellation, order) pair is settled and counted once.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::JobError;
use super::batch::{BatchPlan, Delivery};
use crate::deps::Deps;
use crate::domain::cancellation::{Cancellation, RefundPolicy};
use crate::domain::ids::{CancellationId, OrderId, TenantId};
use crate::domain::reservation::{Order, RefundRecord, RefundStatus};
use crate::messages::{RefundMessage, RefundTarget};
use crate::monitoring::{Metric, count};
use crate::payments::{PaymentClient, PaymentError, RefundOutcome};
use crate::store::refunds::Settlement;
use crate::usecases::settlement::{finish_if_done, notify};

/// The refund queue's `maxReceiveCount`: the delivery that fails for the last time marks the
/// order `REFUND_FAILED` before SQS moves the message to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;
/// The refund queue's event source `BatchSize`: the whole batch runs side by side.
pub const BATCH_SIZE: usize = 10;
/// Time kept, after the provider's answer, to record the outcome in DynamoDB.
pub const RECORDING_MARGIN: Duration = Duration::from_secs(3);
/// Stripe keeps an idempotency key for at least 24 hours; a refund older than this is looked up
/// before its key is used again.
const PROVIDER_KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(23);
/// Longer than any call to the provider lasts: a refund function runs at most 60 s, and the
/// provider finishes what it was sent well within a minute after that. A call not ended cleanly
/// (its consumer died, or it may still be running there) counts as running for this long.
const CONCURRENT_ATTEMPT_WINDOW: chrono::Duration = chrono::Duration::minutes(2);
/// A single refund's message goes out just before its record is written; a message that finds
/// no record waits this long for it before it is dropped as a refund that was refused.
const RECORD_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// The idempotency key (and record id) of a cancellation's refund of one order.
pub fn cancellation_refund_id(cancellation: CancellationId, order: OrderId) -> String {
    format!("cancel-{cancellation}-{order}")
}

/// After a delivery that fails, SQS moves the message to the dead-letter queue.
fn is_last(delivery: Delivery) -> bool {
    delivery.receives >= MAX_RECEIVES
}

/// The worst case of one message: one provider attempt and the writes around it.
pub fn message_budget(deps: &Deps) -> Duration {
    deps.payments.as_ref().map_or(Duration::ZERO, crate::payments::PaymentClient::attempt_timeout) + RECORDING_MARGIN
}

/// The refund queue's consumer. The batch's messages run side by side, each only if one
/// worst-case provider call still fits before the deadline; the rest are reported as failed
/// (SQS redelivers them) rather than cut off by the timeout mid-way.
pub fn queue(deps: &Deps) -> BatchPlan {
    BatchPlan {
        at_once: BATCH_SIZE,
        start_budget: message_budget(deps),
        on_failure: "refund not finished; SQS will redeliver it",
    }
}

pub async fn process(
    deps: &Deps,
    message: &RefundMessage,
    delivery: Delivery,
    deadline: Instant,
) -> Result<(), JobError> {
    match &message.refund {
        RefundTarget::Single(refund_id) => single(deps, message, refund_id, delivery, deadline).await,
        RefundTarget::Cancellation(cancellation) => {
            for_cancellation(deps, message, *cancellation, delivery, deadline).await
        }
    }
}

async fn single(
    deps: &Deps,
    message: &RefundMessage,
    refund_id: &str,
    delivery: Delivery,
    deadline: Instant,
) -> Result<(), JobError> {
    let tenant = message.tenant_id;
    let Some(order) = deps.store.get_order(tenant, message.order_id).await? else {
        tracing::warn!(order = %message.order_id, "refund for an unknown order dropped");
        return Ok(());
    };
    let Some(record) = order.refunds.get(refund_id).cloned() else {
        let young = delivery.sent_at.is_none_or(|sent| crate::domain::now() - sent < RECORD_GRACE);
        if young {
            return Err(JobError::Failed("the refund is not recorded on the order yet".into()));
        }
        tracing::info!(refund = refund_id, "a refund that was never accepted dropped");
        return Ok(());
    };
    if record.status != RefundStatus::Pending {
        return Ok(()); // ended already
    }
    apply(deps, tenant, order, &record, None, is_last(delivery), deadline).await
}

async fn for_cancellation(
    deps: &Deps,
    message: &RefundMessage,
    cancellation_id: CancellationId,
    delivery: Delivery,
    deadline: Instant,
) -> Result<(), JobError> {
    let tenant = message.tenant_id;
    let Some(cancellation) = deps.store.get_cancellation(tenant, message.event_id).await? else { return Ok(()) };
    if cancellation.id != cancellation_id {
        return Ok(());
    }
    let my_id = cancellation_refund_id(cancellation.id, message.order_id);
    // Each pass either finishes, or finishes another refund of the order that stood in the way.
    for _ in 0..4 {
        let Some(order) = deps.store.get_order(tenant, message.order_id).await? else { return Ok(()) };
        if order.settled_by == Some(cancellation.id) && order.settled_outcome == Some(RefundStatus::Succeeded) {
            after_settling(deps, tenant, &cancellation, &order).await?;
            if order.refunds.get(&my_id).is_some_and(|r| r.status == RefundStatus::Succeeded) {
                // A redelivery after a crash between the refund's end and this status update.
                deps.store.clear_failures(tenant, cancellation.event_id).await?;
            }
            return Ok(());
        }
        let settlement = Settlement {
            cancellation: cancellation.id,
            previously_failed: order.settled_by == Some(cancellation.id),
            counts_as_refund: cancellation.refund_policy != RefundPolicy::None,
        };
        if let Some(busy) = order.pending_refund_id.clone() {
            let record = order
                .refunds
                .get(&busy)
                .cloned()
                .ok_or_else(|| JobError::Failed("pending refund without a record".into()))?;
            if busy == my_id {
                let outcome =
                    apply(deps, tenant, order.clone(), &record, Some(settlement), is_last(delivery), deadline).await;
                return settled(deps, tenant, &cancellation, &order, outcome, settlement, delivery).await;
            }
            // A single refund is at the provider: finish it first, so the amount owed is known.
            // (Its own message may be calling the provider too: `quiet` sees that.)
            apply(deps, tenant, order, &record, None, is_last(delivery), deadline).await?;
            continue;
        }
        let waiting = order.waiting_refunds().next().cloned();
        if let Some(waiting) = waiting {
            apply(deps, tenant, order, &waiting, None, is_last(delivery), deadline).await?;
            continue;
        }
        let owed = cancellation.still_owed(order.totals.total, order.refunded_amount);
        if owed == 0 {
            if settlement.previously_failed {
                return Ok(()); // refunded meanwhile as far as the policy promises; counted already
            }
            if deps.store.settle_without_refund(tenant, &order, settlement).await? {
                return after_settling(deps, tenant, &cancellation, &order).await;
            }
            continue;
        }
        let record = RefundRecord {
            id: my_id.clone(),
            amount: owed,
            status: RefundStatus::Pending,
            reason: cancellation.reason.clone(),
            requested_by: cancellation.requested_by.clone(),
            created_at: crate::domain::now(),
            cancellation_id: Some(cancellation.id),
        };
        ensure_time_for_a_call(deps, deadline, is_last(delivery))?;
        if deps.store.begin_cancellation_refund(tenant, &order, &record).await? {
            // The write's conditions pin every amount, so the order now is the one read plus this refund.
            let mut order = order;
            order.pending_refund_id = Some(record.id.clone());
            order.committed_amount += record.amount;
            order.refunds.insert(record.id.clone(), record.clone());
            let outcome =
                apply(deps, tenant, order.clone(), &record, Some(settlement), is_last(delivery), deadline).await;
            return settled(deps, tenant, &cancellation, &order, outcome, settlement, delivery).await;
        }
    }
    Err(JobError::Failed("the order kept changing; will retry".into()))
}

/// After a cancellation's own refund ran: the holder hears about it and the cancellation may
/// be finished once the order is settled either way (refunded, or failed for the last time).
async fn settled(
    deps: &Deps,
    tenant: TenantId,
    cancellation: &Cancellation,
    order: &Order,
    outcome: Result<(), JobError>,
    settlement: Settlement,
    delivery: Delivery,
) -> Result<(), JobError> {
    if outcome.is_ok() || is_last(delivery) {
        after_settling(deps, tenant, cancellation, order).await?;
        if outcome.is_ok() && settlement.previously_failed {
            // The refund that had failed for good succeeded now (a redrive): maybe no failure is left.
            deps.store.clear_failures(tenant, cancellation.event_id).await?;
        }
    }
    outcome
}

async fn after_settling(
    deps: &Deps,
    tenant: TenantId,
    cancellation: &Cancellation,
    order: &Order,
) -> Result<(), JobError> {
    notify(deps, tenant, cancellation, order).await?;
    Ok(finish_if_done(deps, tenant, cancellation.event_id).await?)
}

/// Runs one refund to its end: takes the order's refund slot (unless this refund holds it
/// already), asks the provider with the refund's own idempotency key, and records the outcome.
///
/// Only the provider's word ends a refund as failed, and only on the last delivery: a refusal, a
/// `failed` status, or no such refund in its list of the payment's refunds when no call for it
/// can still be running. The same list turns a refund whose answer was lost into a success. An
/// outcome that stays open (a 5xx or a timeout, which may still complete at the provider;
/// `pending`; a provider that cannot be reached) keeps the slot and the amount reserved, so no
/// second refund can pay the buyer again; the order stays `REFUND_PENDING` until a later
/// delivery (the cancellation resumer's, or a dead-letter redrive) asks again.
async fn apply(
    deps: &Deps,
    tenant: TenantId,
    order: Order,
    record: &RefundRecord,
    settlement: Option<Settlement>,
    last: bool,
    deadline: Instant,
) -> Result<(), JobError> {
    ensure_time_for_a_call(deps, deadline, last)?;
    let order = if order.pending_refund_id.as_deref() == Some(record.id.as_str()) {
        order
    } else {
        if !deps.store.begin_single_refund(tenant, &order, &record.id).await? {
            return Err(JobError::Failed(format!("order {} is busy with another refund; will retry", order.id)));
        }
        // Read again with the slot held: the amounts cannot move until it is released.
        deps.store.get_order(tenant, order.id).await?.ok_or_else(|| JobError::Failed("order vanished".into()))?
    };
    let payments = deps.payments.as_ref().ok_or_else(|| JobError::Failed("no payment provider configured".into()))?;
    let attempt = Uuid::new_v4();
    let started = crate::domain::now();
    if !deps.store.mark_refund_attempt(tenant, order.id, &record.id, attempt, started).await? {
        return Err(JobError::Failed(format!("refund {} left the order's slot meanwhile; will look again", record.id)));
    }
    let call_deadline = deadline.checked_sub(RECORDING_MARGIN).unwrap_or(deadline);
    // The last delivery keeps time for one look at the provider's list after the call.
    let lookup_time = payments.attempt_timeout();
    let create_deadline = match call_deadline.checked_sub(lookup_time) {
        Some(earlier) if last && Instant::now() + lookup_time <= earlier => earlier,
        _ => call_deadline,
    };
    let known = if started - record.created_at > PROVIDER_KEY_LIFETIME {
        // The provider may have forgotten the key: asking again with it could pay a second time.
        match payments.find_refund(&order.payment_reference, &record.id, create_deadline).await {
            Ok(found) => found.map(|refund| (Verdict::of(&refund, record), true)),
            // Nothing was sent: this attempt cannot be running.
            Err(error) => Some((Verdict::Open(format!("an old refund could not be looked up: {error}")), false)),
        }
    } else {
        None
    };
    // `maybe_running`: after this answer the provider may still make (or finish) the refund.
    let (mut verdict, maybe_running) = match known {
        Some(known) => known,
        None => match payments.refund(&order.payment_reference, record.amount, &record.id, create_deadline).await {
            // A refund object exists: even `pending` or `failed`, it is the provider's to settle.
            Ok(refund) => (Verdict::of(&refund, record), true),
            Err(PaymentError::Refused { status, message }) => {
                (Verdict::Refused(format!("the provider refused the refund ({status}): {message}")), false)
            }
            Err(PaymentError::Unavailable { reason, maybe_running }) => {
                (Verdict::Open(format!("outcome unknown, will ask again: {reason}")), maybe_running)
            }
        },
    };
    if !maybe_running {
        deps.store.end_refund_attempt(tenant, order.id, attempt, started).await?;
    }
    // Set when the refund is failed for being absent from the list: the count of calls seen.
    let mut absent_after = None;
    if last && let Verdict::Open(open) = &verdict {
        verdict = match payments.find_refund(&order.payment_reference, &record.id, call_deadline).await {
            Ok(Some(found)) => Verdict::of(&found, record),
            Ok(None) if !maybe_running => match quiet(deps, tenant, &order, attempt).await? {
                Some(count) => {
                    absent_after = Some(count);
                    Verdict::Refused(format!(
                        "the provider holds no such refund and no call for it is running ({open})"
                    ))
                }
                None => Verdict::Open(format!("{open}; not in the provider's list, but another call may be running")),
            },
            Ok(None) => Verdict::Open(format!("{open}; not in the provider's list yet, but the call may still run")),
            Err(lookup) => Verdict::Open(format!("{open}; the provider's list could not be read either: {lookup}")),
        };
    }
    let refusal = match verdict {
        Verdict::Succeeded => {
            if deps.store.end_refund(tenant, &order, record, RefundStatus::Succeeded, settlement, None).await? {
                count(Metric::RefundsSucceeded, 1);
            } else {
                let now = deps.store.get_order(tenant, order.id).await?;
                let recorded = now.as_ref().and_then(|o| o.refunds.get(&record.id)).map(|r| r.status);
                if recorded != Some(RefundStatus::Succeeded) {
                    // Cannot happen while only the provider's word ends a refund as failed; if it
                    // does, the money is back with the buyer and a person must correct the record.
                    tracing::error!(order = %order.id, refund = %record.id, ?recorded, "refund paid at the provider but recorded otherwise");
                }
            }
            return Ok(());
        }
        Verdict::Open(reason) => {
            count(Metric::RefundsPending, 1);
            if last {
                tracing::error!(order = %order.id, refund = %record.id, %reason, "refund outcome still open on the last delivery; the order stays REFUND_PENDING until it is asked again");
            }
            return Err(JobError::Failed(reason));
        }
        Verdict::Refused(refusal) => refusal,
    };
    if last {
        let ended =
            deps.store.end_refund(tenant, &order, record, RefundStatus::Failed, settlement, absent_after).await?;
        if ended {
            count(Metric::RefundsFailed, 1);
        }
        if !ended && absent_after.is_some() {
            return Err(JobError::Failed(format!("a call for refund {} started meanwhile; will ask again", record.id)));
        }
        tracing::error!(order = %order.id, refund = %record.id, reason = %refusal, "refund refused for the last time; the order reads REFUND_FAILED");
    }
    Err(JobError::Failed(refusal))
}

/// When no other call for the order's refund can still be running, the count of calls noted so
/// far (the failing write is conditioned on it, so a call that starts after this look stops it).
/// A call counts as running until it ends cleanly or is older than any call can last.
async fn quiet(deps: &Deps, tenant: TenantId, order: &Order, attempt: Uuid) -> Result<Option<u64>, JobError> {
    let attempts = deps.store.refund_attempts(tenant, order.id).await?;
    let now = crate::domain::now();
    let busy = attempts.open.iter().any(|(id, started)| *id != attempt && now - *started < CONCURRENT_ATTEMPT_WINDOW);
    Ok((!busy).then_some(attempts.count))
}

/// What the provider's answer means for one refund.
enum Verdict {
    Succeeded,
    /// The provider will not pay it: a refusal, a `failed` status, or no such refund.
    Refused(String),
    /// Not known yet: ask again later with the same key.
    Open(String),
}

impl Verdict {
    fn of(refund: &crate::payments::Refund, record: &RefundRecord) -> Self {
        if refund.amount != record.amount {
            // Same key, other amount: not the refund this record asked for. A person must look.
            tracing::error!(refund = %record.id, provider_refund = %refund.id, asked = record.amount, found = refund.amount, "the provider's refund under this key is of another amount");
            return Self::Open(format!(
                "the provider's refund {} is of {}, not {}",
                refund.id, refund.amount, record.amount
            ));
        }
        match refund.outcome() {
            RefundOutcome::Succeeded => Self::Succeeded,
            RefundOutcome::Pending => Self::Open(format!("refund {} is pending at the provider", refund.id)),
            RefundOutcome::Failed => {
                Self::Refused(format!("the provider reports refund {} as {}", refund.id, refund.status))
            }
        }
    }
}

/// Nothing is started (no slot taken, nothing recorded) without time for one whole provider
/// attempt and the writes after it, and on the last delivery one more for the provider's list.
fn ensure_time_for_a_call(deps: &Deps, deadline: Instant, last: bool) -> Result<(), JobError> {
    let lookup = if last {
        deps.payments.as_ref().map_or(Duration::ZERO, PaymentClient::attempt_timeout)
    } else {
        Duration::ZERO
    };
    if Instant::now() + message_budget(deps) + lookup > deadline {
        return Err(JobError::Failed("no time left for a provider call; SQS redelivers it".into()));
    }
    Ok(())
}
