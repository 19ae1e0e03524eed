//! The sample events in `events/` are real API Gateway v2 payloads: each one, fed to its
//! function's handler exactly as Lambda would, reaches that handler and gets a sensible answer.

use shared::api::Endpoint;

use crate::harness::{project_root, stack};

fn expected_status(endpoint: Endpoint) -> u16 {
    match endpoint {
        Endpoint::Health | Endpoint::ListVenues | Endpoint::ListEvents | Endpoint::ListCustomerOrders => 200,
        Endpoint::CreateVenue => 201,
        // The sample's venue does not exist in a fresh table.
        Endpoint::CreateEvent => 422,
        Endpoint::GetVenue
        | Endpoint::UpdateVenue
        | Endpoint::GetEvent
        | Endpoint::UpdateEvent
        | Endpoint::DeleteEvent
        | Endpoint::PublishEvent
        // The samples name an event, reservation and order that a fresh table does not have.
        | Endpoint::CreateTicketType
        | Endpoint::ListTicketTypes
        | Endpoint::UpdateTicketType
        | Endpoint::GetCapacity
        | Endpoint::CreateReservation
        | Endpoint::GetReservation
        | Endpoint::ReleaseReservation
        | Endpoint::ConfirmReservation
        | Endpoint::GetOrder
        | Endpoint::ListEventOrders => 404,
    }
}

#[tokio::test]
async fn every_sample_event_reaches_its_handler() {
    let stack = stack();
    let deps = stack.deps(&stack.table, None);
    for endpoint in Endpoint::ALL {
        let file = project_root().join(format!("events/{}.json", endpoint.function_name()));
        let json = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let request = lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let response = endpoint.handle(&deps, request).await;
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert_eq!(response.status().as_u16(), expected_status(endpoint), "{}: {body}", file.display());
        let request_id = response.headers().get("x-request-id").unwrap().to_str().unwrap();
        assert_eq!(request_id, format!("sample-{}", endpoint.function_name()), "API Gateway's request id is used");
    }
}
