//! Every way a token can be wrong gives the same generic 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::harness::Tenant;
use local_runner::env_or_default;

pub fn secret() -> String {
    env_or_default("JWT_HS256_SECRET").unwrap()
}

pub fn valid_claims(tenant: &Tenant) -> Value {
    json!({
        "sub": "user-1",
        "tenant_id": tenant.id,
        "role": "admin",
        "iss": env_or_default("JWT_ISSUER").unwrap(),
        "aud": env_or_default("JWT_AUDIENCE").unwrap(),
        "exp": chrono::Utc::now().timestamp() + 300,
    })
}

pub fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret.as_bytes()).unwrap()).unwrap()
}

/// A token with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

pub fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

async fn assert_unauthorized(tenant: &Tenant, authorization: Option<String>, case: &str) {
    let reply = tenant.with_header(authorization).get("/api/v1/venues").await;
    assert_eq!(reply.status, 401, "{case}: {}", reply.text);
    assert_eq!(reply.code(), "UNAUTHORIZED", "{case}");
    assert_eq!(reply.body["detail"], "Missing or invalid credentials.", "{case}: the body must stay generic");
    assert_eq!(reply.headers.get("content-type").unwrap(), "application/problem+json");
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let tenant = Tenant::new();
    let token = sign(&valid_claims(&tenant), Algorithm::HS256, &secret());
    let reply = tenant.with_header(Some(format!("Bearer {token}"))).get("/api/v1/venues").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn every_kind_of_bad_token_is_a_generic_401() {
    let tenant = Tenant::new();
    let claims = valid_claims(&tenant);
    let now = chrono::Utc::now().timestamp();
    let hs256 = |c: &Value| sign(c, Algorithm::HS256, &secret());
    let unsigned = unsigned(&claims);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", hs256(&claims)))),
        ("garbage", Some("Bearer not.a.token".into())),
        ("expired beyond leeway", Some(format!("Bearer {}", hs256(&with(claims.clone(), "exp", json!(now - 120)))))),
        ("not yet valid", Some(format!("Bearer {}", hs256(&with(claims.clone(), "nbf", json!(now + 600)))))),
        ("wrong issuer", Some(format!("Bearer {}", hs256(&with(claims.clone(), "iss", json!("someone-else")))))),
        ("wrong audience", Some(format!("Bearer {}", hs256(&with(claims.clone(), "aud", json!("other-api")))))),
        ("missing issuer", Some(format!("Bearer {}", hs256(&without(claims.clone(), "iss"))))),
        ("missing audience", Some(format!("Bearer {}", hs256(&without(claims.clone(), "aud"))))),
        ("missing exp", Some(format!("Bearer {}", hs256(&without(claims.clone(), "exp"))))),
        ("string exp", Some(format!("Bearer {}", hs256(&with(claims.clone(), "exp", json!((now + 300).to_string())))))),
        ("missing tenant_id", Some(format!("Bearer {}", hs256(&without(claims.clone(), "tenant_id"))))),
        ("tenant_id not a uuid", Some(format!("Bearer {}", hs256(&with(claims.clone(), "tenant_id", json!("acme")))))),
        ("missing sub", Some(format!("Bearer {}", hs256(&without(claims.clone(), "sub"))))),
        ("unknown role", Some(format!("Bearer {}", hs256(&with(claims.clone(), "role", json!("root")))))),
        ("refresh token", Some(format!("Bearer {}", hs256(&with(claims.clone(), "type", json!("refresh")))))),
        ("wrong algorithm", Some(format!("Bearer {}", sign(&claims, Algorithm::HS384, &secret())))),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        (
            "bad signature",
            Some(format!("Bearer {}", sign(&claims, Algorithm::HS256, "another-secret-0123456789abcdef"))),
        ),
    ];
    for (case, authorization) in cases {
        assert_unauthorized(&tenant, authorization, case).await;
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let tenant = Tenant::new();
    let token = sign(&valid_claims(&tenant), Algorithm::HS256, &secret());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["tenant_id"] = json!(uuid::Uuid::now_v7());
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_unauthorized(&tenant, Some(format!("Bearer {}", parts.join("."))), "tampered").await;
}

#[tokio::test]
async fn health_needs_no_token() {
    let reply = Tenant::new().with_header(None).get("/health").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["checks"], json!({ "dynamodb": "ok", "sqs": "ok" }));
    assert_eq!(reply.body["status"], "ok");
}
