//! `local-runner cold-start`: a function's real bootstrap, started again and again against a
//! local Lambda Runtime API, with its dependencies on the emulators. Each start is timed from
//! the moment the process is spawned to the moment its first response reaches the Runtime API
//! (what Lambda bills as init plus the first invocation), and the process's resident memory is
//! read from `/proc` once it has answered `invocations` times.
//!
//! The function gets the local stack's settings: its queue URLs, its secrets, `RUST_LOG=info` as
//! the template's default, and the local HS256 token key, so unlike a deployed HTTP function it
//! fetches no JWKS during init (one HTTPS round trip on AWS, not counted here).
//!
//! The Runtime API here serves only what the runtime client calls: `GET …/invocation/next`
//! (the function's sample event from `events/`, or the same event again) and `POST
//! …/invocation/{id}/response` or `…/error`. Everything stays on 127.0.0.1.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore, mpsc};

use crate::emulators::Installation;
use crate::template::Template;
use crate::workers::create_queues;
use crate::{LOCAL_DEFAULTS, create_tables, emulator_clients, queue_variables};

/// Debian's and Ubuntu's bundle of every trusted root, the counterpart of Lambda's
/// `/etc/pki/tls/certs/ca-bundle.crt`.
const HOST_CERTIFICATE_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

pub struct Options {
    /// The HTTP status every answer must have (an HTTP function's), so the figures are of the
    /// path meant (`get-event`'s sample answers 404 after its database read; a 401 would not be).
    pub expect_status: Option<u16>,
    /// The function's name in the template, e.g. `get-event`.
    pub function: String,
    /// Its bootstrap, e.g. `target/release/get-event`.
    pub binary: PathBuf,
    pub starts: usize,
    /// Invocations per start before its memory is read.
    pub invocations: usize,
}

/// What the starts measured.
#[derive(Debug)]
pub struct Report {
    /// Process spawn → first response, each start, sorted.
    pub cold_starts: Vec<Duration>,
    /// Process spawn → its first `next` call (init done: configuration, clients, secrets), sorted.
    pub inits: Vec<Duration>,
    /// Resident memory after the last invocation of each start, sorted, in KiB.
    pub rss_kib: Vec<u64>,
    /// Invocations the function answered with an error (a handler error, not an HTTP 4xx).
    pub errors: usize,
    /// How many answers had each HTTP status (HTTP functions only).
    pub statuses: BTreeMap<u16, usize>,
    /// Whether the root certificates came from the host's bundle file alone, or from the
    /// system's default locations (bundle and certificate directory).
    pub trust_store_bundle_only: bool,
    /// Embedded Metric Format records the function wrote on stdout, all starts together.
    pub metric_records: usize,
    /// How many of them counted a cold start of this function.
    pub cold_start_records: usize,
}

impl Report {
    /// The nearest-rank percentile (`p` in 0..=100) of the cold starts.
    pub fn cold_start(&self, p: usize) -> Duration {
        percentile(&self.cold_starts, p)
    }

    pub fn init(&self, p: usize) -> Duration {
        percentile(&self.inits, p)
    }

    pub fn rss(&self, p: usize) -> u64 {
        percentile(&self.rss_kib, p)
    }
}

fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// What the Runtime API hands out and what it has been told.
struct RuntimeApi {
    event: String,
    /// One permit per invocation a start may still ask for; beyond them `next` waits, as
    /// Lambda's does while no request comes in.
    invocations: Semaphore,
    next_id: Mutex<u64>,
    answers: mpsc::UnboundedSender<Answer>,
    /// When each `next` call came in.
    asked: mpsc::UnboundedSender<Instant>,
}

struct Answer {
    at: Instant,
    error: bool,
    /// An HTTP function's status (the response's `statusCode`); none for a job.
    status: Option<u16>,
}

