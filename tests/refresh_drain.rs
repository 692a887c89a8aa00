//! Instance refreshes that drain, against the simulator: a refresh that nothing would
//! drain is blocked by preflight and by the step before any action; one drained by
//! the simulated aws-node-termination-handler finishes with every eviction going
//! through the budgets and no pod lost; one drained by upshift through its own
//! termination hook holds the next batch in the hook behind a gate (kept alive by
//! heartbeats), honours the operator's choices on a held drain, resumes after a
//! restart without repeating an action, and leaves no hook behind, done or aborted.

mod common;

use std::time::Duration;

use common::Inspect;
use common::steps::Rig;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use upshift::cloud::CloudRead;
use upshift::cluster::ClusterReader;
use upshift::model::journal::{Decision, GateId, StepId};
use upshift::preflight::Severity;
use upshift::preflight::drainers::{self, Drainer};
use upshift::rollout::plan::{GroupType, NodegroupStep, Step, Strategy};
use upshift::rollout::steps::{Progress, StepError, keep_alive};

fn refresh(name: &str, drainer: Drainer, batch_size: u32) -> Step {
    Step::Nodegroup(NodegroupStep {
        name: name.into(),
        group_type: GroupType::SelfManaged,
        strategy: Strategy::InstanceRefresh,
        batch_size,
        auto_continue: false,
        drainer: Some(drainer),
        update_config: None,
        ami_type: None,
    })
}

fn id(name: &str) -> StepId {
    StepId::Nodegroup(name.into())
}

impl Rig {
    async fn control_plane(&mut self) {
        for _ in 0..40 {
            if self
                .call(&Step::ControlPlane)
                .await
                .0
                .expect("the control plane goes on")
                .is_done()
            {
                return;
            }
            self.sim.advance(Duration::from_secs(60));
        }
        panic!("the control plane did not reach {}", self.target);
    }

    fn advance(&self, secs: u64) {
        self.sim.advance(Duration::from_secs(secs));
    }

    fn aws_count(&self, op: &str) -> u64 {
        common::cloud::count(&self.sim, op)
    }

    /// The lead's eviction requests the simulated API server counted.
    fn lead_evictions(&self) -> u64 {
        self.journal
            .entries()
            .iter()
            .filter(|e| matches!(&e.what, upshift::model::journal::What::Action { action, .. } if action == "evict"))
            .count() as u64
    }
}

fn assert_no_action_repeated(r: &Rig) {
    common::journal::assert_no_repeats(&r.path);
}

/// `workers` (3 self-managed nodes) runs `web` and `ledger`; the ledger's budget
/// holds a drain while it has 2 replicas. `{hooks}` and `{handler}` add a
/// termination hook and the simulated handler.
fn scenario(hooks: &str, handler: &str) -> String {
    format!(
        r#"
name: refresh
seed: 11
cluster: {{name: refresh, version: "1.30"}}
nodeGroups:
  - {{name: system, kind: managed, instanceType: m5.large, size: 2}}
  - name: workers
    kind: self-managed
    instanceType: m5.xlarge
    size: 3
{hooks}
workloads:
  - {{name: aws-node, namespace: kube-system, kind: DaemonSet, image: "cni:1", tolerateAll: true}}
  - {{name: ledger, namespace: payments, kind: Deployment, replicas: 2, image: "ledger:1", nodeGroup: workers, pdb: {{minAvailable: 2}}}}
  - {{name: web, namespace: shop, kind: Deployment, replicas: 4, image: "web:1", nodeGroup: workers}}
{handler}
"#
    )
}

const NTH_HOOK: &str = "    lifecycleHooks:\n      - {name: nth, heartbeatTimeout: 600, defaultResult: CONTINUE}";
const NTH: &str = "terminationHandler: {mode: queue-processor}";
const IMDS: &str = "terminationHandler: {mode: imds}";

async fn ledger_replicas(r: &Rig, n: i32) {
    Api::<Deployment>::namespaced(r.client.clone(), "payments")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
        )
        .await
        .expect("the ledger scales");
}

