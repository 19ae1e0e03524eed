//! Sales figures for analytics: counts and money in minor units, kept per currency and never
//! added across currencies. The store keeps them in the transactions that confirm orders and
//! apply refunds; this module only adds them up and says how they read.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// One currency's figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub orders: u64,
    pub tickets: u64,
    /// What the orders paid (their totals).
    pub gross: u64,
    /// What refunds gave back, once the provider confirmed them.
    pub refunded: u64,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.orders += other.orders;
        self.tickets += other.tickets;
        self.gross += other.gross;
        self.refunded += other.refunded;
    }

    /// Signed: a figure that started counting after some orders (see docs/data-model.md) could
    /// show more refunded than paid rather than wrap around.
    pub fn net(&self) -> i128 {
        i128::from(self.gross) - i128::from(self.refunded)
    }
}

/// Figures by currency (ISO 4217 code).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sales(pub BTreeMap<String, Figures>);

impl Sales {
    pub fn of(currency: &str, figures: Figures) -> Self {
        Self(BTreeMap::from([(currency.to_owned(), figures)]))
    }

    pub fn add(&mut self, other: &Sales) {
        for (currency, figures) in &other.0 {
            self.0.entry(currency.clone()).or_default().add(*figures);
        }
    }

    /// Tickets and orders are counts, so they add up across currencies.
    pub fn tickets(&self) -> u64 {
        self.0.values().map(|f| f.tickets).sum()
    }

    pub fn orders(&self) -> u64 {
        self.0.values().map(|f| f.orders).sum()
    }

    /// The one currency these figures are in; `None` with none or several.
    fn single(&self) -> Option<(&String, &Figures)> {
        let mut currencies = self.0.iter();
        match (currencies.next(), currencies.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// `gross_revenue`, `refunded_amount`, `net_revenue` and `currency` when the figures are in
    /// one currency (zeros and a `null` currency with no sales; `null`s with several, which
    /// `by_currency` then lists), and `by_currency` always.
    pub fn revenue_fields(&self) -> Map<String, Value> {
        let money =
            |f: &Figures| json!({ "gross_revenue": f.gross, "refunded_amount": f.refunded, "net_revenue": f.net() });
        self.fields(money, |c, f| {
            json!({ "currency": c, "tickets_sold": f.tickets, "gross_revenue": f.gross,
                    "refunded_amount": f.refunded, "net_revenue": f.net() })
        })
    }

    /// As [`Self::revenue_fields`], from a buyer's side: `total_spent` and `refunded_amount`.
    pub fn spending_fields(&self) -> Map<String, Value> {
        let money = |f: &Figures| json!({ "total_spent": f.gross, "refunded_amount": f.refunded });
        self.fields(money, |c, f| {
            json!({ "currency": c, "orders": f.orders, "tickets": f.tickets, "total_spent": f.gross,
                    "refunded_amount": f.refunded })
        })
    }

    fn fields(
        &self,
        money: impl Fn(&Figures) -> Value,
        per_currency: impl Fn(&str, &Figures) -> Value,
    ) -> Map<String, Value> {
        let object = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut fields = match self.single() {
            Some((_, figures)) => object(money(figures)),
            None if self.0.is_empty() => object(money(&Figures::default())),
            None => object(money(&Figures::default())).into_iter().map(|(name, _)| (name, Value::Null)).collect(),
        };
        fields.insert("currency".into(), self.single().map_or(Value::Null, |(currency, _)| currency.clone().into()));
        fields.insert("by_currency".into(), self.0.iter().map(|(c, f)| per_currency(c, f)).collect());
        fields
    }
}

/// Tickets sold as a share of capacity, in percent with two decimals, rounded half up.
pub fn sell_through_percent(tickets: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        return 0.0;
    }
    let hundredths = (u128::from(tickets) * 10_000 + u128::from(capacity) / 2) / u128::from(capacity);
    #[allow(clippy::cast_precision_loss)] // at most 10,000 × tickets / capacity: far below 2^52
    let percent = hundredths as f64 / 100.0;
    percent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(orders: u64, tickets: u64, gross: u64, refunded: u64) -> Figures {
        Figures { orders, tickets, gross, refunded }
    }

    #[test]
    fn currencies_are_never_added_together() {
        let mut sales = Sales::of("USD", figures(2, 3, 10_000, 2_500));
        sales.add(&Sales::of("USD", figures(1, 1, 5_000, 0)));
        let fields = sales.revenue_fields();
        assert_eq!(fields["gross_revenue"], 15_000);
        assert_eq!(fields["refunded_amount"], 2_500);
        assert_eq!(fields["net_revenue"], 12_500);
        assert_eq!(fields["currency"], "USD");
        assert_eq!(sales.tickets(), 4);

        sales.add(&Sales::of("EUR", figures(1, 2, 7_000, 0)));
        let fields = sales.revenue_fields();
        assert_eq!(fields["gross_revenue"], Value::Null, "no total across USD and EUR");
        assert_eq!(fields["currency"], Value::Null);
        assert_eq!(fields["by_currency"][0]["currency"], "EUR");
        assert_eq!(fields["by_currency"][0]["gross_revenue"], 7_000);
        assert_eq!(fields["by_currency"][1]["gross_revenue"], 15_000);
        assert_eq!((sales.tickets(), sales.orders()), (6, 4), "counts still add up");
    }

    #[test]
    fn no_sales_read_as_zeros_in_no_currency() {
        let fields = Sales::default().spending_fields();
        assert_eq!((fields["total_spent"].clone(), fields["refunded_amount"].clone()), (json!(0), json!(0)));
        assert_eq!(fields["currency"], Value::Null);
        assert_eq!(fields["by_currency"], json!([]));
    }

    #[test]
    fn sell_through_rounds_half_up_to_hundredths() {
        assert!((sell_through_percent(1, 3) - 33.33).abs() < 1e-9);
        assert!((sell_through_percent(2, 3) - 66.67).abs() < 1e-9);
        assert!((sell_through_percent(1, 8) - 12.5).abs() < 1e-9);
        assert!((sell_through_percent(1, 20_000) - 0.01).abs() < 1e-9, "0.005 rounds up");
        assert!((sell_through_percent(0, 0)).abs() < 1e-9);
    }
}
