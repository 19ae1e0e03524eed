//! Consumes the expiry queue: ends holds when due: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::api::jobs::ExpireHolds).await
}
