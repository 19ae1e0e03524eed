//! The one way the functions' SDK clients are built, on Lambda and locally (the local runner and
//! the tests pass builders pointed at the emulators). `make dev` and the fault tests use
//! Lambda's [`timeouts`], so a slow or frozen dependency behaves there as it would on AWS; only
//! the integration suite's shared stack passes longer ones (see `tests/tests/api/harness.rs`).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

/// One DynamoDB or SQS call, all its retries included, takes at most 6 s: a stalled dependency
/// becomes a 503 inside an HTTP function's 10 s instead of a function cut off after its write
/// committed (docs/timeouts.md has the budget of every function).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

pub fn dynamodb(builder: aws_sdk_dynamodb::config::Builder, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(builder.timeout_config(timeouts).build())
}

pub fn sqs(builder: aws_sdk_sqs::config::Builder, timeouts: TimeoutConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(builder.timeout_config(timeouts).build())
}

pub fn secrets_manager(
    builder: aws_sdk_secretsmanager::config::Builder,
    timeouts: TimeoutConfig,
) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(builder.timeout_config(timeouts).build())
}

/// Every client a function may use, pointed at the emulators (the local runner and the tests).
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Used at cold start only, to read the function's secrets.
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// The shared settings of a function's clients on AWS itself. On Lambda the region and the
/// function role's credentials are in the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); reading just those, with the SDK's own
/// environment providers, instead of `aws_config`'s default chains (profile files, SSO, web
/// identity through STS, the instance metadata service) keeps those chains out of every
/// bootstrap (docs/performance.md has the bytes). Not read either, and not set by the template:
/// `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, FIPS and dual-stack endpoints, the user agent's app id,
/// container credentials. The local runner and the tests build their clients themselves,
/// pointed at the emulators.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
    use aws_config::meta::region::ProvideRegion;
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new().region().await)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .build()
}

pub fn dynamodb_from(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    config.set_endpoint_url(endpoint_override("DYNAMODB"));
    dynamodb(config, timeouts())
}

pub fn sqs_from(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(sdk);
    config.set_endpoint_url(endpoint_override("SQS"));
    sqs(config, timeouts())
}

/// Used at cold start only, to read the function's secrets; built only by functions that read one.
pub fn secrets_manager_from(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    config.set_endpoint_url(endpoint_override("SECRETS_MANAGER"));
    secrets_manager(config, timeouts())
}

/// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, the SDK's names for another endpoint:
/// unset on Lambda; set where a real bootstrap runs against the emulators (`make bench`).
fn endpoint_override(service: &str) -> Option<String> {
    let named = |name: &str| std::env::var(name).ok().filter(|url| !url.is_empty());
    named(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| named("AWS_ENDPOINT_URL"))
}
