//! `upshift drive --headless` exits when the rollout is done, though its stdin stays
//! open (a script or a terminal that never closes it).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use upshift::cloud::CloudRead;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_drive_exits_at_done_with_stdin_still_open() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(&sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "demo",
        Some((&cloud as &dyn CloudRead, "demo")),
        "1.35",
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.35".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.steps.retain(|s| matches!(s, Step::ControlPlane));
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upshift"))
        .arg("drive")
        .arg(dir.path().join("plan.yaml"))
        .args(["--context", "lead", "--headless", "--kubeconfig"])
        .arg(dir.path().join("kubeconfig"))
        .arg("--journal")
        .arg(dir.path().join("journal.jsonl"))
        .arg("--log-file")
        .arg(dir.path().join("upshift.log"))
        .env("USER", "ana")
        .env("AWS_ENDPOINT_URL", sim.aws_url())
        .env("AWS_REGION", sim.aws_region())
        .env("AWS_ACCESS_KEY_ID", "upshift-sim")
        .env("AWS_SECRET_ACCESS_KEY", "upshift-sim")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let exited = tokio::task::spawn_blocking(move || {
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut done_at = None;
        loop {
            assert!(Instant::now() < deadline, "the drive did not finish");
            if let Some(status) = child.try_wait().unwrap() {
                // stdin is still held open here
                let _ = writeln!(stdin);
                return (status, done_at.map(|t: Instant| t.elapsed()));
            }
            if let Some(t) = done_at {
                assert!(
                    Instant::now().duration_since(t) < Duration::from_secs(20),
                    "done, but still running with stdin open"
                );
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                if line.starts_with("done") {
                    done_at.get_or_insert_with(Instant::now);
                } else if line.starts_with("at gate") && line.contains("green, settled") {
                    let _ = writeln!(stdin, "proceed");
                }
            }
        }
    })
    .await
    .unwrap();
    let (status, after_done) = exited;
    assert!(status.success(), "{status}");
    assert!(after_done.is_some(), "it printed done before exiting");
}
