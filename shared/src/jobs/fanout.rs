//! A cancellation's fan-out and its resumer.
//!
//! The fan-out works in steps, each ending with a checkpoint on the cancellation record: first
//! it voids the event's open holds a page at a time, then it pages through the event's order log
//! (read strongly consistently, so no order committed before the cancel is missed) and sends one
//! refund message per order. It stops taking steps when its deadline is near and hands over to a
//! fresh message. A crash between a step and its checkpoint only repeats that step, which is
//! harmless: voiding and refunding are idempotent.
//!
//! The resumer runs on a schedule and restarts any cancellation that has made no progress for a
//! while: an unfinished fan-out gets a new message; a finished one whose orders are not all
//! settled gets a second pass that re-sends every refund not yet settled (a message lost, or one
//! that died in the dead-letter queue before its order was marked), counting nothing twice.

use crate::usecases::availability::Change;
use std::time::Duration;

use tokio::time::Instant;

use super::JobError;
use super::batch::BatchPlan;
use crate::deps::Deps;
use crate::domain::cancellation::{Cancellation, CancellationStatus};
use crate::domain::ids::TenantId;
use crate::domain::reservation::ReservationStatus;
use crate::messages::{FanOutMessage, RefundMessage, RefundTarget, send, send_batch};
use crate::store::cancellation::Checkpoint;
use crate::usecases::settlement::finish_if_done;

/// Orders per step, and so per `SendMessageBatch` (SQS's maximum is 10).
pub const ORDERS_PER_STEP: usize = 10;
const _: () = assert!(ORDERS_PER_STEP <= 10, "one SendMessageBatch per step");
/// Holds voided per step…
pub const HOLDS_PER_STEP: usize = 25;
/// …this many at a time.
const VOIDS_AT_ONCE: usize = 5;
/// What one step may take at worst (a query, 25 transactions or a batch send, a checkpoint; after
/// the last page of holds also the list's copy of the counts, at most 3 s); no step starts with
/// less than this left before the deadline.
pub const STEP_BUDGET: Duration = Duration::from_secs(13);

/// The fan-out queue's consumer (one message per batch). A message that stops is redelivered
/// and resumes at its checkpoint.
pub const QUEUE: BatchPlan = BatchPlan {
    at_once: 1,
    start_budget: Duration::ZERO,
    on_failure: "fan-out stopped; SQS will redeliver it and it resumes at its checkpoint",
};

/// Works through one cancellation's fan-out, step by step, until it is done or its time is up.
pub async fn fan_out(deps: &Deps, message: &FanOutMessage, deadline: Instant) -> Result<(), JobError> {
    let tenant = message.tenant_id;
    let mut steps = 0;
    loop {
        let Some(cancellation) = deps.store.get_cancellation(tenant, message.event_id).await? else { return Ok(()) };
        if cancellation.id != message.cancellation_id || cancellation.status != CancellationStatus::InProgress {
            return Ok(());
        }
        if cancellation.fanout_done {
            return Ok(finish_if_done(deps, tenant, message.event_id).await?);
        }
        if Instant::now() + STEP_BUDGET > deadline {
            // Hand over to a fresh invocation; if this send fails, SQS redelivers this message.
            send(deps.sqs.as_ref(), deps.queues.cancellation.as_deref(), message, 0).await?;
            return Ok(());
        }
        let step = if cancellation.holds_done {
            enqueue_orders(deps, tenant, &cancellation).await?
        } else {
            void_holds(deps, tenant, &cancellation).await?
        };
        steps += 1;
        if deps.fanout_stop_after_steps.is_some_and(|limit| steps >= limit) {
            // Test hook: die between a step and its checkpoint, like a crash would.
            return Err(JobError::Failed(format!("stopped by FANOUT_STOP_AFTER_STEPS after {steps} steps")));
        }
        if !deps.store.checkpoint_fanout(tenant, &cancellation, step, crate::domain::now()).await? {
            // Another run checkpointed first; it carries on from there.
            return Ok(());
        }
    }
}

