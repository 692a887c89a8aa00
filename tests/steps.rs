//! The rollout's steps against the simulator: each reads real state first, starts
//! at most one cloud update, follows a running one (also after a restart with a
//! fresh journal), and reports Done without acting when there is nothing left.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Inspect;
use common::steps::WHO;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams};
use upshift::cloud::{AwsCloud, CloudRead, UpdateScope};
use upshift::model::Timestamp;
use upshift::model::journal::{Decision, StepId, StepState, Subject, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{GroupType, NodegroupStep, Step, Strategy};
use upshift::rollout::steps::{Progress, StepError, abort, reconcile};
use upshift::sim::Simulator;

const CLUSTER: &str = "demo";

/// One reconcile call with the simulator's virtual clock, as the lead without a
/// client that may write (these steps act on the cloud alone).
async fn call(sim: &Simulator, c: &AwsCloud, journal: &mut Journal, step: &Step) -> Result<Progress, StepError> {
    let now = common::steps::clock_of(sim);
    let mut ctx = common::steps::step_ctx(c, None, CLUSTER, journal, &now);
    reconcile(&mut ctx, step).await
}

/// Calls the step, advancing virtual time by `step_time` between calls, until Done.
async fn until_done(
    sim: &Simulator,
    c: &AwsCloud,
    journal: &mut Journal,
    step: &Step,
    step_time: Duration,
    tries: usize,
) {
    let mut last = None;
    for _ in 0..tries {
        match call(sim, c, journal, step).await.expect("the step goes on") {
            Progress::Done { .. } => return,
            waiting => last = Some(waiting),
        }
        sim.advance(step_time);
        tokio::task::yield_now().await;
    }
    panic!("{step:?} did not finish: {last:?}");
}

fn actions(j: &Journal) -> Vec<(String, String, String)> {
    j.entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Action { step, action, target } => Some((step.to_string(), action.clone(), target.clone())),
            _ => None,
        })
        .collect()
}

fn open(path: &Path) -> Journal {
    Journal::open(path).expect("the journal opens")
}

#[tokio::test]
async fn the_control_plane_step_starts_one_update_follows_it_and_survives_a_restart() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    let mut journal = open(&path);

    let first = call(&sim, &c, &mut journal, &Step::ControlPlane).await.unwrap();
    assert!(
        matches!(&first, Progress::Waiting { what, .. } if what.contains("started")),
        "{first:?}"
    );
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);
    assert_eq!(
        actions(&journal),
        [("control-plane".into(), "update-cluster-version".into(), "1.35".into())]
    );
    let result = journal
        .entries()
        .iter()
        .find_map(|e| match &e.what {
            What::Result { ok, detail, .. } => Some((*ok, detail.clone())),
            _ => None,
        })
        .expect("the action's result is journaled");
    assert!(result.0, "{result:?}");
    assert!(journal.in_doubt().is_empty());
    let action_at = journal
        .entries()
        .iter()
        .position(|e| matches!(e.what, What::Action { .. }))
        .unwrap();
    let result_at = journal
        .entries()
        .iter()
        .position(|e| matches!(e.what, What::Result { .. }))
        .unwrap();
    assert!(action_at < result_at);
    assert!(journal.entries().iter().all(|e| e.who == WHO));

    // while the update runs, further calls only follow it
    for _ in 0..3 {
        sim.advance(Duration::from_secs(60));
        let p = call(&sim, &c, &mut journal, &Step::ControlPlane).await.unwrap();
        let Progress::Waiting { what, .. } = &p else {
            panic!("done too early: {p:?}")
        };
        assert!(what.contains("InProgress"), "{what}");
    }
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);

    // a restart: a fresh journal on the same file, and a new call, starts nothing
    drop(journal);
    let mut journal = open(&path);
    let before = journal.entries().len();
    let p = call(&sim, &c, &mut journal, &Step::ControlPlane).await.unwrap();
    let Progress::Waiting { what, .. } = &p else {
        panic!("{p:?}")
    };
    assert!(what.contains("InProgress for 3m"), "{what}");
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);
    assert_eq!(journal.entries().len(), before, "following an update writes nothing");

    // an action in doubt (killed between the action and its result) is not repeated
    // while the cloud shows the update running
    let doubt_path = dir.path().join("killed.jsonl");
    let mut killed = open(&doubt_path);
    killed
        .append(
            WHO,
            Timestamp::now(),
            What::Action {
                step: StepId::ControlPlane,
                action: "update-cluster-version".into(),
                target: "1.35".into(),
            },
        )
        .unwrap();
    drop(killed);
    let mut killed = open(&doubt_path);
    assert_eq!(killed.in_doubt().len(), 1);
    assert!(
        !call(&sim, &c, &mut killed, &Step::ControlPlane)
            .await
            .unwrap()
            .is_done()
    );
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);
    assert_eq!(
        killed.entries().len(),
        2,
        "only the step's state was added: {:?}",
        killed.entries()
    );

    let kube = sim.client("viewer").await.unwrap();
    assert!(kube.apiserver_version().await.unwrap().git_version.starts_with("v1.34"));
    sim.advance(Duration::from_secs(15 * 60));
    let p = call(&sim, &c, &mut journal, &Step::ControlPlane).await.unwrap();
    assert!(p.is_done(), "{p:?}");
    assert!(kube.apiserver_version().await.unwrap().git_version.starts_with("v1.35"));
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);
    assert_eq!(journal.step_states(), [(StepId::ControlPlane, StepState::Done)]);

    // done stays done, and says so without writing again
    let before = journal.entries().len();
    assert!(
        call(&sim, &c, &mut journal, &Step::ControlPlane)
            .await
            .unwrap()
            .is_done()
    );
    assert_eq!(journal.entries().len(), before);
    assert_eq!(common::cloud::count(&sim, "UpdateClusterVersion"), 1);
}

