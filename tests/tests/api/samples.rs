//! The sample events in `events/` are real API Gateway v2 payloads: each one, fed to its
//! function's handler exactly as Lambda would (through the function's own handler type, as its
//! binary does), reaches that handler and gets a sensible answer.

use shared::api::Endpoint;

use crate::harness::{project_root, stack};

fn expected_status(endpoint: Endpoint) -> u16 {
    match endpoint {
        Endpoint::Health
        | Endpoint::ListVenues
        | Endpoint::ListEvents
        | Endpoint::ListCustomerOrders
        | Endpoint::CustomerAnalytics
        | Endpoint::SalesReport => 200,
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
        | Endpoint::PriceQuote
        | Endpoint::CreateReservation
        | Endpoint::GetReservation
        | Endpoint::ReleaseReservation
        | Endpoint::ConfirmReservation
        | Endpoint::GetOrder
        | Endpoint::ListEventOrders
        | Endpoint::CancelEvent
        | Endpoint::GetCancellation
        | Endpoint::RefundOrder
        | Endpoint::VenueAnalytics => 404,
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
        let response = local_runner::operation_log::as_function(
            endpoint.function_name(),
            endpoint.handle_as_its_binary(&deps, request),
        )
        .await;
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert_eq!(response.status().as_u16(), expected_status(endpoint), "{}: {body}", file.display());
        let request_id = response.headers().get("x-request-id").unwrap().to_str().unwrap();
        assert_eq!(request_id, format!("sample-{}", endpoint.function_name()), "API Gateway's request id is used");
    }
}

#[tokio::test]
async fn every_job_sample_runs_through_its_job() {
    use shared::jobs::Job;
    let stack = stack();
    let deps = stack.deps(&stack.table, None);
    for job in Job::ALL {
        let file = project_root().join(format!("events/{}.json", job.function_name()));
        let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let response = local_runner::operation_log::as_function(
            job.function_name(),
            Box::pin(job.handle(&deps, payload, deadline)),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // The samples name holds, orders and cancellations a fresh table does not have: each
        // message is a no-op that succeeds, so nothing is reported for redelivery.
        match job {
            Job::SweepHolds => assert_eq!(response, serde_json::json!({ "expired": 0 })),
            // Nothing in the shared table has been stalled for the default ten minutes.
            Job::ResumeCancellations => assert_eq!(response, serde_json::json!({ "resumed": 0 })),
            // Other tests' events in the shared table may be due: the count is theirs.
            Job::AdvanceEvents => assert!(response["moved"].is_u64(), "{response}"),
            _ => assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{}", file.display()),
        }
    }
}
