//! What the bootstraps' size rests on (docs/performance.md). The real check, `make lambda-build`,
//! builds every function for arm64 and fails over the 7 MB budget, but takes many minutes; these
//! cheap checks pin the two measured causes of excess, so a change that brings one back fails
//! in `make test` first.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()) {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn sources_containing(needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    rust_files(&root)
        .into_iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            needles
                .iter()
                .filter(|needle| text.contains(*needle))
                .map(|needle| format!("{} uses {needle}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The workspace manifest's line for `dependency`.
fn workspace_dependency(dependency: &str) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let text = std::fs::read_to_string(manifest).unwrap();
    text.lines()
        .find(|line| line.starts_with(&format!("{dependency} =")))
        .unwrap_or_else(|| panic!("{dependency} is not a workspace dependency"))
        .to_owned()
}

/// `aws_config`'s default loader links every credential and region chain (profile files, SSO,
/// web identity through STS, the instance metadata service): about 750 KiB of each bootstrap,
/// for credentials Lambda only ever gives in environment variables.
#[test]
fn clients_read_region_and_credentials_from_the_environment_only() {
    let found = sources_containing(&["aws_config::defaults(", "aws_config::load_defaults(", "aws_config::from_env("]);
    assert!(found.is_empty(), "{found:#?}");
}

/// `EnvFilter` (and `lambda_http`'s `tracing` feature, which enables it) link a regex engine:
/// about 350 KiB of each bootstrap, for directives `Targets` reads as well.
#[test]
fn logs_are_filtered_without_a_regex_engine() {
    let found = sources_containing(&["EnvFilter::", "tracing_subscriber::EnvFilter", "with_env_filter("]);
    assert!(found.is_empty(), "{found:#?}");
    let subscriber = workspace_dependency("tracing-subscriber");
    assert!(!subscriber.contains("env-filter"), "{subscriber}");
    let lambda_http = workspace_dependency("lambda_http");
    assert!(lambda_http.contains("default-features = false") && !lambda_http.contains("\"tracing\""), "{lambda_http}");
}
