//! The HTTP API: one [`Endpoint`] per Lambda function, and the wrapper every request goes
//! through (request id, body limit, authentication, error mapping, headers, log span).
//!
//! Lambda (`functions/*/main.rs`, with its route's own type from [`routes`]) and the local
//! runner and the tests (with the [`Endpoint`] enum) all go through [`handle`] to handlers from
//! one table (`route_table!`), so what is tested locally is what runs in AWS.

pub mod availability;
pub mod cancellation;
pub mod events;
pub mod expiry;
pub mod fanout;
pub mod health;
pub mod idempotency;
pub mod refunds;
pub mod reservations;
pub mod ticket_types;
pub mod venues;

use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::{AuthError, Principal, TokenVerifier};
use crate::config::{Config, ConfigError};
use crate::cursor::CursorCodec;
use crate::domain::event::StartWindow;
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, body_bytes, problem_response};
use crate::secrets::Secrets;
use crate::store::{EventWriteError, Store, StoreError};

/// Everything a handler needs, built once per cold start.
pub struct Deps {
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub verifier: TokenVerifier,
    /// Present where the function's environment names a cursor key (the functions that list).
    pub cursors: Option<CursorCodec>,
    pub start_window: StartWindow,
    pub queues: crate::config::QueueUrls,
    pub payments: Option<crate::payments::PaymentClient>,
    /// A cancellation that has not moved for this long is restarted by the resumer.
    pub cancellation_stall: chrono::Duration,
    pub fanout_stop_after_steps: Option<u32>,
    /// `GET /health`'s cached checks.
    pub health: health::HealthCache,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("token verification cannot be set up: {0}")]
    Auth(#[from] AuthError),
    #[error("payment client cannot be set up: {0}")]
    Payments(String),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretError),
}

impl Deps {
    /// Builds the SDK clients from the standard AWS environment (region, credentials,
    /// `AWS_ENDPOINT_URL_*`), so the same code talks to AWS or to local emulators.
    /// Reads the function's secrets once, here, at cold start.
    pub async fn from_env_config(config: &Config) -> Result<Self, InitError> {
        let clients = crate::aws_clients::from_environment().await;
        let secrets = Secrets::load(&clients.secrets, &config.secrets).await?;
        let deps = Self::with_clients(config, &secrets, clients.dynamodb, clients.sqs)?;
        deps.verifier.prefetch().await;
        Ok(deps)
    }

    /// Builds from ready-made clients and secrets already read (the local runner points the
    /// clients at the emulators and reads the secrets from its Secrets Manager emulator).
    pub fn with_clients(
        config: &Config,
        secrets: &Secrets,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Result<Self, InitError> {
        let payments = match &config.payments {
            Some(provider) => {
                let secret_key = secrets
                    .payments_key
                    .clone()
                    .ok_or_else(|| InitError::Payments("the provider's key was not read".into()))?;
                let settings = crate::payments::PaymentSettings {
                    base_url: provider.base_url.clone(),
                    secret_key,
                    // docs/timeouts.md: why these numbers, and the function timeouts they fit in.
                    timeout: PROVIDER_ATTEMPT_TIMEOUT,
                    max_attempts: 4,
                    first_backoff: Duration::from_millis(200),
                };
                Some(crate::payments::PaymentClient::new(settings).map_err(|e| InitError::Payments(e.to_string()))?)
            }
            None => None,
        };
        Ok(Self {
            store: Store::new(dynamodb, &config.table_name),
            sqs,
            verifier: TokenVerifier::new(&config.jwt)?,
            cursors: secrets.cursor.clone().map(CursorCodec::new),
            start_window: StartWindow { min_lead: config.event_min_lead, max_ahead: config.event_max_ahead },
            queues: config.queues.clone(),
            payments,
            cancellation_stall: config.cancellation_stall,
            fanout_stop_after_steps: config.fanout_stop_after_steps,
            health: health::HealthCache::default(),
        })
    }
}

impl Deps {
    /// The cursor codec, or a 503 where the function was deployed without a cursor key (a
    /// template mistake, which the operation log's IAM check would also show).
    pub fn cursors(&self) -> Result<&CursorCodec, ApiError> {
        self.cursors.as_ref().ok_or_else(|| ApiError::Unavailable("no cursor key configured".into()))
    }
}

/// The longest one call to the payment provider may take (see docs/timeouts.md).
pub const PROVIDER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One Lambda function each. The names match the crates under `functions/` and the
/// template's `CodeUri`s; a test keeps the three in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    CreateVenue,
    ListVenues,
    GetVenue,
    UpdateVenue,
    CreateEvent,
    ListEvents,
    GetEvent,
    UpdateEvent,
    DeleteEvent,
    PublishEvent,
    CreateTicketType,
    ListTicketTypes,
    UpdateTicketType,
    GetCapacity,
    CreateReservation,
    GetReservation,
    ReleaseReservation,
    ConfirmReservation,
    GetOrder,
    ListEventOrders,
    ListCustomerOrders,
    CancelEvent,
    GetCancellation,
    RefundOrder,
}

