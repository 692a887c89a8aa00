//! The verdict, end to end through the drive against the simulator: a node group
//! left larger than it was when the rollout began is named with both sizes, and a pod
//! with no controller that a managed `eks-update` deletes is named "will be lost" by
//! preflight and by the gate before that group, then in the verdict once it is gone.
//! Each is checked where the lead and the shadows read it: the drive's state (the
//! done banner), the journal's Verdict entry and the `--headless` state line.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Inspect;
use common::drive::{LEAD, override_every_red_gate, plan_for, start, until};
use upshift::cloud::{Cloud, CloudRead, NodegroupChange};
use upshift::model::RolloutState;
use upshift::model::journal::{GateId, StepId, What};
use upshift::model::rollout::{Command, Phase};
use upshift::preflight::Check;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Step;
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// Two managed groups of two nodes; `default/debug-shell` (no controller) on `apps`.
const SCENARIO: &str = r#"
name: verdict
description: two managed groups, a pod with no controller on one of them
seed: 5
cluster: {name: vd, region: eu-west-1, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 2, labels: {role: system}}
  - {name: apps, kind: managed, instanceType: m5.xlarge, size: 2, labels: {role: apps}}
workloads:
  - name: aws-node
    namespace: kube-system
    kind: DaemonSet
    component: pod-networking
    image: 602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.1
    requests: {cpu: 25m, memory: 64Mi}
    tolerateAll: true
  - {name: web, namespace: shop, kind: Deployment, replicas: 4, image: "shop/web:4.2.0", requests: {cpu: 200m, memory: 256Mi}, pdb: {maxUnavailable: 1}}
  - {name: debug-shell, namespace: default, kind: Pod, image: "busybox:1.36", requests: {cpu: 10m, memory: 16Mi}, nodeGroup: apps}
services:
  - {name: web, workload: shop/web, ports: [{port: 80, targetPort: 8080}]}
"#;

