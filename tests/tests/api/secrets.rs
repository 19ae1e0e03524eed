//! Secrets: read from Secrets Manager at cold start, only by the functions that need them, and a
//! secret that cannot be used stops the cold start with its name (never its value).

use shared::secrets::{SecretError, SecretIds, Secrets};

use crate::harness::{stack, template};

fn functions_reading(secret: &str) -> Vec<String> {
    template().secret_variables.iter().filter(|v| v.secret == secret).map(|v| v.function.clone()).collect()
}

#[test]
fn each_secret_is_named_only_to_the_functions_that_use_it() {
    // The cursor key signs list cursors; the payment key calls the provider.
    assert_eq!(
        functions_reading("CursorSecret"),
        ["list-customer-orders", "list-event-orders", "list-events", "list-venues", "sales-report"]
    );
    assert_eq!(functions_reading("PaymentsSecretKey"), ["confirm-reservation", "process-refunds"]);
    let variables: Vec<String> = template().secret_variables.iter().map(|v| v.variable.clone()).collect();
    assert!(variables.iter().all(|v| v == "CURSOR_SECRET_ID" || v == "PAYMENTS_SECRET_ID"), "{variables:?}");
}

#[tokio::test]
async fn a_secret_that_cannot_be_used_stops_the_cold_start_naming_it() {
    let emulators = &stack().emulators;
    let client = local_runner::emulator_clients(&emulators.dynamodb.endpoint(), &emulators.sqs.endpoint()).secrets;
    let prefix = format!("secrets-{}", uuid::Uuid::now_v7());

    let missing = SecretIds { cursor: Some(format!("{prefix}-Missing")), payments_key: None };
    let error = Secrets::load(&client, &missing).await.unwrap_err();
    assert!(matches!(&error, SecretError::Unreadable { id, .. } if id.ends_with("-Missing")), "{error}");

    let short = format!("{prefix}-Short");
    client.create_secret().name(&short).secret_string("too-short-for-a-key").send().await.unwrap();
    let error =
        Secrets::load(&client, &SecretIds { cursor: Some(short.clone()), payments_key: None }).await.unwrap_err();
    assert!(matches!(&error, SecretError::Invalid { .. }), "{error}");
    assert!(!error.to_string().contains("too-short"), "the value is never in the message: {error}");

    let empty = format!("{prefix}-Empty");
    client.create_secret().name(&empty).send().await.unwrap();
    let error = Secrets::load(&client, &SecretIds { cursor: None, payments_key: Some(empty) }).await.unwrap_err();
    assert!(error.to_string().contains("put-secret-value"), "{error}");

    let key = format!("{prefix}-Key");
    client.create_secret().name(&key).secret_string("sk_test_abc").send().await.unwrap();
    let read = Secrets::load(&client, &SecretIds { cursor: None, payments_key: Some(key) }).await.unwrap();
    assert_eq!((read.payments_key.as_deref(), read.cursor), (Some("sk_test_abc"), None));
}
