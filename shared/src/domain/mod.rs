//! Pure domain types and rules: no I/O, so every rule is unit-testable.

pub mod event;
pub mod fields;
pub mod venue;
