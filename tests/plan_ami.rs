//! A managed group on an AMI type with no AMI for the target (Amazon Linux 2 past
//! 1.32): the plan proposes a `blue-green` copy onto the family's successor and
//! carries it as `amiType`, refuses an `amiType` no copy could boot, preflight takes
//! the plan's word for the group, EKS (simulated) refuses the group's in-place
//! update, and the blue-green step copies it onto AL2023. Against the `al2` scenario.

mod common;

use std::time::Duration;

use upshift::cloud::{AwsCloud, AwsOptions, CloudRead};
use upshift::cluster::ClusterReader;
use upshift::rollout::plan::{
    self, Environment, GroupType, Live, NodegroupStep, Plan, PlanError, ProposeOptions, Step, Strategy,
};
use upshift::rollout::steps::{self, Progress};
use upshift::sim::Simulator;

use common::steps::Rig;

const TARGET: &str = "1.33";
const AL2023: &str = "AL2023_x86_64_STANDARD";

async fn live(sim: &Simulator) -> Live {
    let client = sim.client("viewer").await.unwrap();
    let cloud = AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .unwrap();
    plan::discover(
        &ClusterReader::new(client),
        "kubeconfig-cluster",
        Some((&cloud as &dyn CloudRead, sim.cluster_name())),
        TARGET,
    )
    .await
    .unwrap()
}

fn options(sim: &Simulator) -> ProposeOptions {
    ProposeOptions {
        target: TARGET.into(),
        environment: Environment::PreProduction,
        context: Some("viewer".into()),
        region: Some(sim.aws_region()),
        batch_size: 1,
        self_managed: Strategy::Replace,
        managed: None,
    }
}

