//! ON_SALE ⇄ SOLD_OUT follows availability. Checked after every change of counters; the flip
//! is a transaction conditioned on the counters it is based on, so a flip computed from a
//! read that is already stale does not commit.

use std::time::Duration;

use crate::deps::Deps;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, TenantId};
use crate::store::StoreError;

/// How long a status flip may hold up the answer to the change that called for it.
const FOLLOW_BUDGET: Duration = Duration::from_secs(3);

/// Flips the event's status if its availability calls for it. Failures are logged, not
/// returned: the sale or release that triggered this has already happened, and the next change
/// of the counters flips the status again. A slow database costs the caller at most
/// [`FOLLOW_BUDGET`], so a committed hold is never answered after its function's timeout.
pub async fn follow(deps: &Deps, tenant: TenantId, event: EventId) {
    match tokio::time::timeout(FOLLOW_BUDGET, flip_if_due(deps, tenant, event)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, %event, "could not update sold-out status"),
        Err(_) => tracing::warn!(%event, budget = ?FOLLOW_BUDGET, "sold-out status not updated in time"),
    }
}

async fn flip_if_due(deps: &Deps, tenant: TenantId, event: EventId) -> Result<(), StoreError> {
    let Some(stored) = deps.store.get_event(tenant, event).await? else { return Ok(()) };
    if stored.ticket_types.is_empty() {
        return Ok(());
    }
    let available = stored.availability.available;
    match stored.event.status {
        EventStatus::OnSale if available == 0 => {
            deps.store.mark_sold_out(tenant, &stored).await?;
        }
        // Only an automatic sell-out reopens; an organizer's SOLD_OUT closed sales on purpose.
        EventStatus::SoldOut if available > 0 && stored.ticket_types.iter().any(|t| t.sales_open) => {
            deps.store.reopen_sales(tenant, &stored).await?;
        }
        _ => {}
    }
    Ok(())
}
