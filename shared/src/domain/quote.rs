//! Price quotes: what lines of ticket types cost at a moment, by the same rules a hold prices
//! them with ([`priced_lines`] is the one place both go through), so a hold made at the same
//! instant from the same ticket types locks exactly the quoted amounts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{DomainError, FieldError, field_code};
use super::fields::Problems;
use super::ids::TicketTypeId;
use super::pricing::LinePrice;
use super::reservation::{LineInput, ReservationLine, Totals, ticket_lines};
use super::ticket_type::TicketType;

/// `POST /events/{id}/price-quote` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    items: Vec<LineInput>,
}

impl QuoteInput {
    pub fn validate(self) -> Result<Vec<(TicketTypeId, u32)>, DomainError> {
        let mut p = Problems::default();
        let lines = ticket_lines(&self.items, &mut p);
        p.finish()?;
        Ok(lines)
    }
}

/// One line of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteLine {
    pub ticket_type_id: TicketTypeId,
    #[serde(flatten)]
    pub price: LinePrice,
}

/// What `POST /events/{id}/price-quote` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    #[serde(flatten)]
    pub totals: Totals,
    pub currency: String,
}

/// Prices `lines` of `ticket_types` at `now`. A quote says what the tickets cost, not whether
/// they can be had: it does not look at the event's status, the sales windows or what is left
/// (a hold checks those, and prices the same way).
pub fn quote(
    ticket_types: &[TicketType],
    lines: &[(TicketTypeId, u32)],
    now: DateTime<Utc>,
) -> Result<Quote, DomainError> {
    let chosen = choose(ticket_types, lines)?;
    let priced = priced_lines(&chosen, now)?;
    Ok(Quote {
        totals: Totals::of(&priced.lines),
        lines: priced
            .lines
            .into_iter()
            .map(|l| QuoteLine { ticket_type_id: l.ticket_type_id, price: l.price })
            .collect(),
        currency: priced.currency,
    })
}

/// A requested line matched to its ticket type: `(index in the request, type, quantity)`.
pub type ChosenLine<'a> = (usize, &'a TicketType, u32);

/// Finds each line's ticket type and checks its quantity against the type's per-order bounds
/// (422 naming each line at fault).
pub fn choose<'a>(
    ticket_types: &'a [TicketType],
    lines: &[(TicketTypeId, u32)],
) -> Result<Vec<ChosenLine<'a>>, DomainError> {
    if lines.is_empty() {
        return Err(DomainError::BrokenRule(vec![no_lines()]));
    }
    let mut unknown = Vec::new();
    let mut chosen = Vec::new();
    for (i, (id, quantity)) in lines.iter().enumerate() {
        match ticket_types.iter().find(|t| t.id == *id) {
            Some(t) => chosen.push((i, t, *quantity)),
            None => unknown.push(FieldError::new(
                format!("items[{i}].ticket_type_id"),
                field_code::NOT_FOUND,
                "no such ticket type",
            )),
        }
    }
    if !unknown.is_empty() {
        return Err(DomainError::BrokenRule(unknown));
    }
    let bounds: Vec<_> = chosen
        .iter()
        .filter(|(_, t, q)| *q < t.min_per_order || *q > t.max_per_order)
        .map(|(i, t, _)| {
            FieldError::new(
                format!("items[{i}].quantity"),
                field_code::RULE_VIOLATED,
                format!("{} sells {} to {} per order", t.name, t.min_per_order, t.max_per_order),
            )
        })
        .collect();
    if !bounds.is_empty() {
        return Err(DomainError::BrokenRule(bounds));
    }
    Ok(chosen)
}

fn no_lines() -> FieldError {
    FieldError::new("items", field_code::OUT_OF_RANGE, "at least one line is needed")
}

/// Lines priced in one currency.
pub struct PricedLines {
    pub lines: Vec<ReservationLine>,
    pub currency: String,
}

