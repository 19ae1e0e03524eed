//! The reads and writes that keep the hot paths' cost flat: the copy of an event's counts on its
//! own item, which a list reads with the event ([`ListedCounts`]), and the hold path's read of
//! only the ticket types it asks for.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use serde_dynamo::aws_sdk_dynamodb_1::from_item;

use super::keys::{self, PK, SK};
use super::{Item, Store, StoreError, n, s};
use crate::domain::event::{Availability, Event};
use crate::domain::ids::{EventId, TenantId, TicketTypeId};
use crate::domain::inventory::{EventForSale, ListedCounts};
use crate::domain::ticket_type::TicketType;

/// The event item's map of listed counts, and when they were read (epoch milliseconds: a
/// condition compares it as a number).
const LISTED: &str = "listed";
const LISTED_AT: &str = "listed_at_ms";

/// The attributes that carry `counts`, read at `at`, on the event item.
pub(super) fn listed_attributes(counts: Availability, at: DateTime<Utc>) -> [(String, AttributeValue); 2] {
    [
        (LISTED.to_owned(), counts_value(counts)),
        (LISTED_AT.to_owned(), AttributeValue::N(at.timestamp_millis().to_string())),
    ]
}

fn counts_value(counts: Availability) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("allocated".to_owned(), n(counts.allocated.into())),
        ("available".to_owned(), n(counts.available.into())),
        ("reserved".to_owned(), n(counts.reserved.into())),
        ("sold".to_owned(), n(counts.sold.into())),
    ]))
}

/// The listed counts on an event item, if it has them.
pub(super) fn listed_of(item: &Item) -> Option<ListedCounts> {
    let map = item.get(LISTED)?.as_m().ok()?;
    let count = |name: &str| map.get(name)?.as_n().ok()?.parse::<u32>().ok();
    let at = item.get(LISTED_AT)?.as_n().ok()?.parse::<i64>().ok()?;
    Some(ListedCounts {
        allocated: count("allocated")?,
        available: count("available")?,
        reserved: count("reserved")?,
        sold: count("sold")?,
        at: Utc.timestamp_millis_opt(at).single()?,
    })
}

fn event_key(tenant: TenantId, event: EventId, sort: String) -> Item {
    HashMap::from([(PK.to_owned(), s(keys::event_pk(tenant, event))), (SK.to_owned(), s(sort))])
}

/// The keys of an event's ticket types, each once.
fn ticket_type_keys(tenant: TenantId, event: EventId, ticket_types: &[TicketTypeId]) -> Vec<Item> {
    let mut wanted: Vec<TicketTypeId> = ticket_types.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    wanted.iter().map(|t| event_key(tenant, event, keys::ticket_type_sk(*t))).collect()
}

impl Store {
    /// Replaces the event's listed counts by `counts`, read at `read_at`, if the event is live and
    /// its copy is from a read at least `min_age` earlier (so never by an earlier read; with a
    /// `min_age` of a second, one writer a second). Returns whether it wrote.
    pub async fn rewrite_listed(
        &self,
        tenant: TenantId,
        event: EventId,
        counts: Availability,
        read_at: DateTime<Utc>,
        min_age: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let [(_, listed), (_, at)] = listed_attributes(counts, read_at);
        let min_age_ms = i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX);
        // At least a millisecond: a copy from this very read is not replaced by it.
        let newest = read_at.timestamp_millis().saturating_sub(min_age_ms.max(1));
        let result = self
            .update_item_at(keys::event_pk(tenant, event), keys::EVENT_SK)
            .update_expression(format!("SET {LISTED} = :listed, {LISTED_AT} = :at"))
            .condition_expression(format!(
                "attribute_exists(PK) AND attribute_not_exists(deleted_at) AND \
                 (attribute_not_exists({LISTED_AT}) OR {LISTED_AT} <= :newest)"
            ))
            .expression_attribute_values(":listed", listed)
            .expression_attribute_values(":at", at)
            .expression_attribute_values(":newest", AttributeValue::N(newest.to_string()))
            .send()
            .await;
        super::applied(result)
    }

    /// The live event and those of `ticket_types` that it has, in one consistent read whose
    /// cost follows the types asked for, not the types the event has.
    pub async fn event_for_sale(
        &self,
        tenant: TenantId,
        event: EventId,
        ticket_types: &[TicketTypeId],
    ) -> Result<Option<EventForSale>, StoreError> {
        let mut keys = vec![event_key(tenant, event, keys::EVENT_SK.to_owned())];
        keys.extend(ticket_type_keys(tenant, event, ticket_types));
        let mut found = None;
        let mut types = Vec::new();
        for item in self.batch_get(keys, true).await? {
            let sort = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sort == keys::EVENT_SK {
                if item.contains_key("deleted_at") {
                    return Ok(None);
                }
                let listed = listed_of(&item);
                found = Some((from_item::<Event>(item)?, listed));
            } else {
                types.push(from_item::<TicketType>(item)?);
            }
        }
        types.sort_by_key(|t| t.id);
        Ok(found.map(|(event, listed)| EventForSale { event, ticket_types: types, listed }))
    }

    /// The current counts of some of an event's ticket types, read consistently.
    pub async fn ticket_types_by_id(
        &self,
        tenant: TenantId,
        event: EventId,
        ticket_types: &[TicketTypeId],
    ) -> Result<Vec<TicketType>, StoreError> {
        let keys = ticket_type_keys(tenant, event, ticket_types);
        self.batch_get(keys, true).await?.into_iter().map(|item| from_item(item).map_err(StoreError::from)).collect()
    }
}
