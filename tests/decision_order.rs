//! The order of a failure and the operator's answer comes from the journal's
//! sequence, never from comparing clocks: with the drive's clock two hours behind
//! the cloud's (a laptop's clock adrift, or the demo's virtual clock), a `force`
//! after a node group update failed with PodEvictionFailure still starts the forced
//! update, once.

mod common;

use std::time::Duration;

use common::Inspect;
use common::steps::WHO;
use jiff::{SignedDuration, Timestamp};
use upshift::cloud::{AwsCloud, CloudRead};
use upshift::model::journal::{Decision, StepId, Subject, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{GroupType, NodegroupStep, Step, Strategy};
use upshift::rollout::steps::{Progress, StepError, reconcile};
use upshift::sim::Simulator;

const CLUSTER: &str = "demo";
/// How far the drive's clock is behind the simulator's.
const BEHIND: SignedDuration = SignedDuration::from_hours(2);

/// One reconcile with the drive's clock two hours behind the simulated cloud's.
async fn call(sim: &Simulator, c: &AwsCloud, journal: &mut Journal, step: &Step) -> Result<Progress, StepError> {
    let clock = sim.clock();
    let now = move || -> Timestamp { clock.now() - BEHIND };
    let mut ctx = common::steps::step_ctx(c, None, CLUSTER, journal, &now);
    reconcile(&mut ctx, step).await
}

async fn until(
    sim: &Simulator,
    c: &AwsCloud,
    journal: &mut Journal,
    step: &Step,
    tries: usize,
) -> Result<Progress, StepError> {
    for _ in 0..tries {
        match call(sim, c, journal, step).await {
            Ok(Progress::Waiting { .. }) => {}
            other => return other,
        }
        sim.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
    }
    panic!("{step:?} neither finished nor failed");
}

fn decide(journal: &mut Journal, sim: &Simulator, decision: Decision) {
    // the decision's time is the drive's, behind the cloud's
    let at = sim.now() - BEHIND;
    journal
        .append(
            WHO,
            at,
            What::Decision {
                step: Some(Subject::Step(StepId::Nodegroup("apps".into()))),
                decision,
                reason: None,
                target: Some("apps".into()),
            },
        )
        .unwrap();
}

#[tokio::test]
async fn a_force_after_a_pod_eviction_failure_counts_though_the_drives_clock_is_behind() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("rollout.jsonl")).unwrap();
    assert!(matches!(
        until(&sim, &c, &mut journal, &Step::ControlPlane, 60).await,
        Ok(Progress::Done { .. })
    ));
    let step = Step::Nodegroup(NodegroupStep {
        name: "apps".into(),
        group_type: GroupType::Managed,
        strategy: Strategy::EksUpdate,
        batch_size: 1,
        auto_continue: false,
        drainer: None,
        update_config: None,
        ami_type: None,
    });
    let failed = until(&sim, &c, &mut journal, &step, 100).await;
    assert!(matches!(failed, Err(StepError::EvictionRefused { .. })), "{failed:?}");
    let ids = c
        .list_updates(CLUSTER, &upshift::cloud::UpdateScope::Nodegroup("apps".into()))
        .await
        .unwrap();
    let failed_update = c
        .describe_update(
            CLUSTER,
            ids.last().unwrap(),
            &upshift::cloud::UpdateScope::Nodegroup("apps".into()),
        )
        .await
        .unwrap();
    let created = failed_update.created.expect("EKS says when the update began");
    // the decision's own time is before the update's createdAt by the cloud's clock
    assert!(sim.now() - BEHIND < created, "the skew is real");
    assert_eq!(common::cloud::count(&sim, "UpdateNodegroupVersion"), 1);

    decide(&mut journal, &sim, Decision::Force);
    let done = until(&sim, &c, &mut journal, &step, 400).await;
    assert!(matches!(done, Ok(Progress::Done { .. })), "{done:?}");
    assert_eq!(
        common::cloud::count(&sim, "UpdateNodegroupVersion"),
        2,
        "the forced update was sent once"
    );
    let ng = c.describe_nodegroup(CLUSTER, "apps").await.unwrap();
    assert_eq!((ng.version.as_str(), ng.status.as_str()), ("1.35", "ACTIVE"));
}
