//! Analytics add up to the minor unit: a scripted season of concurrent orders, single refunds
//! and one cancelled event, checked against totals this test computes from what it created.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cancellation::{cancel, finished, with_consumers};
use crate::harness::{Client, Tenant, heavy_test, id, isolated_stack};

const CUSTOMERS: usize = 40;
const ORDERS: usize = 300;
const REFUNDS: usize = 40;

/// What one venue, event, customer or category should show, per currency.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Expected {
    orders: i64,
    tickets: i64,
    gross: i64,
    refunded: i64,
}

impl Expected {
    fn net(&self) -> i64 {
        self.gross - self.refunded
    }
}

struct Order {
    id: String,
    customer: usize,
    event: usize,
    tickets: i64,
    total: i64,
    created_at: String,
}

struct Season {
    tenant: Tenant,
    venues: Vec<Value>,
    /// (event, venue index, category, currency)
    events: Vec<(Value, usize, Option<&'static str>, &'static str)>,
    orders: Vec<Order>,
    /// Refunded per order id, as the provider confirmed it.
    refunded: HashMap<String, i64>,
}

fn customer_name(c: usize) -> String {
    format!("fan-{c}")
}

/// 2 venues, 5 events (one in EUR, one named like a spreadsheet formula, one without a
/// category), 300 orders from 40 customers placed concurrently, 40 single-order refunds (full
/// and partial), and the third event cancelled with full refunds.
async fn season(tenant: Tenant) -> Season {
    let organizer = tenant.organizer();
    let venues = vec![organizer.venue(500).await, organizer.venue(400).await];
    let plans: [(&str, usize, Option<&'static str>, &'static str); 5] = [
        ("Spring Jazz", 0, Some("music"), "USD"),
        ("Derby Day", 0, Some("sports"), "USD"),
        ("=SUM(1,2) Live", 0, Some("music"), "USD"),
        ("Hamlet", 1, Some("theater"), "USD"),
        ("Soirée", 1, None, "EUR"),
    ];
    let mut events = Vec::new();
    let mut types = Vec::new();
    for (i, (name, venue, category, currency)) in plans.into_iter().enumerate() {
        let extra = category.map_or_else(|| json!({}), |c| json!({ "category": c }));
        let event = organizer.event(&venues[venue], name, 20 + i64::try_from(i).unwrap(), extra).await;
        let path = format!("/api/v1/events/{}", id(&event));
        let mut event_types = Vec::new();
        for (kind, price) in [("Standard", 2_500 + 100 * i as u64), ("VIP", 9_000)] {
            let body = json!({
                "name": kind, "price": price, "quantity": 150, "currency": currency,
                "service_fee": 300, "facility_fee": 125, "tax_rate_bps": 875,
            });
            let created = organizer.post(&format!("{path}/ticket-types"), &body).await;
            assert_eq!(created.status, 201, "{}", created.text);
            event_types.push(created.body["ticket_type"].clone());
        }
        for status in ["PUBLISHED", "ON_SALE"] {
            assert_eq!(organizer.put(&path, &json!({ "status": status })).await.status, 200);
        }
        events.push((event, venue, category, currency));
        types.push(event_types);
    }

    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let (events_shared, types) = (Arc::new(events.iter().map(|e| e.0.clone()).collect::<Vec<_>>()), Arc::new(types));
    let buyers: Vec<_> = (0..CUSTOMERS)
        .map(|c| {
            let (gate, tenant, events, types) =
                (Arc::clone(&gate), tenant.clone(), Arc::clone(&events_shared), Arc::clone(&types));
            tokio::spawn(async move {
                let buyer = tenant.user("customer", &customer_name(c));
                let mut bought = Vec::new();
                for o in (0..ORDERS).filter(|o| o % CUSTOMERS == c) {
                    let _turn = gate.acquire().await.unwrap();
                    let (event, kind, quantity) = (o % 5, (o / 5) % 2, 1 + u32::try_from(o % 3).unwrap());
                    let hold =
                        crate::inventory::reserve(&buyer, &events[event], &[(&types[event][kind], quantity)]).await;
                    assert_eq!(hold.status, 201, "{}", hold.text);
                    let order = buyer.pay_and_confirm(&hold.body["reservation"]).await;
                    assert_eq!(order.status, 201, "{}", order.text);
                    let order = &order.body["order"];
                    bought.push(Order {
                        id: id(order).to_owned(),
                        customer: c,
                        event,
                        tickets: i64::from(quantity),
                        total: order["total"].as_i64().unwrap(),
                        created_at: order["created_at"].as_str().unwrap().to_owned(),
                    });
                }
                bought
            })
        })
        .collect();
    let mut orders = Vec::new();
    for buyer in buyers {
        orders.extend(buyer.await.unwrap());
    }
    assert_eq!(orders.len(), ORDERS);

    // Single refunds of orders outside the event about to be cancelled: every other one full,
    // the rest 1,000 of their total.
    let admin = tenant.admin();
    let chosen: Vec<&Order> = orders.iter().filter(|o| o.event != 2).step_by(5).take(REFUNDS).collect();
    assert_eq!(chosen.len(), REFUNDS);
    let mut refunded = HashMap::new();
    for (k, order) in chosen.iter().enumerate() {
        let (body, amount) = if k % 2 == 0 {
            (json!({ "reason": "Changed plans" }), order.total)
        } else {
            (json!({ "reason": "Seat moved", "amount": 1000 }), 1000)
        };
        let reply = admin.post(&format!("/api/v1/orders/{}/refund", order.id), &body).await;
        assert_eq!(reply.status, 202, "{}", reply.text);
        refunded.insert(order.id.clone(), amount);
    }
    let cancelled = cancel(&organizer, &events[2].0, json!({ "reason": "Venue flooded" })).await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text);
    assert_eq!(finished(&organizer, &events[2].0).await["status"], "COMPLETED");
    for order in orders.iter().filter(|o| o.event == 2) {
        refunded.insert(order.id.clone(), order.total);
    }
    // Every single refund settled at the provider before anything is read.
    let started = Instant::now();
    for order in &chosen {
        loop {
            let read = admin.get(&format!("/api/v1/orders/{}", order.id)).await.body["order"].clone();
            if read["refunded_amount"].as_i64() == Some(refunded[&order.id]) {
                break;
            }
            assert!(started.elapsed() < Duration::from_mins(3), "refund never finished: {read}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Season { tenant, venues, events, orders, refunded }
}

impl Season {
    fn refunded_of(&self, order: &Order) -> i64 {
        self.refunded.get(&order.id).copied().unwrap_or(0)
    }

    /// Sums the orders `keep` selects, per currency.
    fn expected(&self, keep: impl Fn(&Order) -> bool) -> BTreeMap<String, Expected> {
        let mut sums: BTreeMap<String, Expected> = BTreeMap::new();
        for order in self.orders.iter().filter(|o| keep(o)) {
            let sum = sums.entry(self.events[order.event].3.to_owned()).or_default();
            sum.orders += 1;
            sum.tickets += order.tickets;
            sum.gross += order.total;
            sum.refunded += self.refunded_of(order);
        }
        sums
    }
}

/// The figures an analytics object shows, per currency, read from its `by_currency`.
fn shown(value: &Value, gross: &str) -> BTreeMap<String, (i64, i64)> {
    value["by_currency"]
        .as_array()
        .unwrap_or_else(|| panic!("no by_currency in {value}"))
        .iter()
        .map(|c| {
            (
                c["currency"].as_str().unwrap().to_owned(),
                (c[gross].as_i64().unwrap(), c["refunded_amount"].as_i64().unwrap()),
            )
        })
        .collect()
}

fn money(expected: &BTreeMap<String, Expected>) -> BTreeMap<String, (i64, i64)> {
    expected.iter().map(|(c, e)| (c.clone(), (e.gross, e.refunded))).collect()
}

#[tokio::test]
async fn a_season_of_sales_and_refunds_adds_up_to_the_minor_unit_everywhere() {
    let _heavy = heavy_test().await;
    let (tenant, _stack) = isolated_stack(with_consumers(Vec::new(), false)).await;
    let season = season(tenant).await;
    let admin = season.tenant.admin();

    // Venues: one query of their events and a few item reads; the second sells in two currencies.
    for (v, venue) in season.venues.iter().enumerate() {
        let reply = admin.get(&format!("/api/v1/analytics/venues/{}", id(venue))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = &reply.body;
        let expected = season.expected(|o| season.events[o.event].1 == v);
        let events: Vec<_> = season.events.iter().filter(|e| e.1 == v).collect();
        let capacity: i64 = events.iter().map(|e| e.0["capacity"].as_i64().unwrap()).sum();
        let tickets: i64 = expected.values().map(|e| e.tickets).sum();
        assert_eq!(body["events"].as_u64(), Some(events.len() as u64));
        assert_eq!(body["capacity"].as_i64(), Some(capacity));
        assert_eq!(body["tickets_sold"].as_i64(), Some(tickets));
        assert_eq!(shown(body, "gross_revenue"), money(&expected), "venue {v}");
        let hundredths = (tickets * 10_000 + capacity / 2) / capacity;
        let expected_percent = json!(f64::from(i32::try_from(hundredths).unwrap()) / 100.0);
        assert_eq!(body["sell_through_percent"], expected_percent, "two decimals, half up");
        if expected.len() == 1 {
            let only = expected.values().next().unwrap();
            assert_eq!(body["gross_revenue"].as_i64(), Some(only.gross));
            assert_eq!(body["refunded_amount"].as_i64(), Some(only.refunded));
            assert_eq!(body["net_revenue"].as_i64(), Some(only.net()));
            assert_eq!(body["currency"], "USD");
        } else {
            assert_eq!(
                (body["gross_revenue"].clone(), body["currency"].clone()),
                (Value::Null, Value::Null),
                "USD and EUR are never added"
            );
        }
        for row in body["by_event"].as_array().unwrap() {
            let index = season.events.iter().position(|e| id(&e.0) == row["event_id"]).unwrap();
            let expected = season.expected(|o| o.event == index);
            assert_eq!(shown(row, "gross_revenue"), money(&expected), "event {index}");
            assert_eq!(row["tickets_sold"].as_i64(), Some(expected.values().map(|e| e.tickets).sum()));
            let status = if index == 2 { "CANCELLED" } else { "ON_SALE" };
            assert_eq!(row["status"], status);
        }
        // From/to on the events' start: only the first event of the first venue starts by day 20.
        if v == 0 {
            let to =
                crate::harness::rfc3339(chrono::Utc::now() + chrono::Duration::days(20) + chrono::Duration::hours(1));
            let narrow = admin.get(&format!("/api/v1/analytics/venues/{}?to={to}", id(venue))).await;
            assert_eq!(narrow.body["events"], 1, "{}", narrow.text);
            assert_eq!(shown(&narrow.body, "gross_revenue"), money(&season.expected(|o| o.event == 0)));
        }
    }

    // Customers: each one's own figures, by category.
    for c in 0..CUSTOMERS {
        let customer = season.tenant.user("customer", &customer_name(c));
        let reply = customer.get(&format!("/api/v1/analytics/customers/{}", customer_name(c))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = &reply.body;
        let mine: Vec<&Order> = season.orders.iter().filter(|o| o.customer == c).collect();
        let expected = season.expected(|o| o.customer == c);
        assert_eq!(body["orders"].as_u64(), Some(mine.len() as u64));
        assert_eq!(body["tickets"].as_i64(), Some(mine.iter().map(|o| o.tickets).sum()));
        assert_eq!(shown(body, "total_spent"), money(&expected), "customer {c}");
        let events: BTreeSet<usize> = mine.iter().map(|o| o.event).collect();
        assert_eq!(body["events"].as_u64(), Some(events.len() as u64));
        let first = mine.iter().map(|o| o.created_at.as_str()).min().unwrap();
        let last = mine.iter().map(|o| o.created_at.as_str()).max().unwrap();
        let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        assert_eq!(at(&body["first_order_at"]), chrono::DateTime::parse_from_rfc3339(first).unwrap());
        assert_eq!(at(&body["last_order_at"]), chrono::DateTime::parse_from_rfc3339(last).unwrap());
        let categories: BTreeSet<Option<&str>> = events.iter().map(|e| season.events[*e].2).collect();
        let rows = body["by_category"].as_array().unwrap();
        assert_eq!(rows.len(), categories.len(), "{body}");
        for row in rows {
            let category = row["category"].as_str();
            let expected = season.expected(|o| o.customer == c && season.events[o.event].2 == category);
            assert_eq!(shown(row, "total_spent"), money(&expected), "customer {c}, {category:?}");
            assert_eq!(row["orders"].as_i64(), Some(expected.values().map(|e| e.orders).sum()));
        }
    }

    // The sales report, as JSON and as CSV, says the same.
    let json_report = admin.get("/api/v1/analytics/reports/sales").await;
    assert_eq!(json_report.status, 200, "{}", json_report.text);
    let rows = json_report.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let csv_report = admin.get("/api/v1/analytics/reports/sales?format=csv").await;
    assert_eq!(csv_report.status, 200, "{}", csv_report.text);
    let mut reader = csv::Reader::from_reader(csv_report.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, shared::api::analytics::CSV_HEADER);
    let mut from_csv = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let number = |i: usize| record[i].parse::<i64>().unwrap();
        let key = (record[0].to_owned(), record[9].to_owned());
        from_csv.insert(key, (record[1].to_owned(), number(5), number(6), number(7), number(8)));
    }
    assert_eq!(from_csv.len(), 5, "one line per event and currency");
    for (index, (event, _, _, currency)) in season.events.iter().enumerate() {
        let expected = &season.expected(|o| o.event == index)[*currency];
        let row = rows.iter().find(|r| r["event_id"] == id(event)).unwrap();
        assert_eq!(shown(row, "gross_revenue"), money(&season.expected(|o| o.event == index)));
        assert_eq!(row["net_revenue"].as_i64(), Some(expected.net()));
        let (name, tickets, gross, refunded, net) = &from_csv[&(id(event).to_owned(), (*currency).to_owned())];
        assert_eq!(
            (*tickets, *gross, *refunded, *net),
            (expected.tickets, expected.gross, expected.refunded, expected.net()),
            "CSV of event {index}"
        );
        let stored_name = event["name"].as_str().unwrap();
        assert_eq!(row["name"], stored_name, "JSON keeps the name verbatim");
        let csv_name = if stored_name.starts_with('=') { format!("'{stored_name}") } else { stored_name.to_owned() };
        assert_eq!(name, &csv_name, "a formula-like name is neutralised in CSV only");
    }
    assert!(season.refunded.len() > REFUNDS, "the cancelled event's orders were refunded too");

    // One venue's rows only.
    let second_venue = id(&season.venues[1]);
    let venue_report = admin.get(&format!("/api/v1/analytics/reports/sales?venue_id={second_venue}")).await;
    let venue_rows = venue_report.body["rows"].as_array().unwrap();
    assert_eq!(venue_rows.len(), 2, "{}", venue_report.text);
    assert!(venue_rows.iter().all(|r| r["venue_id"] == second_venue), "{}", venue_report.text);
}

async fn venue_with_a_sale(organizer: &Client, buyer: &Client) -> (Value, Value) {
    let (event, types) = crate::inventory::event_on_sale(organizer, 50, &[("Seat", 4_000, 10, json!({}))]).await;
    let hold = crate::inventory::reserve(buyer, &event, &[(&types[0], 2)]).await;
    assert_eq!(buyer.pay_and_confirm(&hold.body["reservation"]).await.status, 201);
    let venue = json!({ "id": event["venue_id"] });
    (venue, event)
}

#[tokio::test]
async fn analytics_are_for_staff_and_the_customer_themselves_within_one_tenant() {
    let tenant = Tenant::new();
    let (organizer, buyer) = (tenant.organizer(), tenant.user("customer", "buyer-1"));
    let (venue, _) = venue_with_a_sale(&organizer, &buyer).await;
    let venue_path = format!("/api/v1/analytics/venues/{}", id(&venue));
    let own = organizer.get(&venue_path).await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!((own.body["tickets_sold"].as_u64(), own.body["gross_revenue"].as_u64()), (Some(2), Some(8_000)));
    assert_eq!((own.body["capacity"].as_u64(), own.body["sell_through_percent"].as_f64()), (Some(50), Some(4.0)));

    buyer.get(&venue_path).await.assert_problem(403, "FORBIDDEN");
    buyer.get("/api/v1/analytics/reports/sales").await.assert_problem(403, "FORBIDDEN");
    buyer.get("/api/v1/analytics/customers/someone-else").await.assert_problem(403, "FORBIDDEN");
    let mine = buyer.get("/api/v1/analytics/customers/buyer-1").await;
    assert_eq!((mine.status, mine.body["total_spent"].as_u64()), (200, Some(8_000)), "{}", mine.text);

    // Another tenant's staff sees none of it.
    let other = Tenant::new().admin();
    other.get(&venue_path).await.assert_problem(404, "NOT_FOUND");
    let stranger = other.get("/api/v1/analytics/customers/buyer-1").await;
    assert_eq!((stranger.body["orders"].as_u64(), stranger.body["total_spent"].as_u64()), (Some(0), Some(0)));
    assert_eq!(stranger.body["first_order_at"], Value::Null);
    let report = other.get("/api/v1/analytics/reports/sales").await;
    assert_eq!(report.body["rows"], json!([]), "{}", report.text);

    // Bad input is named.
    let reply = organizer.get(&format!("{venue_path}?from=yesterday")).await;
    reply.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_fields(), ["from"]);
    let backwards = organizer.get(&format!("{venue_path}?from=2027-02-01T00:00:00Z&to=2027-01-01T00:00:00Z")).await;
    backwards.assert_problem(422, "VALIDATION_ERROR");
    assert_eq!(backwards.error_fields(), ["to"]);
    let reply = organizer.get("/api/v1/analytics/reports/sales?format=xlsx").await;
    assert_eq!(reply.error_fields(), ["format"]);
    organizer.get("/api/v1/analytics/reports/sales?limit=101").await.assert_problem(400, "VALIDATION_ERROR");
    organizer.get("/api/v1/analytics/venues/not-a-uuid").await.assert_problem(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_sales_report_pages_with_a_cursor_in_json_and_csv() {
    let tenant = Tenant::new();
    let (organizer, buyer) = (tenant.organizer(), tenant.user("customer", "pager"));
    for _ in 0..3 {
        venue_with_a_sale(&organizer, &buyer).await;
    }
    let first = organizer.get("/api/v1/analytics/reports/sales?limit=2").await;
    assert_eq!(first.body["rows"].as_array().map(Vec::len), Some(2), "{}", first.text);
    let cursor = first.body["next_cursor"].as_str().expect("a cursor to the third event").to_owned();
    let rest = organizer.get(&format!("/api/v1/analytics/reports/sales?limit=2&cursor={cursor}")).await;
    assert_eq!(rest.body["rows"].as_array().map(Vec::len), Some(1), "{}", rest.text);
    assert_eq!(rest.body["next_cursor"], Value::Null);

    let csv_page = organizer.get("/api/v1/analytics/reports/sales?limit=2&format=csv").await;
    assert_eq!(csv_page.text.lines().count(), 3, "a header and two events: {}", csv_page.text);
    let content_type = csv_page.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(csv_page.headers.contains_key("x-next-cursor"), "the cursor travels in a header");
    // A cursor is bound to its filters.
    let other = organizer
        .get(&format!("/api/v1/analytics/reports/sales?limit=2&from=2020-01-01T00:00:00Z&cursor={cursor}"))
        .await;
    other.assert_problem(400, "VALIDATION_ERROR");
}