pub async fn run(options: &Options, project_root: &Path) -> Result<Report, Box<dyn Error>> {
    let template = Template::load(&project_root.join("infra/template.yaml"))?;
    let event = std::fs::read_to_string(project_root.join(format!("events/{}.json", options.function)))
        .map_err(|e| format!("events/{}.json: {e}", options.function))?;
    if !options.binary.exists() {
        return Err(format!("{} does not exist; build it first", options.binary.display()).into());
    }
    let installation = Installation { project_root: project_root.to_owned() };
    let emulators = tokio::task::spawn_blocking(move || installation.start(0, 0)).await??;
    let (dynamodb, sqs) = (emulators.dynamodb.endpoint(), emulators.sqs.endpoint());
    let clients = emulator_clients(&dynamodb, &sqs);
    let table = "events-cold-start";
    create_tables(&clients.dynamodb, &template, table).await?;
    let queues = create_queues(&clients.sqs, &template, "cold-start").await?;
    let secrets = crate::secrets::provision(&clients.secrets, &template, "cold-start").await?;

    let mut environment: Vec<(String, String)> =
        LOCAL_DEFAULTS.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
    environment.extend(queue_variables(&template, &queues));
    environment.extend(secrets.of(&options.function).variables);
    environment.extend(
        [
            ("TABLE_NAME", table),
            ("RATE_LIMIT_TABLE_NAME", &crate::table_name_of(table, crate::RATE_LIMIT_TABLE)),
            // One sample token makes every request: the measurement is of the handler, not a 429.
            ("RATE_LIMIT_READS_PER_MINUTE", "100000"),
            ("RATE_LIMIT_WRITES_PER_MINUTE", "100000"),
            ("AWS_LAMBDA_FUNCTION_NAME", &options.function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cold-start"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb),
            ("AWS_ENDPOINT_URL_SQS", &sqs),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &sqs),
            ("RUST_LOG", "info"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    // The SDK's TLS client reads the root certificates at init. Without `SSL_CERT_FILE` it also
    // scans the certificate directory: on a Debian host 146 certificate files besides the
    // bundle (about 5 ms a start), on Amazon Linux 2023 a couple of bundle files. With the
    // bundle alone the figures are a slight lower bound of Lambda's; the report says which.
    let bundle_only = Path::new(HOST_CERTIFICATE_BUNDLE).is_file();
    if bundle_only {
        environment.push(("SSL_CERT_FILE".to_owned(), HOST_CERTIFICATE_BUNDLE.to_owned()));
    }

    let mut report = Report {
        cold_starts: Vec::new(),
        inits: Vec::new(),
        rss_kib: Vec::new(),
        errors: 0,
        statuses: BTreeMap::new(),
        trust_store_bundle_only: bundle_only,
        metric_records: 0,
        cold_start_records: 0,
    };
    for _ in 0..options.starts {
        // A Runtime API of its own per start: a killed process's last `next` call, still pending
        // on the previous one, can take no invocation meant for this one.
        let (answers, mut answered) = mpsc::unbounded_channel();
        let (asked, mut asks) = mpsc::unbounded_channel();
        let api = Arc::new(RuntimeApi {
            event: event.clone(),
            invocations: Semaphore::new(options.invocations),
            next_id: Mutex::new(0),
            answers,
            asked,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let runtime_api = listener.local_addr()?.to_string();
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let started = Instant::now();
        let mut child = tokio::process::Command::new(&options.binary)
            .env_clear()
            .envs(environment.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the function's stdout")?;
        let metric_lines = tokio::spawn(metric_records(stdout, options.function.clone()));
        let mut first = None;
        for _ in 0..options.invocations {
            let answer = tokio::select! {
                answer = tokio::time::timeout(Duration::from_secs(30), answered.recv()) => answer
                    .map_err(|_| "the function did not answer within 30 s")?
                    .ok_or("the Runtime API stopped")?,
                exit = child.wait() => return Err(format!("the function exited before answering: {exit:?}").into()),
            };
            report.errors += usize::from(answer.error);
            if let Some(status) = answer.status {
                *report.statuses.entry(status).or_default() += 1;
            }
            first.get_or_insert(answer.at);
        }
        let first = first.ok_or("no invocation was asked for")?;
        report.cold_starts.push(first - started);
        let first_ask = asks.recv().await.ok_or("the Runtime API stopped")?;
        report.inits.push(first_ask - started);

        let pid = child.id().ok_or("the function exited")?;
        report.rss_kib.push(resident_kib(pid)?);
        child.kill().await?;
        let (records, cold_starts) = metric_lines.await?;
        report.metric_records += records;
        report.cold_start_records += cold_starts;
        server.abort();
    }
    report.cold_starts.sort_unstable();
    report.inits.sort_unstable();
    report.rss_kib.sort_unstable();
    drop(emulators);
    Ok(report)
}

/// Reads the function's stdout to its end: the EMF records in it, and those that count a cold
/// start of `function` (its other lines, logs, are dropped, as the bench did before).
async fn metric_records(stdout: tokio::process::ChildStdout, function: String) -> (usize, usize) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let (mut records, mut cold_starts) = (0, 0);
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if record.get("_aws").is_some() {
            records += 1;
            if record["ColdStarts"] == 1 && record["Function"] == function.as_str() {
                cold_starts += 1;
            }
        }
    }
    (records, cold_starts)
}

async fn next_invocation(State(api): State<Arc<RuntimeApi>>) -> (HeaderMap, String) {
    let _ = api.asked.send(Instant::now());
    api.invocations.acquire().await.expect("the semaphore is never closed").forget();
    let id = {
        let mut next = api.next_id.lock().await;
        *next += 1;
        *next
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 10_000;
    let mut headers = HeaderMap::new();
    let header = |value: String| HeaderValue::from_str(&value).expect("ASCII header");
    headers.insert("lambda-runtime-aws-request-id", header(format!("cold-start-{id}")));
    headers.insert("lambda-runtime-deadline-ms", header(deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:cold-start".to_owned()),
    );
    headers.insert("lambda-runtime-trace-id", header(format!("Root=1-00000000-{id:024x}")));
    (headers, api.event.clone())
}

async fn response(State(api): State<Arc<RuntimeApi>>, UrlPath(_id): UrlPath<String>, body: String) -> StatusCode {
    let at = Instant::now();
    let status = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|response| response.get("statusCode").and_then(serde_json::Value::as_u64))
        .and_then(|code| u16::try_from(code).ok());
    drop(api.answers.send(Answer { at, error: false, status }));
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<RuntimeApi>>, UrlPath(_id): UrlPath<String>, body: String) -> StatusCode {
    eprintln!("the function answered with an error: {body}");
    drop(api.answers.send(Answer { at: Instant::now(), error: true, status: None }));
    StatusCode::ACCEPTED
}

async fn init_error(body: String) -> StatusCode {
    eprintln!("the function failed to start: {body}");
    StatusCode::ACCEPTED
}

/// `VmRSS` of the process, in KiB.
fn resident_kib(pid: u32) -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!((percentile(&values, 50), percentile(&values, 99), percentile(&values, 100)), (50, 99, 100));
        assert_eq!(percentile(&[7_u64], 99), 7);
        assert_eq!(percentile(&[1_u64, 2, 3], 50), 2);
        assert_eq!(percentile::<u64>(&[], 99), 0);
    }
}
