//! Fargate through the product, against the `fargate` scenario: preflight lists the
//! Fargate workloads with their kubelets (and blocks on one older than the control
//! plane), the plan gets a `fargate` step after the control plane and reads it back,
//! the step restarts the workloads one at a time with a gate between them, holds on a
//! budget that allows no disruption (naming it), resumes after a restart of upshift
//! without restarting anything twice, and a whole drive leaves EKS ready for the next
//! upgrade.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use upshift::cloud::{AwsCloud, Cloud, CloudRead};
use upshift::cluster::ClusterReader;
use upshift::model::journal::{Decision, GateId, StepId, What};
use upshift::model::rollout::Phase;
use upshift::preflight::gather::gather;
use upshift::preflight::tables::Tables;
use upshift::preflight::{Check, Finding, Severity, render, run};
use upshift::rollout::plan::{self, Environment, Plan, ProposeOptions, Step, Strategy};
use upshift::rollout::steps::Progress;
use upshift::rollout::steps::fargate::RESTART;
use upshift::sim::Simulator;

use common::steps::Rig;

const SCENARIO: &str = include_str!("../assets/scenarios/fargate.yaml");

async fn findings(sim: &Simulator, target: &str) -> Vec<Finding> {
    let client = sim.client("viewer").await.unwrap();
    let snapshot = gather(&ClusterReader::new(client)).await.expect("gathers");
    run(&snapshot, target, &Tables::load(None).unwrap(), 1, None).0
}

