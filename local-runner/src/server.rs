//! Plays API Gateway locally: matches a request to a template route, builds the same HTTP API
//! (payload v2.0) event API Gateway would send, and hands it to the function's handler.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use base64::Engine;
use chrono::Utc;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use shared::api::Endpoint;
use shared::deps::Deps;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::cors::CorsPolicy;
use crate::template::Route;

/// API Gateway's own payload limit; our handlers enforce the API's 64 KiB themselves.
const GATEWAY_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub struct Gateway {
    routes: Vec<(Route, Endpoint, Arc<Deps>)>,
    cors: Option<CorsPolicy>,
}

#[derive(Debug, thiserror::Error)]
#[error("template route {method} {path} names function {function}, which has no handler")]
pub struct UnknownFunction {
    method: String,
    path: String,
    function: String,
}

impl Gateway {
    /// Serves each route with its function's own dependencies.
    pub fn new(routes: &[Route], deps: &crate::FunctionDeps) -> Result<Self, UnknownFunction> {
        let routes = routes
            .iter()
            .map(|route| {
                let function = deps.of(&route.function);
                Endpoint::from_function_name(&route.function).map(|e| (route.clone(), e, function)).ok_or_else(|| {
                    UnknownFunction {
                        method: route.method.clone(),
                        path: route.path.clone(),
                        function: route.function.clone(),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { routes, cors: None })
    }

    /// Answers preflights and adds CORS headers as API Gateway does with this configuration.
    pub fn with_cors(self, cors: Option<CorsPolicy>) -> Self {
        Self { cors, ..self }
    }

    /// Serves until the listener fails or the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new().fallback(dispatch).with_state(self);
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    }

    fn find(&self, method: &Method, path: &str) -> Option<(&Route, Endpoint, &Deps, BTreeMap<String, String>)> {
        self.routes.iter().find_map(|(route, endpoint, deps)| {
            if route.method != method.as_str() {
                return None;
            }
            match_path(&route.path, path).map(|params| (route, *endpoint, deps.as_ref(), params))
        })
    }
}

async fn dispatch(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    // API Gateway answers a preflight itself, before any route is matched.
    if let Some((status, cors_headers)) = gateway.cors.as_ref().and_then(|cors| cors.preflight(&method, &headers)) {
        return (status, cors_headers).into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, GATEWAY_BODY_LIMIT).await else {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let Some((route, endpoint, deps, params)) = gateway.find(&method, uri.path()) else {
        return gateway_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let event = gateway_event(route, &method, &uri, &headers, &body, &params, peer);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(error) => {
            tracing::error!(%error, "could not build a Lambda request");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // Lambda cuts a function off at its timeout; API Gateway then answers 500 for it.
    let Ok(response) = tokio::time::timeout(
        route.timeout,
        crate::operation_log::as_function(endpoint.function_name(), endpoint.handle(deps, request)),
    )
    .await
    else {
        tracing::error!(route = %format!("{} {}", route.method, route.path), timeout = ?route.timeout, "the function timed out");
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let (mut parts, body) = response.into_parts();
    if let Some(cors) = &gateway.cors {
        cors.decorate(&headers, &mut parts.headers);
    }
    (parts.status, parts.headers, body.to_vec()).into_response()
}

/// API Gateway's own answers, for requests that never reach a function.
fn gateway_error(status: StatusCode, message: &str) -> axum::response::Response {
    let body = json!({ "message": message }).to_string();
    (status, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Matches `/api/v1/events/{event_id}` against a concrete path, capturing the parameters.
fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut actual = path.trim_end_matches('/').split('/');
    for expected in template.trim_end_matches('/').split('/') {
        let segment = actual.next()?;
        if let Some(name) = expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            let decoded = percent_decode(segment);
            params.insert(name.to_owned(), decoded);
        } else if expected != segment {
            return None;
        }
    }
    actual.next().is_none().then_some(params)
}

fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// The HTTP API payload format 2.0, as API Gateway builds it.
fn gateway_event(
    route: &Route,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    params: &BTreeMap<String, String>,
    peer: SocketAddr,
) -> Value {
    let route_key = format!("{} {}", route.method, route.path);
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        header_map.entry(name.as_str().to_owned()).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    // API Gateway joins repeated query parameters with commas.
    let raw_query = uri.query().unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(name.into_owned())
            .and_modify(|v| *v = format!("{v},{value}"))
            .or_insert_with(|| value.into_owned());
    }
    let (body, is_base64) = if body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(text) => (Value::String(text.to_owned()), false),
            Err(_) => (Value::String(base64::engine::general_purpose::STANDARD.encode(body)), true),
        }
    };
    let now = Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or_default(),
            },
            "requestId": Uuid::now_v7().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_segment_by_segment() {
        let params = match_path("/api/v1/events/{event_id}", "/api/v1/events/abc").unwrap();
        assert_eq!(params["event_id"], "abc");
        assert!(match_path("/api/v1/events/{event_id}", "/api/v1/events").is_none());
        assert!(match_path("/api/v1/events/{event_id}", "/api/v1/events/abc/publish").is_none());
        assert!(match_path("/api/v1/events", "/api/v1/venues").is_none());
        assert_eq!(match_path("/api/v1/venues/{venue_id}", "/api/v1/venues/a%20b").unwrap()["venue_id"], "a b");
    }
}
