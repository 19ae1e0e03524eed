//! One event and one ticket type for the domain's unit tests to start from; a test changes what
//! it is about with struct update syntax (`TicketType { sold: 5, ..fixtures::ticket_type() }`).

use chrono::{DateTime, Duration, Utc};

use super::event::{Event, EventStatus, Visibility};
use super::ids::{EventId, TicketTypeId, VenueId};
use super::ticket_type::TicketType;

/// A public event on sale, starting in 30 days and lasting three hours.
pub fn event() -> Event {
    let now = Utc::now();
    Event {
        id: EventId::generate(),
        venue_id: VenueId::generate(),
        name: "Show".into(),
        slug: "show".into(),
        description: None,
        short_description: None,
        category: None,
        tags: Vec::new(),
        visibility: Visibility::Public,
        status: EventStatus::OnSale,
        starts_at: now + Duration::days(30),
        ends_at: now + Duration::days(30) + Duration::hours(3),
        doors_open_at: None,
        timezone: "UTC".into(),
        capacity: 1000,
        cancellation_deadline_hours: 24,
        image_url: None,
        age_restriction: None,
        metadata: serde_json::Map::new(),
        created_by: "organizer".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// [`event`] in `status` (as the API spells it), starting at `starts_at` and lasting three hours.
pub fn event_at(status: &str, starts_at: DateTime<Utc>) -> Event {
    let status: EventStatus = serde_json::from_value(serde_json::json!(status)).expect("a status");
    Event { status, starts_at, ends_at: starts_at + Duration::hours(3), ..event() }
}

/// 100 tickets of 5000 USD, none sold, fees 500 + 250, tax 800 bps, 1 to 10 per order, always on sale.
pub fn ticket_type() -> TicketType {
    let now = Utc::now();
    TicketType {
        id: TicketTypeId::generate(),
        event_id: EventId::generate(),
        name: "General".into(),
        description: None,
        price: 5000,
        currency: "USD".into(),
        quantity: 100,
        service_fee: 500,
        facility_fee: 250,
        tax_rate_bps: 800,
        sales_start_at: None,
        sales_end_at: None,
        min_per_order: 1,
        max_per_order: 10,
        pricing: None,
        version: 1,
        available: 100,
        reserved: 0,
        sold: 0,
        sales_open: true,
        created_at: now,
        updated_at: now,
    }
}
