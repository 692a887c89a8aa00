//! Self-managed node group steps against the simulator: `replace` batch by batch
//! with gates between batches, the operator's choices on a held drain (keep
//! waiting, skip the node, delete the pod), a restart in the middle of a batch,
//! an instance refresh, aborts, and the cluster autoscaler's tag taken off during
//! the step and put back after.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Inspect;
use common::steps::Rig;
use upshift::model::journal::{Decision, GateId, StepId};
use upshift::rollout::plan::{Drainer, GroupType, NodegroupStep, Step, Strategy};
use upshift::rollout::steps::{Progress, StepError, reconcile};

const GROUP_LABEL: &str = "alpha.eksctl.io/nodegroup-name";
const AUTOSCALER_TAG: &str = "k8s.io/cluster-autoscaler/enabled";

/// A node group step's id.
fn group_id(name: &str) -> StepId {
    StepId::Nodegroup(name.into())
}

fn group_step(name: &str, strategy: Strategy, batch_size: u32) -> Step {
    Step::Nodegroup(NodegroupStep {
        name: name.into(),
        group_type: GroupType::SelfManaged,
        strategy,
        batch_size,
        auto_continue: false,
        // the demo's groups have no termination hook: upshift drains a refresh itself
        drainer: (strategy == Strategy::InstanceRefresh).then_some(Drainer::Upshift),
        update_config: None,
        ami_type: None,
    })
}

/// What these tests ask of the rig beyond the shared one.
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

    /// The group's nodes: name → (kubelet version, cordoned, tainted unschedulable).
    fn nodes(&self, group: &str) -> BTreeMap<String, (String, bool, bool)> {
        self.sim
            .nodes_labelled(GROUP_LABEL, group)
            .iter()
            .map(|n| {
                let spec = n.spec.as_ref();
                (
                    n.metadata.name.clone().unwrap_or_default(),
                    (
                        n.status
                            .as_ref()
                            .and_then(|s| s.node_info.as_ref())
                            .map(|i| i.kubelet_version.clone())
                            .unwrap_or_default(),
                        spec.and_then(|s| s.unschedulable) == Some(true),
                        spec.and_then(|s| s.taints.as_ref())
                            .is_some_and(|t| t.iter().any(|t| t.key == "node.kubernetes.io/unschedulable")),
                    ),
                )
            })
            .collect()
    }

    /// The autoscaler tag's value in the simulated Auto Scaling group's tags.
    fn autoscaler_tag(&self, asg: &str) -> Option<String> {
        self.sim.group_tag(asg, AUTOSCALER_TAG)
    }

    fn aws_count(&self, op: &str) -> u64 {
        common::cloud::count(&self.sim, op)
    }
}

fn assert_no_action_repeated(r: &Rig) {
    let all = r.actions();
    let mut seen = std::collections::BTreeSet::new();
    for a in &all {
        assert!(seen.insert(a.clone()), "action repeated: {a:?}\n{all:#?}");
    }
}

