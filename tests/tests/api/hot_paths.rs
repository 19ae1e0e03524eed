//! What the hot paths read, counted at the SDK: a list's reads do not grow with the events it
//! returns; a hold's do not grow with the event's ticket types, and take the event once (the
//! whole partition only for a sell-out check or the list's copy, at most once a second); and the
//! counts a list shows (the event item's listed copy) stay close to the exact ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::{Value, json};
use shared::domain::inventory::ListedCounts;

use crate::harness::{Tenant, id, serve_with, stack};
use crate::inventory::{event_on_sale, reserve};

/// One DynamoDB read a handler made: the operation, the items it returned, and how many of
/// them were event items (`SK = EVENT`).
#[derive(Debug, Clone)]
struct Read {
    operation: String,
    items: usize,
    events: usize,
}

/// An SDK interceptor noting every read of the stack it is wired into.
#[derive(Debug, Clone, Default)]
struct Reads(Arc<Mutex<Vec<Read>>>);

impl Reads {
    fn take(&self) -> Vec<Read> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn is_event_item(item: &std::collections::HashMap<String, AttributeValue>) -> bool {
    item.get("SK").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == "EVENT")
}

impl Intercept for Reads {
    fn name(&self) -> &'static str {
        "Reads"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(metadata), Ok(output)) = (cfg.load::<Metadata>(), context.output_or_error()) else {
            return Ok(());
        };
        let found: Vec<_> = if let Some(query) = output.downcast_ref::<QueryOutput>() {
            query.items().iter().collect()
        } else if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            get.item().into_iter().collect()
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            batch.responses().into_iter().flat_map(|r| r.values().flatten()).collect()
        } else {
            return Ok(());
        };
        let read = Read {
            operation: metadata.name().to_owned(),
            items: found.len(),
            events: found.iter().filter(|item| is_event_item(item)).count(),
        };
        self.0.lock().unwrap().push(read);
        Ok(())
    }
}

/// A tenant on the shared stack's table and emulators, served by handlers whose DynamoDB
/// client notes its reads.
async fn counted_tenant() -> (Tenant, Reads) {
    let stack = stack();
    let reads = Reads::default();
    let deps = stack.deps_with_dynamodb_interceptor(&stack.table, reads.clone());
    let url = serve_with(deps).await;
    (Tenant::at(url, stack.payments_url.clone()), reads)
}

fn queries(reads: &[Read]) -> usize {
    reads.iter().filter(|r| r.operation == "Query").count()
}