#[tokio::test]
async fn a_refresh_nothing_would_drain_is_blocked_by_preflight_and_by_the_step() {
    for (hooks, handler, says) in [("", "", "no termination lifecycle hook"), (NTH_HOOK, IMDS, "IMDS mode")] {
        let mut r = Rig::new(common::start_yaml(&scenario(hooks, handler)).await).await;
        r.control_plane().await;
        // preflight, as the drive runs it with the plan's refresh groups
        let reader = ClusterReader::new(r.client.clone());
        let facts = drainers::gather(
            &reader,
            &r.cloud as &dyn CloudRead,
            &[("workers".into(), Some(Drainer::TerminationHandler))],
        )
        .await;
        let (findings, run) = drainers::check(&facts);
        assert!(run.complete, "{run:?}");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Blocker, "{findings:?}");
        assert!(
            findings[0].resources.iter().any(|x| x.contains("workers")),
            "{findings:?}"
        );
        let step_result = upshift::rollout::steps::preflight::reconcile_with_refreshes(
            &reader,
            &r.cloud,
            &r.cluster,
            "1.31",
            &[("workers".into(), Some(Drainer::TerminationHandler))],
        )
        .await;
        match step_result {
            Err(StepError::Failed { why, .. }) => assert!(why.contains("workers"), "{why}"),
            other => panic!("the preflight step passes a refresh nothing drains: {other:?}"),
        }
        // and the step, past its gate, refuses before any action
        let step = refresh("workers", Drainer::TerminationHandler, 1);
        let (p, _) = r.call(&step).await;
        match p {
            Err(StepError::Failed { why, what_to_do }) => {
                assert!(why.contains(says) && why.contains("workers"), "{why}");
                assert!(what_to_do.contains("drainer: upshift"), "{what_to_do}");
            }
            other => panic!("a refresh nothing drains was not refused: {other:?}"),
        }
        assert_eq!(r.aws_count("StartInstanceRefresh"), 0);
        let ours: Vec<_> = r
            .actions()
            .into_iter()
            .filter(|(s, _, _)| s == "nodegroup/workers")
            .collect();
        assert!(ours.is_empty(), "{ours:?}");
        // planned with upshift as the drainer, the same group passes preflight
        let facts = drainers::gather(&reader, &r.cloud, &[("workers".into(), Some(Drainer::Upshift))]).await;
        assert!(drainers::check(&facts).0.iter().all(|f| f.severity == Severity::Info));
    }
}

#[tokio::test]
async fn a_refresh_drained_by_the_termination_handler_evicts_through_the_budgets_and_loses_no_pod() {
    let mut r = Rig::new(common::start_yaml(&scenario(NTH_HOOK, NTH)).await).await;
    r.control_plane().await;
    let step = refresh("workers", Drainer::TerminationHandler, 1);
    let mut named = None;
    let mut done = None;
    for i in 0..600 {
        let (p, group) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Waiting { what, .. } => {
                if what.contains("held by PodDisruptionBudget payments/ledger") && named.is_none() {
                    assert!(what.contains("payments/ledger-"), "{what}");
                    assert_eq!(group.holding.as_deref().map(|h| what.contains(h)), Some(true));
                    named = Some(what);
                    // the lead lets the budget breathe: a third replica
                    ledger_replicas(&r, 3).await;
                }
            }
            other => panic!("{other:?} at call {i}"),
        }
        r.advance(10);
    }
    assert!(done.expect("the refresh finishes").contains("on 1.31"));
    assert!(named.is_some(), "the pod and budget holding a node were never named");
    let (lost, recent) = r.sim.pods_lost();
    assert_eq!(lost, 0, "pods died with their node: {recent:?}");
    let (evictions, refused, completed) = r.sim.handler_stats();
    assert_eq!(completed, 3, "one action completed per instance");
    assert!(evictions >= 6, "{evictions}");
    assert!(refused >= 1, "the budget refused at least one eviction: {refused}");
    // upshift followed; the handler drained: upshift evicted nothing and left the hook alone
    assert_eq!(r.lead_evictions(), 0);
    assert_eq!(r.sim.hook_names("workers"), vec!["nth".to_string()]);
    assert_eq!(r.aws_count("PutLifecycleHook") + r.aws_count("DeleteLifecycleHook"), 0);
    assert_no_action_repeated(&r);
}

