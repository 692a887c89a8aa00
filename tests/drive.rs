//! The drive end to end against the simulator (speeded up): a whole upgrade of the
//! `demo` cluster through every kind of step, gates refused and overridden, a drain
//! held by a PodDisruptionBudget with each of the lead's choices, abort in the middle
//! of a node group, a drive stopped at any moment and resumed, a second driver
//! refused by the lease, and a read-only cockpit following the lead.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Inspect;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use upshift::cockpit::Cockpit;
use upshift::model::RolloutState;
use upshift::model::journal::{Decision, GateId, StepId, What};
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

const LEAD: &str = "ana@laptop";

/// The demo cluster, fast: a virtual minute every 0.2 s of real time.
async fn sim() -> Simulator {
    common::start_at("demo", 300.0).await
}

/// The plan upshift proposes for the demo, with short waits; `keep` picks its steps.
async fn demo_plan(sim: &Simulator, keep: impl Fn(&Step) -> bool) -> Plan {
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
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.drain.pod_timeout_seconds = 120;
    p.steps.retain(|s| keep(s));
    p
}

async fn start(sim: &Simulator, plan: Plan, journal: &Path, who: &str) -> Result<DriveHandle, String> {
    let client = sim.client("lead").await.unwrap();
    let clock = sim.clock();
    let setup = Setup {
        plan,
        client: client.clone(),
        cloud: common::cloud::shared(sim).await,
        journal: journal.to_path_buf(),
        who: who.into(),
        now: Arc::new(move || clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: DriveOptions {
            poll: Duration::from_millis(100),
            ..Default::default()
        },
    };
    let drive = prepare(setup).await.map_err(|e| e.to_string())?;
    let handle = drive.start();
    let clock = sim.clock();
    let controls = upshift::cockpit::lead::Controls::new(handle.commands.clone());
    let cockpit = Cockpit::lead(connection("lead", sim), controls, clock.now());
    tokio::spawn(upshift::headless::drive::feed_health(
        upshift::cluster::ClusterReader::new(client),
        cockpit,
        handle.health.clone(),
    ));
    Ok(handle)
}

fn connection(who: &str, sim: &Simulator) -> upshift::cluster::Connection {
    upshift::cluster::Connection {
        context: who.into(),
        cluster: "demo".into(),
        server: sim.url(),
        user: who.into(),
        clock: Default::default(),
    }
}

/// Waits (real time) until the drive's state satisfies `f`.
async fn until(h: &mut DriveHandle, what: &str, secs: u64, f: impl Fn(&RolloutState) -> bool) -> RolloutState {
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
            panic!(
                "gave up waiting for {what}; phase {:?}, step {:?}, gate {:?}, notice {:?}",
                s.phase,
                s.current_step(),
                s.gate,
                s.notice
            );
        }
    }
}

