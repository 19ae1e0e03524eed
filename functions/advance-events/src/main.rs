//! Every minute: moves events through their lifecycle on time: see `shared::jobs::lifecycle`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::AdvanceEvents).await
}
