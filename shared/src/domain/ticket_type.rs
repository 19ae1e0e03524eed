//! Ticket types: what is for sale at an event, at what price, and how many.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, FieldError, field_code};
use super::event::Event;
use super::fields::{self, Problems, nullable};
use super::ids::{EventId, TicketTypeId};
use super::pricing::{PriceList, PriceRule, Pricing};

pub const MAX_PRICE: i64 = 99_999_999;

/// A ticket type with its live counters. At rest `available + reserved + sold = quantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketType {
    pub id: TicketTypeId,
    pub event_id: EventId,
    pub name: String,
    pub description: Option<String>,
    pub price: u64,
    pub currency: String,
    pub quantity: u32,
    pub service_fee: u64,
    pub facility_fee: u64,
    pub tax_rate_bps: u32,
    pub sales_start_at: Option<DateTime<Utc>>,
    pub sales_end_at: Option<DateTime<Utc>>,
    pub min_per_order: u32,
    pub max_per_order: u32,
    pub pricing: Option<Pricing>,
    pub version: u64,
    pub available: u32,
    pub reserved: u32,
    pub sold: u32,
    /// A copy of "the event is on sale", kept here so holds never touch the event item.
    #[serde(default)]
    pub sales_open: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TypeAvailability {
    pub quantity: u32,
    pub available: u32,
    pub reserved: u32,
    pub sold: u32,
}

/// A ticket type as the API returns it.
#[derive(Debug, Serialize)]
pub struct TicketTypeView<'a> {
    pub id: TicketTypeId,
    pub event_id: EventId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub price: u64,
    pub currency: &'a str,
    pub quantity: u32,
    pub service_fee: u64,
    pub facility_fee: u64,
    pub tax_rate_bps: u32,
    pub sales_start_at: Option<DateTime<Utc>>,
    pub sales_end_at: Option<DateTime<Utc>>,
    pub min_per_order: u32,
    pub max_per_order: u32,
    pub pricing: Option<&'a Pricing>,
    pub current_price: u64,
    pub current_price_rule: PriceRule,
    pub availability: TypeAvailability,
    pub version: u64,
}

impl TicketType {
    pub fn prices(&self) -> PriceList<'_> {
        PriceList {
            price: self.price,
            service_fee: self.service_fee,
            facility_fee: self.facility_fee,
            tax_rate_bps: self.tax_rate_bps,
            pricing: self.pricing.as_ref(),
        }
    }

    pub fn view(&self, now: DateTime<Utc>) -> TicketTypeView<'_> {
        let (current_price, current_price_rule) = self.prices().unit_price(now, self.sold, self.quantity);
        TicketTypeView {
            id: self.id,
            event_id: self.event_id,
            name: &self.name,
            description: self.description.as_deref(),
            price: self.price,
            currency: &self.currency,
            quantity: self.quantity,
            service_fee: self.service_fee,
            facility_fee: self.facility_fee,
            tax_rate_bps: self.tax_rate_bps,
            sales_start_at: self.sales_start_at,
            sales_end_at: self.sales_end_at,
            min_per_order: self.min_per_order,
            max_per_order: self.max_per_order,
            pricing: self.pricing.as_ref(),
            current_price,
            current_price_rule,
            availability: TypeAvailability {
                quantity: self.quantity,
                available: self.available,
                reserved: self.reserved,
                sold: self.sold,
            },
            version: self.version,
        }
    }

    /// Whether `now` is inside the sales window (an open end is unbounded).
    pub fn is_selling_at(&self, now: DateTime<Utc>) -> bool {
        self.sales_start_at.is_none_or(|start| start <= now) && self.sales_end_at.is_none_or(|end| now < end)
    }
}

/// The body of `POST` and `PUT …/ticket-types`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketTypeInput {
    #[serde(default, deserialize_with = "fields::not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    price: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "fields::not_null")]
    quantity: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    service_fee: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    facility_fee: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    tax_rate_bps: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    sales_start_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    sales_end_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    min_per_order: Option<i64>,
    #[serde(default, deserialize_with = "fields::not_null")]
    max_per_order: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pricing: Option<Option<Pricing>>,
    #[serde(default, deserialize_with = "fields::not_null")]
    version: Option<i64>,
}

