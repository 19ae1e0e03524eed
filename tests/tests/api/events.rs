use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{Tenant, event_body, id, rfc3339};

#[tokio::test]
async fn a_new_event_is_a_draft_with_the_venue_defaults() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(500).await;
    let event = organizer.event(&venue, "Jazz Night", 30, json!({ "cancellation_deadline_hours": 0 })).await;
    assert_eq!(event["status"], "DRAFT");
    assert_eq!(event["version"], 1);
    assert_eq!(event["timezone"], "America/New_York");
    assert_eq!(event["capacity"], 500);
    assert_eq!(event["visibility"], "PUBLIC");
    assert_eq!(event["cancellation_deadline_hours"], 0, "an explicit 0 stays 0");
    assert_eq!(event["slug"], "jazz-night");
    assert_eq!(event["created_by"], "organizer-1");
    assert_eq!(
        event["availability"],
        json!({ "capacity": 500, "allocated": 0, "available": 0, "reserved": 0, "sold": 0 })
    );
    assert!(event["starts_at"].as_str().unwrap().ends_with('Z'), "stored and returned in UTC");

    let read = organizer.get(&format!("/api/v1/events/{}", id(&event))).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["event"], event);
}

#[tokio::test]
async fn timestamps_are_stored_in_utc() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(50).await;
    let year = (Utc::now() + Duration::days(40)).format("%Y-%m-%d");
    let event = organizer
        .event(
            &venue,
            "Offset",
            0,
            json!({ "starts_at": format!("{year}T19:00:00-04:00"), "ends_at": format!("{year}T23:30:00-04:00") }),
        )
        .await;
    assert_eq!(event["starts_at"], format!("{year}T23:00:00Z"));
}

#[tokio::test]
async fn malformed_event_fields_are_400s() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(50).await;
    let cases = [
        (json!({ "starts_at": "2027-06-15T19:00:00" }), "starts_at"),
        (json!({ "ends_at": "tomorrow" }), "ends_at"),
        (json!({ "category": "opera" }), "category"),
        (json!({ "visibility": "SECRET" }), "visibility"),
        (json!({ "tags": vec!["t"; 21] }), "tags"),
        (json!({ "tags": ["x".repeat(51)] }), "tags[0]"),
        (json!({ "image_url": "http://cdn.example.com/a.png" }), "image_url"),
        (json!({ "image_url": "https://localhost/a.png" }), "image_url"),
        (json!({ "image_url": "https://10.1.2.3/a.png" }), "image_url"),
        (json!({ "image_url": "https://169.254.169.254/latest" }), "image_url"),
        (json!({ "image_url": "https://[::1]/a.png" }), "image_url"),
        // IPv6 forms that carry a private IPv4 address, and IPv6 ranges that are not global.
        (json!({ "image_url": "https://[::ffff:169.254.169.254]/latest" }), "image_url"),
        (json!({ "image_url": "https://[::10.0.0.1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[64:ff9b::a9fe:a9fe]/latest" }), "image_url"),
        (json!({ "image_url": "https://[2002:c0a8:101::1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[64:ff9b:1::a00:1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[fec0::1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[ff02::1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[2001:db8::1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[::ffff:0:a00:1]/a.png" }), "image_url"),
        (json!({ "image_url": "https://[2001:10::1]/a.png" }), "image_url"),
        (json!({ "age_restriction": 101 }), "age_restriction"),
        (json!({ "cancellation_deadline_hours": 8761 }), "cancellation_deadline_hours"),
        (json!({ "capacity": 0 }), "capacity"),
        (json!({ "timezone": "EST" }), "timezone"),
        (json!({ "description": "d".repeat(10_001) }), "description"),
        (json!({ "short_description": "d".repeat(501) }), "short_description"),
        (
            json!({ "metadata": (0..51).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>() }),
            "metadata",
        ),
        (json!({ "metadata": { "blob": "x".repeat(9000) } }), "metadata"),
        (json!({ "name": "" }), "name"),
        (json!({ "venue_id": "hall-1" }), "venue_id"),
        (json!({ "status": "PUBLISHED" }), "status"),
        (json!({ "organizer_email": "a@b.c" }), "organizer_email"),
    ];
    for (extra, field) in cases {
        let reply = organizer.post("/api/v1/events", &event_body(&venue, "Bad", 30, extra.clone())).await;
        reply.assert_problem(400, "VALIDATION_ERROR");
        assert!(reply.error_fields().contains(&field.to_owned()), "{extra}: {}", reply.text);
    }
    let reply = organizer.post("/api/v1/events", &json!({ "name": "only a name" })).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["venue_id", "starts_at", "ends_at"]);
}

