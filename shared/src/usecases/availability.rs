//! After counters move: ON_SALE ⇄ SOLD_OUT follows availability, and the event item's listed
//! copy of the counts ([`ListedCounts`]) is kept close to them. The flip is a transaction
//! conditioned on the counters it is based on, so a flip computed from a read that is already
//! stale does not commit; the copy is rewritten only from a later read than its own.

use std::time::Duration;

use crate::deps::Deps;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, TenantId, TicketTypeId};
use crate::domain::inventory::{EventForSale, EventInventory, ListedCounts};
use crate::store::StoreError;

/// How long a status flip may hold up the answer to the change that called for it.
const FOLLOW_BUDGET: Duration = Duration::from_secs(3);

/// What moved the counts: it decides how soon a list must see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Holds, releases, expiries, confirmations: frequent, so a list sees them within
    /// [`ListedCounts::MAX_AGE`] of the next change.
    Sales,
    /// A ticket type added or changed: rare, and a list shows it at once.
    TicketTypes,
    /// A page of holds voided by a cancellation: a list shows it at once.
    Cancellation,
}

/// Flips the event's status if its availability calls for it and refreshes its listed counts.
/// Failures are logged, not returned: the sale or release that triggered this has already
/// happened, and the next hold, release or expiry does this again (a confirm moves no available
/// ticket and does not flip). A slow database costs the
/// caller at most [`FOLLOW_BUDGET`], so a committed hold is never answered after its
/// function's timeout.
pub async fn follow(deps: &Deps, tenant: TenantId, event: EventId, change: Change) {
    within_budget(event, Box::pin(follow_now(deps, tenant, event, change))).await;
}

/// [`follow`] for a hold that took from `taken`, with the event as the hold read it. Only those
/// types are read again; the whole event only when one of them ran out (the event may have sold
/// out) or the listed copy is stale, so a hold's reads do not grow with the event's types.
pub async fn follow_hold(deps: &Deps, tenant: TenantId, sale: &EventForSale, taken: &[TicketTypeId]) {
    let event = sale.event.id;
    let check = async {
        let now_types = deps.store.ticket_types_by_id(tenant, event, taken).await?;
        let ran_out = now_types.iter().any(|t| t.available == 0);
        if ran_out || ListedCounts::is_stale(sale.listed.as_ref(), crate::domain::now()) {
            Box::pin(follow_now(deps, tenant, event, Change::Sales)).await?;
        }
        Ok(())
    };
    within_budget(event, Box::pin(check)).await;
}

/// After a change that moves no available ticket (a confirmation, which never calls for a
/// flip): the listed copy alone is refreshed, if the caller's read found it stale.
pub async fn refresh_listed_if_stale(deps: &Deps, tenant: TenantId, sale: &EventForSale) {
    if ListedCounts::is_stale(sale.listed.as_ref(), crate::domain::now()) {
        let event = sale.event.id;
        within_budget(event, Box::pin(rewrite_now(deps, tenant, event))).await;
    }
}

async fn rewrite_now(deps: &Deps, tenant: TenantId, event: EventId) -> Result<(), StoreError> {
    let Some(stored) = deps.store.get_event(tenant, event).await? else { return Ok(()) };
    rewrite(deps, tenant, &stored, false).await
}

/// The futures come boxed: a status flip and a rewrite are large, and every caller awaits this.
async fn within_budget(event: EventId, work: std::pin::Pin<Box<impl Future<Output = Result<(), StoreError>>>>) {
    match tokio::time::timeout(FOLLOW_BUDGET, work).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, %event, "could not bring sold-out status and listed counts up to date");
        }
        Err(_) => {
            tracing::warn!(%event, budget = ?FOLLOW_BUDGET, "sold-out status and listed counts not updated in time");
        }
    }
}

async fn follow_now(deps: &Deps, tenant: TenantId, event: EventId, change: Change) -> Result<(), StoreError> {
    let Some(stored) = deps.store.get_event(tenant, event).await? else { return Ok(()) };
    let available = stored.availability.available;
    let flipped = match stored.event.status {
        _ if stored.ticket_types.is_empty() => false,
        EventStatus::OnSale if available == 0 => deps.store.mark_sold_out(tenant, &stored).await?,
        // Only an automatic sell-out reopens; an organizer's SOLD_OUT closed sales on purpose.
        EventStatus::SoldOut if available > 0 && stored.ticket_types.iter().any(|t| t.sales_open) => {
            deps.store.reopen_sales(tenant, &stored).await?
        }
        _ => false,
    };
    // A copy that disagrees with the counts about being sold out is rewritten at once too: the
    // flip's own rewrite can lose to a sales rewrite from an earlier read, and the last holder's
    // read (after its commit) must then put it right.
    let sold_out_differs = stored.listed.is_none_or(|l| (l.available == 0) != (stored.availability.available == 0));
    rewrite(deps, tenant, &stored, flipped || sold_out_differs || change != Change::Sales).await
}

/// Rewrites the listed copy from `stored` if [`ListedCounts::needs_rewrite`] says so. After
/// sales only one writer a second wins, however many holds saw the copy stale at once.
async fn rewrite(deps: &Deps, tenant: TenantId, stored: &EventInventory, urgent: bool) -> Result<(), StoreError> {
    if !ListedCounts::needs_rewrite(stored.listed.as_ref(), stored.availability, stored.read_at, urgent) {
        return Ok(());
    }
    let min_age = if urgent { std::time::Duration::ZERO } else { ListedCounts::MAX_AGE };
    deps.store.rewrite_listed(tenant, stored.event.id, stored.availability, stored.read_at, min_age).await?;
    Ok(())
}
