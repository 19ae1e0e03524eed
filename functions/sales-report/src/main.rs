//! `GET /api/v1/analytics/reports/sales`: see `shared::api::analytics` for the handler.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::api::routes::SalesReport).await
}
