//! The DynamoDB store. Every write that protects an invariant is a conditional write or a
//! transaction with conditions; failed conditions come back as precise outcomes, never as
//! read-then-write races.

pub mod analytics;
pub mod cancellation;
pub mod idempotency;
pub mod inventory;
pub mod keys;
pub mod lifecycle;
pub mod listing;
pub mod refunds;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use uuid::Uuid;

use crate::cursor::PageKey;
use crate::domain::event::{Event, EventStatus};
use crate::domain::ids::{EventId, TenantId, TicketTypeId, VenueId};
use crate::domain::inventory::EventInventory;
use crate::domain::ticket_type::TicketType;
use crate::domain::venue::Venue;
use keys::{GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3PK, GSI3SK, PK, SK};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, or the service being unreachable: worth a retry later.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    #[error("DynamoDB request failed: {0}")]
    Failed(String),
    #[error("stored item does not decode: {0}")]
    Corrupt(#[from] serde_dynamo::Error),
}

/// Why a conditional event write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EventWriteError {
    #[error("the event changed since it was read")]
    VersionChanged,
    #[error("another event has this name at this venue on this day")]
    DuplicateName,
    #[error("tickets are held or sold")]
    HasSales,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which of a tenant's events to list, already validated.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
    pub venue_id: Option<VenueId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only published `PUBLIC` events (what customers may browse; unlisted ones need a link).
    pub public_only: bool,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

const TRANSACTION_ATTEMPTS: u32 = 4;

