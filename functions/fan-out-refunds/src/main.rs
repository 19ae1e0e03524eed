//! Pages through a cancelled event's orders and enqueues their refunds: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::api::jobs::FanOutRefunds).await
}
