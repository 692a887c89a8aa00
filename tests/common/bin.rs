//! The `upshift` binary as a user runs it, its log in a temporary directory (never
//! the user's own log directory).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use upshift::sim::Simulator;

/// Where the tests' `upshift` processes log.
pub fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("upshift-tests");
    std::fs::create_dir_all(&dir).expect("the tests' log directory");
    dir
}

/// The `upshift` command, logging to [`log_dir`] unless the test passes `--log-file`.
pub fn upshift() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_upshift"));
    c.env("UPSHIFT_LOG_FILE", log_dir().join("upshift.log"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// `upshift drive DIR/plan.yaml --headless` against the simulator, as the lead `ana`:
/// the kubeconfig, journal and log in `dir`, the simulated AWS in the environment,
/// stdin and stdout piped for the test to answer gates and read the state lines.
pub fn spawn_drive(dir: &Path, sim: &Simulator) -> Child {
    drive_command(dir, sim, "ana", &[]).spawn().expect("upshift starts")
}

/// The same drive as operator `user` (`$USER`), with `extra` arguments, its stderr
/// piped too.
pub fn drive_command(dir: &Path, sim: &Simulator, user: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upshift"));
    cmd.arg("drive")
        .arg(dir.join("plan.yaml"))
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--context")
        .arg("lead")
        .arg("--journal")
        .arg(dir.join("journal.jsonl"))
        .arg("--headless")
        .arg("--log-file")
        .arg(dir.join("upshift.log"))
        .args(extra)
        .env("USER", user)
        .env("AWS_ENDPOINT_URL", sim.aws_url())
        .env("AWS_REGION", sim.aws_region())
        .env("AWS_ACCESS_KEY_ID", "upshift-sim")
        .env("AWS_SECRET_ACCESS_KEY", "upshift-sim")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if user == "ana" && extra.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        });
    cmd
}
