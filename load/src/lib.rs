//! `make load`: the load test the original service published with its claims, run against
//! `make dev` with goose.
//!
//! 1. **Browsing**: users ramp 100 → 500 → 1,000, hold, spike to 2,000 (goose's test plan);
//!    each loops over 30 % create an event, 35 % list events (`limit=20`), 30 % list then get
//!    the first one, 5 % `GET /health`, thinking 0.5–2.5 s between requests, across 10 tenants.
//!    Each user has an organizer token of its own (so the per-user rate limits apply to each
//!    as to a person).
//! 2. **On-sale race**: 600 buyers, all at once, for 300 tickets of one event: hold one ticket,
//!    pay at the fake provider, confirm. Then the oversell check: sold + held never above the
//!    tickets, every hold answered 201 or `SOLD_OUT`, every successful hold confirmed.
//!
//! It prints p50/p95/p99 per request and overall, the request rate and the errors, and checks
//! the original's thresholds (p95 < 1 s, p99 < 2 s, event creation p95 < 1.5 s, queries
//! p95 < 0.5 s); the exit status fails on any error, any oversell and, unless `--smoke`, a missed
//! threshold. `--smoke` runs seconds of it with small numbers (inside `make test`).

use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use goose::config::GooseConfiguration;
use goose::goose::GooseResponse;
use goose::metrics::GooseMetrics;
use goose::prelude::*;
use local_runner::token::DevClaims;
use serde_json::{Value, json};
use shared::domain::ids::TenantId;

/// What one run does; `--smoke` shrinks it to seconds.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api: String,
    pub payments: String,
    pub tenants: usize,
    /// goose's test plan for the browsing phase: `users,ramp;users,ramp;…`.
    pub plan: String,
    pub buyers: usize,
    /// How fast the buyers arrive (all within one second by default).
    pub buyers_per_second: usize,
    pub tickets: u32,
    pub enforce_thresholds: bool,
}

impl Settings {
    fn new(smoke: bool) -> Result<Self, String> {
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let number = |name: &str, default: &str| {
            env(name, default).parse::<usize>().map_err(|_| format!("{name} must be a whole number"))
        };
        let api = env("LOAD_API", "http://127.0.0.1:3000");
        let payments = env("LOAD_PAYMENTS", "http://127.0.0.1:3999");
        if smoke {
            return Ok(Self {
                api,
                payments,
                tenants: 2,
                plan: "10,2s;10,4s;0,1s".into(),
                buyers: 30,
                buyers_per_second: 30,
                tickets: 15,
                enforce_thresholds: false,
            });
        }
        Ok(Self {
            api,
            payments,
            tenants: 10,
            plan: env("LOAD_PLAN", "100,30s;500,30s;1000,30s;1000,2m;2000,20s;2000,30s;1000,10s;0,10s"),
            buyers: number("LOAD_BUYERS", "600")?,
            buyers_per_second: number("LOAD_BUYERS_PER_SECOND", "600")?,
            tickets: u32::try_from(number("LOAD_TICKETS", "300")?).map_err(|_| "LOAD_TICKETS is too large")?,
            enforce_thresholds: true,
        })
    }
}

/// The tenants' venues, set up before the users start (goose transactions are plain functions).
static VENUES: OnceLock<Vec<(TenantId, String)>> = OnceLock::new();
static PAYMENTS: OnceLock<String> = OnceLock::new();

/// The on-sale race's event and ticket type (the buyers' transaction reads it from here).
static SALE: OnceLock<Sale> = OnceLock::new();

#[derive(Debug)]
struct Sale {
    tenant: TenantId,
    event: String,
    ticket_type: String,
}

