//! The drive in-process against the simulator, as the availability and verdict tests
//! run it: the plan upshift proposes (steps picked by the test, short waits), the
//! drive with a lead's cockpit feeding it the cluster's health, waiting on its state,
//! and a lead who proceeds at settled gates and overrides each red one once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use upshift::cockpit::Cockpit;
use upshift::model::RolloutState;
use upshift::model::journal::StepId;
use upshift::model::rollout::{Command, Criterion, GateView, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::plan::{self, Environment, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

use super::Inspect;

pub const LEAD: &str = "ana@laptop";

/// The plan upshift proposes for EKS cluster `cluster` to its next minor (managed groups
/// `eks-update` unless `managed` says otherwise), with short waits; `keep` picks its steps.
pub async fn plan_for(sim: &Simulator, cluster: &str, managed: Option<Strategy>, keep: impl Fn(&Step) -> bool) -> Plan {
    let client = sim.client("lead").await.unwrap();
    let c = super::cloud::shared(sim).await;
    let target = super::next_minor(sim);
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        cluster,
        Some((c.as_ref(), cluster)),
        &target,
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target,
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
            managed,
        },
    );
    p.gates.settle_seconds = 20;
    p.drain.pod_timeout_seconds = 120;
    p.steps.retain(|s| keep(s));
    p
}

/// The drive, with a lead's cockpit feeding it the cluster's health.
pub async fn start(sim: &Simulator, plan: Plan, journal: &Path) -> DriveHandle {
    let options = DriveOptions {
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    start_as(sim, plan, journal, LEAD, options).await.unwrap()
}

/// The drive of operator `who` with `options`, with a cockpit feeding it the
/// cluster's health; or why it was refused.
pub async fn start_as(
    sim: &Simulator,
    plan: Plan,
    journal: &Path,
    who: &str,
    options: DriveOptions,
) -> Result<DriveHandle, upshift::rollout::drive::PrepareError> {
    let cluster = plan.cluster.name.clone();
    let client = sim.client("lead").await.unwrap();
    let clock = sim.clock();
    let setup = Setup {
        plan,
        client: client.clone(),
        cloud: super::cloud::shared(sim).await,
        journal: journal.to_path_buf(),
        who: who.into(),
        now: Arc::new(move || clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options,
    };
    let handle = prepare(setup).await?.start();
    let clock = sim.clock();
    let controls = upshift::cockpit::lead::Controls::new(handle.commands.clone());
    let connection = upshift::cluster::Connection {
        context: "lead".into(),
        cluster: cluster.clone(),
        server: sim.url(),
        user: LEAD.into(),
        clock: Default::default(),
    };
    let cockpit = Cockpit::lead(connection, controls, clock.now());
    tokio::spawn(upshift::headless::drive::feed_health(
        upshift::cluster::ClusterReader::new(client),
        cockpit,
        handle.health.clone(),
    ));
    Ok(handle)
}

/// Waits (real time) until the drive's state satisfies `f`.
pub async fn until(h: &mut DriveHandle, what: &str, secs: u64, f: impl Fn(&RolloutState) -> bool) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        {
            let s = h.state.borrow_and_update();
            if f(&s) {
                return s.clone();
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, h.state.changed()).await.is_err() {
            let s = h.state.borrow().clone();
            panic!("gave up waiting for {what}; phase {:?}, gate {:?}", s.phase, s.gate);
        }
    }
}

/// The open gate's criterion `name`, once the view is synced.
pub fn criterion(s: &RolloutState, name: &str) -> Option<Criterion> {
    let g = s.gate.as_ref().filter(|_| s.phase == Phase::Gate)?;
    g.criteria
        .iter()
        .find(|c| c.name == name && !c.detail.starts_with("not judged"))
        .cloned()
}

/// Drives to the end as a lead who proceeds at every settled gate and, after a
/// moment, overrides each red gate once with `reason` (a failed preflight too).
/// Returns the final state and every red gate as it was when overridden.
pub async fn override_every_red_gate(h: &mut DriveHandle, reason: &str, secs: u64) -> (RolloutState, Vec<GateView>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut overridden: Vec<GateView> = Vec::new();
    let mut preflight = false;
    let end = loop {
        let s = h.state.borrow_and_update().clone();
        match &s.phase {
            Phase::Done => break s,
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                let judged = g.criteria.iter().all(|c| !c.detail.starts_with("not judged"));
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                } else if judged && g.criteria.iter().any(|c| !c.ok) && !overridden.iter().any(|o| o.id == g.id) {
                    // give a red gate a moment (it may be settling), then pass it with a reason
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let now = h.state.borrow().clone();
                    if let Some(n) = now
                        .gate
                        .as_ref()
                        .filter(|n| now.phase == Phase::Gate && n.id == g.id && !n.passable)
                        .filter(|n| n.criteria.iter().any(|c| !c.ok))
                    {
                        h.commands.send(Command::Override { reason: reason.into() }).unwrap();
                        overridden.push(n.clone());
                    }
                }
            }
            Phase::Failed { .. } if s.current_step().is_some_and(|v| v.id == StepId::Preflight) => {
                if !preflight {
                    h.commands.send(Command::Override { reason: reason.into() }).unwrap();
                    preflight = true;
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!("the drive stopped at {other:?} in {:?}", s.current_step()),
        }
        assert!(Instant::now() < deadline, "the drive did not finish: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    };
    (end, overridden)
}
