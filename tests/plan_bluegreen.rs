//! The plan's `blue-green` strategy and `eks-update`'s `updateConfig`: proposed for
//! production clusters (and why, in the plan's comments), read back as written, and
//! refused with the line and field where they do not fit; against the simulator's
//! demo cluster, as the read-only `viewer`.

mod common;

use upshift::cloud::{AwsCloud, AwsOptions, MaxUnavailable};
use upshift::rollout::plan::{self, Environment, GroupType, Live, Plan, PlanError, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

async fn live(sim: &Simulator) -> Live {
    let client = sim.client("viewer").await.unwrap();
    let cloud = AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .unwrap();
    plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "kubeconfig-cluster",
        Some((&cloud as &dyn upshift::cloud::CloudRead, sim.cluster_name())),
        &common::next_minor(sim),
    )
    .await
    .unwrap()
}

fn options(sim: &Simulator, environment: Environment, managed: Option<Strategy>) -> ProposeOptions {
    ProposeOptions {
        target: common::next_minor(sim),
        environment,
        context: Some("viewer".into()),
        region: Some(sim.aws_region()),
        batch_size: 2,
        self_managed: Strategy::Replace,
        managed,
    }
}

fn strategies(p: &Plan) -> Vec<(String, Strategy)> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Nodegroup(g) => Some((g.name.clone(), g.strategy)),
            _ => None,
        })
        .collect()
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
async fn production_groups_are_proposed_blue_green_and_the_plan_says_why() {
    let sim = common::start("demo").await;
    let live = live(&sim).await;

    let prod = plan::propose(&live, &options(&sim, Environment::Production, None));
    assert_eq!(
        strategies(&prod),
        [
            // coredns and cluster-autoscaler select `system` by its name: not blue-green
            ("system".to_string(), Strategy::EksUpdate),
            ("apps".to_string(), Strategy::BlueGreen),
            ("batch".to_string(), Strategy::Replace),
        ]
    );
    let text = prod.to_yaml(Some(&live));
    assert!(text.contains("strategy: blue-green"), "{text}");
    assert!(
        text.contains("blue-green is proposed because this cluster is production"),
        "{text}"
    );
    assert!(text.contains("iam:PassRole"), "{text}");
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, prod);
    back.validate(&live).unwrap();
    assert!(
        back.summary()
            .contains("nodegroup apps (managed, blue-green, batches of 2)"),
        "{}",
        back.summary()
    );

    // pre-production: EKS's own update, and the plan says it stops at no gate
    let pre = plan::propose(&live, &options(&sim, Environment::PreProduction, None));
    assert_eq!(strategies(&pre)[0], ("system".to_string(), Strategy::EksUpdate));
    let text = pre.to_yaml(Some(&live));
    assert!(text.contains("EKS stops at no gate inside its update"), "{text}");
    assert!(
        text.contains("eks-update is proposed because this cluster is not production"),
        "{text}"
    );
    // the choice given wins over the environment
    let chosen = plan::propose(
        &live,
        &options(&sim, Environment::Production, Some(Strategy::EksUpdate)),
    );
    assert_eq!(strategies(&chosen)[1], ("apps".to_string(), Strategy::EksUpdate));
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "planning only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_its_pods_select_by_name_is_proposed_eks_update_and_the_plan_says_why() {
    let sim = common::start("demo").await;
    let live = live(&sim).await;
    // coredns and cluster-autoscaler have `eks.amazonaws.com/nodegroup: system` in their
    // nodeSelector; nothing selects apps (managed) by name, and batch is self-managed
    let pinned = |name: &str| live.group(name).map(|g| g.selected_by.clone()).unwrap_or_default();
    assert_eq!(
        pinned("system"),
        ["kube-system/cluster-autoscaler", "kube-system/coredns"]
    );
    assert!(pinned("apps").is_empty(), "{:?}", pinned("apps"));
    assert!(pinned("batch").is_empty(), "{:?}", pinned("batch"));

    // production would propose blue-green, whose copy's nodes carry another name
    let prod = plan::propose(&live, &options(&sim, Environment::Production, None));
    let system = prod
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Nodegroup(g) if g.name == "system" => Some(g.clone()),
            _ => None,
        })
        .expect("a step for system");
    assert_eq!(system.strategy, Strategy::EksUpdate);
    let text = prod.to_yaml(Some(&live));
    let at = line_of(&text, "name: system");
    let comment: String = text.lines().skip(at).take(4).collect::<Vec<_>>().join("\n");
    assert!(
        comment.contains("eks-update, not blue-green: pods select this group by its name")
            && comment.contains("kube-system/cluster-autoscaler, kube-system/coredns"),
        "{comment}"
    );
    // the plan reads back and is valid: the drive would run EKS's update on system
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, prod);
    back.validate(&live).unwrap();
    // even a blue-green asked for every managed group leaves the pinned one on eks-update
    let asked = plan::propose(
        &live,
        &options(&sim, Environment::Production, Some(Strategy::BlueGreen)),
    );
    assert_eq!(
        strategies(&asked)[..2],
        [
            ("system".to_string(), Strategy::EksUpdate),
            ("apps".to_string(), Strategy::BlueGreen),
        ]
    );
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "planning only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_config_reads_back_and_misplaced_fields_are_refused_by_line_and_field() {
    let sim = common::start("demo").await;
    let live = live(&sim).await;
    let mut p = plan::propose(&live, &options(&sim, Environment::PreProduction, None));
    for s in &mut p.steps {
        if let Step::Nodegroup(g) = s
            && g.name == "apps"
        {
            g.update_config = Some(MaxUnavailable::Percentage(34));
        }
    }
    let text = p.to_yaml(Some(&live));
    assert!(text.contains("    maxUnavailablePercentage: 34"), "{text}");
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, p);
    assert!(
        back.summary()
            .contains("(managed, eks-update, batches of 2, maxUnavailablePercentage 34)"),
        "{}",
        back.summary()
    );

    // both forms at once
    let t = text.replace(
        "    maxUnavailablePercentage: 34",
        "    maxUnavailablePercentage: 34\n    maxUnavailable: 2",
    );
    expect_error(
        Plan::from_yaml(&t, "plan.yaml"),
        line_of(&t, "maxUnavailablePercentage: 34"),
        "steps[5].maxUnavailablePercentage",
        "not both",
    );
    // out of EKS's range
    let t = text.replace("maxUnavailablePercentage: 34", "maxUnavailablePercentage: 0");
    expect_error(
        Plan::from_yaml(&t, "plan.yaml"),
        line_of(&t, "maxUnavailablePercentage: 0"),
        "steps[5].maxUnavailablePercentage",
        "1 to 100",
    );
    // on a blue-green step, where batchSize decides
    let t = text
        .replacen("strategy: eks-update", "strategy: blue-green", 2)
        .replace("maxUnavailablePercentage: 34", "maxUnavailable: 3");
    expect_error(
        Plan::from_yaml(&t, "plan.yaml"),
        line_of(&t, "maxUnavailable: 3"),
        "steps[5].maxUnavailable",
        "only a managed group with strategy eks-update",
    );
    // blue-green on a self-managed group
    let t = text.replace("strategy: replace", "strategy: blue-green");
    let e = Plan::from_yaml(&t, "plan.yaml").expect_err("refused");
    assert_eq!(e.field(), Some("steps[6].strategy"), "{e}");
    assert!(e.to_string().contains("use replace or instance-refresh"), "{e}");
    // and a blue-green managed group reads back as such
    let t = text.replacen("strategy: eks-update", "strategy: blue-green", 1);
    let t = t.replace("    maxUnavailablePercentage: 34\n", "");
    let p = Plan::from_yaml(&t, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{t}"));
    let system = p
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Nodegroup(g) if g.name == "system" => Some(g.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (system.group_type, system.strategy),
        (GroupType::Managed, Strategy::BlueGreen)
    );
    p.validate(&live).unwrap();
}
