//! A stalled dependency, on a stack of its own: each emulator is frozen in turn (SIGSTOP) while
//! requests arrive, then thawed. Answers must come within the function's time, and nothing may
//! be left half-done.

use std::time::{Duration, Instant};

use local_runner::emulators::{Emulators, Installation};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Tenant, no_workers, project_root, provision_with, serve_with, template};
use crate::inventory::{assert_counts_add_up, capacity, event_on_sale, reserve};

/// Emulators, a table and a gateway of the test's own, so freezing them disturbs no other test.
async fn stack_of_its_own() -> (Emulators, Tenant) {
    let emulators = Installation { project_root: project_root() }.start(0, 0).expect("emulators start");
    let table = format!("events-faults-{}", Uuid::now_v7());
    // Lambda's own SDK timeouts, as `make dev` uses them.
    let timeouts = shared::aws_clients::timeouts();
    let (dynamodb, sqs) = (emulators.dynamodb.endpoint(), emulators.sqs.endpoint());
    let provisioned = provision_with(&dynamodb, &sqs, &table, no_workers(&[]), &timeouts).await;
    let url = serve_with(provisioned.deps).await;
    (emulators, Tenant::at(url, provisioned.payments_url))
}

fn route_timeout(method: &str, path: &str) -> Duration {
    template().routes.iter().find(|r| r.method == method && r.path == path).expect("route in the template").timeout
}

/// The hold's answer waits for its expiry message at most `EXPIRY_SEND_BUDGET`; without that
/// bound it would wait for the SDK's attempts and retries, up to its 6 s operation timeout. The allowance is
/// measured, not guessed: the same hold with the queue service running, on the same loaded
/// machine, plus a second of scheduling slack, still well below the 6 s an unbounded send costs.
#[tokio::test]
async fn with_the_queue_service_frozen_a_hold_waits_no_longer_than_its_send_budget() {
    let _turn = crate::harness::heavy_test().await;
    let (emulators, tenant) = stack_of_its_own().await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;

    let started = Instant::now();
    let usual = reserve(&tenant.user("customer", "before-the-freeze"), &event, &[(&types[0], 1)]).await;
    let usual_time = started.elapsed();
    assert_eq!(usual.status, 201, "{}", usual.text);

    emulators.sqs.freeze().unwrap();
    let started = Instant::now();
    let hold = reserve(&tenant.customer(), &event, &[(&types[0], 2)]).await;
    let elapsed = started.elapsed();
    emulators.sqs.thaw().unwrap();

    assert_eq!(hold.status, 201, "{}", hold.text);
    let allowed = shared::usecases::holds::EXPIRY_SEND_BUDGET + usual_time + Duration::from_secs(1);
    // A send without a bound waits out the SDK's whole operation timeout (6 s, retries included;
    // seen: 6.08 s). Past it the test could no longer tell the two apart: a machine that slow
    // fails it rather than passing it blindly.
    let unbounded = shared::aws_clients::timeouts().operation_timeout().unwrap();
    assert!(allowed < unbounded, "the unfrozen hold took {usual_time:?}; too slow to tell");
    assert!(
        elapsed < allowed,
        "the hold waited {elapsed:?} for its expiry message (allowed {allowed:?}: the send budget, \
         {usual_time:?} for the same hold unfrozen, 1 s of slack)"
    );
    let counts = capacity(&organizer, &event).await;
    assert_eq!((counts["available"].as_u64(), counts["reserved"].as_u64()), (Some(7), Some(3)));
    assert_counts_add_up(&counts);
}

#[tokio::test]
async fn with_the_database_frozen_requests_answer_503_in_time_and_nothing_is_half_done() {
    let _turn = crate::harness::heavy_test().await;
    let (emulators, tenant) = stack_of_its_own().await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 10, &[("General", 1000, 10, json!({}))]).await;
    let event_path = format!("/api/v1/events/{}", crate::harness::id(&event));

    emulators.dynamodb.freeze().unwrap();
    let started = Instant::now();
    let holds: Vec<_> = (0..4)
        .map(|n| {
            let (buyer, event, ticket_type) =
                (tenant.user("customer", &format!("frozen-{n}")), event.clone(), types[0].clone());
            tokio::spawn(async move {
                let reply = reserve(&buyer, &event, &[(&ticket_type, 1)]).await;
                (reply, started.elapsed())
            })
        })
        .collect();
    let read = {
        let (customer, path) = (tenant.customer(), event_path.clone());
        tokio::spawn(async move { (customer.get(&path).await, started.elapsed()) })
    };
    let mut answers = Vec::new();
    for hold in holds {
        let (reply, elapsed) = hold.await.unwrap();
        answers.push(("hold", reply, elapsed, route_timeout("POST", "/api/v1/events/{event_id}/reservations")));
    }
    let (reply, elapsed) = read.await.unwrap();
    answers.push(("read", reply, elapsed, route_timeout("GET", "/api/v1/events/{event_id}")));
    emulators.dynamodb.thaw().unwrap();

    for (what, reply, elapsed, timeout) in answers {
        reply.assert_problem(503, "SERVICE_UNAVAILABLE");
        assert!(elapsed < timeout, "{what} answered after {elapsed:?}, past the function's {timeout:?}");
    }
    // Thawed: whatever the frozen database received meanwhile, no hold half-happened.
    let counts = capacity(&organizer, &event).await;
    assert_eq!((counts["available"].as_u64(), counts["reserved"].as_u64()), (Some(10), Some(0)), "{counts}");
    assert_counts_add_up(&counts);
    let after = reserve(&tenant.customer(), &event, &[(&types[0], 1)]).await;
    assert_eq!(after.status, 201, "the service recovers by itself: {}", after.text);
}