#[tokio::test]
async fn replace_moves_the_demo_batch_group_to_the_target_one_gated_batch_at_a_time() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let before = r.nodes("batch");
    assert_eq!(before.len(), 3);
    assert!(before.values().all(|(v, _, _)| v.starts_with("v1.34")), "{before:?}");
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"));

    let step = group_step("batch", Strategy::Replace, 1);
    let mut gates = Vec::new();
    let mut saw_untagged = false;
    let mut saw_taint = false;
    let mut saw_progress = false;
    let mut done = None;
    for _ in 0..400 {
        let (p, group) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Gate { batch, of } => {
                assert_eq!(of, 3);
                gates.push(batch);
                r.decide(GateId::batch(group_id("batch"), batch), Decision::Proceed, None);
                continue;
            }
            Progress::Waiting { .. } => {}
            other => panic!("nothing should hold the batch group: {other:?}"),
        }
        saw_untagged |= r.autoscaler_tag("batch").is_none();
        saw_taint |= r
            .nodes("batch")
            .values()
            .any(|(_, cordoned, tainted)| *cordoned && *tainted);
        saw_progress |= group.batches == 3 && group.batch >= 1 && !group.draining.is_empty();
        r.advance(10);
    }
    let what = done.expect("the group is replaced");
    assert!(what.contains("batch on 1.35"), "{what}");
    assert_eq!(gates, [2, 3], "a gate before each batch after the first");
    assert!(saw_untagged, "the autoscaler's tag is off during the step");
    assert!(saw_taint, "a cordoned node carries the unschedulable taint");
    assert!(saw_progress, "the step reports batch n of 3 and the nodes it drains");
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"), "put back after");

    let after = r.nodes("batch");
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.values().all(|(v, _, _)| v.starts_with("v1.35")), "{after:?}");
    assert!(
        after.values().all(|(_, c, t)| !c && !t),
        "none left cordoned: {after:?}"
    );
    assert!(before.keys().all(|n| !after.contains_key(n)), "every old node is gone");

    let terminated = r.actions_named("terminate-instance");
    assert_eq!(terminated.len(), 3, "{terminated:?}");
    assert_no_action_repeated(&r);
    assert_eq!(r.aws_count("TerminateInstanceInAutoScalingGroup"), 3);
    assert!(
        terminated
            .iter()
            .all(|i| r.journal.done(&group_id("batch"), "terminate-instance", i))
    );
    assert_eq!(r.actions_named("untag-autoscaler").len(), 1);
    assert_eq!(r.actions_named("restore-autoscaler-tag").len(), 1);
    assert!(r.journal.in_doubt().is_empty());

    // called again after Done: nothing written, nothing sent
    let n = r.journal.entries().len();
    let (p, _) = r.call(&step).await;
    assert!(p.unwrap().is_done());
    assert_eq!(r.journal.entries().len(), n);
    assert_eq!(r.aws_count("TerminateInstanceInAutoScalingGroup"), 3);
    assert_eq!(r.aws_count("DeleteTags"), 1);
}

const HELD: &str = r#"
name: held
seed: 7
cluster: {name: held, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 2}
  - {name: workers, kind: self-managed, instanceType: m5.xlarge, size: 3}
workloads:
  - {name: aws-node, namespace: kube-system, kind: DaemonSet, image: "cni:1", tolerateAll: true}
  - {name: ledger, namespace: payments, kind: Deployment, replicas: 2, image: "ledger:1", nodeGroup: workers, pdb: {minAvailable: 2}}
  - {name: web, namespace: shop, kind: Deployment, replicas: 4, image: "web:1", nodeGroup: workers}
"#;

#[tokio::test]
async fn a_drain_held_by_a_budget_names_it_and_each_choice_of_the_operator_is_honoured() {
    let mut r = Rig::new(common::start_yaml(HELD).await).await;
    r.control_plane().await;
    let step = group_step("workers", Strategy::Replace, 1);
    let id = &group_id("workers");
    let mut held_events = Vec::new();
    let mut skipped_node = None;
    let mut done = None;
    for _ in 0..600 {
        let (p, group) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Gate { batch, .. } => {
                r.decide(GateId::batch(id.clone(), batch), Decision::Proceed, None);
                continue;
            }
            Progress::Held {
                what,
                node,
                pod,
                why,
                since,
                ask_now,
            } => {
                assert!(pod.starts_with("payments/ledger-"), "{pod}");
                assert!(
                    why.contains("PodDisruptionBudget payments/ledger (") && why.contains("2 required"),
                    "{why}"
                );
                assert!(what.contains(&pod) && what.contains(&node), "{what}");
                assert!(!ask_now);
                assert_eq!(group.holding.as_deref(), Some(what.as_str()));
                held_events.push((node.clone(), pod.clone()));
                if held_events.len() == 1 {
                    // keep waiting: since stays at the refusal until the decision,
                    // then moves to it
                    r.advance(120);
                    let (again, _) = r.call(&step).await;
                    let Ok(Progress::Held { since: same, .. }) = again else {
                        panic!("{again:?}")
                    };
                    assert_eq!(same, since);
                    let decided = r.decide(id.clone(), Decision::KeepWaiting, Some(&pod));
                    let (again, _) = r.call(&step).await;
                    let Ok(Progress::Held { since: moved, .. }) = again else {
                        panic!("{again:?}")
                    };
                    assert_eq!(moved, decided);
                    assert!(moved > since);
                    // then: skip the node
                    r.decide(id.clone(), Decision::SkipNode, Some(&node));
                    skipped_node = Some(node);
                } else {
                    r.decide(id.clone(), Decision::DeletePod, Some(&pod));
                }
                continue;
            }
            Progress::Waiting { .. } => {}
        }
        r.advance(10);
    }
    let what = done.expect("the step finishes");
    let skipped = skipped_node.expect("a node was skipped");
    assert!(
        what.contains("skipped") && what.contains(&skipped) && what.contains("1.30"),
        "{what}"
    );
    let nodes = r.nodes("workers");
    let (version, cordoned, tainted) = nodes.get(&skipped).expect("the skipped node stays").clone();
    assert!(version.starts_with("v1.30"), "{version}");
    assert!(!cordoned && !tainted, "the skipped node is uncordoned");
    assert!(r.journal.done(id, "uncordon", &skipped));
    assert_eq!(
        nodes.values().filter(|(v, _, _)| v.starts_with("v1.31")).count(),
        2,
        "{nodes:?}"
    );
    assert!(nodes.values().all(|(_, c, _)| !c), "{nodes:?}");
    let (_, group) = r.call(&step).await;
    assert_eq!(group.skipped, vec![skipped.clone()]);

    // each pod the operator chose to delete was deleted once
    let deleted = r.actions_named("delete-pod");
    assert!(held_events.len() >= 2, "{held_events:?}");
    assert_eq!(deleted.len(), held_events.len() - 1, "{deleted:?} for {held_events:?}");
    for pod in &deleted {
        assert!(r.journal.done(id, "delete-pod", pod));
        assert!(!r.sim.has_pod(pod), "{pod} is gone");
    }
    assert_no_action_repeated(&r);
    assert_eq!(r.actions_named("terminate-instance").len(), 2);
}

