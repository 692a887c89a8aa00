//! One rollout of the demo by `upshift drive --headless` under a fault, killed with
//! SIGKILL as the fault asks and run again until it is done, and what it did: the AWS
//! writes the simulated AWS applied (requests less those it refused as a fault), the
//! pods evicted, the journal's state.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use upshift::cloud::CloudRead;
use upshift::model::journal::What;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

use super::common;

/// When the drive is killed.
#[derive(Clone, Copy, Debug)]
pub enum Kill {
    Never,
    /// `times` times, each once the journal has grown by a pseudo-random 1–12 lines
    /// (from `seed`).
    Random {
        times: usize,
        seed: u64,
    },
    /// `times` times, each at the first moment the journal's last entry is an action
    /// (journaled, its request sent or about to be, its answer not yet journaled).
    AfterAction {
        times: usize,
    },
}

/// A fault to drive under.
#[derive(Clone, Debug)]
pub struct Fault {
    pub name: &'static str,
    /// `/sim/faults`' body (the Kubernetes API's faults).
    pub api: Option<serde_json::Value>,
    /// `/sim/aws-faults`' body.
    pub aws: Option<serde_json::Value>,
    pub kill: Kill,
}

/// What a rollout did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// AWS writes applied, by operation (heartbeats left out: they follow the clock).
    pub aws_writes: BTreeMap<String, u64>,
    /// Pods upshift evicted (distinct), and how many times an eviction went through.
    pub evicted: usize,
    pub kills: usize,
    /// Actions killed in doubt, resolved on a resume.
    pub resolved: usize,
    /// Faults the simulator injected: Kubernetes API errors, dropped replies, delays;
    /// AWS throttled and server errors.
    pub injected: [u64; 5],
    pub journal_entries: usize,
    pub seconds: f64,
}

/// AWS operations that change something.
fn is_write(op: &str) -> bool {
    const READS: [&str; 3] = ["Describe", "List", "Get"];
    !READS.iter().any(|r| op.starts_with(r)) && op != "RecordLifecycleActionHeartbeat" && op != "PutMetricData"
}

/// The demo's plan: the control plane, coredns and the self-managed `batch` (replaced
/// by upshift, batch by batch); in the long form (`UPSHIFT_FAULTS_LONG`) also the
/// managed group `system` (EKS's update).
async fn write_plan(sim: &Simulator, dir: &Path) {
    let long = std::env::var_os("UPSHIFT_FAULTS_LONG").is_some();
    let client = sim.client("lead").await.unwrap();
    // let the ledger's budget allow one disruption, so drains are not held for the lead
    Api::<Deployment>::namespaced(client.clone(), "payments")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let cloud = common::cloud::aws(sim).await;
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
            managed: Some(Strategy::EksUpdate),
        },
    );
    // the drive runs on the wall clock: gates settle in two real seconds
    p.gates.settle_seconds = 2;
    p.steps.retain(|s| match s {
        Step::ControlPlane => true,
        Step::Addon { name, .. } => name == "coredns",
        Step::Nodegroup(g) => g.name == "batch" || (g.name == "system" && long),
        _ => false,
    });
    std::fs::write(dir.join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
}

/// Whether the journal's last entry (a whole line) is an action.
fn last_is_action(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("journal.jsonl")) else {
        return false;
    };
    text.ends_with('\n')
        && text
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<upshift::model::journal::Entry>(l).ok())
            .is_some_and(|e| matches!(e.what, What::Action { .. }))
}

/// A drive that is killed if the test fails while it runs.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How the run ends.
enum Ended {
    Done,
    Killed,
}

