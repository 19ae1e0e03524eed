//! What a function needs, built once per cold start: the store, the queue client, the token
//! verifier, the payment client and the settings, from the function's environment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::{AuthError, TokenVerifier};
use crate::config::{Config, ConfigError};
use crate::cursor::CursorCodec;
use crate::domain::event::StartWindow;
use crate::secrets::Secrets;
use crate::store::Store;

/// Everything a handler needs, built once per cold start.
pub struct Deps {
    pub store: Store,
    /// Present where the function sends to a queue (or, for `/health`, checks SQS).
    pub sqs: Option<aws_sdk_sqs::Client>,
    /// Present where the function verifies tokens (every HTTP function but `/health`).
    pub verifier: Option<TokenVerifier>,
    /// Present where the function signs list cursors (the functions that list).
    pub cursors: Option<CursorCodec>,
    pub start_window: StartWindow,
    pub queues: crate::config::QueueUrls,
    pub payments: Option<crate::payments::PaymentClient>,
    /// A cancellation that has not moved for this long is restarted by the resumer.
    pub cancellation_stall: chrono::Duration,
    pub fanout_stop_after_steps: Option<u32>,
    /// `GET /health`'s cached checks.
    pub health: HealthCache,
    /// Per-user rate limits: every function that verifies tokens.
    pub limiter: Option<crate::ratelimit::RateLimiter>,
}

/// What a function builds at cold start besides its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "independent capabilities, each present or not")]
pub struct Needs {
    /// Verifies access tokens: every HTTP function but `/health`.
    pub tokens: bool,
    /// Signs list cursors, with the key its environment names in `CURSOR_SECRET_ID`.
    pub cursor_key: bool,
    /// Calls the payment provider (`PAYMENTS_BASE_URL`, key in `PAYMENTS_SECRET_ID`).
    pub payments: bool,
    /// Sends to a queue (its environment names the queue's URL); `/health` checks SQS.
    pub queues: bool,
}

impl Needs {
    pub const NOTHING: Self = Self { tokens: false, cursor_key: false, payments: false, queues: false };
    pub const EVERYTHING: Self = Self { tokens: true, cursor_key: true, payments: true, queues: true };

    fn secrets(self) -> bool {
        self.cursor_key || self.payments
    }
}

/// A function's [`Needs`], declared with its handler type. It is a constant of the binary, so the
/// compiler drops what the function never builds: a job links no token verifier, a function that
/// pays nothing no payment client, one that reads no secret no Secrets Manager client
/// (docs/performance.md has the bytes).
pub trait ColdStart {
    const NEEDS: Needs;
}

/// Whatever the configuration asks for: the local runner and the tests, which serve every
/// function from one process.
struct Configured;

impl ColdStart for Configured {
    const NEEDS: Needs = Needs::EVERYTHING;
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
    /// The template gives a function a setting its handler does not use, or misses one it does.
    #[error("the function's environment does not match its handler: {0}")]
    Mismatch(String),
}

impl Deps {
    /// What function `F` builds on Lambda: SDK clients from the standard AWS environment
    /// (region, credentials, `AWS_ENDPOINT_URL_*`), its secrets read once, here, and its token
    /// keys fetched. An environment that names a setting `F` does not use, or lacks one it
    /// does, is refused here rather than found out by a request.
    pub async fn from_environment<F: ColdStart>(config: &Config) -> Result<Self, InitError> {
        check_environment(F::NEEDS, config)?;
        let sdk = crate::aws_clients::sdk_config().await;
        let secrets = if F::NEEDS.secrets() {
            Secrets::load(&crate::aws_clients::secrets_manager_from(&sdk), &config.secrets).await?
        } else {
            Secrets::default()
        };
        let sqs = F::NEEDS.queues.then(|| crate::aws_clients::sqs_from(&sdk));
        let deps = Self::build::<F>(config, &secrets, crate::aws_clients::dynamodb_from(&sdk), sqs)?;
        if let Some(verifier) = &deps.verifier {
            verifier.prefetch().await;
        }
        Ok(deps)
    }

