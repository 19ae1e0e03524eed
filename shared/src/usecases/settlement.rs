//! The steps that settle a cancelled event's orders, shared by the fan-out and the refund
//! consumer: telling each holder once, and closing the cancellation when all is settled.

use crate::deps::Deps;
use crate::domain::cancellation::Cancellation;
use crate::domain::ids::{EventId, TenantId};
use crate::domain::reservation::Order;
use crate::messages::{HolderNotification, SendError, send};
use crate::store::StoreError;
use crate::store::cancellation::Notification;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Not known to be sent yet: the message comes back and finds it sent, or the claim stale.
    #[error("another delivery is notifying this holder")]
    InFlight,
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tells the order's holder once per cancellation (when the cancellation asks for it).
pub async fn notify(
    deps: &Deps,
    tenant: TenantId,
    cancellation: &Cancellation,
    order: &Order,
) -> Result<(), NotifyError> {
    if !cancellation.notify_holders {
        return Ok(());
    }
    let (event, cancellation_id) = (cancellation.event_id, cancellation.id);
    match deps.store.claim_notification(tenant, event, cancellation_id, &order.customer_id).await? {
        Notification::Sent => Ok(()),
        Notification::InFlight => Err(NotifyError::InFlight),
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
            send(deps.sqs.as_ref(), deps.queues.notifications.as_deref(), &message, 0).await?;
            deps.store.mark_notified(tenant, cancellation_id, &order.customer_id).await?;
            Ok(())
        }
    }
}

/// Marks the cancellation finished once the fan-out is done and every order it counted is settled.
pub async fn finish_if_done(deps: &Deps, tenant: TenantId, event: EventId) -> Result<(), StoreError> {
    if let Some(cancellation) = deps.store.get_cancellation(tenant, event).await?
        && cancellation.fanout_done
        && cancellation.orders_settled >= cancellation.orders_total
        && deps.store.complete_cancellation(tenant, &cancellation).await?
    {
        crate::monitoring::count(crate::monitoring::Metric::CancellationsFinished, 1);
    }
    Ok(())
}