/// Queries one page of a list may take. Each reads at most `limit + 1` (≤ 101) items, or 25
/// when fewer are missing, so a page evaluates at most ~400 items whatever its filter.
pub const MAX_READS_PER_PAGE: usize = 4;

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// A cheap round trip proving the table is reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client.describe_table().table_name(&self.table).send().await.map(|_| ()).map_err(classify)
    }

    // ---- venues ----

    pub async fn create_venue(&self, tenant: TenantId, venue: &Venue) -> Result<(), StoreError> {
        let item = with_keys(venue, [(PK, keys::venues_pk(tenant)), (SK, keys::venue_sk(venue.id))])?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    pub async fn get_venue(&self, tenant: TenantId, id: VenueId) -> Result<Option<Venue>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::venues_pk(tenant)))
            .key(SK, s(keys::venue_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.map(from_item).transpose().map_err(StoreError::from)
    }

    /// Replaces a venue if nobody else changed it since `expected_version`; `Ok(false)` if they did.
    pub async fn replace_venue(
        &self,
        tenant: TenantId,
        venue: &Venue,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let item = with_keys(venue, [(PK, keys::venues_pk(tenant)), (SK, keys::venue_sk(venue.id))])?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        applied(result)
    }

    pub async fn list_venues(
        &self,
        tenant: TenantId,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Venue>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::venues_pk(tenant)))
            .expression_attribute_values(":prefix", s("VENUE#"));
        self.paginate(query, &[PK, SK], limit, start).await
    }

    // ---- events ----

    /// Writes a new event and its name guard in one transaction.
    pub async fn create_event(&self, tenant: TenantId, event: &Event) -> Result<(), EventWriteError> {
        let mut item = event_item(tenant, event)?;
        item.extend(listing::listed_attributes(
            EventInventory::without_ticket_types(event.clone()).availability,
            event.created_at,
        ));
        let put_event = self.put(item, "attribute_not_exists(PK)", Vec::new());
        let put_guard = self.put(guard_item(tenant, event), "attribute_not_exists(PK)", Vec::new());
        match self.transact(vec![put_event, put_guard]).await? {
            None => Ok(()),
            Some(failed) if failed.get(1).copied().unwrap_or(false) => Err(EventWriteError::DuplicateName),
            Some(_) => Err(EventWriteError::VersionChanged),
        }
    }

    /// The live (not deleted) event with its ticket-type counts.
    pub async fn get_event(&self, tenant: TenantId, id: EventId) -> Result<Option<EventInventory>, StoreError> {
        let mut event = None;
        let mut ticket_types = Vec::new();
        let read_at = crate::domain::now();
        for item in self.event_partition(tenant, id).await? {
            let sort = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sort == keys::EVENT_SK {
                if item.contains_key("deleted_at") {
                    return Ok(None);
                }
                let listed = listing::listed_of(&item);
                event = Some((from_item::<Event>(item)?, listed));
            } else if sort.starts_with(keys::TICKET_TYPE_PREFIX) {
                ticket_types.push(from_item(item)?);
            }
        }
        Ok(event.map(|(event, listed)| EventInventory::with_ticket_types(event, ticket_types).as_read(listed, read_at)))
    }

    /// Every item of an event's partition: the event and its ticket types, read consistently.
    async fn event_partition(&self, tenant: TenantId, id: EventId) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::event_pk(tenant, id)))
            .consistent_read(true);
        self.query_all(query).await
    }

    /// Every item `query` finds, page after page.
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut resume = None;
        loop {
            let output = query.clone().set_exclusive_start_key(resume.take()).send().await.map_err(classify)?;
            items.extend(output.items.unwrap_or_default());
            resume = output.last_evaluated_key;
            if resume.is_none() {
                return Ok(items);
            }
        }
    }

    /// The entries of a sparse GSI3 index (`<prefix>#0…shards-1`, sorted by time) due at `now`,
    /// oldest first within each shard, at most `limit` per shard.
    async fn due_in_index(
        &self,
        prefix: &str,
        shards: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut due = Vec::new();
        for shard in 0..shards {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI3)
                .key_condition_expression(format!("{GSI3PK} = :shard AND {GSI3SK} < :upper"))
                .expression_attribute_values(":shard", s(format!("{prefix}#{shard}")))
                .expression_attribute_values(":upper", s(format!("{}~", keys::start_prefix(now))));
            let page: Page<Item> = self.paginate_items(query, &[PK, SK, GSI3PK, GSI3SK], limit, None).await?;
            due.extend(page.items);
        }
        Ok(due)
    }

    async fn ticket_types_of(&self, tenant: TenantId, id: EventId) -> Result<Vec<TicketType>, StoreError> {
        let items = self.event_partition(tenant, id).await?;
        items
            .into_iter()
            .filter(|item| {
                item.get(SK).and_then(|v| v.as_s().ok()).is_some_and(|k| k.starts_with(keys::TICKET_TYPE_PREFIX))
            })
            .map(|item| from_item(item).map_err(StoreError::from))
            .collect()
    }

    /// Replaces the event read as `previous` by `next` if its version is still the one read.
    /// In the same transaction: the name guard moves when name, venue or local day change; a
    /// status change reaches every ticket type's `sales_open`; and with `require_no_sales`,
    /// every ticket type must still have nothing held or sold at commit time.
    pub async fn replace_event(
        &self,
        tenant: TenantId,
        previous: &EventInventory,
        next: &Event,
        require_no_sales: bool,
    ) -> Result<(), EventWriteError> {
        let before = &previous.event;
        // A whole put: the listed counts go with it, stamped with the read they come from (so a
        // rewrite from a later read still replaces them).
        let mut item = event_item(tenant, next)?;
        item.extend(listing::listed_attributes(previous.availability, previous.read_at));
        let mut items = vec![self.put(item, LIVE_AT_VERSION, version_values(before))];
        let guard_moves = before.duplicate_key() != next.duplicate_key();
        if guard_moves {
            items.push(self.delete_guard(tenant, before));
            items.push(self.put(guard_item(tenant, next), "attribute_not_exists(PK)", Vec::new()));
        }
        let first_type = items.len();
        let status_changes = before.status != next.status;
        for ticket_type in &previous.ticket_types {
            if status_changes {
                items.push(self.set_sales_open(
                    tenant,
                    next.id,
                    ticket_type.id,
                    inventory::sales_open(next),
                    require_no_sales,
                ));
            } else if require_no_sales {
                items.push(self.check_no_sales(tenant, before.id, ticket_type.id));
            }
        }
        match self.transact(items).await? {
            None => Ok(()),
            Some(failed) if guard_moves && failed[2] => Err(EventWriteError::DuplicateName),
            Some(failed) if !failed[0] && failed[first_type..].iter().any(|f| *f) => Err(EventWriteError::HasSales),
            Some(_) => Err(EventWriteError::VersionChanged),
        }
    }

    /// Soft delete: the event leaves every list and lookup, frees its name for reuse and stops
    /// selling, if nothing is held or sold at commit time.
    pub async fn delete_event(
        &self,
        tenant: TenantId,
        stored: &EventInventory,
        now: DateTime<Utc>,
    ) -> Result<(), EventWriteError> {
        let event = &stored.event;
        let mut item = to_item(event).map_err(StoreError::from)?;
        item.insert(PK.into(), s(keys::event_pk(tenant, event.id)));
        item.insert(SK.into(), s(keys::EVENT_SK));
        item.insert("deleted_at".into(), s(now.to_rfc3339()));
        let mut items = vec![self.put(item, LIVE_AT_VERSION, version_values(event)), self.delete_guard(tenant, event)];
        // Closing sales in the same transaction means no hold can land on a deleted event.
        items.extend(stored.ticket_types.iter().map(|t| self.set_sales_open(tenant, event.id, t.id, false, true)));
        match self.transact(items).await? {
            None => Ok(()),
            Some(failed) if !failed[0] && failed[2..].iter().any(|f| *f) => Err(EventWriteError::HasSales),
            Some(_) => Err(EventWriteError::VersionChanged),
        }
    }

    fn set_sales_open(
        &self,
        tenant: TenantId,
        event: EventId,
        ticket_type: TicketTypeId,
        open: bool,
        require_no_sales: bool,
    ) -> TransactWriteItem {
        let mut update = self
            .update_at(keys::event_pk(tenant, event), keys::ticket_type_sk(ticket_type))
            .update_expression("SET sales_open = :open")
            .expression_attribute_values(":open", AttributeValue::Bool(open));
        update = if require_no_sales {
            update
                .condition_expression("attribute_exists(PK) AND reserved = :zero AND sold = :zero")
                .expression_attribute_values(":zero", n(0))
        } else {
            update.condition_expression("attribute_exists(PK)")
        };
        TransactWriteItem::builder().update(update.build().expect("key and expression are set")).build()
    }

    fn check_no_sales(&self, tenant: TenantId, event: EventId, ticket_type: TicketTypeId) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key(PK, s(keys::event_pk(tenant, event)))
            .key(SK, s(keys::ticket_type_sk(ticket_type)))
            .condition_expression("reserved = :zero AND sold = :zero")
            .expression_attribute_values(":zero", n(0))
            .build()
            .expect("key and expression are set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    pub async fn list_events(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<EventInventory>, StoreError> {
        let page = self.event_page_items(tenant, filter, limit, start).await?;
        // Each event's counts come with it, as its item's listed copy. An item written before
        // lists read that copy has none: its types are read for it, side by side.
        let items = futures_util::future::try_join_all(page.items.into_iter().map(|item| async move {
            let listed = listing::listed_of(&item);
            let event = from_item::<Event>(item)?;
            if let Some(copy) = listed {
                let counts = copy.availability(event.capacity);
                let read_at = copy.at;
                return Ok(EventInventory { event, ticket_types: Vec::new(), availability: counts, listed, read_at });
            }
            let types = self.ticket_types_of(tenant, event.id).await?;
            Ok::<_, StoreError>(EventInventory::with_ticket_types(event, types))
        }))
        .await?;
        Ok(Page { items, next: page.next })
    }

    /// A page of a tenant's live events by start time, as [`Self::list_events`] finds them, without
    /// their ticket types.
    pub async fn event_page(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Event>, StoreError> {
        let page = self.event_page_items(tenant, filter, limit, start).await?;
        let items = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next: page.next })
    }

    async fn event_page_items(
        &self,
        tenant: TenantId,
        filter: &EventFilter,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Item>, StoreError> {
        let (index, pk_name, sk_name, pk) = match filter.venue_id {
            Some(venue) => (GSI2, GSI2PK, GSI2SK, keys::venue_events_pk(tenant, venue)),
            None => (GSI1, GSI1PK, GSI1SK, keys::tenant_events_pk(tenant)),
        };
        let mut values: Item = HashMap::from([(":pk".to_owned(), s(pk))]);
        let lower = filter.from.map(keys::start_prefix);
        // '~' sorts after every character of "#<uuid>", so `to` is inclusive.
        let upper = filter.to.map(|to| format!("{}~", keys::start_prefix(to)));
        let range = match (lower, upper) {
            (Some(lo), Some(hi)) => {
                values.extend([(":lo".to_owned(), s(lo)), (":hi".to_owned(), s(hi))]);
                format!(" AND {sk_name} BETWEEN :lo AND :hi")
            }
            (Some(lo), None) => {
                values.insert(":lo".into(), s(lo));
                format!(" AND {sk_name} >= :lo")
            }
            (None, Some(hi)) => {
                values.insert(":hi".into(), s(hi));
                format!(" AND {sk_name} <= :hi")
            }
            (None, None) => String::new(),
        };
        let key_condition = format!("{pk_name} = :pk{range}");
        let mut filters = Vec::new();
        let mut names = HashMap::new();
        if let Some(status) = filter.status {
            filters.push("#status = :status");
            values.insert(":status".into(), s(status.as_str()));
        }
        if filter.public_only {
            filters.push("#visibility = :public AND NOT (#status IN (:draft, :review, :approved))");
            values.extend([
                (":public".to_owned(), s("PUBLIC")),
                (":draft".to_owned(), s(EventStatus::Draft.as_str())),
                (":review".to_owned(), s(EventStatus::Review.as_str())),
                (":approved".to_owned(), s(EventStatus::Approved.as_str())),
            ]);
            names.insert("#visibility".to_owned(), "visibility".to_owned());
        }
        if !filters.is_empty() {
            names.insert("#status".to_owned(), "status".to_owned());
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(key_condition)
            .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values));
        self.paginate_items(query, &[PK, SK, pk_name, sk_name], limit, start).await
    }

    // ---- plumbing ----

    /// Reads until `limit` matching items are found or [`MAX_READS_PER_PAGE`] queries are spent,
    /// so a selective filter costs a bounded amount per request: its page may be short, with a
    /// cursor to go on. The cursor is `None` only when nothing follows.
    async fn paginate<T: DeserializeOwned>(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        key_attributes: &[&str],
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<T>, StoreError> {
        let page = self.paginate_items(query, key_attributes, limit, start).await?;
        let items = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next: page.next })
    }

    async fn paginate_items(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        key_attributes: &[&str],
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Item>, StoreError> {
        let mut found: Vec<Item> = Vec::with_capacity(limit + 1);
        let mut resume = start;
        for _ in 0..MAX_READS_PER_PAGE {
            let wanted = i32::try_from(limit + 1 - found.len()).unwrap_or(i32::MAX).max(25);
            let output =
                query.clone().limit(wanted).set_exclusive_start_key(resume.take()).send().await.map_err(classify)?;
            found.extend(output.items.unwrap_or_default());
            resume = output.last_evaluated_key;
            if found.len() > limit || resume.is_none() {
                break;
            }
        }
        if found.len() > limit {
            found.truncate(limit);
            let next = found.last().map(|item| {
                key_attributes.iter().filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect()
            });
            return Ok(Page { items: found, next });
        }
        // Out of reads before `limit` matches (a selective filter): a short page, and the cursor
        // resumes where the reading stopped.
        Ok(Page { items: found, next: resume })
    }

    fn put(&self, item: Item, condition: &str, values: Vec<(&str, AttributeValue)>) -> TransactWriteItem {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        if condition.contains("#version") {
            put = put.expression_attribute_names("#version", "version");
        }
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        TransactWriteItem::builder().put(put.build().expect("table and item are set")).build()
    }

    fn delete_guard(&self, tenant: TenantId, event: &Event) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(keys::event_name_guard_pk(tenant, &event.duplicate_key())))
            .key(SK, s(keys::GUARD_SK))
            .condition_expression("attribute_not_exists(PK) OR event_id = :event")
            .expression_attribute_values(":event", s(event.id.to_string()))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    /// Runs a transaction. `Ok(None)` when it committed; `Ok(Some(flags))` when conditions
    /// failed, with `flags[i]` telling whether item `i`'s condition was the one that failed.
    /// Conflicts with concurrent transactions are retried, since they say nothing about our
    /// conditions.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<bool>>, StoreError> {
        self.transact_as(items, None).await
    }

    /// As [`Self::transact`], with a `ClientRequestToken` derived from `operation`: a key naming
    /// this one logical write and every parameter that can differ between two writes under that
    /// name (the new hold's id; the cancellation and the event version it was checked against).
    /// When the same write is sent again within DynamoDB's ten-minute window (the SDK retrying a
    /// commit whose answer was lost, or a redelivered message repeating a committed step),
    /// DynamoDB recognises it and reports success instead of judging its conditions again
    /// against its own result. (Without an explicit token the SDK makes a random one per call,
    /// which covers only its own retries.) Our own retries after a cancelled attempt get a new
    /// token: that attempt wrote nothing.
    async fn transact_as(
        &self,
        items: Vec<TransactWriteItem>,
        operation: Option<&str>,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = operation.map(|op| request_token(op, attempt));
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .set_client_request_token(token)
                .send()
                .await;
            let Err(error) = result else { return Ok(None) };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() {
                let codes: Vec<&str> =
                    cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
                if codes.contains(&"ConditionalCheckFailed") {
                    return Ok(Some(codes.iter().map(|c| *c == "ConditionalCheckFailed").collect()));
                }
                if attempt < TRANSACTION_ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    continue;
                }
                return Err(StoreError::Unavailable(format!("transaction kept conflicting: {codes:?}")));
            }
            return Err(classify(error));
        }
    }
}

