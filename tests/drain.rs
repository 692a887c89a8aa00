//! Draining a node through the drain step against the simulator: cordon, evictions
//! through the eviction API, pods running again elsewhere, done once only DaemonSet
//! pods are left; a node holding a pod whose budget allows no disruption is held,
//! naming the pod and the budget, and the refusal is journaled once, not on every
//! call; pods upshift does not evict on its own (no controller, emptyDir data the
//! plan keeps) are held at once; the operator's decisions are honoured.

mod common;

use std::time::Duration;

use upshift::model::Level;
use upshift::rollout::journal::{Journal, What};
use upshift::rollout::plan::Drain;
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
        match drain_node(&mut ctx, "nodegroup/apps", &node, &Drain::default())
            .await
            .unwrap()
        {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Waiting { .. } => {
                sim.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("nothing holds this node: {other:?}"),
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
    assert!(
        drain_node(&mut ctx, "nodegroup/apps", &node, &Drain::default())
            .await
            .unwrap()
            .is_done()
    );
    assert_eq!(journal.entries().len(), n);
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}

#[tokio::test]
async fn a_blocking_budget_is_named_with_its_pod_and_journaled_once() {
    let sim = common::start("demo").await;
    // a node with a ledger pod, not the one running the debug-shell pod (asked about first)
    let node = node_with(&sim, "apps", "ledger", true);
    let node = if pods_on(&sim, &node).contains(&"default/debug-shell".to_string()) {
        let w = sim.world();
        let w = w.lock();
        w.pods
            .items()
            .values()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some("ledger")
            })
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .find(|n| n != &node)
            .expect("the other ledger pod's node")
    } else {
        node
    };
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
        last = Some(
            drain_node(&mut ctx, "nodegroup/apps", &node, &Drain::default())
                .await
                .unwrap(),
        );
        sim.advance(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(Progress::Held {
        what,
        node: held_node,
        pod,
        why,
        since,
        ask_now,
    }) = last
    else {
        panic!("the ledger's budget holds the node: {last:?}")
    };
    assert_eq!(held_node, node);
    assert!(pod.starts_with("payments/ledger-"), "{pod}");
    assert!(what.contains(&format!("pod {pod}")), "{what}");
    assert!(
        why.starts_with("PodDisruptionBudget payments/ledger (2 healthy, 2 required, 0 disruptions allowed)"),
        "{why}"
    );
    assert!(!ask_now, "a budget may allow it later: the pod timeout applies");
    let refusals = journal
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Result { action, ok: false, .. } if action == "evict"))
        .count();
    assert_eq!(
        refusals, 1,
        "one refusal recorded for the one ledger pod, not one per call"
    );
    // since: the time of that refusal, though the calls went on for two minutes
    let refused_at = journal
        .entries()
        .iter()
        .find(|e| matches!(&e.what, What::Result { action, ok: false, .. } if action == "evict"))
        .unwrap()
        .at;
    assert_eq!(since, refused_at);
}

