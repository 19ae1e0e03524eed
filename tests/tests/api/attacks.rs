//! The cheap attacks, over every route of the template: bad credentials, another tenant, another
//! user, the wrong role; hostile bodies; stored script and SSRF payloads. Each route's expected
//! refusals are declared below, and a route of the template without a declaration fails the test.

use std::collections::BTreeMap;

use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{secret, sign, unsigned, valid_claims, with};
use crate::harness::{Client, Reply, Tenant, event_body, id, template};
use crate::inventory::{event_on_sale, reserve};

/// Who attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// An admin of another tenant.
    Intruder,
    /// A customer of the tenant who owns nothing here.
    Customer,
    /// An organizer of the tenant who did not create the event.
    Organizer,
}

/// What the attacker gets: a status (and its problem code), or a 200 showing none of the victim's ids.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Refused(u16, &'static str),
    SeesNothing,
}

use Outcome::{Refused, SeesNothing};
use Who::{Customer, Intruder, Organizer};

const NOT_FOUND: Outcome = Refused(404, "NOT_FOUND");
const FORBIDDEN: Outcome = Refused(403, "FORBIDDEN");

/// Each route's refusals, as docs/api.md states them (another tenant's resource answers as a
/// missing one; another customer's hold or order too; anything outside a role is 403).
fn refusals(method: &str, path: &str) -> Option<Vec<(Who, Outcome)>> {
    let staff_only_write = vec![(Intruder, NOT_FOUND), (Customer, FORBIDDEN)];
    let creator_only = vec![(Intruder, NOT_FOUND), (Customer, FORBIDDEN), (Organizer, FORBIDDEN)];
    let tenant_only = vec![(Intruder, NOT_FOUND)];
    let holder_only = vec![(Intruder, NOT_FOUND), (Customer, NOT_FOUND)];
    let staff_read = vec![(Intruder, NOT_FOUND), (Customer, FORBIDDEN)];
    Some(match (method, path) {
        ("GET", "/health") => vec![],
        ("POST", "/api/v1/venues") => vec![(Customer, FORBIDDEN)],
        ("GET", "/api/v1/venues" | "/api/v1/events") => vec![(Intruder, SeesNothing)],
        ("PUT", "/api/v1/venues/{venue_id}") => staff_only_write,
        // The body names the victim's venue, which the intruder's tenant does not have.
        ("POST", "/api/v1/events") => {
            vec![(Intruder, Refused(422, "VALIDATION_ERROR")), (Customer, FORBIDDEN)]
        }
        (
            "GET",
            "/api/v1/venues/{venue_id}"
            | "/api/v1/events/{event_id}"
            | "/api/v1/events/{event_id}/ticket-types"
            | "/api/v1/events/{event_id}/capacity",
        )
        | ("POST", "/api/v1/events/{event_id}/price-quote" | "/api/v1/events/{event_id}/reservations") => tenant_only,
        ("PUT", "/api/v1/events/{event_id}" | "/api/v1/events/{event_id}/ticket-types/{ticket_type_id}")
        | ("DELETE", "/api/v1/events/{event_id}")
        | (
            "POST",
            "/api/v1/events/{event_id}/publish"
            | "/api/v1/events/{event_id}/ticket-types"
            | "/api/v1/events/{event_id}/cancel"
            | "/api/v1/orders/{order_id}/refund",
        ) => creator_only,
        ("GET" | "DELETE", "/api/v1/reservations/{reservation_id}") | ("GET", "/api/v1/orders/{order_id}") => {
            holder_only
        }
        // Only the holder buys: staff get 403, other customers 404.
        ("POST", "/api/v1/reservations/{reservation_id}/confirm") => {
            vec![(Intruder, NOT_FOUND), (Customer, NOT_FOUND), (Organizer, FORBIDDEN)]
        }
        (
            "GET",
            "/api/v1/events/{event_id}/orders"
            | "/api/v1/analytics/venues/{venue_id}"
            | "/api/v1/events/{event_id}/cancellation",
        ) => staff_read,
        // A customer id is the token's `sub`: another tenant's admin reads its own (empty) records.
        ("GET", "/api/v1/customers/{customer_id}/orders" | "/api/v1/analytics/customers/{customer_id}") => {
            vec![(Intruder, SeesNothing), (Customer, FORBIDDEN)]
        }
        ("GET", "/api/v1/analytics/reports/sales") => vec![(Intruder, SeesNothing), (Customer, FORBIDDEN)],
        _ => return None,
    })
}

