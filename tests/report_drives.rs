//! `upshift report` on the journals of real drives against the simulator — a clean
//! rollout, a red gate overridden, an abort, a held drain released — compared with
//! reviewed Markdown snapshots. What changes from run to run (times, durations, node,
//! pod and instance names, update ids, the journal's path) is normalised first.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Inspect;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, PostParams};
use upshift::cockpit::Cockpit;
use upshift::model::RolloutState;
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::plan::{self, Environment, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

const LEAD: &str = "ana@laptop";

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
    let handle = prepare(setup).await.unwrap().start();
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

/// The lead: proceeds at green gates, overrides a gate red for 3 s with `reason`,
/// until `stop` holds of the state.
async fn lead(h: &mut DriveHandle, reason: &str, secs: u64, stop: impl Fn(&RolloutState) -> bool) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut red_since: Option<(String, Instant)> = None;
    loop {
        let s = h.state.borrow_and_update().clone();
        if stop(&s) {
            return s;
        }
        if let (Phase::Gate, Some(g)) = (&s.phase, &s.gate) {
            if g.passable {
                h.commands.send(Command::Proceed).unwrap();
            } else if g.criteria.iter().any(|c| !c.ok) {
                match &red_since {
                    Some((id, t)) if *id == g.id.to_string() && t.elapsed() > Duration::from_secs(3) => {
                        h.commands
                            .send(Command::Override {
                                reason: reason.to_string(),
                            })
                            .unwrap();
                        red_since = None;
                    }
                    Some((id, _)) if *id == g.id.to_string() => {}
                    _ => red_since = Some((g.id.to_string(), Instant::now())),
                }
            }
        }
        assert!(Instant::now() < deadline, "gave up after {secs}s: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

fn done(s: &RolloutState) -> bool {
    s.phase == Phase::Done
}

fn held(s: &RolloutState) -> bool {
    matches!(s.phase, Phase::Held { .. })
}

/// A PodDisruptionBudget allowing nothing over the `batch` group's workers.
async fn block_batch(sim: &Simulator) -> Api<PodDisruptionBudget> {
    let api: Api<PodDisruptionBudget> = Api::namespaced(sim.client("lead").await.unwrap(), "batch");
    let pdb: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "worker-all", "namespace": "batch"},
        "spec": {"minAvailable": 12, "selector": {"matchLabels": {"app": "worker"}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &pdb).await.unwrap();
    api
}

/// The report's Markdown with what changes from run to run replaced by its kind.
fn normalised(markdown: &str, journal: &Path) -> String {
    let text = markdown.replace(&journal.display().to_string(), "JOURNAL");
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let keep = |c: char| c.is_ascii_alphanumeric() || "._:/-".contains(c);
    for c in text.chars().chain(std::iter::once('\n')) {
        if keep(c) {
            word.push(c);
            continue;
        }
        out.push_str(&token(&word));
        word.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn token(w: &str) -> String {
    // a word ending a clause ("held by batch/worker-…:"): the colon is not part of it
    if let Some(head) = w.strip_suffix(':')
        && !head.is_empty()
    {
        return format!("{}:", token(head));
    }
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = w.split(':').collect();
    if parts.len() >= 2 && parts.iter().all(|p| digits(p)) {
        return if parts.len() == 3 { "hh:mm:ss" } else { "hh:mm" }.into();
    }
    let dashes: Vec<&str> = w.split('-').collect();
    if dashes.len() == 3 && dashes.iter().all(|p| digits(p)) {
        return "YYYY-MM-DD".into();
    }
    if w.len() >= 2 && w.ends_with(['h', 'm', 's']) && digits(&w[..w.len() - 1]) {
        return "Nt".into();
    }
    if let Some(digest) = w.strip_prefix("sha256:")
        && !digest.is_empty()
    {
        return "sha256:DIGEST".into();
    }
    if w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit()) && w.chars().any(|c| c.is_ascii_alphabetic()) {
        return "HEX".into();
    }
    if w.starts_with("ip-") {
        return "NODE".into();
    }
    if w.starts_with("i-") && w[2..].chars().all(|c| c.is_ascii_hexdigit()) {
        return "INSTANCE".into();
    }
    if dashes.len() == 5 && dashes.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())) {
        return "UUID".into();
    }
    // pods' generated suffixes: a dash-separated part that mixes letters and digits
    let (head, tail) = match w.rsplit_once('/') {
        Some((h, t)) => (format!("{h}/"), t),
        None => (String::new(), w),
    };
    let generated = |p: &str| {
        p.len() >= 5
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars().any(|c| c.is_ascii_digit())
            && p.chars().any(|c| c.is_ascii_lowercase())
    };
    let n = tail.split('-').count();
    // a pod of a ReplicaSet ends in five of the API server's random characters
    // (consonants and digits, no vowels: "plane" is a word, "54vvh" is not)
    let random = |i: usize, p: &str| {
        !head.is_empty()
            && i + 1 == n
            && n > 1
            && p.len() == 5
            && p.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
    };
    let parts: Vec<String> = tail
        .split('-')
        .enumerate()
        .map(|(i, p)| {
            if i > 0 && (generated(p) || random(i, p)) {
                "X".to_string()
            } else {
                p.to_string()
            }
        })
        .collect();
    format!("{head}{}", parts.join("-"))
}

fn report(journal: &Path) -> String {
    let loaded = upshift::report::read(journal).unwrap();
    let r = upshift::report::Report::from_entries(&journal.display().to_string(), &loaded);
    normalised(&upshift::report::markdown::render(&r), journal)
}

#[test]
fn the_normaliser_keeps_what_is_stable() {
    let j = Path::new("/tmp/x/journal.jsonl");
    assert_eq!(
        normalised(
            "`/tmp/x/journal.jsonl` 2026-12-01 04:48 → 06:16:53 (1h 28m, 12s) ip-10-0-0-10.eu-west-1.compute.internal batch/worker-8gg2s9l-qzqrx i-0abc 0fa85ab6-6d35-4f59-a58a-6a6790df24ba drive 646ac155ec6dcad5 sha256:77d6 payments/ledger 12 healthy 1.31 v1.11.3-eksbuild.1",
            j
        ),
        "`JOURNAL` YYYY-MM-DD hh:mm → hh:mm:ss (Nt Nt, Nt) NODE batch/worker-X-X INSTANCE UUID drive HEX sha256:DIGEST payments/ledger 12 healthy 1.31 v1.11.3-eksbuild.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_rollout() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| matches!(s, Step::ControlPlane)).await;
    let mut h = start(&sim, plan, &journal).await;
    lead(&mut h, "not expected", 120, done).await;
    let _ = h.task.await;
    insta::assert_snapshot!("report_clean", report(&journal));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_gate_overridden() {
    let sim = common::start_at("demo", 300.0).await;
    // a pod no node can take: the gate's unscheduled pods stay red
    let pods: Api<Pod> = Api::namespaced(sim.client("lead").await.unwrap(), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "too-big", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "500"}}}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| matches!(s, Step::ControlPlane)).await;
    let mut h = start(&sim, plan, &journal).await;
    lead(&mut h, "rehearsal: default/too-big is known not to fit", 120, done).await;
    let _ = h.task.await;
    let md = report(&journal);
    assert!(md.contains("**override**"), "{md}");
    insta::assert_snapshot!("report_override", md);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort() {
    let sim = common::start_at("demo", 300.0).await;
    block_batch(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    let mut h = start(&sim, plan, &journal).await;
    lead(&mut h, "rehearsal: drain blockers expected", 180, held).await;
    h.commands.send(Command::Abort).unwrap();
    lead(&mut h, "not expected", 60, |s| matches!(s.phase, Phase::Aborted { .. })).await;
    let _ = h.task.await;
    let md = report(&journal);
    assert!(md.contains(": aborted by ana@laptop"), "{md}");
    insta::assert_snapshot!("report_abort", md);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_drain_released() {
    let sim = common::start_at("demo", 300.0).await;
    let pdbs = block_batch(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = demo_plan(&sim, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "batch")
    })
    .await;
    let mut h = start(&sim, plan, &journal).await;
    lead(&mut h, "rehearsal: drain blockers expected", 180, held).await;
    // the lead keeps waiting; the budget's owner relaxes it and the drain goes on
    h.commands.send(Command::KeepWaiting).unwrap();
    pdbs.delete("worker-all", &DeleteParams::default()).await.unwrap();
    lead(&mut h, "rehearsal: drain blockers expected", 300, done).await;
    let _ = h.task.await;
    let md = report(&journal);
    assert!(md.contains("keep-waiting"), "{md}");
    insta::assert_snapshot!("report_held_drain", md);
}
