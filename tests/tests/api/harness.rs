//! The stack under test, started once per test run: DynamoDB Local and moto on free loopback
//! ports, a fresh table created from the SAM template, and the local gateway in front of the
//! real handlers. Every test gets a tenant of its own, so tests never see each other's data.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aws_config::timeout::TimeoutConfig;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use local_runner::emulators::{Emulators, Installation};
use local_runner::server::Gateway;
use local_runner::template::Template;
use local_runner::token::DevClaims;
use local_runner::workers::{WorkerSettings, create_queues, poll_queue, run_schedule};
use local_runner::{
    FunctionDeps, create_tables, emulator_clients_with, function_deps, local_config_with, queue_variables,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::deps::Deps;
use tokio::net::TcpListener;
use uuid::Uuid;

pub struct Stack {
    pub base_url: String,
    pub payments_url: String,
    pub table: String,
    pub emulators: Emulators,
    /// The secrets the shared stack's functions read (its cursor key signs every list's cursors).
    pub secrets: shared::secrets::Secrets,
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn template() -> Template {
    Template::load(&project_root().join("infra/template.yaml")).expect("the template parses")
}

/// The shared stack; it lives until the test binary exits (the emulators' watchdogs then stop them).
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let emulators = Installation { project_root: project_root() }
            .start(0, 0)
            .expect("emulators start (run `make tools` first)");
        let table = format!("events-test-{}", Uuid::now_v7());
        let (dynamodb_endpoint, sqs_endpoint) = (emulators.dynamodb.endpoint(), emulators.sqs.endpoint());
        let (sender, receiver) = std::sync::mpsc::channel();
        let table_name = table.clone();
        // The server gets a runtime of its own: each #[tokio::test] runtime ends with its test.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let options = StackOptions {
                    queue_consumers: true,
                    schedules: true,
                    settings: fast_workers(),
                    extra: Vec::new(),
                };
                let provisioned = provision(&dynamodb_endpoint, &sqs_endpoint, &table_name, options).await;
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("http://{}", listener.local_addr().unwrap());
                sender.send((url, provisioned.payments_url, provisioned.secrets)).unwrap();
                let gateway =
                    Gateway::new(&template().routes, &provisioned.functions).unwrap().with_cors(template().cors);
                let gateway = Arc::new(gateway);
                gateway.serve(listener).await.unwrap();
            });
        });
        let (base_url, payments_url, secrets) = receiver.recv().expect("the gateway starts");
        Stack { base_url, payments_url, table, emulators, secrets }
    })
}

/// Which of Lambda's event sources run for a stack.
#[derive(Clone)]
pub struct StackOptions {
    pub queue_consumers: bool,
    pub schedules: bool,
    pub settings: WorkerSettings,
    /// Extra configuration, e.g. the fan-out's crash hook.
    pub extra: Vec<(String, String)>,
}

/// No queue consumers and no schedules: the test invokes the workers itself. `extra` as in
/// [`StackOptions::extra`].
pub fn no_workers(extra: &[(&str, &str)]) -> StackOptions {
    StackOptions {
        queue_consumers: false,
        schedules: false,
        settings: fast_workers(),
        extra: extra.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect(),
    }
}

/// Retries after 1 s and sweeps every 2 s, so time-based behaviour shows quickly.
pub fn fast_workers() -> WorkerSettings {
    WorkerSettings {
        retry_after: std::time::Duration::from_secs(1),
        schedule_every: std::time::Duration::from_secs(2),
        duplicate_deliveries: false,
    }
}

/// What a provisioned stack offers a test.
pub struct Provisioned {
    /// Every setting and secret together, for tests that drive jobs themselves.
    pub deps: Arc<Deps>,
    /// Each function's own, as the gateway and the workers use them.
    pub functions: FunctionDeps,
    pub secrets: shared::secrets::Secrets,
    pub queues: std::collections::HashMap<String, local_runner::workers::LocalQueue>,
    pub payments_url: String,
}

/// SDK timeouts for the suite's shared emulators. The suite loads one DynamoDB Local and one
/// moto on two cores with hundreds of concurrent transactions; single calls then take seconds
/// that take milliseconds on AWS, and Lambda's 3 s per attempt would fail them. What Lambda's
/// own timeouts do to a stalled dependency is tested on stacks of their own (`faults.rs`).
pub fn loaded_emulator_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(40))
        .build()
}

