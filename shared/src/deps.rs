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
    pub sqs: aws_sdk_sqs::Client,
    /// Present where the function verifies tokens (every HTTP function).
    pub verifier: Option<TokenVerifier>,
    /// Present where the function's environment names a cursor key (the functions that list).
    pub cursors: Option<CursorCodec>,
    pub start_window: StartWindow,
    pub queues: crate::config::QueueUrls,
    pub payments: Option<crate::payments::PaymentClient>,
    /// A cancellation that has not moved for this long is restarted by the resumer.
    pub cancellation_stall: chrono::Duration,
    pub fanout_stop_after_steps: Option<u32>,
    /// `GET /health`'s cached checks.
    pub health: HealthCache,
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
        if let Some(verifier) = &deps.verifier {
            verifier.prefetch().await;
        }
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
            verifier: config.jwt.as_ref().map(TokenVerifier::new).transpose()?,
            cursors: secrets.cursor.clone().map(CursorCodec::new),
            start_window: StartWindow { min_lead: config.event_min_lead, max_ahead: config.event_max_ahead },
            queues: config.queues.clone(),
            payments,
            cancellation_stall: config.cancellation_stall,
            fanout_stop_after_steps: config.fanout_stop_after_steps,
            health: HealthCache::default(),
        })
    }
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
