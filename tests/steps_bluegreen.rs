//! Managed node group steps against the simulator, called by hand: `blue-green`
//! (a copy of the group on the target, the old nodes cordoned, drained batch by
//! batch with a gate between batches, the old group deleted, resumed from the
//! journal without repeats) and `eks-update` setting the plan's `updateConfig` once.

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use upshift::cloud::{CloudError, CloudRead, MaxUnavailable};
use upshift::model::journal::{Decision, GateId, StepId, What};
use upshift::rollout::plan::{GroupType, NodegroupStep, Step, Strategy};
use upshift::rollout::steps::Progress;

use common::steps::Rig;

fn group(name: &str, strategy: Strategy, batch_size: u32, update_config: Option<MaxUnavailable>) -> Step {
    Step::Nodegroup(NodegroupStep {
        name: name.into(),
        group_type: GroupType::Managed,
        strategy,
        batch_size,
        auto_continue: false,
        drainer: None,
        update_config,
        ami_type: None,
    })
}

/// The demo's ledger budget (minAvailable 2 of 2) would hold every drain: one more
/// replica lets it allow one disruption.
async fn relax_the_ledger(rig: &Rig) {
    Api::<Deployment>::namespaced(rig.client.clone(), "payments")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
}

async fn upgrade_control_plane(rig: &mut Rig) {
    for _ in 0..60 {
        let (r, _) = rig.call(&Step::ControlPlane).await;
        if r.expect("the control plane goes on").is_done() {
            return;
        }
        rig.sim.advance(Duration::from_secs(60));
        tokio::task::yield_now().await;
    }
    panic!("the control plane did not reach 1.35");
}

#[tokio::test]
async fn blue_green_copies_the_group_drains_it_batch_by_batch_and_deletes_it_without_repeats() {
    let sim = common::start("demo").await;
    let mut rig = Rig::new(sim).await;
    relax_the_ledger(&rig).await;
    let step = group("apps", Strategy::BlueGreen, 3, None);
    let id = StepId::Nodegroup("apps".into());

    // before the control plane nothing is created
    let (r, _) = rig.call(&step).await;
    let err = r.unwrap_err();
    assert!(err.to_string().contains("control plane"), "{err}");
    assert_eq!(common::cloud::count(&rig.sim, "CreateNodegroup"), 0);
    upgrade_control_plane(&mut rig).await;
    let old_nodes: Vec<String> = common::Inspect::nodes_labelled(&rig.sim, "eks.amazonaws.com/nodegroup", "apps")
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert_eq!(old_nodes.len(), 6);

    // the system group's coredns selects its nodes by EKS's group label: no copy
    // could take it, so nothing is created and the pods are named
    let (r, _) = rig.call(&group("system", Strategy::BlueGreen, 1, None)).await;
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("kube-system/coredns-") && err.contains("eks-update"),
        "{err}"
    );
    assert_eq!(common::cloud::count(&rig.sim, "CreateNodegroup"), 0);

    let mut gates = Vec::new();
    let mut reopened = false;
    let mut done = None;
    let mut last = None;
    for _ in 0..400 {
        let (r, progress) = rig.call(&step).await;
        let r = r.expect("the blue-green step goes on");
        last = Some(r.clone());
        match r {
            Progress::Done { what } => {
                done = Some(what);
                break;
            }
            Progress::Gate { batch, of } => {
                assert_eq!((progress.batch, progress.batches), (batch - 1, of));
                gates.push((batch, of));
                rig.decide(GateId::batch(id.clone(), batch), Decision::Proceed, None);
            }
            Progress::Held { pod, ask_now, .. } if ask_now => {
                // a pod with no controller: the lead lets it go
                rig.decide(id.clone(), Decision::DeletePod, Some(&pod));
            }
            Progress::Held { .. } | Progress::Waiting { .. } => {}
        }
        // a restart in the middle of the first batch: the journal as a new process reads it
        if !reopened && !rig.actions_named("evict").is_empty() {
            rig.reopen();
            reopened = true;
        }
        rig.sim.advance(Duration::from_secs(15));
        tokio::task::yield_now().await;
    }
    let done = done.unwrap_or_else(|| panic!("the blue-green step did not finish: {last:?}"));
    assert!(done.contains("replaced by apps-1-35"), "{done}");
    assert!(reopened);
    // two batches of 3 nodes, one gate between them
    assert_eq!(gates, [(2, 2)]);
    let batches = rig.actions_named("start-batch");
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[0].split(',').count(), 3);
    assert_eq!(batches[1].split(',').count(), 3);
    // every old node cordoned before the first eviction, each once
    let actions = rig.actions();
    let first_evict = actions.iter().position(|(_, a, _)| a == "evict").unwrap();
    let cordons: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, (_, a, _))| a == "cordon")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(cordons.len(), 6, "{actions:?}");
    assert!(cordons.iter().all(|i| *i < first_evict), "{actions:?}");
    // one copy, one deletion, nothing finished twice
    assert_eq!(common::cloud::count(&rig.sim, "CreateNodegroup"), 1);
    assert_eq!(common::cloud::count(&rig.sim, "DeleteNodegroup"), 1);
    assert_eq!(rig.actions_named("create-nodegroup"), ["apps-1-35"]);
    common::journal::assert_no_repeats(&rig.path);
    // the copy serves on the target with the old group's labels; the old group is gone
    let copy = rig.cloud.describe_nodegroup(&rig.cluster, "apps-1-35").await.unwrap();
    assert_eq!(
        (copy.version.as_str(), copy.status.as_str(), copy.desired),
        ("1.35", "ACTIVE", 6)
    );
    assert_eq!(copy.labels.get("role").map(String::as_str), Some("apps"));
    assert_eq!(copy.instance_types, ["m5.xlarge"]);
    let err = rig.cloud.describe_nodegroup(&rig.cluster, "apps").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    assert!(common::Inspect::nodes_labelled(&rig.sim, "eks.amazonaws.com/nodegroup", "apps").is_empty());
    // the shop runs on the copy's nodes (and on system's)
    let on = common::Inspect::nodes_running(&rig.sim, "web");
    assert!(!on.is_empty() && on.iter().all(|n| !old_nodes.contains(n)), "{on:?}");

    // called again: Done, and nothing is sent or journaled
    let before = rig.journal.entries().len();
    let (r, _) = rig.call(&step).await;
    assert!(r.unwrap().is_done());
    assert_eq!(rig.journal.entries().len(), before);
    assert_eq!(common::cloud::count(&rig.sim, "CreateNodegroup"), 1);
}

