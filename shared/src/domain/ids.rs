//! One type per kind of id, so a store call cannot take an event's id where it wants an order's,
//! nor a tenant's where it wants either. Each is a UUID on the wire and in the table (serde sees
//! through it), and new ids are version 7: time-ordered, so the table's sort keys keep creation order.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_types {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id. (No `Default`: a missing id must never quietly become a new one.)
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    )+};
}

id_types! {
    /// An organisation using the service; it comes from the verified token and nowhere else.
    TenantId;
    VenueId;
    EventId;
    TicketTypeId;
    /// A hold, which a confirmation turns into an order.
    ReservationId;
    OrderId;
    /// One cancellation of an event (an event is cancelled at most once).
    CancellationId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_in_text_and_json() {
        let uuid = Uuid::now_v7();
        let event = EventId::from_uuid(uuid);
        assert_eq!(event.to_string(), uuid.to_string());
        assert_eq!(serde_json::to_value(event).unwrap(), serde_json::json!(uuid.to_string()));
        assert_eq!(serde_json::from_value::<EventId>(serde_json::json!(uuid.to_string())).unwrap(), event);
        assert_eq!(uuid.to_string().parse::<EventId>().unwrap(), event);
        assert!("not-a-uuid".parse::<OrderId>().is_err());
    }

    #[test]
    fn new_ids_sort_in_creation_order() {
        let first = OrderId::generate();
        let second = OrderId::generate();
        assert!(first < second);
    }
}
