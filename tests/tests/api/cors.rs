//! Browsers on another origin: the shared stack's gateway plays the template's CORS
//! configuration (its default origin, `http://localhost:5173`), as API Gateway would.

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::harness::{Tenant, stack, template};

const SHOP: &str = "http://localhost:5173";

async fn call(method: Method, path: &str, headers: &[(&str, String)]) -> (u16, HeaderMap) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", stack().base_url));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the stack answers");
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers.keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
}

#[test]
fn the_template_allows_the_headers_the_api_needs_and_exposes_those_clients_read() {
    let cors = template().cors.expect("the HTTP API has a CORS configuration");
    assert_eq!(cors.allow_origins, [SHOP], "the template parameter's default");
    for needed in ["authorization", "content-type", "idempotency-key"] {
        assert!(cors.allow_headers.iter().any(|h| h.eq_ignore_ascii_case(needed)), "{needed}");
    }
    for read in ["x-request-id", "retry-after", "idempotent-replayed"] {
        assert!(cors.expose_headers.iter().any(|h| h.eq_ignore_ascii_case(read)), "{read}");
    }
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(cors.allow_methods.iter().any(|m| m == method), "{method}");
    }
}

#[tokio::test]
async fn an_allowed_origin_s_preflight_and_request_get_the_cors_headers() {
    let preflight = [
        ("origin", SHOP.to_owned()),
        ("access-control-request-method", "POST".to_owned()),
        ("access-control-request-headers", "authorization,content-type,idempotency-key".to_owned()),
    ];
    let (status, headers) = call(Method::OPTIONS, "/api/v1/events", &preflight).await;
    assert_eq!(status, 204, "{headers:?}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(SHOP));
    let allowed = header(&headers, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    for needed in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(needed), "{allowed}");
    }
    assert!(header(&headers, "access-control-allow-methods").unwrap_or_default().contains("POST"));

    let token = format!("Bearer {}", Tenant::new().token("customer", "browser-1"));
    let (status, headers) =
        call(Method::GET, "/api/v1/events", &[("origin", SHOP.to_owned()), ("authorization", token)]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(SHOP));
    let exposed = header(&headers, "access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
    for read in ["x-request-id", "retry-after", "idempotent-replayed"] {
        assert!(exposed.contains(read), "{exposed}");
    }
}

#[tokio::test]
async fn another_origin_gets_no_cors_headers() {
    let evil = "https://evil.example".to_owned();
    let preflight = [("origin", evil.clone()), ("access-control-request-method", "DELETE".to_owned())];
    let (_, headers) = call(Method::OPTIONS, "/api/v1/events", &preflight).await;
    assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{headers:?}");
    let token = format!("Bearer {}", Tenant::new().token("customer", "browser-2"));
    let (status, headers) = call(Method::GET, "/api/v1/events", &[("origin", evil), ("authorization", token)]).await;
    assert_eq!(status, 200);
    assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{headers:?}");
    // An origin that merely starts like an allowed one is another origin.
    let lookalike = format!("{SHOP}.evil.example");
    let (_, headers) = call(Method::GET, "/health", &[("origin", lookalike)]).await;
    assert_eq!(cors_headers(&headers), Vec::<String>::new(), "{headers:?}");
}
