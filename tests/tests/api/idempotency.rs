//! `Idempotency-Key`: replay, reuse, in-progress, scope.

use serde_json::json;
use shared::store::idempotency::KeyScope;

use crate::harness::{Tenant, id};
use crate::inventory::{capacity, event_on_sale};

#[tokio::test]
async fn a_retried_reservation_is_replayed_and_holds_nothing_more() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 20, &[("General", 1000, 20, json!({}))]).await;
    let path = format!("/api/v1/events/{}/reservations", id(&event));
    let body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 2 }] });
    let buyer = tenant.customer().with_idempotency_key("order-attempt-1");
    let first = buyer.post(&path, &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = buyer.post(&path, &body).await;
    assert_eq!((again.status, &again.text), (201, &first.text), "same status, same bytes");
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(capacity(&organizer, &event).await["reserved"], 2, "the retry held nothing more");

    let other_body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 3 }] });
    buyer.post(&path, &other_body).await.assert_problem(422, "IDEMPOTENCY_KEY_REUSED");

    // Keys are scoped per user and per tenant: the same key elsewhere is a new request.
    let neighbour = tenant.user("customer", "neighbour").with_idempotency_key("order-attempt-1");
    let theirs = neighbour.post(&path, &body).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_ne!(theirs.body["reservation"]["id"], first.body["reservation"]["id"]);
    assert_eq!(capacity(&organizer, &event).await["reserved"], 4);
    let elsewhere = Tenant::new().admin().with_idempotency_key("order-attempt-1");
    elsewhere.post("/api/v1/venues", &json!({ "name": "Hall", "capacity": 10, "timezone": "UTC" })).await;
    assert_eq!(
        elsewhere
            .post("/api/v1/venues", &json!({ "name": "Hall", "capacity": 10, "timezone": "UTC" }))
            .await
            .headers
            .get("idempotent-replayed")
            .unwrap(),
        "true"
    );
}

#[tokio::test]
async fn a_replayed_refusal_is_the_same_refusal() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 5, &[("General", 1000, 5, json!({}))]).await;
    let buyer = tenant.customer().with_idempotency_key("too-many");
    let path = format!("/api/v1/events/{}/reservations", id(&event));
    let body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 6 }] });
    let first = buyer.post(&path, &body).await;
    first.assert_problem(409, "SOLD_OUT");
    let again = buyer.post(&path, &body).await;
    assert_eq!((again.status, &again.text), (409, &first.text));
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
}

#[tokio::test]
async fn a_key_whose_first_request_is_still_running_is_a_409_with_retry_after() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue_body = json!({ "name": "Hall", "capacity": 10, "timezone": "UTC" });
    // Claim the key as a request that is still running would (same fingerprint, live lock).
    let deps = crate::harness::stack().deps(&crate::harness::stack().table, None);
    let scope = KeyScope { tenant: tenant.id, user: "organizer-1", route: "POST /api/v1/venues", key: "slow-one" };
    let fingerprint = {
        let request = http::Request::builder()
            .method("POST")
            .uri("/api/v1/venues")
            .body(lambda_http::Body::Text(venue_body.to_string()))
            .unwrap();
        shared::api::idempotency::fingerprint(&request)
    };
    let now = shared::store::inventory::millis(chrono::Utc::now());
    deps.store.claim_idempotency_key(&scope, &fingerprint, now + 20_000, now).await.unwrap();
    let reply = organizer.with_idempotency_key("slow-one").post("/api/v1/venues", &venue_body).await;
    reply.assert_problem(409, "IDEMPOTENCY_IN_PROGRESS");
    let retry_after: u64 = reply.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(organizer.get("/api/v1/venues").await.body["venues"], json!([]), "nothing was created");
}

#[tokio::test]
async fn holds_and_purchases_require_a_well_formed_key() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 5, &[("General", 1000, 5, json!({}))]).await;
    let path = format!("/api/v1/events/{}/reservations", id(&event));
    let body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 1 }] });
    let reply = tenant.customer().without_idempotency_key().post(&path, &body).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["Idempotency-Key"]);
    tenant
        .customer()
        .with_idempotency_key("has spaces")
        .post(&path, &body)
        .await
        .assert_problem(400, "VALIDATION_ERROR");
    tenant
        .customer()
        .with_idempotency_key(&"k".repeat(256))
        .post(&path, &body)
        .await
        .assert_problem(400, "VALIDATION_ERROR");
    let hold = tenant.customer().post(&path, &body).await.body["reservation"].clone();
    let confirm = format!("/api/v1/reservations/{}/confirm", id(&hold));
    tenant
        .customer()
        .without_idempotency_key()
        .post(&confirm, &json!({ "payment_reference": "pi" }))
        .await
        .assert_problem(400, "VALIDATION_ERROR");
    let paid = tenant.customer().with_idempotency_key("pay-1");
    let payment = paid.pay(hold["total"].as_u64().unwrap(), "USD", None).await;
    let order = paid.post(&confirm, &json!({ "payment_reference": payment })).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let retried = paid.post(&confirm, &json!({ "payment_reference": payment })).await;
    assert_eq!((retried.status, &retried.text), (201, &order.text), "a retried purchase returns the same order");
    assert_eq!(capacity(&organizer, &event).await["sold"], 1);
    assert_eq!(
        tenant.customer().without_idempotency_key().post("/api/v1/venues", &json!({})).await.status,
        403,
        "optional elsewhere"
    );
}

#[tokio::test]
async fn concurrent_duplicates_hold_once() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("General", 1000, 50, json!({}))]).await;
    let path = format!("/api/v1/events/{}/reservations", id(&event));
    let body = json!({ "items": [{ "ticket_type_id": types[0]["id"], "quantity": 3 }] });
    let buyer = tenant.customer().with_idempotency_key("double-click");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (buyer, path, body) = (buyer.clone(), path.clone(), body.clone());
            tokio::spawn(async move { buyer.post(&path, &body).await })
        })
        .collect();
    let mut originals = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status, reply.headers.get("idempotent-replayed").is_some()) {
            (201, false) => originals += 1,
            (201, true) => {}
            (409, _) => {
                assert_eq!(reply.code(), "IDEMPOTENCY_IN_PROGRESS", "{}", reply.text);
                assert!(reply.headers.get("retry-after").is_some());
            }
            _ => panic!("unexpected {}: {}", reply.status, reply.text),
        }
    }
    assert_eq!(originals, 1, "exactly one request ran");
    assert_eq!(capacity(&organizer, &event).await["reserved"], 3, "and held once");
}
