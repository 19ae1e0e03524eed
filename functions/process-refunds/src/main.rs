//! Refunds one order per message and notifies its holder once: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::api::jobs::ProcessRefunds).await
}
