//! A `blue-green` managed node group upgrade through `upshift drive --headless`
//! against the simulator: the copy is made on the target, the old nodes drained two
//! at a time, and the gate between the two batches turns red (a workload crash-loops
//! on 1.31 nodes) until the lead overrides it. Run once straight through and once
//! killed with SIGKILL at the copy's creation, in the middle of each batch and at the
//! old group's deletion: both runs send the same AWS writes, once each, and evict
//! the same pods, once each.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use upshift::cloud::CloudRead;
use upshift::model::journal::{Decision, GateId, StepId, Subject, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// One managed group of four nodes; shop/recommendations crash-loops on 1.31.
const SCENARIO: &str = r#"
name: bluegreen
description: a managed group to copy, and a workload that breaks on the target
seed: 11
cluster: {name: bg, region: eu-west-1, version: "1.30"}
nodeGroups:
  - {name: apps, kind: managed, instanceType: m5.xlarge, size: 4, labels: {role: apps}}
workloads:
  - name: aws-node
    namespace: kube-system
    kind: DaemonSet
    component: pod-networking
    image: 602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.1
    requests: {cpu: 25m, memory: 64Mi}
    tolerateAll: true
  - name: coredns
    namespace: kube-system
    kind: Deployment
    component: dns
    replicas: 2
    image: 602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/coredns:v1.11.1-eksbuild.9
    requests: {cpu: 100m, memory: 70Mi}
    pdb: {maxUnavailable: 1}
  - {name: web, namespace: shop, kind: Deployment, replicas: 8, image: "shop/web:4.2.0", requests: {cpu: 200m, memory: 256Mi}, pdb: {maxUnavailable: 1}}
  - {name: recommendations, namespace: shop, kind: Deployment, replicas: 4, image: "shop/recommendations:3.0.1", requests: {cpu: 200m, memory: 256Mi}}
faults:
  - {workload: shop/recommendations, kind: CrashLoopBackOff, onKubeletVersion: "1.31"}
"#;

async fn start() -> Simulator {
    let scenario = Scenario::from_yaml(SCENARIO, "bluegreen test scenario").unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = 300.0;
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The plan: the control plane, then `apps` blue-green in batches of two.
async fn write_plan(sim: &Simulator, dir: &Path) {
    sim.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "bg",
        Some((&cloud as &dyn CloudRead, "bg")),
        "1.31",
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.31".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 2,
            self_managed: Strategy::Replace,
            managed: Some(Strategy::BlueGreen),
        },
    );
    p.gates.settle_seconds = 20;
    p.steps
        .retain(|s| matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "apps"));
    std::fs::write(dir.join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
}

fn journal_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default()
}

/// Where a run is killed: a test on the journal as written so far.
type KillAt = fn(&str) -> bool;

fn action(text: &str, name: &str) -> usize {
    text.matches(&format!(
        "\"type\":\"action\",\"step\":\"nodegroup/apps\",\"action\":\"{name}\""
    ))
    .count()
}

/// The copy's creation journaled.
fn at_create(t: &str) -> bool {
    action(t, "create-nodegroup") >= 1
}

/// An eviction of batch `n` journaled.
fn in_batch(t: &str, n: usize) -> bool {
    let Some(i) = t
        .match_indices("\"action\":\"start-batch\"")
        .nth(2 * n - 2)
        .map(|(i, _)| i)
    else {
        return false;
    };
    t[i..].contains("\"action\":\"evict\"")
}

fn in_batch_1(t: &str) -> bool {
    in_batch(t, 1)
}

fn in_batch_2(t: &str) -> bool {
    in_batch(t, 2)
}

/// The old group's deletion journaled.
fn at_delete(t: &str) -> bool {
    action(t, "delete-nodegroup") >= 1
}

/// Runs the headless drive as a lead would (proceed at settled gates, override a red
/// one once) until it prints `done`, or until `kill_at` holds of the journal: then
/// kills it with SIGKILL. Returns whether it finished; `lines` gets what it printed.
fn run_once(dir: &Path, sim: &Simulator, kill_at: Option<KillAt>, deadline: Instant, lines: &mut Vec<String>) -> bool {
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
        if let Some(kill) = kill_at
            && kill(&journal_text(dir))
        {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            return false;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                lines.push(line.clone());
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
                        let _ = writeln!(stdin, "override test: the crash loop is known");
                        overridden = gate;
                    }
                } else if line.contains("no controller") {
                    let _ = writeln!(stdin, "wait");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!("upshift drive exited early: {status}\n{}", lines.join("\n"));
            }
        }
    }
}

