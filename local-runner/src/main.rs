//! `local-runner [serve]` runs the local stack; `local-runner token` prints a dev token.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    local_runner::cli::run(std::env::args().skip(1).collect()).await
}