#[tokio::test]
async fn events_breaking_a_rule_are_422s_naming_the_field() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let starts = Utc::now() + Duration::days(10);
    let cases = [
        (json!({ "ends_at": rfc3339(starts) , "starts_at": rfc3339(starts) }), "ends_at"),
        (
            json!({ "starts_at": rfc3339(starts), "doors_open_at": rfc3339(starts + Duration::minutes(5)) }),
            "doors_open_at",
        ),
        (json!({ "starts_at": rfc3339(Utc::now() + Duration::minutes(90)), "ends_at": rfc3339(starts) }), "starts_at"),
        (
            json!({ "starts_at": rfc3339(Utc::now() + Duration::days(366)), "ends_at": rfc3339(Utc::now() + Duration::days(367)) }),
            "starts_at",
        ),
        (json!({ "capacity": 101 }), "capacity"),
        (json!({ "venue_id": uuid::Uuid::now_v7() }), "venue_id"),
    ];
    for (extra, field) in cases {
        let reply = organizer.post("/api/v1/events", &event_body(&venue, "Rule", 10, extra.clone())).await;
        reply.assert_problem(422, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), [field], "{extra}");
    }
    let other_tenants_venue = Tenant::new().organizer().venue(100).await;
    let reply = organizer.post("/api/v1/events", &event_body(&other_tenants_venue, "Theirs", 10, json!({}))).await;
    reply.assert_problem(422, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["venue_id"]);
}

#[tokio::test]
async fn the_same_name_at_the_same_venue_on_the_same_local_day_is_a_duplicate() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let day_after = |days: i64| (Utc::now() + Duration::days(days)).format("%Y-%m-%d").to_string();
    let (day, next_day) = (day_after(20), day_after(21));
    // 20:00 and 22:00 in New York are one local day, though the second is the next day in UTC.
    let on = |day: &str, hour: &str| json!({ "starts_at": format!("{day}T{hour}:00:00-04:00"), "ends_at": format!("{day}T23:59:00-04:00") });
    let at = |hour: &str| on(&day, hour);
    let first = organizer.post("/api/v1/events", &event_body(&venue, "Gala", 0, at("20"))).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = organizer.post("/api/v1/events", &event_body(&venue, "  gALA ", 0, at("22"))).await;
    second.assert_problem(409, "DUPLICATE_EVENT");

    let other_venue = organizer.venue(100).await;
    assert_eq!(organizer.post("/api/v1/events", &event_body(&other_venue, "Gala", 0, at("20"))).await.status, 201);
    // Explicit local times: a start computed from "now" would share the first one's local day
    // whenever the suite runs between 00:00 and 04:00 UTC.
    let next_day = organizer.post("/api/v1/events", &event_body(&venue, "Gala", 0, on(&next_day, "20"))).await;
    assert_eq!(next_day.status, 201, "{}", next_day.text);

    // Deleting frees the name for the same day.
    let deleted = organizer.delete(&format!("/api/v1/events/{}", id(&first.body["event"]))).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(organizer.post("/api/v1/events", &event_body(&venue, "Gala", 0, at("20"))).await.status, 201);
}