/// How many times its template timeout the gateway lets a function run in the suite, for the
/// reason of [`loaded_emulator_timeouts`]: full runs saw a confirm cut off at its 10 s while the
/// suite's heaviest tests start together. Tests of timeouts compare with the template's own.
const LOADED_EMULATOR_SLOWDOWN: u32 = 3;

/// Creates `table`, its queues and a fake payment provider, and starts the chosen workers on
/// the current runtime.
pub async fn provision(dynamodb_endpoint: &str, sqs_endpoint: &str, table: &str, options: StackOptions) -> Provisioned {
    provision_with(dynamodb_endpoint, sqs_endpoint, table, options, &loaded_emulator_timeouts()).await
}

/// The functions' warnings and errors go to the test's captured output, which the test runner
/// prints only when the test fails: a failing test on an isolated stack (its functions run on
/// the test's own runtime) then says what its functions saw. The shared stack's thread writes
/// into the capture of the test that started it, so its warnings are not shown.
fn show_warnings_of_failing_tests() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Another subscriber already set (none is, today) would do as well.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .with_test_writer()
            .try_init();
    });
}

/// As [`provision`], with the SDK timeouts given.
pub async fn provision_with(
    dynamodb_endpoint: &str,
    sqs_endpoint: &str,
    table: &str,
    options: StackOptions,
    timeouts: &TimeoutConfig,
) -> Provisioned {
    show_warnings_of_failing_tests();
    // Provisioning is the suite's, on its loaded emulators; `timeouts` are the functions'. (With
    // Lambda's 3 s, a slow CreateTable was retried and failed on the table its first try made.)
    let setup = emulator_clients_with(dynamodb_endpoint, sqs_endpoint, &loaded_emulator_timeouts());
    let clients = emulator_clients_with(dynamodb_endpoint, sqs_endpoint, timeouts);
    let template = template();
    create_tables(&setup.dynamodb, &template, table).await.expect("tables created");
    let queues = create_queues(&setup.sqs, &template, table).await.expect("queues created");
    let secrets = local_runner::secrets::provision(&setup.secrets, &template, table).await.expect("secrets created");
    let payments = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let payments_url = format!("http://{}", payments.local_addr().unwrap());
    tokio::spawn(local_runner::fake_payments::serve(payments));
    // A test's own settings first: the first of a name wins.
    let mut variables = options.extra.clone();
    variables.extend(queue_variables(&template, &queues));
    variables.extend(generous_rate_limits());
    let payment_variables = local_runner::fake_payments::client_variables(&payments_url);
    let functions = function_deps(&template, table, &variables, &payment_variables, &secrets, &clients).unwrap();
    if options.queue_consumers {
        for trigger in &template.queue_triggers {
            tokio::spawn(poll_queue(
                functions.of(&trigger.function),
                trigger.clone(),
                queues[&trigger.queue].clone(),
                options.settings,
            ));
        }
    }
    if options.schedules {
        for trigger in &template.schedules {
            tokio::spawn(run_schedule(functions.of(&trigger.function), trigger.clone(), options.settings));
        }
    }
    Provisioned { deps: Arc::clone(&functions.all), functions, secrets: secrets.all.secrets, queues, payments_url }
}

/// A stack of its own on the shared emulators (fresh table, queues and fake payment
/// provider), served on a new port for the rest of the calling test, with only the chosen
/// workers running.
pub async fn isolated_stack(options: StackOptions) -> (Tenant, Provisioned) {
    let stack = stack();
    let table = format!("events-isolated-{}", Uuid::now_v7());
    let provisioned =
        provision(&stack.emulators.dynamodb.endpoint(), &stack.emulators.sqs.endpoint(), &table, options).await;
    let url = serve_functions(&provisioned.functions).await;
    (Tenant::at(url, provisioned.payments_url.clone()), provisioned)
}

impl Stack {
    /// Handler dependencies on the shared emulators, for `table` and optionally another SQS
    /// endpoint (to wire a stack differently from the shared one).
    pub fn deps(&self, table: &str, sqs_endpoint: Option<&str>) -> Arc<Deps> {
        let sqs_endpoint = sqs_endpoint.map_or_else(|| self.emulators.sqs.endpoint(), str::to_owned);
        let clients =
            emulator_clients_with(&self.emulators.dynamodb.endpoint(), &sqs_endpoint, &loaded_emulator_timeouts());
        Arc::new(
            Deps::with_clients(
                &local_config_with(table, &generous_rate_limits()).unwrap(),
                &self.secrets,
                clients.dynamodb,
                clients.sqs,
            )
            .unwrap(),
        )
    }
}

