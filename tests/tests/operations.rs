//! The service's metrics: what the code emits, read back from the Embedded Metric Format lines
//! CloudWatch would receive, and the template's dashboard and alarms held to the same names.
//!
//! A test binary of its own: the metrics recorder is one per process, so the counts below are
//! exact only because no other test's requests run beside these.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::sync::Mutex;

use harness::{Client, Reply, StackOptions, fast_workers, id, isolated_stack, no_workers, template};
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;
use shared::monitoring::{FUNCTION_DIMENSION, Metric, NAMESPACE, SERVICE_DIMENSION};

// ---- what the code emits ----

/// What the recorder wrote, as CloudWatch Logs would receive it.
static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Written;

impl std::io::Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        WRITTEN.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The EMF records written so far (the queue consumers flush after each message, the test the
/// rest); each is checked for the shape CloudWatch reads.
fn drain() -> Vec<Value> {
    shared::monitoring::flush();
    let out = std::mem::take(&mut *WRITTEN.lock().unwrap());
    let records: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    for record in &records {
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE, "{record}");
        assert!(record["_aws"]["Timestamp"].is_u64(), "{record}");
        assert_eq!(record[SERVICE_DIMENSION], "test-stack", "{record}");
        for entry in directive["Metrics"].as_array().unwrap() {
            let metric = metric_named(entry["Name"].as_str().unwrap()).unwrap_or_else(|| panic!("unknown: {record}"));
            let expected: Vec<&str> = if metric.per_function() {
                vec![SERVICE_DIMENSION, FUNCTION_DIMENSION]
            } else {
                vec![SERVICE_DIMENSION]
            };
            assert_eq!(directive["Dimensions"], json!([expected]), "{record}");
            let unit = if metric == Metric::Latency { "Milliseconds" } else { "Count" };
            assert_eq!(entry["Unit"], unit, "{record}");
        }
    }
    records
}

fn metric_named(name: &str) -> Option<Metric> {
    Metric::ALL.into_iter().find(|m| m.name() == name)
}

/// Totals per (metric, function): counters summed, latencies counted.
#[derive(Default)]
struct Totals(BTreeMap<(String, String), u64>);

impl Totals {
    fn add(&mut self, records: &[Value]) {
        for record in records {
            let function = record[FUNCTION_DIMENSION].as_str().unwrap_or("").to_owned();
            for entry in record["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
                let name = entry["Name"].as_str().unwrap().to_owned();
                let value = match &record[&name] {
                    Value::Array(samples) => samples.len() as u64,
                    value => value.as_u64().unwrap_or_else(|| panic!("a counter is a whole number: {record}")),
                };
                *self.0.entry((name, function.clone())).or_default() += value;
            }
        }
    }

    fn of(&self, metric: Metric) -> u64 {
        self.0.get(&(metric.name().to_owned(), String::new())).copied().unwrap_or(0)
    }

    fn of_function(&self, metric: Metric, function: &str) -> u64 {
        self.0.get(&(metric.name().to_owned(), function.to_owned())).copied().unwrap_or(0)
    }
}