async fn list(client: &crate::harness::Client, limit: usize) -> Vec<Value> {
    let reply = client.get(&format!("/api/v1/events?limit={limit}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_list_reads_its_events_and_their_counts_in_one_query_however_many_it_returns() {
    let (tenant, reads) = counted_tenant().await;
    let organizer = tenant.organizer();
    let venue = organizer.venue(1000).await;
    for i in 0..20 {
        let event = organizer.event(&venue, &format!("Listed {i}"), 30 + i, json!({})).await;
        let body = json!({ "name": "Seat", "price": 1000, "quantity": 10 + i });
        let reply = organizer.post(&format!("/api/v1/events/{}/ticket-types", id(&event)), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    for limit in [1, 20] {
        reads.take();
        let events = list(&organizer, limit).await;
        assert_eq!(events.len(), limit);
        let reads = reads.take();
        assert_eq!(queries(&reads), 1, "one query for {limit} events: {reads:?}");
        assert_eq!(reads.len(), 1, "and nothing else: {reads:?}");
    }
    // The listed counts are the exact ones: a ticket type's change is shown at once.
    for listed in list(&organizer, 20).await {
        let exact = organizer.get(&format!("/api/v1/events/{}", id(&listed))).await;
        assert_eq!(listed["availability"], exact.body["event"]["availability"], "{}", listed["name"]);
        assert!(listed["availability"]["allocated"].as_u64().unwrap() >= 10);
    }
}

#[tokio::test]
async fn an_event_item_without_a_listed_copy_is_listed_with_exact_counts() {
    let (tenant, reads) = counted_tenant().await;
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("Seat", 1000, 40, json!({}))]).await;
    assert_eq!(reserve(&tenant.customer(), &event, &[(&types[0], 3)]).await.status, 201);
    // As an item written before lists read the copy.
    let client = stack().dynamodb_client();
    client
        .update_item()
        .table_name(&stack().table)
        .key("PK", AttributeValue::S(format!("T#{}#EVENT#{}", tenant.id, id(&event))))
        .key("SK", AttributeValue::S("EVENT".into()))
        .update_expression("REMOVE listed, listed_at_ms")
        .send()
        .await
        .unwrap();
    reads.take();
    let listed = list(&organizer, 1).await;
    assert_eq!(listed[0]["availability"]["reserved"], 3, "{}", listed[0]);
    assert_eq!(listed[0]["availability"]["available"], 37);
    assert_eq!(queries(&reads.take()), 2, "the page, then that event's partition");
}

#[tokio::test]
async fn a_hold_reads_the_event_once_and_only_the_types_it_asks_for() {
    let (tenant, reads) = counted_tenant().await;
    let organizer = tenant.organizer();
    let many: Vec<(String, u64, u32, Value)> = (0..12).map(|i| (format!("Zone {i}"), 1000, 50, json!({}))).collect();
    let many: Vec<(&str, u64, u32, Value)> = many.iter().map(|(n, p, q, e)| (n.as_str(), *p, *q, e.clone())).collect();
    let (event, types) = event_on_sale(&organizer, 1000, &many).await;
    let customer = tenant.customer();
    reads.take();
    let started = Instant::now();
    for ticket_type in &types[..2] {
        assert_eq!(reserve(&customer, &event, &[(ticket_type, 2)]).await.status, 201);
    }
    let elapsed = started.elapsed();
    let reads = reads.take();
    let batches: Vec<&Read> = reads.iter().filter(|r| r.operation == "BatchGetItem").collect();
    // Each hold: the event and its one type, then that type again after the commit.
    assert_eq!(batches.iter().map(|r| r.items).collect::<Vec<_>>(), [2, 1, 2, 1], "{reads:?}");
    assert_eq!(batches.iter().map(|r| r.events).sum::<usize>(), 2, "the event once per hold: {reads:?}");
    // The whole partition is read only to rewrite the listed copy, at most once a second.
    let allowed = 1 + usize::try_from(elapsed.as_secs()).unwrap();
    assert!(queries(&reads) <= allowed, "{} partition reads in {elapsed:?}: {reads:?}", queries(&reads));
}

#[tokio::test]
async fn a_list_shows_a_sell_out_at_once_and_other_sales_within_a_second_of_the_next() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let (event, types) = event_on_sale(&organizer, 50, &[("Seat", 1000, 10, json!({}))]).await;
    let customer = tenant.customer();
    let listed = || async {
        let all = list(&organizer, 100).await;
        all.into_iter().find(|e| e["id"] == event["id"]).expect("the event is listed")
    };
    assert_eq!(reserve(&customer, &event, &[(&types[0], 1)]).await.status, 201);
    tokio::time::sleep(ListedCounts::MAX_AGE + Duration::from_millis(100)).await;
    assert_eq!(reserve(&customer, &event, &[(&types[0], 1)]).await.status, 201);
    let now = listed().await;
    assert_eq!(
        (now["availability"]["available"].as_u64(), now["availability"]["reserved"].as_u64()),
        (Some(8), Some(2))
    );

    let other = tenant.user("customer", "another-buyer");
    let last = reserve(&other, &event, &[(&types[0], 8)]).await;
    assert_eq!(last.status, 201, "{}", last.text);
    let now = listed().await;
    assert_eq!(now["status"], "SOLD_OUT");
    assert_eq!(now["availability"]["available"], 0, "the flip rewrites the copy: {now}");

    let released = other.delete(&format!("/api/v1/reservations/{}", id(&last.body["reservation"]))).await;
    assert_eq!(released.status, 200, "{}", released.text);
    let now = listed().await;
    assert_eq!(now["status"], "ON_SALE");
    assert_eq!(now["availability"]["available"], 8, "{now}");
}
