//! Per tenant + user rate limits: a fixed one-minute window per request class (reads, writes),
//! counted in DynamoDB with one conditional update per request. The limiter has its own table,
//! a client with a short timeout and no retries, and never blocks a request on its own failure:
//! a request the limiter cannot judge passes, and is counted as a fail-open. docs/rate-limits.md
//! has the design, its cost and its accuracy.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::domain::ids::TenantId;

/// Windows are collected by the table's TTL this long after they end.
const KEEP_WINDOWS: i64 = 120;

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
}

impl Class {
    pub fn of(method: &http::Method) -> Self {
        if method == http::Method::GET || method == http::Method::HEAD { Self::Read } else { Self::Write }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "R",
            Self::Write => "W",
        }
    }
}

/// Requests per user per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub reads: u32,
    pub writes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { reads: 100, writes: 30 }
    }
}

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the limit until the window ends, this many seconds from now (at least 1).
    Limited {
        retry_after_seconds: u64,
    },
    /// The limiter could not answer in time or failed: the request passes.
    FailedOpen,
}

#[derive(Clone)]
pub struct RateLimiter {
    client: aws_sdk_dynamodb::Client,
    table: String,
    limits: Limits,
    timeout: Duration,
}

impl RateLimiter {
    /// A limiter on `table` through the function's own `client` (its connections, credentials
    /// and interceptors), each call with the limiter's short `timeout` (300 ms deployed) and no
    /// retries: a slow or throttled limiter costs a request at most that.
    pub fn new(client: &aws_sdk_dynamodb::Client, table: impl Into<String>, limits: Limits, timeout: Duration) -> Self {
        Self { client: client.clone(), table: table.into(), limits, timeout }
    }

    /// Counts one request of `class` by `user` of `tenant` at `now`, if the window has room.
    pub async fn admit(&self, tenant: TenantId, user: &str, class: Class, now: DateTime<Utc>) -> Admission {
        let limit = match class {
            Class::Read => self.limits.reads,
            Class::Write => self.limits.writes,
        };
        let window = now.timestamp().div_euclid(60);
        let key = format!("RL#{tenant}#{}#{}#{window}", crate::store::keys::key_part(user), class.as_str());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(key))
            .update_expression("ADD requests :one SET expires_at_epoch = :expires")
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(((window + 1) * 60 + KEEP_WINDOWS).to_string()))
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                    .timeout_config(
                        aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                            .operation_timeout(self.timeout)
                            .build(),
                    ),
            )
            .send()
            .await;
        match result {
            Ok(_) => Admission::Allowed,
            Err(error) if crate::store::is_condition_failure(&error) => {
                let window_ends = (window + 1) * 60;
                let left = u64::try_from(window_ends - now.timestamp()).unwrap_or(1).max(1);
                Admission::Limited { retry_after_seconds: left }
            }
            Err(error) => {
                crate::monitoring::count(crate::monitoring::Metric::RateLimiterFailOpens, 1);
                tracing::warn!(
                    error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
                    "the rate limiter failed; the request passes"
                );
                Admission::FailedOpen
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_spend_different_budgets() {
        assert_eq!(Class::of(&http::Method::GET), Class::Read);
        assert_eq!(Class::of(&http::Method::HEAD), Class::Read);
        for write in [http::Method::POST, http::Method::PUT, http::Method::DELETE, http::Method::PATCH] {
            assert_eq!(Class::of(&write), Class::Write, "{write}");
        }
        assert_eq!(Limits::default(), Limits { reads: 100, writes: 30 });
    }
}
