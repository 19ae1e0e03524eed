//! The scheduled job that moves events on time (`domain::lifecycle` says which move is due).
//! It finds due events through the lifecycle index, never a scan; each move is a conditional
//! write on the version it read, so a person's change in between, or a second run, makes it a
//! no-op. A run cut short leaves the rest due in the index, and the next run takes them.

use std::collections::HashSet;

use futures_util::StreamExt;
use tokio::time::{Duration, Instant};

use crate::deps::Deps;
use crate::domain::event::Event;
use crate::domain::ids::{EventId, TenantId};
use crate::domain::lifecycle::{due_move, next_look_at};
use crate::store::StoreError;

/// Events the job reads per batch (per index shard).
const BATCH: usize = 100;
/// Events moved at once.
const CONCURRENCY: usize = 8;
/// No event is started with less time left than this: a partition read and a transaction at
/// their worst (6 s each, see `aws_clients`), so the function is never cut off mid-way.
const STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(13);
/// Moves one event takes in one run at most: a run late by its whole life takes
/// ON_SALE → SALES_PAUSED → IN_PROGRESS → COMPLETED, plus one re-read after a lost race.
const MOVES_PER_EVENT: usize = 5;
/// An event the job failed on is looked at again this much later (its error is logged and fails
/// the run, so the alarm sees it).
const RETRY_FAILED_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// Works through the events due now, batch after batch, until none is left or time is short.
/// Returns how many moves it made. An event that fails does not stop the others and is looked at
/// again a minute later; the run then reports the failure, so the function's error alarm sees it.
pub async fn advance(deps: &Deps, deadline: Instant) -> Result<usize, StoreError> {
    let time_left = || Instant::now() + STOP_BEFORE_DEADLINE < deadline;
    let mut moved = 0;
    let mut failure = None;
    let mut seen = HashSet::new();
    while time_left() {
        let due = match deps.store.events_due(crate::domain::now(), BATCH).await {
            Ok(due) => due,
            Err(error) => {
                failure.get_or_insert(error);
                break;
            }
        };
        // What this run already handled and the index still shows (it lags the table) or
        // failed: never twice in one run.
        let fresh: Vec<_> = due.into_iter().filter(|entry| seen.insert(*entry)).collect();
        if fresh.is_empty() {
            break;
        }
        let outcomes: Vec<_> = futures_util::stream::iter(fresh)
            .take_while(|_| std::future::ready(time_left()))
            .map(|(tenant, event)| async move { (tenant, event, advance_one(deps, tenant, event).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (tenant, event, outcome) in outcomes {
            match outcome {
                Ok(made) => moved += made,
                Err(error) => {
                    tracing::error!(%error, %event, "the lifecycle job could not advance this event; it retries in a minute");
                    let later = crate::domain::now() + RETRY_FAILED_AFTER;
                    if let Err(error) = deps.store.postpone_look(tenant, event, later).await {
                        tracing::warn!(%error, %event, "could not postpone the event; the next run retries it first");
                    }
                    failure.get_or_insert(error);
                }
            }
        }
    }
    if moved > 0 {
        tracing::info!(moved, "events moved on time");
    }
    failure.map_or(Ok(moved), Err)
}

/// Takes every move due for one event, one conditional write each, then files it under the time
/// of its next move. Returns the moves made.
async fn advance_one(deps: &Deps, tenant: TenantId, event: EventId) -> Result<usize, StoreError> {
    let mut moved = 0;
    for _ in 0..MOVES_PER_EVENT {
        let now = crate::domain::now();
        // Deleted since it was filed: a delete writes the event without index keys.
        let Some(stored) = deps.store.get_event(tenant, event).await? else { return Ok(moved) };
        let Some(to) = due_move(&stored.event, &stored.ticket_types, now) else {
            // Lost only to a write that filed the event as due again.
            let next = next_look_at(&stored.event, &stored.ticket_types, now);
            deps.store.file_next_look(tenant, &stored.event, next).await?;
            return Ok(moved);
        };
        let after = Event { status: to, ..stored.event.clone() };
        let next = next_look_at(&after, &stored.ticket_types, now);
        if deps.store.move_on_time(tenant, &stored, to, next, now).await? {
            tracing::info!(%event, from = stored.event.status.as_str(), to = to.as_str(), "event moved on time");
            moved += 1;
            if next != Some(now) {
                return Ok(moved);
            }
        }
    }
    Ok(moved)
}
