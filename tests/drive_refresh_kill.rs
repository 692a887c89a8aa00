//! `upshift drive --headless` on an instance refresh upshift drains, killed with
//! SIGKILL while instances wait in its termination hook, and run again with the same
//! command: it resumes where it was, no finished action is taken twice, no pod dies
//! without an eviction, and the hook is gone at the end.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Inspect;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use upshift::cloud::CloudRead;
use upshift::rollout::plan::{self, Drainer, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

/// Runs the headless drive as the lead would (proceed at settled gates, override a
/// red one once) until it prints `done`, or until the journal reaches `kill_at`
/// lines: then kills it with SIGKILL. Returns whether it finished.
fn run_once(dir: &Path, sim: &Simulator, kill_at: Option<usize>, deadline: Instant) -> bool {
    run_killed_when(
        dir,
        sim,
        &|d: &Path| kill_at.is_some_and(|n| common::journal::lines(d) >= n),
        deadline,
    )
}

/// Runs the headless drive as [`run_once`] does, killing it with SIGKILL once `kill`
/// says so. Returns whether it finished.
fn run_killed_when(dir: &Path, sim: &Simulator, kill: &dyn Fn(&Path) -> bool, deadline: Instant) -> bool {
    let mut child = common::bin::spawn_drive(dir, sim);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut overridden = String::new();
    loop {
        assert!(Instant::now() < deadline, "the rollout did not finish in time");
        if kill(dir) {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            return false;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                if line.starts_with("done") {
                    drop(stdin);
                    child.wait().unwrap();
                    return true;
                }
                assert!(!line.starts_with("step failed"), "a step failed: {line}");
                if line.starts_with("at gate") && line.contains("green, settled") {
                    let _ = writeln!(stdin, "proceed");
                } else if line.starts_with("at gate") && line.contains(" red: ") && !line.contains("cluster view") {
                    let gate = line.split(" red: ").next().unwrap_or_default().to_string();
                    if gate != overridden {
                        let _ = writeln!(stdin, "override test: known red");
                        overridden = gate;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!("upshift drive exited early: {status}");
            }
        }
    }
}

/// Whether the journal shows instances of a refresh batch in the hook, none completed yet.
fn waiting_in_hook(dir: &Path) -> bool {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default();
    let batches = text
        .lines()
        .filter(|l| l.contains("\"refresh-batch\"") && l.contains("\"action\""))
        .count();
    let completed = text
        .lines()
        .filter(|l| l.contains("\"complete-lifecycle-action\"") && l.contains("\"ok\":true"))
        .count();
    batches > completed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_instances_wait_in_the_hook_it_resumes_without_repeats() {
    // at 40× the hook's 1,800 s heartbeat timeout is 45 s of real time: a restart of
    // the drive on a loaded machine fits in it, so every instance is completed by
    // upshift, none let go by the timeout
    let sim = common::start_at("demo", 40.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(&sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client.clone()),
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
            self_managed: Strategy::InstanceRefresh,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.steps
        .retain(|s| matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch"));
    let Some(Step::Nodegroup(g)) = p.steps.last() else {
        panic!("the batch group's step")
    };
    assert_eq!(
        g.drainer,
        Some(Drainer::Upshift),
        "no hook on the demo's batch group: upshift drains"
    );
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();

    let deadline = Instant::now() + Duration::from_secs(300);
    let dir_path = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let kills = tokio::task::spawn_blocking(move || {
        let mut kills = 0;
        loop {
            if kills >= 3 {
                assert!(run_once(&dir_path, &s2, None, deadline), "the rollout finishes");
                return kills;
            }
            // killed as soon as instances wait in the hook, after some progress
            let after = common::journal::lines(&dir_path) + 1 + kills;
            let kill = |d: &Path| common::journal::lines(d) >= after && waiting_in_hook(d);
            if run_killed_when(&dir_path, &s2, &kill, deadline) {
                return kills;
            }
            kills += 1;
        }
    })
    .await
    .unwrap();
    assert!(
        kills >= 2,
        "killed only {kills} times while instances waited in the hook"
    );

    let path = dir.path().join("journal.jsonl");
    common::journal::assert_no_repeats(&path);
    let done = common::journal::finished_actions(&path);
    let count = |op: &str| sim.aws_request_counts().get(op).copied().unwrap_or(0);
    assert_eq!(count("StartInstanceRefresh"), 1);
    assert_eq!(count("PutLifecycleHook"), 1);
    assert_eq!(count("DeleteLifecycleHook"), 1);
    let completed = done.keys().filter(|(_, a, _)| a == "complete-lifecycle-action").count();
    assert_eq!(completed, 3, "{done:?}");
    assert!(sim.hook_names("batch").is_empty(), "a hook was left behind");
    let (lost, recent) = sim.pods_lost();
    assert_eq!(lost, 0, "pods died without an eviction: {recent:?}");
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    for n in &nodes.items {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        if labels.get("alpha.eksctl.io/nodegroup-name").map(String::as_str) == Some("batch") {
            let v = &n.status.as_ref().unwrap().node_info.as_ref().unwrap().kubelet_version;
            assert!(v.starts_with("v1.35"), "{} on {v}", n.metadata.name.as_deref().unwrap());
        }
    }
}
