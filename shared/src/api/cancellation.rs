//! Event cancellation and single-order refunds, over HTTP.
//!
//! `POST /cancel` marks the event `CANCELLED`, closes sales and records the cancellation in one
//! transaction, then starts the fan-out ([`crate::jobs::fanout`]) with one message. Everything after
//! the commit (voiding holds, enqueueing refunds, notifying holders) is driven from the record,
//! so a lost message or a crash delays it until the resumer notices, and never drops it.
//! `POST /orders/{id}/refund` reserves the amount on the order and leaves the paying to the
//! refund queue ([`crate::jobs::refunds`]).

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use super::events::load_managed;
use crate::auth::Role;
use crate::domain::cancellation::CancelInput;
use crate::domain::event::EventStatus;
use crate::domain::fields;
use crate::domain::ids::OrderId;
use crate::domain::reservation::{Order, RefundRecord, RefundStatus};
use crate::error::{ApiError, field_code};
use crate::http::{json_response, parse_body, path_id};
use crate::messages::{FanOutMessage, RefundMessage, RefundTarget, send};

pub async fn cancel(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let event_id = path_id(req, "event_id")?;
    let input: CancelInput = parse_body(req)?;
    let now = crate::domain::now();
    let cancellation = input.into_cancellation(event_id, &caller.principal.user_id, now)?;
    for _ in 0..3 {
        let current = load_managed(caller, event_id).await?;
        let event = &current.event;
        if matches!(event.status, EventStatus::Cancelled | EventStatus::Completed) {
            return Err(ApiError::conflict(
                "INVALID_EVENT_STATE",
                format!("the event is already {}", event.status.as_str()),
            ));
        }
        let deadline = event.starts_at - chrono::Duration::hours(i64::from(event.cancellation_deadline_hours));
        if caller.principal.role == Role::Organizer && now >= deadline {
            return Err(ApiError::conflict(
                "CANCELLATION_DEADLINE_PASSED",
                format!(
                    "organizers may cancel until {} hours before the start; ask an admin",
                    event.cancellation_deadline_hours
                ),
            ));
        }
        if caller.deps.store.cancel_event(caller.tenant(), &current, &cancellation).await? {
            crate::monitoring::count(crate::monitoring::Metric::CancellationsStarted, 1);
            let message = FanOutMessage { tenant_id: caller.tenant(), event_id, cancellation_id: cancellation.id };
            if let Err(error) =
                send(caller.deps.sqs.as_ref(), caller.deps.queues.cancellation.as_deref(), &message, 0).await
            {
                // The cancellation is recorded; the resumer starts its fan-out once it looks stalled.
                tracing::error!(%error, %event_id, "fan-out job not enqueued; the resumer will start it");
            }
            return Ok(json_response(StatusCode::ACCEPTED, &json!({ "cancellation": cancellation.view() })));
        }
    }
    Err(ApiError::conflict("VERSION_CONFLICT", "the event kept changing concurrently; retry"))
}

