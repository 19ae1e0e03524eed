//! Evidence for IAM: every AWS operation a function's code performs, with the IAM action it
//! needs and the resource it touches, recorded while the local stack runs.
//!
//! DynamoDB Local and moto do not enforce IAM, so a missing permission would first show on AWS.
//! Instead, the gateway and the workers run each handler inside [`as_function`], an SDK
//! interceptor notes what that function calls, and `make test` compares the record of the whole
//! integration suite with the policies SAM expands from the template (`tests/iam/`), both ways.
//!
//! Recording is on when `OPERATION_LOG` names a file; each distinct line is appended once, as
//! JSON: `{"function":"create-venue","action":"dynamodb:PutItem","resource":"table/events-…"}`,
//! with `"via":"idempotency"` on calls that read or write an `Idempotency-Key` record.
//! Resources are what the call names: `table/<name>`, `table/<name>/index/<index>`, a queue
//! URL, `secret/<id>`, or `*` for calls on no resource.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The variable naming the file the operations are appended to.
pub const OPERATION_LOG_VARIABLE: &str = "OPERATION_LOG";

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `work` as `function` (its crate name), so the AWS calls it makes are recorded for it.
pub async fn as_function<F: Future>(function: &'static str, work: F) -> F::Output {
    FUNCTION.scope(function, work).await
}

/// The interceptor, when `OPERATION_LOG` asks for one.
pub fn from_env() -> Option<OperationLog> {
    std::env::var(OPERATION_LOG_VARIABLE).ok().filter(|path| !path.is_empty()).map(|path| OperationLog { path })
}

#[derive(Debug, Clone)]
pub struct OperationLog {
    path: String,
}

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "OperationLog"
    }

    // Not `read_before_execution`: a client interceptor runs that before the operation has put
    // its name in the config bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Calls outside a function (table and queue setup, Lambda's own queue polling) are not
        // the function's code, and IAM does not ask the function's role for them.
        let Ok(function) = FUNCTION.try_with(|f| *f) else {
            return Ok(());
        };
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Err("the SDK gave no operation metadata".into());
        };
        let input = context.input();
        let needs = match metadata.service() {
            "DynamoDB" => dynamodb::permissions(metadata.name(), input),
            "SQS" => sqs::permissions(metadata.name(), input),
            "Secrets Manager" => secrets_manager::permissions(metadata.name(), input),
            other => vec![(format!("{}:{}", other.to_lowercase(), metadata.name()), "?".to_owned())],
        };
        let via = idempotency_record(input).then_some("idempotency");
        for (action, resource) in needs {
            self.record(function, &action, &resource, via);
        }
        Ok(())
    }
}

