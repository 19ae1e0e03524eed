//! Everything the event service's functions share.
//!
//! - [`domain`]: venues and events, their validation and rules (pure, no I/O).
//! - [`store`]: the DynamoDB single table, with tenant-prefixed keys and conditional writes.
//! - [`api`]: one [`api::Endpoint`] per Lambda function, and the request wrapper they share.
//! - [`auth`], [`cursor`], [`http`], [`error`]: tokens, pagination, parsing and RFC 7807 errors.
//! - [`config`], [`telemetry`], [`lambda`]: cold-start wiring.

pub mod api;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod domain;
pub mod error;
pub mod http;
pub mod lambda;
pub mod payments;
pub mod store;
pub mod telemetry;