/// A tenant with a venue, an event on sale by `org-a`, a hold and an order of `cust-a`.
struct Victim {
    tenant: Tenant,
    ids: BTreeMap<&'static str, String>,
    venue: Value,
}

impl Victim {
    async fn new() -> Self {
        let tenant = Tenant::new();
        let organizer = tenant.user("organizer", "org-a");
        let (event, types) = event_on_sale(&organizer, 100, &[("General", 1000, 50, json!({}))]).await;
        let buyer = tenant.user("customer", "cust-a");
        let held = reserve(&buyer, &event, &[(&types[0], 1)]).await;
        assert_eq!(held.status, 201, "{}", held.text);
        let bought = reserve(&buyer, &event, &[(&types[0], 1)]).await;
        let order = buyer.pay_and_confirm(&bought.body["reservation"]).await;
        assert_eq!(order.status, 201, "{}", order.text);
        let venue = organizer.get(&format!("/api/v1/venues/{}", event["venue_id"].as_str().unwrap())).await;
        let ids = BTreeMap::from([
            ("venue_id", event["venue_id"].as_str().unwrap().to_owned()),
            ("event_id", id(&event).to_owned()),
            ("ticket_type_id", id(&types[0]).to_owned()),
            ("reservation_id", id(&held.body["reservation"]).to_owned()),
            ("order_id", id(&order.body["order"]).to_owned()),
            ("customer_id", "cust-a".to_owned()),
        ]);
        Self { tenant, ids, venue: venue.body["venue"].clone() }
    }

    fn path(&self, template_path: &str) -> String {
        self.ids
            .iter()
            .fold(template_path.to_owned(), |path, (name, value)| path.replace(&format!("{{{name}}}"), value))
    }

    /// A well-formed body for the route, so that who asks is what decides the answer.
    fn body(&self, method: &str, path: &str) -> Option<Value> {
        let items = json!({ "items": [{ "ticket_type_id": self.ids["ticket_type_id"], "quantity": 1 }] });
        Some(match (method, path) {
            ("POST", "/api/v1/venues") => json!({ "name": "Annex", "capacity": 10, "timezone": "Europe/Paris" }),
            ("PUT", "/api/v1/venues/{venue_id}") => json!({ "capacity": 500 }),
            ("POST", "/api/v1/events") => event_body(&self.venue, "Takeover", 30, json!({})),
            ("PUT", "/api/v1/events/{event_id}" | "/api/v1/events/{event_id}/ticket-types/{ticket_type_id}") => {
                json!({ "name": "Renamed" })
            }
            ("POST", "/api/v1/events/{event_id}/ticket-types") => json!({ "name": "VIP", "price": 1, "quantity": 1 }),
            ("POST", "/api/v1/events/{event_id}/price-quote" | "/api/v1/events/{event_id}/reservations") => items,
            ("POST", "/api/v1/reservations/{reservation_id}/confirm") => json!({ "payment_reference": "pi_other" }),
            ("POST", "/api/v1/events/{event_id}/cancel" | "/api/v1/orders/{order_id}/refund") => {
                json!({ "reason": "mine now" })
            }
            ("POST", _) => json!({}),
            _ => return None,
        })
    }
}

async fn call(client: &Client, method: &str, path: &str, body: Option<&Value>) -> Reply {
    client.send(Method::from_bytes(method.as_bytes()).unwrap(), path, body.map(Value::to_string)).await
}

fn routes() -> Vec<(String, String)> {
    template().routes.into_iter().map(|r| (r.method, r.path)).collect()
}

