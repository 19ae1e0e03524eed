//! Structured logs. Each request runs in a span carrying `request_id`, `route` and `tenant`,
//! and the JSON formatter copies the span's fields onto every line logged inside it.

use tracing_subscriber::EnvFilter;

/// JSON lines for CloudWatch (default), or `LOG_FORMAT=text` for a terminal.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "text") {
        builder.try_init()
    } else {
        builder.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init()
    };
    // A second init (tests, the local runner) keeps the first subscriber.
    drop(result);
}