/// A `ClientRequestToken` (at most 36 characters) for attempt `attempt` of `operation`.
fn request_token(operation: &str, attempt: u32) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(operation.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    format!("{}-{attempt}", Uuid::from_bytes(first).simple())
}

const LIVE_AT_VERSION: &str = "#version = :expected AND attribute_not_exists(deleted_at)";

fn version_values(event: &Event) -> Vec<(&'static str, AttributeValue)> {
    vec![(":expected", n(event.version))]
}

fn event_item(tenant: TenantId, event: &Event) -> Result<Item, StoreError> {
    let sort = keys::starts_sort_key(event.starts_at, event.id);
    let mut item = with_keys(
        event,
        [
            (PK, keys::event_pk(tenant, event.id)),
            (SK, keys::EVENT_SK.to_owned()),
            (GSI1PK, keys::tenant_events_pk(tenant)),
            (GSI1SK, sort.clone()),
            (GSI2PK, keys::venue_events_pk(tenant, event.venue_id)),
            (GSI2SK, sort),
        ],
    )?;
    // Written whole, so an event that can no longer move on time leaves the lifecycle index.
    if let Some((pk, sk)) = lifecycle_keys(tenant, event.id, event.status, event.updated_at) {
        item.insert(GSI3PK.to_owned(), s(pk));
        item.insert(GSI3SK.to_owned(), s(sk));
    }
    Ok(item)
}

