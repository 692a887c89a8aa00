//! A drive within a maintenance window, and a drive handed from one operator to
//! another, in-process against the simulator: a step that cannot finish before the
//! window closes is red at its gate and passes only with a journaled override; a stop
//! at a safe point finishes the batch under way, leaves no node cordoned, and the same
//! command resumes; a handover is journaled with both names, leaves the lease to the
//! operator named (anyone else is refused), and the report says who drove each step.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Inspect;
use common::drive::{LEAD, criterion, override_every_red_gate, plan_for, start_as, until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use upshift::model::journal::{Decision, GateId, StepId, Subject, What};
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveOptions, WindowLimit};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Step;
use upshift::sim::Simulator;

fn options(window: Option<WindowLimit>) -> DriveOptions {
    DriveOptions {
        poll: Duration::from_millis(100),
        window,
        ..Default::default()
    }
}

fn decisions(journal: &Path, d: Decision) -> Vec<upshift::model::journal::Entry> {
    Journal::open(journal)
        .unwrap()
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Decision { decision, .. } if *decision == d))
        .cloned()
        .collect()
}

/// The ledger's budget allows no disruption with 2 replicas: a third lets drains through.
async fn relax_ledger(sim: &Simulator) {
    let client = sim.client("lead").await.unwrap();
    Api::<Deployment>::namespaced(client, "payments")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
}