impl Endpoint {
    pub const ALL: [Self; 25] = [
        Self::Health,
        Self::CreateVenue,
        Self::ListVenues,
        Self::GetVenue,
        Self::UpdateVenue,
        Self::CreateEvent,
        Self::ListEvents,
        Self::GetEvent,
        Self::UpdateEvent,
        Self::DeleteEvent,
        Self::PublishEvent,
        Self::CreateTicketType,
        Self::ListTicketTypes,
        Self::UpdateTicketType,
        Self::GetCapacity,
        Self::CreateReservation,
        Self::GetReservation,
        Self::ReleaseReservation,
        Self::ConfirmReservation,
        Self::GetOrder,
        Self::ListEventOrders,
        Self::ListCustomerOrders,
        Self::CancelEvent,
        Self::GetCancellation,
        Self::RefundOrder,
    ];

    /// The function's crate (and binary) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::CreateVenue => "create-venue",
            Self::ListVenues => "list-venues",
            Self::GetVenue => "get-venue",
            Self::UpdateVenue => "update-venue",
            Self::CreateEvent => "create-event",
            Self::ListEvents => "list-events",
            Self::GetEvent => "get-event",
            Self::UpdateEvent => "update-event",
            Self::DeleteEvent => "delete-event",
            Self::PublishEvent => "publish-event",
            Self::CreateTicketType => "create-ticket-type",
            Self::ListTicketTypes => "list-ticket-types",
            Self::UpdateTicketType => "update-ticket-type",
            Self::GetCapacity => "get-capacity",
            Self::CreateReservation => "create-reservation",
            Self::GetReservation => "get-reservation",
            Self::ReleaseReservation => "release-reservation",
            Self::ConfirmReservation => "confirm-reservation",
            Self::GetOrder => "get-order",
            Self::ListEventOrders => "list-event-orders",
            Self::ListCustomerOrders => "list-customer-orders",
            Self::CancelEvent => "cancel-event",
            Self::GetCancellation => "get-cancellation",
            Self::RefundOrder => "refund-order",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.function_name() == name)
    }

    /// Method and API Gateway route path.
    pub fn route(self) -> (Method, &'static str) {
        match self {
            Self::Health => (Method::GET, "/health"),
            Self::CreateVenue => (Method::POST, "/api/v1/venues"),
            Self::ListVenues => (Method::GET, "/api/v1/venues"),
            Self::GetVenue => (Method::GET, "/api/v1/venues/{venue_id}"),
            Self::UpdateVenue => (Method::PUT, "/api/v1/venues/{venue_id}"),
            Self::CreateEvent => (Method::POST, "/api/v1/events"),
            Self::ListEvents => (Method::GET, "/api/v1/events"),
            Self::GetEvent => (Method::GET, "/api/v1/events/{event_id}"),
            Self::UpdateEvent => (Method::PUT, "/api/v1/events/{event_id}"),
            Self::DeleteEvent => (Method::DELETE, "/api/v1/events/{event_id}"),
            Self::PublishEvent => (Method::POST, "/api/v1/events/{event_id}/publish"),
            Self::CreateTicketType => (Method::POST, "/api/v1/events/{event_id}/ticket-types"),
            Self::ListTicketTypes => (Method::GET, "/api/v1/events/{event_id}/ticket-types"),
            Self::UpdateTicketType => (Method::PUT, "/api/v1/events/{event_id}/ticket-types/{ticket_type_id}"),
            Self::GetCapacity => (Method::GET, "/api/v1/events/{event_id}/capacity"),
            Self::CreateReservation => (Method::POST, "/api/v1/events/{event_id}/reservations"),
            Self::GetReservation => (Method::GET, "/api/v1/reservations/{reservation_id}"),
            Self::ReleaseReservation => (Method::DELETE, "/api/v1/reservations/{reservation_id}"),
            Self::ConfirmReservation => (Method::POST, "/api/v1/reservations/{reservation_id}/confirm"),
            Self::GetOrder => (Method::GET, "/api/v1/orders/{order_id}"),
            Self::ListEventOrders => (Method::GET, "/api/v1/events/{event_id}/orders"),
            Self::ListCustomerOrders => (Method::GET, "/api/v1/customers/{customer_id}/orders"),
            Self::CancelEvent => (Method::POST, "/api/v1/events/{event_id}/cancel"),
            Self::GetCancellation => (Method::GET, "/api/v1/events/{event_id}/cancellation"),
            Self::RefundOrder => (Method::POST, "/api/v1/orders/{order_id}/refund"),
        }
    }

    /// Handles one request end to end; never fails, every outcome is a response. Dispatches by
    /// the enum, so it reaches every handler: for the local runner, which serves them all.
    pub async fn handle(self, deps: &Deps, req: Request) -> Response<Body> {
        handle(self, deps, req).await
    }

    /// The API contract requires a key where a retry must never act twice: holds, purchases,
    /// cancels, refunds.
    pub fn requires_idempotency_key(self) -> bool {
        matches!(self, Self::CreateReservation | Self::ConfirmReservation | Self::CancelEvent | Self::RefundOrder)
    }
}

