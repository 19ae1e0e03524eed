//! A hold's end on time: its expiry message, and ending it once due (the expiry consumer's
//! and the sweep's shared step).

use std::time::Duration;

use crate::deps::Deps;
use crate::domain::ids::{EventId, ReservationId, TenantId};
use crate::domain::reservation::{Reservation, ReservationStatus};
use crate::messages::{ExpiryMessage, send};
use crate::store::StoreError;

/// How long a hold's answer may wait for its expiry message. The hold is committed by then and
/// the sweep is the safety net, so a slow or frozen queue service costs at most this, never a
/// timed-out function (whose client would retry and could hold twice once the key lapses).
pub const EXPIRY_SEND_BUDGET: Duration = Duration::from_millis(1500);

/// Queues the hold's expiry. A failure is logged and left to the sweep, which is exactly the
/// case it exists for; the hold itself is already safely placed.
pub async fn schedule_expiry(deps: &Deps, tenant: TenantId, hold: &Reservation) {
    let message = ExpiryMessage { tenant_id: tenant, reservation_id: hold.id, expires_at: hold.expires_at };
    let delay = message.delay_seconds(crate::domain::now());
    let sent = send(deps.sqs.as_ref(), deps.queues.expiry.as_deref(), &message, delay);
    match tokio::time::timeout(EXPIRY_SEND_BUDGET, sent).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, reservation = %hold.id, "expiry message not sent; the sweep will expire this hold");
        }
        Err(_) => tracing::warn!(
            reservation = %hold.id,
            budget = ?EXPIRY_SEND_BUDGET,
            "expiry message not confirmed in time; the sweep will expire this hold if it was not sent"
        ),
    }
}

/// Expires one hold if it is still held and due, and puts its
/// event back on sale if that returned the last tickets of a sold-out event.
pub async fn expire(deps: &Deps, tenant: TenantId, reservation: ReservationId) -> Result<bool, StoreError> {
    let ended = end_if_due(deps, tenant, reservation).await?;
    if let Some(event) = ended {
        super::availability::follow(deps, tenant, event, super::availability::Change::Sales).await;
    }
    Ok(ended.is_some())
}

/// Expires one hold if it is still held and due; returns its event when it did. The caller
/// brings the event's status up to date ([`super::availability::follow`]), once per event.
pub async fn end_if_due(
    deps: &Deps,
    tenant: TenantId,
    reservation: ReservationId,
) -> Result<Option<EventId>, StoreError> {
    let Some(hold) = deps.store.get_reservation(tenant, reservation).await? else { return Ok(None) };
    let now = crate::domain::now();
    if hold.status != ReservationStatus::Held || now < hold.expires_at {
        return Ok(None);
    }
    let ended = deps.store.end_hold(tenant, &hold, ReservationStatus::Expired, now).await?;
    if ended {
        crate::monitoring::count(crate::monitoring::Metric::HoldsExpired, 1);
    }
    Ok(ended.then_some(hold.event_id))
}
