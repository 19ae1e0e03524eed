//! The template's secrets in the Secrets Manager emulator (moto), and each function's cold-start
//! read of them.
//!
//! Every `AWS::SecretsManager::Secret` is created as `<prefix>-<LogicalId>`: a generated one
//! (`GenerateSecretString`) with a fresh random value, as AWS would make up; one the operator sets
//! on AWS with its local value below. Then each function whose template environment names
//! secrets reads them as its Lambda does at cold start ([`shared::secrets::Secrets::load`]),
//! recorded in the operation log as that function's calls, which is the IAM check's evidence.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use shared::api::Endpoint;
use shared::jobs::Job;
use shared::secrets::{SecretIds, Secrets};

use crate::template::Template;

/// Values of the secrets an operator sets on AWS (the payment key is the fake provider's).
fn local_value(logical_id: &str) -> Option<String> {
    match logical_id {
        "PaymentsSecretKey" => Some(crate::fake_payments::LOCAL_SECRET_KEY.to_owned()),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalSecretError {
    #[error("the template's secret {0} has no local value (add one in local-runner/src/secrets.rs)")]
    NoLocalValue(String),
    #[error("secret {name} cannot be stored in the emulator: {reason}")]
    Store { name: String, reason: String },
    #[error("function {0} of the template is unknown to the code")]
    UnknownFunction(String),
    #[error(transparent)]
    Read(#[from] shared::secrets::SecretError),
}

/// What the secrets give the local stack, per function as each Lambda reads them, and all
/// together (for tests that drive any job with one set of dependencies).
#[derive(Debug, Default)]
pub struct LocalSecrets {
    pub by_function: HashMap<String, FunctionSecrets>,
    pub all: FunctionSecrets,
}

/// What one function read, and its variables naming the secrets (with their local names).
#[derive(Debug, Clone, Default)]
pub struct FunctionSecrets {
    pub secrets: Secrets,
    pub variables: Vec<(String, String)>,
}

impl LocalSecrets {
    /// A function's own: nothing, for a function whose template names no secret.
    pub fn of(&self, function: &str) -> FunctionSecrets {
        self.by_function.get(function).cloned().unwrap_or_default()
    }
}

/// Creates the template's secrets under `prefix`, then reads them function by function.
pub async fn provision(client: &Client, template: &Template, prefix: &str) -> Result<LocalSecrets, LocalSecretError> {
    let mut names = HashMap::new();
    for spec in &template.secrets {
        let name = format!("{prefix}-{}", spec.logical_id);
        let value = if spec.generated {
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
        } else {
            local_value(&spec.logical_id).ok_or_else(|| LocalSecretError::NoLocalValue(spec.logical_id.clone()))?
        };
        store(client, &name, value).await?;
        names.insert(spec.logical_id.clone(), name);
    }
    let mut local = LocalSecrets::default();
    let mut functions: Vec<&str> = template.secret_variables.iter().map(|v| v.function.as_str()).collect();
    functions.dedup();
    for function in functions {
        let mut ids = SecretIds::default();
        let mut variables = Vec::new();
        for named in template.secret_variables.iter().filter(|v| v.function == function) {
            let name = names[&named.secret].clone();
            match named.variable.as_str() {
                "CURSOR_SECRET_ID" => ids.cursor = Some(name.clone()),
                "PAYMENTS_SECRET_ID" => ids.payments_key = Some(name.clone()),
                _ => {}
            }
            variables.push((named.variable.clone(), name));
        }
        let scope = Endpoint::from_function_name(function)
            .map(Endpoint::function_name)
            .or_else(|| Job::from_function_name(function).map(Job::function_name))
            .ok_or_else(|| LocalSecretError::UnknownFunction(function.to_owned()))?;
        let read = crate::operation_log::as_function(scope, Secrets::load(client, &ids)).await?;
        local.all.secrets = std::mem::take(&mut local.all.secrets).merge(read.clone());
        local.all.variables.extend(variables.iter().cloned());
        local.by_function.insert(function.to_owned(), FunctionSecrets { secrets: read, variables });
    }
    local.all.variables.sort();
    local.all.variables.dedup();
    Ok(local)
}

/// Creates the secret, or gives an existing one (a restarted runner on a kept emulator) the value.
async fn store(client: &Client, name: &str, value: String) -> Result<(), LocalSecretError> {
    let failed = |e: String| LocalSecretError::Store { name: name.to_owned(), reason: e };
    let created = client.create_secret().name(name).secret_string(value.clone()).send().await;
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(CreateSecretError::is_resource_exists_exception) => client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())),
        Err(e) => Err(failed(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())),
    }
}
