//! Draining a node through the drain step against the simulator: cordon, evictions
//! through the eviction API, pods running again elsewhere, done once only DaemonSet
//! pods are left; a node holding a pod whose budget allows no disruption is held,
//! naming the pod and the budget, and the refusal is journaled once, not on every
//! call; pods upshift does not evict on its own (no controller, emptyDir data the
//! plan keeps) are held at once; the operator's decisions are honoured.

mod common;

use std::time::Duration;

use common::Inspect;
use upshift::model::Level;
use upshift::model::journal::{Decision, StepId, Subject, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Drain;
use upshift::rollout::steps::{Progress, drain_node};
use upshift::sim::Simulator;

/// The step these drains are journaled under.
fn apps() -> StepId {
    StepId::Nodegroup("apps".into())
}

/// The first node of a group that does (or does not) hold a pod of `app`.
fn node_with(sim: &Simulator, group: &str, app: &str, holds: bool) -> String {
    let running = sim.nodes_running(app);
    sim.nodes_labelled("eks.amazonaws.com/nodegroup", group)
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .find(|name| running.contains(name) == holds)
        .expect("such a node")
}

#[tokio::test]
async fn a_node_is_cordoned_and_emptied_of_all_but_daemonset_pods() {
    let sim = common::start("demo").await;
    let node = node_with(&sim, "apps", "ledger", false);
    let before = sim.pods_on(&node);
    assert!(before.len() > 2, "the node runs workloads: {before:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let now = common::steps::clock_of(&sim);
    let client = sim.client("lead").await.unwrap();
    let mut done = None;
    for _ in 0..200 {
        let mut ctx = common::steps::drain_ctx(client.clone(), &mut journal, &now);
        match drain_node(&mut ctx, &apps(), &node, &Drain::default()).await.unwrap() {
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
    let left = sim.pods_on(&node);
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
    assert!(journal.done(&apps(), "cordon", &node));
    // calling again after done changes nothing and writes nothing
    let n = journal.entries().len();
    let mut ctx = common::steps::drain_ctx(client.clone(), &mut journal, &now);
    assert!(
        drain_node(&mut ctx, &apps(), &node, &Drain::default())
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
    let node = if sim.pods_on(&node).contains(&"default/debug-shell".to_string()) {
        sim.nodes_running("ledger")
            .into_iter()
            .find(|n| n != &node)
            .expect("the other ledger pod's node")
    } else {
        node
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let now = common::steps::clock_of(&sim);
    let client = sim.client("lead").await.unwrap();
    let mut last = None;
    for _ in 0..5 {
        let mut ctx = common::steps::drain_ctx(client.clone(), &mut journal, &now);
        last = Some(drain_node(&mut ctx, &apps(), &node, &Drain::default()).await.unwrap());
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
    let now = common::steps::clock_of(sim);
    let client = sim.client("lead").await.unwrap();
    let mut last = None;
    for _ in 0..200 {
        let mut ctx = common::steps::drain_ctx(client.clone(), &mut *journal, &now);
        let p = drain_node(&mut ctx, &apps(), node, opts).await.unwrap();
        if matches!(p, Progress::Done { .. } | Progress::Held { .. }) {
            return p;
        }
        last = Some(p);
        sim.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the drain of {node} neither finished nor held: {last:?}");
}

fn decide(sim: &Simulator, journal: &mut Journal, decision: Decision, target: &str) {
    let at = sim.now();
    journal
        .append(
            "ana@laptop",
            at,
            What::Decision {
                step: Some(Subject::Step(apps())),
                decision,
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
        let debug = sim.nodes_running("debug-shell");
        sim.nodes_running("images")
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
    assert!(sim.pods_on(&node).contains(&images_pod), "the pod was not evicted");

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
    assert!(journal.done(&apps(), "evict", &images_pod));
}

#[tokio::test]
async fn a_pod_without_a_controller_is_held_at_once_and_deleted_only_at_the_operators_word() {
    let sim = common::start("demo").await;
    let node = sim
        .node_of("default/debug-shell")
        .expect("the demo's debug-shell pod runs on a node");
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
    decide(&sim, &mut journal, Decision::KeepWaiting, "default/debug-shell");
    let p = drain_until(&sim, &mut journal, &node, &Drain::default()).await;
    let Progress::Held { since, pod, .. } = &p else {
        panic!("{p:?}")
    };
    assert_eq!(pod, "default/debug-shell");
    assert!(*since > first_since, "{since} after {first_since}");

    decide(&sim, &mut journal, Decision::DeletePod, "default/debug-shell");
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
    assert!(journal.done(&apps(), "delete-pod", "default/debug-shell"));
    sim.advance(Duration::from_secs(60));
    assert!(!sim.pods_on(&node).contains(&"default/debug-shell".to_string()));
}