impl Stack {
    /// [`Self::deps`] on the shared emulators with `interceptor` on the DynamoDB client, to see
    /// what the handlers call.
    pub fn deps_with_dynamodb_interceptor(
        &self,
        table: &str,
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> Arc<Deps> {
        let clients = emulator_clients_with(
            &self.emulators.dynamodb.endpoint(),
            &self.emulators.sqs.endpoint(),
            &loaded_emulator_timeouts(),
        );
        let builder =
            local_runner::emulator_dynamodb_config(&self.emulators.dynamodb.endpoint()).interceptor(interceptor);
        let dynamodb = shared::aws_clients::dynamodb(builder, loaded_emulator_timeouts());
        let config = local_config_with(table, &generous_rate_limits()).unwrap();
        Arc::new(Deps::with_clients(&config, &self.secrets, dynamodb, clients.sqs).unwrap())
    }

    /// A plain DynamoDB client on the shared emulator, to set up states no request makes.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        local_runner::emulator_clients(&self.emulators.dynamodb.endpoint(), &self.emulators.sqs.endpoint()).dynamodb
    }
}

/// Serves `deps` for every function on a fresh port for the rest of the calling test (for tests
/// that need a differently wired stack, such as a missing table or an unreachable queue service).
pub async fn serve_with(deps: Arc<Deps>) -> String {
    serve_functions(&FunctionDeps::same_for_all(deps)).await
}

/// Serves each function with its own dependencies on a fresh port for the rest of the test.
pub async fn serve_functions(functions: &FunctionDeps) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut routes = template().routes;
    for route in &mut routes {
        route.timeout *= LOADED_EMULATOR_SLOWDOWN;
    }
    let gateway = Arc::new(Gateway::new(&routes, functions).unwrap().with_cors(template().cors));
    tokio::spawn(gateway.serve(listener));
    url
}

/// The suite's users make far more requests a minute than the API allows a person; the limits
/// are tested on stacks of their own (`rate_limits.rs`), with the contract's.
pub fn generous_rate_limits() -> Vec<(String, String)> {
    ["RATE_LIMIT_READS_PER_MINUTE", "RATE_LIMIT_WRITES_PER_MINUTE"]
        .map(|name| (name.to_owned(), "100000".to_owned()))
        .into()
}

/// A tenant of its own on the shared stack.
#[derive(Clone)]
pub struct Tenant {
    pub id: shared::domain::ids::TenantId,
    base_url: String,
    payments_url: String,
    http: reqwest::Client,
}

impl Tenant {
    pub fn new() -> Self {
        Self::at(stack().base_url.clone(), stack().payments_url.clone())
    }

    /// A tenant on the gateway at `base_url`, paying at the fake provider at `payments_url`.
    pub fn at(base_url: String, payments_url: String) -> Self {
        Self { id: shared::domain::ids::TenantId::generate(), base_url, payments_url, http: reqwest::Client::new() }
    }

    pub fn token(&self, role: &str, sub: &str) -> String {
        DevClaims::new(role, self.id, sub, 600).sign()
    }

    pub fn admin(&self) -> Client {
        self.user("admin", "admin-1")
    }

    pub fn organizer(&self) -> Client {
        self.user("organizer", "organizer-1")
    }

    pub fn customer(&self) -> Client {
        self.user("customer", "customer-1")
    }

    pub fn user(&self, role: &str, sub: &str) -> Client {
        self.with_header(Some(format!("Bearer {}", self.token(role, sub))))
    }

    pub fn with_header(&self, authorization: Option<String>) -> Client {
        Client {
            base_url: self.base_url.clone(),
            payments_url: self.payments_url.clone(),
            http: self.http.clone(),
            authorization,
            idempotency: KeyMode::Fresh,
        }
    }
}

#[derive(Clone)]
pub struct Client {
    base_url: String,
    pub payments_url: String,
    http: reqwest::Client,
    authorization: Option<String>,
    idempotency: KeyMode,
}

/// What `Idempotency-Key` a client sends with its POSTs.
#[derive(Clone)]
enum KeyMode {
    /// A new key per request, as a well-behaved client does.
    Fresh,
    None,
    Fixed(String),
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The `field` of each entry of `errors[]`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.text);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("application/problem+json"), "{}", self.text);
    }
}

