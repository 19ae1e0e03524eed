//! Settings read once at cold start from the environment.
//!
//! Lambda deployments must configure everything explicitly (no development defaults here);
//! the local runner supplies its local defaults (`local_runner::LOCAL_DEFAULTS`, README "Calling
//! the API locally") before it builds this.
//! Secrets are not settings: the environment names them, and [`crate::secrets`] reads them.

use chrono::Duration;

use crate::secrets::SecretIds;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Shared secret for HS256; meant for local use only.
    pub hs256_secret: Option<String>,
    /// A PEM-encoded RSA or EC (P-256) public key.
    pub public_key_pem: Option<String>,
    /// URL of a JSON Web Key Set, fetched at cold start and refreshed on unknown `kid`s.
    pub jwks_url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct QueueUrls {
    pub expiry: Option<String>,
    pub cancellation: Option<String>,
    pub refunds: Option<String>,
    pub notifications: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PaymentConfig {
    pub base_url: String,
}

/// Per-user rate limits (`RATE_LIMIT_TABLE_NAME`, `RATE_LIMIT_READS_PER_MINUTE`,
/// `RATE_LIMIT_WRITES_PER_MINUTE`, `RATE_LIMIT_TIMEOUT_MS`).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub table_name: String,
    pub limits: crate::ratelimit::Limits,
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// The rate limiter of the HTTP functions; absent where a function's environment has no table.
    pub rate_limits: Option<RateLimitConfig>,
    /// How tokens are verified: every HTTP function but `/health` needs it; queue consumers and
    /// schedules ignore it (their `Needs`), so they build no verifier and fetch no keys.
    pub jwt: Option<JwtConfig>,
    /// The secrets this function reads at cold start: the key that signs pagination cursors
    /// (so they cannot be forged or moved between lists) and the payment provider's key.
    pub secrets: SecretIds,
    /// Queue URLs; each is absent where a function does not use it.
    pub queues: QueueUrls,
    /// The payment provider (confirms and refunds); absent where a function does not use it.
    pub payments: Option<PaymentConfig>,
    /// Test hook: the fan-out stops (as if it crashed) after this many steps per run, between
    /// a step and its checkpoint.
    pub fanout_stop_after_steps: Option<u32>,
    /// A cancellation that has not moved for this long is restarted by the resumer.
    pub cancellation_stall: Duration,
    /// How soon an event may start, at the earliest, when created or moved.
    pub event_min_lead: Duration,
    /// How far ahead an event may start, at the latest.
    pub event_max_ahead: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Builds the configuration from any variable source (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).ok_or(ConfigError::Missing(name));
        let jwt = match lookup("JWT_ISSUER") {
            None if ["JWT_AUDIENCE", "JWT_HS256_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"]
                .iter()
                .all(|name| lookup(name).is_none()) =>
            {
                None
            }
            issuer => {
                let jwt = JwtConfig {
                    issuer: issuer.ok_or(ConfigError::Missing("JWT_ISSUER"))?,
                    audience: required("JWT_AUDIENCE")?,
                    hs256_secret: lookup("JWT_HS256_SECRET"),
                    public_key_pem: lookup("JWT_PUBLIC_KEY"),
                    jwks_url: lookup("JWT_JWKS_URL"),
                };
                if jwt.hs256_secret.is_none() && jwt.public_key_pem.is_none() && jwt.jwks_url.is_none() {
                    return Err(ConfigError::Invalid {
                        name: "JWT_JWKS_URL",
                        reason: "one of JWT_JWKS_URL, JWT_PUBLIC_KEY or JWT_HS256_SECRET must be set".into(),
                    });
                }
                Some(jwt)
            }
        };
        let secrets = SecretIds { cursor: lookup("CURSOR_SECRET_ID"), payments_key: lookup("PAYMENTS_SECRET_ID") };
        let payments = match (lookup("PAYMENTS_BASE_URL"), &secrets.payments_key) {
            (Some(base_url), Some(_)) => Some(PaymentConfig { base_url }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing("PAYMENTS_SECRET_ID")),
            (None, Some(_)) => return Err(ConfigError::Missing("PAYMENTS_BASE_URL")),
        };
        let defaults = crate::ratelimit::Limits::default();
        let rate_limits = match lookup("RATE_LIMIT_TABLE_NAME") {
            None => None,
            Some(table_name) => Some(RateLimitConfig {
                table_name,
                limits: crate::ratelimit::Limits {
                    reads: per_minute(&lookup, "RATE_LIMIT_READS_PER_MINUTE", defaults.reads)?,
                    writes: per_minute(&lookup, "RATE_LIMIT_WRITES_PER_MINUTE", defaults.writes)?,
                },
                timeout: std::time::Duration::from_millis(u64::from(per_minute(
                    &lookup,
                    "RATE_LIMIT_TIMEOUT_MS",
                    300,
                )?)),
            }),
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            rate_limits,
            jwt,
            secrets,
            queues: QueueUrls {
                expiry: lookup("EXPIRY_QUEUE_URL"),
                cancellation: lookup("CANCELLATION_QUEUE_URL"),
                refunds: lookup("REFUND_QUEUE_URL"),
                notifications: lookup("NOTIFICATION_QUEUE_URL"),
            },
            payments,
            fanout_stop_after_steps: lookup("FANOUT_STOP_AFTER_STEPS").and_then(|v| v.parse().ok()),
            cancellation_stall: Duration::seconds(whole_number(&lookup, "CANCELLATION_STALL_SECONDS", 1900)?),
            event_min_lead: Duration::hours(whole_number(&lookup, "EVENT_MIN_LEAD_HOURS", 2)?),
            event_max_ahead: Duration::days(whole_number(&lookup, "EVENT_MAX_AHEAD_DAYS", 365)?),
        })
    }
}