#[tokio::test]
async fn concurrent_identical_creates_yield_exactly_one_event() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let body = event_body(&venue, "Race", 15, json!({}));
    let attempts = (0..12).map(|_| {
        let organizer = organizer.clone();
        let body = body.clone();
        tokio::spawn(async move { organizer.post("/api/v1/events", &body).await })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        let reply = attempt.await.unwrap();
        if reply.status == 409 {
            assert_eq!(reply.code(), "DUPLICATE_EVENT");
        }
        statuses.push(reply.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![201], vec![409; 11]].concat());
    let listed = organizer.get("/api/v1/events").await;
    assert_eq!(listed.body["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Versioned", 30, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let updated = organizer.put(&path, &json!({ "name": "Versioned II", "version": 1 })).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        (updated.body["event"]["version"].as_u64(), updated.body["event"]["slug"].as_str()),
        (Some(2), Some("versioned-ii"))
    );
    organizer
        .put(&path, &json!({ "name": "Versioned III", "version": 1 }))
        .await
        .assert_problem(409, "VERSION_CONFLICT");
    let unpinned = organizer.put(&path, &json!({ "description": "no version given" })).await;
    assert_eq!(unpinned.body["event"]["version"], 3, "{}", unpinned.text);
    assert_eq!(organizer.get(&path).await.body["event"]["name"], "Versioned II");
}

#[tokio::test]
async fn updates_are_partial_and_null_clears_optional_fields() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer
        .event(
            &venue,
            "Partial",
            30,
            json!({ "description": "long", "image_url": "https://cdn.example.com/p.png", "tags": ["a"] }),
        )
        .await;
    let path = format!("/api/v1/events/{}", id(&event));
    let reply = organizer.put(&path, &json!({ "description": null, "capacity": 80 })).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let updated = &reply.body["event"];
    assert!(updated["description"].is_null());
    assert_eq!(updated["image_url"], "https://cdn.example.com/p.png");
    assert_eq!((updated["capacity"].as_u64(), updated["tags"].clone()), (Some(80), json!(["a"])));
    organizer.put(&path, &json!({ "capacity": 101 })).await.assert_problem(422, "VALIDATION_ERROR");
    organizer.put(&path, &json!({ "ends_at": event["starts_at"] })).await.assert_problem(422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn only_the_creator_or_an_admin_may_change_an_event() {
    let tenant = Tenant::new();
    let creator = tenant.organizer();
    let venue = creator.venue(100).await;
    let event = creator.event(&venue, "Mine", 30, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let colleague = tenant.user("organizer", "organizer-2");
    colleague.put(&path, &json!({ "name": "Theirs" })).await.assert_problem(403, "FORBIDDEN");
    colleague.post(&format!("{path}/publish"), &json!({})).await.assert_problem(403, "FORBIDDEN");
    colleague.delete(&path).await.assert_problem(403, "FORBIDDEN");
    tenant.customer().put(&path, &json!({ "name": "Theirs" })).await.assert_problem(403, "FORBIDDEN");
    tenant
        .customer()
        .post("/api/v1/events", &event_body(&venue, "C", 30, json!({})))
        .await
        .assert_problem(403, "FORBIDDEN");
    let by_admin = tenant.admin().put(&path, &json!({ "name": "Admin's" })).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text);
    assert_eq!(colleague.get(&path).await.status, 200, "staff read every event of the tenant");
}

#[tokio::test]
async fn a_deleted_event_is_gone_everywhere() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Doomed", 30, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let deleted = organizer.delete(&path).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.headers.get("cache-control").unwrap(), "no-store");
    organizer.get(&path).await.assert_problem(404, "NOT_FOUND");
    organizer.put(&path, &json!({ "name": "Back" })).await.assert_problem(404, "NOT_FOUND");
    organizer.delete(&path).await.assert_problem(404, "NOT_FOUND");
    organizer.post(&format!("{path}/publish"), &json!({})).await.assert_problem(404, "NOT_FOUND");
    let listed = organizer.get("/api/v1/events").await;
    assert_eq!(listed.body["events"], json!([]));
}

#[tokio::test]
async fn a_started_event_cannot_be_deleted() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Live", 30, json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    for status in ["PUBLISHED", "ON_SALE", "IN_PROGRESS"] {
        assert_eq!(organizer.put(&path, &json!({ "status": status })).await.status, 200);
    }
    organizer.delete(&path).await.assert_problem(409, "INVALID_EVENT_STATE");
}

