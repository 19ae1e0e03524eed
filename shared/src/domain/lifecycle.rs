//! The moves an event makes on time, without anyone asking: PUBLISHED → ON_SALE when the first
//! ticket type's `sales_start_at` passes, ON_SALE → SALES_PAUSED when every sales window has closed, → IN_PROGRESS
//! at `starts_at`, IN_PROGRESS → COMPLETED at `ends_at`. Each is a move the state machine allows, so
//! a scheduled run takes the same path a person could. A pause someone chose is never undone here:
//! nothing moves SALES_PAUSED back to ON_SALE on its own.

use chrono::{DateTime, Utc};

use super::event::{Event, EventStatus};
use super::ticket_type::TicketType;

/// The move due at `now`, if any. One at a time: an event late by several moves (its start and
/// its end both passed while ON_SALE) takes them one after another.
pub fn due_move(event: &Event, ticket_types: &[TicketType], now: DateTime<Utc>) -> Option<EventStatus> {
    use EventStatus::{Completed, InProgress, OnSale, Published, SalesPaused, SoldOut};
    let to = match event.status {
        InProgress if now >= event.ends_at => Completed,
        OnSale | SalesPaused | SoldOut if now >= event.starts_at => InProgress,
        // Opened, even if already closed again: a late run then takes ON_SALE → SALES_PAUSED next,
        // instead of leaving the event PUBLISHED, from where it could never start. Only a set
        // `sales_start_at` opens sales on time: a type without one sells once a person puts the
        // event on sale, so publishing never starts sales by surprise.
        Published if ticket_types.iter().any(|t| t.sales_start_at.is_some_and(|start| start <= now)) => OnSale,
        OnSale if all_windows_closed(ticket_types, now) => SalesPaused,
        _ => return None,
    };
    debug_assert!(event.status.next_allowed().contains(&to), "{:?} → {to:?}", event.status);
    Some(to)
}

/// When a move may next fall due (a time after `now`), for the index the scheduled job reads;
/// `None` when none can without someone changing the event or its ticket types first.
pub fn next_move_at(event: &Event, ticket_types: &[TicketType], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use EventStatus::{InProgress, OnSale, Published, SalesPaused, SoldOut};
    let later = |at: DateTime<Utc>| (at > now).then_some(at);
    match event.status {
        InProgress => later(event.ends_at),
        SalesPaused | SoldOut => later(event.starts_at),
        OnSale => {
            let closing = last_window_end(ticket_types).and_then(later);
            [closing, later(event.starts_at)].into_iter().flatten().min()
        }
        // Sales windows end by the event's start, so a type whose window opens later opens before it.
        Published => ticket_types.iter().filter_map(|t| t.sales_start_at.and_then(later)).min(),
        _ => None,
    }
}

/// When the scheduled job should look at the event again: now if a move is already due (a late
/// event takes its moves one run after another), else when the next may fall due.
pub fn next_look_at(event: &Event, ticket_types: &[TicketType], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match due_move(event, ticket_types, now) {
        Some(_) => Some(now),
        None => next_move_at(event, ticket_types, now),
    }
}

/// Statuses the scheduled job may move an event out of; events in any other wait for a person.
pub fn moves_on_time(status: EventStatus) -> bool {
    use EventStatus::{InProgress, OnSale, Published, SalesPaused, SoldOut};
    matches!(status, Published | OnSale | SalesPaused | SoldOut | InProgress)
}

/// Every type's window has an end and all of them have passed (an event with no types has no
/// window to close).
fn all_windows_closed(ticket_types: &[TicketType], now: DateTime<Utc>) -> bool {
    last_window_end(ticket_types).is_some_and(|end| end <= now)
}

