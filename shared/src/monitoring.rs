//! The service's metrics, written as CloudWatch Embedded Metric Format (EMF) lines on stdout:
//! Lambda sends stdout to CloudWatch Logs, which turns each such line into metric data points, so
//! emitting costs no API call and no latency.
//!
//! Every metric is a [`Metric`]; nothing else in the code names one, so [`Metric::ALL`] is the
//! whole set the template's dashboard and alarms may use (tests/tests/operations.rs holds the two
//! to each other). Dimensions stay few and bounded: `Service` (the stack) on everything, and
//! `Function` (one of the template's functions) on the per-function metrics. Never a tenant, user,
//! event or order id: each distinct dimension value is a metric of its own, billed monthly.
//!
//! The `metrics` facade records; [`metrics_cloudwatch_embedded`] formats. With no recorder
//! installed (the local runner, most tests) every count is a no-op.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics_cloudwatch_embedded::Collector;

/// The CloudWatch namespace of every metric (the template's dashboard and alarms name it too).
pub const NAMESPACE: &str = "Ticketing";
/// The dimension naming the stack, on every metric.
pub const SERVICE_DIMENSION: &str = "Service";
/// The dimension naming the function, on the per-function metrics only.
pub const FUNCTION_DIMENSION: &str = "Function";

/// A metric, with its CloudWatch name and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    // Per function (dimensions `Service`, `Function`).
    /// HTTP requests answered.
    Requests,
    /// Answers with a 4xx status.
    ClientErrors,
    /// Answers with a 5xx status.
    ServerErrors,
    /// Milliseconds from the request's arrival to its answer.
    Latency,
    /// A process's first invocation.
    ColdStarts,
    /// Queue messages a consumer was handed.
    QueueMessages,
    /// Queue messages reported back as failed (SQS delivers them again, then dead-letters them).
    QueueMessageFailures,
    /// Invocations of a consumer or schedule that failed as a whole.
    JobFailures,
    // Business (dimension `Service`).
    HoldsPlaced,
    /// Holds refused because too few tickets were left.
    SoldOutRefusals,
    HoldsExpired,
    HoldsReleased,
    OrdersConfirmed,
    /// Confirms refused because the provider did not vouch for the payment.
    PaymentsRefused,
    RefundsSucceeded,
    /// Refunds ended as failed for good (the order reads `REFUND_FAILED`).
    RefundsFailed,
    /// Refund attempts whose outcome is still open at the provider (asked again later).
    RefundsPending,
    CancellationsStarted,
    CancellationsFinished,
    /// Cancellations the resumer found stalled and started again.
    CancellationsStalled,
    /// Requests refused with 429 by the per-user limiter.
    RateLimited,
    /// Requests let through because the limiter itself failed.
    RateLimiterFailOpens,
}

impl Metric {
    pub const ALL: [Self; 22] = [
        Self::Requests,
        Self::ClientErrors,
        Self::ServerErrors,
        Self::Latency,
        Self::ColdStarts,
        Self::QueueMessages,
        Self::QueueMessageFailures,
        Self::JobFailures,
        Self::HoldsPlaced,
        Self::SoldOutRefusals,
        Self::HoldsExpired,
        Self::HoldsReleased,
        Self::OrdersConfirmed,
        Self::PaymentsRefused,
        Self::RefundsSucceeded,
        Self::RefundsFailed,
        Self::RefundsPending,
        Self::CancellationsStarted,
        Self::CancellationsFinished,
        Self::CancellationsStalled,
        Self::RateLimited,
        Self::RateLimiterFailOpens,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "Requests",
            Self::ClientErrors => "ClientErrors",
            Self::ServerErrors => "ServerErrors",
            Self::Latency => "Latency",
            Self::ColdStarts => "ColdStarts",
            Self::QueueMessages => "QueueMessages",
            Self::QueueMessageFailures => "QueueMessageFailures",
            Self::JobFailures => "JobFailures",
            Self::HoldsPlaced => "HoldsPlaced",
            Self::SoldOutRefusals => "SoldOutRefusals",
            Self::HoldsExpired => "HoldsExpired",
            Self::HoldsReleased => "HoldsReleased",
            Self::OrdersConfirmed => "OrdersConfirmed",
            Self::PaymentsRefused => "PaymentsRefused",
            Self::RefundsSucceeded => "RefundsSucceeded",
            Self::RefundsFailed => "RefundsFailed",
            Self::RefundsPending => "RefundsPending",
            Self::CancellationsStarted => "CancellationsStarted",
            Self::CancellationsFinished => "CancellationsFinished",
            Self::CancellationsStalled => "CancellationsStalled",
            Self::RateLimited => "RateLimited",
            Self::RateLimiterFailOpens => "RateLimiterFailOpens",
        }
    }

    pub fn unit(self) -> Unit {
        if self == Self::Latency { Unit::Milliseconds } else { Unit::Count }
    }

    /// Whether the metric carries the `Function` dimension.
    pub fn per_function(self) -> bool {
        matches!(
            self,
            Self::Requests
                | Self::ClientErrors
                | Self::ServerErrors
                | Self::Latency
                | Self::ColdStarts
                | Self::QueueMessages
                | Self::QueueMessageFailures
                | Self::JobFailures
        )
    }
}

