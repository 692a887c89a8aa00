//! The plan's `drainer` for `instance-refresh` groups: `upshift plan` chooses it from
//! what it finds (the group's termination hook, aws-node-termination-handler and its
//! mode) and says why in a comment; the file reads back the same; a drainer on
//! another strategy, or an unknown one, is refused naming its line and field.

mod common;

use upshift::cloud::CloudRead;
use upshift::rollout::plan::{self, Drainer, Environment, Live, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

async fn live(sim: &Simulator) -> Live {
    let client = sim.client("viewer").await.expect("the viewer's client");
    let cloud = common::cloud::aws(sim).await;
    plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        sim.cluster_name(),
        Some((&cloud as &dyn CloudRead, sim.cluster_name())),
        &common::next_minor(sim),
    )
    .await
    .expect("discovery")
}

fn refresh_options(sim: &Simulator) -> ProposeOptions {
    ProposeOptions {
        target: common::next_minor(sim),
        environment: Environment::PreProduction,
        context: Some("viewer".into()),
        region: Some(sim.aws_region()),
        batch_size: 1,
        self_managed: Strategy::InstanceRefresh,
        managed: None,
    }
}

fn drainer_of(p: &Plan, group: &str) -> Option<Drainer> {
    p.steps.iter().find_map(|s| match s {
        Step::Nodegroup(g) if g.name == group => g.drainer,
        _ => None,
    })
}

/// The comment line above `drainer:` for `group`'s step.
fn drainer_comment(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim_start().starts_with("drainer:"))
        .expect("a drainer line");
    lines[i - 1].to_string()
}

const PROTECTED: &str = r#"
name: protected
seed: 2
cluster: {name: protected, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
  - name: workers
    kind: self-managed
    instanceType: m5.xlarge
    size: 2
    lifecycleHooks:
      - {name: nth, heartbeatTimeout: 300, defaultResult: CONTINUE}
workloads:
  - {name: web, namespace: shop, kind: Deployment, replicas: 2, image: "web:1", nodeGroup: workers}
terminationHandler: {mode: queue-processor}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_chooses_who_drains_a_refresh_and_says_why() {
    // the demo's batch group: no termination hook, so upshift drains
    let sim = common::start("demo").await;
    let l = live(&sim).await;
    let p = plan::propose(&l, &refresh_options(&sim));
    assert_eq!(drainer_of(&p, "batch"), Some(Drainer::Upshift));
    let text = p.to_yaml(Some(&l));
    let why = drainer_comment(&text);
    assert!(
        why.contains("upshift because") && why.contains("no termination hook"),
        "{why}"
    );
    let back = Plan::from_yaml(&text, "plan.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, p);
    back.validate(&l).expect("valid against the cluster");
    assert!(
        p.summary().contains("instance-refresh drained by upshift"),
        "{}",
        p.summary()
    );
    // a replace plan has no drainer
    let replace = plan::propose(
        &l,
        &ProposeOptions {
            self_managed: Strategy::Replace,
            managed: None,
            ..refresh_options(&sim)
        },
    );
    assert_eq!(drainer_of(&replace, "batch"), None);
    assert!(!replace.to_yaml(Some(&l)).contains("drainer:"));

    // a group with a hook the queue processor drains on: the handler drains
    let sim = common::start_yaml(PROTECTED).await;
    let l = live(&sim).await;
    let p = plan::propose(&l, &refresh_options(&sim));
    assert_eq!(drainer_of(&p, "workers"), Some(Drainer::TerminationHandler));
    let why = drainer_comment(&p.to_yaml(Some(&l)));
    assert!(
        why.contains("termination-handler because")
            && why.contains("aws-node-termination-handler")
            && why.contains("hook nth"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drainer_that_does_not_fit_is_refused_with_its_line_and_field() {
    let base = "apiVersion: upshift.dev/v1\nkind: Plan\ncluster: {name: demo, environment: production}\n\
                from: \"1.30\"\ntarget: \"1.31\"\nsteps:\n  - kind: control-plane\n  - kind: nodegroup\n    \
                name: batch\n    type: self-managed\n";
    // instance-refresh without a drainer: the termination handler is relied on
    let p = Plan::from_yaml(&format!("{base}    strategy: instance-refresh\n"), "p.yaml").expect("loads");
    assert_eq!(drainer_of(&p, "batch"), Some(Drainer::TerminationHandler));
    let p = Plan::from_yaml(
        &format!("{base}    strategy: instance-refresh\n    drainer: upshift\n"),
        "p.yaml",
    )
    .expect("loads");
    assert_eq!(drainer_of(&p, "batch"), Some(Drainer::Upshift));
    // a drainer for replace
    let text = format!("{base}    strategy: replace\n    drainer: upshift\n");
    let e = Plan::from_yaml(&text, "p.yaml").expect_err("refused");
    assert_eq!(e.field(), Some("steps[1].drainer"), "{e}");
    assert_eq!(e.line(), Some(12), "{e}");
    assert!(e.to_string().contains("instance-refresh"), "{e}");
    // an unknown drainer
    let text = format!("{base}    strategy: instance-refresh\n    drainer: karpenter\n");
    let e = Plan::from_yaml(&text, "p.yaml").expect_err("refused");
    assert_eq!(e.field(), Some("steps[1].drainer"), "{e}");
    assert!(
        e.to_string().contains("termination-handler") && e.to_string().contains("upshift"),
        "{e}"
    );
}