/// One route's handler, as a value the wrapper can call: [`Endpoint`] (any route, chosen at run
/// time) or one of the [`routes`] types (one route, fixed at compile time, so a Lambda binary
/// that serves it links that handler and no other).
pub trait Handler: sealed::Sealed + Copy + Send + Sync + 'static {
    fn endpoint(self) -> Endpoint;
    fn call<'a>(
        self,
        caller: Caller<'a>,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response<Body>, ApiError>> + Send + 'a;
}

/// Only the route table's types and the enums are handlers: the wrapper trusts a handler's
/// `endpoint()` (it answers `/health` without authentication).
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Endpoint {}
    impl Sealed for super::Job {}
}

impl Handler for Endpoint {
    fn endpoint(self) -> Endpoint {
        self
    }

    fn call<'a>(
        self,
        caller: Caller<'a>,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response<Body>, ApiError>> + Send + 'a {
        self.route_to(caller, req)
    }
}

/// Handles one request end to end with `handler`; never fails, every outcome is a response.
pub async fn handle<H: Handler>(handler: H, deps: &Deps, req: Request) -> Response<Body> {
    let endpoint = handler.endpoint();
    let request_id = request_id(&req);
    let (method, path) = endpoint.route();
    let span = tracing::info_span!("request", %request_id, route = %format!("{method} {path}"), tenant = tracing::field::Empty);
    let mutation = req.method() != Method::GET && req.method() != Method::HEAD;
    // Boxed: the dispatch future holds the handler's state and can be large.
    let outcome = Box::pin(dispatch(handler, deps, req, &request_id)).instrument(span.clone()).await;
    let mut response = outcome.unwrap_or_else(|error| {
        span.in_scope(|| log_error(&error));
        problem_response(&error, &request_id)
    });
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "handled"));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    if mutation {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn dispatch<H: Handler>(
    handler: H,
    deps: &Deps,
    req: Request,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    let endpoint = handler.endpoint();
    if body_bytes(&req).len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if endpoint == Endpoint::Health {
        return Ok(health::check(deps).await);
    }
    let principal = authenticate(deps, &req).await?;
    tracing::Span::current().record("tenant", tracing::field::display(principal.tenant_id));
    let caller = Caller { deps, principal: &principal };
    if req.method() == Method::POST
        && let Some(key) = idempotency::key(&req, endpoint.requires_idempotency_key())?
    {
        let (method, path) = endpoint.route();
        let route = format!("{method} {path}");
        let work = Box::pin(handler.call(caller, &req));
        return Box::pin(idempotency::run_once(caller, &route, &key, &req, request_id, work)).await;
    }
    handler.call(caller, &req).await
}

/// `GET /health` as a handler; the wrapper answers it before authentication.
async fn health_route(caller: Caller<'_>, _req: &Request) -> Result<Response<Body>, ApiError> {
    Ok(health::check(caller.deps).await)
}

/// The one table of routes and their handlers: it gives [`Endpoint`] its dispatch and each
/// route its own type in [`routes`].
macro_rules! route_table {
    ($($route:ident => $handler:path),* $(,)?) => {
        /// One type per route, for the Lambda binaries (`shared::lambda::serve(routes::GetEvent)`).
        pub mod routes {
            $(
                #[derive(Debug, Clone, Copy)]
                pub struct $route;
            )*
        }

        $(
            impl sealed::Sealed for routes::$route {}

            impl Handler for routes::$route {
                fn endpoint(self) -> Endpoint {
                    Endpoint::$route
                }

                fn call<'a>(
                    self,
                    caller: Caller<'a>,
                    req: &'a Request,
                ) -> impl Future<Output = Result<Response<Body>, ApiError>> + Send + 'a {
                    $handler(caller, req)
                }
            }
        )*

        impl Endpoint {
            async fn route_to(self, caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
                match self {
                    $(Self::$route => $handler(caller, req).await,)*
                }
            }

            /// Handles the request as the route's own Lambda binary does, through its type in
            /// [`routes`] (for tests: the binaries' path, route by route).
            pub async fn handle_as_its_binary(self, deps: &Deps, req: Request) -> Response<Body> {
                match self {
                    $(Self::$route => Box::pin(handle(routes::$route, deps, req)).await,)*
                }
            }
        }
    };
}

