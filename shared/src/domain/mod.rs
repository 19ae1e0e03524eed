//! Pure domain types and rules: no I/O, so every rule is unit-testable.

pub mod cancellation;
pub mod event;
pub mod fields;
pub mod pricing;
pub mod reservation;
pub mod ticket_type;
pub mod venue;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at millisecond precision, the precision every stored timestamp has.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