/// Counts a business event (dimension `Service` only: it is summed over whichever functions
/// saw it, which is what an alarm on it wants).
pub fn count(metric: Metric, n: u64) {
    debug_assert!(!metric.per_function(), "{metric:?} needs its function");
    metrics::counter!(metric.name()).increment(n);
}

/// Counts a per-function metric for `function` (the template's function name, `get-event`).
pub fn count_for(metric: Metric, function: &'static str, n: u64) {
    debug_assert!(metric.per_function(), "{metric:?} is not per function");
    metrics::counter!(metric.name(), FUNCTION_DIMENSION => function).increment(n);
}

/// One HTTP answer of `function`: its count, its status class and its latency.
pub fn answered(function: &'static str, status: u16, took: Duration) {
    count_for(Metric::Requests, function, 1);
    match status {
        400..=499 => count_for(Metric::ClientErrors, function, 1),
        500..=599 => count_for(Metric::ServerErrors, function, 1),
        _ => {}
    }
    metrics::histogram!(Metric::Latency.name(), FUNCTION_DIMENSION => function).record(took.as_secs_f64() * 1000.0);
}

/// Where the EMF lines go: stdout in Lambda; a test's own buffer in tests.
pub type Output = fn() -> Box<dyn std::io::Write>;

static INSTALLED: OnceLock<(&'static Collector, Output)> = OnceLock::new();

/// Installs the EMF recorder for a Lambda process of `service` (the stack's name), writing to
/// stdout, and counts its cold start; [`flush`] writes what was counted.
pub fn install(service: &str, function: &'static str) -> bool {
    install_writing_to(service, function, || Box::new(std::io::stdout()))
}

/// As [`install`], writing to `output`. Only the first call in a process installs (later ones,
/// a second function in one test process, answer `false`, and their counts go to the first).
pub fn install_writing_to(service: &str, function: &'static str, output: Output) -> bool {
    let Ok(collector) = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(SERVICE_DIMENSION, service.to_owned())
        .init()
    else {
        return false;
    };
    for metric in Metric::ALL {
        metrics::describe_counter!(metric.name(), metric.unit(), "");
    }
    INSTALLED.get_or_init(|| (collector, output));
    count_for(Metric::ColdStarts, function, 1);
    true
}

/// Writes every count since the last flush as EMF lines: at the end of an invocation (a Lambda
/// process may be frozen, or never thawed, once it has answered), and by the queue consumers
/// after each message, so that what a message did is counted even if a later one times the
/// invocation out. Without a recorder it does nothing.
pub fn flush() {
    if let Some((collector, output)) = INSTALLED.get()
        && let Err(error) = collector.flush(output())
    {
        tracing::warn!(%error, "metrics not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_the_list_is_complete() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        // In declaration order with none left out before the last (a new variant goes last, in ALL too).
        for (position, metric) in Metric::ALL.into_iter().enumerate() {
            assert_eq!(metric as usize, position);
            assert_eq!(format!("{metric:?}"), metric.name(), "the CloudWatch name is the variant's name");
        }
        assert_eq!(Metric::RateLimiterFailOpens as usize + 1, Metric::ALL.len());
    }
}