impl Client {
    /// This client sends POSTs without an `Idempotency-Key`.
    pub fn without_idempotency_key(&self) -> Self {
        Self { idempotency: KeyMode::None, ..self.clone() }
    }

    /// This client sends every POST with the same `Idempotency-Key`.
    pub fn with_idempotency_key(&self, key: &str) -> Self {
        Self { idempotency: KeyMode::Fixed(key.to_owned()), ..self.clone() }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<String>) -> Reply {
        self.send_bytes(method, path, body.map(String::into_bytes)).await
    }

    /// As [`Client::send`], with a body that need not be UTF-8.
    pub async fn send_bytes(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Reply {
        let post = method == Method::POST;
        let mut request = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        match &self.idempotency {
            KeyMode::Fresh if post => request = request.header("idempotency-key", Uuid::now_v7().to_string()),
            KeyMode::Fixed(key) if post => request = request.header("idempotency-key", key),
            _ => {}
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("the stack answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body.to_string())).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Pays `amount` in `currency` at the fake provider, as a buyer's browser would with
    /// Stripe, optionally for one reservation; returns the payment intent's id.
    pub async fn pay(&self, amount: u64, currency: &str, reservation: Option<&str>) -> String {
        pay(&self.http, &self.payments_url, amount, currency, reservation).await
    }

    /// Pays a hold's total (for that hold) and confirms it with the payment.
    pub async fn pay_and_confirm(&self, hold: &Value) -> Reply {
        let total = hold["total"].as_u64().expect("a hold has a total");
        let currency = hold["currency"].as_str().expect("a hold has a currency");
        let payment = self.pay(total, currency, Some(id(hold))).await;
        self.confirm(hold, &payment).await
    }

    /// Confirms a hold with the given payment reference.
    pub async fn confirm(&self, hold: &Value, payment: &str) -> Reply {
        self.post(&format!("/api/v1/reservations/{}/confirm", id(hold)), &json!({ "payment_reference": payment })).await
    }

    /// Creates a venue and returns it; panics with the reply if that fails.
    pub async fn venue(&self, capacity: u32) -> Value {
        let reply = self
            .post(
                "/api/v1/venues",
                &json!({ "name": "Main Hall", "capacity": capacity, "timezone": "America/New_York" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["venue"].clone()
    }

    /// Creates an event at `venue`, starting in `days`, with `extra` fields merged in.
    pub async fn event(&self, venue: &Value, name: &str, days: i64, extra: Value) -> Value {
        let reply = self.post("/api/v1/events", &event_body(venue, name, days, extra)).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["event"].clone()
    }
}

pub fn event_body(venue: &Value, name: &str, days: i64, extra: Value) -> Value {
    let starts = Utc::now() + Duration::days(days);
    let mut body = json!({
        "name": name,
        "venue_id": venue["id"],
        "starts_at": rfc3339(starts),
        "ends_at": rfc3339(starts + Duration::hours(3)),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// Creates a payment intent at the fake provider (any `sk_test_` key is accepted).
pub async fn pay(
    http: &reqwest::Client,
    payments_url: &str,
    amount: u64,
    currency: &str,
    reservation: Option<&str>,
) -> String {
    let mut form = vec![("amount", amount.to_string()), ("currency", currency.to_ascii_lowercase())];
    if let Some(reservation) = reservation {
        form.push(("metadata[reservation_id]", reservation.to_owned()));
    }
    let reply = http
        .post(format!("{payments_url}/v1/payment_intents"))
        .bearer_auth("sk_test_integration_tests")
        .form(&form)
        .send()
        .await
        .expect("the fake provider answers");
    assert_eq!(reply.status(), 200);
    let intent: Value = reply.json().await.unwrap();
    intent["id"].as_str().unwrap().to_owned()
}

/// DynamoDB Local runs on the same two cores as every test, and the local runner cuts each
/// function off at its template timeout as Lambda does: the few tests that load the emulator
/// hard (hundreds of concurrent buyers, thousands of holds) take turns, so the light ones
/// around them keep answering in time.
pub async fn heavy_test() -> tokio::sync::SemaphorePermit<'static> {
    static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    HEAVY.acquire().await.expect("never closed")
}

/// An SQS record as Lambda hands it to a queue consumer, delivered for the first time.
pub fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({ "messageId": message_id, "receiptHandle": "r", "body": body,
            "attributes": { "ApproximateReceiveCount": "1" }, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:local", "awsRegion": "us-east-1" })
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn id(value: &Value) -> &str {
    value["id"].as_str().expect("has an id")
}
