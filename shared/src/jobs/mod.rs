//! The functions behind queues and schedules: the expiry consumer and the sweep, the
//! cancellation fan-out and its resumer, the refund consumer, the job that moves events on time. Each Lambda binary serves one job
//! type (`shared::lambda::serve_job(shared::jobs::SweepHolds)`); the local runner serves them
//! all through [`Job`].

pub mod batch;
pub mod expiry;
pub mod fanout;
pub mod lifecycle;
pub mod refunds;

use crate::deps::{ColdStart, Deps, Needs};
use crate::messages::SendError;
use crate::monitoring::{self, Metric};
use crate::usecases::settlement::NotifyError;

/// Why a queue consumer or schedule did not finish a piece of work (SQS or the next run
/// retries it).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The functions that are not behind the HTTP API: queue consumers and schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Consumes the expiry queue's delay messages (SQS).
    ExpireHolds,
    /// Ends holds past their expiry that are still held (EventBridge schedule).
    SweepHolds,
    /// Voids a cancelled event's holds and enqueues its orders' refunds (SQS).
    FanOutRefunds,
    /// Refunds one order per message and notifies its holder (SQS).
    ProcessRefunds,
    /// Restarts cancellations that stopped making progress (EventBridge schedule).
    ResumeCancellations,
    /// Moves events through their lifecycle on time (EventBridge schedule).
    AdvanceEvents,
}

impl Job {
    pub const ALL: [Self; 6] = [
        Self::ExpireHolds,
        Self::SweepHolds,
        Self::FanOutRefunds,
        Self::ProcessRefunds,
        Self::ResumeCancellations,
        Self::AdvanceEvents,
    ];

    pub fn function_name(self) -> &'static str {
        match self {
            Self::ExpireHolds => "expire-holds",
            Self::SweepHolds => "sweep-holds",
            Self::FanOutRefunds => "fan-out-refunds",
            Self::ProcessRefunds => "process-refunds",
            Self::ResumeCancellations => "resume-cancellations",
            Self::AdvanceEvents => "advance-events",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.function_name() == name)
    }
}

/// One job's handler as a value: [`Job`] (any, chosen at run time) or one of this module's job types
/// (one, fixed at compile time, so its Lambda binary links that job and no other).
pub trait JobHandler: sealed::Sealed + ColdStart + Copy + Send + Sync + 'static {
    fn job(self) -> Job;
    fn run(
        self,
        deps: &Deps,
        payload: serde_json::Value,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send;
}

/// Any job: whatever the configuration gives (the local runner serves them all).
impl ColdStart for Job {
    const NEEDS: Needs = Needs::EVERYTHING;
}

impl JobHandler for Job {
    fn job(self) -> Job {
        self
    }

    fn run(
        self,
        deps: &Deps,
        payload: serde_json::Value,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send {
        self.handle(deps, payload, deadline)
    }
}

fn answer(value: impl serde::Serialize) -> Result<serde_json::Value, JobError> {
    serde_json::to_value(value).map_err(|e| JobError::Failed(format!("the response cannot be encoded: {e}")))
}

/// A queue consumer's invocation: the SQS event decoded, and the batch's failures as the answer
/// (and counted, as `job`'s).
async fn consume<M, F, Fut>(
    job: Job,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
    plan: batch::BatchPlan,
    handle: F,
) -> Result<serde_json::Value, JobError>
where
    M: serde::de::DeserializeOwned,
    F: Fn(M, batch::Delivery) -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(payload)?;
    let handed = event.records.len() as u64;
    let response = batch::each_message(event, deadline, plan, handle).await;
    let function = job.function_name();
    monitoring::count_for(Metric::QueueMessages, function, handed);
    monitoring::count_for(Metric::QueueMessageFailures, function, response.batch_item_failures.len() as u64);
    answer(response)
}

async fn expire_holds(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    consume(Job::ExpireHolds, payload, deadline, expiry::QUEUE, |message, _| expiry::handle(deps, message)).await
}

async fn sweep_holds(
    deps: &Deps,
    _payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    Ok(serde_json::json!({ "expired": expiry::sweep(deps, deadline).await? }))
}

async fn fan_out_refunds(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    consume(Job::FanOutRefunds, payload, deadline, fanout::QUEUE, |message, _| async move {
        fanout::fan_out(deps, &message, deadline).await
    })
    .await
}

async fn process_refunds(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    consume(Job::ProcessRefunds, payload, deadline, refunds::queue(deps), |message, delivery| async move {
        refunds::process(deps, &message, delivery, deadline).await
    })
    .await
}

async fn resume_cancellations(
    deps: &Deps,
    _payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    let resumed = fanout::resume_stalled(deps, deadline).await?;
    Ok(serde_json::json!({ "resumed": resumed }))
}

async fn advance_events(
    deps: &Deps,
    _payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, JobError> {
    Ok(serde_json::json!({ "moved": lifecycle::advance(deps, deadline).await? }))
}

/// Only this module's types are jobs.
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Job {}
}

/// One type per job, for the Lambda binaries (`shared::lambda::serve_job(shared::jobs::SweepHolds)`),
/// and `Job::handle` over all of them, for the local runner.
macro_rules! job_types {
    ($($job:ident => $run:ident [$needs:expr]),* $(,)?) => {
        $(
            #[derive(Debug, Clone, Copy)]
            pub struct $job;

            impl sealed::Sealed for $job {}

            impl ColdStart for $job {
                const NEEDS: Needs = $needs;
            }

            impl JobHandler for $job {
                fn job(self) -> Job {
                    Job::$job
                }

                fn run(
                    self,
                    deps: &Deps,
                    payload: serde_json::Value,
                    deadline: tokio::time::Instant,
                ) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send {
                    $run(deps, payload, deadline)
                }
            }
        )*

        impl Job {
            /// What the job's own function builds at cold start (no job verifies tokens).
            pub fn needs(self) -> Needs {
                match self {
                    $(Job::$job => $needs,)*
                }
            }

            /// Runs the job on its trigger's payload (an SQS event, or a scheduled event) and
            /// returns the Lambda response: the batch's failed message ids, or the schedule's
            /// count. `deadline` is when the invocation is cut off (the Lambda context's); work
            /// that cannot finish by then is not started. The local runner's way in; a
            /// binary calls its own type's `run`, which this reaches too.
            pub async fn handle(
                self,
                deps: &Deps,
                payload: serde_json::Value,
                deadline: tokio::time::Instant,
            ) -> Result<serde_json::Value, JobError> {
                match self {
                    $(Job::$job => $job.run(deps, payload, deadline).await,)*
                }
            }
        }
    };
}

/// A job that sends to a queue: the expiry consumer re-queues long holds, the fan-out and its
/// resumer hand over to fresh messages and enqueue refunds, the refunds notify holders.
const SENDS: Needs = Needs { queues: true, ..Needs::NOTHING };

job_types! {
    ExpireHolds => expire_holds [SENDS],
    SweepHolds => sweep_holds [Needs::NOTHING],
    FanOutRefunds => fan_out_refunds [SENDS],
    ProcessRefunds => process_refunds [Needs { payments: true, ..SENDS }],
    ResumeCancellations => resume_cancellations [SENDS],
    AdvanceEvents => advance_events [Needs::NOTHING],
}