pub async fn get(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let event_id = path_id(req, "event_id")?;
    super::events::load_visible(caller, event_id).await?;
    let cancellation =
        caller.deps.store.get_cancellation(caller.tenant(), event_id).await?.ok_or(ApiError::NotFound)?;
    Ok(json_response(StatusCode::OK, &json!({ "cancellation": cancellation.view() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    reason: String,
    #[serde(default, deserialize_with = "crate::domain::fields::not_null")]
    amount: Option<i64>,
}

impl RefundInput {
    /// The reason, once it and the amount are well-formed (whether the amount fits the order is
    /// [`refund_amount`]'s to say).
    fn validate(&self) -> Result<String, ApiError> {
        let reason = fields::text("reason", &self.reason, 1, 1000).map_err(|e| ApiError::BadRequest(vec![e]))?;
        if self.amount.is_some_and(|a| a < 1) {
            return Err(ApiError::bad_field("amount", field_code::OUT_OF_RANGE, "amount must be at least 1"));
        }
        Ok(reason)
    }
}

/// Attempts when concurrent refunds of the same order keep changing what is left.
const REFUND_ATTEMPTS: usize = 3;

pub async fn refund_order(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let order_id = path_id(req, "order_id")?;
    let input: RefundInput = parse_body(req)?;
    let reason = input.validate()?;
    let order = caller.deps.store.get_order(caller.tenant(), order_id).await?.ok_or(ApiError::NotFound)?;
    // Admins, or the organizer who created the order's event.
    let event = load_managed(caller, order.event_id).await?;
    // The refund's id comes from the request's Idempotency-Key, so a retry after a lost answer
    // finds the refund it already made instead of making a second one.
    let key = super::idempotency::key(req, true)?.unwrap_or_default();
    let refund_id = refund_id_for(caller, order_id, &key);
    if let Some(accepted) = order.refunds.get(&refund_id) {
        return Ok(accepted_response(order_id, accepted));
    }
    if event.event.status == EventStatus::Cancelled {
        return Err(not_refundable("the event was cancelled; its cancellation refunds this order"));
    }
    let mut record = RefundRecord {
        id: refund_id,
        amount: 0,
        status: RefundStatus::Pending,
        reason,
        requested_by: caller.principal.user_id.clone(),
        created_at: crate::domain::now(),
        cancellation_id: None,
    };
    // The message goes first: if the amount is then refused, the consumer finds no record and
    // drops it; the other way round, a failed send could strand a reserved amount.
    let message = RefundMessage {
        tenant_id: caller.tenant(),
        event_id: order.event_id,
        order_id,
        refund: RefundTarget::Single(record.id.clone()),
    };
    let mut current = order;
    for attempt in 0..REFUND_ATTEMPTS {
        record.amount = refund_amount(&current, input.amount)?;
        if attempt == 0 {
            send(caller.deps.sqs.as_ref(), caller.deps.queues.refunds.as_deref(), &message, 1)
                .await
                .map_err(|e| ApiError::Unavailable(e.into()))?;
        }
        if caller.deps.store.request_refund(caller.tenant(), &current, &record).await? {
            return Ok(accepted_response(order_id, &record));
        }
        current = caller.deps.store.get_order(caller.tenant(), order_id).await?.ok_or(ApiError::NotFound)?;
    }
    Err(ApiError::conflict("ORDER_CHANGED", "the order's refunds kept changing concurrently; retry"))
}

fn accepted_response(order_id: OrderId, record: &RefundRecord) -> Response<Body> {
    let refund = json!({ "id": record.id, "order_id": order_id, "amount": record.amount, "status": "PENDING" });
    json_response(StatusCode::ACCEPTED, &json!({ "refund": refund }))
}

/// `refund-<uuid>` from tenant, user, order and Idempotency-Key: the same request, the same refund.
fn refund_id_for(caller: Caller<'_>, order: OrderId, key: &str) -> String {
    use sha2::Digest;
    let scope = format!("{}|{}|{order}|{key}", caller.tenant(), caller.principal.user_id);
    let digest = sha2::Sha256::digest(scope.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("refund-{}", Uuid::from_bytes(bytes))
}

/// The amount a refund request asks for, checked against the order as read (the store checks
/// it again when it reserves it).
fn refund_amount(order: &Order, requested: Option<i64>) -> Result<u64, ApiError> {
    if order.settled_by.is_some() {
        return Err(not_refundable("the event was cancelled; its cancellation refunds this order"));
    }
    let left = order.refundable();
    let exceeds = |asked: String| {
        ApiError::RefundExceedsRemaining(format!(
            "{asked}, but only {left} of {} is left after refunded and pending refunds",
            order.totals.total
        ))
    };
    match requested {
        None if left == 0 => Err(exceeds("a refund of what is left was asked".into())),
        None => Ok(left),
        Some(amount) => match u64::try_from(amount) {
            Ok(amount) if amount <= left => Ok(amount),
            _ => Err(exceeds(format!("{amount} was asked"))),
        },
    }
}

fn not_refundable(detail: &str) -> ApiError {
    ApiError::conflict("ORDER_NOT_REFUNDABLE", detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reservation::{OrderStatus, Totals};

    fn order(total: u64, committed: u64, status: OrderStatus) -> Order {
        let json = json!({
            "id": Uuid::nil(), "reservation_id": Uuid::nil(), "event_id": Uuid::nil(), "customer_id": "c",
            "items": [], "subtotal": total, "fees": 0, "tax": 0, "total": total, "currency": "USD",
            "status": status, "payment_reference": "pi", "refunded_amount": 0,
            "created_at": "2027-01-01T00:00:00Z", "committed_amount": committed,
        });
        let order: Order = serde_json::from_value(json).unwrap();
        assert_eq!(order.totals, Totals { subtotal: total, fees: 0, tax: 0, total });
        order
    }

    #[test]
    fn a_refund_defaults_to_what_is_left_and_never_exceeds_it() {
        let half_promised = order(10_000, 6_000, OrderStatus::RefundPending);
        assert_eq!(refund_amount(&half_promised, None).unwrap(), 4_000);
        assert_eq!(refund_amount(&half_promised, Some(4_000)).unwrap(), 4_000);
        assert!(matches!(refund_amount(&half_promised, Some(4_001)), Err(ApiError::RefundExceedsRemaining(_))));
        let all_promised = order(10_000, 10_000, OrderStatus::RefundPending);
        assert!(matches!(refund_amount(&all_promised, None), Err(ApiError::RefundExceedsRemaining(_))));
        let refunded = order(10_000, 10_000, OrderStatus::Refunded);
        assert!(matches!(refund_amount(&refunded, None), Err(ApiError::RefundExceedsRemaining(_))));
    }

    use proptest::strategy::{Just, Strategy};

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { failure_persistence: None, ..Default::default() })]

        /// Accepted refunds never add up to more than the total: the amount granted is what
        /// was asked (or all that is left), and never more than what is left.
        #[test]
        fn a_refund_is_granted_exactly_when_it_fits_what_is_left(
            (total, committed, asked) in (0u64..=99_999_999 * 100, 0u64..=100).prop_flat_map(|(total, share)| {
                let committed = total * share / 100;
                let left = i64::try_from(total - committed).unwrap();
                // What `RefundInput::validate` lets through (none, or at least 1), around what is left.
                let asked = proptest::option::of(proptest::prop_oneof![
                    Just(left.max(1)),
                    Just(left + 1),
                    Just(1),
                    1..=left.max(1),
                    1i64..=i64::MAX
                ]);
                (Just(total), Just(committed), asked)
            }),
        ) {
            let left = total - committed;
            let granted = refund_amount(&order(total, committed, OrderStatus::Confirmed), asked);
            let expected = match asked {
                None => (left > 0).then_some(left),
                Some(a) => u64::try_from(a).ok().filter(|a| *a <= left),
            };
            match (granted, expected) {
                (Ok(amount), Some(expected)) => proptest::prop_assert_eq!(amount, expected),
                (Err(ApiError::RefundExceedsRemaining(_)), None) => {}
                (outcome, expected) => proptest::prop_assert!(false, "{asked:?} of {left} left: {outcome:?}, expected {expected:?}"),
            }
        }

        #[test]
        fn a_refund_request_needs_a_reason_and_a_positive_amount(
            reason in "[ a-z]{0,3}|[a-z]{1000,1001}",
            amount in proptest::option::of(-3i64..3),
        ) {
            let input = RefundInput { reason: reason.clone(), amount };
            let chars = reason.chars().count();
            let valid = !reason.trim().is_empty() && chars <= 1000 && amount.is_none_or(|a| a >= 1);
            proptest::prop_assert_eq!(input.validate().is_ok(), valid, "{:?} {:?}", reason, amount);
        }
    }
}