/// The lifecycle-index keys of an event whose status may move on time, due for a look at `at`.
/// Every write that may bring a move closer (its times, status or sales windows) files the event
/// as due now; the lifecycle job then reads it whole and files it under its next move's time,
/// so no writer has to work that time out from a partial view.
fn lifecycle_keys(
    tenant: TenantId,
    event: EventId,
    status: EventStatus,
    at: DateTime<Utc>,
) -> Option<(String, String)> {
    crate::domain::lifecycle::moves_on_time(status)
        .then(|| (keys::lifecycle_pk(event), keys::lifecycle_sort_key(at, tenant, event)))
}

fn guard_item(tenant: TenantId, event: &Event) -> Item {
    HashMap::from([
        (PK.to_owned(), s(keys::event_name_guard_pk(tenant, &event.duplicate_key()))),
        (SK.to_owned(), s(keys::GUARD_SK)),
        ("event_id".to_owned(), s(event.id.to_string())),
    ])
}

fn with_keys<const N: usize>(value: &impl Serialize, key_values: [(&str, String); N]) -> Result<Item, StoreError> {
    let mut item = to_item(value)?;
    for (name, value) in key_values {
        item.insert(name.to_owned(), s(value));
    }
    Ok(item)
}

/// BatchGetItem takes at most this many keys.
const BATCH_GET_KEYS: usize = 100;
/// Rounds of unprocessed keys tried again before giving up (DynamoDB throttling a batch).
const BATCH_GET_ROUNDS: u32 = 5;

