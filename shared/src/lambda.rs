//! The Lambda entry point every HTTP function's `main` calls.

use std::sync::Arc;

use crate::api::{Deps, Endpoint, Job};
use crate::config::Config;

/// Builds clients once per cold start, then serves invocations of `endpoint`.
pub async fn serve(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let config = Config::from_env()?;
    let deps = Arc::new(Deps::from_env_config(&config).await?);
    lambda_http::run(lambda_http::service_fn(move |request| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, std::convert::Infallible>(endpoint.handle(&deps, request).await) }
    }))
    .await
}

/// The entry point of the queue consumers and scheduled jobs.
pub async fn serve_job(job: Job) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let config = Config::from_env()?;
    let deps = Arc::new(Deps::from_env_config(&config).await?);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let deps = Arc::clone(&deps);
            async move { job.handle(&deps, event.payload).await.map_err(lambda_http::Error::from) }
        },
    ))
    .await
}
