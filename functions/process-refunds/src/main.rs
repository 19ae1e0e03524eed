//! Refunds one order per message and notifies its holder once: see `shared::jobs` for the job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::ProcessRefunds).await
}
