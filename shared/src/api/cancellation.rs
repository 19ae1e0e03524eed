//! Event cancellation and refunds.
//!
//! `POST /cancel` marks the event `CANCELLED` and records the cancellation in one transaction,
//! voids open holds and enqueues one fan-out job. The fan-out pages through the event's orders,
//! sends one refund message per order (batches of 10) and checkpoints its cursor after each
//! page. The refund consumer refunds each order under conditional state transitions with a
//! deterministic idempotency key, counts it once, and notifies each holder once. Every step can
//! crash or run twice without refunding twice.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::events::load_managed;
use super::{Caller, Deps};
use crate::auth::Role;
use crate::domain::cancellation::{CancelInput, RefundPolicy};
use crate::domain::event::EventStatus;
use crate::domain::fields;
use crate::domain::reservation::{Order, OrderStatus, ReservationStatus};
use crate::error::{ApiError, FieldError, field_code};
use crate::http::{json_response, parse_body, path_id};
use crate::store::cancellation::Notification;

/// The refund queue's `maxReceiveCount`: the delivery that fails for the last time marks the
/// order `REFUND_FAILED` before SQS moves the message to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;
/// Orders per fan-out page, and so per `SendMessageBatch`.
const PAGE: usize = 10;
/// A fan-out run hands over to a fresh invocation after this long, well inside its timeout.
const FANOUT_BUDGET: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanOutMessage {
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub cancellation_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundMessage {
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub order_id: Uuid,
    /// Also the payment provider's idempotency key: the same refund is always the same key.
    pub refund_id: String,
    pub amount: u64,
    pub cancellation_id: Option<Uuid>,
}

/// Published once per distinct holder of a cancelled event (see docs/notifications.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HolderNotification {
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub cancellation_id: Uuid,
    pub customer_id: String,
    pub reason: String,
    pub refund_policy: RefundPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::store::StoreError> for JobError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Api(error.into())
    }
}

// ---- HTTP ----

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
            if event.status == EventStatus::Cancelled {
                resume_stalled_fan_out(caller.deps, caller.tenant(), event_id).await;
            }
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
            void_holds(caller.deps, caller.tenant(), event_id).await;
            let message = FanOutMessage { tenant_id: caller.tenant(), event_id, cancellation_id: cancellation.id };
            if let Err(error) = send(caller.deps, caller.deps.queues.cancellation.as_deref(), &message, 0).await {
                // The cancellation stands; asking to cancel again re-sends the job (harmless).
                tracing::error!(%error, %event_id, "fan-out job not enqueued");
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
    amount: Option<i64>,
}

pub async fn refund_order(caller: Caller<'_>, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.require_staff()?;
    let order_id = path_id(req, "order_id")?;
    let input: RefundInput = parse_body(req)?;
    fields::text("reason", &input.reason, 1, 1000).map_err(|e| ApiError::BadRequest(vec![e]))?;
    let order = caller.deps.store.get_order(caller.tenant(), order_id).await?.ok_or(ApiError::NotFound)?;
    if !matches!(order.status, OrderStatus::Confirmed | OrderStatus::PartiallyRefunded) {
        return Err(ApiError::conflict(
            "ORDER_NOT_REFUNDABLE",
            "only confirmed or partially refunded orders can be refunded",
        ));
    }
    let remaining = order.totals.total - order.refunded_amount;
    let amount = match input.amount {
        None => remaining,
        Some(amount) if amount >= 1 && u64::try_from(amount).is_ok_and(|a| a <= remaining) => {
            u64::try_from(amount).unwrap_or(0)
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(vec![FieldError::new(
                "amount",
                field_code::OUT_OF_RANGE,
                format!("amount must be from 1 to {remaining} (total minus what was refunded)"),
            )]));
        }
    };
    let refund_id = format!("refund-{}", Uuid::now_v7());
    let message = RefundMessage {
        tenant_id: caller.tenant(),
        event_id: order.event_id,
        order_id,
        refund_id: refund_id.clone(),
        amount,
        cancellation_id: None,
    };
    send(caller.deps, caller.deps.queues.refunds.as_deref(), &message, 0)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({ "refund": { "id": refund_id, "order_id": order_id, "amount": amount, "status": "PENDING" } }),
    ))
}

// ---- jobs ----

/// The fan-out queue's consumer.
pub async fn handle_fan_out(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let result = match serde_json::from_str::<FanOutMessage>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => fan_out(deps, &message).await,
            Err(error) => Err(error.into()),
        };
        if let Err(error) = result {
            tracing::warn!(%error, message_id = %id, "fan-out stopped; SQS will redeliver and it resumes at its checkpoint");
            response.add_failure(id);
        }
    }
    response
}