#[tokio::test]
async fn upshift_drains_a_refresh_through_its_hook_with_a_gate_between_batches_and_the_operators_choices() {
    let mut r = Rig::new(common::start_yaml(&scenario(NTH_HOOK, "")).await).await;
    r.control_plane().await;
    let step = refresh("workers", Drainer::Upshift, 1);
    let sid = id("workers");
    let mut gates = Vec::new();
    let mut holds: Vec<(String, String)> = Vec::new();
    let mut skipped = None;
    let mut restarted = false;
    let mut done = None;
    for i in 0..900 {
        let (p, group) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Gate { batch, of } => {
                assert_eq!(of, 3);
                let waiting = r.sim.waiting_instances();
                assert_eq!(waiting.len(), 1, "batch {batch} waits in the hook: {waiting:?}");
                // the gate stays closed for longer than the hook's heartbeat timeout:
                // the drive's heartbeats keep the instance waiting
                for _ in 0..10 {
                    r.advance(240);
                    let mut ctx = r.step_ctx();
                    let Step::Nodegroup(g) = &step else { unreachable!() };
                    keep_alive(&mut ctx, g).await.expect("heartbeats go out");
                }
                assert_eq!(r.sim.waiting_instances(), waiting, "the held instance timed out");
                if !restarted {
                    // the process dies at the gate; a new one reads the journal
                    r.reopen();
                    restarted = true;
                }
                gates.push(batch);
                r.decide(GateId::batch(sid.clone(), batch), Decision::Proceed, None);
                continue;
            }
            Progress::Held {
                what, node, pod, why, ..
            } => {
                assert!(pod.starts_with("payments/ledger-"), "{pod}");
                assert!(why.contains("PodDisruptionBudget payments/ledger ("), "{why}");
                assert!(what.contains(&node), "{what}");
                assert_eq!(group.holding.as_deref(), Some(what.as_str()));
                assert!(
                    r.sim.waiting_instances().len() == 1,
                    "the held node's instance waits in the hook"
                );
                holds.push((node.clone(), pod.clone()));
                let nodes: Vec<&String> = {
                    let mut v: Vec<&String> = holds.iter().map(|(n, _)| n).collect();
                    v.dedup();
                    v
                };
                let on_this = holds.iter().filter(|(n, _)| *n == node).count();
                match (nodes.len(), on_this) {
                    // the first node: keep waiting once, then delete the pod
                    (1, 1) => {
                        r.decide(sid.clone(), Decision::KeepWaiting, Some(&pod));
                    }
                    (1, 2) => {
                        r.decide(sid.clone(), Decision::DeletePod, Some(&pod));
                    }
                    // the second: let it go undrained
                    (2, 1) => {
                        r.decide(sid.clone(), Decision::SkipNode, Some(&node));
                        skipped = Some(node.clone());
                    }
                    // the third: the lead gives the budget room
                    (3, 1) => ledger_replicas(&r, 3).await,
                    _ => {}
                }
                r.advance(10);
                continue;
            }
            Progress::Waiting { .. } => {}
        }
        r.advance(10);
        assert!(i < 899, "the refresh did not finish");
    }
    let what = done.expect("the refresh finishes");
    assert!(what.contains("on 1.31"), "{what}");
    assert_eq!(gates, vec![2, 3], "a gate before each batch after the first");
    assert!(restarted);
    assert!(holds.len() >= 2, "{holds:?}");
    // each choice was honoured once
    let deleted = r.actions_named("delete-pod");
    assert_eq!(deleted, vec![holds[1].1.clone()]);
    assert!(!r.sim.has_pod(&holds[1].1));
    assert!(r.journal.entries().iter().any(|e| matches!(&e.what,
        upshift::model::journal::What::Result { action, detail, .. }
            if action == "complete-lifecycle-action" && detail.contains("skip-node"))));
    // the hook came and went; every instance's action was completed once
    assert!(r.sim.hook_names("workers").iter().all(|h| h != "upshift-drain"));
    assert_eq!(
        r.sim.hook_names("workers"),
        vec!["nth".to_string()],
        "the group's own hook is untouched"
    );
    assert_eq!(r.aws_count("PutLifecycleHook"), 1);
    assert_eq!(r.aws_count("DeleteLifecycleHook"), 1);
    assert_eq!(r.actions_named("complete-lifecycle-action").len(), 3);
    assert!(r.aws_count("RecordLifecycleActionHeartbeat") >= 6);
    assert_eq!(r.aws_count("StartInstanceRefresh"), 1);
    // only the node the operator let go lost pods
    let (lost, recent) = r.sim.pods_lost();
    let node = skipped.expect("a node was let go");
    assert!(
        lost >= 1 && recent.iter().all(|p| p.ends_with(node.as_str())),
        "{recent:?}"
    );
    assert_no_action_repeated(&r);
    // done is done: another call changes nothing
    let n = r.journal.entries().len();
    assert!(r.call(&step).await.0.expect("done").is_done());
    assert_eq!(r.journal.entries().len(), n);
}

