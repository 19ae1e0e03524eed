//! `PUT /api/v1/events/{event_id}/ticket-types/{ticket_type_id}`: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::UpdateTicketType).await
}
