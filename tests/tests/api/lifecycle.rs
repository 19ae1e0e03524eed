//! The event state machine of the API contract, edge by edge, through `PUT /events/{id}`, and
//! the scheduled job that moves events on time.

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

// ---- the lifecycle job ----

async fn advance(deps: &shared::deps::Deps) -> u64 {
    let timeout = std::time::Duration::from_mins(1);
    let answer = local_runner::workers::invoke(deps, shared::jobs::Job::AdvanceEvents, json!({}), timeout).await;
    answer.expect("the lifecycle job runs")["moved"].as_u64().expect("it counts its moves")
}

async fn status_of(client: &Client, path: &str) -> String {
    let reply = client.get(path).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["event"]["status"].as_str().unwrap().to_owned()
}

async fn sleep_until(at: chrono::DateTime<chrono::Utc>) {
    let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(200)).await;
}

/// Short real windows on a stack of its own whose events may start seconds ahead; the test runs
/// the job itself, so each run's moves are counted exactly.
#[tokio::test]
async fn the_job_walks_events_through_every_timed_move_once_and_leaves_a_chosen_pause_alone() {
    use crate::harness::{isolated_stack, no_workers, rfc3339};
    let (tenant, stack) = isolated_stack(no_workers(&[("EVENT_MIN_LEAD_HOURS", "0")])).await;
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let t0 = chrono::Utc::now();
    let at = |seconds: i64| t0 + chrono::Duration::seconds(seconds);
    let times = json!({ "starts_at": rfc3339(at(10)), "ends_at": rfc3339(at(13)) });
    let mut paths = Vec::new();
    for name in ["Walks", "Paused by hand"] {
        let event = organizer.event(&venue, name, 0, times.clone()).await;
        let path = format!("/api/v1/events/{}", id(&event));
        for (kind, opens, closes) in [("Early", 5, 7), ("Late", 6, 8)] {
            let window = json!({
                "name": kind, "price": 1000, "quantity": 10,
                "sales_start_at": rfc3339(at(opens)), "sales_end_at": rfc3339(at(closes)),
            });
            let created = organizer.post(&format!("{path}/ticket-types"), &window).await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        assert_eq!(organizer.post(&format!("{path}/publish"), &json!({})).await.status, 200);
        paths.push(path);
    }
    let (walks, paused) = (&paths[0], &paths[1]);
    assert!(chrono::Utc::now() < at(5), "the setup took too long for the windows chosen");
    assert_eq!(advance(&stack.deps).await, 0, "nothing is due before the first window opens");
    assert_eq!(status_of(&organizer, walks).await, "PUBLISHED");

    sleep_until(at(5)).await;
    assert_eq!(advance(&stack.deps).await, 2, "the first window opened for both");
    assert_eq!(advance(&stack.deps).await, 0, "a second run repeats nothing");
    assert_eq!(status_of(&organizer, walks).await, "ON_SALE");
    let buyer = tenant.customer();
    let types = organizer.get(&format!("{walks}/ticket-types")).await.body["ticket_types"].clone();
    let early = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 1 }] });
    let hold = buyer.post(&format!("{walks}/reservations"), &early).await;
    assert_eq!(hold.status, 201, "the move opened sales: {}", hold.text);
    let paused_by_hand = organizer.put(paused, &json!({ "status": "SALES_PAUSED" })).await;
    assert_eq!(paused_by_hand.status, 200, "{}", paused_by_hand.text);

    sleep_until(at(8)).await;
    assert_eq!(advance(&stack.deps).await, 1, "every window of the first has closed");
    assert_eq!(advance(&stack.deps).await, 0);
    assert_eq!(status_of(&organizer, walks).await, "SALES_PAUSED");
    assert_eq!(status_of(&organizer, paused).await, "SALES_PAUSED", "a chosen pause stays");
    buyer.post(&format!("{walks}/reservations"), &early).await.assert_problem(409, "SALES_NOT_OPEN");

    sleep_until(at(10)).await;
    assert_eq!(advance(&stack.deps).await, 2, "both started");
    assert_eq!(advance(&stack.deps).await, 0);
    assert_eq!(status_of(&organizer, walks).await, "IN_PROGRESS");
    assert_eq!(status_of(&organizer, paused).await, "IN_PROGRESS");

    sleep_until(at(13)).await;
    assert_eq!(advance(&stack.deps).await, 2, "both ended");
    assert_eq!(advance(&stack.deps).await, 0, "completed events leave the index");
    let done = organizer.get(walks).await;
    assert_eq!(done.body["event"]["status"], "COMPLETED");
    assert_eq!(status_of(&organizer, paused).await, "COMPLETED");
    // Each automatic move is a versioned change, like a person's: created (1), two ticket types
    // (3), published (4), then four moves.
    assert_eq!(done.body["event"]["version"], 8, "{}", done.text);
}

