//! Restarts cancellations that stopped making progress: see `shared::jobs::fanout` for the job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_job(shared::jobs::ResumeCancellations).await
}
