//! Every minute: ends held reservations past their expiry: see `shared::jobs` for the job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::SweepHolds).await
}