/// A run late by several moves takes them all, and an event changed by a person between the
/// job's read and its write is left as the person made it.
#[tokio::test]
async fn a_late_run_catches_up_and_a_person_s_change_wins() {
    use crate::harness::{isolated_stack, no_workers, rfc3339};
    let (tenant, stack) = isolated_stack(no_workers(&[("EVENT_MIN_LEAD_HOURS", "0")])).await;
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let t0 = chrono::Utc::now();
    let at = |seconds: i64| t0 + chrono::Duration::seconds(seconds);
    let times = json!({ "starts_at": rfc3339(at(3)), "ends_at": rfc3339(at(4)) });
    let event = organizer.event(&venue, "Missed it all", 0, times).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let window = json!({ "name": "Any", "price": 1000, "quantity": 10, "sales_start_at": rfc3339(at(1)) });
    assert_eq!(organizer.post(&format!("{path}/ticket-types"), &window).await.status, 201);
    assert_eq!(organizer.post(&format!("{path}/publish"), &json!({})).await.status, 200);
    sleep_until(at(4)).await;
    assert_eq!(advance(&stack.deps).await, 3, "on sale, in progress, completed in one run");
    assert_eq!(status_of(&organizer, &path).await, "COMPLETED");

    // The job's write is conditional on what it read: a status a person set since wins.
    let times = json!({ "starts_at": rfc3339(at(7)), "ends_at": rfc3339(at(9)) });
    let event = organizer.event(&venue, "Changed meanwhile", 0, times).await;
    let path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(organizer.post(&format!("{path}/ticket-types"), &window).await.status, 201);
    assert_eq!(organizer.post(&format!("{path}/publish"), &json!({})).await.status, 200);
    let event_id: shared::domain::ids::EventId = id(&event).parse().unwrap();
    let read = stack.deps.store.get_event(tenant.id, event_id).await.unwrap().unwrap();
    assert_eq!(organizer.put(&path, &json!({ "status": "POSTPONED" })).await.status, 200);
    let now = chrono::Utc::now();
    let moved = stack.deps.store.move_on_time(tenant.id, &read, shared::domain::event::EventStatus::OnSale, None, now);
    assert!(!moved.await.unwrap(), "a move from a stale read does not commit");
    assert_eq!(status_of(&organizer, &path).await, "POSTPONED");
    assert_eq!(advance(&stack.deps).await, 0, "nothing moves a postponed event");
    assert_eq!(status_of(&organizer, &path).await, "POSTPONED");
}

/// The local runner runs the job on its schedule (the shared stack's, every 2 s here).
#[tokio::test]
async fn the_runner_s_schedule_opens_sales_when_the_window_opens() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Opens soon", 5, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let opens = chrono::Utc::now() + chrono::Duration::seconds(2);
    let window =
        json!({ "name": "Any", "price": 1000, "quantity": 10, "sales_start_at": crate::harness::rfc3339(opens) });
    assert_eq!(organizer.post(&format!("{path}/ticket-types"), &window).await.status, 201);
    assert_eq!(organizer.post(&format!("{path}/publish"), &json!({})).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let status = status_of(&organizer, &path).await;
        if status == "ON_SALE" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status} a minute after its window opened");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// A backlog larger than one short run can take: the run stops when its time is spent, the next
/// takes the rest, and no event moves twice.
#[tokio::test]
async fn a_backlog_is_worked_through_across_runs_and_each_event_moves_once() {
    use crate::harness::{isolated_stack, no_workers, rfc3339};
    const EVENTS: usize = 30;
    let (tenant, stack) = isolated_stack(no_workers(&[])).await;
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let opened = json!({ "name": "Any", "price": 1000, "quantity": 10, "sales_start_at": rfc3339(chrono::Utc::now()) });
    let mut paths = Vec::new();
    for i in 0..EVENTS {
        let event = organizer.event(&venue, &format!("Backlog {i}"), 3, json!({})).await;
        let path = format!("/api/v1/events/{}", id(&event));
        assert_eq!(organizer.post(&format!("{path}/ticket-types"), &opened).await.status, 201);
        assert_eq!(organizer.post(&format!("{path}/publish"), &json!({})).await.status, 200);
        paths.push(path);
    }
    let versions_before: Vec<u64> = {
        let mut versions = Vec::new();
        for path in &paths {
            versions.push(organizer.get(path).await.body["event"]["version"].as_u64().unwrap());
        }
        versions
    };
    // A run whose deadline leaves it almost no time: it stops before starting what it cannot end.
    let short = std::time::Duration::from_millis(13_020);
    let first = local_runner::workers::invoke(&stack.deps, shared::jobs::Job::AdvanceEvents, json!({}), short).await;
    let first = first.expect("a short run ends in time")["moved"].as_u64().unwrap();
    assert!(first < EVENTS as u64, "{first} moves in 20 ms of budget");
    let second = advance(&stack.deps).await;
    assert_eq!(first + second, EVENTS as u64, "the next run took the rest");
    assert_eq!(advance(&stack.deps).await, 0);
    for (path, before) in paths.iter().zip(versions_before) {
        let event = organizer.get(path).await.body["event"].clone();
        assert_eq!(
            (event["status"].as_str(), event["version"].as_u64()),
            (Some("ON_SALE"), Some(before + 1)),
            "{path}"
        );
    }
}
