//! The drive on an instance refresh of the demo's `batch` group (no termination hook
//! there): relying on a termination handler that is not there, the rollout is
//! stopped by its preflight step and, past that, by the group's step before any
//! action; drained by upshift, a red gate between two refresh batches holds the next
//! batch's instance in the hook for longer than the hook's timeout (the drive's
//! heartbeats keep it) until the lead passes it, and the group ends on the target with
//! no pod lost and no hook left.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Inspect;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use upshift::cockpit::Cockpit;
use upshift::model::RolloutState;
use upshift::model::journal::StepId;
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::plan::{self, Drainer, Environment, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

const LEAD: &str = "ana@laptop";

/// The demo's plan with the `batch` group refreshed, drained by `drainer`.
async fn refresh_plan(sim: &Simulator, drainer: Drainer, preflight: bool) -> Plan {
    let client = sim.client("lead").await.unwrap();
    let c = common::cloud::shared(sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "demo",
        Some((c.as_ref(), "demo")),
        "1.35",
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.35".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::InstanceRefresh,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.steps.retain(|s| match s {
        Step::Preflight => preflight,
        Step::ControlPlane => true,
        Step::Nodegroup(g) => g.name == "batch",
        _ => false,
    });
    for s in &mut p.steps {
        if let Step::Nodegroup(g) = s {
            g.drainer = Some(drainer);
        }
    }
    p
}

