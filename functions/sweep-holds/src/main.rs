//! Every minute: ends held reservations past their expiry: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::api::jobs::SweepHolds).await
}
