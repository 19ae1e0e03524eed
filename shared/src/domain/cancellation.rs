//! Event cancellation: the request, its refund policy, and the record that tracks progress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, field_code};
use super::fields::{self, Problems};
use super::ids::{CancellationId, EventId};
use super::pricing::round_half_up;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundPolicy {
    Full,
    Partial,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancellationStatus {
    InProgress,
    Completed,
    CompletedWithFailures,
}

/// The progress of one event's cancellation. The fan-out fields are bookkeeping: which phase
/// it is in (voiding holds, then enqueueing orders), where it stopped, how many orders have
/// been settled either way, and when it last moved (so a stalled one can be resumed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // stored flags, each moved by its own conditional write
pub struct Cancellation {
    pub id: CancellationId,
    pub event_id: EventId,
    pub status: CancellationStatus,
    pub refund_policy: RefundPolicy,
    pub partial_percent: Option<u32>,
    pub notify_holders: bool,
    pub reason: String,
    pub orders_total: u64,
    pub refunds_succeeded: u64,
    pub refunds_failed: u64,
    pub refunded_amount: u64,
    pub notifications_sent: u64,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub requested_by: String,
    #[serde(default)]
    pub orders_settled: u64,
    /// Checkpoints written so far; each checkpoint is conditional on the previous count.
    #[serde(default)]
    pub fanout_pages: u64,
    #[serde(default)]
    pub fanout_cursor: Option<String>,
    #[serde(default)]
    pub holds_done: bool,
    #[serde(default)]
    pub holds_voided: u64,
    #[serde(default)]
    pub fanout_done: bool,
    /// A resumed pass over the orders re-sends what is unsettled and counts nothing again.
    #[serde(default)]
    pub fanout_resumed: bool,
    /// The last time the fan-out or a refund made progress.
    #[serde(default = "epoch")]
    pub progress_at: DateTime<Utc>,
}

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// What `GET /events/{id}/cancellation` shows.
#[derive(Debug, Serialize)]
pub struct CancellationView<'a> {
    pub id: CancellationId,
    pub event_id: EventId,
    pub status: CancellationStatus,
    pub refund_policy: RefundPolicy,
    pub partial_percent: Option<u32>,
    pub notify_holders: bool,
    pub reason: &'a str,
    pub orders_total: u64,
    pub refunds_succeeded: u64,
    pub refunds_failed: u64,
    pub refunded_amount: u64,
    pub notifications_sent: u64,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Cancellation {
    pub fn view(&self) -> CancellationView<'_> {
        CancellationView {
            id: self.id,
            event_id: self.event_id,
            status: self.status,
            refund_policy: self.refund_policy,
            partial_percent: self.partial_percent,
            notify_holders: self.notify_holders,
            reason: &self.reason,
            orders_total: self.orders_total,
            refunds_succeeded: self.refunds_succeeded,
            refunds_failed: self.refunds_failed,
            refunded_amount: self.refunded_amount,
            notifications_sent: self.notifications_sent,
            started_at: self.started_at,
            completed_at: self.completed_at,
        }
    }

    /// What the policy promises the buyer of an order of `total`, in all.
    pub fn promised(&self, total: u64) -> u64 {
        match self.refund_policy {
            RefundPolicy::Full => total,
            RefundPolicy::Partial => {
                let percent = u128::from(self.partial_percent.unwrap_or(0));
                let share = round_half_up(u128::from(total) * percent, 100);
                u64::try_from(share).unwrap_or(u64::MAX).min(total)
            }
            RefundPolicy::None => 0,
        }
    }

    /// What is still owed to the buyer of an order of `total` who already has `refunded` back:
    /// earlier refunds count toward the promise, and nobody gets more than they have paid.
    pub fn still_owed(&self, total: u64, refunded: u64) -> u64 {
        self.promised(total).saturating_sub(refunded)
    }

    /// Whether the fan-out or a refund has not moved for `stall` at `now`.
    pub fn is_stalled(&self, now: DateTime<Utc>, stall: chrono::Duration) -> bool {
        self.status == CancellationStatus::InProgress && now - self.progress_at >= stall
    }
}

