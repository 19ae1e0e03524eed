//! Consumes the expiry queue: ends holds when due: see `shared::jobs` for the job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::ExpireHolds).await
}
