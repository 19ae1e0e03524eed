//! Everything the event service's functions share, in layers (docs/architecture.md; the test
//! `tests/layers.rs` keeps them):
//!
//! - [`domain`]: venues and events, their validation and rules (pure, no I/O, nothing of HTTP).
//! - [`store`], [`messages`], [`payments`], [`auth`], [`cursor`]: the DynamoDB single table, the
//!   queues' messages, the payment provider, tokens, pagination.
//! - [`config`], [`secrets`], [`aws_clients`], [`telemetry`], then [`deps`]: cold-start wiring.
//! - [`usecases`]: steps that handlers and jobs share.
//! - [`api`] (with [`http`] and [`error`]) and [`jobs`]: the entry points, one per Lambda function.
//! - [`lambda`]: the runtime loop each function's `main` starts.

pub mod api;
pub mod auth;
pub mod aws_clients;
pub mod config;
pub mod cursor;
pub mod deps;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod lambda;
pub mod messages;
pub mod monitoring;
pub mod payments;
pub mod ratelimit;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod usecases;

#[cfg(test)]
mod tests {
    /// The IAM check attributes AWS calls to a function through a task-local scope (see
    /// docs/iam.md); a task spawned by handler code would escape it, and its calls with it.
    #[test]
    fn handler_code_spawns_no_tasks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if ["tokio::spawn", "task::spawn", "JoinSet"]
                        .iter()
                        .any(|p| text.contains(p) && !path.ends_with("lib.rs"))
                    {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "spawning in handler code: {offenders:?}");
    }
}