/// A positive whole number (a limit per minute, or a timeout in milliseconds).
fn per_minute(lookup: &impl Fn(&str) -> Option<String>, name: &'static str, default: u32) -> Result<u32, ConfigError> {
    let value = whole_number(lookup, name, i64::from(default))?;
    u32::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ConfigError::Invalid { name, reason: "expected at least 1".into() })
}

fn whole_number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    lookup(name).map_or(Ok(default), |raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|v| (0..=100_000).contains(v))
            .ok_or_else(|| ConfigError::Invalid { name, reason: format!("expected a whole number, got {raw:?}") })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 5] = [
        ("TABLE_NAME", "events"),
        ("JWT_ISSUER", "iss"),
        ("JWT_AUDIENCE", "aud"),
        ("JWT_HS256_SECRET", "secret"),
        ("CURSOR_SECRET_ID", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:CursorSecret-AbCdEf"),
    ];

    #[test]
    fn defaults_apply_to_the_event_time_window() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.event_min_lead, Duration::hours(2));
        assert_eq!(config.event_max_ahead, Duration::days(365));
    }

    #[test]
    fn a_deployment_without_any_token_key_is_refused() {
        let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != "JWT_HS256_SECRET").collect();
        assert!(matches!(Config::from_lookup(lookup(&pairs)), Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn token_settings_are_all_or_nothing() {
        let without: Vec<_> = BASE.iter().copied().filter(|(k, _)| !k.starts_with("JWT_")).collect();
        assert!(Config::from_lookup(lookup(&without)).unwrap().jwt.is_none(), "a job needs none");
        let half: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != "JWT_ISSUER").collect();
        assert!(matches!(Config::from_lookup(lookup(&half)), Err(ConfigError::Missing("JWT_ISSUER"))));
        assert_eq!(Config::from_lookup(lookup(&BASE)).unwrap().jwt.map(|j| j.issuer).as_deref(), Some("iss"));
    }

    #[test]
    fn secrets_are_named_not_given_and_the_provider_needs_both_its_url_and_key() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.secrets.cursor.as_deref(), Some(BASE[4].1));
        assert_eq!((config.secrets.payments_key, config.payments.is_none()), (None, true));
        let mut pairs = BASE.to_vec();
        pairs.push(("PAYMENTS_BASE_URL", "https://api.stripe.com"));
        let half = Config::from_lookup(lookup(&pairs));
        assert!(matches!(half, Err(ConfigError::Missing("PAYMENTS_SECRET_ID"))), "{half:?}");
        pairs.push(("PAYMENTS_SECRET_ID", "payments"));
        let whole = Config::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(whole.payments.map(|p| p.base_url).as_deref(), Some("https://api.stripe.com"));
    }
}