/// A field-validated [`TicketTypeInput`].
#[derive(Debug, Clone, Default)]
pub struct TicketTypeChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub price: Option<u64>,
    pub currency: Option<String>,
    pub quantity: Option<u32>,
    pub service_fee: Option<u64>,
    pub facility_fee: Option<u64>,
    pub tax_rate_bps: Option<u32>,
    pub sales_start_at: Option<Option<DateTime<Utc>>>,
    pub sales_end_at: Option<Option<DateTime<Utc>>>,
    pub min_per_order: Option<u32>,
    pub max_per_order: Option<u32>,
    pub pricing: Option<Option<Pricing>>,
    pub version: Option<u64>,
}

fn money(p: &mut Problems, field: &str, value: Option<i64>) -> Option<u64> {
    value.and_then(|v| p.take(fields::whole_number(field, v, 0, MAX_PRICE))).map(u64::from)
}

/// ISO 4217 codes are three upper-case letters; the list of live codes is not ours to keep.
fn currency(raw: &str) -> Result<String, FieldError> {
    if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new("currency", field_code::INVALID_VALUE, "currency must be an ISO 4217 code such as USD"))
    }
}

impl TicketTypeInput {
    pub fn validate(self, creating: bool) -> Result<TicketTypeChanges, DomainError> {
        let mut p = Problems::default();
        if creating {
            for (field, present) in
                [("name", self.name.is_some()), ("price", self.price.is_some()), ("quantity", self.quantity.is_some())]
            {
                if !present {
                    p.push(field, field_code::REQUIRED, format!("{field} is required"));
                }
            }
            if self.version.is_some() {
                p.push("version", field_code::UNEXPECTED_PROPERTY, "version cannot be set on create");
            }
        }
        let changes = TicketTypeChanges {
            name: self.name.and_then(|n| p.take(fields::text("name", &n, 1, 100))),
            description: self.description.map(|d| d.and_then(|d| p.take(fields::text("description", &d, 0, 1000)))),
            price: money(&mut p, "price", self.price),
            currency: self.currency.and_then(|c| p.take(currency(&c))),
            quantity: self.quantity.and_then(|q| p.take(fields::whole_number("quantity", q, 1, 1_000_000))),
            service_fee: money(&mut p, "service_fee", self.service_fee),
            facility_fee: money(&mut p, "facility_fee", self.facility_fee),
            tax_rate_bps: self.tax_rate_bps.and_then(|t| p.take(fields::whole_number("tax_rate_bps", t, 0, 10_000))),
            sales_start_at: self
                .sales_start_at
                .map(|t| t.and_then(|t| p.take(fields::timestamp("sales_start_at", &t)))),
            sales_end_at: self.sales_end_at.map(|t| t.and_then(|t| p.take(fields::timestamp("sales_end_at", &t)))),
            min_per_order: self.min_per_order.and_then(|m| p.take(fields::whole_number("min_per_order", m, 1, 100))),
            max_per_order: self.max_per_order.and_then(|m| p.take(fields::whole_number("max_per_order", m, 1, 100))),
            pricing: self.pricing,
            version: self
                .version
                .and_then(|v| p.take(fields::whole_number("version", v, 1, i64::from(u32::MAX))))
                .map(u64::from),
        };
        if let Some(Some(pricing)) = &changes.pricing {
            check_pricing_fields(&mut p, pricing);
        }
        p.finish()?;
        Ok(changes)
    }
}

fn check_pricing_fields(p: &mut Problems, pricing: &Pricing) {
    let max = u64::try_from(MAX_PRICE).expect("positive");
    let mut price = |field: &str, value: u64| {
        if value > max {
            p.push(field, field_code::OUT_OF_RANGE, format!("{field} must be from 0 to {MAX_PRICE}"));
        }
    };
    if let Some(early) = &pricing.early_bird {
        price("pricing.early_bird.price", early.price);
    }
    if let Some(late) = &pricing.last_minute {
        price("pricing.last_minute.price", late.price);
    }
    if let Some(demand) = &pricing.demand {
        for (i, step) in demand.steps.iter().enumerate() {
            price(&format!("pricing.demand.steps[{i}].price"), step.price);
        }
        if let Some(cap) = demand.max_price {
            price("pricing.demand.max_price", cap);
        }
    }
    if let Some(group) = &pricing.group_discount {
        if !(2..=1000).contains(&group.min_quantity) {
            p.push("pricing.group_discount.min_quantity", field_code::OUT_OF_RANGE, "must be from 2 to 1000");
        }
        if !(1..=100).contains(&group.percent) {
            p.push("pricing.group_discount.percent", field_code::OUT_OF_RANGE, "must be from 1 to 100");
        }
    }
    if let Some(demand) = &pricing.demand {
        if demand.steps.is_empty() || demand.steps.len() > 20 {
            p.push("pricing.demand.steps", field_code::OUT_OF_RANGE, "1 to 20 steps");
        }
        for (i, step) in demand.steps.iter().enumerate() {
            if !(1..=100).contains(&step.sold_percent) {
                p.push(
                    &format!("pricing.demand.steps[{i}].sold_percent"),
                    field_code::OUT_OF_RANGE,
                    "must be from 1 to 100",
                );
            }
        }
    }
}