async fn on_sale_event(organizer: &Client, quantity: u32) -> (Value, Value) {
    let venue = organizer.venue(100).await;
    let event = organizer.event(&venue, "Metered", 30, json!({})).await;
    let body = json!({ "name": "General", "price": 2500, "quantity": quantity });
    let reply = organizer.post(&format!("/api/v1/events/{}/ticket-types", id(&event)), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    for status in ["PUBLISHED", "ON_SALE"] {
        let reply = organizer.put(&format!("/api/v1/events/{}", id(&event)), &json!({ "status": status })).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    (event, reply.body["ticket_type"].clone())
}

async fn reserve(client: &Client, event: &Value, ticket_type: &Value, quantity: u32) -> Reply {
    let body = json!({ "items": [{ "ticket_type_id": ticket_type["id"], "quantity": quantity }] });
    client.post(&format!("/api/v1/events/{}/reservations", id(event)), &body).await
}

async fn create_venues(client: &Client, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let body = json!({ "name": format!("Hall {i}"), "capacity": 100, "timezone": "Europe/Paris" });
        statuses.push(client.post("/api/v1/venues", &body).await.status);
    }
    statuses
}

#[tokio::test]
async fn a_day_of_sales_refunds_and_limits_is_counted_exactly() {
    assert!(shared::monitoring::install_writing_to("test-stack", "monitoring-test", || Box::new(Written)));
    let mut totals = Totals::default();
    totals.add(&drain());
    assert_eq!(totals.of_function(Metric::ColdStarts, "monitoring-test"), 1);

    // Sales on a stack of its own whose queue consumers get every batch twice, as SQS may.
    let mut settings = fast_workers();
    settings.duplicate_deliveries = true;
    let options = StackOptions { queue_consumers: true, schedules: false, settings, extra: Vec::new() };
    let (tenant, _stack) = isolated_stack(options).await;
    let organizer = tenant.organizer();
    let (event, general) = on_sale_event(&organizer, 2).await;
    let (ann, bob) = (tenant.user("customer", "ann"), tenant.user("customer", "bob"));
    let anns = reserve(&ann, &event, &general, 2).await;
    assert_eq!(anns.status, 201, "{}", anns.text);
    reserve(&bob, &event, &general, 1).await.assert_problem(409, "SOLD_OUT");
    let released = ann.delete(&format!("/api/v1/reservations/{}", id(&anns.body["reservation"]))).await;
    assert_eq!(released.status, 200, "{}", released.text);
    // A retried hold is replayed, not placed again.
    let retried = bob.with_idempotency_key("bob-hold-1");
    let bobs = reserve(&retried, &event, &general, 1).await;
    let replayed = reserve(&retried, &event, &general, 1).await;
    assert_eq!((replayed.status, replayed.text.as_str()), (201, bobs.text.as_str()));
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(bob.pay_and_confirm(&bobs.body["reservation"]).await.status, 201);
    let unpaid = reserve(&bob, &event, &general, 1).await;
    bob.confirm(&unpaid.body["reservation"], "pi_never_paid").await.assert_problem(402, "PAYMENT_NOT_VERIFIED");
    let cancel = organizer.post(&format!("/api/v1/events/{}/cancel", id(&event)), &json!({ "reason": "Storm" })).await;
    assert_eq!(cancel.status, 202, "{}", cancel.text);
    let mut cancellation = Value::Null;
    for _ in 0..240 {
        cancellation = organizer.get(&format!("/api/v1/events/{}/cancellation", id(&event))).await.body;
        if cancellation["cancellation"]["status"] != "IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(cancellation["cancellation"]["status"], "COMPLETED", "{cancellation}");

    // Limits, on stacks of their own: two writes a minute; then the limiter's table unreachable.
    let (limited, _stack) = isolated_stack(no_workers(&[("RATE_LIMIT_WRITES_PER_MINUTE", "2")])).await;
    assert_eq!(create_venues(&limited.organizer(), 3).await, [201, 201, 429]);
    let unreachable = [("RATE_LIMIT_TABLE_NAME", "missing-RateLimitTable"), ("RATE_LIMIT_TIMEOUT_MS", "10000")];
    let (open, _stack) = isolated_stack(no_workers(&unreachable)).await;
    assert_eq!(create_venues(&open.organizer(), 5).await, [201; 5]);

    totals.add(&drain());
    let business = [
        (Metric::HoldsPlaced, 3),
        (Metric::SoldOutRefusals, 1),
        (Metric::HoldsReleased, 1),
        (Metric::HoldsExpired, 0),
        (Metric::OrdersConfirmed, 1),
        (Metric::PaymentsRefused, 1),
        (Metric::CancellationsStarted, 1),
        (Metric::CancellationsFinished, 1),
        (Metric::CancellationsStalled, 0),
        (Metric::RefundsSucceeded, 1),
        (Metric::RefundsFailed, 0),
        (Metric::RateLimited, 1),
        (Metric::RateLimiterFailOpens, 5),
    ];
    for (metric, expected) in business {
        assert_eq!(totals.of(metric), expected, "{metric:?}");
    }
    let per_function = [
        (Metric::Requests, "create-reservation", 5),
        (Metric::ClientErrors, "create-reservation", 1),
        (Metric::Latency, "create-reservation", 5),
        (Metric::Requests, "confirm-reservation", 2),
        (Metric::ClientErrors, "confirm-reservation", 1),
        (Metric::Requests, "create-venue", 9),
        (Metric::ClientErrors, "create-venue", 1),
        (Metric::ServerErrors, "create-venue", 0),
        (Metric::Requests, "cancel-event", 1),
    ];
    for (metric, function, expected) in per_function {
        assert_eq!(totals.of_function(metric, function), expected, "{metric:?} of {function}");
    }
    // Every delivery is counted as handed, the duplicates too; the refund was counted once. A
    // duplicate may fail while its twin holds the order (SQS then delivers it again), never both.
    for consumer in ["fan-out-refunds", "process-refunds"] {
        let (handed, failed) = (
            totals.of_function(Metric::QueueMessages, consumer),
            totals.of_function(Metric::QueueMessageFailures, consumer),
        );
        assert!(handed >= 2 && failed * 2 <= handed, "{consumer}: {failed} of {handed} failed");
    }
}

// ---- what the template shows ----

fn template_text() -> String {
    std::fs::read_to_string(harness::project_root().join("infra/template.yaml")).unwrap()
}

/// A use of one of our metrics in the template: where, and with which dimension names.
#[derive(Debug)]
struct Use {
    place: String,
    name: String,
    dimensions: BTreeSet<String>,
}

/// `${...}` replaced by `X`, as CloudFormation's `!Sub` would put a value there.
fn substituted(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        out.push('X');
        rest = &rest[start + rest[start..].find('}').unwrap() + 1..];
    }
    out + rest
}

/// Our metrics a `SEARCH('{Namespace,Dim,...} MetricName="Name" ...')` expression names.
fn searched(place: &str, expression: &str, uses: &mut Vec<Use>) {
    let Some(schema) = expression.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(s, _)| s) else {
        return;
    };
    let mut parts = schema.split(',').map(str::trim);
    if parts.next() != Some(NAMESPACE) {
        return;
    }
    let dimensions = parts.map(str::to_owned).collect();
    let name = expression.split_once("MetricName=\"").and_then(|(_, rest)| rest.split_once('"')).map(|(n, _)| n);
    uses.push(Use { place: place.to_owned(), name: name.expect("a search names its metric").to_owned(), dimensions });
}

