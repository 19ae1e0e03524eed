//! `GET /health`: reachability of DynamoDB and SQS, without authentication. The checks are
//! cached per running instance for [`CHECK_EVERY`], and only one caller at a time runs them, so
//! a burst of health checks costs the dependencies at most one call each per instance and
//! period (an unauthenticated endpoint must not amplify load or cost).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::deps::Deps;
use crate::http::json_response;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    dynamodb: &'static str,
    sqs: &'static str,
}

/// How long one round of checks is reused.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

pub async fn check(deps: &Deps) -> Response<Body> {
    let (dynamodb, sqs) = {
        // Callers queue behind the one running the checks and then reuse its answer.
        let mut last = deps.health.last.lock().await;
        match *last {
            Some((at, dynamodb, sqs)) if at.elapsed() < CHECK_EVERY => (dynamodb, sqs),
            _ => {
                let (dynamodb, sqs) = probe(deps).await;
                deps.health.rounds.fetch_add(1, Ordering::Relaxed);
                *last = Some((Instant::now(), dynamodb, sqs));
                (dynamodb, sqs)
            }
        }
    };
    let verdict = |ok: bool| if ok { "ok" } else { "unavailable" };
    let healthy = dynamodb && sqs;
    let body = Health {
        status: verdict(healthy),
        version: env!("CARGO_PKG_VERSION"),
        checks: Checks { dynamodb: verdict(dynamodb), sqs: verdict(sqs) },
    };
    json_response(if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, &body)
}

async fn probe(deps: &Deps) -> (bool, bool) {
    let sqs = async {
        // `/health` declares the queue client; without one there is nothing to check with.
        let Some(client) = &deps.sqs else { return false };
        let listed = client.list_queues().max_results(1).send().await;
        if let Err(error) = &listed {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "health: SQS unreachable");
        }
        listed.is_ok()
    };
    let (dynamodb, sqs) = tokio::join!(deps.store.ping(), sqs);
    if let Err(error) = &dynamodb {
        tracing::warn!(%error, "health: DynamoDB unreachable");
    }
    (dynamodb.is_ok(), sqs)
}