async fn start(sim: &Simulator, plan: Plan, journal: &Path) -> DriveHandle {
    let client = sim.client("lead").await.unwrap();
    let clock = sim.clock();
    let setup = Setup {
        plan,
        client: client.clone(),
        cloud: common::cloud::shared(sim).await,
        journal: journal.to_path_buf(),
        who: LEAD.into(),
        now: Arc::new(move || clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: DriveOptions {
            poll: Duration::from_millis(100),
            ..Default::default()
        },
    };
    let drive = prepare(setup).await.expect("the drive prepares");
    let handle = drive.start();
    let controls = upshift::cockpit::lead::Controls::new(handle.commands.clone());
    let connection = upshift::cluster::Connection {
        context: "lead".into(),
        cluster: "demo".into(),
        server: sim.url(),
        user: "lead".into(),
        clock: Default::default(),
    };
    let cockpit = Cockpit::lead(connection, controls, sim.clock().now());
    tokio::spawn(upshift::headless::drive::feed_health(
        upshift::cluster::ClusterReader::new(client),
        cockpit,
        handle.health.clone(),
    ));
    handle
}

/// The lead at every gate: proceeds once green and settled; a gate before a step
/// that stays red is passed with a reason. Returns when `stop` says so.
async fn lead_until(h: &mut DriveHandle, secs: u64, stop: impl Fn(&RolloutState) -> bool) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut red_since: Option<(String, Instant)> = None;
    loop {
        let s = h.state.borrow_and_update().clone();
        if stop(&s) {
            return s;
        }
        match &s.phase {
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                } else if g.criteria.iter().any(|c| !c.ok) {
                    match &red_since {
                        Some((id, t)) if *id == g.id.to_string() && t.elapsed() > Duration::from_secs(3) => {
                            h.commands
                                .send(Command::Override {
                                    reason: "rehearsal: known red".into(),
                                })
                                .unwrap();
                            red_since = None;
                        }
                        Some((id, _)) if *id == g.id.to_string() => {}
                        _ => red_since = Some((g.id.to_string(), Instant::now())),
                    }
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!("the drive stopped at {other:?} in {:?}", s.current_step()),
        }
        assert!(Instant::now() < deadline, "gave up after {secs}s: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

fn failed_in(s: &RolloutState, step: &StepId) -> Option<String> {
    match &s.phase {
        Phase::Failed { why, .. } if s.current_step().is_some_and(|v| &v.id == step) => Some(why.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_nothing_drains_is_stopped_by_preflight_and_before_its_first_action() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = refresh_plan(&sim, Drainer::TerminationHandler, true).await;
    let mut h = start(&sim, plan, &dir.path().join("journal.jsonl")).await;
    let s = lead_until(&mut h, 60, |s| failed_in(s, &StepId::Preflight).is_some()).await;
    let why = failed_in(&s, &StepId::Preflight).unwrap();
    assert!(
        why.contains("An instance refresh of node group batch would terminate nodes with their pods running"),
        "{why}"
    );
    // the lead skips the preflight anyway: the group's step refuses on its own
    h.commands
        .send(Command::Override {
            reason: "rehearsal: see what the step says".into(),
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while failed_in(&h.state.borrow_and_update(), &StepId::Preflight).is_some() {
        assert!(Instant::now() < deadline, "the skip was not taken");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
    let batch = StepId::Nodegroup("batch".into());
    let s = lead_until(&mut h, 120, |s| failed_in(s, &batch).is_some()).await;
    let why = failed_in(&s, &batch).unwrap();
    assert!(
        why.contains("no termination lifecycle hook") && why.contains("batch"),
        "{why}"
    );
    assert_eq!(common::cloud::count(&sim, "StartInstanceRefresh"), 0);
    assert_eq!(common::cloud::count(&sim, "PutLifecycleHook"), 0);
    assert!(
        sim.nodes_labelled("alpha.eksctl.io/nodegroup-name", "batch")
            .iter()
            .all(|n| { n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true) })
    );
}

/// A pod no node can take: the gate's unscheduled-pods criterion turns red.
fn stuck_pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "stuck", "namespace": "default"},
        "spec": {"nodeSelector": {"nowhere": "true"}, "containers": [{"name": "c", "image": "busybox:1.36"}]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_gate_between_refresh_batches_holds_the_next_instance_in_the_hook() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = refresh_plan(&sim, Drainer::Upshift, false).await;
    let mut h = start(&sim, plan, &journal).await;
    let batch_gate =
        |s: &RolloutState| s.phase == Phase::Gate && s.gate.as_ref().is_some_and(|g| g.id.batch == Some(2));
    lead_until(&mut h, 180, batch_gate).await;
    let held = sim.waiting_instances();
    assert_eq!(held.len(), 1, "batch 2's instance waits in the hook: {held:?}");
    // the gate turns red
    let pods: Api<Pod> = Api::namespaced(sim.client("lead").await.unwrap(), "default");
    pods.create(&PostParams::default(), &stuck_pod()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = h.state.borrow_and_update().clone();
        if s.gate
            .as_ref()
            .is_some_and(|g| g.criteria.iter().any(|c| !c.ok && c.name == "unscheduled pods"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the gate never turned red: {:?}", s.gate);
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
    h.commands.send(Command::Proceed).unwrap();
    // it stays red longer than the hook's 30-minute heartbeat timeout (virtual time)
    let waited_from = sim.now();
    while sim.now().as_second() - waited_from.as_second() < 2400 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s = h.state.borrow().clone();
    assert!(batch_gate(&s), "the red gate was passed: {:?}", s.phase);
    assert_eq!(sim.waiting_instances(), held, "the held instance timed out");
    assert!(common::cloud::count(&sim, "RecordLifecycleActionHeartbeat") >= 4);
    // the lead clears what made it red; the gate turns green and is passed
    pods.delete("stuck", &DeleteParams::default()).await.unwrap();
    let end = lead_until(&mut h, 240, |s| s.phase == Phase::Done).await;
    assert!(
        end.steps
            .iter()
            .all(|v| v.state == upshift::model::journal::StepState::Done),
        "{end:?}"
    );
    // the last old node goes once its instance has shut down
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let minors: Vec<String> = sim
            .nodes_labelled("alpha.eksctl.io/nodegroup-name", "batch")
            .iter()
            .map(|n| {
                n.status
                    .as_ref()
                    .unwrap()
                    .node_info
                    .as_ref()
                    .unwrap()
                    .kubelet_version
                    .clone()
            })
            .collect();
        if minors.len() == 3 && minors.iter().all(|v| v.starts_with("v1.35")) {
            break;
        }
        assert!(Instant::now() < deadline, "batch nodes: {minors:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (lost, recent) = sim.pods_lost();
    assert_eq!(lost, 0, "pods died without an eviction: {recent:?}");
    assert!(sim.hook_names("batch").is_empty(), "a hook was left behind");
    common::journal::assert_no_repeats(&journal);
}
