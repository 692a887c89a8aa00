//! Availability as the drive judges it, end to end against the simulated `demo`
//! cluster: a Service whose pods are all gone turns a gate red; an override accepts
//! only the red items it named, and later gates show them accepted while anything new
//! is red again; postflight names a critical component below the target's minimum;
//! and the rehearsal as a lead who overrides every red gate: the crash loop of
//! shop/recommendations on 1.35 is named at the gate after the first replacements,
//! accepted thereafter, and named again on the done screen as an open problem.

mod common;

use std::time::{Duration, Instant};

use common::drive::{criterion, plan_for, start, until};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use upshift::model::journal::{StepId, What};
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{Plan, Step};
use upshift::sim::Simulator;

/// The plan upshift proposes for the demo, with short waits; `keep` picks its steps.
async fn demo_plan(sim: &Simulator, keep: impl Fn(&Step) -> bool) -> Plan {
    plan_for(sim, "demo", None, keep).await
}

async fn scale(sim: &Simulator, ns: &str, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(sim.client("lead").await.unwrap(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_pods_are_gone_is_red_and_an_override_accepts_only_what_it_named() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let mut plan = demo_plan(&sim, |s| matches!(s, Step::ControlPlane | Step::Addon { .. })).await;
    plan.steps.truncate(2);
    assert_eq!(plan.steps.len(), 2, "{:?}", plan.steps);
    let mut h = start(&sim, plan, &journal).await;
    const SERVICES: &str = "Services with endpoints";
    until(&mut h, "a judged gate", 60, |s| {
        criterion(s, SERVICES).is_some_and(|c| c.ok)
    })
    .await;

    // shop/cart's pods all go: its Service has no ready endpoint, and the gate says so
    scale(&sim, "shop", "cart", 0).await;
    let s = until(&mut h, "the Service criterion red", 60, |s| {
        criterion(s, SERVICES).is_some_and(|c| !c.ok)
    })
    .await;
    let c = criterion(&s, SERVICES).unwrap();
    assert!(c.detail.contains("shop/cart"), "{c:?}");
    assert_eq!(c.items.len(), 1, "{c:?}");
    h.commands
        .send(Command::Override {
            reason: "cart retired on purpose".into(),
        })
        .unwrap();

    // the next gate: the cart accepted, by whom and why
    let s = until(&mut h, "the gate before the add-on", 120, |s| {
        s.gate.as_ref().is_some_and(|g| g.id.step != StepId::ControlPlane) && criterion(s, SERVICES).is_some()
    })
    .await;
    let c = criterion(&s, SERVICES).unwrap();
    assert!(c.ok, "{c:?}");
    assert_eq!(
        c.accepted.as_deref(),
        Some("accepted by ana@laptop: cart retired on purpose")
    );

    // something new: red again, naming only the new one
    scale(&sim, "shop", "search", 0).await;
    let s = until(&mut h, "the new Service red", 60, |s| {
        criterion(s, SERVICES).is_some_and(|c| !c.ok)
    })
    .await;
    let c = criterion(&s, SERVICES).unwrap();
    let items: Vec<&str> = c.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(items, ["Service shop/search without endpoints"], "{c:?}");

    // the journal holds what the override accepted: the cart, nothing more
    let j = Journal::open(&journal).unwrap();
    let accepted: Vec<Vec<String>> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Accept { items, .. } => Some(items.iter().map(|i| i.item.clone()).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, [vec!["Service shop/cart without endpoints".to_string()]]);
    assert!(
        j.entries().iter().any(|e| matches!(&e.what, What::Baseline { .. })),
        "the baseline is journaled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postflight_names_a_component_below_the_targets_minimum() {
    let sim = common::start("demo").await;
    let reader = upshift::cluster::ClusterReader::new(sim.client("lead").await.unwrap());
    let short = upshift::rollout::steps::postflight::components_short(&reader, "1.35")
        .await
        .unwrap();
    assert!(
        short.iter().any(|s| s.contains("cluster-autoscaler")),
        "cluster-autoscaler v1.34.0 on 1.35: {short:?}"
    );
    let on_its_own_minor = upshift::rollout::steps::postflight::components_short(&reader, "1.34")
        .await
        .unwrap();
    assert!(
        !on_its_own_minor.iter().any(|s| s.contains("cluster-autoscaler")),
        "{on_its_own_minor:?}"
    );
}

/// The rehearsal as a lead who overrides every red gate with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_names_the_crash_loop_accepts_it_and_lists_it_when_done() {
    let sim = common::start_at("demo", 300.0).await;
    // the ledger's budget would hold every drain: a third replica lets them through
    scale(&sim, "payments", "ledger", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |_| true).await;
    let mut h = start(&sim, plan, &journal).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut named_red = false;
    let mut accepted_later = false;
    let mut overridden: Option<String> = None;
    let end = loop {
        let s = h.state.borrow_and_update().clone();
        match &s.phase {
            Phase::Done => break s,
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                if let Some(c) = g.criteria.iter().find(|c| c.name == "workloads available") {
                    if !c.ok && c.detail.contains("Deployment shop/recommendations down") {
                        named_red = true;
                    }
                    if named_red && c.ok && c.accepted.is_some() {
                        accepted_later = true;
                    }
                }
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                } else if g.criteria.iter().any(|c| !c.ok) && overridden.as_deref() != Some(&g.id.to_string()) {
                    // give a red gate a moment (it may be settling), then pass it with a reason
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let now = h.state.borrow().clone();
                    if now.phase == Phase::Gate && now.gate.as_ref().is_some_and(|n| n.id == g.id && !n.passable) {
                        h.commands
                            .send(Command::Override {
                                reason: "rehearsal: known".into(),
                            })
                            .unwrap();
                        overridden = Some(g.id.to_string());
                    }
                }
            }
            Phase::Failed { .. } if s.current_step().is_some_and(|v| v.id == StepId::Preflight) => {
                if overridden.as_deref() != Some("preflight") {
                    h.commands
                        .send(Command::Override {
                            reason: "rehearsal: insight reviewed".into(),
                        })
                        .unwrap();
                    overridden = Some("preflight".into());
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!("the drive stopped at {other:?} in {:?}", s.current_step()),
        }
        assert!(Instant::now() < deadline, "the rehearsal did not finish: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    };
    assert!(named_red, "no gate named shop/recommendations down");
    assert!(accepted_later, "no later gate showed the crash loop as accepted");
    let all = end.problems.join("\n");
    eprintln!("the verdict:\n{all}");
    assert!(all.contains("Deployment shop/recommendations"), "{all}");
    assert!(all.contains("cluster-autoscaler"), "{all}");
    assert!(
        all.contains("pod default/debug-shell had no controller and is gone"),
        "{all}"
    );
    let line = upshift::headless::drive::state_line(&end);
    assert!(line.contains("open problems"), "{line}");
    let j = Journal::open(&journal).unwrap();
    assert!(
        j.entries()
            .iter()
            .any(|e| matches!(&e.what, What::Verdict { problems } if !problems.is_empty())),
        "the verdict is journaled"
    );
    common::journal::assert_no_repeats(&journal);
}