const BARE: &str = r#"
name: bare
seed: 3
cluster: {name: bare, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
  - {name: workers, kind: self-managed, instanceType: m5.xlarge, size: 2}
workloads:
  - {name: web, namespace: shop, kind: Deployment, replicas: 2, image: "web:1", nodeGroup: workers}
  - {name: debug, kind: Pod, image: "busybox:1.36", nodeGroup: workers}
"#;

#[tokio::test]
async fn a_pod_without_a_controller_holds_the_drain_at_once() {
    let mut r = Rig::new(common::start_yaml(BARE).await).await;
    r.control_plane().await;
    let step = group_step("workers", Strategy::Replace, 2);
    let mut held = None;
    for _ in 0..100 {
        let (p, _) = r.call(&step).await;
        match p.expect("the step goes on") {
            h @ Progress::Held { .. } => {
                held = Some(h);
                break;
            }
            Progress::Waiting { .. } => r.advance(10),
            other => panic!("the debug pod should hold the drain: {other:?}"),
        }
    }
    let Some(Progress::Held { what, pod, ask_now, .. }) = held else {
        panic!("held")
    };
    assert_eq!(pod, "default/debug");
    assert!(ask_now);
    assert!(
        what.contains("pod default/debug has no controller: once evicted it does not come back"),
        "{what}"
    );
    assert!(r.actions_named("evict").iter().all(|p| p != "default/debug"));
    // the operator deletes it: the drain and the step finish
    r.decide(group_id("workers"), Decision::DeletePod, Some("default/debug"));
    let mut done = false;
    for _ in 0..200 {
        let (p, _) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { .. } => {
                done = true;
                break;
            }
            Progress::Waiting { .. } => r.advance(10),
            other => panic!("{other:?}"),
        }
    }
    assert!(done);
    assert_eq!(r.actions_named("delete-pod"), ["default/debug"]);
    assert!(
        r.nodes("workers")
            .values()
            .all(|(v, c, _)| v.starts_with("v1.31") && !c)
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_batch_repeats_no_action() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = group_step("batch", Strategy::Replace, 1);
    let (p, _) = r.call(&step).await;
    assert!(matches!(p, Ok(Progress::Waiting { .. })), "{p:?}");
    let cordoned: Vec<String> = r
        .nodes("batch")
        .into_iter()
        .filter(|(_, (_, c, _))| *c)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(cordoned.len(), 1, "the first batch's node is cordoned");
    assert!(r.actions_named("terminate-instance").is_empty());
    assert_eq!(r.actions_named("start-batch"), cordoned);

    // killed: a new process opens the same journal
    r.reopen();
    let mut done = false;
    for _ in 0..400 {
        let (p, _) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { .. } => {
                done = true;
                break;
            }
            Progress::Gate { batch, .. } => {
                r.decide(GateId::batch(group_id("batch"), batch), Decision::Proceed, None);
                continue;
            }
            Progress::Waiting { .. } => {}
            other => panic!("{other:?}"),
        }
        // another restart now and then
        r.reopen();
        r.advance(10);
    }
    assert!(done);
    assert_no_action_repeated(&r);
    assert_eq!(r.actions_named("start-batch").len(), 3);
    assert_eq!(r.actions_named("cordon").len(), 3);
    assert_eq!(r.aws_count("TerminateInstanceInAutoScalingGroup"), 3);
    assert_eq!(r.aws_count("DeleteTags"), 1);
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"));
}

