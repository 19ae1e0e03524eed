#[tokio::main]
async fn main() -> std::process::ExitCode {
    load::run(std::env::args().skip(1).collect()).await
}
