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

/// Every client a function may use.
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Used at cold start only, to read the function's secrets.
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// Clients for AWS itself, from the standard environment (region, credentials).
pub async fn from_environment() -> Clients {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Clients {
        dynamodb: dynamodb((&sdk).into(), timeouts()),
        sqs: sqs((&sdk).into(), timeouts()),
        secrets: secrets_manager((&sdk).into(), timeouts()),
    }
}