/// What a whole rollout sent and did, for comparing two runs.
#[derive(Debug, PartialEq)]
struct Tally {
    create: u64,
    delete: u64,
    update_cluster: u64,
    update_config: u64,
    /// Pods evicted (journaled ok), each once.
    evicted: usize,
}

/// Drives the rollout to its end, killed at each of `kills` in turn; returns the
/// tally, how many kills happened, and every line printed.
async fn rollout(kills: &'static [KillAt]) -> (Tally, usize, Vec<String>, Simulator, tempfile::TempDir) {
    let sim = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_plan(&sim, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let dir_path: PathBuf = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let (killed, lines) = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut killed = 0;
        loop {
            let kill_at = kills.get(killed).copied();
            if run_once(&dir_path, &s2, kill_at, deadline, &mut lines) {
                return (killed, lines);
            }
            killed += 1;
        }
    })
    .await
    .unwrap();
    let sim = std::sync::Arc::try_unwrap(sim).unwrap_or_else(|_| panic!("the simulator is still shared"));
    let path = dir.path().join("journal.jsonl");
    common::journal::assert_no_repeats(&path);
    let done = common::journal::finished_actions(&path);
    let count = |op: &str| common::cloud::count(&sim, op);
    let tally = Tally {
        create: count("CreateNodegroup"),
        delete: count("DeleteNodegroup"),
        update_cluster: count("UpdateClusterVersion"),
        update_config: count("UpdateNodegroupConfig"),
        evicted: done.keys().filter(|(_, a, _)| a == "evict").count(),
    };
    (tally, killed, lines, sim, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_upgrade_with_a_red_gate_between_batches_resumes_after_kill_9_without_repeats() {
    let (straight, _, lines, sim, dir) = rollout(&[]).await;
    // one copy, one deletion, one control plane update; every pod of the old
    // nodes evicted once (2 coredns, 8 web, 4 recommendations)
    assert_eq!(
        straight,
        Tally {
            create: 1,
            delete: 1,
            update_cluster: 1,
            update_config: 0,
            evicted: 14,
        }
    );
    // the gate between the batches was red with the crash loop, and overridden
    let red = lines
        .iter()
        .find(|l| l.starts_with("at gate") && l.contains("before batch 2 of 2") && l.contains(" red: "))
        .unwrap_or_else(|| panic!("no red gate between the batches:\n{}", lines.join("\n")));
    assert!(red.contains("pod errors above baseline"), "{red}");
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let gate = GateId::batch(StepId::Nodegroup("apps".into()), 2);
    let overridden = j.entries().iter().any(|e| {
        matches!(&e.what, What::Decision { step: Some(Subject::Gate(g)), decision: Decision::Override, .. } if *g == gate)
    });
    assert!(overridden, "the override of the gate between the batches is journaled");
    // the copy serves on 1.31 and the old group is gone
    let cloud = common::cloud::aws(&sim).await;
    let mut groups = cloud.list_nodegroups("bg").await.unwrap();
    groups.sort();
    assert_eq!(groups, ["apps-1-31"]);
    let client = sim.client("lead").await.unwrap();
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(nodes.items.len(), 4);
    for n in &nodes.items {
        let v = &n.status.as_ref().unwrap().node_info.as_ref().unwrap().kubelet_version;
        assert!(v.starts_with("v1.31"), "{} on {v}", n.metadata.name.as_deref().unwrap());
        assert_ne!(n.spec.as_ref().unwrap().unschedulable, Some(true));
    }

    // the same rollout, killed at the copy's creation, in each batch and at the deletion
    let (killed_run, kills, _, _, _) = rollout(&[at_create, in_batch_1, in_batch_2, at_delete]).await;
    assert_eq!(kills, 4, "killed at every point");
    assert_eq!(
        killed_run, straight,
        "the killed rollout sent or evicted something twice"
    );
}
