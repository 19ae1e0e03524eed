//! The local stack: the Lambda handlers served over HTTP on 127.0.0.1, against DynamoDB Local
//! and moto's SQS, with tables created from the SAM template. `make dev` runs it; the
//! integration tests build the same pieces in-process.
//!
//! - [`template`]: routes, tables, queues and secrets read from `infra/template.yaml`.
//! - [`secrets`]: the template's secrets in the emulator, read by each function as at cold start.
//! - [`emulators`]: the emulator processes.
//! - [`server`]: API Gateway's part, building real HTTP API v2 events.
//! - [`cors`]: API Gateway's CORS, from the template's configuration.
//! - [`workers`]: Lambda's event sources: queue pollers and schedules.
//! - [`operation_log`]: the AWS calls each function makes, recorded as evidence for IAM.
//! - [`cold_start`]: a real bootstrap's start and memory against a local Runtime API.
//! - [`cli`]: `local-runner [serve]`, `local-runner token` and `local-runner cold-start`.

pub mod cli;
pub mod cold_start;
pub mod cors;
pub mod emulators;
pub mod fake_payments;
pub mod operation_log;
pub mod secrets;
pub mod server;
pub mod template;
pub mod token;
pub mod workers;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::BillingMode;
use std::collections::HashMap;
use std::sync::Arc;

use shared::api::Endpoint;
use shared::aws_clients::Clients;
use shared::config::{Config, ConfigError};
use shared::deps::Deps;
use shared::jobs::Job;

use crate::template::TableSpec;

/// Local defaults (README, "Calling the API locally"); any of these environment variables
/// overrides its default.
pub const LOCAL_DEFAULTS: [(&str, &str); 5] = [
    ("JWT_HS256_SECRET", "local-dev-secret-0123456789abcdef0123"),
    ("JWT_ISSUER", "event-service-local"),
    ("JWT_AUDIENCE", "event-service"),
    // Locally a stalled cancellation is resumed after a minute rather than ten.
    ("CANCELLATION_STALL_SECONDS", "60"),
    // The `Service` dimension of a Lambda bootstrap's metrics (the bench runs real ones).
    ("SERVICE_NAME", "local"),
];

pub fn env_or_default(name: &str) -> Option<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // The local secret is only a default while no public key is configured: the verifier
    // refuses a shared secret beside public keys.
    let wants_public_keys = set("JWT_JWKS_URL").is_some() || set("JWT_PUBLIC_KEY").is_some();
    set(name).or_else(|| {
        if name == "JWT_HS256_SECRET" && wants_public_keys {
            return None;
        }
        LOCAL_DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    })
}

/// The service configuration for a local run against `table_name`.
pub fn local_config(table_name: &str) -> Result<Config, ConfigError> {
    local_config_with(table_name, &[])
}

/// As [`local_config`], with extra variables (the queue URLs the template's functions get).
pub fn local_config_with(table_name: &str, extra: &[(String, String)]) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| {
        if name == "TABLE_NAME" {
            return Some(table_name.to_owned());
        }
        extra.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).or_else(|| {
            // The limiter's table is named after the stack's, as `create_tables` made it.
            (name == "RATE_LIMIT_TABLE_NAME")
                .then(|| table_name_of(table_name, RATE_LIMIT_TABLE))
                .or_else(|| env_or_default(name))
        })
    })
}

/// Every function's dependencies, each built as its Lambda builds them at cold start: from the
/// stack's settings and only the secrets its own template environment names (a function that
/// names none has no cursor key and no payment client, as on AWS). So a function whose code needs
/// a secret its template does not give it fails locally too.
#[derive(Clone)]
pub struct FunctionDeps {
    by_function: HashMap<String, Arc<Deps>>,
    /// Every setting and secret together: for tests that drive any job with one `Deps`, and for
    /// wiring one `Deps` for every function.
    pub all: Arc<Deps>,
}

impl FunctionDeps {
    pub fn same_for_all(deps: Arc<Deps>) -> Self {
        Self { by_function: HashMap::new(), all: deps }
    }

    /// The function's own; `all` only where one `Deps` serves every function.
    pub fn of(&self, function: &str) -> Arc<Deps> {
        match self.by_function.get(function) {
            Some(deps) => Arc::clone(deps),
            None if self.by_function.is_empty() => Arc::clone(&self.all),
            None => panic!("no dependencies were built for function {function}"),
        }
    }

    /// What each Lambda does at cold start: fetch the token verification keys.
    pub async fn prefetch_keys(&self) {
        let verifiers = self.by_function.values().chain([&self.all]).filter_map(|d| d.verifier.as_ref());
        futures_util::future::join_all(verifiers.map(shared::auth::TokenVerifier::prefetch)).await;
    }
}