/// `POST /events/{id}/cancel` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    reason: String,
    #[serde(default, deserialize_with = "fields::not_null")]
    refund_policy: Option<RefundPolicy>,
    #[serde(default, deserialize_with = "fields::not_null")]
    partial_percent: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    notify_holders: Option<bool>,
}

impl CancelInput {
    pub fn into_cancellation(
        self,
        event_id: EventId,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Cancellation, DomainError> {
        let mut p = Problems::default();
        let reason = p.take(fields::text("reason", &self.reason, 1, 1000));
        let policy = self.refund_policy.unwrap_or(RefundPolicy::Full);
        let partial_percent = match (policy, self.partial_percent) {
            (RefundPolicy::Partial, Some(percent)) => p.take(fields::whole_number("partial_percent", percent, 1, 99)),
            (RefundPolicy::Partial, None) => {
                p.push("partial_percent", field_code::REQUIRED, "partial_percent is required for a partial refund");
                None
            }
            (_, Some(_)) => {
                p.push(
                    "partial_percent",
                    field_code::UNEXPECTED_PROPERTY,
                    "partial_percent goes with refund_policy partial",
                );
                None
            }
            (_, None) => None,
        };
        p.finish()?;
        Ok(Cancellation {
            id: CancellationId::generate(),
            event_id,
            status: CancellationStatus::InProgress,
            refund_policy: policy,
            partial_percent,
            notify_holders: self.notify_holders.unwrap_or(true),
            reason: reason.expect("checked"),
            orders_total: 0,
            refunds_succeeded: 0,
            refunds_failed: 0,
            refunded_amount: 0,
            notifications_sent: 0,
            started_at: now,
            completed_at: None,
            requested_by: requested_by.to_owned(),
            orders_settled: 0,
            fanout_pages: 0,
            fanout_cursor: None,
            holds_done: false,
            holds_voided: 0,
            fanout_done: false,
            fanout_resumed: false,
            progress_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::decode;

    fn cancellation(json: &str) -> Result<Cancellation, DomainError> {
        decode::<CancelInput>(json.as_bytes()).map_err(DomainError::invalid)?.into_cancellation(
            EventId::from_uuid(uuid::Uuid::nil()),
            "u",
            Utc::now(),
        )
    }

    #[test]
    fn partial_refunds_round_half_up_once() {
        let c = cancellation(r#"{"reason":"storm","refund_policy":"partial","partial_percent":33}"#).unwrap();
        assert_eq!(c.still_owed(1250, 0), 413, "412.5 rounds up");
        assert_eq!(c.still_owed(1234, 0), 407);
        assert_eq!(c.still_owed(1250, 400), 13, "earlier refunds count toward the promise");
        assert_eq!(c.still_owed(1250, 1000), 0, "a buyer who already has more keeps it and gets nothing");
    }

    #[test]
    fn full_refunds_what_is_left_and_none_refunds_nothing() {
        let full = cancellation(r#"{"reason":"storm"}"#).unwrap();
        assert_eq!((full.refund_policy, full.notify_holders), (RefundPolicy::Full, true));
        assert_eq!(full.still_owed(12_420, 420), 12_000);
        assert_eq!(full.still_owed(12_420, 12_420), 0);
        let none = cancellation(r#"{"reason":"storm","refund_policy":"none","notify_holders":false}"#).unwrap();
        assert_eq!(none.still_owed(12_420, 0), 0);
        assert!(!none.notify_holders);
    }

    #[test]
    fn bad_requests_name_their_fields() {
        for (json, field) in [
            (r#"{"reason":"   "}"#, "reason"),
            (r#"{"reason":"x","refund_policy":"partial"}"#, "partial_percent"),
            (r#"{"reason":"x","refund_policy":"partial","partial_percent":100}"#, "partial_percent"),
            (r#"{"reason":"x","partial_percent":10}"#, "partial_percent"),
            (r#"{"reason":"x","refund_policy":"some"}"#, "refund_policy"),
        ] {
            let Err(DomainError::Invalid(errors)) = cancellation(json) else { panic!("{json} should be a 400") };
            assert_eq!(errors[0].field, field, "{json}");
        }
    }
}