fn dashboard_uses(logical_id: &str, body: &Value, uses: &mut Vec<Use>) {
    for widget in body["widgets"].as_array().unwrap() {
        let place = format!("{logical_id} widget {:?}", widget["properties"]["title"]);
        for line in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let items = line.as_array().unwrap();
            if let Some(expression) = items.iter().find_map(|i| i["expression"].as_str()) {
                searched(&place, expression, uses);
            } else if items[0] == NAMESPACE {
                let strings: Vec<&str> = items[2..].iter().filter_map(Value::as_str).collect();
                let dimensions = strings.chunks(2).map(|pair| pair[0].to_owned()).collect();
                uses.push(Use { place: place.clone(), name: items[1].as_str().unwrap().to_owned(), dimensions });
            }
        }
    }
}

fn alarm_uses(logical_id: &str, properties: &Yaml, uses: &mut Vec<Use>) {
    let dimension_names = |dimensions: &Yaml| {
        dimensions.as_sequence().into_iter().flatten().map(|d| d["Name"].as_str().unwrap().to_owned()).collect()
    };
    if properties["Namespace"].as_str() == Some(NAMESPACE) {
        let name = properties["MetricName"].as_str().unwrap().to_owned();
        uses.push(Use { place: logical_id.to_owned(), name, dimensions: dimension_names(&properties["Dimensions"]) });
    }
    for query in properties["Metrics"].as_sequence().into_iter().flatten() {
        let metric = &query["MetricStat"]["Metric"];
        if metric["Namespace"].as_str() == Some(NAMESPACE) {
            let name = metric["MetricName"].as_str().unwrap().to_owned();
            uses.push(Use { place: logical_id.to_owned(), name, dimensions: dimension_names(&metric["Dimensions"]) });
        }
    }
}

