//! Events: their fields, defaults, lifecycle state machine and the rules an event must keep.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{DomainError, FieldError, field_code};
use super::fields::{self, Problems, nullable};
use super::ids::{EventId, VenueId};
use super::principal::{Principal, Role};
use super::venue::Venue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Draft,
    Review,
    Approved,
    Published,
    OnSale,
    SalesPaused,
    SoldOut,
    InProgress,
    Postponed,
    Rescheduled,
    Completed,
    Cancelled,
}

impl EventStatus {
    pub const ALL: [Self; 12] = [
        Self::Draft,
        Self::Review,
        Self::Approved,
        Self::Published,
        Self::OnSale,
        Self::SalesPaused,
        Self::SoldOut,
        Self::InProgress,
        Self::Postponed,
        Self::Rescheduled,
        Self::Completed,
        Self::Cancelled,
    ];

    /// The event lifecycle of the API contract; `Cancelled` is listed but only `/cancel` may take it.
    pub fn next_allowed(self) -> &'static [Self] {
        use EventStatus::{
            Approved, Cancelled, Completed, Draft, InProgress, OnSale, Postponed, Published, Rescheduled, Review,
            SalesPaused, SoldOut,
        };
        match self {
            Draft => &[Review, Published, Cancelled],
            Review => &[Approved, Draft, Cancelled],
            Approved => &[Published, Cancelled],
            Published => &[OnSale, Postponed, Cancelled],
            OnSale => &[SalesPaused, SoldOut, InProgress, Postponed, Cancelled],
            SalesPaused | SoldOut => &[OnSale, InProgress, Postponed, Cancelled],
            InProgress => &[Completed, Cancelled],
            Postponed => &[Rescheduled, Cancelled],
            Rescheduled => &[Published, OnSale, Cancelled],
            Completed | Cancelled => &[],
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Drafts and events still under review are for staff eyes only.
    pub fn is_pre_publication(self) -> bool {
        matches!(self, Self::Draft | Self::Review | Self::Approved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Review => "REVIEW",
            Self::Approved => "APPROVED",
            Self::Published => "PUBLISHED",
            Self::OnSale => "ON_SALE",
            Self::SalesPaused => "SALES_PAUSED",
            Self::SoldOut => "SOLD_OUT",
            Self::InProgress => "IN_PROGRESS",
            Self::Postponed => "POSTPONED",
            Self::Rescheduled => "RESCHEDULED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Checks a status change requested through the API (PUT or publish).
    pub fn check_move_to(self, next: Self) -> Result<(), DomainError> {
        if next == Self::Cancelled && self.next_allowed().contains(&next) {
            return Err(DomainError::conflict(
                "INVALID_EVENT_STATE",
                "an event is cancelled only through POST /api/v1/events/{event_id}/cancel",
            ));
        }
        if self.next_allowed().contains(&next) {
            return Ok(());
        }
        let allowed: Vec<&str> =
            self.next_allowed().iter().filter(|s| **s != Self::Cancelled).map(|s| s.as_str()).collect();
        let allowed = if allowed.is_empty() { "none (terminal state)".to_owned() } else { allowed.join(", ") };
        Err(DomainError::conflict(
            "INVALID_EVENT_STATE",
            format!("cannot move from {} to {}; allowed: {allowed}", self.as_str(), next.as_str()),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Music,
    Sports,
    Theater,
    Comedy,
    Arts,
    Conference,
    Workshop,
    Festival,
    Family,
    Nightlife,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    Public,
    Private,
    Unlisted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub venue_id: VenueId,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub category: Option<Category>,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub status: EventStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub doors_open_at: Option<DateTime<Utc>>,
    pub timezone: String,
    pub capacity: u32,
    pub cancellation_deadline_hours: u32,
    pub image_url: Option<String>,
    pub age_restriction: Option<u32>,
    pub metadata: Map<String, Value>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// Ticket counts for an event; `available` is what can still be bought now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub capacity: u32,
    /// Sum of the ticket types' quantities.
    pub allocated: u32,
    pub available: u32,
    pub reserved: u32,
    pub sold: u32,
}

impl Availability {
    /// An event's counts from its ticket types' `(quantity, reserved, sold)`.
    pub fn from_ticket_types(capacity: u32, types: impl IntoIterator<Item = (u32, u32, u32)>) -> Self {
        let (allocated, reserved, sold) =
            types.into_iter().fold((0, 0, 0), |(q, r, s), (tq, tr, ts)| (q + tq, r + tr, s + ts));
        Self { capacity, allocated, available: allocated - reserved - sold, reserved, sold }
    }

    pub fn has_sales_or_holds(&self) -> bool {
        self.reserved + self.sold > 0
    }
}

/// An event as the API returns it.
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    #[serde(flatten)]
    pub event: &'a Event,
    pub availability: Availability,
}

pub const DEFAULT_CANCELLATION_DEADLINE_HOURS: u32 = 24;
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_BYTES: usize = 8 * 1024;

/// The body of `POST /events` and `PUT /events/{id}`: the create fields, plus `status` and
/// `version` on update. Optional fields that can be cleared take `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    #[serde(default, deserialize_with = "fields::not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    venue_id: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    starts_at: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    ends_at: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    short_description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    category: Option<Option<Category>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    visibility: Option<Visibility>,
    #[serde(default, deserialize_with = "nullable")]
    doors_open_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    capacity: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    cancellation_deadline_hours: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    age_restriction: Option<Option<i64>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    status: Option<EventStatus>,
    #[serde(default, deserialize_with = "fields::not_null")]
    version: Option<i64>,
}

/// A field-validated [`EventInput`]: what a create or update asks to set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventChanges {
    pub name: Option<String>,
    pub venue_id: Option<VenueId>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub description: Option<Option<String>>,
    pub short_description: Option<Option<String>>,
    pub category: Option<Option<Category>>,
    pub tags: Option<Vec<String>>,
    pub visibility: Option<Visibility>,
    pub doors_open_at: Option<Option<DateTime<Utc>>>,
    pub timezone: Option<String>,
    pub capacity: Option<u32>,
    pub cancellation_deadline_hours: Option<u32>,
    pub image_url: Option<Option<String>>,
    pub age_restriction: Option<Option<u32>>,
    pub metadata: Option<Map<String, Value>>,
    pub status: Option<EventStatus>,
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Create,
    Update,
}

impl EventInput {
    /// Field-level validation (400s). Cross-field and venue rules come later, as 422s.
    pub fn validate(self, kind: InputKind) -> Result<EventChanges, DomainError> {
        let mut p = Problems::default();
        if kind == InputKind::Create {
            for (field, present) in [
                ("name", self.name.is_some()),
                ("venue_id", self.venue_id.is_some()),
                ("starts_at", self.starts_at.is_some()),
                ("ends_at", self.ends_at.is_some()),
            ] {
                if !present {
                    p.push(field, field_code::REQUIRED, format!("{field} is required"));
                }
            }
            for (field, present) in [("status", self.status.is_some()), ("version", self.version.is_some())] {
                if present {
                    p.push(field, field_code::UNEXPECTED_PROPERTY, format!("{field} cannot be set on create"));
                }
            }
        }
        let optional_text = |p: &mut Problems, field: &str, value: Option<Option<String>>, max: usize| {
            value.map(|inner| inner.and_then(|text| p.take(fields::text(field, &text, 0, max))))
        };
        let changes = EventChanges {
            name: self.name.and_then(|n| p.take(fields::text("name", &n, 1, 300))),
            venue_id: self.venue_id.and_then(|v| p.take(fields::id("venue_id", &v))),
            starts_at: self.starts_at.and_then(|t| p.take(fields::timestamp("starts_at", &t))),
            ends_at: self.ends_at.and_then(|t| p.take(fields::timestamp("ends_at", &t))),
            description: optional_text(&mut p, "description", self.description, 10_000),
            short_description: optional_text(&mut p, "short_description", self.short_description, 500),
            category: self.category,
            tags: self.tags.and_then(|tags| p.take(tags_field(tags))),
            visibility: self.visibility,
            doors_open_at: self
                .doors_open_at
                .map(|inner| inner.and_then(|t| p.take(fields::timestamp("doors_open_at", &t)))),
            timezone: self.timezone.and_then(|z| p.take(fields::time_zone("timezone", &z))),
            capacity: self.capacity.and_then(|c| p.take(fields::whole_number("capacity", c, 1, 1_000_000))),
            cancellation_deadline_hours: self
                .cancellation_deadline_hours
                .and_then(|h| p.take(fields::whole_number("cancellation_deadline_hours", h, 0, 8760))),
            image_url: self
                .image_url
                .map(|inner| inner.and_then(|u| p.take(fields::public_https_url("image_url", &u)))),
            age_restriction: self
                .age_restriction
                .map(|inner| inner.and_then(|a| p.take(fields::whole_number("age_restriction", a, 0, 100)))),
            metadata: self.metadata.and_then(|m| p.take(metadata_field(m))),
            status: self.status,
            version: self
                .version
                .and_then(|v| p.take(fields::whole_number("version", v, 1, i64::from(u32::MAX))))
                .map(u64::from),
        };
        p.finish()?;
        Ok(changes)
    }
}

fn tags_field(tags: Vec<String>) -> Result<Vec<String>, FieldError> {
    if tags.len() > 20 {
        return Err(FieldError::new("tags", field_code::OUT_OF_RANGE, "at most 20 tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        fields::text(&format!("tags[{i}]"), tag, 1, 50)?;
    }
    Ok(tags)
}

fn metadata_field(metadata: Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(FieldError::new("metadata", field_code::OUT_OF_RANGE, "metadata has at most 50 keys"));
    }
    let size = serde_json::to_vec(&metadata).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_METADATA_BYTES {
        return Err(FieldError::new("metadata", field_code::TOO_LONG, "metadata is at most 8 KiB of JSON"));
    }
    for (key, value) in &metadata {
        storable(value, 1).map_err(|why| FieldError::new(format!("metadata.{key}"), field_code::INVALID_VALUE, why))?;
    }
    Ok(metadata)
}

/// Nesting DynamoDB can store (it allows 32 levels; the event item and `metadata` take two).
const MAX_METADATA_DEPTH: usize = 30;

/// Whether DynamoDB can store `value` as it is: numbers of at most 38 significant digits with a
/// magnitude from 1e-130 to below 1e126, and no deeper nesting than it allows.
fn storable(value: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_METADATA_DEPTH {
        return Err(format!("metadata nests at most {MAX_METADATA_DEPTH} levels"));
    }
    match value {
        Value::Number(number) => {
            let text = number.to_string();
            let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((&text, "0"));
            let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            let significant = digits.trim_start_matches('0').trim_end_matches('0');
            let magnitude = number.as_f64().map_or(0.0, f64::abs);
            let in_range = magnitude == 0.0 || (1e-130..1e126).contains(&magnitude);
            if significant.len() > 38 || !in_range || exponent.parse::<i32>().is_err() {
                return Err("numbers must have at most 38 significant digits and lie between 1e-130 and 1e126".into());
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| storable(item, depth + 1)),
        Value::Object(fields) => fields.values().try_for_each(|field| storable(field, depth + 1)),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// The window in which an event may start, relative to now.
#[derive(Debug, Clone, Copy)]
pub struct StartWindow {
    pub min_lead: Duration,
    pub max_ahead: Duration,
}

impl Event {
    /// A new draft from validated create fields, with the venue's defaults filled in.
    pub fn create(id: EventId, changes: EventChanges, venue: &Venue, created_by: &str, now: DateTime<Utc>) -> Self {
        let name = changes.name.expect("required on create");
        Self {
            id,
            venue_id: venue.id,
            slug: slug::slugify(&name),
            name,
            description: changes.description.flatten(),
            short_description: changes.short_description.flatten(),
            category: changes.category.flatten(),
            tags: changes.tags.unwrap_or_default(),
            visibility: changes.visibility.unwrap_or(Visibility::Public),
            status: EventStatus::Draft,
            starts_at: changes.starts_at.expect("required on create"),
            ends_at: changes.ends_at.expect("required on create"),
            doors_open_at: changes.doors_open_at.flatten(),
            timezone: changes.timezone.unwrap_or_else(|| venue.timezone.clone()),
            capacity: changes.capacity.unwrap_or(venue.capacity),
            cancellation_deadline_hours: changes
                .cancellation_deadline_hours
                .unwrap_or(DEFAULT_CANCELLATION_DEADLINE_HOURS),
            image_url: changes.image_url.flatten(),
            age_restriction: changes.age_restriction.flatten(),
            metadata: changes.metadata.unwrap_or_default(),
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// This event with the requested field changes applied; the status is left to the caller.
    pub fn with_changes(&self, changes: &EventChanges, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        let c = changes.clone();
        if let Some(name) = c.name {
            next.slug = slug::slugify(&name);
            next.name = name;
        }
        next.venue_id = c.venue_id.unwrap_or(next.venue_id);
        next.starts_at = c.starts_at.unwrap_or(next.starts_at);
        next.ends_at = c.ends_at.unwrap_or(next.ends_at);
        next.description = c.description.unwrap_or(next.description);
        next.short_description = c.short_description.unwrap_or(next.short_description);
        next.category = c.category.unwrap_or(next.category);
        next.tags = c.tags.unwrap_or(next.tags);
        next.visibility = c.visibility.unwrap_or(next.visibility);
        next.doors_open_at = c.doors_open_at.unwrap_or(next.doors_open_at);
        next.timezone = c.timezone.unwrap_or(next.timezone);
        next.capacity = c.capacity.unwrap_or(next.capacity);
        next.cancellation_deadline_hours = c.cancellation_deadline_hours.unwrap_or(next.cancellation_deadline_hours);
        next.image_url = c.image_url.unwrap_or(next.image_url);
        next.age_restriction = c.age_restriction.unwrap_or(next.age_restriction);
        next.metadata = c.metadata.unwrap_or(next.metadata);
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }

    /// The rules an event must keep (422s). `previous` is `None` on create; the start window is
    /// only enforced when `starts_at` is new or moves.
    pub fn check_rules(
        &self,
        previous: Option<&Self>,
        venue: &Venue,
        window: StartWindow,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut rule = |field: &str, message: String| {
            errors.push(FieldError::new(field, field_code::RULE_VIOLATED, message));
        };
        if self.ends_at <= self.starts_at {
            rule("ends_at", "ends_at must be after starts_at".into());
        }
        if self.doors_open_at.is_some_and(|doors| doors > self.starts_at) {
            rule("doors_open_at", "doors_open_at must not be after starts_at".into());
        }
        if previous.is_none_or(|p| p.starts_at != self.starts_at) {
            if self.starts_at < now + window.min_lead {
                rule("starts_at", format!("starts_at must be at least {} hours ahead", window.min_lead.num_hours()));
            } else if self.starts_at > now + window.max_ahead {
                rule("starts_at", format!("starts_at must be at most {} days ahead", window.max_ahead.num_days()));
            }
        }
        if self.capacity > venue.capacity {
            rule("capacity", format!("capacity must not exceed the venue's capacity of {}", venue.capacity));
        }
        if errors.is_empty() { Ok(()) } else { Err(DomainError::BrokenRule(errors)) }
    }

    /// The calendar day the event starts on, where it happens.
    pub fn local_start_date(&self) -> NaiveDate {
        let zone = jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = jiff::Timestamp::from_second(self.starts_at.timestamp())
            .map(|instant| instant.to_zoned(zone).date())
            .ok()
            .and_then(|day| {
                let (month, day_of_month) = (u32::try_from(day.month()).ok()?, u32::try_from(day.day()).ok()?);
                NaiveDate::from_ymd_opt(day.year().into(), month, day_of_month)
            });
        // Stored start times are validated RFC 3339 instants, always within jiff's range.
        local.unwrap_or_else(|| self.starts_at.date_naive())
    }

    /// What makes two events duplicates: same venue, same local day, same name ignoring case.
    pub fn duplicate_key(&self) -> String {
        format!("{}#{}#{}", self.venue_id, self.local_start_date(), self.name.trim().to_lowercase())
    }

    /// Organizers manage only the events they created; admins manage all of the tenant's.
    pub fn can_be_managed_by(&self, principal: &Principal) -> bool {
        match principal.role {
            Role::Admin => true,
            Role::Organizer => self.created_by == principal.user_id,
            Role::Customer => false,
        }
    }

    /// Customers see public and unlisted events once published; staff see everything.
    pub fn is_visible_to(&self, principal: &Principal) -> bool {
        principal.is_staff() || (self.visibility != Visibility::Private && !self.status.is_pre_publication())
    }

    /// Fields that cannot change once tickets are held or sold.
    pub fn changes_schedule_or_place(&self, other: &Self) -> bool {
        self.venue_id != other.venue_id
            || self.starts_at != other.starts_at
            || self.ends_at != other.ends_at
            || self.timezone != other.timezone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::decode;

    fn venue() -> Venue {
        let now = Utc::now();
        Venue {
            id: VenueId::generate(),
            name: "Hall".into(),
            capacity: 1000,
            timezone: "America/New_York".into(),
            address: None,
            created_by: "u1".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    const WINDOW: StartWindow = StartWindow { min_lead: Duration::hours(2), max_ahead: Duration::days(365) };

    fn input(json: &serde_json::Value) -> Result<EventChanges, DomainError> {
        decode::<EventInput>(json.to_string().as_bytes()).map_err(DomainError::invalid)?.validate(InputKind::Create)
    }

    fn event_at(starts_in: Duration) -> (Event, Venue) {
        let venue = venue();
        let starts = Utc::now() + starts_in;
        let changes = input(&serde_json::json!({
            "name": "Show", "venue_id": venue.id, "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + Duration::hours(2)).to_rfc3339(),
        }))
        .unwrap();
        (Event::create(EventId::generate(), changes, &venue, "u1", Utc::now()), venue)
    }

    fn rule_fields(result: Result<(), DomainError>) -> Vec<String> {
        match result {
            Ok(()) => vec![],
            Err(DomainError::BrokenRule(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_new_event_takes_the_venue_defaults() {
        let (event, venue) = event_at(Duration::days(10));
        assert_eq!(event.status, EventStatus::Draft);
        assert_eq!((event.capacity, event.timezone.as_str()), (venue.capacity, "America/New_York"));
        assert_eq!((event.cancellation_deadline_hours, event.version), (24, 1));
        assert_eq!(event.visibility, Visibility::Public);
        assert_eq!(event.slug, "show");
    }

    #[test]
    fn the_start_must_fall_inside_the_window() {
        let (soon, venue) = event_at(Duration::minutes(90));
        assert_eq!(rule_fields(soon.check_rules(None, &venue, WINDOW, Utc::now())), ["starts_at"]);
        let (far, venue) = event_at(Duration::days(366));
        assert_eq!(rule_fields(far.check_rules(None, &venue, WINDOW, Utc::now())), ["starts_at"]);
        let (fine, venue) = event_at(Duration::hours(3));
        assert_eq!(rule_fields(fine.check_rules(None, &venue, WINDOW, Utc::now())), Vec::<String>::new());
    }

    #[test]
    fn an_unmoved_start_is_not_rechecked_against_the_window() {
        let (event, venue) = event_at(Duration::hours(3));
        let later = Utc::now() + Duration::hours(2);
        assert!(event.check_rules(Some(&event), &venue, WINDOW, later).is_ok());
    }

    #[test]
    fn ends_doors_and_capacity_rules_are_all_reported() {
        let (mut event, venue) = event_at(Duration::days(3));
        event.ends_at = event.starts_at;
        event.doors_open_at = Some(event.starts_at + Duration::minutes(1));
        event.capacity = venue.capacity + 1;
        assert_eq!(
            rule_fields(event.check_rules(None, &venue, WINDOW, Utc::now())),
            ["ends_at", "doors_open_at", "capacity"]
        );
    }

    #[test]
    fn create_requires_the_four_fields_and_refuses_status() {
        let Err(DomainError::Invalid(errors)) = input(&serde_json::json!({ "status": "DRAFT" })) else {
            panic!("expected 400");
        };
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [
                ("name", field_code::REQUIRED),
                ("venue_id", field_code::REQUIRED),
                ("starts_at", field_code::REQUIRED),
                ("ends_at", field_code::REQUIRED),
                ("status", field_code::UNEXPECTED_PROPERTY),
            ]
        );
    }

    #[test]
    fn a_zero_cancellation_deadline_stays_zero() {
        let venue = venue();
        let starts = Utc::now() + Duration::days(2);
        let changes = input(&serde_json::json!({
            "name": "x", "venue_id": venue.id, "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + Duration::hours(1)).to_rfc3339(), "cancellation_deadline_hours": 0,
        }))
        .unwrap();
        assert_eq!(Event::create(EventId::generate(), changes, &venue, "u", Utc::now()).cancellation_deadline_hours, 0);
    }

    #[test]
    fn duplicates_compare_names_case_insensitively_on_the_local_day() {
        let (mut a, _) = event_at(Duration::days(5));
        a.timezone = "America/New_York".into();
        a.starts_at = "2027-06-16T02:00:00Z".parse().unwrap(); // 22:00 on the 15th in New York
        let mut b = a.clone();
        b.name = "  SHOW ".into();
        b.starts_at = "2027-06-15T14:00:00Z".parse().unwrap();
        assert_eq!(a.duplicate_key(), b.duplicate_key());
        b.starts_at = "2027-06-16T05:00:00Z".parse().unwrap(); // the 16th in New York
        assert_ne!(a.duplicate_key(), b.duplicate_key());
    }

    #[test]
    fn the_local_start_date_follows_the_zone_rules_on_that_day() {
        let (event, _) = event_at(Duration::days(5));
        let on = |event: &Event, zone: &str, at: &str| {
            let mut event = event.clone();
            (event.timezone, event.starts_at) = (zone.into(), at.parse().unwrap());
            event.local_start_date().to_string()
        };
        assert_eq!(on(&event, "Pacific/Kiritimati", "2027-01-01T10:30:00Z"), "2027-01-02"); // UTC+14
        assert_eq!(on(&event, "Pacific/Pago_Pago", "2027-01-01T10:30:00Z"), "2026-12-31"); // UTC-11
        // 23:30 local either side of New York's spring change (UTC-5 before, UTC-4 after).
        assert_eq!(on(&event, "America/New_York", "2027-03-14T03:30:00Z"), "2027-03-13");
        assert_eq!(on(&event, "America/New_York", "2027-03-15T03:30:00Z"), "2027-03-14");
        assert_eq!(on(&event, "UTC", "2027-03-15T23:59:59Z"), "2027-03-15");
    }

    #[test]
    fn the_state_machine_matches_the_contract() {
        use EventStatus::*;
        assert!(Draft.check_move_to(Published).is_ok());
        assert!(Rescheduled.check_move_to(OnSale).is_ok());
        assert!(Draft.check_move_to(OnSale).is_err());
        assert!(Published.check_move_to(Draft).is_err());
        assert!(Completed.next_allowed().is_empty() && Cancelled.next_allowed().is_empty());
        let Err(DomainError::Conflict { code, detail, .. }) = OnSale.check_move_to(Cancelled) else { panic!() };
        assert_eq!(code, "INVALID_EVENT_STATE");
        assert!(detail.contains("/cancel"));
        let Err(DomainError::Conflict { detail, .. }) = Draft.check_move_to(OnSale) else { panic!() };
        assert!(detail.contains("REVIEW, PUBLISHED"), "{detail}");
    }

    #[test]
    fn availability_adds_up_ticket_types() {
        let a = Availability::from_ticket_types(100, [(50, 5, 10), (30, 0, 30)]);
        assert_eq!((a.allocated, a.reserved, a.sold, a.available), (80, 5, 40, 35));
        assert!(a.has_sales_or_holds());
    }

    #[test]
    fn metadata_that_dynamodb_cannot_store_is_a_field_error_not_a_500() {
        let parse = |json: &str| metadata_field(serde_json::from_str(json).unwrap());
        assert!(parse(r#"{"x": 1e125, "y": -0.5, "z": 12345678901234567890123456789012345678}"#).is_ok());
        for (json, field) in [
            (r#"{"x": 1e200}"#, "metadata.x"),
            (r#"{"x": 1e-200}"#, "metadata.x"),
            (r#"{"y": [1, 2, {"z": 1e126}]}"#, "metadata.y"),
        ] {
            assert_eq!(parse(json).unwrap_err().field, field, "{json}");
        }
        let deep = format!("{{\"d\": {}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse(&deep).unwrap_err().field, "metadata.d");
        let fine = format!("{{\"d\": {}1{}}}", "[".repeat(20), "]".repeat(20));
        assert!(parse(&fine).is_ok());
    }
}
