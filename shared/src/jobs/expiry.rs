//! Holds end on time through two independent paths sharing one idempotent transaction
//! ([`crate::store::Store::end_hold`]): a delay message per hold on the expiry queue, and a
//! scheduled sweep over the expiry index. Either alone returns the tickets.

use tokio::time::{Duration, Instant};

use super::JobError;
use super::batch::BatchPlan;
use crate::deps::Deps;
use crate::messages::{ExpiryMessage, send};
use crate::store::StoreError;
use crate::usecases::{availability, holds};

/// Holds the sweep reads per batch (per expiry shard).
const SWEEP_BATCH: usize = 200;
/// Holds the sweep ends at once: a backlog clears quickly without flooding one partition.
const SWEEP_CONCURRENCY: usize = 8;
/// No expiry starts with less time left than this: one database call at its worst (6 s, see
/// `aws_clients`) and the batch's status updates (at most 3 s each, side by side), so the
/// function is never cut off mid-way.
const SWEEP_STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(9);

/// The expiry queue's consumer: each message on its own, one after another. Only failed ones
/// are reported, so SQS redelivers just those (and, after five tries, moves them to the DLQ).
pub const QUEUE: BatchPlan =
    BatchPlan { at_once: 1, start_budget: Duration::ZERO, on_failure: "expiry message failed; SQS will redeliver it" };

/// Ends the message's hold if it is due; a message for a hold longer than SQS's longest delay
/// goes back on the queue for the remainder.
pub async fn handle(deps: &Deps, message: ExpiryMessage) -> Result<(), JobError> {
    let now = crate::domain::now();
    if now < message.expires_at {
        return Ok(send(deps.sqs.as_ref(), deps.queues.expiry.as_deref(), &message, message.delay_seconds(now)).await?);
    }
    holds::expire(deps, message.tenant_id, message.reservation_id).await?;
    Ok(())
}

/// The scheduled safety net: ends every hold past its expiry that is still held, batch after
/// batch, [`SWEEP_CONCURRENCY`] at a time, and brings each batch's events up to date; it starts
/// no expiry once its time is nearly spent (the next run takes the rest). A hold that fails to
/// end does not stop the others; the run then reports the failure, so the function's error
/// alarm sees it.
pub async fn sweep(deps: &Deps, deadline: Instant) -> Result<usize, StoreError> {
    use futures_util::StreamExt;
    let mut expired = 0;
    let mut failure = None;
    let time_left = || Instant::now() + SWEEP_STOP_BEFORE_DEADLINE < deadline;
    while time_left() {
        let due = match deps.store.expired_holds(crate::domain::now(), SWEEP_BATCH).await {
            Ok(due) => due,
            Err(error) => {
                failure.get_or_insert(error);
                break;
            }
        };
        let outcomes: Vec<_> = futures_util::stream::iter(due)
            .take_while(|_| std::future::ready(time_left()))
            .map(|(tenant, hold)| async move { (tenant, hold.id, holds::end_if_due(deps, tenant, hold.id).await) })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect()
            .await;
        let mut events = std::collections::BTreeSet::new();
        for (tenant, hold, outcome) in outcomes {
            match outcome {
                Ok(Some(event)) => {
                    expired += 1;
                    events.insert((tenant, event));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, %hold, "the sweep could not end this hold; the next run retries it");
                    failure.get_or_insert(error);
                }
            }
        }
        // Once per event that got tickets back, before the next batch (a run cut short loses none).
        let ended = events.len();
        futures_util::stream::iter(events)
            .for_each_concurrent(SWEEP_CONCURRENCY, |(tenant, event)| {
                availability::follow(deps, tenant, event, availability::Change::Sales)
            })
            .await;
        // Nothing ended: nothing is due, or only holds the index has not caught up with.
        if ended == 0 {
            break;
        }
    }
    if expired > 0 {
        tracing::info!(expired, "sweep expired holds");
    }
    failure.map_or(Ok(expired), Err)
}
