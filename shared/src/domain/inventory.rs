//! An event with its ticket types: the aggregate whose counts every hold, confirmation and
//! release moves, and from which the event's availability is read.

use super::event::{Availability, Event};
use super::ids::TicketTypeId;
use super::ticket_type::TicketType;

/// An event with the counts of its ticket types, ordered by ticket-type id.
#[derive(Debug, Clone)]
pub struct EventInventory {
    pub event: Event,
    pub ticket_types: Vec<TicketType>,
    pub availability: Availability,
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
        Self { event, ticket_types, availability }
    }

    pub fn ticket_type(&self, id: TicketTypeId) -> Option<&TicketType> {
        self.ticket_types.iter().find(|t| t.id == id)
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
}