/// Fargate nodes by name: their kubelet version.
async fn fargate_nodes(sim: &Simulator) -> BTreeMap<String, String> {
    let client = sim.client("viewer").await.unwrap();
    Api::<Node>::all(client)
        .list(&ListParams::default().labels("eks.amazonaws.com/compute-type=fargate"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| {
            (
                n.metadata.name.unwrap(),
                n.status.unwrap().node_info.unwrap().kubelet_version,
            )
        })
        .collect()
}

/// The control plane to 1.31, as the plan's control-plane step leaves it.
async fn control_plane_to_131(sim: &Simulator, cloud: &AwsCloud) {
    cloud.update_cluster_version("fargate", "1.31").await.expect("accepted");
    sim.advance(Duration::from_secs(15 * 60));
    assert_eq!(cloud.describe_cluster("fargate").await.unwrap().version, "1.31");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_lists_the_fargate_workloads_and_blocks_on_an_older_kubelet() {
    let sim = common::start("fargate").await;
    let all = findings(&sim, "1.31").await;
    let fargate: Vec<&Finding> = all.iter().filter(|f| f.check == Check::Fargate).collect();
    let resources: Vec<&str> = fargate.iter().map(|f| f.resources[0].as_str()).collect();
    assert_eq!(
        resources,
        [
            "Deployment jobs/reports (1 Fargate pod: 1 on 1.30)",
            "Deployment payments/checkout (3 Fargate pods: 3 on 1.30)",
            "Deployment payments/ledger (2 Fargate pods: 2 on 1.30)",
        ]
    );
    assert!(
        fargate
            .iter()
            .all(|f| f.severity == Severity::Info && f.action.contains("`fargate` step"))
    );
    assert!(!all.iter().any(|f| f.severity == Severity::Blocker), "{all:#?}");
    // the outputs carry them like any check's findings
    let report = upshift::preflight::Report {
        context: "lead".into(),
        server: sim.url(),
        current: "1.30".into(),
        target: "1.31".into(),
        findings: all.clone(),
        checks: Vec::new(),
        took_ms: 0,
    };
    assert!(render::text(&report, &[]).contains("must be restarted after the control plane moves to 1.31"));
    assert!(render::json(&report, &[]).contains("\"check\": \"fargate\""));
    assert!(render::markdown(&report, &[], "fargate", "today").contains("Deployment payments/checkout"));

    // pods that started under 1.29 while the control plane is on 1.30: EKS would refuse
    let old = SCENARIO.replace(
        "  - name: fp-jobs\n",
        "  - name: fp-jobs\n    kubeletVersion: \"1.29\"\n",
    );
    let sim = common::start_yaml(&old).await;
    let all = findings(&sim, "1.31").await;
    let blockers: Vec<&Finding> = all
        .iter()
        .filter(|f| f.check == Check::Fargate && f.severity == Severity::Blocker)
        .collect();
    assert_eq!(blockers.len(), 1, "{all:#?}");
    assert!(
        blockers[0]
            .title
            .contains("jobs/reports runs kubelet 1.29 under the 1.30 control plane")
    );
    assert!(
        blockers[0]
            .action
            .contains("kubectl rollout restart -n jobs deployment reports")
    );
}

fn options(sim: &Simulator) -> ProposeOptions {
    ProposeOptions {
        target: "1.31".into(),
        environment: Environment::PreProduction,
        context: Some("viewer".into()),
        region: Some(sim.aws_region()),
        batch_size: 1,
        self_managed: Strategy::Replace,
        managed: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_gets_a_fargate_step_after_the_control_plane_and_reads_it_back() {
    let sim = common::start("fargate").await;
    let cloud = common::cloud::aws(&sim).await;
    let client = sim.client("viewer").await.unwrap();
    let live = plan::discover(
        &ClusterReader::new(client),
        "fargate",
        Some((&cloud as &dyn CloudRead, "fargate")),
        "1.31",
    )
    .await
    .unwrap();
    assert_eq!(live.fargate, BTreeMap::from([("1.30".to_string(), 6)]));
    // Fargate nodes are no node group
    let groups: Vec<&str> = live.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["apps", "system"]);
    let p = plan::propose(&live, &options(&sim));
    let kinds: Vec<&str> = p.steps.iter().map(|s| s.kind().as_str()).collect();
    let fargate = kinds.iter().position(|k| *k == "fargate").expect("a fargate step");
    let cp = kinds.iter().position(|k| *k == "control-plane").unwrap();
    let first_group = kinds.iter().position(|k| *k == "nodegroup").unwrap();
    assert!(cp < fargate && fargate < first_group, "{kinds:?}");
    // after the control plane's add-ons
    assert!(kinds[cp + 1..fargate].iter().all(|k| *k == "addon"), "{kinds:?}");
    let yaml = p.to_yaml(Some(&live));
    assert!(yaml.contains("  - kind: fargate\n"), "{yaml}");
    assert!(yaml.contains("(6 Fargate pods now: 6 on 1.30)"), "{yaml}");
    let back = Plan::from_yaml(&yaml, "plan.yaml").unwrap();
    assert_eq!(back, p);
    assert!(back.summary().contains(". fargate\n"), "{}", back.summary());
    back.validate(&live).unwrap();

    // before the control plane: refused, naming the step
    let early = yaml.replacen("  - kind: fargate\n", "", 1).replacen(
        "  - kind: control-plane\n",
        "  - kind: fargate\n  - kind: control-plane\n",
        1,
    );
    let e = Plan::from_yaml(&early, "plan.yaml").unwrap_err();
    assert!(
        e.field() == Some("steps[1].kind") && e.to_string().contains("before the control-plane step"),
        "{e}"
    );
    // a field it does not take
    let named = yaml.replacen("  - kind: fargate\n", "  - kind: fargate\n    name: payments\n", 1);
    let e = Plan::from_yaml(&named, "plan.yaml").unwrap_err();
    assert_eq!(e.field(), Some(format!("steps[{fargate}].name").as_str()), "{e}");
    assert!(e.to_string().contains("it takes only `kind`"), "{e}");
}

/// Calls the step, advancing virtual time between calls, until `until` holds.
async fn call_until(rig: &mut Rig, what: &str, until: impl Fn(&Progress) -> bool) -> Progress {
    for _ in 0..300 {
        let (r, _) = rig.call(&Step::Fargate).await;
        let p = r.unwrap_or_else(|e| panic!("the fargate step failed: {e}"));
        if until(&p) {
            return p;
        }
        rig.sim.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_restarts_one_workload_at_a_time_with_a_gate_between_and_resumes() {
    let sim = common::start("fargate").await;
    let mut rig = Rig::new(sim).await;
    // before the control plane moves there is nothing to restart
    let (r, _) = rig.call(&Step::Fargate).await;
    assert!(matches!(r.unwrap(), Progress::Done { what } if what.contains("nothing to restart")));
    control_plane_to_131(&rig.sim, &rig.cloud).await;

    let first = call_until(&mut rig, "the first restart", |p| matches!(p, Progress::Waiting { .. })).await;
    assert!(
        matches!(&first, Progress::Waiting { what, .. } if what.starts_with("restarting deployment/jobs/reports")),
        "{first:?}"
    );
    let gate = call_until(&mut rig, "the gate before the second", |p| {
        matches!(p, Progress::Gate { .. })
    })
    .await;
    assert_eq!(gate, Progress::Gate { batch: 2, of: 3 });
    // a new upshift process reads the journal again: nothing is restarted twice
    rig.reopen();
    let (r, _) = rig.call(&Step::Fargate).await;
    assert_eq!(r.unwrap(), Progress::Gate { batch: 2, of: 3 });
    assert_eq!(rig.actions_named(RESTART).len(), 1);

    rig.decide(GateId::batch(StepId::Fargate, 2), Decision::Proceed, None);
    let gate = call_until(&mut rig, "the gate before the third", |p| {
        matches!(p, Progress::Gate { .. })
    })
    .await;
    assert_eq!(gate, Progress::Gate { batch: 3, of: 3 });
    rig.decide(GateId::batch(StepId::Fargate, 3), Decision::Proceed, None);
    let done = call_until(&mut rig, "done", Progress::is_done).await;
    assert!(
        matches!(&done, Progress::Done { what } if what.contains("3 Fargate workloads restarted")),
        "{done:?}"
    );

    let restarted: Vec<String> = rig
        .actions_named(RESTART)
        .iter()
        .map(|t| t.split('@').next().unwrap().to_string())
        .collect();
    assert_eq!(
        restarted,
        [
            "deployment/jobs/reports",
            "deployment/payments/checkout",
            "deployment/payments/ledger"
        ]
    );
    let nodes = fargate_nodes(&rig.sim).await;
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(nodes.values().all(|v| v.starts_with("v1.31.")), "{nodes:?}");
    rig.cloud
        .update_cluster_version("fargate", "1.32")
        .await
        .expect("EKS accepts the next update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_doubt_is_sent_again_only_when_it_did_not_land() {
    let sim = common::start("fargate").await;
    let mut rig = Rig::new(sim).await;
    control_plane_to_131(&rig.sim, &rig.cloud).await;
    // a drive killed between journaling the restart and sending it
    let at = rig.now();
    let stamp = "2026-12-01T09:00:00Z";
    rig.journal
        .append(
            common::steps::WHO,
            at,
            What::Action {
                step: StepId::Fargate,
                action: RESTART.into(),
                target: format!("deployment/jobs/reports@{stamp}"),
            },
        )
        .unwrap();
    rig.reopen();
    let (r, _) = rig.call(&Step::Fargate).await;
    assert!(
        matches!(r.unwrap(), Progress::Waiting { what, .. } if what.starts_with("restarting deployment/jobs/reports"))
    );
    // sent again, with the same stamp, and only that
    let sent = rig.actions_named(RESTART);
    assert_eq!(
        sent,
        [
            format!("deployment/jobs/reports@{stamp}"),
            format!("deployment/jobs/reports@{stamp}")
        ]
    );
    assert!(rig.journal.done(&StepId::Fargate, RESTART, &sent[1]));
    // now it landed: the next calls follow it and send nothing more for it
    let gate = call_until(&mut rig, "the gate after it", |p| matches!(p, Progress::Gate { .. })).await;
    assert_eq!(gate, Progress::Gate { batch: 2, of: 3 });
    assert_eq!(rig.actions_named(RESTART).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_allowing_no_disruption_holds_the_restart_naming_it() {
    // ledger with one replica and minAvailable 1: its budget never allows a disruption
    let yaml = SCENARIO.replace(
        "replicas: 2, image: \"payments/ledger:1.9.4\", requests: {cpu: 500m, memory: 1Gi}, pdb: {maxUnavailable: 1}",
        "replicas: 1, image: \"payments/ledger:1.9.4\", requests: {cpu: 500m, memory: 1Gi}, pdb: {minAvailable: 1}",
    );
    assert_ne!(yaml, SCENARIO);
    let sim = common::start_yaml(&yaml).await;
    let mut rig = Rig::new(sim).await;
    control_plane_to_131(&rig.sim, &rig.cloud).await;
    for batch in [2, 3] {
        rig.decide(GateId::batch(StepId::Fargate, batch), Decision::Proceed, None);
    }
    let held = call_until(&mut rig, "the hold", |p| matches!(p, Progress::Held { .. })).await;
    let Progress::Held {
        what,
        pod,
        why,
        ask_now,
        ..
    } = held
    else {
        unreachable!()
    };
    assert!(what.starts_with("deployment/payments/ledger held"), "{what}");
    assert!(
        why.contains("PodDisruptionBudget payments/ledger allows 0 disruptions"),
        "{why}"
    );
    assert!(!ask_now);
    assert!(pod.starts_with("payments/ledger-"), "{pod}");
    // nothing restarted ledger
    assert!(!rig.actions_named(RESTART).iter().any(|t| t.contains("ledger")));
    // the lead: restart it anyway
    rig.decide(StepId::Fargate, Decision::DeletePod, Some(&pod));
    let done = call_until(&mut rig, "done", Progress::is_done).await;
    assert!(
        matches!(&done, Progress::Done { what } if what.contains("3 Fargate workloads")),
        "{done:?}"
    );
    assert!(
        rig.actions_named(RESTART)
            .iter()
            .any(|t| t.starts_with("deployment/payments/ledger@"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_and_a_bare_pod_on_fargate_are_handled_too() {
    let extra = "  - {name: queue, namespace: payments, kind: StatefulSet, replicas: 2, image: \"payments/queue:5.0\"}\n  \
                 - {name: debug, namespace: payments, kind: Pod, image: \"busybox:1.36\"}\n";
    let yaml = SCENARIO.replacen("services:\n", &format!("{extra}services:\n"), 1);
    let sim = common::start_yaml(&yaml).await;
    assert_eq!(fargate_nodes(&sim).await.len(), 9);
    let mut rig = Rig::new(sim).await;
    control_plane_to_131(&rig.sim, &rig.cloud).await;
    for batch in 2..=6 {
        rig.decide(GateId::batch(StepId::Fargate, batch), Decision::Proceed, None);
    }
    // the bare pod comes last (payments/debug, after payments' Deployments and StatefulSet):
    // asked about at once
    let held = call_until(&mut rig, "the bare pod's hold", |p| matches!(p, Progress::Held { .. })).await;
    let Progress::Held {
        pod,
        why,
        ask_now,
        node,
        ..
    } = held
    else {
        unreachable!()
    };
    assert_eq!(pod, "payments/debug");
    assert!(ask_now && why.contains("no Deployment or StatefulSet"), "{why}");
    // the lead leaves it: skip its node
    rig.decide(StepId::Fargate, Decision::SkipNode, Some(&node));
    let done = call_until(&mut rig, "done", Progress::is_done).await;
    let Progress::Done { what } = done else { unreachable!() };
    assert!(
        what.contains("4 Fargate workloads restarted") && what.contains("pod/payments/debug"),
        "{what}"
    );
    assert!(
        rig.actions_named(RESTART)
            .iter()
            .any(|t| t.starts_with("statefulset/payments/queue@"))
    );
    let nodes = fargate_nodes(&rig.sim).await;
    let old: Vec<&String> = nodes
        .iter()
        .filter(|(_, v)| v.starts_with("v1.30."))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(old, [&node], "only the skipped pod's node is left on 1.30");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_of_the_proposed_plan_restarts_the_fargate_workloads_and_eks_accepts_the_next_upgrade() {
    let sim = common::start_at("fargate", 300.0).await;
    let plan = common::drive::plan_for(&sim, "fargate", None, |_| true).await;
    let labels: Vec<String> = plan.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "preflight",
            "control-plane",
            "addon vpc-cni",
            "addon coredns",
            "fargate",
            "nodegroup system",
            "nodegroup apps",
            "addon kube-proxy",
            "postflight"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::drive::start(&sim, plan, &dir.path().join("rollout.jsonl")).await;
    let (end, red) = common::drive::override_every_red_gate(&mut h, "rehearsal", 300).await;
    assert_eq!(end.phase, Phase::Done);
    assert!(end.problems.is_empty() && red.is_empty(), "{:?} {red:?}", end.problems);
    let nodes = fargate_nodes(&sim).await;
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(nodes.values().all(|v| v.starts_with("v1.31.")), "{nodes:?}");
    let journal = std::fs::read_to_string(dir.path().join("rollout.jsonl")).unwrap();
    assert_eq!(
        journal.matches("\"rollout-restart\"").count(),
        6,
        "an action and a result per workload"
    );
    let cloud = common::cloud::aws(&sim).await;
    cloud
        .update_cluster_version("fargate", "1.32")
        .await
        .expect("EKS accepts the next update");
}