#[tokio::test]
async fn the_addon_step_updates_coredns_to_the_targets_default_once() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir.path().join("rollout.jsonl"));
    until_done(&sim, &c, &mut journal, &Step::ControlPlane, Duration::from_secs(60), 40).await;

    let default = c
        .addon_versions("coredns", "1.35")
        .await
        .unwrap()
        .default
        .expect("a default for 1.35");
    let installed = c.describe_addon(CLUSTER, "coredns").await.unwrap();
    assert_ne!(
        installed.version, default,
        "the demo starts coredns on an older version"
    );
    let step = Step::Addon {
        name: "coredns".into(),
        version: default.clone(),
    };
    let p = call(&sim, &c, &mut journal, &step).await.unwrap();
    assert!(!p.is_done(), "{p:?}");
    assert_eq!(common::cloud::count(&sim, "UpdateAddon"), 1);
    let mut followed = 0;
    for _ in 0..3 {
        sim.advance(Duration::from_secs(2));
        let p = call(&sim, &c, &mut journal, &step).await.unwrap();
        if let Progress::Waiting { what, .. } = &p {
            assert!(what.contains("InProgress"), "{what}");
            followed += 1;
        }
    }
    assert!(followed > 0, "the update is followed while it runs");
    assert_eq!(
        common::cloud::count(&sim, "UpdateAddon"),
        1,
        "calls while it runs start nothing"
    );
    assert!(
        actions(&journal).contains(&("addon/coredns".into(), "update-addon".into(), default.clone())),
        "{:?}",
        actions(&journal)
    );

    // followed to Done once EKS says ACTIVE at the version: kube-proxy (a
    // DaemonSet), to the target's default ("default" in the plan)
    let kp_default = c.addon_versions("kube-proxy", "1.35").await.unwrap().default.unwrap();
    let kp = Step::Addon {
        name: "kube-proxy".into(),
        version: "default".into(),
    };
    until_done(&sim, &c, &mut journal, &kp, Duration::from_secs(10), 200).await;
    let now = c.describe_addon(CLUSTER, "kube-proxy").await.unwrap();
    assert_eq!(
        (now.version.as_str(), now.status.as_str()),
        (kp_default.as_str(), "ACTIVE")
    );
    assert_eq!(common::cloud::count(&sim, "UpdateAddon"), 2);

    // an add-on already at its version is Done without any update
    let vpc = c.describe_addon(CLUSTER, "vpc-cni").await.unwrap();
    let same = Step::Addon {
        name: "vpc-cni".into(),
        version: vpc.version.clone(),
    };
    assert!(call(&sim, &c, &mut journal, &same).await.unwrap().is_done());
    assert!(call(&sim, &c, &mut journal, &kp).await.unwrap().is_done());
    assert_eq!(common::cloud::count(&sim, "UpdateAddon"), 2);
}

fn managed(name: &str) -> Step {
    Step::Nodegroup(NodegroupStep {
        name: name.into(),
        group_type: GroupType::Managed,
        strategy: Strategy::EksUpdate,
        batch_size: 1,
        auto_continue: false,
        drainer: None,
        update_config: None,
        ami_type: None,
    })
}