#[tokio::test]
async fn publishing_moves_a_draft_to_published_once() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Premiere", 30, json!({})).await;
    let path = format!("/api/v1/events/{}/publish", id(&event));
    let published = organizer.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(published.status, 200, "{}", published.text);
    assert_eq!(
        (published.body["event"]["status"].as_str(), published.body["event"]["version"].as_u64()),
        (Some("PUBLISHED"), Some(2))
    );
    let again = organizer.post(&path, &json!({})).await;
    again.assert_problem(409, "INVALID_EVENT_STATE");
    assert!(again.body["detail"].as_str().unwrap().contains("ON_SALE"), "{}", again.text);
    organizer.post(&path, &json!({ "force": true })).await.assert_problem(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn customers_see_only_public_published_events() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    let publish = |event: Value| {
        let organizer = organizer.clone();
        async move {
            let reply = organizer.post(&format!("/api/v1/events/{}/publish", id(&event)), &json!({})).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.body["event"].clone()
        }
    };
    let public = publish(organizer.event(&venue, "Public", 30, json!({})).await).await;
    let private = publish(organizer.event(&venue, "Private", 31, json!({ "visibility": "PRIVATE" })).await).await;
    let unlisted = publish(organizer.event(&venue, "Unlisted", 32, json!({ "visibility": "UNLISTED" })).await).await;
    let draft = organizer.event(&venue, "Draft", 33, json!({})).await;
    let in_review = organizer.event(&venue, "Review", 34, json!({})).await;
    organizer.put(&format!("/api/v1/events/{}", id(&in_review)), &json!({ "status": "REVIEW" })).await;

    let customer = tenant.customer();
    let listed = customer.get("/api/v1/events").await;
    let names: Vec<&str> =
        listed.body["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Public"], "lists show customers only PUBLIC events: {}", listed.text);
    assert_eq!(customer.get(&format!("/api/v1/events/{}", id(&public))).await.status, 200);
    assert_eq!(
        customer.get(&format!("/api/v1/events/{}", id(&unlisted))).await.status,
        200,
        "unlisted: reachable by link"
    );
    for hidden in [&private, &draft, &in_review] {
        customer.get(&format!("/api/v1/events/{}", id(hidden))).await.assert_problem(404, "NOT_FOUND");
    }
    let staff_view = organizer.get("/api/v1/events").await;
    assert_eq!(staff_view.body["events"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn event_lists_are_ordered_by_start_and_filterable() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let hall = organizer.venue(100).await;
    let club = organizer.venue(100).await;
    let late = organizer.event(&hall, "Late", 50, json!({})).await;
    let early = organizer.event(&club, "Early", 10, json!({})).await;
    let middle = organizer.event(&hall, "Middle", 30, json!({})).await;
    organizer.post(&format!("/api/v1/events/{}/publish", id(&middle)), &json!({})).await;

    let names = |reply: &crate::harness::Reply| -> Vec<String> {
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&organizer.get("/api/v1/events").await), ["Early", "Middle", "Late"]);
    assert_eq!(names(&organizer.get(&format!("/api/v1/events?venue_id={}", id(&hall))).await), ["Middle", "Late"]);
    assert_eq!(names(&organizer.get("/api/v1/events?status=PUBLISHED").await), ["Middle"]);
    let from = rfc3339(Utc::now() + Duration::days(20));
    let to = rfc3339(Utc::now() + Duration::days(40));
    assert_eq!(names(&organizer.get(&format!("/api/v1/events?from={from}&to={to}")).await), ["Middle"]);
    assert_eq!(names(&organizer.get(&format!("/api/v1/events?from={from}")).await), ["Middle", "Late"]);
    assert_eq!(names(&organizer.get(&format!("/api/v1/events?to={to}&venue_id={}", id(&club))).await), ["Early"]);
    assert_eq!(late["name"], "Late");
    assert_eq!(early["name"], "Early");
    for bad in ["status=LIVE", "venue_id=hall", "from=2027-01-01", &format!("from={to}&to={from}"), "limit=500"] {
        organizer.get(&format!("/api/v1/events?{bad}")).await.assert_problem(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn filtered_pages_are_full_and_cursors_are_bound_to_their_list() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(100).await;
    for day in 0..7 {
        let event = organizer.event(&venue, &format!("E{day}"), 10 + day, json!({})).await;
        if day % 2 == 0 {
            organizer.post(&format!("/api/v1/events/{}/publish", id(&event)), &json!({})).await;
        }
    }
    // Customers see the 4 published ones; filtering must not produce short pages.
    let customer = tenant.customer();
    let first = customer.get("/api/v1/events?limit=3").await;
    let names: Vec<&str> =
        first.body["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["E0", "E2", "E4"], "{}", first.text);
    let cursor = first.body["next_cursor"].as_str().expect("more follow").to_owned();
    let second = customer.get(&format!("/api/v1/events?limit=3&cursor={cursor}")).await;
    assert_eq!(second.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["events"][0]["name"], "E6");
    assert!(second.body["next_cursor"].is_null(), "null at the end: {}", second.text);

    // The same cursor is refused under other filters, another list, another tenant, or tampered.
    customer
        .get(&format!("/api/v1/events?limit=3&status=PUBLISHED&cursor={cursor}"))
        .await
        .assert_problem(400, "VALIDATION_ERROR");
    organizer.get(&format!("/api/v1/events?limit=3&cursor={cursor}")).await.assert_problem(400, "VALIDATION_ERROR");
    customer.get(&format!("/api/v1/venues?cursor={cursor}")).await.assert_problem(400, "VALIDATION_ERROR");
    Tenant::new()
        .customer()
        .get(&format!("/api/v1/events?limit=3&cursor={cursor}"))
        .await
        .assert_problem(400, "VALIDATION_ERROR");
    let mut forged = cursor.clone().into_bytes();
    forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let reply = customer.get(&format!("/api/v1/events?limit=3&cursor={forged}")).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["cursor"]);
}

#[tokio::test]
async fn metadata_the_table_cannot_store_is_a_400_not_a_500() {
    let organizer = Tenant::new().organizer();
    let venue = organizer.venue(100).await;
    for metadata in [
        json!({ "x": 1e200 }),
        serde_json::from_str(&format!("{}1{}", "[".repeat(40), "]".repeat(40)))
            .map(|d: Value| json!({ "d": d }))
            .unwrap(),
    ] {
        let reply =
            organizer.post("/api/v1/events", &event_body(&venue, "Meta", 10, json!({ "metadata": metadata }))).await;
        reply.assert_problem(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn a_selective_list_reads_a_bounded_amount_per_page_and_pages_on() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(50).await;
    // 150 drafts a customer may not see, then one published event after them all.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(10));
    let drafts: Vec<_> = (0..150)
        .map(|i| {
            let (organizer, venue, gate) = (organizer.clone(), venue.clone(), std::sync::Arc::clone(&gate));
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                organizer.event(&venue, &format!("Draft {i}"), 10 + i, json!({})).await;
            })
        })
        .collect();
    for draft in drafts {
        draft.await.unwrap();
    }
    let public = organizer.event(&venue, "Public", 200, json!({})).await;
    let publish =
        organizer.post(&format!("/api/v1/events/{}/publish", public["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(publish.status, 200, "{}", publish.text);

    let customer = tenant.customer();
    let first = customer.get("/api/v1/events?limit=5").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["events"], json!([]), "no page reads all 151 events to fill itself");
    let mut cursor = first.body["next_cursor"].as_str().expect("a short page says more may follow").to_owned();
    let mut seen = Vec::new();
    let mut pages = 1;
    loop {
        let page = customer.get(&format!("/api/v1/events?limit=5&cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        seen.extend(page.body["events"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 20, "the pages end");
    }
    assert_eq!(seen, [public["id"].clone()], "every page together finds exactly the visible event");
    assert!(pages >= 2, "{pages} pages");
}