/// Runs the headless drive as the lead would (proceed at settled gates, override a red
/// one once) until it prints `done`, or kills it when `kill` says.
fn run_once(dir: &Path, sim: &Simulator, kill: impl Fn(&Path) -> bool, deadline: Instant) -> Ended {
    let mut child = Reaped(common::bin::spawn_drive(dir, sim));
    let child = &mut child.0;
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
            return Ended::Killed;
        }
        match rx.recv_timeout(Duration::from_millis(2)) {
            Ok(line) => {
                if line.starts_with("done") {
                    drop(stdin);
                    child.wait().unwrap();
                    return Ended::Done;
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

/// splitmix64: the kill points of a seed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Drives the demo under `fault` until done, and checks what every run must hold:
/// the journal reads back gap-free, no finished action twice, every action with a
/// result, the plan's target reached. Returns what it did.
pub async fn rollout(fault: &Fault) -> Outcome {
    let started = Instant::now();
    let sim = common::start_at("demo", 600.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    write_plan(&sim, dir.path()).await;
    if let Some(api) = &fault.api {
        sim.set_api_faults(serde_json::from_value(api.clone()).expect("the API faults parse"));
    }
    if let Some(aws) = &fault.aws {
        sim.set_aws_faults(&serde_json::from_value(aws.clone()).expect("the AWS faults parse"));
    }
    let deadline = Instant::now() + Duration::from_secs(420);
    let sim = std::sync::Arc::new(sim);
    let (s2, path, kill) = (sim.clone(), dir.path().to_path_buf(), fault.kill);
    let (kills, resolved) = tokio::task::spawn_blocking(move || {
        let mut kills = 0;
        let mut resolved = 0;
        let mut seed = match kill {
            Kill::Random { seed, .. } => seed,
            _ => 0,
        };
        loop {
            let left = match kill {
                Kill::Never => 0,
                Kill::Random { times, .. } | Kill::AfterAction { times } => times.saturating_sub(kills),
            };
            let from = common::journal::lines(&path);
            let at = from + 1 + (next(&mut seed) % 12) as usize;
            let ended = run_once(
                &path,
                &s2,
                |dir| {
                    left > 0
                        && match kill {
                            Kill::Never => false,
                            Kill::Random { .. } => common::journal::lines(dir) >= at,
                            Kill::AfterAction { .. } => common::journal::lines(dir) > from && last_is_action(dir),
                        }
                },
                deadline,
            );
            match ended {
                Ended::Done => return (kills, resolved),
                Ended::Killed => {
                    kills += 1;
                    let j = Journal::open(&path.join("journal.jsonl")).expect("the journal opens after a kill");
                    resolved += j.in_doubt().len();
                }
            }
        }
    })
    .await
    .unwrap();

    let path = dir.path().join("journal.jsonl");
    common::journal::assert_no_repeats(&path);
    let j = Journal::open(&path).unwrap();
    assert!(
        j.in_doubt().is_empty(),
        "{}: actions left in doubt: {:?}",
        fault.name,
        j.in_doubt()
    );
    // the faults end with the drive: the test's own checks below read a quiet
    // simulator (its clients have no retry layer)
    sim.set_api_faults(Default::default());
    sim.set_aws_faults(&Default::default());
    // the target reached: the control plane, and every node of the plan's groups
    let cloud = common::cloud::aws(&sim).await;
    let cluster = cloud.describe_cluster("demo").await.unwrap();
    assert_eq!(cluster.version, "1.35", "{}", fault.name);
    let client = sim.client("lead").await.unwrap();
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    for n in &nodes.items {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let long = std::env::var_os("UPSHIFT_FAULTS_LONG").is_some();
        if labels
            .get("role")
            .is_some_and(|v| v == "batch" || (v == "system" && long))
        {
            let v = &n.status.as_ref().unwrap().node_info.as_ref().unwrap().kubelet_version;
            assert!(
                v.contains("1.35"),
                "{}: node {:?} is on {v}",
                fault.name,
                n.metadata.name
            );
        }
    }
    let injected = sim.aws_faults_injected();
    let mut aws_writes = BTreeMap::new();
    for (op, n) in sim.aws_request_counts() {
        let refused = injected.get(&op).map_or(0, |i| i.throttled + i.server_errors);
        if is_write(&op) && n > refused {
            aws_writes.insert(op, n - refused);
        }
    }
    let evicted: BTreeSet<String> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Action { action, target, .. } if action == "evict" => Some(target.clone()),
            _ => None,
        })
        .collect();
    let api = sim.api_faults_injected();
    Outcome {
        aws_writes,
        evicted: evicted.len(),
        kills,
        resolved,
        injected: [
            api.errors,
            api.dropped_replies,
            api.delayed,
            injected.values().map(|i| i.throttled).sum(),
            injected.values().map(|i| i.server_errors).sum(),
        ],
        journal_entries: j.entries().len(),
        seconds: started.elapsed().as_secs_f64(),
    }
}