/// The lead: proceeds at every gate once it is green and settled, passes a gate
/// that stays red with a reason (after seeing Enter refused), and stops at
/// anything else.
async fn lead_through(h: &mut DriveHandle, secs: u64) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut red_since: Option<(String, Instant)> = None;
    let mut said = String::new();
    loop {
        let s = h.state.borrow_and_update().clone();
        let line = format!("{} {:?}", s.phase.name(), s.current_step().map(|v| (&v.id, &v.what)));
        if line != said {
            eprintln!("{line}");
            said = line;
        }
        match &s.phase {
            Phase::Done => return s,
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                    red_since = None;
                } else if g.criteria.iter().any(|c| !c.ok) {
                    match &red_since {
                        Some((id, t)) if *id == g.id.to_string() && t.elapsed() > Duration::from_secs(3) => {
                            h.commands.send(Command::Proceed).unwrap();
                            // a notice left from an earlier command (a proceed sent on a stale state) is
                            // not the answer: wait for the refusal itself
                            let refused = until(h, "the refusal of a red gate", 10, |s| {
                                s.notice.as_deref().is_some_and(|n| n.contains("the gate is red"))
                            })
                            .await;
                            assert!(
                                refused.notice.as_deref().unwrap().contains("the gate is red"),
                                "{:?}",
                                refused.notice
                            );
                            let red: Vec<String> =
                                g.criteria.iter().filter(|c| !c.ok).map(|c| c.name.clone()).collect();
                            h.commands
                                .send(Command::Override {
                                    reason: format!("rehearsal: {} expected", red.join(", ")),
                                })
                                .unwrap();
                            red_since = None;
                        }
                        Some((id, _)) if *id == g.id.to_string() => {}
                        _ => red_since = Some((g.id.to_string(), Instant::now())),
                    }
                }
            }
            // a preflight that finds blockers: the lead reads them and skips it
            Phase::Failed { why, .. } if s.current_step().is_some_and(|v| v.id == StepId::Preflight) => {
                assert!(why.contains("blocker"), "{why}");
                if red_since.as_ref().is_none_or(|(id, _)| id != "preflight") {
                    h.commands
                        .send(Command::Override {
                            reason: "rehearsal: insight reviewed".into(),
                        })
                        .unwrap();
                    red_since = Some(("preflight".into(), Instant::now()));
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!("the drive stopped at {other:?} in {:?}", s.current_step()),
        }
        assert!(
            Instant::now() < deadline,
            "the rollout did not finish in {secs}s: {s:?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

async fn nodes_by_minor(sim: &Simulator) -> BTreeMap<String, usize> {
    let client = sim.client("lead").await.unwrap();
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    let mut out = BTreeMap::new();
    for n in nodes.items {
        let v = n.status.unwrap().node_info.unwrap().kubelet_version;
        *out.entry(upshift::units::Minor::parse(&v).unwrap().to_string())
            .or_insert(0) += 1;
    }
    out
}

/// The ledger's budget allows no disruption with 2 replicas: a third lets drains through.
async fn relax_ledger(sim: &Simulator) {
    let client = sim.client("lead").await.unwrap();
    let api: Api<Deployment> = Api::namespaced(client, "payments");
    api.patch(
        "ledger",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_upgrade_through_every_kind_of_step() {
    let sim = sim().await;
    relax_ledger(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |_| true).await;
    let kinds: Vec<_> = plan.steps.iter().map(|s| s.kind()).collect();
    assert!(kinds.contains(&upshift::rollout::plan::StepKind::Addon), "{kinds:?}");
    let mut h = start(&sim, plan, &journal, LEAD).await.unwrap();
    let end = lead_through(&mut h, 240).await;
    // every step done, the preflight included: with the ledger's budget relaxed, nothing
    // blocks the demo (EKS's add-on insight passes: kube-proxy and CoreDNS move after the
    // control plane)
    use upshift::model::journal::StepState;
    for s in &end.steps {
        assert_eq!(s.state, StepState::Done, "{s:?}");
    }
    assert_eq!(nodes_by_minor(&sim).await.keys().collect::<Vec<_>>(), ["1.35"]);
    let c = common::cloud::shared(&sim).await;
    assert!(c.describe_cluster("demo").await.unwrap().version.starts_with("1.35"));
    for g in c.list_nodegroups("demo").await.unwrap() {
        assert_eq!(c.describe_nodegroup("demo", &g).await.unwrap().version, "1.35", "{g}");
    }
    // recommendations crash-loops on 1.35 nodes: some gate after the first node
    // group must have been passed red, with the reason journaled
    let j = Journal::open(&journal).unwrap();
    let overrides: Vec<_> = j
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Decision { decision, reason: Some(r), .. } if *decision == Decision::Override && r.contains("pod errors above baseline")))
        .collect();
    assert!(!overrides.is_empty(), "no gate was passed red");
    assert!(overrides.iter().all(|e| e.who == LEAD));
    // the preflight's warnings are in the journal, each once
    let warnings: Vec<&str> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Event {
                object,
                reason,
                message,
                ..
            } if object == "preflight" && reason == "PreflightWarning" => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert!(warnings.iter().any(|m| m.contains("ingress-nginx")), "{warnings:#?}");
    let unique: std::collections::BTreeSet<_> = warnings.iter().collect();
    assert_eq!(unique.len(), warnings.len(), "{warnings:#?}");
    common::journal::assert_no_repeats(&journal);
    // the lease is given back at the end
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(sim.client("lead").await.unwrap(), "kube-system");
    assert!(leases.get_opt("upshift-rollout").await.unwrap().is_none());
}

/// A PodDisruptionBudget allowing nothing over the `batch` group's workers.
async fn block_batch(sim: &Simulator) {
    let client = sim.client("lead").await.unwrap();
    let api: Api<PodDisruptionBudget> = Api::namespaced(client, "batch");
    let pdb: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "worker-all", "namespace": "batch"},
        "spec": {"minAvailable": 12, "selector": {"matchLabels": {"app": "worker"}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &pdb).await.unwrap();
}

/// Proceeds at gates (overriding red ones) until the drive is held; returns the state.
async fn until_held(h: &mut DriveHandle, secs: u64) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = h.state.borrow_and_update().clone();
        match &s.phase {
            Phase::Held { .. } => return s,
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                } else if g.criteria.iter().any(|c| !c.ok) {
                    h.commands
                        .send(Command::Override {
                            reason: "test: known red".into(),
                        })
                        .unwrap();
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!("expected a held drain, got {other:?} at {:?}", s.current_step()),
        }
        assert!(Instant::now() < deadline, "no held drain in {secs}s: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_held_by_a_budget_offers_each_choice() {
    let sim = sim().await;
    block_batch(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    let mut h = start(&sim, plan, &journal, LEAD).await.unwrap();

    // held past the pod timeout: named pod and budget
    let held = until_held(&mut h, 120).await;
    let Phase::Held { node, pod, why, since } = held.phase.clone() else {
        unreachable!()
    };
    assert!(pod.starts_with("batch/worker-"), "{pod}");
    assert!(why.contains("batch/worker-all"), "{why}");

    // keep waiting: the pod's timeout starts again (at 300x it runs out again soon)
    h.commands.send(Command::KeepWaiting).unwrap();
    let again = until(
        &mut h,
        "held again after another timeout",
        60,
        |s| matches!(&s.phase, Phase::Held { since: later, .. } if *later > since),
    )
    .await;
    let Phase::Held { pod: pod2, .. } = again.phase.clone() else {
        unreachable!()
    };

    // delete the pod: a wrong name is refused; the right one deletes it, once
    h.commands.send(Command::DeletePod { confirm: "nope".into() }).unwrap();
    until(&mut h, "the refusal of a wrong pod name", 10, |s| {
        s.notice.as_deref().is_some_and(|n| n.contains("type the pod's name"))
    })
    .await;
    let short = pod2.rsplit('/').next().unwrap().to_string();
    h.commands.send(Command::DeletePod { confirm: short }).unwrap();

    // the next worker is held too: skip that node
    let third = until_held(&mut h, 120).await;
    let Phase::Held { node: skipped, .. } = third.phase.clone() else {
        unreachable!()
    };
    h.commands.send(Command::SkipNode).unwrap();
    let client = sim.client("lead").await.unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    common::eventually(&sim, Duration::ZERO, 200, "the skipped node uncordoned", || {
        let nodes = nodes.clone();
        let skipped = skipped.clone();
        async move {
            let n = nodes.get(&skipped).await.ok()?;
            (n.spec.unwrap().unschedulable != Some(true)).then_some(())
        }
    })
    .await;

    let j = Journal::open(&journal).unwrap();
    let decisions: Vec<(String, Option<String>)> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Decision { decision, target, .. } => Some((decision.to_string(), target.clone())),
            _ => None,
        })
        .collect();
    assert!(
        decisions.contains(&("keep-waiting".into(), Some(pod.clone()))),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("delete-pod".into(), Some(pod2.clone()))),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("skip-node".into(), Some(skipped.clone()))),
        "{decisions:?}"
    );
    let deletes = j
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Action { action, target, .. } if action == "delete-pod" && *target == pod2))
        .count();
    assert_eq!(deletes, 1);
    let _ = node;
    common::journal::assert_no_repeats(&journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_in_the_middle_of_a_node_group_leaves_no_node_cordoned() {
    let sim = sim().await;
    block_batch(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    let mut h = start(&sim, plan, &journal, LEAD).await.unwrap();
    until_held(&mut h, 120).await;
    h.commands.send(Command::Abort).unwrap();
    let end = until(&mut h, "aborted", 30, |s| matches!(s.phase, Phase::Aborted { .. })).await;
    let Phase::Aborted { detail } = &end.phase else {
        unreachable!()
    };
    assert!(detail.contains("uncordon"), "{detail}");
    let client = sim.client("lead").await.unwrap();
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    let cordoned: Vec<_> = nodes
        .items
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    assert!(cordoned.is_empty(), "left cordoned: {cordoned:?}");
    let j = Journal::open(&journal).unwrap();
    assert!(j.entries().iter().any(|e| matches!(
        &e.what,
        What::Decision {
            decision: Decision::Abort,
            ..
        }
    ) && e.who == LEAD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_driver_is_refused_by_the_lease() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let plan = demo_plan(&sim, |s| matches!(s, Step::ControlPlane)).await;
    let _first = start(&sim, plan.clone(), &dir.path().join("a.jsonl"), LEAD)
        .await
        .unwrap();
    let refused = start(&sim, plan, &dir.path().join("b.jsonl"), "ben@desk")
        .await
        .err()
        .expect("refused");
    assert!(refused.contains("ana@laptop drives this cluster"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_stopped_at_any_moment_resumes_without_repeats() {
    let sim = sim().await;
    relax_ledger(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane | Step::Addon { .. }) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    // stop it after a few journal entries, again and again, like kill -9 would
    let mut stops = 0;
    let mut last_len = 0;
    loop {
        let mut h = start(&sim, plan.clone(), &journal, LEAD).await.unwrap();
        let stop_after = last_len + 3 + stops;
        let finished = loop {
            let s = h.state.borrow_and_update().clone();
            if s.phase == Phase::Done {
                break true;
            }
            if s.phase == Phase::Gate && s.gate.as_ref().is_some_and(|g| g.passable) {
                h.commands.send(Command::Proceed).unwrap();
            } else if s.phase == Phase::Gate && s.gate.as_ref().is_some_and(|g| g.criteria.iter().any(|c| !c.ok)) {
                h.commands.send(Command::Override { reason: "test".into() }).unwrap();
            }
            let len = std::fs::read_to_string(&journal)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if len >= stop_after && stops < 6 {
                break false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), h.state.changed()).await;
        };
        if finished {
            break;
        }
        h.task.abort();
        let _ = h.task.await;
        stops += 1;
        last_len = std::fs::read_to_string(&journal).unwrap().lines().count();
        // the lease is this operator's: the next start takes it back at once
    }
    assert!(stops >= 3, "stopped only {stops} times");
    common::journal::assert_no_repeats(&journal);
    let by_minor = nodes_by_minor(&sim).await;
    assert!(by_minor.contains_key("1.35"), "{by_minor:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_cockpit_follows_each_gate_decision() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| matches!(s, Step::ControlPlane | Step::Addon { .. })).await;
    let gates: Vec<String> = plan.steps[..2]
        .iter()
        .map(|s| GateId::before(s.id()).to_string())
        .collect();
    // the shadow: a viewer's cockpit, fed by its own watches
    let viewer = sim.client("viewer").await.unwrap();
    let clock = sim.clock();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let _watches = upshift::cluster::ClusterReader::new(viewer).start(tx);
    let mut shadow = Cockpit::new(connection("viewer", &sim), clock.now());

    let mut h = start(&sim, plan, &journal, LEAD).await.unwrap();
    for gate in gates.iter().map(String::as_str) {
        let s = until(&mut h, "the gate open and passable", 60, |s| {
            s.gate.as_ref().is_some_and(|g| g.id.to_string() == gate && g.passable)
        })
        .await;
        assert_eq!(s.phase, Phase::Gate);
        h.commands.send(Command::Proceed).unwrap();
        let decided = Instant::now();
        loop {
            if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
                shadow.apply(d);
            }
            let seen = shadow.rollout.as_ref().and_then(|r| r.gate.as_ref()).is_some_and(|g| {
                g.id.to_string() == gate && g.decision.as_deref() == Some(&format!("proceed by {LEAD}"))
            });
            if seen {
                break;
            }
            assert!(
                decided.elapsed() < Duration::from_secs(2),
                "the shadow did not see the decision at {gate} within 2s: {:?}",
                shadow.rollout.as_ref().map(|r| (&r.phase, &r.gate))
            );
        }
    }
    let r = shadow.rollout.clone().unwrap();
    assert_eq!(r.lead, LEAD);
    assert!(
        shadow
            .log
            .entries()
            .iter()
            .any(|e| e.reason == "Decision" && e.message.contains("decided proceed"))
    );
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "the shadow wrote");
}

/// Proceeds at every gate (passing a red one with a reason) until the drive stops at
/// something else, which it returns.
async fn until_not_gated(h: &mut DriveHandle, secs: u64) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = h.state.borrow_and_update().clone();
        match &s.phase {
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                let command = if g.passable {
                    Command::Proceed
                } else if g.criteria.iter().any(|c| !c.ok && c.name != "cluster view") {
                    Command::Override {
                        reason: "test: the budget is meant to block".into(),
                    }
                } else {
                    Command::Pause // never sent: settling
                };
                if command != Command::Pause {
                    h.commands.send(command).unwrap();
                }
            }
            Phase::Running | Phase::Starting => {}
            _ => return s,
        }
        assert!(Instant::now() < deadline, "still going after {secs}s: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_managed_group_names_what_held_it_and_drops_its_running_lines() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    // the ledger's budget (minAvailable 2 of 2) holds the apps group's update
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "apps")
    })
    .await;
    let mut h = start(&sim, plan, &journal, LEAD).await.unwrap();
    let s = until_not_gated(&mut h, 180).await;
    let Phase::Failed { why, what_to_do, .. } = &s.phase else {
        panic!("the apps group's update should fail: {s:?}")
    };
    assert!(why.contains("PodEvictionFailure"), "{why}");
    // the pods and the budget on the node EKS names, read from the cluster
    assert!(
        what_to_do.contains("pod payments/ledger-")
            && what_to_do.contains("held by PodDisruptionBudget payments/ledger (")
            && what_to_do.contains("0 disruptions allowed"),
        "{what_to_do}"
    );
    let step = s.current_step().unwrap();
    assert_eq!(step.id, StepId::Nodegroup("apps".into()));
    // what it was doing while it ran is not said of a step that failed
    assert!(
        !step.what.contains("InProgress") && !step.detail.contains("UPDATING") && !step.detail.contains("replacing"),
        "{step:?}"
    );
    h.commands.send(Command::Abort).unwrap();
}