    /// Builds what `config` asks for from ready-made clients and secrets already read (the
    /// local runner points the clients at the emulators and reads the secrets from its
    /// Secrets Manager emulator).
    pub fn with_clients(
        config: &Config,
        secrets: &Secrets,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Result<Self, InitError> {
        Self::build::<Configured>(config, secrets, dynamodb, Some(sqs))
    }

    /// What a function with `needs` builds, from ready-made clients: the local runner builds
    /// each function as Lambda does, with the same check of its environment and nothing more.
    pub fn for_function(
        needs: Needs,
        config: &Config,
        secrets: &Secrets,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Result<Self, InitError> {
        check_environment(needs, config)?;
        let mut deps = Self::with_clients(config, secrets, dynamodb, sqs)?;
        if !needs.tokens {
            deps.verifier = None;
            deps.limiter = None;
        }
        if !needs.cursor_key {
            deps.cursors = None;
        }
        if !needs.payments {
            deps.payments = None;
        }
        if !needs.queues {
            deps.sqs = None;
        }
        Ok(deps)
    }

    fn build<F: ColdStart>(
        config: &Config,
        secrets: &Secrets,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: Option<aws_sdk_sqs::Client>,
    ) -> Result<Self, InitError> {
        let payments = match config.payments.as_ref().filter(|_| F::NEEDS.payments) {
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
        let limiter = config.rate_limits.as_ref().filter(|_| F::NEEDS.tokens).map(|limits| {
            crate::ratelimit::RateLimiter::new(&dynamodb, &limits.table_name, limits.limits, limits.timeout)
        });
        Ok(Self {
            limiter,
            store: Store::new(dynamodb, &config.table_name),
            sqs: sqs.filter(|_| F::NEEDS.queues),
            verifier: config.jwt.as_ref().filter(|_| F::NEEDS.tokens).map(TokenVerifier::new).transpose()?,
            cursors: secrets.cursor.clone().filter(|_| F::NEEDS.cursor_key).map(CursorCodec::new),
            start_window: StartWindow { min_lead: config.event_min_lead, max_ahead: config.event_max_ahead },
            queues: config.queues.clone(),
            payments,
            cancellation_stall: config.cancellation_stall,
            fanout_stop_after_steps: config.fanout_stop_after_steps,
            health: HealthCache::default(),
        })
    }
}

/// Each setting a function's handler uses is in its environment, and none it does not use: a
/// secret a function may read but never uses is a grant too many (IAM follows the template).
fn check_environment(needs: Needs, config: &Config) -> Result<(), InitError> {
    // Token settings reach every function through the template's Globals; one that verifies no
    // tokens ignores them.
    if needs.tokens && config.jwt.is_none() {
        return Err(ConfigError::Missing("JWT_ISSUER").into());
    }
    if needs.tokens && config.rate_limits.is_none() {
        return Err(ConfigError::Missing("RATE_LIMIT_TABLE_NAME").into());
    }
    // `Config` has already paired PAYMENTS_BASE_URL with the payment key.
    let secrets = [
        ("CURSOR_SECRET_ID", needs.cursor_key, config.secrets.cursor.is_some()),
        ("PAYMENTS_SECRET_ID", needs.payments, config.secrets.payments_key.is_some()),
    ];
    for (name, needed, present) in secrets {
        match (needed, present) {
            (true, false) => return Err(ConfigError::Missing(name).into()),
            (false, true) => {
                return Err(InitError::Mismatch(format!("{name} is set, but this function reads no such secret")));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The longest one call to the payment provider may take (see docs/timeouts.md).
pub const PROVIDER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The last round of checks of this instance.
#[derive(Default)]
pub struct HealthCache {
    pub(crate) last: tokio::sync::Mutex<Option<(Instant, bool, bool)>>,
    pub(crate) rounds: AtomicU64,
}

impl HealthCache {
    /// Rounds of dependency checks this instance has run (each is one call per dependency).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let base = [
            ("TABLE_NAME", "events"),
            ("JWT_ISSUER", "iss"),
            ("JWT_AUDIENCE", "aud"),
            ("JWT_HS256_SECRET", "a-test-secret-of-at-least-32-bytes"),
            ("RATE_LIMIT_TABLE_NAME", "limits"),
        ];
        let all: Vec<(String, String)> =
            base.iter().chain(pairs).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
    }

    const LISTS: Needs = Needs { tokens: true, cursor_key: true, ..Needs::NOTHING };
    const PAYS: Needs = Needs { payments: true, ..Needs::NOTHING };
    const PAYMENTS: [(&str, &str); 2] = [("PAYMENTS_BASE_URL", "https://api.stripe.com"), ("PAYMENTS_SECRET_ID", "p")];

    #[test]
    fn a_function_gets_the_secrets_it_reads_and_no_other() {
        assert!(check_environment(LISTS, &config(&[("CURSOR_SECRET_ID", "c")])).is_ok());
        assert!(check_environment(PAYS, &config(&PAYMENTS)).is_ok());
        assert!(matches!(
            check_environment(LISTS, &config(&[])),
            Err(InitError::Config(ConfigError::Missing("CURSOR_SECRET_ID")))
        ));
        assert!(matches!(
            check_environment(PAYS, &config(&[])),
            Err(InitError::Config(ConfigError::Missing("PAYMENTS_SECRET_ID")))
        ));
        let both = [("CURSOR_SECRET_ID", "c"), PAYMENTS[0], PAYMENTS[1]];
        let Err(InitError::Mismatch(why)) = check_environment(LISTS, &config(&both)) else { panic!() };
        assert!(why.contains("PAYMENTS_SECRET_ID"), "{why}");
        let Err(InitError::Mismatch(why)) = check_environment(Needs::NOTHING, &config(&[("CURSOR_SECRET_ID", "c")]))
        else {
            panic!()
        };
        assert!(why.contains("CURSOR_SECRET_ID"), "{why}");
    }

    #[test]
    fn token_settings_are_required_only_where_tokens_are_verified() {
        let without = Config { jwt: None, ..config(&[]) };
        assert!(matches!(
            check_environment(Needs { tokens: true, ..Needs::NOTHING }, &without),
            Err(InitError::Config(ConfigError::Missing("JWT_ISSUER")))
        ));
        assert!(check_environment(Needs::NOTHING, &without).is_ok());
        assert!(check_environment(Needs::NOTHING, &config(&[])).is_ok(), "a job ignores the Globals' token settings");
        // Whatever verifies tokens is rate limited, so it cannot start without the limiter's table.
        let unlimited = Config { rate_limits: None, ..config(&[]) };
        assert!(matches!(
            check_environment(Needs { tokens: true, ..Needs::NOTHING }, &unlimited),
            Err(InitError::Config(ConfigError::Missing("RATE_LIMIT_TABLE_NAME")))
        ));
        assert!(check_environment(Needs::NOTHING, &unlimited).is_ok());
    }

    struct NeedsNothing;

    impl ColdStart for NeedsNothing {
        const NEEDS: Needs = Needs::NOTHING;
    }

    #[test]
    fn what_a_function_does_not_need_is_not_built() {
        let clients = || {
            let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
            (crate::aws_clients::dynamodb_from(&sdk), Some(crate::aws_clients::sqs_from(&sdk)))
        };
        let secrets = Secrets { cursor: Some(vec![7; 32]), payments_key: Some("sk".into()) };
        let config = config(&PAYMENTS);
        let (dynamodb, sqs) = clients();
        let built = Deps::build::<Configured>(&config, &secrets, dynamodb, sqs).unwrap();
        assert!(built.verifier.is_some() && built.cursors.is_some() && built.payments.is_some() && built.sqs.is_some());
        let (dynamodb, sqs) = clients();
        let built = Deps::build::<NeedsNothing>(&config, &secrets, dynamodb, sqs).unwrap();
        assert!(built.verifier.is_none() && built.cursors.is_none() && built.payments.is_none() && built.sqs.is_none());
    }
}