#[tokio::test]
async fn eks_update_sets_the_plans_update_config_once_then_updates_the_group() {
    let sim = common::start("demo").await;
    let mut rig = Rig::cloud_only(sim).await;
    relax_the_ledger(&rig).await;
    upgrade_control_plane(&mut rig).await;
    let step = group("apps", Strategy::EksUpdate, 1, Some(MaxUnavailable::Count(3)));

    let (r, _) = rig.call(&step).await;
    let Progress::Waiting { what, detail } = r.unwrap() else {
        panic!("the config change first")
    };
    assert!(what.contains("maxUnavailable 1 → maxUnavailable 3"), "{what}");
    assert!(detail.contains("EKS stops at no gate"), "{detail}");
    assert_eq!(common::cloud::count(&rig.sim, "UpdateNodegroupConfig"), 1);
    assert_eq!(common::cloud::count(&rig.sim, "UpdateNodegroupVersion"), 0);
    let ng = rig.cloud.describe_nodegroup(&rig.cluster, "apps").await.unwrap();
    assert_eq!(ng.config.update_config, Some(MaxUnavailable::Count(3)));

    // a restart: the config is what the plan says, so only the version update follows
    rig.reopen();
    let mut started = None;
    for _ in 0..10 {
        let (r, _) = rig.call(&step).await;
        if let Progress::Waiting { what, detail } = r.unwrap()
            && what.contains("update")
            && common::cloud::count(&rig.sim, "UpdateNodegroupVersion") == 1
        {
            started = Some(detail);
            break;
        }
        rig.sim.advance(Duration::from_secs(15));
        tokio::task::yield_now().await;
    }
    let detail = started.expect("the version update started");
    assert!(detail.contains("3 nodes at a time (maxUnavailable 3)"), "{detail}");
    assert!(detail.contains("EKS stops at no gate inside its update"), "{detail}");
    assert_eq!(common::cloud::count(&rig.sim, "UpdateNodegroupConfig"), 1);
    assert_eq!(rig.actions_named("update-nodegroup-config"), ["maxUnavailable 3"]);
    let journaled_ok = rig
        .journal
        .entries()
        .iter()
        .any(|e| matches!(&e.what, What::Result { action, ok: true, .. } if action == "update-nodegroup-config"));
    assert!(journaled_ok);

    // a plan that says what EKS has already sends nothing
    let same = group("system", Strategy::EksUpdate, 1, Some(MaxUnavailable::Count(1)));
    let (r, _) = rig.call(&same).await;
    r.unwrap();
    assert_eq!(common::cloud::count(&rig.sim, "UpdateNodegroupConfig"), 1);
}

/// How many nodes of the group `apps` are cordoned.
fn cordoned(rig: &Rig) -> usize {
    common::Inspect::nodes_labelled(&rig.sim, "eks.amazonaws.com/nodegroup", "apps")
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .count()
}

#[tokio::test]
async fn an_abort_uncordons_the_old_nodes_and_keeps_the_copy() {
    let sim = common::start("demo").await;
    let mut rig = Rig::new(sim).await;
    relax_the_ledger(&rig).await;
    upgrade_control_plane(&mut rig).await;
    let step = group("apps", Strategy::BlueGreen, 2, None);
    // on until the first batch is draining
    for _ in 0..100 {
        let (r, _) = rig.call(&step).await;
        r.expect("the blue-green step goes on");
        if !rig.actions_named("start-batch").is_empty() {
            break;
        }
        rig.sim.advance(Duration::from_secs(15));
        tokio::task::yield_now().await;
    }
    assert_eq!(
        cordoned(&rig),
        6,
        "every old node is cordoned once the first batch starts"
    );
    let lines = rig.abort(&step).await;
    assert_eq!(cordoned(&rig), 0, "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("uncordoned node")).count(),
        6,
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("apps-1-35") && l.contains("stays")),
        "{lines:?}"
    );
    // the copy is kept, the old group too, and nothing was deleted
    assert!(rig.cloud.describe_nodegroup(&rig.cluster, "apps-1-35").await.is_ok());
    assert!(rig.cloud.describe_nodegroup(&rig.cluster, "apps").await.is_ok());
    assert_eq!(common::cloud::count(&rig.sim, "DeleteNodegroup"), 0);
    // a second abort has nothing more to undo
    let again = rig.abort(&step).await;
    assert!(!again.iter().any(|l| l.starts_with("uncordoned")), "{again:?}");
}
