//! Draining a node through the drain step against the simulator: cordon, evictions
//! through the eviction API, pods running again elsewhere, done once only DaemonSet
//! pods are left; a node holding a pod whose budget allows no disruption names the
//! pod and the budget, and the refusal is journaled once, not on every call.

mod common;

use std::time::Duration;

use upshift::rollout::journal::{Journal, What};
use upshift::rollout::steps::{DrainCtx, Progress, drain_node};
use upshift::sim::Simulator;

/// The nodes of a group, and the first one that does (or does not) hold a pod of `app`.
fn node_with(sim: &Simulator, group: &str, app: &str, holds: bool) -> String {
    let w = sim.world();
    let w = w.lock();
    w.nodes
        .items()
        .values()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("eks.amazonaws.com/nodegroup"))
                .is_some_and(|g| g == group)
        })
        .filter_map(|n| n.metadata.name.clone())
        .find(|name| {
            let has = w.pods.items().values().any(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                    && p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("app"))
                        .map(String::as_str)
                        == Some(app)
            });
            has == holds
        })
        .expect("such a node")
}

fn pods_on(sim: &Simulator, node: &str) -> Vec<String> {
    let w = sim.world();
    let w = w.lock();
    w.pods
        .items()
        .iter()
        .filter(|(_, p)| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .map(|(k, _)| k.clone())
        .collect()
}

#[tokio::test]
async fn a_node_is_cordoned_and_emptied_of_all_but_daemonset_pods() {
    let sim = common::start("demo").await;
    let node = node_with(&sim, "apps", "ledger", false);
    let before = pods_on(&sim, &node);
    assert!(before.len() > 2, "the node runs workloads: {before:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let clock = sim.world().lock().clock.clone();
    let now = move || clock.now();
    let client = sim.client("lead").await.unwrap();
    let mut done = None;
    for _ in 0..200 {
        let mut ctx = DrainCtx {
            client: client.clone(),
            journal: &mut journal,
            who: "ana@laptop",
            now: &now,
        };
        match drain_node(&mut ctx, "nodegroup/apps", &node).await.unwrap() {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Waiting { .. } => {
                sim.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(done.expect("drained").contains("drained"));
    let left = pods_on(&sim, &node);
    assert!(
        left.iter()
            .all(|k| k.starts_with("kube-system/aws-node") || k.starts_with("kube-system/kube-proxy")),
        "only DaemonSet pods stay: {left:?}"
    );
    let evicted: Vec<&str> = journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                action,
                target,
                ok: true,
                ..
            } if action == "evict" => Some(target.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(evicted.len(), before.len() - left.len(), "one eviction per moved pod");
    assert!(journal.done("nodegroup/apps", "cordon", &node));
    // calling again after done changes nothing and writes nothing
    let n = journal.entries().len();
    let mut ctx = DrainCtx {
        client: client.clone(),
        journal: &mut journal,
        who: "ana@laptop",
        now: &now,
    };
    assert!(drain_node(&mut ctx, "nodegroup/apps", &node).await.unwrap().is_done());
    assert_eq!(journal.entries().len(), n);
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}

#[tokio::test]
async fn a_blocking_budget_is_named_with_its_pod_and_journaled_once() {
    let sim = common::start("demo").await;
    let node = node_with(&sim, "apps", "ledger", true);
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let clock = sim.world().lock().clock.clone();
    let now = move || clock.now();
    let client = sim.client("lead").await.unwrap();
    let mut last = None;
    for _ in 0..5 {
        let mut ctx = DrainCtx {
            client: client.clone(),
            journal: &mut journal,
            who: "ana@laptop",
            now: &now,
        };
        last = Some(drain_node(&mut ctx, "nodegroup/apps", &node).await.unwrap());
        sim.advance(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(Progress::Waiting { what, detail }) = last else {
        panic!("the ledger's budget holds the node: {last:?}")
    };
    assert!(what.contains("pod payments/ledger-"), "{what}");
    assert!(
        what.contains("PodDisruptionBudget payments/ledger (2 healthy, 2 required"),
        "{what}"
    );
    assert!(detail.contains("refused by a budget"), "{detail}");
    let refusals = journal
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Result { action, ok: false, .. } if action == "evict"))
        .count();
    assert_eq!(
        refusals, 1,
        "one refusal recorded for the one ledger pod, not one per call"
    );
}
