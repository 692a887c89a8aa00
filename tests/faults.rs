//! The fault suite: the demo rolled out by `upshift drive --headless` under each
//! fault the simulator offers — Kubernetes 5xx, dropped write replies, added
//! latency, AWS throttling and 5xx — and under repeated SIGKILL at random moments and
//! right after actions are journaled; each compared with a fault-free run: the same
//! AWS writes applied, the same number of pods evicted, the target reached, the
//! journal gap-free, every action with a result.
//!
//! This is the short form CI runs. `benches/faults.sh` runs the long form (more kills,
//! more seeds, `UPSHIFT_FAULTS_LONG=1`) and prints the figures.

mod common;
#[path = "faults/run.rs"]
mod run;

use std::sync::OnceLock;

use run::{Fault, Kill, Outcome};
use serde_json::json;

/// Whether the long form runs (`benches/faults.sh`).
fn long() -> bool {
    std::env::var_os("UPSHIFT_FAULTS_LONG").is_some()
}

/// The fault-free rollout every fault is compared with, run once per process.
fn baseline() -> &'static Outcome {
    static BASE: OnceLock<Outcome> = OnceLock::new();
    BASE.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let fault = Fault {
                name: "none",
                api: None,
                aws: None,
                kill: Kill::Never,
            };
            let out = rt.block_on(run::rollout(&fault));
            figures(&fault, &out);
            out
        })
        .join()
        .expect("the fault-free rollout")
    })
}

fn figures(fault: &Fault, o: &Outcome) {
    let writes: u64 = o.aws_writes.values().sum();
    let [errors, dropped, delayed, throttled, server] = o.injected;
    println!(
        "faults: {:<24} {:>5.1}s  kills {:>2}  resolved in doubt {:>2}  AWS writes {writes:>3}  evicted {:>3}  entries {:>4}  injected: k8s 5xx {errors}, dropped replies {dropped}, delayed {delayed}, AWS throttled {throttled}, AWS 5xx {server}",
        fault.name, o.seconds, o.kills, o.resolved, o.evicted, o.journal_entries
    );
}

/// Rolls out under `fault` (`rounds` times with different seeds in the long form) and
/// compares each with the fault-free run.
async fn compare(fault: Fault) {
    let base = baseline().clone();
    let rounds = if long() { 3 } else { 1 };
    for round in 0..rounds {
        let mut f = fault.clone();
        for body in [&mut f.api, &mut f.aws].into_iter().flatten() {
            body["seed"] = json!(7 + round);
        }
        if let Kill::Random { times, seed } = f.kill {
            f.kill = Kill::Random {
                times: if long() { times * 3 } else { times },
                seed: seed + round,
            };
        }
        if let Kill::AfterAction { times } = f.kill {
            f.kill = Kill::AfterAction {
                times: if long() { times * 3 } else { times },
            };
        }
        let out = run::rollout(&f).await;
        figures(&f, &out);
        assert_eq!(
            out.aws_writes, base.aws_writes,
            "{}: the AWS writes differ from a fault-free run",
            f.name
        );
        assert_eq!(
            out.evicted, base.evicted,
            "{}: pods evicted differ from a fault-free run",
            f.name
        );
        let injected: u64 = out.injected.iter().sum();
        let killed = !matches!(f.kill, Kill::Never);
        assert!(
            injected > 0 || (killed && out.kills > 0),
            "{}: no fault was injected: {out:?}",
            f.name
        );
    }
}

fn fault(name: &'static str, api: Option<serde_json::Value>, aws: Option<serde_json::Value>, kill: Kill) -> Fault {
    Fault { name, api, aws, kill }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_server_errors() {
    let api = json!({"seed": 7, "errors": [{"rate": 0.2, "code": 503, "verbs": ["get", "list", "patch", "create", "delete"]}]});
    compare(fault("kubernetes 5xx", Some(api), None, Kill::Never)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_write_replies() {
    let api = json!({"seed": 7, "droppedReplies": [{"rate": 0.2}]});
    compare(fault("dropped write replies", Some(api), None, Kill::Never)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_latency() {
    let api = json!({"seed": 7, "latency": [{"minMs": 5, "maxMs": 60}]});
    compare(fault("latency 5-60 ms", Some(api), None, Kill::Never)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_throttling() {
    let aws = json!({"seed": 7, "rules": [{"operation": "*", "throttle": 0.3}]});
    compare(fault("AWS throttling 30%", None, Some(aws), Kill::Never)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_server_errors() {
    let aws = json!({"seed": 7, "rules": [{"operation": "*", "serverError": 0.1}, {"operation": "DescribeUpdate", "throttle": 0.2, "serverError": 0.1}]});
    compare(fault("AWS 5xx 10%", None, Some(aws), Kill::Never)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments() {
    compare(fault(
        "kill -9 at random",
        None,
        None,
        Kill::Random { times: 5, seed: 11 },
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_actions_are_journaled() {
    // writes to the cluster wait a little, so kills land while they are in flight
    let api = json!({"seed": 7, "latency": [{"ms": 150, "verbs": ["create", "patch", "update", "delete"]}]});
    compare(fault(
        "kill -9 after actions",
        Some(api),
        None,
        Kill::AfterAction { times: 6 },
    ))
    .await;
}