/// The latest end of the types' sales windows; `None` if there are no types or one never ends.
fn last_window_end(ticket_types: &[TicketType]) -> Option<DateTime<Utc>> {
    let ends: Option<Vec<DateTime<Utc>>> = ticket_types.iter().map(|t| t.sales_end_at).collect();
    ends?.into_iter().max()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::fixtures;

    fn event(status: &str, starts_at: DateTime<Utc>) -> Event {
        fixtures::event_at(status, starts_at)
    }

    fn window(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> TicketType {
        TicketType { sales_start_at: start, sales_end_at: end, ..fixtures::ticket_type() }
    }

    #[test]
    fn an_event_walks_from_published_to_completed_on_time() {
        let t0 = Utc::now();
        let starts = t0 + Duration::days(10);
        let types = [
            window(Some(t0 + Duration::days(1)), Some(t0 + Duration::days(5))),
            window(Some(t0 + Duration::days(2)), Some(t0 + Duration::days(8))),
        ];
        let at = |status: &str, now| due_move(&event(status, starts), &types, now);
        let next = |status: &str, now| next_move_at(&event(status, starts), &types, now);

        assert_eq!((at("PUBLISHED", t0), next("PUBLISHED", t0)), (None, Some(t0 + Duration::days(1))));
        let opened = t0 + Duration::days(1);
        assert_eq!(at("PUBLISHED", opened), Some(EventStatus::OnSale), "the first window opens");
        assert_eq!((at("ON_SALE", opened), next("ON_SALE", opened)), (None, Some(t0 + Duration::days(8))));
        let closed = t0 + Duration::days(8);
        assert_eq!(at("ON_SALE", closed), Some(EventStatus::SalesPaused), "the last window closed");
        assert_eq!(next("SALES_PAUSED", closed), Some(starts));
        assert_eq!(at("SALES_PAUSED", starts), Some(EventStatus::InProgress));
        assert_eq!(next("IN_PROGRESS", starts), Some(starts + Duration::hours(3)));
        assert_eq!(at("IN_PROGRESS", starts + Duration::hours(3)), Some(EventStatus::Completed));
        assert_eq!((at("COMPLETED", starts + Duration::days(1)), next("COMPLETED", starts)), (None, None));
    }

    #[test]
    fn a_late_run_takes_the_moves_one_after_another_and_a_chosen_pause_stays() {
        let now = Utc::now();
        let long_ago = now - Duration::days(2);
        let types = [window(None, None)];
        assert_eq!(due_move(&event("ON_SALE", long_ago), &types, now), Some(EventStatus::InProgress));
        assert_eq!(due_move(&event("IN_PROGRESS", long_ago), &types, now), Some(EventStatus::Completed));
        assert_eq!(due_move(&event("SOLD_OUT", long_ago), &types, now), Some(EventStatus::InProgress));
        // Paused by hand while windows are still open: nothing here resumes sales.
        let ahead = now + Duration::days(3);
        assert_eq!(due_move(&event("SALES_PAUSED", ahead), &types, now), None);
        // A type without a window waits for a person to start its sales, and once on sale they
        // never close before the start.
        assert_eq!(due_move(&event("PUBLISHED", ahead), &types, now), None);
        assert_eq!(next_move_at(&event("PUBLISHED", ahead), &types, now), None);
        assert_eq!(due_move(&event("ON_SALE", ahead), &types, now), None);
        assert_eq!(next_move_at(&event("ON_SALE", ahead), &types, now), Some(ahead));
        // A window that opened and closed before a late run: on sale first, then paused.
        let gone = [window(Some(now - Duration::days(2)), Some(now - Duration::days(1)))];
        assert_eq!(due_move(&event("PUBLISHED", ahead), &gone, now), Some(EventStatus::OnSale));
        assert_eq!(due_move(&event("ON_SALE", ahead), &gone, now), Some(EventStatus::SalesPaused));
        // No ticket types: nothing opens, nothing closes.
        assert_eq!(due_move(&event("PUBLISHED", ahead), &[], now), None);
        assert_eq!(due_move(&event("ON_SALE", ahead), &[], now), None);
        // Drafts, postponed and other hand-driven states never move on their own.
        for status in ["DRAFT", "REVIEW", "APPROVED", "POSTPONED", "RESCHEDULED", "CANCELLED", "COMPLETED"] {
            assert_eq!(due_move(&event(status, long_ago), &types, now), None, "{status}");
            assert_eq!(next_move_at(&event(status, ahead), &types, now), None, "{status}");
            assert!(!moves_on_time(event(status, ahead).status), "{status}");
        }
        for status in ["PUBLISHED", "ON_SALE", "SALES_PAUSED", "SOLD_OUT", "IN_PROGRESS"] {
            assert!(moves_on_time(event(status, ahead).status), "{status}");
        }
        // A move still due after one: look again at once; none due: at the next one's time.
        assert_eq!(next_look_at(&event("IN_PROGRESS", long_ago), &types, now), Some(now));
        assert_eq!(next_look_at(&event("ON_SALE", ahead), &types, now), Some(ahead));
        assert_eq!(next_look_at(&event("SALES_PAUSED", ahead), &[], now), Some(ahead));
    }
}
