use serde_json::json;

use crate::harness::{Tenant, id};

#[tokio::test]
async fn a_created_venue_reads_back_as_created() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let reply = organizer
        .post(
            "/api/v1/venues",
            &json!({ "name": "Blue Hall", "capacity": 800, "timezone": "Europe/Paris",
                     "address": { "line1": "1 Rue de Rivoli", "city": "Paris", "region": "IDF",
                                  "postal_code": "75001", "country": "FR" } }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.headers.get("cache-control").unwrap(), "no-store");
    let venue = &reply.body["venue"];
    assert_eq!((venue["capacity"].as_u64(), venue["version"].as_u64()), (Some(800), Some(1)));
    assert_eq!(venue["created_by"], "organizer-1");

    let read = tenant.customer().get(&format!("/api/v1/venues/{}", id(venue))).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(&read.body["venue"], venue);
    assert!(read.headers.get("cache-control").is_none(), "reads are cacheable");
    assert!(read.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn customers_cannot_create_or_change_venues() {
    let tenant = Tenant::new();
    let venue = tenant.admin().venue(100).await;
    let customer = tenant.customer();
    customer
        .post("/api/v1/venues", &json!({ "name": "x", "capacity": 1, "timezone": "UTC" }))
        .await
        .assert_problem(403, "FORBIDDEN");
    customer
        .put(&format!("/api/v1/venues/{}", id(&venue)), &json!({ "capacity": 5 }))
        .await
        .assert_problem(403, "FORBIDDEN");
}

#[tokio::test]
async fn invalid_venues_are_refused_with_every_bad_field() {
    let organizer = Tenant::new().organizer();
    let reply = organizer
        .post(
            "/api/v1/venues",
            &json!({ "name": "", "capacity": 1_000_001, "timezone": "EST",
                     "address": { "line1": "x", "city": "y", "region": "z", "postal_code": "1", "country": "usa" } }),
        )
        .await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["name", "capacity", "timezone", "address.country"]);

    for (body, field) in [
        (json!({ "name": "a", "capacity": 0, "timezone": "UTC" }), "capacity"),
        (json!({ "name": "a", "capacity": 10, "timezone": "america/new_york" }), "timezone"),
        (json!({ "name": "a", "capacity": "ten", "timezone": "UTC" }), "capacity"),
        (json!({ "name": "a".repeat(201), "capacity": 10, "timezone": "UTC" }), "name"),
        (json!({ "capacity": 10, "timezone": "UTC" }), "name"),
    ] {
        let reply = organizer.post("/api/v1/venues", &body).await;
        reply.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
}

#[tokio::test]
async fn unknown_fields_are_refused_not_stored() {
    let organizer = Tenant::new().organizer();
    let reply =
        organizer.post("/api/v1/venues", &json!({ "name": "a", "capacity": 10, "timezone": "UTC", "vip": true })).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.body["errors"][0]["field"], "vip");
    assert_eq!(reply.body["errors"][0]["code"], "UNEXPECTED_PROPERTY");

    let venue = organizer.venue(10).await;
    let reply = organizer.put(&format!("/api/v1/venues/{}", id(&venue)), &json!({ "colour": "red" })).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.body["errors"][0]["code"], "UNEXPECTED_PROPERTY");
}

#[tokio::test]
async fn a_partial_update_changes_only_what_it_names() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let path = format!("/api/v1/venues/{}", id(&venue));
    let reply = organizer
        .put(
            &path,
            &json!({ "capacity": 250, "address": { "line1": "2 High St", "city": "Leeds",
        "region": "West Yorkshire", "postal_code": "LS1 1AA", "country": "GB" } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let updated = &reply.body["venue"];
    assert_eq!((updated["capacity"].as_u64(), updated["version"].as_u64()), (Some(250), Some(2)));
    assert_eq!(updated["name"], venue["name"]);
    assert_eq!(updated["address"]["country"], "GB");

    let cleared = organizer.put(&path, &json!({ "address": null })).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert!(cleared.body["venue"]["address"].is_null());
    assert_eq!(tenant.customer().get(&path).await.body["venue"]["version"], 3);
}

#[tokio::test]
async fn venue_lists_page_through_every_venue_once() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(id(&organizer.venue(10).await).to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/venues?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let reply = tenant.customer().get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        pages += 1;
        seen.extend(reply.body["venues"].as_array().unwrap().iter().map(|v| id(v).to_owned()));
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/venues?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every venue once, oldest first");
}

#[tokio::test]
async fn bad_list_parameters_are_refused() {
    let customer = Tenant::new().customer();
    for query in ["limit=0", "limit=101", "limit=ten", "cursor=abc", "sort=name"] {
        customer.get(&format!("/api/v1/venues?{query}")).await.assert_problem(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn venue_ids_must_be_uuids_and_exist() {
    let customer = Tenant::new().customer();
    customer.get("/api/v1/venues/not-a-uuid").await.assert_problem(400, "VALIDATION_ERROR");
    customer.get(&format!("/api/v1/venues/{}", uuid::Uuid::now_v7())).await.assert_problem(404, "NOT_FOUND");
    let admin = Tenant::new().admin();
    admin
        .put(&format!("/api/v1/venues/{}", uuid::Uuid::now_v7()), &json!({ "capacity": 5 }))
        .await
        .assert_problem(404, "NOT_FOUND");
}
