//! The HTTP API: one [`Endpoint`] per Lambda function, and the wrapper every request goes
//! through (request id, body limit, authentication, error mapping, headers, log span).
//!
//! Lambda (`functions/*/main.rs`, with its route's own type from [`routes`]) and the local
//! runner and the tests (with the [`Endpoint`] enum) all go through [`handle`] to handlers from
//! one table (`route_table!`), so what is tested locally is what runs in AWS.

pub mod analytics;
pub mod cancellation;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod pricing;
pub mod reservations;
pub mod ticket_types;
pub mod venues;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::{AuthError, Principal};
use crate::cursor::{CursorCodec, PageKey};
use crate::deps::{ColdStart, Deps, Needs};
use crate::domain::ids::TenantId;
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, Query, body_bytes, problem_response};
use crate::ratelimit::Admission;
use crate::store::{EventWriteError, StoreError};

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
    PriceQuote,
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
    VenueAnalytics,
    CustomerAnalytics,
    SalesReport,
}

impl Endpoint {
    pub const ALL: [Self; 29] = [
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
        Self::PriceQuote,
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
        Self::VenueAnalytics,
        Self::CustomerAnalytics,
        Self::SalesReport,
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
            Self::PriceQuote => "price-quote",
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
            Self::VenueAnalytics => "venue-analytics",
            Self::CustomerAnalytics => "customer-analytics",
            Self::SalesReport => "sales-report",
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
            Self::PriceQuote => (Method::POST, "/api/v1/events/{event_id}/price-quote"),
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
            Self::VenueAnalytics => (Method::GET, "/api/v1/analytics/venues/{venue_id}"),
            Self::CustomerAnalytics => (Method::GET, "/api/v1/analytics/customers/{customer_id}"),
            Self::SalesReport => (Method::GET, "/api/v1/analytics/reports/sales"),
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
pub trait Handler: sealed::Sealed + ColdStart + Copy + Send + Sync + 'static {
    fn endpoint(self) -> Endpoint;
    fn call<'a>(
        self,
        caller: Caller<'a>,
        req: &'a Request,
    ) -> impl Future<Output = Result<Response<Body>, ApiError>> + Send + 'a;
}

/// Only the route table's types and the enum are handlers: the wrapper trusts a handler's
/// `endpoint()` (it answers `/health` without authentication).
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Endpoint {}
}

