//! `POST /api/v1/orders/{order_id}/refund`: see `shared::api` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::RefundOrder).await
}
