//! Key builders for the single table. Every partition key starts with `T#<tenant>#`, and the
//! tenant always comes from the verified token, so one tenant's keys never reach another's
//! items. `docs/data-model.md` lists the access patterns these keys serve.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";

pub const EVENT_SK: &str = "EVENT";
pub const GUARD_SK: &str = "GUARD";

pub fn venues_pk(tenant: Uuid) -> String {
    format!("T#{tenant}#VENUES")
}

pub fn venue_sk(venue: Uuid) -> String {
    format!("VENUE#{venue}")
}

pub fn event_pk(tenant: Uuid, event: Uuid) -> String {
    format!("T#{tenant}#EVENT#{event}")
}

/// GSI1: all of a tenant's live events, by start time.
pub fn tenant_events_pk(tenant: Uuid) -> String {
    format!("T#{tenant}#EVENTS")
}

/// GSI2: one venue's live events, by start time.
pub fn venue_events_pk(tenant: Uuid, venue: Uuid) -> String {
    format!("T#{tenant}#VENUE#{venue}#EVENTS")
}

/// Sorts chronologically as a string: fixed-width UTC time, then the id to break ties.
pub fn starts_sort_key(starts_at: DateTime<Utc>, event: Uuid) -> String {
    format!("{}#{event}", start_prefix(starts_at))
}

pub fn start_prefix(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The uniqueness guard for "same name, same venue, same local day".
pub fn event_name_guard_pk(tenant: Uuid, duplicate_key: &str) -> String {
    format!("T#{tenant}#EVENTNAME#{duplicate_key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_keys_sort_like_times() {
        let id = Uuid::nil();
        let a = starts_sort_key("2027-01-02T03:04:05Z".parse().unwrap(), id);
        let b = starts_sort_key("2027-01-02T03:04:05.5Z".parse().unwrap(), id);
        let c = starts_sort_key("2027-01-10T00:00:00Z".parse().unwrap(), id);
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
