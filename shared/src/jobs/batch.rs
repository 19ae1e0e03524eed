//! The one partial-batch loop of every queue consumer: each record's body is decoded as the
//! queue's message type and handled, and the ids of the messages that failed, or were not
//! started for lack of time, go back in the response (the event source mappings report batch
//! item failures), so SQS redelivers only those.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::JobError;

/// What SQS says about a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// How many times SQS has handed the message out, this time included.
    pub receives: u32,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Delivery {
    fn of(record: &SqsMessage) -> Self {
        let attribute = |name: &str| record.attributes.get(name).and_then(|v| v.parse::<i64>().ok());
        Self {
            receives: attribute("ApproximateReceiveCount").and_then(|c| u32::try_from(c).ok()).unwrap_or(1),
            sent_at: attribute("SentTimestamp").and_then(DateTime::from_timestamp_millis),
        }
    }
}

/// How a queue's batch is worked through.
#[derive(Debug, Clone, Copy)]
pub struct BatchPlan {
    /// Messages handled side by side; 1 handles them one after another, in order.
    pub at_once: usize,
    /// No message starts with less time than this left before the invocation's deadline: it is
    /// reported failed instead, rather than cut off mid-way.
    pub start_budget: Duration,
    /// What a failed message means, for the log line.
    pub on_failure: &'static str,
}

/// Handles every message of `event` with `handle`, as `plan` says, and reports the failed ones.
pub async fn each_message<M, F, Fut>(event: SqsEvent, deadline: Instant, plan: BatchPlan, handle: F) -> SqsBatchResponse
where
    M: DeserializeOwned,
    F: Fn(M, Delivery) -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let handle = &handle;
    let failed: Vec<Option<String>> = futures_util::stream::iter(event.records.into_iter().map(|record| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let delivery = Delivery::of(&record);
        if Instant::now() + plan.start_budget > deadline {
            tracing::warn!(message_id = %id, "no time left for this message; SQS will redeliver it");
            return Some(id);
        }
        let outcome = match serde_json::from_str::<M>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => handle(message, delivery).await,
            Err(error) => Err(error.into()),
        };
        crate::monitoring::flush();
        outcome.err().map(|error| {
            tracing::warn!(%error, message_id = %id, receives = delivery.receives, "{}", plan.on_failure);
            id
        })
    }))
    .buffer_unordered(plan.at_once.max(1))
    .collect()
    .await;
    let mut response = SqsBatchResponse::default();
    for id in failed.into_iter().flatten() {
        response.add_failure(id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bodies: &[&str]) -> SqsEvent {
        let records = bodies
            .iter()
            .enumerate()
            .map(|(n, body)| {
                let mut record = SqsMessage::default();
                record.message_id = Some(format!("m{n}"));
                record.body = Some((*body).to_owned());
                record.attributes.insert("ApproximateReceiveCount".into(), "3".into());
                record
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<String> {
        let mut ids: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        ids.sort();
        ids
    }

    const PLAN: BatchPlan = BatchPlan { at_once: 1, start_budget: Duration::ZERO, on_failure: "test" };

    #[tokio::test]
    async fn only_the_messages_that_failed_or_do_not_decode_are_reported() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let later = Instant::now() + Duration::from_mins(1);
        let seen = std::sync::Mutex::new(Vec::new());
        let (running, most) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
        let response = each_message(event(&["1", "2", "x", "4"]), later, PLAN, |n: u32, delivery| {
            seen.lock().unwrap().push((n, delivery.receives));
            async move {
                most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                if n == 2 { Err(JobError::Failed("two".into())) } else { Ok(()) }
            }
        })
        .await;
        assert_eq!(failed(&response), ["m1", "m2"]);
        assert_eq!(*seen.lock().unwrap(), [(1, 3), (2, 3), (4, 3)]);
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
    }

    #[tokio::test]
    async fn a_plan_for_the_whole_batch_runs_it_side_by_side() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let later = Instant::now() + Duration::from_mins(1);
        let (running, most) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
        let bodies = ["1"; 10];
        let plan = BatchPlan { at_once: 10, ..PLAN };
        let response = each_message(event(&bodies), later, plan, |_: u32, _| async move {
            most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert!(failed(&response).is_empty());
        assert_eq!(most.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn a_message_that_cannot_finish_in_time_is_not_started() {
        let soon = Instant::now() + Duration::from_secs(5);
        let plan = BatchPlan { start_budget: Duration::from_secs(10), ..PLAN };
        let started = std::sync::atomic::AtomicUsize::new(0);
        let response = each_message(event(&["1", "2"]), soon, plan, |_: u32, _| {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { Ok(()) }
        })
        .await;
        assert_eq!((failed(&response), started.into_inner()), (vec!["m0".to_owned(), "m1".to_owned()], 0));
    }
}
