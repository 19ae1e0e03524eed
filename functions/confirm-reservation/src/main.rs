//! `POST /api/v1/reservations/{reservation_id}/confirm`: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::ConfirmReservation).await
}
