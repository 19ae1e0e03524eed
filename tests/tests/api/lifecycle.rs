//! The event state machine of the API contract, edge by edge, through `PUT /events/{id}`.

use std::collections::{HashMap, VecDeque};

use serde_json::json;

use crate::harness::{Client, Tenant, id};

/// Written out from the contract rather than taken from the code, so the two are checked against
/// each other. `CANCELLED` is left out: only `/cancel` reaches it.
const ALLOWED: &[(&str, &str)] = &[
    ("DRAFT", "REVIEW"),
    ("DRAFT", "PUBLISHED"),
    ("REVIEW", "APPROVED"),
    ("REVIEW", "DRAFT"),
    ("APPROVED", "PUBLISHED"),
    ("PUBLISHED", "ON_SALE"),
    ("PUBLISHED", "POSTPONED"),
    ("ON_SALE", "SALES_PAUSED"),
    ("ON_SALE", "SOLD_OUT"),
    ("ON_SALE", "IN_PROGRESS"),
    ("ON_SALE", "POSTPONED"),
    ("SALES_PAUSED", "ON_SALE"),
    ("SALES_PAUSED", "IN_PROGRESS"),
    ("SALES_PAUSED", "POSTPONED"),
    ("SOLD_OUT", "ON_SALE"),
    ("SOLD_OUT", "IN_PROGRESS"),
    ("SOLD_OUT", "POSTPONED"),
    ("IN_PROGRESS", "COMPLETED"),
    ("POSTPONED", "RESCHEDULED"),
    ("RESCHEDULED", "PUBLISHED"),
    ("RESCHEDULED", "ON_SALE"),
];

/// The shortest chain of statuses from DRAFT to `target`.
fn path_to(target: &str) -> Vec<&'static str> {
    let mut previous: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from(["DRAFT"]);
    while let Some(status) = queue.pop_front() {
        for (from, to) in ALLOWED.iter().filter(|(from, _)| *from == status) {
            if *to != "DRAFT" && !previous.contains_key(to) {
                previous.insert(to, from);
                queue.push_back(to);
            }
        }
    }
    let mut path = Vec::new();
    let mut current = ALLOWED.iter().map(|(_, to)| *to).find(|s| *s == target).unwrap_or("DRAFT");
    while current != "DRAFT" {
        path.push(current);
        current = previous[current];
    }
    path.reverse();
    path
}

async fn event_in(client: &Client, venue: &serde_json::Value, name: &str, status: &str) -> String {
    let event = client.event(venue, name, 30, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    for step in path_to(status) {
        let reply = client.put(&path, &json!({ "status": step })).await;
        assert_eq!(reply.status, 200, "moving {name} to {step}: {}", reply.text);
    }
    path
}

#[tokio::test]
async fn every_allowed_transition_succeeds() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    for (i, (from, to)) in ALLOWED.iter().enumerate() {
        let path = event_in(&organizer, &venue, &format!("Edge {i}"), from).await;
        let reply = organizer.put(&path, &json!({ "status": to })).await;
        assert_eq!(reply.status, 200, "{from} -> {to}: {}", reply.text);
        assert_eq!(reply.body["event"]["status"], *to);
        assert_eq!(organizer.get(&path).await.body["event"]["status"], *to, "{from} -> {to} is stored");
    }
}

#[tokio::test]
async fn refused_transitions_are_409s_listing_what_is_allowed() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let refused = [
        ("DRAFT", "ON_SALE", "REVIEW, PUBLISHED"),
        ("DRAFT", "COMPLETED", "REVIEW, PUBLISHED"),
        ("PUBLISHED", "DRAFT", "ON_SALE, POSTPONED"),
        ("ON_SALE", "REVIEW", "SALES_PAUSED, SOLD_OUT, IN_PROGRESS, POSTPONED"),
        ("POSTPONED", "ON_SALE", "RESCHEDULED"),
        ("IN_PROGRESS", "ON_SALE", "COMPLETED"),
    ];
    for (i, (from, to, allowed)) in refused.iter().enumerate() {
        let path = event_in(&organizer, &venue, &format!("Refused {i}"), from).await;
        let reply = organizer.put(&path, &json!({ "status": to })).await;
        reply.assert_problem(409, "INVALID_EVENT_STATE");
        assert!(reply.body["detail"].as_str().unwrap().contains(allowed), "{from} -> {to}: {}", reply.text);
        assert_eq!(organizer.get(&path).await.body["event"]["status"], *from, "a refused move changes nothing");
    }
}

#[tokio::test]
async fn cancelling_is_not_a_status_update() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let path = event_in(&organizer, &venue, "Not like this", "ON_SALE").await;
    let reply = organizer.put(&path, &json!({ "status": "CANCELLED" })).await;
    reply.assert_problem(409, "INVALID_EVENT_STATE");
    assert!(reply.body["detail"].as_str().unwrap().contains("/cancel"));
}

#[tokio::test]
async fn a_completed_event_cannot_be_changed_at_all() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let path = event_in(&organizer, &venue, "Done", "COMPLETED").await;
    organizer.put(&path, &json!({ "name": "Renamed" })).await.assert_problem(409, "INVALID_EVENT_STATE");
    organizer.put(&path, &json!({ "status": "ON_SALE" })).await.assert_problem(409, "INVALID_EVENT_STATE");
    organizer.post(&format!("{path}/publish"), &json!({})).await.assert_problem(409, "INVALID_EVENT_STATE");
}

#[test]
fn the_code_and_the_contract_agree_on_the_state_machine() {
    use shared::domain::event::EventStatus;
    let mut from_code: Vec<(String, String)> = EventStatus::ALL
        .iter()
        .flat_map(|from| from.next_allowed().iter().map(move |to| (from.as_str().to_owned(), to.as_str().to_owned())))
        .filter(|(_, to)| to != "CANCELLED")
        .collect();
    let mut from_contract: Vec<(String, String)> =
        ALLOWED.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    from_code.sort();
    from_contract.sort();
    assert_eq!(from_code, from_contract);
    for status in EventStatus::ALL {
        let cancellable = status.next_allowed().contains(&EventStatus::Cancelled);
        assert_eq!(cancellable, !status.is_terminal(), "{status:?}: every non-terminal state may be cancelled");
    }
}
