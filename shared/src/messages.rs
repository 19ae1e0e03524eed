//! The queues' messages, one type per queue, and the one way to send them. A message names
//! what to do, never how much: amounts are read from the store when the message is handled.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::cancellation::RefundPolicy;
use crate::domain::ids::{CancellationId, EventId, OrderId, ReservationId, TenantId};

/// SQS caps a message's delay at 15 minutes; longer holds are re-sent with the remainder.
const MAX_DELAY_SECONDS: i64 = 900;

/// The expiry queue's message: which hold, and when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryMessage {
    pub tenant_id: TenantId,
    pub reservation_id: ReservationId,
    pub expires_at: DateTime<Utc>,
}

impl ExpiryMessage {
    /// Whole seconds until `expires_at`, rounded up so the message never arrives early (an
    /// early message would only be sent again), at most SQS's longest delay.
    pub fn delay_seconds(&self, now: DateTime<Utc>) -> i32 {
        let millis = (self.expires_at - now).num_milliseconds().max(0);
        i32::try_from(((millis + 999) / 1000).min(MAX_DELAY_SECONDS)).unwrap_or(0)
    }
}

/// The cancellation queue's message: the cancellation whose fan-out to continue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanOutMessage {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub cancellation_id: CancellationId,
}

/// The refund queue's message: one order's refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundMessage {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub order_id: OrderId,
    pub refund: RefundTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RefundTarget {
    /// The cancellation's refund of this order (amount from its policy, when applied).
    Cancellation(CancellationId),
    /// A refund accepted by `POST /orders/{id}/refund`, by its id.
    Single(String),
}

/// Published once per distinct holder of a cancelled event (see docs/notifications.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HolderNotification {
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub cancellation_id: CancellationId,
    pub customer_id: String,
    pub reason: String,
    pub refund_policy: RefundPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no queue is configured for this message")]
    NoQueue,
    #[error("the message cannot be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("SQS send failed: {0}")]
    Sqs(String),
    #[error("{0} of the batch's messages were not sent")]
    PartlySent(usize),
}

/// Sends `message` to `queue` (as configured; `None` when the function has no such queue or
/// no queue client), visible after `delay` seconds.
pub async fn send(
    sqs: Option<&aws_sdk_sqs::Client>,
    queue: Option<&str>,
    message: &impl Serialize,
    delay: i32,
) -> Result<(), SendError> {
    let (Some(sqs), Some(queue)) = (sqs, queue) else { return Err(SendError::NoQueue) };
    let body = serde_json::to_string(message)?;
    sqs.send_message()
        .queue_url(queue)
        .message_body(body)
        .delay_seconds(delay)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| SendError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))
}

/// Sends up to ten messages to `queue` in one `SendMessageBatch`; any message not taken fails
/// the whole call (its caller sends the batch again, and the consumer ignores duplicates).
pub async fn send_batch(
    sqs: Option<&aws_sdk_sqs::Client>,
    queue: Option<&str>,
    messages: &[impl Serialize],
) -> Result<(), SendError> {
    if messages.is_empty() {
        return Ok(());
    }
    let (Some(sqs), Some(queue)) = (sqs, queue) else { return Err(SendError::NoQueue) };
    let entries = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let body = serde_json::to_string(message)?;
            Ok(SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .expect("id and body are set"))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let output = sqs
        .send_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| SendError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    if output.failed.is_empty() { Ok(()) } else { Err(SendError::PartlySent(output.failed.len())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_so_a_message_never_arrives_early() {
        let now = Utc::now();
        let at = |ms: i64| now + chrono::Duration::milliseconds(ms);
        let due = |expires_at| ExpiryMessage {
            tenant_id: TenantId::generate(),
            reservation_id: ReservationId::generate(),
            expires_at,
        };
        assert_eq!(due(at(1)).delay_seconds(now), 1);
        assert_eq!(due(at(59_001)).delay_seconds(now), 60);
        assert_eq!(due(at(60_000)).delay_seconds(now), 60);
        assert_eq!(due(at(-5)).delay_seconds(now), 0, "already due");
        assert_eq!(due(at(3_600_000)).delay_seconds(now), 900, "SQS's longest delay; the rest is sent again");
    }
}
