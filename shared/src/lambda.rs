//! The Lambda entry points each function's `main` calls with its own handler's type, so the
//! binary links that handler and no other.

use std::sync::Arc;

use crate::api::Handler;
use crate::config::{Config, ConfigError};
use crate::deps::Deps;
use crate::jobs::JobHandler;
use crate::monitoring::{self, Metric};

/// Builds what the route needs once per cold start, then serves invocations of `handler`'s route.
pub async fn serve<H: Handler>(handler: H) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    install_metrics(handler.endpoint().function_name())?;
    let config = Config::from_env()?;
    let deps = Arc::new(Deps::from_environment::<H>(&config).await?);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let deps = Arc::clone(&deps);
        async move {
            let response = crate::api::handle(handler, &deps, request).await;
            monitoring::flush();
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// The entry point of the queue consumers and scheduled jobs. A job verifies no tokens, so it
/// builds no verifier and fetches no keys.
pub async fn serve_job<J: JobHandler>(job: J) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let function = job.job().function_name();
    install_metrics(function)?;
    let config = Config::from_env()?;
    let deps = Arc::new(Deps::from_environment::<J>(&config).await?);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let deps = Arc::clone(&deps);
            async move {
                let deadline = deadline_of(&event.context);
                let outcome = job.run(&deps, event.payload, deadline).await;
                if outcome.is_err() {
                    monitoring::count_for(Metric::JobFailures, function, 1);
                }
                monitoring::flush();
                outcome.map_err(lambda_http::Error::from)
            }
        },
    ))
    .await
}

/// The EMF recorder, for the stack named by `SERVICE_NAME` (every metric's `Service` dimension).
fn install_metrics(function: &'static str) -> Result<(), ConfigError> {
    let service = std::env::var("SERVICE_NAME").map_err(|_| ConfigError::Missing("SERVICE_NAME"))?;
    // A stack's name; the EMF lines carry it unescaped.
    if service.is_empty() || !service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ConfigError::Invalid { name: "SERVICE_NAME", reason: "letters, digits and hyphens only".into() });
    }
    monitoring::install(&service, function);
    Ok(())
}

/// The invocation's deadline (milliseconds since the epoch in the Lambda context) as an instant.
fn deadline_of(context: &lambda_http::lambda_runtime::Context) -> tokio::time::Instant {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let left = std::time::Duration::from_millis(context.deadline.saturating_sub(now_ms));
    tokio::time::Instant::now() + left
}