/// Builds the dependencies of every function of `template`. `variables` go to every function
/// (queue URLs); `payment_variables` (the provider's URL) to those that name the payment key.
pub fn function_deps(
    template: &template::Template,
    table: &str,
    variables: &[(String, String)],
    payment_variables: &[(String, String)],
    secrets: &secrets::LocalSecrets,
    clients: &Clients,
) -> Result<FunctionDeps, shared::deps::InitError> {
    let config_of = |own: &secrets::FunctionSecrets| {
        let mut all = variables.to_vec();
        if own.secrets.payments_key.is_some() {
            all.extend(payment_variables.iter().cloned());
        }
        all.extend(own.variables.iter().cloned());
        local_config_with(table, &all)
    };
    let functions = template
        .routes
        .iter()
        .map(|r| &r.function)
        .chain(template.queue_triggers.iter().map(|t| &t.function))
        .chain(template.schedules.iter().map(|s| &s.function));
    let mut by_function = HashMap::new();
    for function in functions {
        if by_function.contains_key(function) {
            continue;
        }
        // Each function as its Lambda builds it: what its handler declares, from its own
        // environment, which must name exactly the secrets the handler reads.
        let needs = Endpoint::from_function_name(function)
            .map(Endpoint::needs)
            .or_else(|| Job::from_function_name(function).map(Job::needs))
            .ok_or_else(|| shared::deps::InitError::Mismatch(format!("no handler for function {function}")))?;
        let own = secrets.of(function);
        let deps =
            Deps::for_function(needs, &config_of(&own)?, &own.secrets, clients.dynamodb.clone(), clients.sqs.clone())?;
        by_function.insert(function.clone(), Arc::new(deps));
    }
    let all = Deps::with_clients(
        &config_of(&secrets.all)?,
        &secrets.all.secrets,
        clients.dynamodb.clone(),
        clients.sqs.clone(),
    )?;
    Ok(FunctionDeps { by_function, all: Arc::new(all) })
}

/// The template's queue variables (`EXPIRY_QUEUE_URL: !Ref ExpiryQueue`) with local URLs.
pub fn queue_variables(
    template: &template::Template,
    queues: &std::collections::HashMap<String, workers::LocalQueue>,
) -> Vec<(String, String)> {
    template
        .queue_variables
        .iter()
        .filter_map(|(variable, queue)| queues.get(queue).map(|q| (variable.clone(), q.url.clone())))
        .collect()
}

/// SDK clients for the emulators: fixed region, dummy credentials (letters and digits only,
/// as DynamoDB Local requires), explicit loopback endpoints, and Lambda's timeouts
/// ([`shared::aws_clients`]), so a slow emulator shows what a slow AWS service would do.
/// moto serves Secrets Manager on the same endpoint as SQS.
pub fn emulator_clients(dynamodb_endpoint: &str, sqs_endpoint: &str) -> Clients {
    emulator_clients_with(dynamodb_endpoint, sqs_endpoint, &shared::aws_clients::timeouts())
}

/// The DynamoDB client settings for DynamoDB Local at `endpoint`, recording operations when
/// `OPERATION_LOG` asks (a test may add interceptors of its own).
pub fn emulator_dynamodb_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(emulator_credentials())
        .endpoint_url(endpoint);
    if let Some(log) = operation_log::from_env() {
        config = config.interceptor(log);
    }
    config
}

fn emulator_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "local-emulators")
}

/// As [`emulator_clients`], with other timeouts.
pub fn emulator_clients_with(
    dynamodb_endpoint: &str,
    sqs_endpoint: &str,
    timeouts: &aws_config::timeout::TimeoutConfig,
) -> Clients {
    let credentials = emulator_credentials();
    let dynamodb = emulator_dynamodb_config(dynamodb_endpoint);
    let mut sqs = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(credentials.clone())
        .endpoint_url(sqs_endpoint);
    let mut secrets = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(sqs_endpoint);
    if let Some(log) = operation_log::from_env() {
        sqs = sqs.interceptor(log.clone());
        secrets = secrets.interceptor(log);
    }
    Clients {
        dynamodb: shared::aws_clients::dynamodb(dynamodb, timeouts.clone()),
        sqs: shared::aws_clients::sqs(sqs, timeouts.clone()),
        secrets: shared::aws_clients::secrets_manager(secrets, timeouts.clone()),
    }
}

/// The template's table that holds everything but the rate-limit windows.
pub const MAIN_TABLE: &str = "EventsTable";
/// The rate limiter's own table.
pub const RATE_LIMIT_TABLE: &str = "RateLimitTable";

/// A template table's local name: the stack's `table` for the main one, `<table>-<LogicalId>`
/// for the others.
pub fn table_name_of(table: &str, logical_id: &str) -> String {
    if logical_id == MAIN_TABLE { table.to_owned() } else { format!("{table}-{logical_id}") }
}

/// Every table of the template, named after the stack's `table`.
pub async fn create_tables(
    client: &aws_sdk_dynamodb::Client,
    template: &template::Template,
    table: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    for spec in &template.tables {
        create_table(client, spec, &table_name_of(table, &spec.logical_id)).await?;
    }
    Ok(())
}

/// Creates a table exactly as the template declares it (keys, attributes, indexes).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    name: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(spec.attributes.clone()))
        .set_key_schema(Some(spec.key_schema.clone()))
        .set_global_secondary_indexes((!spec.global_indexes.is_empty()).then(|| spec.global_indexes.clone()))
        .send()
        .await?;
    Ok(())
}
