//! `PUT /api/v1/venues/{venue_id}`: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::UpdateVenue).await
}
