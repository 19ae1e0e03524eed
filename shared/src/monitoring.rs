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
//! The recorder is ours, not the `metrics` facade with `metrics_cloudwatch_embedded`: with them,
//! `update-event`'s arm64 bootstrap measured 7,078,256 bytes, over the 7 MB budget; with this
//! one, 6,999,120 (docs/performance.md), for what is a map of counts and one list of latencies
//! written as JSON lines. With no recorder installed (the local runner, most tests) every count is a no-op.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The CloudWatch namespace of every metric (the template's dashboard and alarms name it too).
pub const NAMESPACE: &str = "Ticketing";
/// The dimension naming the stack, on every metric.
pub const SERVICE_DIMENSION: &str = "Service";
/// The dimension naming the function, on the per-function metrics only.
pub const FUNCTION_DIMENSION: &str = "Function";

/// A metric, with its CloudWatch name and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The EMF unit.
    pub fn unit(self) -> &'static str {
        if self == Self::Latency { "Milliseconds" } else { "Count" }
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
    record(|counts| *counts.counts.entry((None, metric)).or_default() += n);
}

/// Counts a per-function metric for `function` (the template's function name, `get-event`).
pub fn count_for(metric: Metric, function: &'static str, n: u64) {
    debug_assert!(metric.per_function(), "{metric:?} is not per function");
    record(|counts| *counts.counts.entry((Some(function), metric)).or_default() += n);
}

/// One HTTP answer of `function`: its count, its status class and its latency.
pub fn answered(function: &'static str, status: u16, took: Duration) {
    count_for(Metric::Requests, function, 1);
    match status {
        400..=499 => count_for(Metric::ClientErrors, function, 1),
        500..=599 => count_for(Metric::ServerErrors, function, 1),
        _ => {}
    }
    record(|counts| counts.latencies.entry(function).or_default().push(took.as_secs_f64() * 1000.0));
}

/// Where the EMF lines go: stdout in Lambda; a test's own buffer in tests.
pub type Output = fn() -> Box<dyn std::io::Write>;

struct Recorder {
    service: String,
    output: Output,
    counts: Mutex<Counts>,
}

