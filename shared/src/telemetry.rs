//! Structured logs. Each request runs in a span carrying `request_id`, `route` and `tenant`,
//! and the JSON formatter copies the span's fields onto every line logged inside it.
//!
//! `RUST_LOG` takes a level or `target=level` directives (`info`, `warn,shared=debug`). It is
//! read with `tracing_subscriber`'s `Targets`, not `EnvFilter`: span and field filters are not
//! needed here, and `EnvFilter` links a regex engine (about 300 KB of every bootstrap,
//! docs/performance.md).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// JSON lines for CloudWatch (default), or `LOG_FORMAT=text` for a terminal.
pub fn init() {
    let registry = tracing_subscriber::registry().with(log_filter(std::env::var("RUST_LOG").ok().as_deref()));
    let lines = tracing_subscriber::fmt::layer().with_target(false);
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "text") {
        registry.with(lines).try_init()
    } else {
        registry.with(lines.json().with_current_span(true).with_span_list(false).flatten_event(true)).try_init()
    };
    // A second init (tests, the local runner) keeps the first subscriber.
    drop(result);
}

/// `RUST_LOG`'s directives; `info` when it is unset or does not parse. (A bare word parses as
/// a target name: `inof` would log nothing; the template allows only the four level names.)
fn log_filter(directives: Option<&str>) -> Targets {
    directives.and_then(|d| d.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_level_and_per_target_directives_are_read_and_a_typo_falls_back_to_info() {
        let debug = log_filter(Some("debug"));
        assert!(debug.would_enable("shared::api", &Level::DEBUG));
        let mixed = log_filter(Some("warn,shared=debug"));
        assert!(mixed.would_enable("shared::store", &Level::DEBUG));
        assert!(!mixed.would_enable("aws_smithy_runtime", &Level::INFO));
        for unreadable in [None, Some("lots=of=equals")] {
            let fallback = log_filter(unreadable);
            assert!(fallback.would_enable("shared", &Level::INFO), "{unreadable:?}");
            assert!(!fallback.would_enable("shared", &Level::DEBUG), "{unreadable:?}");
        }
    }
}