#[tokio::test]
async fn an_instance_refresh_is_started_once_and_followed_to_done() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = group_step("batch", Strategy::InstanceRefresh, 1);
    let mut saw_untagged = false;
    let mut saw_percent = false;
    let mut done = None;
    for _ in 0..400 {
        let (p, _) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Waiting { what, .. } => saw_percent |= what.contains("instance refresh") && what.contains('%'),
            Progress::Gate { batch, .. } => {
                r.decide(GateId::batch(group_id("batch"), batch), Decision::Proceed, None);
                continue;
            }
            other => panic!("{other:?}"),
        }
        saw_untagged |= r.autoscaler_tag("batch").is_none();
        r.advance(10);
    }
    assert!(done.expect("the refresh finishes").contains("on 1.35"));
    assert!(saw_untagged && saw_percent);
    assert_eq!(r.aws_count("StartInstanceRefresh"), 1);
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"));
    let nodes = r.nodes("batch");
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.values().all(|(v, c, _)| v.starts_with("v1.35") && !c),
        "{nodes:?}"
    );
    {
        let w = r.sim.world();
        let w = w.lock();
        let prefs = &w.aws.refresh.refreshes[0].preferences;
        assert_eq!(prefs.min_healthy_percentage, 66, "one of three at a time");
        assert!(prefs.skip_matching);
    }
    let n = r.journal.entries().len();
    assert!(r.call(&step).await.0.unwrap().is_done());
    assert_eq!(r.journal.entries().len(), n);
    assert_eq!(r.aws_count("StartInstanceRefresh"), 1);
}

#[tokio::test]
async fn an_abort_in_the_middle_of_a_batch_uncordons_and_puts_the_tag_back() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = group_step("batch", Strategy::Replace, 1);
    let (p, _) = r.call(&step).await;
    assert!(matches!(p, Ok(Progress::Waiting { .. })), "{p:?}");
    r.advance(5);
    let cordoned: Vec<String> = r
        .nodes("batch")
        .into_iter()
        .filter(|(_, (_, c, _))| *c)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(cordoned.len(), 1);
    assert_eq!(r.autoscaler_tag("batch"), None);

    let lines = r.abort(&step).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("uncordoned node {}", cordoned[0]))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(AUTOSCALER_TAG) && l.contains("batch")),
        "{lines:?}"
    );
    assert!(r.nodes("batch").values().all(|(_, c, t)| !c && !t));
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"));
    assert!(r.actions_named("terminate-instance").is_empty());
    // a second abort has nothing left to do
    assert!(r.abort(&step).await.is_empty());
    assert_no_action_repeated(&r);
}

#[tokio::test]
async fn an_abort_cancels_a_running_instance_refresh() {
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = group_step("batch", Strategy::InstanceRefresh, 1);
    assert!(!r.call(&step).await.0.unwrap().is_done());
    r.advance(10);
    let lines = r.abort(&step).await;
    assert!(
        lines.iter().any(|l| l.contains("cancelled instance refresh")),
        "{lines:?}"
    );
    assert_eq!(r.aws_count("CancelInstanceRefresh"), 1);
    assert_eq!(r.autoscaler_tag("batch").as_deref(), Some("true"));
    r.advance(600);
    assert_eq!(r.sim.refresh_statuses()[0], "Cancelled");
    assert!(r.abort(&step).await.is_empty());
    assert_eq!(r.aws_count("CancelInstanceRefresh"), 1);
}

