//! Plays Lambda's event sources locally: creates the template's queues, polls each queue that
//! feeds a function and hands it real SQS events (deleting only what the function did not
//! report as failed), and runs scheduled functions on a timer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use shared::deps::Deps;
use shared::jobs::Job;

use crate::template::{QueueSpec, QueueTrigger, ScheduleTrigger, Template};

#[derive(Debug, Clone)]
pub struct LocalQueue {
    pub url: String,
    pub arn: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("template: {0}")]
    Template(String),
}

fn sqs_error(error: impl std::error::Error + Send + Sync + 'static) -> WorkerError {
    WorkerError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(&error).to_string())
}

/// Creates the template's queues as `<prefix>-<LogicalId>`, dead-letter queues first so
/// redrive policies can name them. Returns them by logical id.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    template: &Template,
    prefix: &str,
) -> Result<HashMap<String, LocalQueue>, WorkerError> {
    let mut created: HashMap<String, LocalQueue> = HashMap::new();
    let mut pending: Vec<&QueueSpec> = template.queues.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for spec in pending {
            let dead_letter = match &spec.dead_letter {
                Some((target, max)) => {
                    let Some(queue) = created.get(target) else {
                        waiting.push(spec);
                        continue;
                    };
                    Some((queue.arn.clone(), *max))
                }
                None => None,
            };
            let mut request = sqs.create_queue().queue_name(format!("{prefix}-{}", spec.logical_id));
            for (name, value) in &spec.attributes {
                request = request.attributes(QueueAttributeName::from(name.as_str()), value);
            }
            if let Some((arn, max)) = dead_letter {
                let policy = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max.to_string() });
                request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            }
            let url = request.send().await.map_err(sqs_error)?.queue_url.unwrap_or_default();
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(sqs_error)?;
            let arn =
                attributes.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
            created.insert(spec.logical_id.clone(), LocalQueue { url, arn });
        }
        if waiting.len() == before {
            return Err(WorkerError::Template("a RedrivePolicy names a queue that is not in the template".into()));
        }
        pending = waiting;
    }
    Ok(created)
}

/// How the local event sources behave.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// A failed message is visible again after this long (Lambda waits for the queue's
    /// visibility timeout; locally we retry sooner so redelivery is observable).
    pub retry_after: Duration,
    /// Every scheduled function runs this often locally, whatever its `rate(…)`.
    pub schedule_every: Duration,
    /// Hand every received batch to the function twice, as SQS's at-least-once delivery may.
    pub duplicate_deliveries: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            retry_after: Duration::from_secs(2),
            schedule_every: Duration::from_secs(10),
            duplicate_deliveries: false,
        }
    }
}