#[tokio::test]
async fn the_demo_batch_group_refreshed_with_upshift_draining_loses_no_pod() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = refresh("batch", Drainer::Upshift, 1);
    let mut done = None;
    for _ in 0..600 {
        match r.call(&step).await.0.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Gate { batch, .. } => {
                r.decide(GateId::batch(id("batch"), batch), Decision::Proceed, None);
                continue;
            }
            Progress::Held { pod, .. } => panic!("the batch group has no budget that holds: {pod}"),
            Progress::Waiting { .. } => {}
        }
        r.advance(10);
    }
    assert!(done.expect("the refresh finishes").contains("on 1.35"));
    let (lost, recent) = r.sim.pods_lost();
    assert_eq!(lost, 0, "pods killed without an eviction: {recent:?}");
    assert!(r.sim.hook_names("batch").is_empty());
    assert_no_action_repeated(&r);
}

#[tokio::test]
async fn an_abort_while_instances_wait_in_the_hook_cancels_the_refresh_and_leaves_no_hook() {
    let mut r = Rig::new(common::start_yaml(&scenario("", "")).await).await;
    r.control_plane().await;
    ledger_replicas(&r, 3).await;
    let step = refresh("workers", Drainer::Upshift, 1);
    let mut at_gate = false;
    for _ in 0..300 {
        match r.call(&step).await.0.expect("the step goes on") {
            Progress::Gate { .. } => {
                at_gate = true;
                break;
            }
            Progress::Done { what } => panic!("finished before the second batch: {what}"),
            _ => {}
        }
        r.advance(10);
    }
    assert!(at_gate, "the second batch never reached its gate");
    assert_eq!(r.sim.hook_names("workers"), vec!["upshift-drain".to_string()]);
    let held = r.sim.waiting_instances();
    assert_eq!(held.len(), 1);
    let lines = r.abort(&step).await;
    assert!(
        lines.iter().any(|l| l.contains("cancelled instance refresh")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("removed termination hook upshift-drain")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(&held[0])),
        "the held instance is named: {lines:?}"
    );
    assert!(r.sim.hook_names("workers").is_empty(), "a hook was left behind");
    // a second abort has nothing left to do
    assert!(r.abort(&step).await.is_empty());
    assert_eq!(r.aws_count("DeleteLifecycleHook"), 1);
    assert_no_action_repeated(&r);
}

#[tokio::test]
async fn an_instance_left_in_the_hook_without_heartbeats_goes_after_the_timeout_and_is_named() {
    let mut r = Rig::new(common::start_yaml(&scenario("", "")).await).await;
    r.control_plane().await;
    ledger_replicas(&r, 3).await;
    let step = refresh("workers", Drainer::Upshift, 1);
    let mut gate = None;
    for _ in 0..300 {
        if let Progress::Gate { batch, .. } = r.call(&step).await.0.expect("the step goes on") {
            gate = Some(batch);
            break;
        }
        r.advance(10);
    }
    let batch = gate.expect("the second batch reaches its gate");
    let held = r.sim.waiting_instances();
    assert_eq!(held.len(), 1);
    // the lead's machine is gone: no call, no heartbeat, for longer than the timeout
    let timeout = u64::try_from(upshift::rollout::steps::HOOK_HEARTBEAT_TIMEOUT).unwrap();
    for _ in 0..(timeout / 60 + 2) {
        r.advance(60);
    }
    assert!(
        !r.sim.waiting_instances().contains(&held[0]),
        "the hook's timeout let it go"
    );
    let (lost, recent) = r.sim.pods_lost();
    assert!(lost >= 1, "its pods went with it: {recent:?}");
    // a successor resumes: the instance is named as gone undrained, nothing is sent for it
    r.reopen();
    r.decide(GateId::batch(id("workers"), batch), Decision::Proceed, None);
    let _ = r.call(&step).await.0.expect("the step goes on");
    let named = r.journal.entries().iter().any(|e| {
        matches!(&e.what, upshift::model::journal::What::Event { object, reason, message, .. }
            if *object == format!("Instance/{}", held[0]) && reason == "LeftLifecycleHook" && message.contains("before upshift drained it"))
    });
    assert!(named, "the instance that left the hook undrained is not named");
    assert!(!r.actions_named("complete-lifecycle-action").contains(&held[0]));
    let mut later_gates = Vec::new();
    for _ in 0..300 {
        match r.call(&step).await.0.expect("the step goes on") {
            Progress::Done { .. } => break,
            Progress::Gate { batch, .. } => {
                later_gates.push(batch);
                r.decide(GateId::batch(id("workers"), batch), Decision::Proceed, None);
            }
            _ => r.advance(10),
        }
    }
    // the refresh went on meanwhile: its next batch is a batch of its own, gated
    assert_eq!(later_gates, vec![batch + 1]);
    assert!(r.sim.hook_names("workers").is_empty());
    assert_no_action_repeated(&r);
}