impl OperationLog {
    fn record(&self, function: &str, action: &str, resource: &str, via: Option<&str>) {
        static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let mut line = serde_json::json!({ "function": function, "action": action, "resource": resource });
        if let Some(via) = via {
            line["via"] = via.into();
        }
        let line = line.to_string();
        let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.insert(line.clone()) {
            return;
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(error) = written {
            tracing::error!(%error, path = %self.path, "operation log not written");
        }
    }
}

/// Whether the call reads or writes an `Idempotency-Key` record (sort key `IDEM`): one middleware
/// does that for every route that takes the header, so the check treats its calls as one unit
/// (its 5xx path, which gives a key up, is reached in tests for some routes only).
fn idempotency_record(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> bool {
    use aws_sdk_dynamodb::operation::{
        delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput, update_item::UpdateItemInput,
    };
    use aws_sdk_dynamodb::types::AttributeValue;
    let is_idem = |value: Option<&AttributeValue>| matches!(value, Some(AttributeValue::S(sk)) if sk == "IDEM");
    let key = |map: Option<&std::collections::HashMap<String, AttributeValue>>| is_idem(map.and_then(|m| m.get("SK")));
    input.downcast_ref::<PutItemInput>().is_some_and(|i| key(i.item()))
        || input.downcast_ref::<GetItemInput>().is_some_and(|i| key(i.key()))
        || input.downcast_ref::<UpdateItemInput>().is_some_and(|i| key(i.key()))
        || input.downcast_ref::<DeleteItemInput>().is_some_and(|i| key(i.key()))
}

mod dynamodb {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
        describe_table::DescribeTableInput, get_item::GetItemInput, put_item::PutItemInput, query::QueryInput,
        scan::ScanInput, transact_get_items::TransactGetItemsInput, transact_write_items::TransactWriteItemsInput,
        update_item::UpdateItemInput,
    };
    use aws_smithy_runtime_api::client::interceptors::context::Input;

    fn table(name: Option<&str>) -> String {
        format!("table/{}", name.unwrap_or("?"))
    }

    fn index(name: Option<&str>, index: Option<&str>) -> String {
        match index {
            Some(index) => format!("{}/index/{index}", table(name)),
            None => table(name),
        }
    }

    /// IAM authorises a transaction or a batch item by item, each as its own action
    /// (`TransactWriteItems` needs `PutItem`, `UpdateItem`, `DeleteItem` or
    /// `ConditionCheckItem` per item; there is no IAM action of that name).
    pub(super) fn permissions(operation: &str, input: &Input) -> Vec<(String, String)> {
        let on = |action: &str, resource: String| (format!("dynamodb:{action}"), resource);
        if let Some(i) = input.downcast_ref::<GetItemInput>() {
            return vec![on("GetItem", table(i.table_name()))];
        }
        if let Some(i) = input.downcast_ref::<PutItemInput>() {
            return vec![on("PutItem", table(i.table_name()))];
        }
        if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            return vec![on("UpdateItem", table(i.table_name()))];
        }
        if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            return vec![on("DeleteItem", table(i.table_name()))];
        }
        if let Some(i) = input.downcast_ref::<QueryInput>() {
            return vec![on("Query", index(i.table_name(), i.index_name()))];
        }
        if let Some(i) = input.downcast_ref::<ScanInput>() {
            return vec![on("Scan", index(i.table_name(), i.index_name()))];
        }
        if let Some(i) = input.downcast_ref::<DescribeTableInput>() {
            return vec![on("DescribeTable", table(i.table_name()))];
        }
        if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            return i
                .transact_items()
                .iter()
                .flat_map(|item| {
                    [
                        item.put().map(|p| on("PutItem", table(Some(p.table_name())))),
                        item.update().map(|u| on("UpdateItem", table(Some(u.table_name())))),
                        item.delete().map(|d| on("DeleteItem", table(Some(d.table_name())))),
                        item.condition_check().map(|c| on("ConditionCheckItem", table(Some(c.table_name())))),
                    ]
                })
                .flatten()
                .collect();
        }
        if let Some(i) = input.downcast_ref::<TransactGetItemsInput>() {
            return i
                .transact_items()
                .iter()
                .filter_map(|item| item.get().map(|g| on("GetItem", table(Some(g.table_name())))))
                .collect();
        }
        if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            return i
                .request_items()
                .into_iter()
                .flatten()
                .map(|(name, _)| on("BatchGetItem", table(Some(name))))
                .collect();
        }
        if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            return i
                .request_items()
                .into_iter()
                .flatten()
                .map(|(name, _)| on("BatchWriteItem", table(Some(name))))
                .collect();
        }
        // An operation this log does not know yet: recorded so the check flags it.
        vec![on(operation, "?".to_owned())]
    }
}

mod sqs {
    use aws_sdk_sqs::operation::{
        delete_message::DeleteMessageInput, get_queue_attributes::GetQueueAttributesInput,
        list_queues::ListQueuesInput, send_message::SendMessageInput, send_message_batch::SendMessageBatchInput,
    };
    use aws_smithy_runtime_api::client::interceptors::context::Input;

    pub(super) fn permissions(operation: &str, input: &Input) -> Vec<(String, String)> {
        let on = |action: &str, queue: Option<&str>| (format!("sqs:{action}"), queue.unwrap_or("?").to_owned());
        if let Some(i) = input.downcast_ref::<SendMessageInput>() {
            return vec![on("SendMessage", i.queue_url())];
        }
        // IAM has no SendMessageBatch action: a batch needs sqs:SendMessage.
        if let Some(i) = input.downcast_ref::<SendMessageBatchInput>() {
            return vec![on("SendMessage", i.queue_url())];
        }
        if let Some(i) = input.downcast_ref::<DeleteMessageInput>() {
            return vec![on("DeleteMessage", i.queue_url())];
        }
        if let Some(i) = input.downcast_ref::<GetQueueAttributesInput>() {
            return vec![on("GetQueueAttributes", i.queue_url())];
        }
        if input.downcast_ref::<ListQueuesInput>().is_some() {
            return vec![on("ListQueues", Some("*"))];
        }
        vec![on(operation, None)]
    }
}

mod secrets_manager {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
    use aws_smithy_runtime_api::client::interceptors::context::Input;

    pub(super) fn permissions(operation: &str, input: &Input) -> Vec<(String, String)> {
        if let Some(i) = input.downcast_ref::<GetSecretValueInput>() {
            return vec![(
                "secretsmanager:GetSecretValue".to_owned(),
                format!("secret/{}", i.secret_id().unwrap_or("?")),
            )];
        }
        vec![(format!("secretsmanager:{operation}"), "?".to_owned())]
    }
}
