//! An event with its ticket types: the aggregate whose counts every hold, confirmation and
//! release moves, and from which the event's availability is read.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::event::{Availability, Event};
use super::ids::TicketTypeId;
use super::ticket_type::TicketType;

/// An event with the counts of its ticket types, ordered by ticket-type id.
#[derive(Debug, Clone)]
pub struct EventInventory {
    pub event: Event,
    pub ticket_types: Vec<TicketType>,
    pub availability: Availability,
    /// The copy of the counts a list shows, as stored on the event's item (absent on an item
    /// written before lists read it).
    pub listed: Option<ListedCounts>,
    /// When the counts were read (just before the read started): the time a copy of them carries.
    pub read_at: DateTime<Utc>,
}

impl EventInventory {
    /// A new event: nothing allocated, held or sold yet.
    pub fn without_ticket_types(event: Event) -> Self {
        Self::with_ticket_types(event, Vec::new())
    }

    pub fn with_ticket_types(event: Event, mut ticket_types: Vec<TicketType>) -> Self {
        ticket_types.sort_by_key(|t| t.id);
        let availability = Availability::from_ticket_types(
            event.capacity,
            ticket_types.iter().map(|t| (t.quantity, t.reserved, t.sold)),
        );
        Self { event, ticket_types, availability, listed: None, read_at: super::now() }
    }

    /// As read from the store: with the item's listed copy and the time of the read.
    pub fn as_read(self, listed: Option<ListedCounts>, read_at: DateTime<Utc>) -> Self {
        Self { listed, read_at, ..self }
    }

    pub fn ticket_type(&self, id: TicketTypeId) -> Option<&TicketType> {
        self.ticket_types.iter().find(|t| t.id == id)
    }
}

/// What a hold needs of an event: the event and the ticket types it asks for, read together
/// whatever the number of types the event has.
#[derive(Debug, Clone)]
pub struct EventForSale {
    pub event: Event,
    /// Only the types asked for that exist.
    pub ticket_types: Vec<TicketType>,
    pub listed: Option<ListedCounts>,
}

/// The copy of an event's counts kept on the event's own item, so a list reads each event's
/// availability with the event: one query for a page, however many events it holds. A single
/// event is always read with its ticket types, so its counts there are exact; a list's copy is
/// written with every whole write of the event item, at once after a ticket-type change, a
/// status flip or a cancellation's voided holds, and, while sales move the counts, at most once
/// per [`ListedCounts::MAX_AGE`] per event (the item must not become the hot key the ticket
/// types are there to avoid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedCounts {
    pub allocated: u32,
    pub available: u32,
    pub reserved: u32,
    pub sold: u32,
    /// When the counts were read.
    pub at: DateTime<Utc>,
}

impl ListedCounts {
    pub const MAX_AGE: Duration = Duration::from_secs(1);

    /// The counts a list shows, with the event's capacity.
    pub fn availability(&self, capacity: u32) -> Availability {
        Availability {
            capacity,
            allocated: self.allocated,
            available: self.available,
            reserved: self.reserved,
            sold: self.sold,
        }
    }

    /// Old enough to be rewritten after a sale: a copy younger than [`Self::MAX_AGE`] waits.
    pub fn is_stale(listed: Option<&Self>, now: DateTime<Utc>) -> bool {
        listed.is_none_or(|l| now - l.at >= chrono::Duration::from_std(Self::MAX_AGE).expect("a second fits"))
    }

    /// Whether the copy should be rewritten with `exact`, read at `now`: never when it already
    /// says the same; always when `urgent` (a status flip, a ticket-type change); otherwise only
    /// once it is stale.
    pub fn needs_rewrite(listed: Option<&Self>, exact: Availability, now: DateTime<Utc>, urgent: bool) -> bool {
        match listed {
            Some(l) if l.availability(exact.capacity) == exact => false,
            _ if urgent => true,
            listed => Self::is_stale(listed, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn event(capacity: u32) -> Event {
        Event { capacity, ..fixtures::event() }
    }

    fn ticket_type(id: TicketTypeId, quantity: u32, reserved: u32, sold: u32) -> TicketType {
        TicketType { id, quantity, reserved, sold, available: quantity - reserved - sold, ..fixtures::ticket_type() }
    }

    #[test]
    fn the_event_counts_are_the_sum_of_its_ticket_types() {
        let (first, second) = (TicketTypeId::generate(), TicketTypeId::generate());
        let inventory = EventInventory::with_ticket_types(
            event(500),
            vec![ticket_type(second, 100, 5, 20), ticket_type(first, 50, 1, 0)],
        );
        assert_eq!(
            inventory.availability,
            Availability { capacity: 500, allocated: 150, available: 124, reserved: 6, sold: 20 }
        );
        let order: Vec<TicketTypeId> = inventory.ticket_types.iter().map(|t| t.id).collect();
        assert_eq!(order, [first, second], "ordered by id, as the store reads them");
        assert_eq!(inventory.ticket_type(second).map(|t| t.sold), Some(20));
        assert!(inventory.ticket_type(TicketTypeId::generate()).is_none());
        assert!(inventory.availability.has_sales_or_holds());
        assert!(!EventInventory::without_ticket_types(event(10)).availability.has_sales_or_holds());
    }

    fn listed(available: u32, at: DateTime<Utc>) -> ListedCounts {
        ListedCounts { allocated: 10, available, reserved: 10 - available, sold: 0, at }
    }

    fn counts(available: u32) -> Availability {
        Availability { capacity: 20, allocated: 10, available, reserved: 10 - available, sold: 0 }
    }

    #[test]
    fn a_listed_copy_is_rewritten_when_it_differs_and_is_a_second_old_or_the_change_is_urgent() {
        let now = crate::domain::now();
        let fresh = listed(7, now - chrono::Duration::milliseconds(999));
        let stale = listed(7, now - chrono::Duration::seconds(1));
        assert!(!ListedCounts::needs_rewrite(Some(&fresh), counts(6), now, false), "a young copy waits");
        assert!(ListedCounts::needs_rewrite(Some(&fresh), counts(6), now, true), "unless the change is urgent");
        assert!(ListedCounts::needs_rewrite(Some(&stale), counts(6), now, false));
        assert!(!ListedCounts::needs_rewrite(Some(&stale), counts(7), now, true), "the same counts: no write");
        assert!(ListedCounts::needs_rewrite(None, counts(7), now, false), "an item without a copy gets one");
        assert!(ListedCounts::is_stale(None, now));
        assert!(!ListedCounts::is_stale(Some(&fresh), now));
        assert!(ListedCounts::is_stale(Some(&stale), now));
    }

    #[test]
    fn a_listed_copy_shows_the_event_s_capacity_and_its_own_counts() {
        let now = crate::domain::now();
        let copy = listed(4, now);
        assert_eq!(copy.availability(50), Availability { capacity: 50, ..counts(4) });
    }
}