async fn start_sim() -> Simulator {
    let scenario = Scenario::from_yaml(SCENARIO, "verdict test scenario").unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = 300.0;
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The control plane, both groups' `eks-update` and postflight.
fn upgrade(s: &Step) -> bool {
    matches!(s, Step::ControlPlane | Step::Nodegroup(_) | Step::Postflight)
}

/// The verdict as every reader sees it names `want`: the drive's state (what the
/// done banner lists, on the lead's screen and the shadows'), the journal's Verdict
/// entry, and the `--headless` state line. Returns the problems.
fn assert_verdict_names(end: &RolloutState, journal: &Path, want: &str) -> Vec<String> {
    assert_eq!(end.phase, Phase::Done);
    let all = end.problems.join("\n");
    assert!(
        end.problems.iter().any(|p| p == want),
        "{want:?} not in the verdict:\n{all}"
    );
    let j = Journal::open(journal).unwrap();
    let journaled: Vec<&Vec<String>> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Verdict { problems } => Some(problems),
            _ => None,
        })
        .collect();
    assert_eq!(journaled, [&end.problems], "one Verdict entry, the same problems");
    let line = upshift::headless::drive::state_line(end);
    assert!(
        line.contains(&format!(
            "done with {}",
            upshift::model::rollout::open_problems(end.problems.len())
        )) && line.contains(want),
        "{line}"
    );
    end.problems.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_group_left_larger_than_at_the_baseline_is_named_with_both_sizes() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(&sim, "vd", None, upgrade).await;
    let ids: Vec<String> = plan.steps.iter().map(|s| s.id().to_string()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let mut h = start(&sim, plan, &journal).await;

    // at the first gate the baseline is taken; past it, `system` grows by one, as an
    // autoscaler or a hand in the console would make it
    until(&mut h, "the first gate settled", 120, |s| {
        s.phase == Phase::Gate && s.gate.as_ref().is_some_and(|g| g.passable)
    })
    .await;
    h.commands.send(Command::Proceed).unwrap();
    until(&mut h, "the control plane step running", 120, |s| {
        s.phase == Phase::Running && s.current_step().is_some_and(|v| v.id == StepId::ControlPlane)
    })
    .await;
    let cloud = common::cloud::aws(&sim).await;
    let g = cloud.describe_nodegroup("vd", "system").await.unwrap();
    assert_eq!(g.desired, 2);
    cloud
        .update_nodegroup_config(
            "vd",
            "system",
            &NodegroupChange {
                scaling: Some((g.min, g.max.max(3), 3)),
                update_config: None,
            },
        )
        .await
        .unwrap();

    let (end, _) = override_every_red_gate(&mut h, "known", 300).await;
    assert_eq!(sim.nodes_labelled("eks.amazonaws.com/nodegroup", "system").len(), 3);
    let problems = assert_verdict_names(&end, &journal, "node group system has 3 nodes, 2 before the rollout");
    assert!(
        !problems.iter().any(|p| p.starts_with("node group apps")),
        "apps is as it was: {problems:?}"
    );
    // the baseline it was judged against is the journaled one, from before the change
    let j = Journal::open(&journal).unwrap();
    let groups: Vec<_> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Baseline { baseline } => Some(baseline.groups.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(groups.len(), 1, "the baseline is journaled once");
    assert_eq!(groups[0].get("system"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_with_no_controller_lost_in_a_managed_update_is_named_before_and_in_the_verdict() {
    const POD: &str = "default/debug-shell";
    let sim = start_sim().await;
    let node = sim.node_of(POD).expect("the bare pod runs");
    assert!(
        sim.nodes_labelled("eks.amazonaws.com/nodegroup", "apps")
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str())),
        "{POD} runs on an apps node"
    );

    // preflight: will be lost, with the group named
    let reader = upshift::cluster::ClusterReader::new(sim.client("viewer").await.unwrap());
    let snapshot = upshift::preflight::gather::gather(&reader).await.unwrap();
    let tables = upshift::preflight::tables::Tables::load(None).unwrap();
    let (findings, _) = upshift::preflight::run(&snapshot, "1.31", &tables, 1, None);
    let lost: Vec<_> = findings
        .iter()
        .filter(|f| f.check == Check::DrainBlockers && f.title.contains("will be lost when EKS updates"))
        .collect();
    assert_eq!(lost.len(), 1, "{findings:#?}");
    assert_eq!(lost[0].resources, [format!("Pod {POD} (managed node group apps)")]);

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(&sim, "vd", None, upgrade).await;
    let mut h = start(&sim, plan, &journal).await;
    let (end, overridden) = override_every_red_gate(&mut h, "debug pod, not needed", 300).await;

    // the gate before apps named it as will be lost, and only that gate
    let before_apps = GateId::before(StepId::Nodegroup("apps".into()));
    let naming: Vec<&GateId> = overridden
        .iter()
        .filter(|g| g.criteria.iter().any(|c| c.name == "pods that will be lost" && !c.ok))
        .map(|g| &g.id)
        .collect();
    assert_eq!(naming, [&before_apps], "{overridden:#?}");
    let gate = overridden.iter().find(|g| g.id == before_apps).unwrap();
    let c = gate
        .criteria
        .iter()
        .find(|c| c.name == "pods that will be lost")
        .unwrap();
    assert!(c.detail.contains(POD) && c.detail.contains("apps"), "{c:?}");
    let items: Vec<&str> = c.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(items, [format!("pod {POD} will be lost")], "{c:?}");
    // the override that let it go is journaled, by whom
    let j = Journal::open(&journal).unwrap();
    assert!(
        j.entries().iter().any(|e| e.who == LEAD
            && matches!(&e.what, What::Accept { items, .. } if items.iter().any(|i| i.item == format!("pod {POD} will be lost")))),
        "the acceptance is journaled"
    );

    // EKS deleted it; the verdict says so
    assert!(!sim.has_pod(POD), "the managed update deleted {POD}");
    assert_verdict_names(&end, &journal, &format!("pod {POD} had no controller and is gone"));
}