route_table! {
    Health => health_route,
    CreateVenue => venues::create,
    ListVenues => venues::list,
    GetVenue => venues::get,
    UpdateVenue => venues::update,
    CreateEvent => events::create,
    ListEvents => events::list,
    GetEvent => events::get,
    UpdateEvent => events::update,
    DeleteEvent => events::delete,
    PublishEvent => events::publish,
    CreateTicketType => ticket_types::create,
    ListTicketTypes => ticket_types::list,
    UpdateTicketType => ticket_types::update,
    GetCapacity => ticket_types::capacity,
    CreateReservation => reservations::create,
    GetReservation => reservations::get,
    ReleaseReservation => reservations::release,
    ConfirmReservation => reservations::confirm,
    GetOrder => reservations::get_order,
    ListEventOrders => reservations::event_orders,
    ListCustomerOrders => reservations::customer_orders,
    CancelEvent => cancellation::cancel,
    GetCancellation => cancellation::get,
    RefundOrder => cancellation::refund_order,
}

/// The functions that are not behind the HTTP API: queue consumers and schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Consumes the expiry queue's delay messages (SQS).
    ExpireHolds,
    /// Ends holds past their expiry that are still held (EventBridge schedule).
    SweepHolds,
    /// Voids a cancelled event's holds and enqueues its orders' refunds (SQS).
    FanOutRefunds,
    /// Refunds one order per message and notifies its holder (SQS).
    ProcessRefunds,
    /// Restarts cancellations that stopped making progress (EventBridge schedule).
    ResumeCancellations,
}

impl Job {
    pub const ALL: [Self; 5] =
        [Self::ExpireHolds, Self::SweepHolds, Self::FanOutRefunds, Self::ProcessRefunds, Self::ResumeCancellations];

    pub fn function_name(self) -> &'static str {
        match self {
            Self::ExpireHolds => "expire-holds",
            Self::SweepHolds => "sweep-holds",
            Self::FanOutRefunds => "fan-out-refunds",
            Self::ProcessRefunds => "process-refunds",
            Self::ResumeCancellations => "resume-cancellations",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.function_name() == name)
    }
}

/// One job's handler as a value: [`Job`] (any, chosen at run time) or one of the [`jobs`] types
/// (one, fixed at compile time, so its Lambda binary links that job and no other).
pub trait JobHandler: sealed::Sealed + Copy + Send + Sync + 'static {
    fn job(self) -> Job;
    fn run(
        self,
        deps: &Deps,
        payload: serde_json::Value,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<serde_json::Value, ApiError>> + Send;
}

impl JobHandler for Job {
    fn job(self) -> Job {
        self
    }

