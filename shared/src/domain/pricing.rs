//! Ticket prices: the unit price at a moment (early bird, last minute, demand steps), group
//! discounts, fees and tax. Money is integer minor units; every computed component is rounded
//! half-up exactly once, here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyBird {
    pub price: u64,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastMinute {
    pub price: u64,
    pub starts_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDiscount {
    pub min_quantity: u32,
    pub percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandStep {
    pub sold_percent: u32,
    pub price: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    pub steps: Vec<DemandStep>,
    pub max_price: Option<u64>,
}

/// The optional pricing rules of a ticket type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub early_bird: Option<EarlyBird>,
    pub last_minute: Option<LastMinute>,
    pub group_discount: Option<GroupDiscount>,
    pub demand: Option<Demand>,
}

/// Which rule set a unit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceRule {
    Standard,
    EarlyBird,
    LastMinute,
    Demand,
}

/// What a ticket type charges, as far as pricing is concerned.
#[derive(Debug, Clone, Copy)]
pub struct PriceList<'a> {
    pub price: u64,
    pub service_fee: u64,
    pub facility_fee: u64,
    pub tax_rate_bps: u32,
    pub pricing: Option<&'a Pricing>,
}

/// One priced line of a quote or a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePrice {
    pub quantity: u32,
    pub unit_price: u64,
    pub rule: PriceRule,
    pub discount: u64,
    pub subtotal: u64,
    pub fees: u64,
    pub tax: u64,
    pub total: u64,
}

/// `numerator / denominator`, rounded half-up (for the non-negative amounts money takes here).
pub fn round_half_up(numerator: u128, denominator: u128) -> u128 {
    (2 * numerator + denominator) / (2 * denominator)
}

