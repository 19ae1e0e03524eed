//! `GET /health`: reachability of DynamoDB and SQS, without authentication.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::Deps;
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

pub async fn check(deps: &Deps) -> Response<Body> {
    let (dynamodb, sqs) = tokio::join!(deps.store.ping(), deps.sqs.list_queues().max_results(1).send());
    if let Err(error) = &dynamodb {
        tracing::warn!(%error, "health: DynamoDB unreachable");
    }
    if let Err(error) = &sqs {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "health: SQS unreachable");
    }
    let verdict = |ok: bool| if ok { "ok" } else { "unavailable" };
    let healthy = dynamodb.is_ok() && sqs.is_ok();
    let body = Health {
        status: verdict(healthy),
        version: env!("CARGO_PKG_VERSION"),
        checks: Checks { dynamodb: verdict(dynamodb.is_ok()), sqs: verdict(sqs.is_ok()) },
    };
    json_response(if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, &body)
}