impl TicketType {
    /// A new type with every ticket available; defaults as the API contract says.
    pub fn create(id: TicketTypeId, event: &Event, changes: TicketTypeChanges, now: DateTime<Utc>) -> Self {
        let quantity = changes.quantity.expect("required on create");
        Self {
            id,
            event_id: event.id,
            name: changes.name.expect("required on create"),
            description: changes.description.flatten(),
            price: changes.price.expect("required on create"),
            currency: changes.currency.unwrap_or_else(|| "USD".to_owned()),
            quantity,
            service_fee: changes.service_fee.unwrap_or(0),
            facility_fee: changes.facility_fee.unwrap_or(0),
            tax_rate_bps: changes.tax_rate_bps.unwrap_or(0),
            sales_start_at: changes.sales_start_at.flatten(),
            sales_end_at: changes.sales_end_at.flatten(),
            min_per_order: changes.min_per_order.unwrap_or(1),
            max_per_order: changes.max_per_order.unwrap_or(10),
            pricing: changes.pricing.flatten(),
            version: 1,
            available: quantity,
            reserved: 0,
            sold: 0,
            sales_open: event.status == super::event::EventStatus::OnSale,
            created_at: now,
            updated_at: now,
        }
    }

    /// This type with the changes applied. Counters are not touched here: the quantity's
    /// effect on `available` is applied by the store, atomically.
    pub fn with_changes(&self, changes: &TicketTypeChanges, now: DateTime<Utc>) -> Self {
        let c = changes.clone();
        let mut next = self.clone();
        next.name = c.name.unwrap_or(next.name);
        next.description = c.description.unwrap_or(next.description);
        next.price = c.price.unwrap_or(next.price);
        next.currency = c.currency.unwrap_or(next.currency);
        next.quantity = c.quantity.unwrap_or(next.quantity);
        next.service_fee = c.service_fee.unwrap_or(next.service_fee);
        next.facility_fee = c.facility_fee.unwrap_or(next.facility_fee);
        next.tax_rate_bps = c.tax_rate_bps.unwrap_or(next.tax_rate_bps);
        next.sales_start_at = c.sales_start_at.unwrap_or(next.sales_start_at);
        next.sales_end_at = c.sales_end_at.unwrap_or(next.sales_end_at);
        next.min_per_order = c.min_per_order.unwrap_or(next.min_per_order);
        next.max_per_order = c.max_per_order.unwrap_or(next.max_per_order);
        next.pricing = c.pricing.unwrap_or(next.pricing);
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }

    /// Cross-field rules (422): the sales window and the per-order bounds.
    pub fn check_rules(&self, event: &Event) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut rule =
            |field: &str, message: &str| errors.push(FieldError::new(field, field_code::RULE_VIOLATED, message));
        if let (Some(start), Some(end)) = (self.sales_start_at, self.sales_end_at)
            && end <= start
        {
            rule("sales_end_at", "sales_end_at must be after sales_start_at");
        }
        if self.sales_end_at.is_some_and(|end| end > event.starts_at) {
            rule("sales_end_at", "sales_end_at must not be after the event starts");
        }
        if self.min_per_order > self.max_per_order {
            rule("min_per_order", "min_per_order must not exceed max_per_order");
        }
        if let Some(pricing) = &self.pricing {
            pricing_rules(pricing, self.price, event.starts_at, &mut rule);
        }
        if errors.is_empty() { Ok(()) } else { Err(DomainError::BrokenRule(errors)) }
    }
}