impl PriceList<'_> {
    /// The unit price at `now` of the next ticket of a type that has sold `sold` of `quantity`.
    /// A demand step applies from the ticket that crosses it: with a step at 50 % of 10, the 5th
    /// ticket (sold 4 before it) pays the step.
    pub fn unit_price(&self, now: DateTime<Utc>, sold: u32, quantity: u32) -> (u64, PriceRule) {
        let Some(pricing) = self.pricing else { return (self.price, PriceRule::Standard) };
        if let Some(early) = pricing.early_bird.as_ref().filter(|e| now < e.ends_at) {
            return (early.price, PriceRule::EarlyBird);
        }
        if let Some(late) = pricing.last_minute.as_ref().filter(|l| now >= l.starts_at) {
            return (late.price, PriceRule::LastMinute);
        }
        if let Some(demand) = &pricing.demand {
            // Exact, in whole tickets: the step is reached once sold-after-this-ticket × 100
            // reaches its percent of the quantity (no rounding of the share sold).
            let sold_after = u64::from(sold) + 1;
            let reached = demand
                .steps
                .iter()
                .filter(|s| sold_after * 100 >= u64::from(s.sold_percent) * u64::from(quantity))
                .max_by_key(|s| s.sold_percent);
            if let Some(step) = reached {
                let price = demand.max_price.map_or(step.price, |cap| step.price.min(cap));
                return (price, PriceRule::Demand);
            }
        }
        (self.price, PriceRule::Standard)
    }

    /// Prices `quantity` tickets at `now`. A line has one unit price, its first ticket's: a line
    /// that spans a demand step is priced below it.
    pub fn line(&self, now: DateTime<Utc>, quantity: u32, sold: u32, type_quantity: u32) -> LinePrice {
        let (unit_price, rule) = self.unit_price(now, sold, type_quantity);
        let gross = u128::from(unit_price) * u128::from(quantity);
        let discount = self
            .pricing
            .and_then(|p| p.group_discount.as_ref())
            .filter(|g| quantity >= g.min_quantity)
            .map_or(0, |g| round_half_up(gross * u128::from(g.percent), 100));
        let subtotal = gross - discount;
        let fees = u128::from(self.service_fee + self.facility_fee) * u128::from(quantity);
        let tax = round_half_up((subtotal + fees) * u128::from(self.tax_rate_bps), 10_000);
        let narrow = |amount: u128| u64::try_from(amount).expect("bounded inputs keep totals in u64");
        LinePrice {
            quantity,
            unit_price,
            rule,
            discount: narrow(discount),
            subtotal: narrow(subtotal),
            fees: narrow(fees),
            tax: narrow(tax),
            total: narrow(subtotal + fees + tax),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn list(pricing: Option<&Pricing>) -> PriceList<'_> {
        PriceList { price: 5000, service_fee: 500, facility_fee: 250, tax_rate_bps: 800, pricing }
    }

    #[test]
    fn the_worked_example_of_the_contract() {
        let line = list(None).line(Utc::now(), 2, 0, 100);
        assert_eq!((line.subtotal, line.fees, line.tax, line.total), (10_000, 1_500, 920, 12_420));
        assert_eq!(line.rule, PriceRule::Standard);
    }

    #[test]
    fn half_up_rounds_halves_away_from_zero() {
        assert_eq!(round_half_up(5, 10), 1);
        assert_eq!(round_half_up(4, 10), 0);
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_half_up(25, 10), 3);
        // 33 % of 1234 = 407.22 → 407; of 1250 = 412.5 → 413.
        assert_eq!(round_half_up(1234 * 33, 100), 407);
        assert_eq!(round_half_up(1250 * 33, 100), 413);
    }

    #[test]
    fn early_bird_then_last_minute_then_demand_then_base() {
        let now = Utc::now();
        let pricing = Pricing {
            early_bird: Some(EarlyBird { price: 3000, ends_at: now + Duration::days(1) }),
            last_minute: Some(LastMinute { price: 7000, starts_at: now + Duration::days(10) }),
            group_discount: None,
            demand: Some(Demand {
                steps: vec![DemandStep { sold_percent: 50, price: 6000 }, DemandStep { sold_percent: 80, price: 9000 }],
                max_price: Some(8000),
            }),
        };
        let prices = list(Some(&pricing));
        assert_eq!(prices.unit_price(now, 0, 100), (3000, PriceRule::EarlyBird));
        let later = now + Duration::days(2);
        assert_eq!(prices.unit_price(later, 10, 100), (5000, PriceRule::Standard));
        assert_eq!(prices.unit_price(later, 48, 100), (5000, PriceRule::Standard), "the 49th ticket");
        assert_eq!(prices.unit_price(later, 49, 100), (6000, PriceRule::Demand), "the 50th ticket crosses 50 %");
        assert_eq!(prices.unit_price(later, 50, 100), (6000, PriceRule::Demand));
        // 50 % of 7 is 3.5 tickets: the 4th ticket crosses it, not the 3rd.
        assert_eq!(prices.unit_price(later, 2, 7), (5000, PriceRule::Standard));
        assert_eq!(prices.unit_price(later, 3, 7), (6000, PriceRule::Demand));
        assert_eq!(prices.unit_price(later, 85, 100), (8000, PriceRule::Demand), "capped at max_price");
        assert_eq!(prices.unit_price(now + Duration::days(11), 85, 100), (7000, PriceRule::LastMinute));
    }

    #[test]
    fn group_discounts_apply_from_the_minimum_quantity() {
        let pricing =
            Pricing { group_discount: Some(GroupDiscount { min_quantity: 4, percent: 15 }), ..Pricing::default() };
        let prices = list(Some(&pricing));
        assert_eq!(prices.line(Utc::now(), 3, 0, 100).discount, 0);
        let line = prices.line(Utc::now(), 4, 0, 100);
        assert_eq!((line.discount, line.subtotal), (3000, 17_000));
        assert_eq!(line.tax, 1600, "8 % of 17,000 + 3,000");
    }
}