/// Drains `node` until it is Done or Held, advancing virtual time between passes.
async fn drain_until(sim: &Simulator, journal: &mut Journal, node: &str, opts: &Drain) -> Progress {
    let clock = sim.world().lock().clock.clone();
    let now = move || clock.now();
    let client = sim.client("lead").await.unwrap();
    let mut last = None;
    for _ in 0..200 {
        let mut ctx = DrainCtx {
            client: client.clone(),
            journal: &mut *journal,
            who: "ana@laptop",
            now: &now,
        };
        let p = drain_node(&mut ctx, "nodegroup/apps", node, opts).await.unwrap();
        if matches!(p, Progress::Done { .. } | Progress::Held { .. }) {
            return p;
        }
        last = Some(p);
        sim.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the drain of {node} neither finished nor held: {last:?}");
}

fn decide(sim: &Simulator, journal: &mut Journal, decision: &str, target: &str) {
    let at = sim.world().lock().clock.now();
    journal
        .append(
            "ana@laptop",
            at,
            What::Decision {
                step: Some("nodegroup/apps".into()),
                decision: decision.into(),
                reason: None,
                target: Some(target.into()),
            },
        )
        .unwrap();
}

#[tokio::test]
async fn emptydir_pods_are_held_when_the_plan_keeps_their_data_and_evicted_with_a_warning_otherwise() {
    let sim = common::start("demo").await;
    // a node running an images pod (emptyDir) and not the debug-shell pod
    let node = {
        let w = sim.world();
        let w = w.lock();
        let on = |app: &str| -> Vec<String> {
            w.pods
                .items()
                .values()
                .filter(|p| {
                    p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("app"))
                        .map(String::as_str)
                        == Some(app)
                })
                .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                .collect()
        };
        let debug = on("debug-shell");
        on("images")
            .into_iter()
            .find(|n| !debug.contains(n))
            .expect("a node with an images pod")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let keep = Drain {
        delete_empty_dir_data: false,
        ..Drain::default()
    };
    // the ledger may share the node: its budget would hold the drain later, but the
    // emptyDir pod is asked about first
    let p = drain_until(&sim, &mut journal, &node, &keep).await;
    let Progress::Held { pod, why, ask_now, .. } = &p else {
        panic!("{p:?}")
    };
    assert!(pod.starts_with("shop/images-"), "{p:?}");
    assert!(*ask_now, "{p:?}");
    assert!(why.contains("its emptyDir data is lost"), "{why}");
    let images_pod = pod.clone();
    assert!(pods_on(&sim, &node).contains(&images_pod), "the pod was not evicted");

    // the plan allows deleting emptyDir data: evicted, with one warning per pod
    let delete = Drain::default();
    let p = drain_until(&sim, &mut journal, &node, &delete).await;
    assert!(
        !matches!(&p, Progress::Held { pod, .. } if pod.starts_with("shop/images-")),
        "{p:?}"
    );
    let warnings: Vec<&str> = journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Event {
                level: Level::Warning,
                object,
                reason,
                ..
            } if reason == "EmptyDirDataLost" => Some(object.as_str()),
            _ => None,
        })
        .collect();
    assert!(warnings.contains(&format!("Pod/{images_pod}").as_str()), "{warnings:?}");
    let mut unique = warnings.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), warnings.len(), "one warning per pod: {warnings:?}");
    assert!(journal.done("nodegroup/apps", "evict", &images_pod));
}

#[tokio::test]
async fn a_pod_without_a_controller_is_held_at_once_and_deleted_only_at_the_operators_word() {
    let sim = common::start("demo").await;
    let node = {
        let w = sim.world();
        let w = w.lock();
        w.pods
            .items()
            .get("default/debug-shell")
            .and_then(|p| p.spec.as_ref()?.node_name.clone())
            .expect("the demo's debug-shell pod runs on a node")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let p = drain_until(&sim, &mut journal, &node, &Drain::default()).await;
    let Progress::Held {
        what,
        pod,
        ask_now,
        since,
        ..
    } = &p
    else {
        panic!("{p:?}")
    };
    assert_eq!(pod, "default/debug-shell");
    assert!(*ask_now);
    assert!(
        what.contains("pod default/debug-shell has no controller: once evicted it does not come back"),
        "{what}"
    );
    assert!(!journal.entries().iter().any(
        |e| matches!(&e.what, What::Action { action, target, .. } if action == "evict" && target == "default/debug-shell")
    ));
    // keep-waiting moves since
    let first_since = *since;
    sim.advance(Duration::from_secs(60));
    decide(&sim, &mut journal, "keep-waiting", "default/debug-shell");
    let p = drain_until(&sim, &mut journal, &node, &Drain::default()).await;
    let Progress::Held { since, pod, .. } = &p else {
        panic!("{p:?}")
    };
    assert_eq!(pod, "default/debug-shell");
    assert!(*since > first_since, "{since} after {first_since}");

    decide(&sim, &mut journal, "delete-pod", "default/debug-shell");
    let p = drain_until(&sim, &mut journal, &node, &Drain::default()).await;
    assert!(
        !matches!(&p, Progress::Held { pod, .. } if pod == "default/debug-shell"),
        "{p:?}"
    );
    for _ in 0..3 {
        drain_until(&sim, &mut journal, &node, &Drain::default()).await;
    }
    let deletes = journal
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Action { action, .. } if action == "delete-pod"))
        .count();
    assert_eq!(deletes, 1);
    assert!(journal.done("nodegroup/apps", "delete-pod", "default/debug-shell"));
    sim.advance(Duration::from_secs(60));
    assert!(!pods_on(&sim, &node).contains(&"default/debug-shell".to_string()));
}
