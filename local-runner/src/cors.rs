//! API Gateway's CORS for HTTP APIs, played from the template's `CorsConfiguration`: API Gateway
//! answers preflights itself (no function runs, no route needed), adds the configured headers to
//! a function's answer when the request's `Origin` is allowed, adds none for any other origin,
//! and ignores CORS headers a function sets.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// The `CorsConfiguration` of the template's HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Exact origins (`scheme://host[:port]`); never `*`.
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
}

impl CorsPolicy {
    /// The same policy for other origins (the local runner's `CORS_ALLOWED_ORIGINS`, as a
    /// deployment sets the template parameter).
    pub fn with_origins(self, origins: impl IntoIterator<Item = String>) -> Self {
        Self { allow_origins: origins.into_iter().collect(), ..self }
    }

    /// Origins from a comma-separated list (blanks ignored).
    pub fn origins_from_list(list: &str) -> Vec<String> {
        list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
    }

    fn allowed_origin<'a>(&self, request: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = request.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.allow_origins.iter().any(|allowed| allowed == text).then_some(origin)
    }

    /// API Gateway's answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), or `None` when the request is not one. An origin that
    /// is not allowed gets the same empty 204 without any CORS header, so the browser refuses.
    pub fn preflight(&self, method: &Method, request: &HeaderMap) -> Option<(StatusCode, HeaderMap)> {
        let is_preflight = method == Method::OPTIONS
            && request.contains_key(header::ORIGIN)
            && request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if !is_preflight {
            return None;
        }
        let mut headers = HeaderMap::new();
        if let Some(origin) = self.allowed_origin(request) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            insert_list(&mut headers, header::ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods);
            insert_list(&mut headers, header::ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers);
            if let Some(age) = self.max_age {
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
            }
        }
        Some((StatusCode::NO_CONTENT, headers))
    }

    /// Puts API Gateway's CORS headers on a function's answer: the allowed origin and the exposed
    /// headers for an allowed `Origin`, nothing for another; the function's own are dropped.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            response.remove(name);
        }
        if let Some(origin) = self.allowed_origin(request) {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            insert_list(response, header::ACCESS_CONTROL_EXPOSE_HEADERS, &self.expose_headers);
        }
    }
}

fn insert_list(headers: &mut HeaderMap, name: header::HeaderName, values: &[String]) {
    if let Ok(value) = HeaderValue::from_str(&values.join(",")) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy {
            allow_origins: vec!["https://shop.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into(), "idempotency-key".into()],
            expose_headers: vec!["x-request-id".into(), "retry-after".into()],
            max_age: Some(600),
        }
    }

    fn request(origin: &str, preflight: bool) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        if preflight {
            headers.insert(header::ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_static("POST"));
        }
        headers
    }

    #[test]
    fn an_allowed_origin_s_preflight_is_answered_with_the_configuration() {
        let (status, headers) = policy().preflight(&Method::OPTIONS, &request("https://shop.example", true)).unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://shop.example");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization,content-type,idempotency-key");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
    }

    #[test]
    fn another_origin_gets_no_cors_header_at_all() {
        let (_, headers) = policy().preflight(&Method::OPTIONS, &request("https://evil.example", true)).unwrap();
        assert!(headers.is_empty(), "{headers:?}");
        let mut response = HeaderMap::new();
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        policy().decorate(&request("https://shop.example.evil", false), &mut response);
        assert!(response.is_empty(), "a function's own CORS headers are dropped too: {response:?}");
    }

    #[test]
    fn only_a_real_preflight_is_answered_by_the_gateway() {
        assert!(policy().preflight(&Method::OPTIONS, &request("https://shop.example", false)).is_none());
        assert!(policy().preflight(&Method::POST, &request("https://shop.example", true)).is_none());
        let mut response = HeaderMap::new();
        policy().decorate(&request("https://shop.example", false), &mut response);
        assert_eq!(response[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-request-id,retry-after");
    }

    #[test]
    fn origin_lists_are_comma_separated() {
        assert_eq!(
            CorsPolicy::origins_from_list(" https://a.example, ,http://localhost:5173 "),
            ["https://a.example", "http://localhost:5173"]
        );
    }
}
