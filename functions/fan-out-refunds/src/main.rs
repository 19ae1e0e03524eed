//! Pages through a cancelled event's orders and enqueues their refunds: see `shared::jobs` for the job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::FanOutRefunds).await
}
