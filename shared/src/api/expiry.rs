//! Holds end on time through two independent paths sharing one idempotent transaction
//! ([`crate::store::Store::end_hold`]): a delay message per hold on the expiry queue, and a
//! scheduled sweep over the expiry index. Either alone returns the tickets.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};
use uuid::Uuid;

use super::Deps;
use crate::domain::reservation::Reservation;

/// SQS caps a message's delay at 15 minutes; longer holds are re-sent with the remainder.
const MAX_DELAY_SECONDS: i64 = 900;
/// How long a hold's answer may wait for its expiry message. The hold is committed by then and
/// the sweep is the safety net, so a slow or frozen queue service costs at most this, never a
/// timed-out function (whose client would retry and could hold twice once the key lapses).
pub const EXPIRY_SEND_BUDGET: Duration = Duration::from_millis(1500);
/// Holds the sweep reads per batch (per expiry shard).
const SWEEP_BATCH: usize = 200;
/// Holds the sweep ends at once: a backlog clears quickly without flooding one partition.
const SWEEP_CONCURRENCY: usize = 8;
/// No expiry starts with less time left than this: one database call at its worst (6 s, see
/// `aws_clients`) and the batch's status updates (at most 3 s each, side by side), so the
/// function is never cut off mid-way.
const SWEEP_STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(9);

/// The expiry queue's message: which hold, and when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryMessage {
    pub tenant_id: Uuid,
    pub reservation_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("no expiry queue is configured (EXPIRY_QUEUE_URL)")]
    NoQueue,
    #[error("message body is not an expiry message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("SQS send failed: {0}")]
    Send(String),
    #[error("expiring the hold failed: {0}")]
    Expire(#[from] crate::error::ApiError),
}

/// Queues the hold's expiry. A failure is logged and left to the sweep, which is exactly the
/// case it exists for; the hold itself is already safely placed.
pub async fn schedule(deps: &Deps, tenant: Uuid, hold: &Reservation) {
    let message = ExpiryMessage { tenant_id: tenant, reservation_id: hold.id, expires_at: hold.expires_at };
    match tokio::time::timeout(EXPIRY_SEND_BUDGET, send(deps, &message, crate::domain::now())).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, reservation = %hold.id, "expiry message not sent; the sweep will expire this hold");
        }
        Err(_) => tracing::warn!(
            reservation = %hold.id,
            budget = ?EXPIRY_SEND_BUDGET,
            "expiry message not confirmed in time; the sweep will expire this hold if it was not sent"
        ),
    }
}

async fn send(deps: &Deps, message: &ExpiryMessage, now: DateTime<Utc>) -> Result<(), ExpiryError> {
    let queue = deps.queues.expiry.as_deref().ok_or(ExpiryError::NoQueue)?;
    let delay = delay_seconds(message.expires_at, now);
    deps.sqs
        .send_message()
        .queue_url(queue)
        .message_body(serde_json::to_string(message)?)
        .delay_seconds(i32::try_from(delay).unwrap_or(0))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ExpiryError::Send(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))
}

/// Whole seconds until `expires_at`, rounded up so the message never arrives early (an early
/// message would only be sent again), at most SQS's longest delay.
fn delay_seconds(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let millis = (expires_at - now).num_milliseconds().max(0);
    ((millis + 999) / 1000).min(MAX_DELAY_SECONDS)
}

/// The expiry queue's consumer. Each message is handled on its own; only failed ones are
/// reported, so SQS redelivers just those (and, after five tries, moves them to the DLQ).
pub async fn handle_batch(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if let Err(error) = process(deps, record.body.as_deref().unwrap_or_default()).await {
            tracing::warn!(%error, message_id = %id, "expiry message failed; SQS will redeliver it");
            response.add_failure(id);
        }
    }
    response
}

async fn process(deps: &Deps, body: &str) -> Result<(), ExpiryError> {
    let message: ExpiryMessage = serde_json::from_str(body)?;
    let now = crate::domain::now();
    if now < message.expires_at {
        // Not due yet (a hold longer than SQS's longest delay): wait out the remainder.
        return send(deps, &message, now).await;
    }
    super::reservations::expire(deps, message.tenant_id, message.reservation_id).await?;
    Ok(())
}

/// The scheduled safety net: ends every hold past its expiry that is still held, batch after
/// batch, [`SWEEP_CONCURRENCY`] at a time, and brings each batch's events up to date; it starts
/// no expiry once its time is nearly spent (the next run takes the rest). A hold that fails to
/// end does not stop the others; the run then reports the failure, so the function's error
/// alarm sees it.
pub async fn sweep(deps: &Deps, deadline: Instant) -> Result<usize, crate::error::ApiError> {
    use futures_util::StreamExt;
    let mut expired = 0;
    let mut failure = None;
    let time_left = || Instant::now() + SWEEP_STOP_BEFORE_DEADLINE < deadline;
    while time_left() {
        let due = match deps.store.expired_holds(crate::domain::now(), SWEEP_BATCH).await {
            Ok(due) => due,
            Err(error) => {
                failure.get_or_insert(error.into());
                break;
            }
        };
        let outcomes: Vec<_> = futures_util::stream::iter(due)
            .take_while(|_| std::future::ready(time_left()))
            .map(|(tenant, hold)| async move {
                (tenant, hold.id, super::reservations::end_if_due(deps, tenant, hold.id).await)
            })
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
            .for_each_concurrent(SWEEP_CONCURRENCY, |(tenant, event)| super::availability::follow(deps, tenant, event))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_so_a_message_never_arrives_early() {
        let now = Utc::now();
        let at = |ms: i64| now + chrono::Duration::milliseconds(ms);
        assert_eq!(delay_seconds(at(1), now), 1);
        assert_eq!(delay_seconds(at(59_001), now), 60);
        assert_eq!(delay_seconds(at(60_000), now), 60);
        assert_eq!(delay_seconds(at(-5), now), 0, "already due");
        assert_eq!(delay_seconds(at(3_600_000), now), 900, "SQS's longest delay; the rest is sent again");
    }
}
