//! Per tenant + user rate limits at the contract's defaults (100 reads and 30 writes a minute),
//! on stacks of their own: the rest of the suite runs with generous limits.

use chrono::Timelike;
use serde_json::json;

use crate::harness::{Client, isolated_stack, no_workers};

/// Waits for a fresh minute if this one is nearly over, so 40 requests fall in one window.
async fn early_in_a_window() {
    let second = chrono::Utc::now().second();
    if second > 30 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

async fn create_venues(client: &Client, count: usize) -> Vec<crate::harness::Reply> {
    let mut replies = Vec::new();
    for i in 0..count {
        let body = json!({ "name": format!("Hall {i}"), "capacity": 100, "timezone": "Europe/Paris" });
        replies.push(client.post("/api/v1/venues", &body).await);
    }
    replies
}

#[tokio::test]
async fn the_31st_write_in_a_minute_is_refused_until_the_window_ends_and_no_one_else_is_affected() {
    let limits = [("RATE_LIMIT_WRITES_PER_MINUTE", "30"), ("RATE_LIMIT_READS_PER_MINUTE", "100")];
    // A generous timeout: on the loaded suite a slow limiter would let requests through.
    let (tenant, _stack) =
        isolated_stack(no_workers(&[limits[0], limits[1], ("RATE_LIMIT_TIMEOUT_MS", "10000")])).await;
    early_in_a_window().await;
    let organizer = tenant.organizer();
    let replies = create_venues(&organizer, 40).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..30], [201; 30], "{statuses:?}");
    assert_eq!(statuses[30..], [429; 10], "{statuses:?}");
    for limited in &replies[30..] {
        limited.assert_problem(429, "RATE_LIMITED");
        let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    }
    // Another user of the same tenant has a budget of their own; reads are counted apart.
    assert_eq!(create_venues(&tenant.user("organizer", "organizer-2"), 1).await[0].status, 201);
    assert_eq!(organizer.get("/api/v1/venues").await.status, 200);
    // Nothing refused was done: exactly 30 venues exist, plus the other user's one.
    let listed = organizer.get("/api/v1/venues?limit=100").await;
    assert_eq!(listed.body["venues"].as_array().map(Vec::len), Some(31), "{}", listed.text);
}

#[tokio::test]
async fn reads_have_their_own_budget_of_100() {
    let limits = [("RATE_LIMIT_READS_PER_MINUTE", "100"), ("RATE_LIMIT_TIMEOUT_MS", "10000")];
    let (tenant, _stack) = isolated_stack(no_workers(&limits)).await;
    early_in_a_window().await;
    let reader = tenant.customer();
    let mut statuses = Vec::new();
    for _ in 0..101 {
        statuses.push(reader.get("/api/v1/venues").await.status);
    }
    assert!(statuses[..100].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[100], 429);
    // /health is never limited (nor authenticated).
    assert_eq!(reader.get("/health").await.status, 200);
}

#[tokio::test]
async fn with_the_limiter_s_table_unreachable_every_request_passes() {
    let broken = [
        ("RATE_LIMIT_TABLE_NAME", "missing-RateLimitTable"),
        ("RATE_LIMIT_WRITES_PER_MINUTE", "30"),
        ("RATE_LIMIT_TIMEOUT_MS", "10000"),
    ];
    let (tenant, _stack) = isolated_stack(no_workers(&broken)).await;
    let replies = create_venues(&tenant.organizer(), 40).await;
    assert!(replies.iter().all(|r| r.status == 201), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    // That each is counted as a fail-open is tests/tests/operations.rs's to show (it reads the metrics).
}