#[tokio::test]
async fn every_route_refuses_another_tenant_another_user_and_the_wrong_role() {
    let victim = Victim::new().await;
    let intruder = Tenant::new().admin();
    let customer = victim.tenant.user("customer", "cust-b");
    let organizer = victim.tenant.user("organizer", "org-b");
    let mut checked = 0;
    for (method, path) in routes() {
        let expected = refusals(&method, &path).unwrap_or_else(|| panic!("{method} {path}: no declared refusals"));
        for (who, outcome) in expected {
            let client = match who {
                Intruder => &intruder,
                Customer => &customer,
                Organizer => &organizer,
            };
            let reply = call(client, &method, &victim.path(&path), victim.body(&method, &path).as_ref()).await;
            let case = format!("{who:?} on {method} {path}");
            match outcome {
                Refused(status, code) => {
                    assert_eq!((reply.status, reply.code()), (status, code), "{case}: {}", reply.text);
                }
                SeesNothing => assert_eq!(reply.status, 200, "{case}: {}", reply.text),
            }
            for (name, value) in &victim.ids {
                let leaks = *name != "customer_id" && reply.text.contains(value.as_str());
                assert!(!leaks, "{case}: the answer shows the victim's {name}: {}", reply.text);
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked}");
    // Nothing an attacker tried changed the victim's records.
    let owner = victim.tenant.user("organizer", "org-a");
    let event = owner.get(&victim.path("/api/v1/events/{event_id}")).await.body["event"].clone();
    assert_eq!((event["name"].as_str(), event["status"].as_str()), (Some("Sale"), Some("ON_SALE")));
    let buyer = victim.tenant.user("customer", "cust-a");
    let hold = buyer.get(&victim.path("/api/v1/reservations/{reservation_id}")).await;
    assert_eq!(hold.body["reservation"]["status"], "HELD");
    let order = buyer.get(&victim.path("/api/v1/orders/{order_id}")).await;
    assert_eq!(order.body["order"]["status"], "CONFIRMED");
}

#[tokio::test]
async fn every_route_but_health_answers_bad_credentials_with_the_same_generic_401() {
    let victim = Victim::new().await;
    let claims = valid_claims(&victim.tenant);
    let now = chrono::Utc::now().timestamp();
    let hs256 = |c: &Value| sign(c, Algorithm::HS256, &secret());
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let credentials: Vec<(&str, Option<String>)> = vec![
        ("anonymous", None),
        ("expired", bearer(hs256(&with(claims.clone(), "exp", json!(now - 120))))),
        ("alg none", bearer(unsigned(&claims))),
        ("wrong key", bearer(sign(&claims, Algorithm::HS256, "not-the-key-0123456789abcdef0123"))),
        ("wrong iss", bearer(hs256(&with(claims.clone(), "iss", json!("evil"))))),
        ("wrong aud", bearer(hs256(&with(claims.clone(), "aud", json!("other-api"))))),
        ("string exp", bearer(hs256(&with(claims.clone(), "exp", json!((now + 300).to_string()))))),
    ];
    let mut checked = 0;
    for (method, path) in routes().into_iter().filter(|(_, path)| path != "/health") {
        for (case, authorization) in &credentials {
            let client = victim.tenant.with_header(authorization.clone());
            let reply = call(&client, &method, &victim.path(&path), victim.body(&method, &path).as_ref()).await;
            let case = format!("{case} on {method} {path}");
            assert_eq!((reply.status, reply.code()), (401, "UNAUTHORIZED"), "{case}: {}", reply.text);
            assert_eq!(reply.body["detail"], "Missing or invalid credentials.", "{case}");
            assert_eq!(reply.headers["content-type"], "application/problem+json", "{case}");
            checked += 1;
        }
    }
    assert_eq!(checked, 28 * credentials.len());
}

/// Each route that reads a body, called by someone allowed to, with a body that is not what it takes.
#[tokio::test]
async fn hostile_bodies_are_refused_on_every_route_that_reads_one() {
    let victim = Victim::new().await;
    let owner = victim.tenant.user("organizer", "org-a");
    let buyer = victim.tenant.user("customer", "cust-a");
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let hostile: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed", br#"{"name": "#.to_vec(), 400),
        ("not JSON", b"name=x&capacity=1".to_vec(), 400),
        ("an array", b"[]".to_vec(), 400),
        ("nested 20,000 deep", deep.into_bytes(), 400),
        ("invalid UTF-8", b"{\"name\": \"\xff\xfe\xfd\"}".to_vec(), 400),
        ("over 64 KiB", format!(r#"{{"name": "{}"}}"#, "x".repeat(70_000)).into_bytes(), 413),
    ];
    let mut checked = 0;
    for (method, path) in routes() {
        if victim.body(&method, &path).is_none() || path.ends_with("/publish") {
            continue; // no body, or (publish) a body it ignores
        }
        let client = if path.contains("{reservation_id}") { &buyer } else { &owner };
        for (case, body, status) in &hostile {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let reply = client.send_bytes(method.clone(), &victim.path(&path), Some(body.clone())).await;
            let case = format!("{case} on {method} {path}");
            let code = if *status == 413 { "PAYLOAD_TOO_LARGE" } else { "VALIDATION_ERROR" };
            assert_eq!((reply.status, reply.code()), (*status, code), "{case}: {}", reply.text);
            checked += 1;
        }
    }
    assert_eq!(checked, 11 * hostile.len());
}

#[tokio::test]
async fn huge_strings_are_refused_on_the_field() {
    let victim = Victim::new().await;
    let owner = victim.tenant.user("organizer", "org-a");
    let huge = "A".repeat(60_000);
    let venue = owner.post("/api/v1/venues", &json!({ "name": huge, "capacity": 10, "timezone": "UTC" })).await;
    venue.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(venue.error_fields(), ["name"]);
    let event =
        owner.post("/api/v1/events", &event_body(&victim.venue, "Big", 30, json!({ "description": huge }))).await;
    event.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(event.error_fields(), ["description"]);
    let cancel = owner.post(&victim.path("/api/v1/events/{event_id}/cancel"), &json!({ "reason": huge })).await;
    cancel.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(cancel.error_fields(), ["reason"]);
}

/// Script payloads are data: stored verbatim and returned inside JSON, never as a page.
#[tokio::test]
async fn script_payloads_are_stored_verbatim_and_only_ever_returned_as_json() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let script = "<script>alert(document.cookie)</script>";
    let tag = "\"><img src=x onerror=alert(1)>";
    let venue = organizer.post("/api/v1/venues", &json!({ "name": script, "capacity": 10, "timezone": "UTC" })).await;
    assert_eq!(venue.status, 201, "{}", venue.text);
    let extra = json!({ "description": tag, "tags": [script], "metadata": { script: tag } });
    let created = organizer.post("/api/v1/events", &event_body(&venue.body["venue"], script, 30, extra)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let read = organizer.get(&format!("/api/v1/events/{}", id(&created.body["event"]))).await;
    assert_eq!(read.headers["content-type"], "application/json");
    let event = &read.body["event"];
    assert_eq!((event["name"].as_str(), event["description"].as_str()), (Some(script), Some(tag)));
    assert_eq!((&event["tags"], &event["metadata"]), (&json!([script]), &json!({ script: tag })));
    // In the raw text the quote is escaped by JSON, so the payload cannot end a string early.
    assert!(read.text.contains(r#"\"><img src=x onerror=alert(1)>"#), "{}", read.text);
    // Reflected in an error, it stays inside a problem+json body.
    let reflected = organizer.get("/api/v1/events/<svg onload=alert(1)>").await;
    reflected.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(reflected.headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn image_urls_that_point_inside_the_network_are_refused() {
    let tenant = Tenant::new();
    let organizer = tenant.organizer();
    let venue = organizer.venue(10).await;
    let inside = [
        "http://example.com/poster.png",
        "https://localhost/poster.png",
        "https://127.0.0.1/poster.png",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://10.0.0.8/poster.png",
        "https://192.168.1.1/poster.png",
        "https://[::1]/poster.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ];
    for (n, url) in inside.into_iter().enumerate() {
        let body = event_body(&venue, &format!("Poster {n}"), 30, json!({ "image_url": url }));
        let reply = organizer.post("/api/v1/events", &body).await;
        reply.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(reply.error_fields(), ["image_url"], "{url}");
    }
    let fine = event_body(&venue, "Poster ok", 30, json!({ "image_url": "https://cdn.example.com/p.png" }));
    assert_eq!(organizer.post("/api/v1/events", &fine).await.status, 201);
}
