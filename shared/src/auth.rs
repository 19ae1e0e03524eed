//! Bearer-token verification and the caller's identity.
//!
//! Accepted algorithms are an allow-list tied to the configured keys: HS256 only when a shared
//! secret of at least 32 bytes is the only key configured (local use), RS256/ES256 for PEM keys or
//! a JWKS. A JWKS is fetched at init, refreshed when older than [`JWKS_MAX_AGE`] or when a token
//! names an unknown `kid`, and only its signature keys (`use` absent or `sig`) are used. Every
//! failure is the same 401 to the client; the reason only goes to the logs.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::config::JwtConfig;
use crate::domain::ids::TenantId;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;
/// A JWKS is fetched again (for an unknown `kid`, or after a failed fetch) at most this often.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again before use, so a key removed from the set (rotated
/// away or revoked) stops verifying tokens within this time.
pub const JWKS_MAX_AGE: Duration = Duration::from_mins(10);
/// While the key set cannot be fetched, keys are still used up to this age; past it, requests
/// answer 503 rather than trust keys that may have been revoked long ago.
const JWKS_STALE_LIMIT: Duration = Duration::from_hours(1);
/// HS256 secrets shorter than this are refused at init (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
const JWKS_TIMEOUT: Duration = Duration::from_secs(3);

pub use crate::domain::principal::{Principal, Role};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed Authorization header")]
    MissingBearer,
    #[error("token rejected: {0}")]
    Rejected(String),
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    #[error("JWT configuration refused: {0}")]
    Misconfigured(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    tenant_id: TenantId,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
}

struct VerificationKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

struct Jwks {
    url: String,
    http: reqwest::Client,
    cache: RwLock<JwksCache>,
    /// Held while fetching, so one fetch runs at a time and the cache is never locked during one.
    fetching: tokio::sync::Mutex<()>,
}

/// Whether a request that wants fresher keys waits for a fetch already running elsewhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// It has no key for its token: it waits.
    ForKeys,
    /// Its keys are only old: it goes on with them while another request fetches.
    No,
}

#[derive(Default)]
struct JwksCache {
    keys: Vec<VerificationKey>,
    /// When `keys` were fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not (throttles fetches).
    attempted_at: Option<Instant>,
}

impl JwksCache {
    fn is_stale(&self) -> bool {
        self.fetched_at.is_none_or(|at| at.elapsed() >= JWKS_MAX_AGE)
    }
}

pub struct TokenVerifier {
    issuer: String,
    audience: String,
    static_keys: Vec<VerificationKey>,
    jwks: Option<Jwks>,
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig) -> Result<Self, AuthError> {
        let mut static_keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            if config.public_key_pem.is_some() || config.jwks_url.is_some() {
                // A shared secret beside public keys invites algorithm confusion and is never
                // what a deployment means.
                return Err(AuthError::Misconfigured(
                    "JWT_HS256_SECRET may only be set when neither JWT_JWKS_URL nor JWT_PUBLIC_KEY is".into(),
                ));
            }
            if secret.len() < MIN_HS256_SECRET_BYTES {
                return Err(AuthError::Misconfigured(format!(
                    "JWT_HS256_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes"
                )));
            }
            static_keys.push(VerificationKey {
                kid: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|e| AuthError::Misconfigured(e.to_string()))?,
            });
        }
        if let Some(pem) = &config.public_key_pem {
            static_keys.push(key_from_pem(pem.as_bytes())?);
        }
        let jwks = match &config.jwks_url {
            Some(url) => Some(Jwks {
                url: url.clone(),
                http: reqwest::Client::builder()
                    .timeout(JWKS_TIMEOUT)
                    .build()
                    .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?,
                cache: RwLock::new(JwksCache::default()),
                fetching: tokio::sync::Mutex::new(()),
            }),
            None => None,
        };
        Ok(Self { issuer: config.issuer.clone(), audience: config.audience.clone(), static_keys, jwks })
    }

    /// Fetches the JWKS, if one is configured, so the first request does not wait for it. A
    /// failure is logged and left to the first request to retry.
    pub async fn prefetch(&self) {
        if let Some(jwks) = &self.jwks
            && let Err(error) = jwks.refresh(Wait::ForKeys).await
        {
            tracing::warn!(%error, "JWKS not fetched at init; the first request will retry");
        }
    }

    /// Verifies the `Authorization` header's bearer token and returns who is calling.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .map(|(_, token)| token.trim())
            .ok_or(AuthError::MissingBearer)?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Rejected(format!("header: {e}")))?;
        if !matches!(header.alg, Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Rejected(format!("algorithm {:?} not allowed", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        let claims = self.decode_with_matching_key(token, header.alg, header.kid.as_deref(), &validation).await?;
        if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
            return Err(AuthError::Rejected("sub is empty or too long".into()));
        }
        if claims.token_type.as_deref().is_some_and(|t| t != "access") {
            return Err(AuthError::Rejected("token type is not access".into()));
        }
        Ok(Principal { user_id: claims.sub, tenant_id: claims.tenant_id, role: claims.role.unwrap_or(Role::Customer) })
    }

    async fn decode_with_matching_key(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        validation: &Validation,
    ) -> Result<Claims, AuthError> {
        let matches = |key: &VerificationKey| key.algorithm == alg && (kid.is_none() || key.kid.as_deref() == kid);
        let mut last_error = AuthError::Rejected(format!("no key for algorithm {alg:?}"));
        for key in self.static_keys.iter().filter(|k| k.algorithm == alg) {
            match decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last_error = AuthError::Rejected(e.to_string()),
            }
        }
        let Some(jwks) = &self.jwks else {
            return Err(last_error);
        };
        if alg == Algorithm::HS256 {
            return Err(last_error);
        }
        let wanted = {
            let cache = jwks.cache.read().await;
            if cache.keys.iter().any(matches) { cache.is_stale().then_some(Wait::No) } else { Some(Wait::ForKeys) }
        };
        if let Some(wait) = wanted
            && let Err(error) = jwks.refresh(wait).await
        {
            tracing::warn!(%error, "JWKS refresh failed; using the keys already fetched, if any");
        }
        let cache = jwks.cache.read().await;
        if cache.fetched_at.is_none_or(|at| at.elapsed() >= JWKS_STALE_LIMIT) {
            // Never fetched, or not for too long: an outage, not a bad token.
            return Err(AuthError::KeysUnavailable("no current signing keys".into()));
        }
        for key in cache.keys.iter().filter(|k| matches(k)) {
            match decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last_error = AuthError::Rejected(e.to_string()),
            }
        }
        Err(last_error)
    }
}