/// How the buyers fared.
static HELD: AtomicUsize = AtomicUsize::new(0);
static SOLD_OUT: AtomicUsize = AtomicUsize::new(0);
static CONFIRMED: AtomicUsize = AtomicUsize::new(0);
static UNEXPECTED: AtomicUsize = AtomicUsize::new(0);
/// The holds answered neither 201 nor `SOLD_OUT`, by status and problem code (0: no answer).
static REFUSALS: std::sync::Mutex<std::collections::BTreeMap<(u16, String), usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// One user's identity.
#[derive(Clone)]
struct Identity {
    token: String,
    venue: String,
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let smoke = args.iter().any(|a| a == "--smoke");
    let settings = match Settings::new(smoke) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("load: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match args.iter().position(|a| a == "--list") {
        Some(at) => {
            let number = |i: usize| args.get(at + i).and_then(|v| v.parse::<usize>().ok());
            match (number(1), number(2)) {
                (Some(users), Some(seconds)) => Box::pin(list_throughput(&settings, users, seconds)).await,
                _ => Err("usage: load --list <users> <seconds>".into()),
            }
        }
        None => Box::pin(drive(&settings)).await,
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn drive(settings: &Settings) -> Result<bool, String> {
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/health", settings.api)).send().await;
    if !health.is_ok_and(|r| r.status().is_success()) {
        return Err(format!("nothing healthy answers at {}: start `make dev` first", settings.api));
    }
    let mut venues = Vec::new();
    for _ in 0..settings.tenants {
        let tenant = TenantId::generate();
        venues.push((tenant, create_venue(&http, settings, tenant, 1_000_000).await?));
    }
    VENUES.set(venues).map_err(|_| "set up twice")?;
    PAYMENTS.set(settings.payments.clone()).map_err(|_| "set up twice")?;

    println!("== browsing: test plan {} across {} tenants", settings.plan, settings.tenants);
    let browsing = Box::pin(attack(settings, &["--test-plan", &settings.plan], browsing_scenario()?)).await?;
    let browsing_ok =
        report_browsing(&take_samples(), browsing.duration, browsing.maximum_users, settings.enforce_thresholds);

    println!(
        "\n== on-sale race: {} buyers for {} tickets, arriving at {}/s",
        settings.buyers, settings.tickets, settings.buyers_per_second
    );
    let sale = set_up_sale(&http, settings).await?;
    let buyers = settings.buyers.to_string();
    let arrivals = settings.buyers_per_second.to_string();
    let racing = ["--users", &buyers, "--increase-rate", &arrivals, "--iterations", "1"];
    Box::pin(attack(settings, &racing, buying_scenario())).await?;
    report_times(&take_samples());
    let sale_ok = check_sale(&http, settings, sale).await?;
    Ok(browsing_ok && sale_ok)
}

async fn attack(settings: &Settings, options: &[&str], scenario: Scenario) -> Result<GooseMetrics, String> {
    let mut argv = vec!["--host", &settings.api, "--quiet", "--no-print-metrics", "--no-telnet"];
    argv.extend_from_slice(options);
    let configuration = GooseConfiguration::parse_args_default(&argv).map_err(|e| format!("{e:?}"))?;
    let attack = GooseAttack::initialize_with_config(configuration).map_err(|e| format!("{e:?}"))?;
    // Boxed: goose's attack is a large future.
    Box::pin(attack.register_scenario(scenario).execute()).await.map_err(|e| format!("{e:?}"))
}

fn token(tenant: TenantId, role: &str, sub: &str) -> String {
    DevClaims::new(role, tenant, sub, 3 * 3600).sign()
}

async fn create_venue(
    http: &reqwest::Client,
    settings: &Settings,
    tenant: TenantId,
    capacity: u32,
) -> Result<String, String> {
    let body = json!({ "name": "Load Hall", "capacity": capacity, "timezone": "Europe/Berlin" });
    let created = send(http.post(format!("{}/api/v1/venues", settings.api)), tenant, "load-setup", Some(body)).await?;
    Ok(created["venue"]["id"].as_str().ok_or("a venue without an id")?.to_owned())
}

/// Sends a setup request as an organizer of `tenant`, expecting success.
async fn send(
    request: reqwest::RequestBuilder,
    tenant: TenantId,
    sub: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = request.bearer_auth(token(tenant, "organizer", sub));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.map_err(|e| e.to_string())?;
    let status = reply.status();
    let text = reply.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("setup request answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn event_body(venue: &str, days_ahead: i64) -> Value {
    let starts = Utc::now() + chrono::Duration::days(days_ahead);
    json!({
        "name": format!("Load {}", uuid::Uuid::now_v7()),
        "venue_id": venue,
        "starts_at": starts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "ends_at": (starts + chrono::Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "category": "music",
    })
}

// ---- list throughput ----

/// `--list <users> <seconds>`: `users` callers list one tenant's 20 events (`limit=20`) back to
/// back, no think time; the throughput and latency of the list alone.
async fn list_throughput(settings: &Settings, users: usize, seconds: usize) -> Result<bool, String> {
    let http = reqwest::Client::new();
    let tenant = TenantId::generate();
    let venue = create_venue(&http, settings, tenant, 1_000_000).await?;
    for day in 0..20 {
        let url = format!("{}/api/v1/events", settings.api);
        // One organizer per event: the writes of one would pass the per-user limit.
        let sub = format!("load-setup-{day}");
        let event = send(http.post(url), tenant, &sub, Some(event_body(&venue, 10 + day))).await?;
        let id = event["event"]["id"].as_str().ok_or("an event without an id")?;
        let body = json!({ "name": "Seat", "price": 2500, "quantity": 100 });
        send(http.post(format!("{}/api/v1/events/{id}/ticket-types", settings.api)), tenant, &sub, Some(body)).await?;
    }
    VENUES.set(vec![(tenant, venue)]).map_err(|_| "set up twice")?;
    println!("== {users} users listing 20 events for {seconds} s, no think time");
    let (users, run_time) = (users.to_string(), format!("{seconds}s"));
    let options = ["--users", &users, "--increase-rate", &users, "--run-time", &run_time];
    let scenario = scenario!("Listing")
        .register_transaction(transaction!(sign_in).set_on_start())
        .register_transaction(transaction!(list_events));
    let metrics = Box::pin(attack(settings, &options, scenario)).await?;
    let samples = take_samples();
    let all = figures(samples.iter());
    #[allow(clippy::cast_precision_loss)]
    let rate = all.count as f64 / metrics.duration.max(1) as f64;
    println!(
        "{} lists in {} s: {rate:.0}/s, {} errors; p50 {} ms, p95 {} ms, p99 {} ms",
        all.count, metrics.duration, all.errors, all.p50, all.p95, all.p99
    );
    Ok(all.errors == 0)
}

// ---- browsing ----

fn browsing_scenario() -> Result<Scenario, String> {
    let built =
        scenario!("Browsing").set_wait_time(Duration::from_millis(500), Duration::from_millis(2500)).and_then(|s| {
            Ok(s.register_transaction(transaction!(sign_in).set_on_start())
                .register_transaction(transaction!(create_event).set_weight(6)?)
                .register_transaction(transaction!(list_events).set_weight(7)?)
                .register_transaction(transaction!(list_then_get).set_weight(6)?)
                .register_transaction(transaction!(health).set_weight(1)?))
        });
    built.map_err(|e| e.to_string())
}

// goose's transactions are async functions.
#[allow(clippy::unused_async)]
async fn sign_in(user: &mut GooseUser) -> TransactionResult {
    let venues = VENUES.get().expect("set up before the users start");
    let (tenant, venue) = &venues[user.weighted_users_index % venues.len()];
    let sub = format!("load-user-{}", user.weighted_users_index);
    user.set_session_data(Identity { token: token(*tenant, "organizer", &sub), venue: venue.clone() });
    Ok(())
}

/// Sends one request as the user and notes its time; returns the answer and the note's index.
async fn call(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    body: Option<Value>,
    idempotency_key: bool,
) -> Result<(GooseResponse, usize), Box<TransactionError>> {
    let token = &user.get_session_data_unchecked::<Identity>().token;
    let mut builder = user.get_request_builder(&method, path)?.bearer_auth(token);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    if idempotency_key {
        builder = builder.header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    }
    let request = GooseRequest::builder().method(method).path(path).name(name).set_request_builder(builder).build();
    let response = user.request(request).await?;
    let noted = note(name, &response.request);
    Ok((response, noted))
}

/// Every request's time, by name, as the figures are computed from them.
static SAMPLES: std::sync::Mutex<Vec<Sample>> = std::sync::Mutex::new(Vec::new());

struct Sample {
    name: String,
    millis: u64,
    /// A 2xx answer (or a `SOLD_OUT` where that is the right answer).
    ok: bool,
}

/// Notes a request's time; returns its index among the notes.
fn note(name: &str, request: &goose::metrics::GooseRequestMetric) -> usize {
    let sample = Sample { name: name.to_owned(), millis: request.response_time, ok: request.success };
    let mut samples = SAMPLES.lock().expect("no panic while holding it");
    samples.push(sample);
    samples.len() - 1
}

fn take_samples() -> Vec<Sample> {
    std::mem::take(&mut *SAMPLES.lock().expect("no panic while holding it"))
}

async fn create_event(user: &mut GooseUser) -> TransactionResult {
    let days = 3 + i64::try_from(user.weighted_users_index % 300).unwrap_or(0);
    let body = event_body(&user.get_session_data_unchecked::<Identity>().venue, days);
    call(user, GooseMethod::Post, "/api/v1/events", "create event", Some(body), false).await?;
    Ok(())
}

async fn list_events(user: &mut GooseUser) -> TransactionResult {
    call(user, GooseMethod::Get, "/api/v1/events?limit=20", "list events", None, false).await?;
    Ok(())
}

async fn list_then_get(user: &mut GooseUser) -> TransactionResult {
    let (listed, _) = call(user, GooseMethod::Get, "/api/v1/events?limit=20", "list events", None, false).await?;
    let Ok(reply) = listed.response else { return Ok(()) };
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    if let Some(first) = body["events"][0]["id"].as_str() {
        call(user, GooseMethod::Get, &format!("/api/v1/events/{first}"), "get event", None, false).await?;
    }
    Ok(())
}

async fn health(user: &mut GooseUser) -> TransactionResult {
    let request = GooseRequest::builder().path("/health").name("health").build();
    let response = user.request(request).await?;
    note("health", &response.request);
    Ok(())
}

// ---- the on-sale race ----

async fn set_up_sale(http: &reqwest::Client, settings: &Settings) -> Result<&'static Sale, String> {
    let tenant = TenantId::generate();
    let venue = create_venue(http, settings, tenant, settings.tickets).await?;
    let event =
        send(http.post(format!("{}/api/v1/events", settings.api)), tenant, "load-setup", Some(event_body(&venue, 30)))
            .await?;
    let event = event["event"]["id"].as_str().ok_or("an event without an id")?.to_owned();
    let body = json!({ "name": "General admission", "price": 4500, "quantity": settings.tickets });
    let created = send(
        http.post(format!("{}/api/v1/events/{event}/ticket-types", settings.api)),
        tenant,
        "load-setup",
        Some(body),
    )
    .await?;
    let ticket_type = created["ticket_type"]["id"].as_str().ok_or("a ticket type without an id")?.to_owned();
    for status in ["PUBLISHED", "ON_SALE"] {
        let url = format!("{}/api/v1/events/{event}", settings.api);
        send(http.put(url), tenant, "load-setup", Some(json!({ "status": status }))).await?;
    }
    SALE.set(Sale { tenant, event, ticket_type }).map_err(|_| "set up twice")?;
    Ok(SALE.get().expect("just set"))
}

fn buying_scenario() -> Scenario {
    scenario!("Buying").register_transaction(transaction!(buy))
}

async fn buy(user: &mut GooseUser) -> TransactionResult {
    let Sale { tenant, event, ticket_type } = SALE.get().expect("set up before the buyers start");
    let sub = format!("buyer-{}", user.weighted_users_index);
    user.set_session_data(Identity { token: token(*tenant, "customer", &sub), venue: String::new() });
    let body = json!({ "items": [{ "ticket_type_id": ticket_type, "quantity": 1 }] });
    let path = format!("/api/v1/events/{event}/reservations");
    let (mut held, noted) = call(user, GooseMethod::Post, &path, "hold", Some(body), true).await?;
    let (status, reply) = match held.response {
        Ok(reply) => (reply.status().as_u16(), reply.json::<Value>().await.unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    };
    match status {
        201 => HELD.fetch_add(1, Ordering::Relaxed),
        409 if reply["code"] == "SOLD_OUT" => {
            // The answer a late buyer must get: a success of the test, not an error.
            user.set_success(&mut held.request)?;
            SAMPLES.lock().expect("no panic while holding it")[noted].ok = true;
            SOLD_OUT.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        other => {
            UNEXPECTED.fetch_add(1, Ordering::Relaxed);
            let code = reply["code"].as_str().unwrap_or("-").to_owned();
            *REFUSALS.lock().expect("no panic while holding it").entry((other, code)).or_default() += 1;
            return Ok(());
        }
    };
    let reservation = &reply["reservation"];
    let (Some(id), Some(total)) = (reservation["id"].as_str(), reservation["total"].as_u64()) else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let Ok(payment) = pay(total, id).await else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let (confirmed, _) = call(
        user,
        GooseMethod::Post,
        &format!("/api/v1/reservations/{id}/confirm"),
        "confirm",
        Some(json!({ "payment_reference": payment })),
        true,
    )
    .await?;
    if confirmed.response.is_ok_and(|r| r.status().as_u16() == 201) {
        CONFIRMED.fetch_add(1, Ordering::Relaxed);
    } else {
        UNEXPECTED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A payment intent at the fake provider for the hold's total (not a request to the API, so not
/// in the figures).
async fn pay(total: u64, reservation: &str) -> Result<String, String> {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    let payments = PAYMENTS.get().expect("set up");
    let form = [
        ("amount", total.to_string()),
        ("currency", "usd".to_owned()),
        ("metadata[reservation_id]", reservation.to_owned()),
    ];
    let reply = HTTP
        .get_or_init(reqwest::Client::new)
        .post(format!("{payments}/v1/payment_intents"))
        .bearer_auth("sk_test_load")
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let intent: Value = reply.json().await.map_err(|e| e.to_string())?;
    intent["id"].as_str().map(str::to_owned).ok_or_else(|| format!("no payment intent: {intent}"))
}

async fn check_sale(http: &reqwest::Client, settings: &Settings, sale: &Sale) -> Result<bool, String> {
    let url = format!("{}/api/v1/events/{}/capacity", settings.api, sale.event);
    let capacity = send(http.get(url), sale.tenant, "load-setup", None).await?;
    let count = |name: &str| capacity[name].as_u64().ok_or_else(|| format!("the capacity has no {name}: {capacity}"));
    let (sold, reserved, available) = (count("sold")?, count("reserved")?, count("available")?);
    let held = HELD.load(Ordering::Relaxed);
    let (sold_out, confirmed, unexpected) =
        (SOLD_OUT.load(Ordering::Relaxed), CONFIRMED.load(Ordering::Relaxed), UNEXPECTED.load(Ordering::Relaxed));
    println!(
        "holds 201: {held}, SOLD_OUT: {sold_out}, confirmed: {confirmed}, unexpected answers: {unexpected}; \
         stored: sold {sold}, reserved {reserved}, available {available} of {}",
        settings.tickets
    );
    let refusals = REFUSALS.lock().expect("no panic while holding it");
    if !refusals.is_empty() {
        println!("other answers to holds (status, code): {refusals:?}");
    }
    let tickets = u64::from(settings.tickets);
    let mut ok = true;
    let mut fail = |what: String| {
        println!("FAIL: {what}");
        ok = false;
    };
    if sold + reserved + available != tickets {
        fail(format!("sold + reserved + available = {} ≠ {tickets}", sold + reserved + available));
    }
    if sold + reserved > tickets || held > settings.tickets as usize {
        fail("oversold".into());
    }
    if held + sold_out != settings.buyers || unexpected > 0 {
        fail(format!("{unexpected} buyers got neither a hold nor SOLD_OUT, or a confirm failed"));
    }
    if confirmed != held || sold != confirmed as u64 {
        fail(format!("{held} holds, {confirmed} confirmed, {sold} sold: each hold should be sold once"));
    }
    if settings.buyers >= settings.tickets as usize && sold != tickets {
        fail(format!("{sold} sold of {tickets} with more buyers than tickets"));
    }
    if ok {
        println!("no oversell: every ticket sold once, every late buyer told SOLD_OUT");
    }
    Ok(ok)
}

// ---- figures ----

/// The time `p` (0–1) of `millis` finished within (nearest rank), in milliseconds.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Ranks of a few hundred thousand samples: far inside f64's exact integers.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Figures {
    count: usize,
    errors: usize,
    p50: u64,
    p95: u64,
    p99: u64,
}

fn figures<'a>(samples: impl Iterator<Item = &'a Sample>) -> Figures {
    let mut times = Vec::new();
    let mut errors = 0;
    for sample in samples {
        times.push(sample.millis);
        errors += usize::from(!sample.ok);
    }
    times.sort_unstable();
    Figures {
        count: times.len(),
        errors,
        p50: percentile(&times, 0.50),
        p95: percentile(&times, 0.95),
        p99: percentile(&times, 0.99),
    }
}

/// Prints each request's figures; returns them by name.
fn report_times(samples: &[Sample]) -> Vec<(String, Figures)> {
    let mut names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    println!("{:<14} {:>8} {:>7} {:>8} {:>8} {:>8}", "request", "count", "errors", "p50 ms", "p95 ms", "p99 ms");
    let mut all = Vec::new();
    for name in names {
        let f = figures(samples.iter().filter(|s| s.name == name));
        println!("{name:<14} {:>8} {:>7} {:>8} {:>8} {:>8}", f.count, f.errors, f.p50, f.p95, f.p99);
        all.push((name.to_owned(), f));
    }
    all
}

/// Prints the browsing phase's figures and checks the thresholds; returns whether it passed.
fn report_browsing(samples: &[Sample], seconds: usize, users: usize, enforce: bool) -> bool {
    let by_name = report_times(samples);
    let all = figures(samples.iter());
    #[allow(clippy::cast_precision_loss)]
    let rate = all.count as f64 / seconds.max(1) as f64;
    println!(
        "all            {:>8} {:>7} {:>8} {:>8} {:>8}   {rate:.0} requests/s over {seconds} s, at most {users} users",
        all.count, all.errors, all.p50, all.p95, all.p99
    );
    let mut ok = all.errors == 0;
    if !ok {
        println!("FAIL: {} requests failed", all.errors);
    }
    let mut check = |what: &str, value: u64, limit: u64| {
        let missed = value >= limit;
        println!("threshold {what} < {limit} ms: {value} ms {}", if missed { "MISSED" } else { "met" });
        ok &= !(missed && enforce);
    };
    check("p95", all.p95, 1000);
    check("p99", all.p99, 2000);
    for (name, f) in &by_name {
        match name.as_str() {
            "create event" => check("create event p95", f.p95, 1500),
            "list events" | "get event" => check(&format!("{name} p95"), f.p95, 500),
            _ => {}
        }
    }
    ok
}
