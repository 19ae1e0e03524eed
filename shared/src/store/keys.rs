//! Key builders for the single table. Every partition key starts with `T#<tenant>#`, and the
//! tenant always comes from the verified token, so one tenant's keys never reach another's
//! items. `docs/data-model.md` lists the access patterns these keys serve.

use chrono::{DateTime, Utc};

use crate::domain::ids::{EventId, OrderId, ReservationId, TenantId, TicketTypeId, VenueId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";

pub const EVENT_SK: &str = "EVENT";
pub const GUARD_SK: &str = "GUARD";
pub const RESERVATION_SK: &str = "RES";
pub const ORDER_SK: &str = "ORDER";
pub const HOLDS_SK: &str = "HOLDS";
/// Holds are spread over this many expiry-index partitions, so no single one runs hot.
pub const EXPIRY_SHARDS: u32 = 8;

pub fn venues_pk(tenant: TenantId) -> String {
    format!("T#{tenant}#VENUES")
}

pub fn venue_sk(venue: VenueId) -> String {
    format!("VENUE#{venue}")
}

pub fn event_pk(tenant: TenantId, event: EventId) -> String {
    format!("T#{tenant}#EVENT#{event}")
}

/// GSI1: all of a tenant's live events, by start time.
pub fn tenant_events_pk(tenant: TenantId) -> String {
    format!("T#{tenant}#EVENTS")
}

/// GSI2: one venue's live events, by start time.
pub fn venue_events_pk(tenant: TenantId, venue: VenueId) -> String {
    format!("T#{tenant}#VENUE#{venue}#EVENTS")
}

/// Sorts chronologically as a string: fixed-width UTC time, then the id to break ties.
pub fn starts_sort_key(starts_at: DateTime<Utc>, event: EventId) -> String {
    format!("{}#{event}", start_prefix(starts_at))
}

pub fn start_prefix(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The uniqueness guard for "same name, same venue, same local day".
pub fn event_name_guard_pk(tenant: TenantId, duplicate_key: &str) -> String {
    format!("T#{tenant}#EVENTNAME#{duplicate_key}")
}

pub fn ticket_type_sk(ticket_type: TicketTypeId) -> String {
    format!("TT#{ticket_type}")
}

pub const TICKET_TYPE_PREFIX: &str = "TT#";

pub fn reservation_pk(tenant: TenantId, reservation: ReservationId) -> String {
    format!("T#{tenant}#RES#{reservation}")
}

pub fn order_pk(tenant: TenantId, order: OrderId) -> String {
    format!("T#{tenant}#ORDER#{order}")
}

/// GSI1 for orders: one event's orders, oldest first.
pub fn event_orders_pk(tenant: TenantId, event: EventId) -> String {
    format!("T#{tenant}#EVENT#{event}#ORDERS")
}

/// Base table: one event's orders, written in the transaction that confirms each, so a
/// strongly consistent query finds every order committed before it (the fan-out's source).
pub fn order_log_pk(tenant: TenantId, event: EventId) -> String {
    format!("T#{tenant}#EVENT#{event}#ORDERLOG")
}

pub fn order_log_sk(order: OrderId) -> String {
    format!("ORDER#{order}")
}

/// GSI3: the cancellations still in progress, across tenants, for the resumer.
pub const ACTIVE_CANCELLATIONS: &str = "CANCELLATIONS#ACTIVE";

/// Base table: the one reservation a payment at the provider has paid for.
pub fn payment_claim_pk(payment_reference: &str) -> String {
    format!("PAYMENT#{}", key_part(payment_reference))
}

pub const PAYMENT_CLAIM_SK: &str = "CLAIM";

/// GSI1 for reservations: one event's holds while they are `HELD` (to void them on cancel).
pub fn event_holds_pk(tenant: TenantId, event: EventId) -> String {
    format!("T#{tenant}#EVENT#{event}#HOLDS")
}

/// GSI2 for orders: one customer's orders, oldest first.
pub fn customer_orders_pk(tenant: TenantId, customer: &str) -> String {
    format!("T#{tenant}#CUSTOMER#{}#ORDERS", key_part(customer))
}

/// The partition of a customer's counters (active holds, tickets per event).
pub fn customer_pk(tenant: TenantId, customer: &str) -> String {
    format!("T#{tenant}#CUSTOMER#{}", key_part(customer))
}

pub fn customer_event_sk(event: EventId) -> String {
    format!("EVENT#{event}")
}

/// GSI3: holds by expiry, across tenants, for the sweep. Present only while a hold is `HELD`.
pub fn expiry_pk(reservation: ReservationId) -> String {
    let shard = reservation.as_uuid().as_u128() % u128::from(EXPIRY_SHARDS);
    format!("EXPIRY#{shard}")
}

pub fn expiry_sort_key(expires_at: DateTime<Utc>, tenant: TenantId, reservation: ReservationId) -> String {
    format!("{}#{tenant}#{reservation}", start_prefix(expires_at))
}

/// GSI3: events whose status may move on time, by when the lifecycle job should look at them
/// next, across tenants. Spread over shards like the expiry index.
pub fn lifecycle_pk(event: EventId) -> String {
    let shard = event.as_uuid().as_u128() % u128::from(LIFECYCLE_SHARDS);
    format!("LIFECYCLE#{shard}")
}

pub const LIFECYCLE_SHARDS: u32 = 4;

pub fn lifecycle_sort_key(at: DateTime<Utc>, tenant: TenantId, event: EventId) -> String {
    format!("{}#{tenant}#{event}", start_prefix(at))
}

/// The tenant and event of a lifecycle-index sort key.
pub fn parse_lifecycle_sort_key(sort_key: &str) -> Option<(TenantId, EventId)> {
    let mut parts = sort_key.rsplitn(3, '#');
    let event = parts.next()?.parse().ok()?;
    let tenant = parts.next()?.parse().ok()?;
    Some((tenant, event))
}

/// Base table, event partition: one shard of the event's sales figures (per currency), counted
/// in the transactions that confirm orders and apply refunds. Spread over shards by order, so
/// confirms of one event's different ticket types do not all write one item.
pub fn event_sales_sk(shard: u32) -> String {
    format!("SALES#{shard}")
}

pub const EVENT_SALES_SHARDS: u32 = 8;

pub fn event_sales_shard(order: OrderId) -> u32 {
    u32::try_from(order.as_uuid().as_u128() % u128::from(EVENT_SALES_SHARDS)).unwrap_or(0)
}

/// Base table, customer partition: one customer's figures for one event in one currency.
pub fn customer_sales_sk(event: EventId, currency: &str) -> String {
    format!("{CUSTOMER_SALES_PREFIX}{event}#{currency}")
}

pub const CUSTOMER_SALES_PREFIX: &str = "SALES#";

/// User ids come from tokens and may contain anything; `#` and `%` are escaped so an id can
/// never reach into another key's shape.
pub fn key_part(raw: &str) -> String {
    raw.replace('%', "%25").replace('#', "%23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_keys_sort_like_times() {
        let id = EventId::from_uuid(uuid::Uuid::nil());
        let a = starts_sort_key("2027-01-02T03:04:05Z".parse().unwrap(), id);
        let b = starts_sort_key("2027-01-02T03:04:05.5Z".parse().unwrap(), id);
        let c = starts_sort_key("2027-01-10T00:00:00Z".parse().unwrap(), id);
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn customer_ids_cannot_forge_key_shapes() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        assert_ne!(customer_pk(tenant, "a#ORDERS"), customer_orders_pk(tenant, "a"));
        assert_eq!(key_part("a#b%23"), "a%23b%2523");
    }

    #[test]
    fn lifecycle_keys_give_back_their_event() {
        let tenant = TenantId::generate();
        let event = EventId::generate();
        let key = lifecycle_sort_key(Utc::now(), tenant, event);
        assert_eq!(parse_lifecycle_sort_key(&key), Some((tenant, event)));
        assert_eq!(parse_lifecycle_sort_key("2027-01-01T00:00:00.000Z#x"), None);
    }
}
