//! Development tokens for the local runner (`make token`), signed with the local HS256 secret.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;
use shared::domain::ids::TenantId;

use crate::env_or_default;

#[derive(Debug, Serialize)]
pub struct DevClaims {
    pub sub: String,
    pub tenant_id: TenantId,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(rename = "type")]
    pub token_type: &'static str,
}

impl DevClaims {
    /// Claims for the local issuer and audience, valid for `ttl_seconds`.
    pub fn new(role: &str, tenant_id: TenantId, sub: &str, ttl_seconds: i64) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            sub: sub.to_owned(),
            tenant_id,
            role: role.to_owned(),
            iss: env_or_default("JWT_ISSUER").unwrap_or_default(),
            aud: env_or_default("JWT_AUDIENCE").unwrap_or_default(),
            iat: now,
            exp: now + ttl_seconds,
            token_type: "access",
        }
    }

    pub fn sign(&self) -> String {
        let secret = env_or_default("JWT_HS256_SECRET").unwrap_or_default();
        encode(
            &Header::new(Algorithm::HS256),
            self,
            &EncodingKey::from_secret(secret.as_bytes()).expect("a non-empty secret"),
        )
        .expect("HS256 signing does not fail")
    }
}
