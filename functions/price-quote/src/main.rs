//! `POST /api/v1/events/{event_id}/price-quote`: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::PriceQuote).await
}