async fn void_holds(deps: &Deps, tenant: TenantId, cancellation: &Cancellation) -> Result<Checkpoint, JobError> {
    let start = cancellation.fanout_cursor.as_deref().map(decode_cursor).transpose()?;
    let page = deps.store.held_reservations_page(tenant, cancellation.event_id, HOLDS_PER_STEP, start).await?;
    let now = crate::domain::now();
    let mut voided = 0;
    // A few at a time: every void also updates the same ticket-type items.
    for group in page.items.chunks(VOIDS_AT_ONCE) {
        let voids = group.iter().map(|hold| deps.store.end_hold(tenant, hold, ReservationStatus::Cancelled, now));
        for outcome in futures_util::future::join_all(voids).await {
            // Already ended (expired, released, voided by an earlier run): nothing to do.
            voided += u64::from(outcome?);
        }
    }
    if page.next.is_none() {
        // The last page of holds (again, if a redelivery repeats it): lists show the event's
        // counts with every ticket back.
        crate::usecases::availability::follow(deps, tenant, cancellation.event_id, Change::Cancellation).await;
    }
    Ok(Checkpoint { cursor: page.next.as_ref().map(encode_cursor), holds_voided: voided, orders_enqueued: 0 })
}

async fn enqueue_orders(deps: &Deps, tenant: TenantId, cancellation: &Cancellation) -> Result<Checkpoint, JobError> {
    let start = cancellation.fanout_cursor.as_deref().map(decode_cursor).transpose()?;
    let page = deps.store.order_ids_page(tenant, cancellation.event_id, ORDERS_PER_STEP, start).await?;
    let mut orders = page.items.clone();
    if cancellation.fanout_resumed {
        // A resumed pass re-sends only what is not settled (refunded, or failed for good).
        let reads = orders.iter().map(|id| deps.store.get_order(tenant, *id));
        let settled: Vec<bool> = futures_util::future::join_all(reads)
            .await
            .into_iter()
            .map(|read| read.map(|order| order.is_some_and(|o| o.settled_by == Some(cancellation.id))))
            .collect::<Result<_, _>>()?;
        orders = orders.into_iter().zip(settled).filter(|(_, settled)| !settled).map(|(id, _)| id).collect();
    }
    let refunds: Vec<RefundMessage> = orders
        .iter()
        .map(|order| RefundMessage {
            tenant_id: tenant,
            event_id: cancellation.event_id,
            order_id: *order,
            refund: RefundTarget::Cancellation(cancellation.id),
        })
        .collect();
    send_batch(deps.sqs.as_ref(), deps.queues.refunds.as_deref(), &refunds).await?;
    // The orders were counted by the first pass.
    let counted = if cancellation.fanout_resumed { 0 } else { refunds.len() as u64 };
    Ok(Checkpoint { cursor: page.next.as_ref().map(encode_cursor), holds_voided: 0, orders_enqueued: counted })
}

/// The resumer (a schedule): restarts every cancellation that has not moved for the stall
/// period. Returns how many it restarted.
pub async fn resume_stalled(deps: &Deps, deadline: Instant) -> Result<u64, JobError> {
    let mut resumed = 0;
    for (tenant, cancellation) in deps.store.active_cancellations().await? {
        let now = crate::domain::now();
        if !cancellation.is_stalled(now, deps.cancellation_stall) {
            continue;
        }
        if Instant::now() + STEP_BUDGET > deadline {
            break; // the next run takes the rest
        }
        if deps.store.restart_fanout(tenant, &cancellation, now).await? {
            crate::monitoring::count(crate::monitoring::Metric::CancellationsStalled, 1);
            let message =
                FanOutMessage { tenant_id: tenant, event_id: cancellation.event_id, cancellation_id: cancellation.id };
            send(deps.sqs.as_ref(), deps.queues.cancellation.as_deref(), &message, 0).await?;
            tracing::warn!(%tenant, event = %cancellation.event_id, fanout_done = cancellation.fanout_done, "stalled cancellation resumed");
            resumed += 1;
        }
    }
    Ok(resumed)
}

fn encode_cursor(key: &crate::cursor::PageKey) -> String {
    let strings: std::collections::BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    serde_json::to_string(&strings).expect("strings serialize")
}

fn decode_cursor(raw: &str) -> Result<crate::cursor::PageKey, JobError> {
    let strings: std::collections::BTreeMap<String, String> = serde_json::from_str(raw)?;
    Ok(strings.into_iter().map(|(k, v)| (k, aws_sdk_dynamodb::types::AttributeValue::S(v))).collect())
}