/// Any route: whatever the configuration gives (the local runner serves them all).
impl ColdStart for Endpoint {
    const NEEDS: Needs = Needs::EVERYTHING;
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
    let started = std::time::Instant::now();
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
    crate::monitoring::answered(endpoint.function_name(), response.status().as_u16(), started.elapsed());
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
    if let Some(limiter) = &deps.limiter {
        let class = crate::ratelimit::Class::of(req.method());
        let now = crate::domain::now();
        if let Admission::Limited { retry_after_seconds } =
            limiter.admit(principal.tenant_id, &principal.user_id, class, now).await
        {
            crate::monitoring::count(crate::monitoring::Metric::RateLimited, 1);
            return Err(ApiError::RateLimited { retry_after_seconds });
        }
    }
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

/// What a route's function builds at cold start: the token verifier, and for some a secret or a
/// queue client.
const ANSWERS: Needs = Needs { tokens: true, ..Needs::NOTHING };
/// `/health` answers before authentication, and checks SQS with a queue client.
const PUBLIC: Needs = Needs { queues: true, ..Needs::NOTHING };
const LISTS: Needs = Needs { cursor_key: true, ..ANSWERS };
const PAYS: Needs = Needs { payments: true, ..ANSWERS };
const SENDS: Needs = Needs { queues: true, ..ANSWERS };

/// The one table of routes, their handlers and what their functions build at cold start: it
/// gives [`Endpoint`] its dispatch and each route its own type in [`routes`].
macro_rules! route_table {
    ($($route:ident => $handler:path [$needs:ident]),* $(,)?) => {
        /// One type per route, for the Lambda binaries (`shared::lambda::serve(routes::GetEvent)`).
        pub mod routes {
            $(
                #[derive(Debug, Clone, Copy)]
                pub struct $route;
            )*
        }

        $(
            impl sealed::Sealed for routes::$route {}

            impl ColdStart for routes::$route {
                const NEEDS: Needs = $needs;
            }

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
            /// What the route's own function builds at cold start.
            pub fn needs(self) -> Needs {
                match self {
                    $(Self::$route => $needs,)*
                }
            }

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
    Health => health_route [PUBLIC],
    CreateVenue => venues::create [ANSWERS],
    ListVenues => venues::list [LISTS],
    GetVenue => venues::get [ANSWERS],
    UpdateVenue => venues::update [ANSWERS],
    CreateEvent => events::create [ANSWERS],
    ListEvents => events::list [LISTS],
    GetEvent => events::get [ANSWERS],
    UpdateEvent => events::update [ANSWERS],
    DeleteEvent => events::delete [ANSWERS],
    PublishEvent => events::publish [ANSWERS],
    CreateTicketType => ticket_types::create [ANSWERS],
    ListTicketTypes => ticket_types::list [ANSWERS],
    UpdateTicketType => ticket_types::update [ANSWERS],
    GetCapacity => ticket_types::capacity [ANSWERS],
    PriceQuote => pricing::quote [ANSWERS],
    CreateReservation => reservations::create [SENDS],
    GetReservation => reservations::get [ANSWERS],
    ReleaseReservation => reservations::release [ANSWERS],
    ConfirmReservation => reservations::confirm [PAYS],
    GetOrder => reservations::get_order [ANSWERS],
    ListEventOrders => reservations::event_orders [LISTS],
    ListCustomerOrders => reservations::customer_orders [LISTS],
    CancelEvent => cancellation::cancel [SENDS],
    GetCancellation => cancellation::get [ANSWERS],
    RefundOrder => cancellation::refund_order [SENDS],
    VenueAnalytics => analytics::venue [ANSWERS],
    CustomerAnalytics => analytics::customer [ANSWERS],
    SalesReport => analytics::sales_report [LISTS],
}

/// An authenticated request's context.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub deps: &'a Deps,
    pub principal: &'a Principal,
}

impl<'a> Caller<'a> {
    pub fn tenant(&self) -> TenantId {
        self.principal.tenant_id
    }

    /// Where a list of `scope` resumes: the key in the query's `cursor`, if any, verified.
    pub fn resume_from(&self, scope: &str, query: &Query) -> Result<Option<PageKey>, ApiError> {
        let Some(cursor) = query.get("cursor") else { return Ok(None) };
        Ok(Some(self.cursors()?.decode(scope, cursor).map_err(|e| ApiError::BadRequest(vec![e]))?))
    }

    /// The cursor that resumes a list of `scope` at `next`, where there is more.
    pub fn next_cursor(&self, scope: &str, next: Option<&PageKey>) -> Result<Option<String>, ApiError> {
        next.map(|key| Ok(self.cursors()?.encode(scope, key))).transpose()
    }

    /// The cursor codec, or a 503 where the function was deployed without a cursor key (a
    /// template mistake, which the operation log's IAM check would also show).
    fn cursors(&self) -> Result<&'a CursorCodec, ApiError> {
        self.deps.cursors.as_ref().ok_or_else(|| ApiError::Unavailable("no cursor key configured".into()))
    }

    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.principal.is_staff() { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

async fn authenticate(deps: &Deps, req: &Request) -> Result<Principal, ApiError> {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    // Unreachable on Lambda: a route that needs tokens does not start without a verifier
    // (`Deps::from_environment`), and a test holds every route but `/health` to needing them.
    let verifier =
        deps.verifier.as_ref().ok_or_else(|| ApiError::Unavailable("no token verifier configured".into()))?;
    verifier.verify_header(header).await.map_err(|error| match error {
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