/// What was counted since the last flush, by function (`None`: the business metrics).
#[derive(Default)]
struct Counts {
    counts: BTreeMap<(Option<&'static str>, Metric), u64>,
    latencies: BTreeMap<&'static str, Vec<f64>>,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

fn record(change: impl FnOnce(&mut Counts)) {
    if let Some(recorder) = RECORDER.get() {
        change(&mut recorder.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Installs the EMF recorder for a Lambda process of `service` (the stack's name), writing to
/// stdout, and counts its cold start; [`flush`] writes what was counted.
pub fn install(service: &str, function: &'static str) -> bool {
    install_writing_to(service, function, || Box::new(std::io::stdout()))
}

/// As [`install`], writing to `output`. Only the first call in a process installs (later ones,
/// a second function in one test process, answer `false`, and their counts go to the first).
pub fn install_writing_to(service: &str, function: &'static str, output: Output) -> bool {
    let recorder = Recorder { service: service.to_owned(), output, counts: Mutex::default() };
    if RECORDER.set(recorder).is_err() {
        return false;
    }
    count_for(Metric::ColdStarts, function, 1);
    true
}

/// Writes every count since the last flush as EMF lines: at the end of an invocation (a Lambda
/// process may be frozen, or never thawed, once it has answered), and by the queue consumers
/// after each message, so that what a message did is counted even if a later one times the
/// invocation out. Without a recorder it does nothing.
pub fn flush() {
    let Some(recorder) = RECORDER.get() else { return };
    let taken = std::mem::take(&mut *recorder.counts.lock().unwrap_or_else(PoisonError::into_inner));
    let timestamp = chrono::Utc::now().timestamp_millis();
    let mut output = (recorder.output)();
    for line in records(&recorder.service, timestamp, taken) {
        if let Err(error) = writeln!(output, "{line}") {
            tracing::warn!(%error, "metrics not written");
            return;
        }
    }
}

/// At most this many values of one metric in one record (CloudWatch's limit for EMF arrays).
const MAX_VALUES_PER_RECORD: usize = 100;

/// One EMF record per function (and one for the business metrics), latencies in chunks of
/// [`MAX_VALUES_PER_RECORD`]. Written by hand: every name in them is one of ours, and a stack
/// name is letters, digits and hyphens, so nothing needs escaping.
fn records(service: &str, timestamp: i64, counts: Counts) -> Vec<String> {
    let mut groups: BTreeMap<Option<&'static str>, Vec<(Metric, String)>> = BTreeMap::new();
    for ((function, metric), n) in counts.counts {
        groups.entry(function).or_default().push((metric, n.to_string()));
    }
    let mut lines = Vec::new();
    for (function, latencies) in counts.latencies {
        for (i, chunk) in latencies.chunks(MAX_VALUES_PER_RECORD).enumerate() {
            let values: Vec<String> = chunk.iter().map(|ms| format!("{ms:.3}")).collect();
            let value = (Metric::Latency, format!("[{}]", values.join(",")));
            if i == 0 {
                groups.entry(Some(function)).or_default().push(value);
            } else {
                lines.push(record_of(service, timestamp, Some(function), &[value]));
            }
        }
    }
    lines.extend(groups.into_iter().map(|(function, values)| record_of(service, timestamp, function, &values)));
    lines
}

fn record_of(service: &str, timestamp: i64, function: Option<&str>, values: &[(Metric, String)]) -> String {
    let (dimensions, function_value) = match function {
        Some(name) => {
            (format!(r#""{SERVICE_DIMENSION}","{FUNCTION_DIMENSION}""#), format!(r#","{FUNCTION_DIMENSION}":"{name}""#))
        }
        None => (format!(r#""{SERVICE_DIMENSION}""#), String::new()),
    };
    let names: Vec<String> =
        values.iter().map(|(m, _)| format!(r#"{{"Name":"{}","Unit":"{}"}}"#, m.name(), m.unit())).collect();
    let values: Vec<String> = values.iter().map(|(m, v)| format!(r#","{}":{v}"#, m.name())).collect();
    format!(
        r#"{{"_aws":{{"Timestamp":{timestamp},"CloudWatchMetrics":[{{"Namespace":"{NAMESPACE}","Dimensions":[[{dimensions}]],"Metrics":[{}]}}]}},"{SERVICE_DIMENSION}":"{service}"{function_value}{}}}"#,
        names.join(","),
        values.concat()
    )
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

    #[test]
    fn a_flush_is_one_record_per_function_with_latencies_in_chunks_of_100() {
        let mut counts = Counts::default();
        counts.counts.insert((None, Metric::HoldsPlaced), 3);
        counts.counts.insert((Some("get-event"), Metric::Requests), 250);
        counts.latencies.insert("get-event", (0..250).map(f64::from).collect());
        let lines: Vec<serde_json::Value> =
            records("stack", 1_700_000_000_000, counts).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        let latencies: Vec<usize> = lines.iter().filter_map(|l| l["Latency"].as_array().map(Vec::len)).collect();
        assert_eq!(latencies, [100, 50, 100], "two full chunks on their own, the rest with the counts");
        let business = lines.iter().find(|l| l["HoldsPlaced"] == 3).unwrap();
        assert_eq!(business["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Service"]]));
        assert!(business.get("Function").is_none());
        let requests = lines.iter().find(|l| l["Requests"] == 250).unwrap();
        assert_eq!(
            requests["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Service", "Function"]])
        );
        assert_eq!(
            requests["_aws"]["CloudWatchMetrics"][0]["Metrics"][1],
            serde_json::json!({ "Name": "Latency", "Unit": "Milliseconds" })
        );
        assert_eq!((requests["Service"].as_str(), requests["Function"].as_str()), (Some("stack"), Some("get-event")));
        assert_eq!(requests["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }
}
