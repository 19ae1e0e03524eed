//! Reads what the local stack needs from the SAM template (`infra/template.yaml`): the HTTP
//! routes with the function behind each, and the DynamoDB tables. Reading the template itself,
//! rather than a copy of it, keeps local runs and deployments from drifting apart.

use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template resource {resource}: {problem}")]
    Invalid { resource: String, problem: String },
}

/// An `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The last segment of the function's `CodeUri`: its crate name.
    pub function: String,
    /// The function's `Timeout` (or the template's global one).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TableSpec {
    pub logical_id: String,
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub global_indexes: Vec<GlobalSecondaryIndex>,
}

/// An SQS queue and, for a queue with a dead-letter queue, that queue and `maxReceiveCount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub attributes: Vec<(String, String)>,
    pub dead_letter: Option<(String, u32)>,
}

/// A function fed by a queue (an `SQS` event).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueTrigger {
    pub function: String,
    pub queue: String,
    pub batch_size: i32,
    pub timeout: Duration,
    /// `ScalingConfig.MaximumConcurrency`: how many batches may run at once.
    pub maximum_concurrency: Option<u32>,
}

/// A function run on a schedule (a `Schedule` event).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScheduleTrigger {
    pub function: String,
    pub expression: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub routes: Vec<Route>,
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub queue_triggers: Vec<QueueTrigger>,
    pub schedules: Vec<ScheduleTrigger>,
    /// Environment variables that name a queue (`!Ref SomeQueue`): variable → queue.
    pub queue_variables: Vec<(String, String)>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml_ng::from_str(text)?;
        let mut routes = Vec::new();
        let mut tables = Vec::new();
        let mut queues = Vec::new();
        let mut queue_triggers = Vec::new();
        let mut schedules = Vec::new();
        let mut queue_variables = Vec::new();
        // Lambda's own default is 3 s; the template sets a global one.
        let global_timeout = root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Timeout"))
            .and_then(Value::as_u64)
            .unwrap_or(3);
        let resources = root.get("Resources").and_then(Value::as_mapping).into_iter().flatten();
        for (name, resource) in resources {
            let name = name.as_str().unwrap_or_default().to_owned();
            let invalid =
                |problem: &str| TemplateError::Invalid { resource: name.clone(), problem: problem.to_owned() };
            let properties = resource.get("Properties");
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => {
                    let code_uri = string_at(properties, &["CodeUri"]).ok_or_else(|| invalid("no CodeUri"))?;
                    let function = code_uri.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
                    let timeout = Duration::from_secs(
                        properties.and_then(|p| p.get("Timeout")).and_then(Value::as_u64).unwrap_or(global_timeout),
                    );
                    let events =
                        properties.and_then(|p| p.get("Events")).and_then(Value::as_mapping).into_iter().flatten();
                    for (_, event) in events {
                        let event_properties = event.get("Properties");
                        match event.get("Type").and_then(Value::as_str) {
                            Some("HttpApi") => {
                                let method = string_at(event_properties, &["Method"])
                                    .ok_or_else(|| invalid("HttpApi event without Method"))?;
                                let path = string_at(event_properties, &["Path"])
                                    .ok_or_else(|| invalid("HttpApi event without Path"))?;
                                routes.push(Route {
                                    method: method.to_ascii_uppercase(),
                                    path,
                                    function: function.clone(),
                                    timeout,
                                });
                            }
                            Some("SQS") => {
                                let queue = event_properties
                                    .and_then(|p| p.get("Queue"))
                                    .and_then(|q| intrinsic_target(q, "!GetAtt"))
                                    .ok_or_else(|| invalid("SQS event without Queue: !GetAtt <queue>.Arn"))?;
                                let batch_size = event_properties
                                    .and_then(|p| p.get("BatchSize"))
                                    .and_then(Value::as_i64)
                                    .and_then(|b| i32::try_from(b).ok())
                                    .unwrap_or(10);
                                let maximum_concurrency = event_properties
                                    .and_then(|p| p.get("ScalingConfig"))
                                    .and_then(|c| c.get("MaximumConcurrency"))
                                    .and_then(Value::as_u64)
                                    .and_then(|c| u32::try_from(c).ok());
                                queue_triggers.push(QueueTrigger {
                                    function: function.clone(),
                                    queue,
                                    batch_size,
                                    timeout,
                                    maximum_concurrency,
                                });
                            }
                            Some("Schedule") => {
                                let expression = string_at(event_properties, &["Schedule"])
                                    .ok_or_else(|| invalid("Schedule event without Schedule"))?;
                                schedules.push(ScheduleTrigger { function: function.clone(), expression, timeout });
                            }
                            _ => {}
                        }
                    }
                    let variables = properties
                        .and_then(|p| p.get("Environment"))
                        .and_then(|e| e.get("Variables"))
                        .and_then(Value::as_mapping)
                        .into_iter()
                        .flatten();
                    for (variable, value) in variables {
                        if let (Some(variable), Some(target)) = (variable.as_str(), intrinsic_target(value, "!Ref")) {
                            queue_variables.push((variable.to_owned(), target));
                        }
                    }
                }
                Some("AWS::SQS::Queue") => queues.push(queue_spec(&name, properties)),
                Some("AWS::DynamoDB::Table") => {
                    tables.push(table_spec(&name, properties).map_err(|p| invalid(&p))?);
                }
                _ => {}
            }
        }
        routes.sort();
        queue_triggers.sort();
        schedules.sort();
        let queue_ids: Vec<&str> = queues.iter().map(|q| q.logical_id.as_str()).collect();
        queue_variables.retain(|(_, target)| queue_ids.contains(&target.as_str()));
        queue_variables.sort();
        queue_variables.dedup();
        Ok(Self { routes, tables, queues, queue_triggers, schedules, queue_variables })
    }
}