/// The `batch` group's nodes: how many are cordoned, on the target, in all.
async fn batch_nodes(sim: &Simulator, target: &str) -> (usize, usize, usize) {
    let client = sim.client("lead").await.unwrap();
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    let mut out = (0, 0, 0);
    for n in nodes.items {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        if !labels.values().any(|v| v == "batch") {
            continue;
        }
        if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            out.0 += 1;
        }
        let v = n.status.unwrap().node_info.unwrap().kubelet_version;
        if v.starts_with(&format!("v{target}")) {
            out.1 += 1;
        }
        out.2 += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_cannot_finish_before_the_window_closes_needs_an_override() {
    // real-time speed: the window's minutes hold still while the test looks
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(&sim, "demo", None, |s| matches!(s, Step::ControlPlane)).await;
    let closes = sim.clock().now() + jiff::SignedDuration::from_mins(12);
    let mut window = WindowLimit::new("tue-night", closes);
    window.outside_override = Some("change CHG-42: the platform team agreed to start early".into());
    let mut h = start_as(&sim, plan, &journal, LEAD, options(Some(window)))
        .await
        .unwrap();

    let s = until(&mut h, "the window red at the control plane's gate", 60, |s| {
        criterion(s, "maintenance window").is_some_and(|c| !c.ok)
    })
    .await;
    let c = criterion(&s, "maintenance window").unwrap();
    assert!(
        c.detail
            .starts_with("window tue-night closes in 11m; control plane expected 25m")
            || c.detail
                .starts_with("window tue-night closes in 12m; control plane expected 25m"),
        "{}",
        c.detail
    );
    // Enter will not pass it
    h.commands.send(Command::Proceed).unwrap();
    let s = until(&mut h, "the proceed refused", 30, |s| s.notice.is_some()).await;
    let notice = s.notice.unwrap();
    assert!(notice.contains("maintenance window"), "{notice}");
    assert_eq!(s.phase, Phase::Gate);

    // an override with a typed reason does, journaled
    let reason = "control plane only tonight, agreed with the service owners";
    h.commands.send(Command::Override { reason: reason.into() }).unwrap();
    let s = until(&mut h, "the control plane running, the window's end near", 60, |s| {
        s.phase == Phase::Running
            && s.window
                .as_ref()
                .and_then(|w| w.warning.as_deref())
                .is_some_and(|w| w.contains("control plane expected"))
    })
    .await;
    let warning = s.window.unwrap().warning.unwrap();
    assert!(
        warning.contains("control plane expected") && warning.contains("stop at a safe point"),
        "{warning}"
    );
    h.commands
        .send(Command::Stop {
            reason: "test over".into(),
        })
        .unwrap();
    h.task.await.unwrap().unwrap();

    let overrides = decisions(&journal, Decision::Override);
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    match &overrides[0].what {
        What::Decision { step, reason: r, .. } => {
            assert_eq!(step, &Some(Subject::Gate(GateId::before(StepId::ControlPlane))));
            assert_eq!(r.as_deref(), Some(reason));
        }
        other => panic!("{other:?}"),
    }
    let j = Journal::open(&journal).unwrap();
    let accepted: Vec<String> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Accept { items, .. } => Some(items.iter().map(|i| i.item.clone()).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(accepted.contains(&"window tue-night".to_string()), "{accepted:?}");
    let closing = j
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Event { reason, .. } if reason == "WindowClosing"))
        .count();
    assert_eq!(closing, 1, "the lead is told once in the journal");
    // driving outside the window: the lead's reason, journaled once as the drive began
    let outside = decisions(&journal, Decision::OutsideWindow);
    assert_eq!(outside.len(), 1);
    assert!(
        matches!(&outside[0].what, What::Decision { reason: Some(r), target: Some(t), .. } if r.contains("CHG-42") && t == "tue-night"),
        "{outside:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_at_a_safe_point_finishes_the_batch_and_the_same_command_resumes() {
    let sim = common::start_at("demo", 300.0).await;
    relax_ledger(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(&sim, "demo", None, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    let target = plan.target.clone();
    let window = || WindowLimit::new("tue-night", sim.clock().now() + jiff::SignedDuration::from_hours(10));
    let mut h = start_as(&sim, plan.clone(), &journal, LEAD, options(Some(window())))
        .await
        .unwrap();
    let group_gate = GateId::before(StepId::Nodegroup("batch".into()));
    // the lead passes each gate; as the node group's first batch starts, asks to stop
    loop {
        let s = h.state.borrow_and_update().clone();
        assert!(!s.finished(), "finished before the node group: {s:?}");
        if s.phase == Phase::Gate {
            let g = s.gate.clone().unwrap();
            let judged = g.criteria.iter().all(|c| !c.detail.starts_with("not judged"));
            if g.passable {
                h.commands.send(Command::Proceed).unwrap();
            } else if judged && g.criteria.iter().any(|c| !c.ok) {
                h.commands.send(Command::Override { reason: "test".into() }).unwrap();
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
                continue;
            }
            if g.id == group_gate {
                h.commands.send(Command::StopAtSafePoint).unwrap();
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
    let end = tokio::time::timeout(Duration::from_secs(180), h.task)
        .await
        .expect("the drive stops at the next safe point")
        .unwrap()
        .unwrap();
    assert_eq!(end.phase, Phase::Gate, "{end:?}");
    let gate = end.gate.clone().unwrap();
    assert_eq!(gate.id, GateId::batch(StepId::Nodegroup("batch".into()), 2), "{end:?}");
    assert!(
        end.notice
            .as_deref()
            .is_some_and(|n| n.contains("stopped at a safe point")),
        "{end:?}"
    );
    // the batch under way finished: one node replaced, none left cordoned
    let (cordoned, new, all) = batch_nodes(&sim, &target).await;
    assert_eq!(cordoned, 0, "a node was left cordoned");
    assert!(new >= 1 && new < all, "{new} of {all} on {target}");
    // journaled as a decision naming the window; the lease given up
    let stops = decisions(&journal, Decision::StopAtSafePoint);
    assert_eq!(stops.len(), 1);
    assert!(
        matches!(&stops[0].what, What::Decision { reason: Some(r), .. } if r.contains("window tue-night closes in")),
        "{stops:?}"
    );
    let leases: Api<Lease> = Api::namespaced(sim.client("lead").await.unwrap(), "kube-system");
    assert!(leases.get_opt("upshift-rollout").await.unwrap().is_none());

    // the same command resumes at the same gate and goes on to the end
    let mut h = start_as(&sim, plan, &journal, LEAD, options(Some(window())))
        .await
        .unwrap();
    let s = until(&mut h, "the batch's gate again", 60, |s| s.phase == Phase::Gate).await;
    assert_eq!(s.gate.unwrap().id, gate.id);
    let (end, _) = override_every_red_gate(&mut h, "test", 180).await;
    assert_eq!(end.phase, Phase::Done);
    let (cordoned, new, all) = batch_nodes(&sim, &target).await;
    assert_eq!((cordoned, new), (0, all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_leaves_the_drive_to_the_operator_named_and_the_report_says_who_drove() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(&sim, "demo", None, |s| matches!(s, Step::ControlPlane)).await;
    let mut h = start_as(&sim, plan.clone(), &journal, LEAD, options(None))
        .await
        .unwrap();
    until(&mut h, "the control plane's gate", 60, |s| s.phase == Phase::Gate).await;
    // nobody: refused, nothing journaled
    h.commands.send(Command::Handover { to: " ".into() }).unwrap();
    until(&mut h, "the empty name refused", 30, |s| s.notice.is_some()).await;
    h.commands.send(Command::Handover { to: "bo".into() }).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(30), h.task)
        .await
        .expect("the drive stops once handed over")
        .unwrap()
        .unwrap();
    assert_eq!(end.handed_to.as_deref(), Some("bo"));
    let handovers = decisions(&journal, Decision::Handover);
    assert_eq!(handovers.len(), 1);
    assert_eq!(handovers[0].who, LEAD);
    assert!(matches!(&handovers[0].what, What::Decision { target: Some(t), .. } if t == "bo"));

    // a third operator, and the previous lead, are refused naming who may drive
    for other in ["cy@desk", LEAD] {
        let e = start_as(&sim, plan.clone(), &journal, other, options(None))
            .await
            .err()
            .unwrap_or_else(|| panic!("{other} was let in"));
        assert!(e.is_refusal(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("handed this cluster's drive over to bo") && text.contains("only bo may drive"),
            "{text}"
        );
    }
    // the operator named takes it without --take-over, and drives to the end
    let mut h = start_as(&sim, plan, &journal, "bo@desk", options(None)).await.unwrap();
    let (end, _) = override_every_red_gate(&mut h, "test", 120).await;
    assert_eq!(end.phase, Phase::Done);

    let loaded = upshift::report::read(&journal).unwrap();
    let report = upshift::report::Report::from_entries("journal.jsonl", &loaded);
    let cp = report.steps.iter().find(|s| s.step == "control-plane").unwrap();
    assert_eq!(cp.driven_by, ["bo@desk"]);
    assert_eq!(report.handovers.len(), 1);
    assert_eq!(
        (report.handovers[0].from.as_str(), report.handovers[0].to.as_str()),
        (LEAD, "bo")
    );
    let text = upshift::report::text::render(&report);
    assert!(text.contains("ana@laptop handed the drive to bo"), "{text}");
    assert!(text.contains("driven by bo@desk"), "{text}");
}

/// Reads `child`'s stdout lines, answering each with what `answer` returns, until it
/// exits; returns its lines.
fn answer_lines(mut child: std::process::Child, answer: impl Fn(&str) -> Option<String>) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // stderr drained aside: the journal goes there
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        if let Some(e) = stderr {
            for _ in BufReader::new(e).lines() {}
        }
    });
    let mut lines = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(a) = answer(&line) {
            let _ = writeln!(stdin, "{a}");
        }
        lines.push(line);
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {lines:#?}");
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headless_drive_takes_its_window_and_a_handover_from_the_command_line() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let p = plan_for(&sim, "demo", None, |s| matches!(s, Step::ControlPlane)).await;
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(None)).unwrap();
    let closes = (sim.clock().now() + jiff::SignedDuration::from_mins(12)).to_string();
    let d = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let (first, refused, last) = tokio::task::spawn_blocking(move || {
        let window = ["--window-closes", closes.as_str(), "--window-name", "tue-night"];
        // ana, at the red window gate, hands over to bo
        let child = common::bin::drive_command(&d, &s2, "ana", &window).spawn().unwrap();
        let first = answer_lines(child, |l| {
            (l.starts_with("at gate") && l.contains("maintenance window")).then(|| "handover bo".to_string())
        });
        // cy is refused, naming bo
        let out = common::bin::drive_command(&d, &s2, "cy", &window).output().unwrap();
        let refused = (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string());
        // bo takes over, passes the red window with a reason, and finishes
        let child = common::bin::drive_command(&d, &s2, "bo", &window).spawn().unwrap();
        let overridden = std::sync::atomic::AtomicBool::new(false);
        let last = answer_lines(child, |l| {
            let red = l.starts_with("at gate") && l.contains(" red: ");
            (red && !overridden.swap(true, std::sync::atomic::Ordering::SeqCst))
                .then(|| "override the change covers the control plane tonight".to_string())
        });
        (first, refused, last)
    })
    .await
    .unwrap();
    assert!(
        first
            .iter()
            .any(|l| l.contains("maintenance window: window tue-night closes in")
                && l.contains("control plane expected 25m")),
        "{first:#?}"
    );
    assert!(
        first.last().is_some_and(|l| l.contains("handed over to bo")),
        "{first:#?}"
    );
    assert_eq!(refused.0, Some(2), "{}", refused.1);
    assert!(refused.1.contains("only bo may drive"), "{}", refused.1);
    assert!(last.iter().any(|l| l.starts_with("done")), "{last:#?}");
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let host = upshift::rollout::journal::host_name();
    let handover = j
        .entries()
        .iter()
        .find(|e| {
            matches!(
                &e.what,
                What::Decision {
                    decision: Decision::Handover,
                    ..
                }
            )
        })
        .expect("the handover journaled");
    assert_eq!(handover.who, format!("ana@{host}"));
    let done_by = j
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Step { .. }))
        .map(|e| e.who.clone())
        .collect::<Vec<_>>();
    assert_eq!(done_by, [format!("bo@{host}"), format!("bo@{host}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_strip_reaches_the_shadows_through_the_configmap() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use upshift::model::campaign::{CampaignStrip, StripCluster, StripStage, StripWindow};
    use upshift::model::rollout::Published;
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_for(&sim, "demo", None, |s| matches!(s, Step::ControlPlane)).await;
    let closes = sim.clock().now() + jiff::SignedDuration::from_hours(2);
    let strip = CampaignStrip {
        name: "q4-upgrade".into(),
        target: plan.target.clone(),
        stages: vec![StripStage {
            name: "production".into(),
            clusters: vec![StripCluster {
                name: "demo".into(),
                state: "running".into(),
            }],
        }],
        driving: "demo".into(),
        window: Some(StripWindow {
            name: "tue-night".into(),
            opens: None,
            closes: Some(closes),
        }),
        ..Default::default()
    };
    let mut options = options(Some(WindowLimit::new("tue-night", closes)));
    options.campaign = Some(strip.clone());
    let mut h = start_as(&sim, plan, &dir.path().join("journal.jsonl"), LEAD, options)
        .await
        .unwrap();
    until(&mut h, "the first gate", 60, |s| s.phase == Phase::Gate).await;
    // what a shadow reads: the ConfigMap, with a viewer's credentials
    let viewer: Api<ConfigMap> = Api::namespaced(sim.client("viewer").await.unwrap(), "kube-system");
    let mut published = None;
    for _ in 0..100 {
        if let Some(p) = viewer
            .get_opt("upshift-rollout")
            .await
            .unwrap()
            .as_ref()
            .and_then(Published::from_config_map)
            .filter(|p| p.state.campaign.is_some())
        {
            published = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = published.expect("the strip published");
    assert_eq!(p.state.campaign, Some(strip));
    assert_eq!(
        p.state.window.map(|w| (w.name, w.closes)),
        Some(("tue-night".to_string(), Some(closes)))
    );
    h.commands
        .send(Command::Stop {
            reason: "test over".into(),
        })
        .unwrap();
    h.task.await.unwrap().unwrap();
}