/// The pricing rules that must agree with each other, with `price` and with the event's start:
/// each broken one is reported on the field that breaks it.
fn pricing_rules(pricing: &Pricing, price: u64, event_starts_at: DateTime<Utc>, rule: &mut impl FnMut(&str, &str)) {
    if let Some(early) = &pricing.early_bird {
        if early.price >= price {
            rule("pricing.early_bird.price", "the early-bird price must be below price");
        }
        if early.ends_at > event_starts_at {
            rule("pricing.early_bird.ends_at", "the early-bird window must end by the time the event starts");
        }
    }
    if let Some(late) = &pricing.last_minute {
        if late.starts_at >= event_starts_at {
            rule("pricing.last_minute.starts_at", "the last-minute window must start before the event starts");
        }
        if pricing.early_bird.as_ref().is_some_and(|early| late.starts_at < early.ends_at) {
            rule(
                "pricing.last_minute.starts_at",
                "the last-minute window must not start before the early-bird window ends",
            );
        }
    }
    if let Some(demand) = &pricing.demand {
        for (i, pair) in demand.steps.windows(2).enumerate() {
            if pair[1].sold_percent <= pair[0].sold_percent {
                rule(
                    &format!("pricing.demand.steps[{}].sold_percent", i + 1),
                    "steps must follow each other in increasing sold_percent",
                );
            }
            if pair[1].price <= pair[0].price {
                rule(
                    &format!("pricing.demand.steps[{}].price", i + 1),
                    "each step must raise the price of the one before",
                );
            }
        }
        if let Some(cap) = demand.max_price
            && demand.steps.iter().any(|step| step.price > cap)
        {
            rule("pricing.demand.max_price", "max_price must not be below a step's price");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::pricing::{Demand, DemandStep, EarlyBird, LastMinute};

    fn broken(pricing: &Pricing, price: u64, starts_at: DateTime<Utc>) -> Vec<String> {
        let mut fields = Vec::new();
        pricing_rules(pricing, price, starts_at, &mut |field: &str, _: &str| fields.push(field.to_owned()));
        fields
    }

    fn steps(steps: &[(u32, u64)], max_price: Option<u64>) -> Pricing {
        let steps = steps.iter().map(|&(sold_percent, price)| DemandStep { sold_percent, price }).collect();
        Pricing { demand: Some(Demand { steps, max_price }), ..Pricing::default() }
    }

    #[test]
    fn pricing_windows_must_end_before_the_event_and_not_overlap() {
        let starts = Utc::now() + Duration::days(30);
        let early = |price, ends_at| Some(EarlyBird { price, ends_at });
        let late = |starts_at| Some(LastMinute { price: 12_000, starts_at });
        let fine = Pricing {
            early_bird: early(7_500, starts - Duration::days(20)),
            last_minute: late(starts - Duration::days(2)),
            ..Pricing::default()
        };
        assert!(broken(&fine, 10_000, starts).is_empty());
        let not_cheaper = Pricing { early_bird: early(10_000, starts - Duration::days(20)), ..Pricing::default() };
        assert_eq!(broken(&not_cheaper, 10_000, starts), ["pricing.early_bird.price"]);
        let after_start = Pricing { early_bird: early(7_500, starts + Duration::hours(1)), ..Pricing::default() };
        assert_eq!(broken(&after_start, 10_000, starts), ["pricing.early_bird.ends_at"]);
        let late_after_start = Pricing { last_minute: late(starts), ..Pricing::default() };
        assert_eq!(broken(&late_after_start, 10_000, starts), ["pricing.last_minute.starts_at"]);
        let overlapping = Pricing {
            early_bird: early(7_500, starts - Duration::days(2)),
            last_minute: late(starts - Duration::days(3)),
            ..Pricing::default()
        };
        assert_eq!(broken(&overlapping, 10_000, starts), ["pricing.last_minute.starts_at"]);
    }

    #[test]
    fn demand_steps_must_rise_and_stay_under_their_cap() {
        let starts = Utc::now() + Duration::days(30);
        assert!(broken(&steps(&[(50, 12_500), (80, 15_000)], Some(15_000)), 10_000, starts).is_empty());
        // The contract does not say a step must be above `price`, so one below it is not refused.
        assert!(broken(&steps(&[(50, 9_000)], None), 10_000, starts).is_empty());
        assert_eq!(
            broken(&steps(&[(50, 12_500), (50, 15_000)], None), 10_000, starts),
            ["pricing.demand.steps[1].sold_percent"]
        );
        assert_eq!(
            broken(&steps(&[(50, 12_500), (80, 12_500)], None), 10_000, starts),
            ["pricing.demand.steps[1].price"]
        );
        assert_eq!(
            broken(&steps(&[(50, 12_500), (80, 15_000)], Some(14_000)), 10_000, starts),
            ["pricing.demand.max_price"]
        );
    }
}
