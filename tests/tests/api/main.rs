//! Integration tests: whole flows over HTTP against DynamoDB Local and moto, started by the
//! tests themselves (see `harness`).

mod analytics;
mod attacks;
mod auth;
mod cancellation;
mod cors;
mod errors;
mod events;
mod expiry;
mod faults;
mod harness;
mod hot_paths;
mod idempotency;
mod inventory;
mod lifecycle;
mod openapi;
mod overselling;
mod payments;
mod pricing;
mod purchases;
mod rate_limits;
mod refunds;
mod samples;
mod secrets;
mod signing_keys;
mod tenancy;
mod venues;
mod workflow;
