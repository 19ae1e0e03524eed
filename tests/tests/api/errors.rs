//! Cross-cutting behaviour: body limits, path ids, headers, and failures that must not leak.

use serde_json::json;

use crate::harness::{Tenant, serve_with, stack};

#[tokio::test]
async fn bodies_over_64_kib_are_refused() {
    let organizer = Tenant::new().organizer();
    let body = json!({ "name": "x".repeat(70 * 1024), "capacity": 10, "timezone": "UTC" });
    organizer.post("/api/v1/venues", &body).await.assert_problem(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn path_ids_that_are_not_uuids_are_400s() {
    let admin = Tenant::new().admin();
    admin.get("/api/v1/events/123").await.assert_problem(400, "VALIDATION_ERROR");
    admin.get("/api/v1/venues/%20").await.assert_problem(400, "VALIDATION_ERROR");
    admin.post("/api/v1/events/x/publish", &json!({})).await.assert_problem(400, "VALIDATION_ERROR");
    admin.delete("/api/v1/events/0190a5d4").await.assert_problem(400, "VALIDATION_ERROR");
    let reply = admin.put("/api/v1/events/not-an-id", &json!({ "name": "x" })).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["event_id"]);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let tenant = Tenant::new();
    let replies = [
        tenant.with_header(None).get("/health").await,
        tenant.with_header(None).get("/api/v1/venues").await,
        tenant.customer().get("/api/v1/venues").await,
        tenant.customer().post("/api/v1/venues", &json!({})).await,
    ];
    for reply in replies {
        let request_id = reply.headers.get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
        assert!(!request_id.is_empty());
        if reply.status >= 400 {
            assert_eq!(reply.body["request_id"], request_id, "the problem names the same request");
        }
    }
}

#[tokio::test]
async fn internal_failures_say_nothing_about_internals() {
    let missing_table = "no-such-table-7f3a";
    let tenant = Tenant::at(serve_with(stack().deps(missing_table, None)).await, stack().payments_url.clone());
    let reply = tenant.admin().get("/api/v1/venues").await;
    reply.assert_problem(500, "INTERNAL_ERROR");
    for secret in [missing_table, "ResourceNotFound", "DynamoDB", "dynamodb", "aws", "127.0.0.1"] {
        assert!(!reply.text.contains(secret), "500 body leaks {secret:?}: {}", reply.text);
    }
    let health = tenant.with_header(None).get("/health").await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.body["checks"], json!({ "dynamodb": "unavailable", "sqs": "ok" }));
}

#[tokio::test]
async fn health_reports_an_unreachable_queue_service() {
    let stack = stack();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let deps = stack.deps(&stack.table, Some(&format!("http://127.0.0.1:{closed_port}")));
    let reply = Tenant::at(serve_with(deps).await, stack.payments_url.clone()).with_header(None).get("/health").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.body["status"], "unavailable");
    assert_eq!(reply.body["checks"], json!({ "dynamodb": "ok", "sqs": "unavailable" }));
}

#[tokio::test]
async fn a_burst_of_health_checks_costs_one_round_of_dependency_calls() {
    // Timed while no heavy test loads the two cores; alone it takes about 0.7 s (debug build).
    let _turn = crate::harness::heavy_test().await;
    let stack = stack();
    let deps = stack.deps(&stack.table, None);
    let tenant = Tenant::at(serve_with(std::sync::Arc::clone(&deps)).await, stack.payments_url.clone());
    let started = std::time::Instant::now();
    let checks: Vec<_> = (0..400)
        .map(|_| {
            let client = tenant.with_header(None);
            tokio::spawn(async move { client.get("/health").await.status })
        })
        .collect();
    for check in checks {
        assert_eq!(check.await.unwrap(), 200);
    }
    let elapsed = started.elapsed();
    println!("400 concurrent health checks in {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(deps.health.rounds(), 1, "one DynamoDB and one SQS call for the whole burst");
}

#[tokio::test]
async fn unknown_routes_are_the_gateways_404() {
    let reply = Tenant::new().admin().get("/api/v1/nothing-here").await;
    assert_eq!(reply.status, 404);
}