const BEHIND: &str = r#"
name: behind
seed: 5
cluster: {name: behind, version: "1.31"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
  - {name: workers, kind: self-managed, instanceType: m5.xlarge, size: 2, kubeletVersion: "1.30"}
workloads:
  - {name: web, namespace: shop, kind: Deployment, replicas: 2, image: "web:1", nodeGroup: workers}
"#;

#[tokio::test]
async fn a_group_whose_launch_template_still_boots_the_old_minor_is_not_touched() {
    let mut r = Rig::new(common::start_yaml(BEHIND).await).await;
    // the control plane is already on the target; only the nodes are behind
    r.target = "1.31";
    let replace = group_step("workers", Strategy::Replace, 1);
    let err = r.call(&replace).await.0.expect_err("refused before any action");
    let StepError::Failed { why, what_to_do } = &err else {
        panic!("{err:?}")
    };
    assert!(
        why.contains("Auto Scaling group workers") && why.contains("1.30"),
        "{why}"
    );
    assert!(
        what_to_do.contains("launch template of workers") && what_to_do.contains("AMI for 1.31"),
        "{what_to_do}"
    );
    assert!(r.actions().is_empty(), "{:?}", r.actions());
    assert!(r.nodes("workers").values().all(|(_, c, _)| !c));

    // an instance refresh skips what matches the template: it replaces nothing, and
    // the step says why
    let refresh = group_step("workers", Strategy::InstanceRefresh, 1);
    let mut failure = None;
    for _ in 0..60 {
        match r.call(&refresh).await.0 {
            Ok(Progress::Waiting { .. }) => r.advance(10),
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the step fails");
    assert!(
        err.to_string().contains("launch template of workers") && err.to_string().contains("1.31"),
        "{err}"
    );
    assert_eq!(r.aws_count("StartInstanceRefresh"), 1);
    // the tag stays off while the step is failed (a retry goes on from there); an
    // abort puts it back
    assert_eq!(r.autoscaler_tag("workers"), None);
    let lines = r.abort(&refresh).await;
    assert!(lines.iter().any(|l| l.contains(AUTOSCALER_TAG)), "{lines:?}");
    assert_eq!(r.autoscaler_tag("workers").as_deref(), Some("true"));
}

#[tokio::test]
async fn a_self_managed_step_without_a_client_that_may_write_says_so() {
    let mut r = Rig::cloud_only(common::start("demo").await).await;
    let mut ctx = r.step_ctx();
    let err = reconcile(&mut ctx, &group_step("batch", Strategy::Replace, 1))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("batch") && err.to_string().contains("Kubernetes client"),
        "{err}"
    );
}

#[tokio::test]
async fn a_node_cordoned_by_someone_else_is_counted_ready_and_named_and_the_batch_goes_on() {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, Patch, PatchParams};
    let mut r = Rig::new(common::start("demo").await).await;
    r.control_plane().await;
    let step = group_step("batch", Strategy::Replace, 1);
    // batch 1 starts on the oldest node; someone cordons another with kubectl
    assert!(!r.call(&step).await.0.expect("the step goes on").is_done());
    let mut names: Vec<String> = r.nodes("batch").keys().cloned().collect();
    names.sort();
    let taken = r.actions_named("start-batch");
    let other = names
        .iter()
        .find(|n| !taken.iter().any(|a| a.contains(n.as_str())))
        .expect("a node no batch took")
        .clone();
    Api::<Node>::all(r.client.clone())
        .patch(
            &other,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .expect("cordoned");
    let mut gate = None;
    let mut said = None;
    for _ in 0..200 {
        let (p, group) = r.call(&step).await;
        match p.expect("the step goes on") {
            Progress::Gate { batch, .. } => {
                gate = Some(batch);
                said = group.holding;
                break;
            }
            Progress::Waiting { .. } => {}
            other => panic!("nothing should hold the batch group: {other:?}"),
        }
        r.advance(10);
    }
    // the cordoned node is Ready: counted so, the batch's wait for replacements ends
    assert_eq!(
        gate,
        Some(2),
        "batch 1 finished although a node is cordoned by someone else"
    );
    let said = said.expect("the step says why a node takes no pods");
    assert!(
        said.contains(&other) && said.contains("cordoned by someone else") && said.contains("kubectl uncordon"),
        "{said}"
    );
}