    fn run(
        self,
        deps: &Deps,
        payload: serde_json::Value,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<serde_json::Value, ApiError>> + Send {
        self.handle(deps, payload, deadline)
    }
}

fn batch<T: serde::de::DeserializeOwned>(payload: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(payload).map_err(ApiError::internal)
}

fn answer(value: impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

async fn expire_holds(
    deps: &Deps,
    payload: serde_json::Value,
    _deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ApiError> {
    answer(expiry::handle_batch(deps, batch(payload)?).await)
}

async fn sweep_holds(
    deps: &Deps,
    _payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ApiError> {
    Ok(serde_json::json!({ "expired": expiry::sweep(deps, deadline).await? }))
}

async fn fan_out_refunds(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ApiError> {
    answer(fanout::handle_batch(deps, batch(payload)?, deadline).await)
}

async fn process_refunds(
    deps: &Deps,
    payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ApiError> {
    answer(refunds::handle_batch(deps, batch(payload)?, deadline).await)
}

async fn resume_cancellations(
    deps: &Deps,
    _payload: serde_json::Value,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ApiError> {
    let resumed = fanout::resume_stalled(deps, deadline).await.map_err(ApiError::internal)?;
    Ok(serde_json::json!({ "resumed": resumed }))
}

/// One type per job, for the Lambda binaries (`shared::lambda::serve_job(jobs::SweepHolds)`).
pub mod jobs {
    macro_rules! job_types {
        ($($job:ident => $run:ident),* $(,)?) => {
            $(
                #[derive(Debug, Clone, Copy)]
                pub struct $job;

                impl super::sealed::Sealed for $job {}

                impl super::JobHandler for $job {
                    fn job(self) -> super::Job {
                        super::Job::$job
                    }

                    fn run(
                        self,
                        deps: &super::Deps,
                        payload: serde_json::Value,
                        deadline: tokio::time::Instant,
                    ) -> impl Future<Output = Result<serde_json::Value, super::ApiError>> + Send {
                        super::$run(deps, payload, deadline)
                    }
                }
            )*

            impl super::Job {
                /// Runs the job on its trigger's payload (an SQS event, or a scheduled event) and
                /// returns the Lambda response: the batch's failed message ids, or the schedule's
                /// count. `deadline` is when the invocation is cut off (the Lambda context's); work
                /// that cannot finish by then is not started. The local runner's way in; a
                /// binary calls its own type's `run`, which this reaches too.
                pub async fn handle(
                    self,
                    deps: &super::Deps,
                    payload: serde_json::Value,
                    deadline: tokio::time::Instant,
                ) -> Result<serde_json::Value, super::ApiError> {
                    use super::JobHandler;
                    match self {
                        $(super::Job::$job => $job.run(deps, payload, deadline).await,)*
                    }
                }
            }
        };
    }

    job_types! {
        ExpireHolds => expire_holds,
        SweepHolds => sweep_holds,
        FanOutRefunds => fan_out_refunds,
        ProcessRefunds => process_refunds,
        ResumeCancellations => resume_cancellations,
    }
}

/// An authenticated request's context.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub deps: &'a Deps,
    pub principal: &'a Principal,
}

impl Caller<'_> {
    pub fn tenant(&self) -> Uuid {
        self.principal.tenant_id
    }

    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.principal.is_staff() { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

async fn authenticate(deps: &Deps, req: &Request) -> Result<Principal, ApiError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    deps.verifier.verify_header(header).await.map_err(|error| match error {
        AuthError::KeysUnavailable(reason) => ApiError::Unavailable(reason.into()),
        rejected => {
            tracing::info!(reason = %rejected, "authentication failed");
            ApiError::Unauthorized
        }
    })
}

/// API Gateway's request id, so logs, responses and AWS's own records agree.
fn request_id(req: &Request) -> String {
    let from_gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    from_gateway.filter(|id| !id.is_empty()).unwrap_or_else(|| Uuid::now_v7().to_string())
}

fn log_error(error: &ApiError) {
    match error {
        ApiError::Internal(source) => tracing::error!(error = %source, "request failed"),
        ApiError::Unavailable(source) => tracing::warn!(error = %source, "dependency unavailable"),
        other if other.status() == StatusCode::UNAUTHORIZED => {}
        other => tracing::info!(code = other.code(), "request refused"),
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable(error.into()),
            StoreError::Failed(_) | StoreError::Corrupt(_) => Self::Internal(error.into()),
        }
    }
}

impl From<EventWriteError> for ApiError {
    fn from(error: EventWriteError) -> Self {
        match error {
            EventWriteError::DuplicateName => Self::conflict(
                "DUPLICATE_EVENT",
                "an event with this name is already scheduled at this venue on this day",
            ),
            EventWriteError::VersionChanged => {
                Self::conflict("VERSION_CONFLICT", "the event was changed by someone else; reload it and retry")
            }
            EventWriteError::HasSales => Self::conflict(
                "EVENT_HAS_SALES",
                "tickets were held or sold meanwhile; this change is no longer allowed",
            ),
            EventWriteError::Store(store) => store.into(),
        }
    }
}