fn group_step<'a>(p: &'a Plan, name: &str) -> &'a NodegroupStep {
    p.steps
        .iter()
        .find_map(|s| match s {
            Step::Nodegroup(g) if g.name == name => Some(g),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no step for group {name}"))
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

fn expect_error(r: Result<Plan, PlanError>, line: usize, field: &str, words: &str) {
    let e = r.expect_err("the plan should be refused");
    let shown = e.to_string();
    assert_eq!(e.line(), Some(line), "{shown}");
    assert_eq!(e.field(), Some(field), "{shown}");
    assert!(shown.contains(words), "{shown:?} should say {words:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_al2_group_is_planned_onto_al2023_by_a_copy_and_a_type_no_copy_could_boot_is_refused() {
    let sim = common::start("al2").await;
    let live = live(&sim).await;
    assert_eq!(
        live.group("legacy").and_then(|g| g.ami_type.clone()).as_deref(),
        Some("AL2_x86_64")
    );

    // pre-production would get eks-update, but EKS cannot update an AL2 group to 1.33
    let p = plan::propose(&live, &options(&sim));
    let legacy = group_step(&p, "legacy");
    assert_eq!(legacy.strategy, Strategy::BlueGreen);
    assert_eq!(legacy.ami_type.as_deref(), Some(AL2023));
    let system = group_step(&p, "system");
    assert_eq!(
        (system.strategy, system.ami_type.as_deref()),
        (Strategy::EksUpdate, None)
    );

    let text = p.to_yaml(Some(&live));
    assert!(text.contains(&format!("amiType: {AL2023}")), "{text}");
    assert!(text.contains("moves from AL2_x86_64 to it"), "{text}");
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, p);
    back.validate(&live).unwrap();
    assert!(back.summary().contains(&format!("onto {AL2023}")), "{}", back.summary());

    // amiType where no copy is made, or naming a type with no AMI for the target
    let line = line_of(&text, "amiType:");
    let i = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Nodegroup(g) if g.name == "legacy"))
        .unwrap();
    let field = format!("steps[{i}].amiType");
    let in_place = text.replacen("strategy: blue-green", "strategy: eks-update", 1);
    expect_error(
        Plan::from_yaml(&in_place, "plan.yaml"),
        line,
        &field,
        "write strategy: blue-green",
    );
    let still_al2 = text.replace(&format!("amiType: {AL2023}"), "amiType: AL2_ARM_64");
    expect_error(
        Plan::from_yaml(&still_al2, "plan.yaml"),
        line,
        &field,
        "EKS publishes no Amazon Linux 2 AMI for 1.33",
    );
    let custom = text.replace(&format!("amiType: {AL2023}"), "amiType: CUSTOM");
    expect_error(Plan::from_yaml(&custom, "plan.yaml"), line, &field, "launch template");
    let unknown = text.replace(&format!("amiType: {AL2023}"), "amiType: AL2024_x86_64");
    expect_error(
        Plan::from_yaml(&unknown, "plan.yaml"),
        line,
        &field,
        "BOTTLEROCKET_x86_64",
    );
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "planning only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_blocks_the_al2_group_unless_the_plan_copies_it_onto_al2023() {
    let sim = common::start("al2").await;
    let mut rig = Rig::new(sim).await;
    rig.target = TARGET;
    let reader = ClusterReader::new(rig.client.clone());
    let mut ctx = rig.step_ctx();
    let err = steps::preflight::reconcile_journaled(&reader, &mut ctx, &[], &[])
        .await
        .expect_err("an AL2 group blocks an upgrade to 1.33");
    let shown = err.to_string();
    assert!(
        shown.contains("Managed node group legacy uses AL2_x86_64; EKS publishes no Amazon Linux 2 AMI for 1.33"),
        "{shown}"
    );

    let moves = [("legacy".to_string(), AL2023.to_string())];
    let mut ctx = rig.step_ctx();
    let r = steps::preflight::reconcile_journaled(&reader, &mut ctx, &[], &moves).await;
    match r {
        Ok(Progress::Done { .. }) => {}
        other => panic!("with the plan's move the preflight passes: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eks_refuses_the_al2_group_in_place_and_the_copy_boots_al2023() {
    let sim = common::start("al2").await;
    let mut rig = Rig::new(sim).await;
    rig.target = TARGET;
    for _ in 0..60 {
        let (r, _) = rig.call(&Step::ControlPlane).await;
        if r.expect("the control plane goes on").is_done() {
            break;
        }
        rig.sim.advance(Duration::from_secs(60));
        tokio::task::yield_now().await;
    }
    let step = |strategy, ami_type: Option<&str>| {
        Step::Nodegroup(NodegroupStep {
            name: "legacy".into(),
            group_type: GroupType::Managed,
            strategy,
            batch_size: 3,
            auto_continue: true,
            drainer: None,
            update_config: None,
            ami_type: ami_type.map(str::to_string),
        })
    };

    // in place: EKS's answer reaches the lead, and nothing is left half done
    let (r, _) = rig.call(&step(Strategy::EksUpdate, None)).await;
    let err = r.expect_err("EKS refuses AL2 on 1.33").to_string();
    assert!(
        err.contains("AMI type AL2_x86_64 is not supported for Kubernetes version 1.33"),
        "{err}"
    );

    // the copy onto AL2023
    let bg = step(Strategy::BlueGreen, Some(AL2023));
    let mut done = None;
    let mut last = None;
    for _ in 0..400 {
        let (r, _) = rig.call(&bg).await;
        let r = r.expect("the blue-green step goes on");
        last = Some(r.clone());
        match r {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Held { pod, ask_now: true, .. } => {
                panic!("the al2 scenario has no pod to hold the drain: {pod}")
            }
            _ => {}
        }
        rig.sim.advance(Duration::from_secs(15));
        tokio::task::yield_now().await;
    }
    let done = done.unwrap_or_else(|| panic!("the blue-green step did not finish: {last:?}"));
    assert!(done.contains("replaced by legacy-1-33"), "{done}");
    let copy = rig.cloud.describe_nodegroup("al2", "legacy-1-33").await.unwrap();
    assert_eq!(copy.config.ami_type.as_deref(), Some(AL2023));
    assert_eq!(copy.version, TARGET);
    let names = rig.cloud.list_nodegroups("al2").await.unwrap();
    assert!(
        !names.contains(&"legacy".to_string()),
        "the AL2 group is deleted: {names:?}"
    );
    let nodes = common::Inspect::nodes_labelled(&rig.sim, "eks.amazonaws.com/nodegroup", "legacy-1-33");
    assert_eq!(nodes.len(), 3);
    for n in &nodes {
        let info = n.status.as_ref().and_then(|s| s.node_info.as_ref()).unwrap();
        assert!(info.os_image.starts_with("Amazon Linux 2023"), "{}", info.os_image);
        assert!(info.kubelet_version.starts_with("v1.33"), "{}", info.kubelet_version);
    }
}
