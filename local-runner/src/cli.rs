//! Command line of the local runner.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use shared::domain::ids::TenantId;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::cors::CorsPolicy;
use crate::emulators::Installation;
use crate::server::Gateway;
use crate::template::Template;
use crate::token::DevClaims;
use crate::workers::{WorkerSettings, create_queues, poll_queue, run_schedule};
use crate::{create_tables, emulator_clients, function_deps, queue_variables};

const USAGE: &str = "usage: local-runner [serve]
       local-runner token [--role admin|organizer|customer] [--tenant UUID] [--sub USER] [--ttl SECONDS]
       local-runner cold-start --function NAME --binary PATH [--starts N] [--invocations N] [--expect-status CODE]

serve   starts DynamoDB Local and the SQS emulator, creates the template's tables, and serves
        every route of infra/template.yaml on http://127.0.0.1:$PORT (default 3000)
token   prints a local HS256 access token (default: organizer, tenant 00000000-0000-0000-0000-000000000001)
cold-start
        starts the function's bootstrap N times (default 100) against a local Runtime API, its
        sample event from events/ and emulators of its own, and prints process start → first
        response (p50, p99, max) and resident memory after N invocations (default 1) per start;
        it fails on an invocation error, a 5xx, or a status other than --expect-status";

pub async fn run(args: Vec<String>) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("token") => token(&args[1..]),
        Some("cold-start") => cold_start(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local-runner: {error}");
            ExitCode::FAILURE
        }
    }
}

fn token(args: &[String]) -> Result<(), Box<dyn Error>> {
    let mut role = "organizer".to_owned();
    let mut tenant = TenantId::from_uuid(Uuid::from_u128(1));
    let mut sub = "local-user".to_owned();
    let mut ttl: i64 = 12 * 3600;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().filter(|v| !v.is_empty()).ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--role" if ["admin", "organizer", "customer"].contains(&value.as_str()) => {
                role.clone_from(value);
            }
            "--role" => {
                return Err(format!("role must be admin, organizer or customer, not {value:?}").into());
            }
            "--tenant" => {
                tenant = Uuid::try_parse(value)
                    .map(TenantId::from_uuid)
                    .map_err(|_| format!("--tenant must be a UUID, not {value:?}"))?;
            }
            "--sub" => sub.clone_from(value),
            "--ttl" => {
                ttl = value.parse().map_err(|_| format!("--ttl must be whole seconds, not {value:?}"))?;
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}").into()),
        }
    }
    if crate::env_or_default("JWT_HS256_SECRET").is_none() {
        return Err("local tokens are HS256, which is off while JWT_JWKS_URL or JWT_PUBLIC_KEY is set".into());
    }
    println!("{}", DevClaims::new(&role, tenant, &sub, ttl).sign());
    Ok(())
}

async fn cold_start(args: &[String]) -> Result<(), Box<dyn Error>> {
    let mut options = crate::cold_start::Options {
        expect_status: None,
        function: String::new(),
        binary: PathBuf::new(),
        starts: 100,
        invocations: 1,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().filter(|v| !v.is_empty()).ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let count =
            || value.parse::<usize>().ok().filter(|n| *n > 0).ok_or(format!("{flag} must be a positive number"));
        match flag.as_str() {
            "--function" => options.function.clone_from(value),
            "--binary" => options.binary = PathBuf::from(value),
            "--starts" => options.starts = count()?,
            "--invocations" => options.invocations = count()?,
            "--expect-status" => {
                options.expect_status =
                    Some(value.parse().map_err(|_| format!("--expect-status must be an HTTP status, not {value:?}"))?);
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}").into()),
        }
    }
    if options.function.is_empty() || options.binary.as_os_str().is_empty() {
        return Err(format!("--function and --binary are required\n{USAGE}").into());
    }
    let report = crate::cold_start::run(&options, &std::env::current_dir()?).await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Memory figures stay far below 2^52 KiB, where f64 would round.
    #[allow(clippy::cast_precision_loss)]
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{}: {} starts; process start -> ready (first `next`) p50 {:.1} ms, p99 {:.1} ms; \
         -> first response p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         RSS after {} invocation(s) p50 {:.1} MiB, max {:.1} MiB; {} invocation errors; HTTP statuses {:?}; root certificates from {}; \
         {} metric records, {} of them a cold start",
        options.function,
        report.cold_starts.len(),
        ms(report.init(50)),
        ms(report.init(99)),
        ms(report.cold_start(50)),
        ms(report.cold_start(99)),
        ms(report.cold_start(100)),
        options.invocations,
        mib(report.rss(50)),
        mib(report.rss(100)),
        report.errors,
        report.statuses,
        if report.trust_store_bundle_only { "the bundle file only" } else { "the system's default locations" },
        report.metric_records,
        report.cold_start_records,
    );
    // A 5xx means a dependency was not reached, and a status other than the one expected means
    // another path was timed (a 401 never reads the database): either way not the request meant.
    let unexpected = |status: &u16| *status >= 500 || options.expect_status.is_some_and(|expected| expected != *status);
    if report.errors > 0 || report.statuses.keys().any(unexpected) {
        Err("the function answered with errors or an unexpected status".into())
    } else if report.cold_start_records != report.cold_starts.len() {
        // The bootstrap writes its metrics as Lambda would see them: one cold start per start.
        Err(format!("{} cold-start metric records for {} starts", report.cold_start_records, report.cold_starts.len())
            .into())
    } else {
        Ok(())
    }
}