impl Store {
    /// The items at `keys` (at most [`BATCH_GET_KEYS`]) that exist, trying unprocessed keys
    /// again a few times.
    async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = Some(keys);
        for round in 0..BATCH_GET_ROUNDS {
            let Some(keys) = pending.take().filter(|k| !k.is_empty()) else { return Ok(found) };
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(25 << round)).await;
            }
            let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .expect("keys are set");
            let output =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
            found.extend(output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = output.unprocessed_keys.unwrap_or_default().remove(&self.table).map(|k| k.keys);
        }
        match pending {
            Some(keys) if !keys.is_empty() => {
                Err(StoreError::Unavailable("BatchGetItem kept leaving keys unprocessed".into()))
            }
            _ => Ok(found),
        }
    }

    /// An update of the item at `pk`/`sk`, to go into a transaction.
    fn update_at(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder().table_name(&self.table).key(PK, s(pk)).key(SK, s(sk))
    }

    /// An update of the item at `pk`/`sk`, sent on its own.
    fn update_item_at(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key(PK, s(pk)).key(SK, s(sk))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional write's outcome: `Ok(false)` when its condition failed.
fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_condition_failure(&error) => Ok(false),
        Err(error) => Err(classify(error)),
    }
}

pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// Sorts SDK failures into "retry later" and "broken"; the full text is kept for the logs.
#[allow(clippy::needless_pass_by_value)] // shaped for `map_err(classify)`
fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
            )
        ),
        _ => false,
    };
    let text = DisplayErrorContext(&error).to_string();
    if transient { StoreError::Unavailable(text) } else { StoreError::Failed(text) }
}
