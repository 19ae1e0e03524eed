//! Secrets, read once at cold start from AWS Secrets Manager.
//!
//! A function's environment names the secrets it needs by id (`CURSOR_SECRET_ID`,
//! `PAYMENTS_SECRET_ID`: the secret's ARN on AWS), never their values, so a value is in no
//! template parameter, no environment variable and no deployment record, and only the functions
//! that need a secret may read it (IAM, `docs/iam.md`). Values never reach a log line.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

/// Signing pagination cursors needs at least this many bytes of key.
pub const MIN_CURSOR_SECRET_BYTES: usize = 32;

/// Which secrets a function reads: their Secrets Manager ids, from its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretIds {
    /// The key that signs pagination cursors (functions that list).
    pub cursor: Option<String>,
    /// The payment provider's secret API key (functions that call the provider).
    pub payments_key: Option<String>,
}

/// The values, as read.
#[derive(Clone, Default)]
pub struct Secrets {
    pub cursor: Option<Vec<u8>>,
    pub payments_key: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("cursor", &self.cursor.as_ref().map(|_| "<redacted>"))
            .field("payments_key", &self.payments_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} cannot be read: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("secret {id} is unusable: {reason}")]
    Invalid { id: String, reason: String },
}

impl Secrets {
    /// Reads every secret `ids` names (each a `GetSecretValue`).
    pub async fn load(client: &Client, ids: &SecretIds) -> Result<Self, SecretError> {
        let cursor = match &ids.cursor {
            Some(id) => Some(cursor_key(id, read(client, id).await?)?),
            None => None,
        };
        let payments_key = match &ids.payments_key {
            Some(id) => Some(read(client, id).await?),
            None => None,
        };
        Ok(Self { cursor, payments_key })
    }

    /// Both sets together: the local runner serves every function from one process.
    pub fn merge(self, other: Self) -> Self {
        Self { cursor: self.cursor.or(other.cursor), payments_key: self.payments_key.or(other.payments_key) }
    }
}

async fn read(client: &Client, id: &str) -> Result<String, SecretError> {
    let unreadable = |reason: String| SecretError::Unreadable { id: id.to_owned(), reason };
    let value = client.get_secret_value().secret_id(id).send().await.map_err(|e| {
        unreadable(match e.as_service_error() {
            // On AWS also what a secret created without a value answers.
            Some(service) if service.is_resource_not_found_exception() => {
                "no such secret, or it has no value yet (set one with `aws secretsmanager put-secret-value`)".into()
            }
            Some(service) => format!("{}: {}", service.code().unwrap_or("error"), service.message().unwrap_or("")),
            None => aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })
    })?;
    // A value pasted with a trailing newline would make an invalid header or a different key.
    value
        .secret_string
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| unreadable("it has no text value (set one with `aws secretsmanager put-secret-value`)".into()))
}

fn cursor_key(id: &str, value: String) -> Result<Vec<u8>, SecretError> {
    if value.len() < MIN_CURSOR_SECRET_BYTES {
        return Err(SecretError::Invalid {
            id: id.to_owned(),
            reason: format!("a cursor key needs at least {MIN_CURSOR_SECRET_BYTES} bytes"),
        });
    }
    Ok(value.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_cursor_key_is_refused_and_values_are_never_printed() {
        assert!(matches!(cursor_key("c", "short".into()), Err(SecretError::Invalid { .. })));
        assert_eq!(cursor_key("c", "k".repeat(32)).unwrap().len(), 32);
        let secrets =
            Secrets { cursor: Some(b"super-secret-cursor-key".to_vec()), payments_key: Some("sk_live_1".into()) };
        let printed = format!("{secrets:?}");
        assert!(!printed.contains("super-secret") && !printed.contains("sk_live"), "{printed}");
    }
}