/// Prices each chosen line at `now` by its type's rules; all lines must share a currency (422).
pub fn priced_lines(chosen: &[ChosenLine<'_>], now: DateTime<Utc>) -> Result<PricedLines, DomainError> {
    let currency = &chosen.first().ok_or_else(|| DomainError::BrokenRule(vec![no_lines()]))?.1.currency;
    if chosen.iter().any(|(_, t, _)| &t.currency != currency) {
        return Err(DomainError::BrokenRule(vec![FieldError::new(
            "items",
            field_code::RULE_VIOLATED,
            "all ticket types of one order must share a currency",
        )]));
    }
    let lines = chosen
        .iter()
        .map(|(_, t, q)| ReservationLine::new(t.id, &t.name, t.prices().line(now, *q, t.sold, t.quantity)))
        .collect();
    Ok(PricedLines { lines, currency: currency.clone() })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::fixtures;

    fn ticket_type(currency: &str, min_per_order: u32, max_per_order: u32) -> TicketType {
        TicketType {
            name: currency.into(),
            currency: currency.into(),
            price: 1000,
            service_fee: 0,
            facility_fee: 0,
            tax_rate_bps: 5,
            min_per_order,
            max_per_order,
            ..fixtures::ticket_type()
        }
    }

    fn fields(error: DomainError) -> Vec<String> {
        let DomainError::BrokenRule(errors) = error else { panic!("{error:?}") };
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_quote_prices_each_line_and_refuses_what_cannot_be_priced() {
        let (usd, eur) = (ticket_type("USD", 1, 10), ticket_type("EUR", 2, 4));
        let types = [usd.clone(), eur.clone()];
        let quoted = quote(&types, &[(usd.id, 1)], Utc::now()).unwrap();
        // 5 bps of 1000 is 0.5: half-up makes it 1.
        assert_eq!((quoted.totals.subtotal, quoted.totals.tax, quoted.totals.total), (1000, 1, 1001));
        assert_eq!(quoted.currency, "USD");
        assert_eq!(fields(quote(&types, &[(usd.id, 1), (eur.id, 2)], Utc::now()).unwrap_err()), ["items"]);
        assert_eq!(fields(quote(&types, &[(eur.id, 1)], Utc::now()).unwrap_err()), ["items[0].quantity"]);
        let unknown = TicketTypeId::generate();
        assert_eq!(
            fields(quote(&types, &[(usd.id, 1), (unknown, 1)], Utc::now()).unwrap_err()),
            ["items[1].ticket_type_id"]
        );
        assert_eq!(fields(quote(&types, &[], Utc::now()).unwrap_err()), ["items"]);
    }
}

/// Properties of the one price function, over every input up to the documented maxima.
#[cfg(test)]
mod properties {
    use chrono::{Duration, Utc};
    use proptest::prelude::*;

    use crate::domain::pricing::{Demand, DemandStep, EarlyBird, GroupDiscount, LastMinute, PriceList, Pricing};
    use crate::domain::reservation::{ReservationLine, Totals};
    use crate::domain::ticket_type::MAX_PRICE;

    const MAX: u64 = MAX_PRICE.unsigned_abs();
    /// The largest `max_per_order` a ticket type may have.
    const MAX_QUANTITY: u32 = 100;

    fn pricing() -> impl Strategy<Value = Option<Pricing>> {
        let at = |hours: i64| Utc::now() + Duration::hours(hours);
        let early =
            proptest::option::of((0..=MAX, -48i64..48).prop_map(move |(price, h)| EarlyBird { price, ends_at: at(h) }));
        let late = proptest::option::of(
            (0..=MAX, -48i64..48).prop_map(move |(price, h)| LastMinute { price, starts_at: at(h) }),
        );
        let group = proptest::option::of(
            // Half the minimums within an order's reach, so discounts are often applied.
            (prop_oneof![2u32..=MAX_QUANTITY, 2u32..=1000], 1u32..=100)
                .prop_map(|(min_quantity, percent)| GroupDiscount { min_quantity, percent }),
        );
        let steps = proptest::collection::vec(
            (1u32..=100, 0..=MAX).prop_map(|(sold_percent, price)| DemandStep { sold_percent, price }),
            0..5,
        );
        let demand = proptest::option::of(
            (steps, proptest::option::of(0..=MAX)).prop_map(|(steps, max_price)| Demand { steps, max_price }),
        );
        proptest::option::of((early, late, group, demand).prop_map(
            |(early_bird, last_minute, group_discount, demand)| Pricing {
                early_bird,
                last_minute,
                group_discount,
                demand,
            },
        ))
    }

    fn priced() -> impl Strategy<Value = (u64, u64, u64, u32, Option<Pricing>, u32, u32, u32)> {
        (0..=MAX, 0..=MAX, 0..=MAX, 0u32..=10_000, pricing(), 1..=MAX_QUANTITY, 1u32..=1_000_000, 0u32..=1_000_000)
            .prop_map(|(price, service, facility, tax, pricing, quantity, type_quantity, sold)| {
                (price, service, facility, tax, pricing, quantity, type_quantity, sold.min(type_quantity))
            })
    }

    proptest! {
        /// Up to every documented maximum nothing overflows; the unit price is one the rules
        /// name; the discount and the tax are their exact rates rounded half-up (checked as
        /// bounds on the exact value, not by the formula the code uses); and the same moment
        /// and sales always give the same line.
        #[test]
        fn a_line_follows_the_rules_and_depends_on_its_inputs_alone(
            (price, service_fee, facility_fee, tax_rate_bps, pricing, quantity, type_quantity, sold) in priced()
        ) {
            let list = PriceList { price, service_fee, facility_fee, tax_rate_bps, pricing: pricing.as_ref() };
            let now = Utc::now();
            let line = list.line(now, quantity, sold, type_quantity);
            let mut named = vec![price];
            if let Some(p) = &pricing {
                named.extend(p.early_bird.as_ref().map(|e| e.price));
                named.extend(p.last_minute.as_ref().map(|l| l.price));
                if let Some(d) = &p.demand {
                    named.extend(d.steps.iter().map(|s| s.price));
                    named.extend(d.max_price);
                }
            }
            prop_assert!(named.contains(&line.unit_price), "{} is no price the rules name", line.unit_price);
            let gross = u128::from(line.unit_price) * u128::from(quantity);
            let percent = pricing
                .as_ref()
                .and_then(|p| p.group_discount.as_ref())
                .filter(|g| quantity >= g.min_quantity)
                .map_or(0, |g| u128::from(g.percent));
            // discount = gross × percent / 100 rounded half-up: within [exact − ½, exact + ½).
            let (discount, exact) = (u128::from(line.discount) * 200, gross * percent * 2);
            prop_assert!(discount + 100 > exact && discount <= exact + 100, "discount {line:?}");
            prop_assert_eq!(u128::from(line.subtotal), gross - u128::from(line.discount));
            let fees = (u128::from(service_fee) + u128::from(facility_fee)) * u128::from(quantity);
            prop_assert_eq!(u128::from(line.fees), fees);
            let (tax, exact) = (u128::from(line.tax) * 20_000, (u128::from(line.subtotal) + fees) * u128::from(tax_rate_bps) * 2);
            prop_assert!(tax + 10_000 > exact && tax <= exact + 10_000, "tax {line:?}");
            prop_assert_eq!(line.total, line.subtotal + line.fees + line.tax);
            prop_assert_eq!(line, list.line(now, quantity, sold, type_quantity));
        }

        /// A group discount only ever lowers what a line costs.
        #[test]
        fn a_group_discount_never_raises_a_price(
            (price, service_fee, facility_fee, tax_rate_bps, pricing, quantity, type_quantity, sold) in priced()
        ) {
            let now = Utc::now();
            let with = PriceList { price, service_fee, facility_fee, tax_rate_bps, pricing: pricing.as_ref() };
            let without_group = pricing.clone().map(|p| Pricing { group_discount: None, ..p });
            let without = PriceList { pricing: without_group.as_ref(), ..with };
            let (a, b) = (with.line(now, quantity, sold, type_quantity), without.line(now, quantity, sold, type_quantity));
            prop_assert!(a.subtotal <= b.subtotal && a.tax <= b.tax && a.total <= b.total, "{a:?} > {b:?}");
        }

        /// An order's totals are the sums of its lines (ten lines at the maxima fit).
        #[test]
        fn totals_add_up_over_lines(
            lines in proptest::collection::vec(priced(), 1..=10)
        ) {
            let now = Utc::now();
            let priced: Vec<ReservationLine> = lines
                .iter()
                .map(|(price, service_fee, facility_fee, tax_rate_bps, pricing, quantity, type_quantity, sold)| {
                    let list = PriceList { price: *price, service_fee: *service_fee, facility_fee: *facility_fee, tax_rate_bps: *tax_rate_bps, pricing: pricing.as_ref() };
                    ReservationLine::new(crate::domain::ids::TicketTypeId::generate(), "t", list.line(now, *quantity, *sold, *type_quantity))
                })
                .collect();
            let totals = Totals::of(&priced);
            prop_assert_eq!(totals.total, priced.iter().map(|l| l.price.total).sum::<u64>());
            prop_assert_eq!(totals.total, totals.subtotal + totals.fees + totals.tax);
        }
    }
}
