//! Idempotency records: the first request with a key claims it with a conditional put; its
//! outcome is stored for replay. A claim whose holder died (lock past) or a record older than
//! 24 h can be claimed again; DynamoDB's TTL only garbage-collects, it decides nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::keys::{self, PK, SK};
use super::{Store, StoreError, classify, is_condition_failure, n, s};
use crate::domain::ids::TenantId;

/// How long an outcome is kept for replay.
pub const RETENTION_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: String,
    pub locked_until_ms: u64,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub response_content_type: Option<String>,
}

/// Identifies a key: whose, on which route, and the key itself.
#[derive(Debug, Clone)]
pub struct KeyScope<'a> {
    pub tenant: TenantId,
    pub user: &'a str,
    pub route: &'a str,
    pub key: &'a str,
}

impl KeyScope<'_> {
    fn pk(&self) -> String {
        format!("T#{}#IDEM#{}#{}#{}", self.tenant, keys::key_part(self.user), self.route, self.key)
    }
}

pub enum Claim {
    /// This request owns the key now and must complete or abandon it.
    Claimed,
    /// Someone already used the key.
    Existing(IdempotencyRecord),
}

impl Store {
    pub async fn claim_idempotency_key(
        &self,
        scope: &KeyScope<'_>,
        fingerprint: &str,
        locked_until_ms: u64,
        now_ms: u64,
    ) -> Result<Claim, StoreError> {
        let expires = now_ms / 1000 + u64::try_from(RETENTION_SECONDS).unwrap_or(0);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(scope.pk()))
            .item(SK, s("IDEM"))
            .item("fingerprint", s(fingerprint))
            .item("status", s("IN_PROGRESS"))
            .item("locked_until_ms", n(locked_until_ms))
            .item("expires_at_epoch", n(expires))
            .condition_expression(
                "attribute_not_exists(PK) OR expires_at_epoch < :now_s OR (#status = :in_progress AND locked_until_ms < :now_ms)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(error) if is_condition_failure(&error) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(PK, s(scope.pk()))
                    .key(SK, s("IDEM"))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(classify)?
                    .item
                    .ok_or_else(|| StoreError::Unavailable("idempotency record vanished; retry".into()))?;
                Ok(Claim::Existing(serde_dynamo::aws_sdk_dynamodb_1::from_item(item)?))
            }
            Err(error) => Err(classify(error)),
        }
    }

    /// Stores the outcome for replay (only by the claim's owner, whose fingerprint it has).
    pub async fn complete_idempotency_key(
        &self,
        scope: &KeyScope<'_>,
        fingerprint: &str,
        status: u16,
        body: &str,
        content_type: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update = self.update_item_at(scope.pk(), "IDEM")
            .update_expression(
                "SET #status = :completed, response_status = :code, response_body = :body, response_content_type = :type",
            )
            .condition_expression("fingerprint = :fingerprint AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s("COMPLETED"))
            .expression_attribute_values(":code", n(u64::from(status)))
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":fingerprint", s(fingerprint))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"));
        update = update.expression_attribute_values(":type", content_type.map_or(AttributeValue::Null(true), s));
        update.send().await.map(|_| ()).map_err(classify)
    }

    /// Gives the key up (a 5xx outcome is not stored, so a retry can succeed).
    pub async fn abandon_idempotency_key(&self, scope: &KeyScope<'_>, fingerprint: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(scope.pk()))
            .key(SK, s("IDEM"))
            .condition_expression("fingerprint = :fingerprint AND #status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":fingerprint", s(fingerprint))
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| if is_condition_failure(&e) { Ok(()) } else { Err(classify(e)) })
    }
}