async fn serve() -> Result<(), Box<dyn Error>> {
    shared::telemetry::init();
    let root = std::env::current_dir()?;
    let template = Template::load(&root.join("infra/template.yaml"))?;
    if !template.tables.iter().any(|t| t.logical_id == crate::MAIN_TABLE) {
        return Err(format!("the template has no {} table", crate::MAIN_TABLE).into());
    }
    // Take the API port first, so a busy port fails before anything is started.
    let port = env_port("PORT", 3000)?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (set PORT to use another port)"))?;
    let (dynamodb_port, sqs_port) = (env_port("DYNAMODB_PORT", 8000)?, env_port("SQS_PORT", 5000)?);
    let installation = Installation { project_root: root };
    let emulators = tokio::task::spawn_blocking(move || installation.start(dynamodb_port, sqs_port)).await??;
    let clients = emulator_clients(&emulators.dynamodb.endpoint(), &emulators.sqs.endpoint());

    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "events-local".to_owned());
    create_tables(&clients.dynamodb, &template, &table).await?;
    let queues = create_queues(&clients.sqs, &template, "local").await?;
    let secrets = crate::secrets::provision(&clients.secrets, &template, "local").await?;
    let payments_port = env_port("FAKE_PAYMENTS_PORT", 3999)?;
    let payments = TcpListener::bind(("127.0.0.1", payments_port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{payments_port} for the fake payment provider: {e}"))?;
    let payments_url = format!("http://127.0.0.1:{payments_port}");
    tokio::spawn(crate::fake_payments::serve(payments));
    let variables = queue_variables(&template, &queues);
    let payment_variables = crate::fake_payments::client_variables(&payments_url);
    let functions = function_deps(&template, &table, &variables, &payment_variables, &secrets, &clients)?;
    functions.prefetch_keys().await;
    let settings = WorkerSettings {
        schedule_every: Duration::from_secs(env_port("LOCAL_SCHEDULE_SECONDS", 10)?.into()),
        ..WorkerSettings::default()
    };
    for trigger in &template.queue_triggers {
        let queue = queues.get(&trigger.queue).ok_or("an SQS event names a queue the template lacks")?.clone();
        tokio::spawn(poll_queue(functions.of(&trigger.function), trigger.clone(), queue, settings));
    }
    for trigger in &template.schedules {
        tokio::spawn(run_schedule(functions.of(&trigger.function), trigger.clone(), settings));
    }
    // The template parameter's default, unless CORS_ALLOWED_ORIGINS says otherwise.
    let cors = match std::env::var("CORS_ALLOWED_ORIGINS") {
        Ok(list) => {
            let origins = CorsPolicy::origins_from_list(&list);
            if origins.iter().any(|o| o.contains('*')) {
                return Err("CORS_ALLOWED_ORIGINS lists exact origins, never *".into());
            }
            template.cors.clone().map(|c| c.with_origins(origins))
        }
        Err(_) => template.cors.clone(),
    };
    let gateway = Arc::new(Gateway::new(&template.routes, &functions)?.with_cors(cors));
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut server = tokio::spawn(Arc::clone(&gateway).serve(listener));

    wait_until_every_route_answers(&url, &template).await?;
    println!(
        "ready: {url} ({} routes, {} queue consumers, {} schedules every {} s; DynamoDB Local on {}, SQS on {}, table {table})",
        template.routes.len(),
        template.queue_triggers.len(),
        template.schedules.len(),
        settings.schedule_every.as_secs(),
        emulators.dynamodb.endpoint(),
        emulators.sqs.endpoint()
    );
    println!("  fake payment provider: {payments_url} (GET /_fake/refunds, POST /_fake/config)");
    println!("  a token:  make token ROLE=organizer    stop: Ctrl-C");

    tokio::select! {
        () = shutdown_signal() => println!("stopping"),
        result = &mut server => eprintln!("server stopped: {result:?}"),
    }
    drop(emulators);
    Ok(())
}

/// Every route answers once each gives a response other than the gateway's 404 (without a
/// token that is 401, and 200 for `/health`).
async fn wait_until_every_route_answers(base: &str, template: &Template) -> Result<(), Box<dyn Error>> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
    for route in &template.routes {
        let path = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { Uuid::nil().to_string() } else { s.to_owned() })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(route.method.as_bytes())?;
        let status = client.request(method, format!("{base}{path}")).send().await?.status();
        if status == reqwest::StatusCode::NOT_FOUND || status.is_server_error() {
            return Err(format!("{} {} answered {status} while starting", route.method, route.path).into());
        }
    }
    Ok(())
}

fn env_port(name: &str, default: u16) -> Result<u16, String> {
    std::env::var(name)
        .map_or(Ok(default), |raw| raw.parse().map_err(|_| format!("{name} must be a port number, not {raw:?}")))
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