/// Every dashboard widget and alarm that names one of our metrics, from the template.
fn template_uses() -> (Vec<Use>, Vec<Use>) {
    let text = template_text();
    let document: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    let (mut shown, mut alarmed) = (Vec::new(), Vec::new());
    for (logical_id, resource) in document["Resources"].as_mapping().unwrap() {
        let logical_id = logical_id.as_str().unwrap();
        match resource["Type"].as_str().unwrap() {
            "AWS::CloudWatch::Dashboard" => {
                let Yaml::Tagged(sub) = &resource["Properties"]["DashboardBody"] else {
                    panic!("{logical_id}: the body is a !Sub string")
                };
                let body = serde_json::from_str(&substituted(sub.value.as_str().unwrap())).unwrap();
                dashboard_uses(logical_id, &body, &mut shown);
            }
            "AWS::CloudWatch::Alarm" => alarm_uses(logical_id, &resource["Properties"], &mut alarmed),
            _ => {}
        }
    }
    (shown, alarmed)
}

/// What is wrong with the template's uses of our metrics, against what the code emits.
fn mismatches(shown: &[Use], alarmed: &[Use], emitted: &[Metric]) -> Vec<String> {
    let mut wrong = Vec::new();
    for use_ in shown.iter().chain(alarmed) {
        let Some(metric) = emitted.iter().find(|m| m.name() == use_.name) else {
            wrong.push(format!("{} names {}, which the code does not emit", use_.place, use_.name));
            continue;
        };
        let mut expected = BTreeSet::from([SERVICE_DIMENSION.to_owned()]);
        if metric.per_function() {
            expected.insert(FUNCTION_DIMENSION.to_owned());
        }
        if use_.dimensions != expected {
            wrong.push(format!(
                "{} reads {} with {:?}; it is emitted with {expected:?}",
                use_.place, use_.name, use_.dimensions
            ));
        }
    }
    for metric in emitted {
        if !shown.iter().any(|u| u.name == metric.name()) {
            wrong.push(format!("the code emits {}, which no dashboard shows", metric.name()));
        }
    }
    wrong
}

#[test]
fn the_dashboard_and_alarms_show_exactly_the_metrics_the_code_emits() {
    let (shown, alarmed) = template_uses();
    assert!(shown.len() >= Metric::ALL.len() && !alarmed.is_empty(), "{shown:?} {alarmed:?}");
    let wrong = mismatches(&shown, &alarmed, &Metric::ALL);
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The `Service` dimension is the stack's name, as the functions are told it.
    let text = template_text();
    assert!(text.contains("SERVICE_NAME: !Ref AWS::StackName"), "the functions' SERVICE_NAME");

    // A metric renamed in the code (or in the template) is caught both ways.
    let renamed: Vec<Metric> = Metric::ALL.into_iter().filter(|m| *m != Metric::RefundsFailed).collect();
    let wrong = mismatches(&shown, &alarmed, &renamed);
    assert!(wrong.iter().any(|w| w.contains("RefundsFailedAlarm names RefundsFailed")), "{wrong:#?}");
}

/// checkov (`make lint`) fails on any finding; what we accept is skipped in the template, and
/// each skip must say why.
#[test]
fn every_scanner_finding_skipped_in_the_template_gives_its_reason() {
    let text = template_text();
    let document: Yaml = serde_yaml_ng::from_str(&text).unwrap();
    let mut skips = 0;
    for (logical_id, resource) in document["Resources"].as_mapping().unwrap() {
        for skip in resource["Metadata"]["checkov"]["skip"].as_sequence().into_iter().flatten() {
            let (check, reason) = (skip["id"].as_str().unwrap(), skip["comment"].as_str().unwrap_or(""));
            assert!(check.starts_with("CKV_AWS_"), "{logical_id:?}: {check}");
            assert!(reason.split_whitespace().count() >= 8, "{logical_id:?} skips {check} without a reason");
            skips += 1;
        }
    }
    assert!(skips > 100, "{skips}");
}

/// `ReservedConcurrency` is 0 or at least 10 (its `AllowedPattern`): every queue consumer's
/// pollers must stay within that, or their throttled receives count toward the dead-letter queue.
#[test]
fn queue_consumers_poll_within_the_smallest_reservation() {
    let text = template_text();
    assert!(text.contains(r#"AllowedPattern: "^(0|[1-9][0-9]{1,3})$""#), "the parameter's floor of 10 moved");
    let triggers = template().queue_triggers;
    assert!(triggers.len() >= 3);
    for trigger in triggers {
        let cap = trigger.maximum_concurrency.unwrap_or_else(|| panic!("{}: no MaximumConcurrency", trigger.function));
        assert!((2..=10).contains(&cap), "{}: {cap}", trigger.function);
    }
}