async fn fan_out(deps: &Deps, message: &FanOutMessage) -> Result<(), JobError> {
    let (tenant, started) = (message.tenant_id, Instant::now());
    let mut pages = 0;
    loop {
        let Some(cancellation) = deps.store.get_cancellation(tenant, message.event_id).await? else { return Ok(()) };
        if cancellation.id != message.cancellation_id {
            return Ok(());
        }
        if cancellation.fanout_done {
            return finish_if_done(deps, tenant, message.event_id).await;
        }
        if cancellation.fanout_pages == 0 && pages == 0 {
            // Holds placed just before the cancel may reach the index late; void them again.
            void_holds(deps, tenant, message.event_id).await;
        }
        let start = cancellation.fanout_cursor.as_deref().map(decode_cursor).transpose()?;
        let page = deps.store.list_event_orders(tenant, message.event_id, PAGE, start).await?;
        let refunds: Vec<RefundMessage> = page
            .items
            .iter()
            .map(|order| RefundMessage {
                tenant_id: tenant,
                event_id: message.event_id,
                order_id: order.id,
                refund_id: format!("cancel-{}-{}", cancellation.id, order.id),
                amount: cancellation.refund_for(order.totals.total, order.refunded_amount),
                cancellation_id: Some(cancellation.id),
            })
            .collect();
        send_batch(deps, deps.queues.refunds.as_deref(), &refunds).await?;
        pages += 1;
        if deps.fanout_stop_after_pages.is_some_and(|limit| pages >= limit) {
            // Test hook: die between sending a page and checkpointing it, like a crash would.
            return Err(JobError::Failed(format!("stopped by FANOUT_STOP_AFTER_PAGES after {pages} pages")));
        }
        let next = page.next.as_ref().map(encode_cursor);
        deps.store.checkpoint_fanout(tenant, &cancellation, next, refunds.len() as u64).await?;
        if started.elapsed() > FANOUT_BUDGET {
            send(deps, deps.queues.cancellation.as_deref(), message, 0).await.map_err(JobError::Failed)?;
            return Ok(());
        }
    }
}

/// The refund queue's consumer.
pub async fn handle_refunds(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let result = match serde_json::from_str::<RefundMessage>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => refund(deps, &message, receives).await,
            Err(error) => Err(error.into()),
        };
        if let Err(error) = result {
            tracing::warn!(%error, message_id = %id, receives, "refund failed; SQS will redeliver it");
            response.add_failure(id);
        }
    }
    response
}

async fn refund(deps: &Deps, message: &RefundMessage, receives: u32) -> Result<(), JobError> {
    let tenant = message.tenant_id;
    let Some(order) = deps.store.get_order(tenant, message.order_id).await? else {
        tracing::warn!(order = %message.order_id, "refund for an unknown order dropped");
        return Ok(());
    };
    let last_attempt = receives >= MAX_RECEIVES;
    let outcome = if message.amount == 0 {
        match message.cancellation_id {
            Some(cancellation) => {
                deps.store.settle_without_refund(tenant, &order, cancellation).await.map(|_| ()).map_err(JobError::from)
            }
            None => Ok(()),
        }
    } else {
        pay_back(deps, &order, message, last_attempt).await
    };
    if let Some(cancellation) = message.cancellation_id
        && (outcome.is_ok() || last_attempt)
    {
        notify(deps, tenant, message.event_id, cancellation, &order).await?;
        finish_if_done(deps, tenant, message.event_id).await?;
    }
    outcome
}

/// Moves the order to `REFUND_PENDING` for this refund (or finds it there), calls the
/// provider with the refund's own idempotency key, and records the result.
async fn pay_back(deps: &Deps, order: &Order, message: &RefundMessage, last_attempt: bool) -> Result<(), JobError> {
    let (tenant, id) = (message.tenant_id, message.refund_id.as_str());
    let mine = |o: &Order| o.pending_refund_id.as_deref() == Some(id);
    let applied = |o: &Order| o.refund_ids.iter().any(|r| r == id);
    if applied(order) {
        return Ok(());
    }
    let order = if mine(order) || deps.store.begin_refund(tenant, order, id, message.amount).await? {
        order.clone()
    } else {
        let fresh =
            deps.store.get_order(tenant, order.id).await?.ok_or_else(|| JobError::Failed("order vanished".into()))?;
        if applied(&fresh) || fresh.status == OrderStatus::RefundFailed {
            return Ok(()); // settled already, one way or the other
        }
        if !mine(&fresh) {
            return Err(JobError::Failed(format!("order is {:?}; will retry", fresh.status)));
        }
        fresh
    };
    let payments = deps.payments.as_ref().ok_or_else(|| JobError::Failed("no payment provider configured".into()))?;
    match payments.refund(&order.payment_reference, message.amount, id).await {
        Ok(_) => {
            deps.store.end_refund(tenant, &order, id, Some(message.amount), message.cancellation_id).await?;
            Ok(())
        }
        Err(error) => {
            if last_attempt {
                deps.store.end_refund(tenant, &order, id, None, message.cancellation_id).await?;
            }
            Err(JobError::Failed(error.to_string()))
        }
    }
}

