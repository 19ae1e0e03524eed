//! One tenant can never reach another's data: their ids are simply not found.

use serde_json::json;

use crate::harness::{Tenant, event_body, id};

#[tokio::test]
async fn another_tenants_ids_are_not_found_on_every_route() {
    let owner = Tenant::new();
    let venue = owner.organizer().venue(100).await;
    let event = owner.organizer().event(&venue, "Private party", 30, json!({})).await;
    owner.organizer().post(&format!("/api/v1/events/{}/publish", id(&event)), &json!({})).await;
    let venue_path = format!("/api/v1/venues/{}", id(&venue));
    let event_path = format!("/api/v1/events/{}", id(&event));

    let intruder = Tenant::new().admin();
    intruder.get(&venue_path).await.assert_problem(404, "NOT_FOUND");
    intruder.put(&venue_path, &json!({ "capacity": 1 })).await.assert_problem(404, "NOT_FOUND");
    intruder.get(&event_path).await.assert_problem(404, "NOT_FOUND");
    intruder.put(&event_path, &json!({ "name": "Mine now" })).await.assert_problem(404, "NOT_FOUND");
    intruder.post(&format!("{event_path}/publish"), &json!({})).await.assert_problem(404, "NOT_FOUND");
    intruder.delete(&event_path).await.assert_problem(404, "NOT_FOUND");
    assert_eq!(intruder.get("/api/v1/venues").await.body["venues"], json!([]));
    assert_eq!(intruder.get("/api/v1/events").await.body["events"], json!([]));
    assert_eq!(intruder.get(&format!("/api/v1/events?venue_id={}", id(&venue))).await.body["events"], json!([]));
    let reply = intruder.post("/api/v1/events", &event_body(&venue, "Squat", 30, json!({}))).await;
    reply.assert_problem(422, "VALIDATION_ERROR");

    // Nothing the intruder did reached the owner's data.
    let still = owner.organizer().get(&event_path).await;
    assert_eq!(
        (still.body["event"]["name"].as_str(), still.body["event"]["version"].as_u64()),
        (Some("Private party"), Some(2))
    );
    assert_eq!(owner.organizer().get(&venue_path).await.body["venue"]["capacity"], 100);
}