impl Jwks {
    async fn refresh(&self, wait: Wait) -> Result<(), AuthError> {
        let _fetching = match wait {
            Wait::ForKeys => self.fetching.lock().await,
            Wait::No => match self.fetching.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(()),
            },
        };
        {
            let mut cache = self.cache.write().await;
            if cache.attempted_at.is_some_and(|at| at.elapsed() < JWKS_MIN_REFRESH) {
                return Ok(());
            }
            cache.attempted_at = Some(Instant::now());
        }
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        let keys = keys_from_jwks(&set);
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

fn is_for_signatures(jwk: &Jwk) -> bool {
    let use_allows = jwk.common.public_key_use.as_ref().is_none_or(|u| *u == PublicKeyUse::Signature);
    let operations_allow = jwk.common.key_operations.as_ref().is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    use_allows && operations_allow
}

fn key_from_pem(pem: &[u8]) -> Result<VerificationKey, AuthError> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok(VerificationKey { kid: None, algorithm: Algorithm::RS256, key });
    }
    DecodingKey::from_ec_pem(pem)
        .map(|key| VerificationKey { kid: None, algorithm: Algorithm::ES256, key })
        .map_err(|e| AuthError::KeysUnavailable(format!("JWT_PUBLIC_KEY is neither an RSA nor an EC key: {e}")))
}

/// The RS256 and ES256 (P-256) signature keys of a JWKS; other keys (encryption keys, other
/// algorithms, key types this crate does not know) are ignored.
fn keys_from_jwks(set: &JwkSet) -> Vec<VerificationKey> {
    set.keys
        .iter()
        .filter(|jwk| is_for_signatures(jwk))
        .filter_map(|jwk: &Jwk| {
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(VerificationKey { kid: jwk.common.key_id.clone(), algorithm, key })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;
    use uuid::Uuid;

    const SECRET: &str = "unit-test-secret-0123456789abcdef";

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(&JwtConfig {
            issuer: "iss".into(),
            audience: "aud".into(),
            hs256_secret: Some(SECRET.into()),
            public_key_pem: None,
            jwks_url: None,
        })
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn token(claims: &serde_json::Value) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes()).unwrap()).unwrap()
    }

    fn claims() -> serde_json::Value {
        json!({ "sub": "u1", "tenant_id": Uuid::nil(), "iss": "iss", "aud": "aud", "exp": now() + 300 })
    }

    #[tokio::test]
    async fn a_valid_token_without_role_is_a_customer() {
        let principal = verifier().verify(&token(&claims())).await.unwrap();
        assert_eq!(principal.role, Role::Customer);
        assert_eq!(principal.user_id, "u1");
    }

    #[tokio::test]
    async fn expiry_is_tolerated_within_the_leeway_only() {
        let mut c = claims();
        c["exp"] = json!(now() - 30);
        assert!(verifier().verify(&token(&c)).await.is_ok());
        c["exp"] = json!(now() - 120);
        assert!(verifier().verify(&token(&c)).await.is_err());
    }

    #[tokio::test]
    async fn a_future_nbf_is_rejected() {
        let mut c = claims();
        c["nbf"] = json!(now() + 600);
        assert!(verifier().verify(&token(&c)).await.is_err());
    }

    #[tokio::test]
    async fn a_token_type_other_than_access_is_rejected() {
        let mut c = claims();
        c["type"] = json!("refresh");
        assert!(verifier().verify(&token(&c)).await.is_err());
        c["type"] = json!("access");
        assert!(verifier().verify(&token(&c)).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_role_is_rejected() {
        let mut c = claims();
        c["role"] = json!("superuser");
        assert!(verifier().verify(&token(&c)).await.is_err());
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_required() {
        let t = token(&claims());
        assert!(verifier().verify_header(Some(&format!("Bearer {t}"))).await.is_ok());
        assert!(verifier().verify_header(Some(&format!("Basic {t}"))).await.is_err());
        assert!(verifier().verify_header(Some(&t)).await.is_err());
        assert!(verifier().verify_header(None).await.is_err());
    }
}