async fn notify(deps: &Deps, tenant: Uuid, event: Uuid, cancellation_id: Uuid, order: &Order) -> Result<(), JobError> {
    let Some(cancellation) = deps.store.get_cancellation(tenant, event).await? else { return Ok(()) };
    if !cancellation.notify_holders || cancellation.id != cancellation_id {
        return Ok(());
    }
    match deps.store.claim_notification(tenant, event, cancellation_id, &order.customer_id).await? {
        Notification::Sent => Ok(()),
        Notification::Claimed | Notification::Unsent => {
            let message = HolderNotification {
                kind: "event.cancelled".into(),
                tenant_id: tenant,
                event_id: event,
                cancellation_id,
                customer_id: order.customer_id.clone(),
                reason: cancellation.reason.clone(),
                refund_policy: cancellation.refund_policy,
            };
            send(deps, deps.queues.notifications.as_deref(), &message, 0).await.map_err(JobError::Failed)?;
            deps.store.mark_notified(tenant, cancellation_id, &order.customer_id).await?;
            Ok(())
        }
    }
}

async fn finish_if_done(deps: &Deps, tenant: Uuid, event: Uuid) -> Result<(), JobError> {
    if let Some(cancellation) = deps.store.get_cancellation(tenant, event).await?
        && cancellation.fanout_done
        && cancellation.orders_settled >= cancellation.orders_total
    {
        deps.store.complete_cancellation(tenant, &cancellation).await?;
    }
    Ok(())
}

async fn void_holds(deps: &Deps, tenant: Uuid, event: Uuid) {
    let holds = match deps.store.held_reservations_of(tenant, event).await {
        Ok(holds) => holds,
        Err(error) => return tracing::warn!(%error, %event, "could not list holds to void"),
    };
    for hold in holds {
        if let Err(error) = deps.store.end_hold(tenant, &hold, ReservationStatus::Cancelled, crate::domain::now()).await
        {
            tracing::warn!(%error, reservation = %hold.id, "could not void a hold; it will expire on time");
        }
    }
}

async fn resume_stalled_fan_out(deps: &Deps, tenant: Uuid, event: Uuid) {
    if let Ok(Some(cancellation)) = deps.store.get_cancellation(tenant, event).await
        && !cancellation.fanout_done
    {
        let message = FanOutMessage { tenant_id: tenant, event_id: event, cancellation_id: cancellation.id };
        if let Err(error) = send(deps, deps.queues.cancellation.as_deref(), &message, 0).await {
            tracing::warn!(%error, %event, "could not re-enqueue the fan-out");
        }
    }
}

async fn send(deps: &Deps, queue: Option<&str>, message: &impl Serialize, delay: i32) -> Result<(), String> {
    let queue = queue.ok_or("queue not configured")?;
    let body = serde_json::to_string(message).map_err(|e| e.to_string())?;
    deps.sqs
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .delay_seconds(delay)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
}

async fn send_batch(deps: &Deps, queue: Option<&str>, messages: &[RefundMessage]) -> Result<(), JobError> {
    if messages.is_empty() {
        return Ok(());
    }
    let queue = queue.ok_or_else(|| JobError::Failed("refund queue not configured".into()))?;
    let entries = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let body = serde_json::to_string(m)?;
            Ok(SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .expect("id and body are set"))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let output = deps
        .sqs
        .send_message_batch()
        .queue_url(queue)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| JobError::Failed(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    if output.failed.is_empty() {
        Ok(())
    } else {
        Err(JobError::Failed(format!("{} refund messages not sent", output.failed.len())))
    }
}

fn encode_cursor(key: &crate::cursor::PageKey) -> String {
    let strings: std::collections::BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    serde_json::to_string(&strings).expect("strings serialize")
}

fn decode_cursor(raw: &str) -> Result<crate::cursor::PageKey, JobError> {
    let strings: std::collections::BTreeMap<String, String> = serde_json::from_str(raw)?;
    Ok(strings.into_iter().map(|(k, v)| (k, aws_sdk_dynamodb::types::AttributeValue::S(v))).collect())
}
