//! Pure domain types and rules: no I/O and nothing of HTTP, so every rule is unit-testable
//! (a test in `shared/tests/layers.rs` keeps it so).

pub mod analytics;
pub mod cancellation;
pub mod error;
pub mod event;
pub mod fields;
#[cfg(test)]
pub mod fixtures;
pub mod hold;
pub mod ids;
pub mod inventory;
pub mod json;
pub mod lifecycle;
pub mod pricing;
pub mod principal;
#[cfg(test)]
mod properties;
pub mod quote;
pub mod reservation;
pub mod ticket_type;
pub mod venue;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at millisecond precision, the precision every stored timestamp has.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
