//! `upshift drive --headless` killed with SIGKILL again and again in the middle of a
//! rollout, and run again with the same command: it resumes where it was, the
//! journal has every entry with no gap, and no action that finished is taken twice.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use upshift::cloud::CloudRead;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

/// Runs the headless drive as the lead would (proceed at settled gates, override a
/// red one once) until it prints `done`, or until the journal reaches `kill_at`
/// lines: then kills it with SIGKILL. Returns whether it finished.
fn run_once(dir: &Path, sim: &Simulator, kill_at: Option<usize>, deadline: Instant) -> bool {
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
        if let Some(n) = kill_at
            && common::journal::lines(dir) >= n
        {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_again_and_again_it_resumes_without_repeats_or_gaps() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    // let the ledger's budget allow one disruption
    Api::<Deployment>::namespaced(client.clone(), "payments")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
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
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.steps
        .retain(|s| matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch"));
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();

    let deadline = Instant::now() + Duration::from_secs(240);
    let dir_path = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let kills = tokio::task::spawn_blocking(move || {
        let mut kills = 0;
        let mut at = 2;
        loop {
            let kill_at = (kills < 6).then_some(at);
            if run_once(&dir_path, &s2, kill_at, deadline) {
                return kills;
            }
            kills += 1;
            at = common::journal::lines(&dir_path) + 1 + kills;
        }
    })
    .await
    .unwrap();
    assert!(kills >= 4, "killed only {kills} times before it finished");

    // the journal reads back whole (1, 2, 3, ... with no gap), no finished action twice
    let path = dir.path().join("journal.jsonl");
    common::journal::assert_no_repeats(&path);
    let done = common::journal::finished_actions(&path);
    // one control plane update, one termination per old batch node
    let updates = sim
        .aws_request_counts()
        .get("UpdateClusterVersion")
        .copied()
        .unwrap_or(0);
    assert_eq!(updates, 1, "the control plane update was sent {updates} times");
    let terminations = done.keys().filter(|(_, a, _)| a.starts_with("terminate")).count();
    assert_eq!(terminations, 3, "{done:?}");
    // and the cluster is where the plan wanted it
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    for n in &nodes.items {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        if labels.values().any(|v| v == "batch") {
            let v = &n.status.as_ref().unwrap().node_info.as_ref().unwrap().kubelet_version;
            assert!(v.starts_with("v1.35"), "{} on {v}", n.metadata.name.as_deref().unwrap());
            assert_ne!(n.spec.as_ref().unwrap().unschedulable, Some(true));
        }
    }
}