#[tokio::test]
async fn the_managed_node_group_step_updates_once_and_then_does_nothing() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir.path().join("rollout.jsonl"));

    // payments/ledger's budget (minAvailable 2 of 2) blocks any drain of a node
    // holding a ledger pod: the operator relaxes it first (the test below keeps it)
    let lead = sim.client("lead").await.unwrap();
    Api::<PodDisruptionBudget>::namespaced(lead, "payments")
        .delete("ledger", &DeleteParams::default())
        .await
        .unwrap();

    // before the control plane, the group cannot go, and nothing is sent
    let err = call(&sim, &c, &mut journal, &managed("system")).await.unwrap_err();
    assert!(
        matches!(&err, StepError::Failed { why, .. } if why.contains("control plane")),
        "{err}"
    );
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 0);

    until_done(&sim, &c, &mut journal, &Step::ControlPlane, Duration::from_secs(60), 40).await;
    let p = call(&sim, &c, &mut journal, &managed("system")).await.unwrap();
    assert!(!p.is_done(), "{p:?}");
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 1);
    until_done(&sim, &c, &mut journal, &managed("system"), Duration::from_secs(15), 400).await;
    assert_eq!(
        common::cloud::count(&sim, "UpdateNodegroupVersion"),
        1,
        "followed, never restarted"
    );
    let ng = c.describe_nodegroup(CLUSTER, "system").await.unwrap();
    assert_eq!((ng.version.as_str(), ng.status.as_str()), ("1.35", "ACTIVE"));
    let ids = c
        .list_updates(CLUSTER, &UpdateScope::Nodegroup("system".into()))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);

    // a second run after Done does nothing: no request that writes, no journal entry
    let before = journal.entries().len();
    assert!(
        call(&sim, &c, &mut journal, &managed("system"))
            .await
            .unwrap()
            .is_done()
    );
    assert_eq!(journal.entries().len(), before);
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 1);
}

#[tokio::test]
async fn a_node_group_update_blocked_by_a_budget_fails_and_a_force_decision_starts_it_again_once() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir.path().join("rollout.jsonl"));
    until_done(&sim, &c, &mut journal, &Step::ControlPlane, Duration::from_secs(60), 40).await;
    let step = managed("apps");
    let mut failure = None;
    for _ in 0..100 {
        match call(&sim, &c, &mut journal, &step).await {
            Ok(Progress::Waiting { .. }) => {}
            Ok(other) => panic!("the ledger's budget should block the drain: {other:?}"),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        sim.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
    }
    let err = failure.expect("the update fails");
    let StepError::EvictionRefused { why, what_to_do } = &err else {
        panic!("a refusal the operator may force: {err:?}")
    };
    assert!(why.contains("PodEvictionFailure") && why.contains("apps"), "{why}");
    assert!(
        what_to_do.contains("PodDisruptionBudget") && what_to_do.contains("force"),
        "{what_to_do}"
    );
    // failing again on the next call, without starting a second update
    assert!(matches!(
        call(&sim, &c, &mut journal, &step).await,
        Err(StepError::EvictionRefused { .. })
    ));
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 1);
    assert_eq!(journal.step_states().last().unwrap().1, StepState::Failed);

    // the operator forces it: one forced update, followed to Done, never repeated
    let at = sim.now();
    journal
        .append(
            WHO,
            at,
            What::Decision {
                step: Some(Subject::Step(StepId::Nodegroup("apps".into()))),
                decision: Decision::Force,
                reason: None,
                target: Some("apps".into()),
            },
        )
        .unwrap();
    until_done(&sim, &c, &mut journal, &step, Duration::from_secs(30), 400).await;
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 2);
    let forced: Vec<_> = actions(&journal)
        .into_iter()
        .filter(|(_, a, _)| a == "force-update-nodegroup-version")
        .collect();
    assert_eq!(forced.len(), 1, "{forced:?}");
    let ng = c.describe_nodegroup(CLUSTER, "apps").await.unwrap();
    assert_eq!((ng.version.as_str(), ng.status.as_str()), ("1.35", "ACTIVE"));
    assert!(call(&sim, &c, &mut journal, &step).await.unwrap().is_done());
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 2);
}

#[tokio::test]
async fn aborting_a_managed_group_says_its_running_update_goes_on() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir.path().join("rollout.jsonl"));
    until_done(&sim, &c, &mut journal, &Step::ControlPlane, Duration::from_secs(60), 40).await;
    let step = managed("system");
    assert!(!call(&sim, &c, &mut journal, &step).await.unwrap().is_done());
    let Step::Nodegroup(g) = &step else { unreachable!() };
    let now = common::steps::clock_of(&sim);
    let mut ctx = common::steps::step_ctx(&c, None, CLUSTER, &mut journal, &now);
    let lines = abort(&mut ctx, g).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("cannot be cancelled") && lines[0].contains("system"),
        "{lines:?}"
    );
}
