//! Many buyers at once: the capacity condition holds under contention.

use serde_json::{Value, json};

use crate::harness::{Reply, Tenant};
use crate::inventory::{assert_counts_add_up, capacity, event_on_sale, reserve};

/// Fires one reservation per buyer, all at once; returns the replies.
async fn rush(tenant: &Tenant, event: &Value, buyers: usize, lines: Vec<(Value, u32)>) -> Vec<Reply> {
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let buyer = tenant.user("customer", &format!("buyer-{i}"));
            let (event, lines) = (event.clone(), lines.clone());
            tokio::spawn(async move {
                let borrowed: Vec<(&Value, u32)> = lines.iter().map(|(t, q)| (t, *q)).collect();
                reserve(&buyer, &event, &borrowed).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

fn tally(replies: &[Reply]) -> (usize, usize) {
    let held = replies.iter().filter(|r| r.status == 201).count();
    let sold_out = replies.iter().filter(|r| r.status == 409 && r.code() == "SOLD_OUT").count();
    let other: Vec<_> = replies.iter().filter(|r| r.status != 201 && r.code() != "SOLD_OUT").map(|r| &r.text).collect();
    assert!(other.is_empty(), "every buyer gets a hold or SOLD_OUT, not: {other:?}");
    (held, sold_out)
}

#[tokio::test]
async fn two_hundred_buyers_for_fifty_tickets_get_exactly_fifty_holds() {
    let _turn = crate::harness::heavy_test().await;
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("General", 5000, 50, json!({}))]).await;
    let replies = rush(&tenant, &event, 200, vec![(types[0].clone(), 1)]).await;
    assert_eq!(tally(&replies), (50, 150));
    let capacity = capacity(&organizer, &event).await;
    assert_eq!(
        (capacity["available"].as_u64(), capacity["reserved"].as_u64(), capacity["sold"].as_u64()),
        (Some(0), Some(50), Some(0))
    );
    assert_counts_add_up(&capacity);
    let status =
        organizer.get(&format!("/api/v1/events/{}", crate::harness::id(&event))).await.body["event"]["status"].clone();
    assert_eq!(status, "SOLD_OUT");
}

#[tokio::test]
async fn multi_line_holds_across_two_types_never_oversell_either() {
    let _turn = crate::harness::heavy_test().await;
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) =
        event_on_sale(&organizer, 100, &[("Seat", 3000, 30, json!({})), ("Parking", 1000, 20, json!({}))]).await;
    // Each buyer wants a seat and a parking spot: parking runs out first, at 20.
    let replies = rush(&tenant, &event, 120, vec![(types[0].clone(), 1), (types[1].clone(), 1)]).await;
    assert_eq!(tally(&replies), (20, 100));
    let capacity = capacity(&organizer, &event).await;
    let by_name =
        |name: &str| capacity["ticket_types"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!((by_name("Seat")["reserved"].as_u64(), by_name("Seat")["available"].as_u64()), (Some(20), Some(10)));
    assert_eq!(
        (by_name("Parking")["reserved"].as_u64(), by_name("Parking")["available"].as_u64()),
        (Some(20), Some(0))
    );
    assert_counts_add_up(&capacity);
    // A partial hold never happened: a buyer refused for parking took no seat either.
    let seats_alone = rush(&tenant, &event, 15, vec![(types[0].clone(), 1)]).await;
    assert_eq!(tally(&seats_alone), (10, 5));
}