/// Polls `queue` for `trigger`'s function until the task is dropped.
/// As many batches run at once as the trigger's `ScalingConfig.MaximumConcurrency` allows
/// (one without it), as Lambda's pollers would. Like Lambda's, the pollers past the first scale
/// down while the queue is empty: each waits 5 s after an empty receive, so an idle stack costs
/// the SQS emulator one receive a second per queue, not one per poller.
pub async fn poll_queue(deps: Arc<Deps>, trigger: QueueTrigger, queue: LocalQueue, settings: WorkerSettings) {
    let Some(job) = Job::from_function_name(&trigger.function) else {
        tracing::error!(function = %trigger.function, "no job handles this queue");
        return;
    };
    // Lambda's pollers are not the function; here they borrow its queue client, which every
    // consumer has (it sends: re-queued expiries, fan-out hand-overs, notifications).
    let Some(sqs) = deps.sqs.clone() else {
        tracing::error!(function = %trigger.function, "the consumer's function builds no queue client");
        return;
    };
    let pollers = (0..trigger.maximum_concurrency.unwrap_or(1).max(1)).map(|poller| {
        let (deps, sqs, trigger, queue) = (&deps, &sqs, &trigger, &queue);
        async move {
            loop {
                match Box::pin(poll_once(deps, sqs, job, trigger, queue, settings)).await {
                    Ok(false) if poller > 0 => tokio::time::sleep(Duration::from_secs(5)).await,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, queue = %queue.url, "polling failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    });
    futures_util::future::join_all(pollers).await;
}

async fn poll_once(
    deps: &Deps,
    sqs: &aws_sdk_sqs::Client,
    job: Job,
    trigger: &QueueTrigger,
    queue: &LocalQueue,
    settings: WorkerSettings,
) -> Result<bool, WorkerError> {
    let received = sqs
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(trigger.batch_size.clamp(1, 10))
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(sqs_error)?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(false);
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<String, String> = m
                .attributes
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                .unwrap_or_default();
            json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "md5OfBody": m.md5_of_body, "attributes": attributes, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": queue.arn, "awsRegion": "us-east-1",
            })
        })
        .collect();
    let event = json!({ "Records": records });
    // Duplicates arrive side by side, as two pollers receiving the same message would.
    let (first, second) = if settings.duplicate_deliveries {
        let (a, b) =
            tokio::join!(invoke(deps, job, event.clone(), trigger.timeout), invoke(deps, job, event, trigger.timeout));
        (a, Some(b))
    } else {
        (invoke(deps, job, event, trigger.timeout).await, None)
    };
    let mut failed: Vec<String> = Vec::new();
    for outcome in std::iter::once(first).chain(second) {
        match outcome {
            Ok(response) => failed.extend(
                response["batchItemFailures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned)),
            ),
            Err(error) => {
                // A failed invocation fails the whole batch, as on Lambda.
                tracing::warn!(%error, function = %trigger.function, "batch failed");
                failed.extend(messages.iter().filter_map(|m| m.message_id.clone()));
            }
        }
    }
    for message in &messages {
        let receipt = message.receipt_handle.as_deref().unwrap_or_default();
        if failed.iter().any(|id| Some(id.as_str()) == message.message_id.as_deref()) {
            let seconds = i32::try_from(settings.retry_after.as_secs()).unwrap_or(2);
            sqs.change_message_visibility()
                .queue_url(&queue.url)
                .receipt_handle(receipt)
                .visibility_timeout(seconds)
                .send()
                .await
                .map_err(sqs_error)?;
        } else {
            sqs.delete_message().queue_url(&queue.url).receipt_handle(receipt).send().await.map_err(sqs_error)?;
        }
    }
    Ok(true)
}

/// Why a local invocation produced no response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the function failed: {0}")]
    Failed(#[from] shared::jobs::JobError),
    #[error("the function ran past its {0:?} timeout and was cut off, as Lambda would")]
    TimedOut(Duration),
}

/// One invocation as Lambda runs it: the job gets its deadline, and is cut off at its template
/// `Timeout` whatever it is doing (so a batch cut off counts as failed, and timeouts show up in
/// local runs and tests rather than first on AWS).
pub async fn invoke(deps: &Deps, job: Job, payload: Value, timeout: Duration) -> Result<Value, InvokeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let run = crate::operation_log::as_function(job.function_name(), Box::pin(job.handle(deps, payload, deadline)));
    match tokio::time::timeout_at(deadline, run).await {
        Ok(outcome) => Ok(outcome?),
        Err(_) => Err(InvokeError::TimedOut(timeout)),
    }
}

/// Runs `trigger`'s function on a timer until the task is dropped.
pub async fn run_schedule(deps: Arc<Deps>, trigger: ScheduleTrigger, settings: WorkerSettings) {
    let Some(job) = Job::from_function_name(&trigger.function) else {
        tracing::error!(function = %trigger.function, "no job runs on this schedule");
        return;
    };
    let mut ticks = tokio::time::interval(settings.schedule_every);
    loop {
        ticks.tick().await;
        let event = json!({ "source": "aws.events", "detail-type": "Scheduled Event", "detail": {} });
        if let Err(error) = invoke(&deps, job, event, trigger.timeout).await {
            tracing::warn!(%error, function = %trigger.function, "scheduled run failed");
        }
    }
}