/// The resource named by `!Ref X` or `!GetAtt X.Attribute` (the `X`).
fn intrinsic_target(value: &Value, tag: &str) -> Option<String> {
    let Value::Tagged(tagged) = value else { return None };
    if tagged.tag != tag {
        return None;
    }
    let target = tagged.value.as_str()?;
    Some(target.split('.').next().unwrap_or(target).to_owned())
}

fn queue_spec(name: &str, properties: Option<&Value>) -> QueueSpec {
    let mut attributes = Vec::new();
    for key in ["VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"] {
        if let Some(value) = properties.and_then(|p| p.get(key)).and_then(Value::as_i64) {
            attributes.push((key.to_owned(), value.to_string()));
        }
    }
    let redrive = properties.and_then(|p| p.get("RedrivePolicy"));
    let dead_letter = redrive.and_then(|r| {
        let target = intrinsic_target(r.get("deadLetterTargetArn")?, "!GetAtt")?;
        let max = r.get("maxReceiveCount").and_then(Value::as_u64).and_then(|m| u32::try_from(m).ok()).unwrap_or(5);
        Some((target, max))
    });
    QueueSpec { logical_id: name.to_owned(), attributes, dead_letter }
}

fn string_at(value: Option<&Value>, path: &[&str]) -> Option<String> {
    let mut current = value?;
    for key in path {
        current = current.get(*key)?;
    }
    current.as_str().map(str::to_owned)
}

fn table_spec(name: &str, properties: Option<&Value>) -> Result<TableSpec, String> {
    let properties = properties.ok_or("no Properties")?;
    let attributes = list(properties, "AttributeDefinitions")
        .iter()
        .map(|a| {
            let attribute_type = match field(a, "AttributeType")?.as_str() {
                "S" => ScalarAttributeType::S,
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                other => return Err(format!("unknown AttributeType {other}")),
            };
            AttributeDefinition::builder()
                .attribute_name(field(a, "AttributeName")?)
                .attribute_type(attribute_type)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let table_keys = key_schema(list(properties, "KeySchema"))?;
    let global_indexes = list(properties, "GlobalSecondaryIndexes")
        .iter()
        .map(|index| {
            let projection = match index.get("Projection").and_then(|p| p.get("ProjectionType")).and_then(Value::as_str)
            {
                Some("KEYS_ONLY") => ProjectionType::KeysOnly,
                Some("INCLUDE") => ProjectionType::Include,
                _ => ProjectionType::All,
            };
            GlobalSecondaryIndex::builder()
                .index_name(field(index, "IndexName")?)
                .set_key_schema(Some(key_schema(list(index, "KeySchema"))?))
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    Ok(TableSpec { logical_id: name.to_owned(), attributes, key_schema: table_keys, global_indexes })
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_sequence).map_or(&[], Vec::as_slice)
}

fn field(value: &Value, key: &str) -> Result<String, String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("missing {key}"))
}

fn key_schema(elements: &[Value]) -> Result<Vec<KeySchemaElement>, String> {
    elements
        .iter()
        .map(|k| {
            let key_type = if field(k, "KeyType")? == "HASH" { KeyType::Hash } else { KeyType::Range };
            KeySchemaElement::builder()
                .attribute_name(field(k, "AttributeName")?)
                .key_type(key_type)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::api::Endpoint;
    use std::collections::BTreeSet;

    fn project_template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml")).unwrap()
    }

    #[test]
    fn every_template_route_has_a_handler_and_every_handler_a_route() {
        let from_template: BTreeSet<(String, String, String)> =
            project_template().routes.into_iter().map(|r| (r.method, r.path, r.function)).collect();
        let from_code: BTreeSet<(String, String, String)> = Endpoint::ALL
            .into_iter()
            .map(|e| {
                let (method, path) = e.route();
                (method.to_string(), path.to_owned(), e.function_name().to_owned())
            })
            .collect();
        assert_eq!(from_template, from_code);
    }

    #[test]
    fn every_function_crate_is_in_the_template() {
        let functions_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
        let crates: BTreeSet<String> = std::fs::read_dir(functions_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let template = project_template();
        let in_template: BTreeSet<String> = template
            .routes
            .into_iter()
            .map(|r| r.function)
            .chain(template.queue_triggers.into_iter().map(|t| t.function))
            .chain(template.schedules.into_iter().map(|t| t.function))
            .collect();
        assert_eq!(crates, in_template);
    }

    #[test]
    fn every_job_has_exactly_one_trigger_in_the_template() {
        use shared::api::Job;
        let template = project_template();
        let triggered: Vec<String> = template
            .queue_triggers
            .iter()
            .map(|t| t.function.clone())
            .chain(template.schedules.iter().map(|t| t.function.clone()))
            .collect();
        let mut jobs: Vec<String> = Job::ALL.iter().map(|j| j.function_name().to_owned()).collect();
        let mut triggered_sorted = triggered.clone();
        jobs.sort();
        triggered_sorted.sort();
        assert_eq!(triggered_sorted, jobs);
        let expiry = &template.queues.iter().find(|q| q.logical_id == "ExpiryQueue").expect("expiry queue").dead_letter;
        assert_eq!(expiry, &Some(("ExpiryDeadLetterQueue".to_owned(), 5)), "a DLQ after five receives");
        let variables: Vec<&str> = template.queue_variables.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            variables,
            ["CANCELLATION_QUEUE_URL", "EXPIRY_QUEUE_URL", "NOTIFICATION_QUEUE_URL", "REFUND_QUEUE_URL"]
        );
        for queue in ["RefundQueue", "CancellationQueue"] {
            let spec = template.queues.iter().find(|q| q.logical_id == queue).expect("queue");
            assert_eq!(spec.dead_letter.as_ref().map(|d| d.1), Some(shared::api::refunds::MAX_RECEIVES), "{queue}");
        }
    }

    /// docs/timeouts.md: the template's numbers must keep fitting the code's budgets.
    #[test]
    fn timeouts_batch_sizes_and_visibility_follow_the_written_calculation() {
        use shared::api::{PROVIDER_ATTEMPT_TIMEOUT, fanout, refunds};
        let template = project_template();
        for trigger in &template.queue_triggers {
            let queue = template.queues.iter().find(|q| q.logical_id == trigger.queue).expect("queue");
            let visibility: u64 = queue
                .attributes
                .iter()
                .find(|(name, _)| name == "VisibilityTimeout")
                .map_or(30, |(_, value)| value.parse().unwrap());
            assert!(
                visibility >= 6 * trigger.timeout.as_secs(),
                "{}: visibility {visibility} s is under 6 × the {:?} timeout",
                trigger.queue,
                trigger.timeout
            );
        }
        let trigger = |function: &str| template.queue_triggers.iter().find(|t| t.function == function).unwrap().clone();
        let refund = trigger("process-refunds");
        let one_message = PROVIDER_ATTEMPT_TIMEOUT + refunds::RECORDING_MARGIN;
        // Messages run side by side: a whole batch, each with four attempts, fits the timeout.
        assert!(refund.timeout >= 4 * PROVIDER_ATTEMPT_TIMEOUT + refunds::RECORDING_MARGIN + Duration::from_secs(5));
        assert!(refund.timeout >= 2 * one_message);
        assert_eq!((refund.batch_size, refund.maximum_concurrency), (10, Some(5)));
        let fan_out = trigger("fan-out-refunds");
        assert!(fan_out.timeout >= 3 * fanout::STEP_BUDGET, "several steps per invocation");
        assert_eq!((fan_out.batch_size, fan_out.maximum_concurrency), (1, Some(2)));
        let resumer = template.schedules.iter().find(|s| s.function == "resume-cancellations").unwrap();
        assert!(resumer.timeout >= 2 * fanout::STEP_BUDGET);
        let confirm = template.routes.iter().find(|r| r.function == "confirm-reservation").unwrap();
        assert_eq!(confirm.timeout, Duration::from_secs(10));
    }

    #[test]
    fn every_alarm_notifies_the_alarm_topic_and_every_job_has_an_errors_alarm() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml")).unwrap();
        let root: Value = serde_yaml_ng::from_str(&text).unwrap();
        let resources = root["Resources"].as_mapping().unwrap();
        let alarms: Vec<(&str, &Value)> = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
            .map(|(name, r)| (name.as_str().unwrap(), &r["Properties"]))
            .collect();
        assert!(alarms.len() >= 9, "{} alarms", alarms.len());
        for (name, properties) in &alarms {
            let actions = properties["AlarmActions"].as_sequence().map(Vec::as_slice).unwrap_or_default();
            let notifies = actions.iter().any(|a| intrinsic_target(a, "!Ref").as_deref() == Some("AlarmTopic"));
            assert!(notifies, "{name} notifies nobody");
        }
        let template = project_template();
        let jobs =
            template.queue_triggers.iter().map(|t| &t.function).chain(template.schedules.iter().map(|s| &s.function));
        for job in jobs {
            let function = resources
                .iter()
                .find(|(_, r)| r["Properties"]["CodeUri"].as_str().is_some_and(|uri| uri.ends_with(&format!("/{job}"))))
                .map(|(name, _)| name.as_str().unwrap())
                .unwrap();
            let watched = alarms.iter().any(|(_, p)| {
                p["MetricName"].as_str() == Some("Errors")
                    && p["Dimensions"][0]["Value"].clone() != Value::Null
                    && intrinsic_target(&p["Dimensions"][0]["Value"], "!Ref").as_deref() == Some(function)
            });
            assert!(watched, "no Errors alarm watches {function}");
        }
    }

    #[test]
    fn the_table_keys_match_the_store() {
        let template = project_template();
        let table = &template.tables[0];
        let indexes: Vec<&str> = table.global_indexes.iter().map(GlobalSecondaryIndex::index_name).collect();
        assert_eq!(indexes, [shared::store::keys::GSI1, shared::store::keys::GSI2, shared::store::keys::GSI3]);
        let keys: Vec<&str> = table.key_schema.iter().map(KeySchemaElement::attribute_name).collect();
        assert_eq!(keys, [shared::store::keys::PK, shared::store::keys::SK]);
    }

    #[test]
    fn the_data_model_document_names_the_keys_the_store_builds() {
        let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/data-model.md")).unwrap();
        let tenant = uuid::Uuid::from_u128(7);
        let id = uuid::Uuid::from_u128(9);
        let as_documented = |key: String| key.replace(&tenant.to_string(), "<t>").replace(&id.to_string(), "<id>");
        let prefixes = [
            as_documented(shared::store::keys::venues_pk(tenant)),
            as_documented(shared::store::keys::event_pk(tenant, id)).replace("<id>", "<event_id>"),
            as_documented(shared::store::keys::tenant_events_pk(tenant)),
            as_documented(shared::store::keys::venue_events_pk(tenant, id)).replace("<id>", "<venue_id>"),
            as_documented(shared::store::keys::event_name_guard_pk(tenant, "")),
            as_documented(shared::store::keys::venue_sk(id)).replace("<id>", "<venue_id>"),
        ];
        for prefix in prefixes.iter().map(String::as_str).chain([shared::store::keys::GSI1, shared::store::keys::GSI2])
        {
            assert!(doc.contains(prefix), "docs/data-model.md does not mention {prefix}");
        }
    }

    #[test]
    fn the_openapi_file_documents_exactly_the_template_routes() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/openapi.yaml")).unwrap();
        let openapi: Value = serde_yaml_ng::from_str(&text).unwrap();
        let mut documented = BTreeSet::new();
        for (path, operations) in openapi["paths"].as_mapping().unwrap() {
            for (method, _) in operations.as_mapping().unwrap() {
                let method = method.as_str().unwrap();
                if method != "parameters" {
                    documented.insert((method.to_ascii_uppercase(), path.as_str().unwrap().to_owned()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> =
            project_template().routes.into_iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(documented, routed);
    }
}
