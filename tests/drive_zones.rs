//! The gate before a node group's batch against the simulated `stateful` cluster:
//! postgres and redis keep an EBS volume per zone on the `data` group's one node per
//! zone. The group's next batch (one node) would leave its zone no node the pods may
//! run on (the zone's other node is an apps node, which their selector refuses), so
//! the gate is red, naming the zone, the pods and their volumes; an override with a
//! reason accepts exactly those items.

mod common;

use common::drive::{criterion, plan_for, start, until};
use upshift::model::rollout::Command;
use upshift::rollout::drive::zones::NAME;
use upshift::rollout::plan::Step;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_empties_a_zone_of_room_for_volume_pods_is_red_at_its_gate() {
    let sim = common::start_at("stateful", 60.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let plan = plan_for(
        &sim,
        "stateful",
        None,
        |s| matches!(s, Step::Nodegroup(g) if g.name == "data"),
    )
    .await;
    assert_eq!(plan.steps.len(), 1, "{:?}", plan.steps);
    let mut h = start(&sim, plan, &journal).await;
    let s = until(&mut h, "the zonal criterion judged, red", 90, |s| {
        criterion(s, NAME).is_some_and(|c| !c.ok)
    })
    .await;
    let c = criterion(&s, NAME).unwrap();
    assert!(c.detail.contains("the next batch of data ("), "{c:?}");
    let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        .into_iter()
        .find(|z| c.detail.contains(&format!("{z}: data/")))
        .unwrap_or_else(|| panic!("no zone named: {c:?}"));
    assert!(c.detail.contains("(volume data-postgres-"), "{c:?}");
    assert!(!c.items.is_empty(), "{c:?}");
    assert!(
        c.items
            .iter()
            .all(|i| i.item.starts_with(&format!("{zone} without room for data/"))),
        "{c:?}"
    );
    assert!(!s.gate.as_ref().unwrap().passable);

    // the lead overrides with a reason: the same items read as accepted
    h.commands
        .send(Command::Override {
            reason: "postgres fails over to its replicas".into(),
        })
        .unwrap();
    let _ = until(&mut h, "the gate passed", 60, |s| {
        s.gate.as_ref().is_none_or(|g| g.decision.is_some()) || criterion(s, NAME).is_some_and(|c| c.ok)
    })
    .await;
    let j = upshift::rollout::journal::Journal::open(&journal).unwrap();
    let accepted: Vec<String> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            upshift::model::journal::What::Accept { items, .. } => Some(items.iter().map(|i| i.item.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    for i in &c.items {
        assert!(accepted.contains(&i.item), "{} not accepted: {accepted:?}", i.item);
    }
}

/// `upshift drive --headless` on the same cluster, the control plane first (a plan
/// must have it before a node group): the state line at the gate before the data
/// group names the criterion, the zone and a postgres pod with its volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_drive_prints_the_zone_its_batch_empties() {
    use std::io::{BufRead, BufReader, Write};
    use std::time::{Duration, Instant};

    let sim = common::start_at("stateful", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let plan = plan_for(&sim, "stateful", None, |s| {
        matches!(s, Step::ControlPlane) || matches!(s, Step::Nodegroup(g) if g.name == "data")
    })
    .await;
    std::fs::write(dir.path().join("plan.yaml"), plan.to_yaml(None)).unwrap();
    let d = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let line = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = common::bin::spawn_drive(&d, &s2);
        let mut stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let mut found = None;
        for line in stdout.lines().map_while(Result::ok) {
            if line.starts_with("at gate") && line.contains(&format!("{NAME}: the next batch of data")) {
                found = Some(line);
                break;
            }
            if line.starts_with("at gate") && line.contains("green, settled") {
                let _ = writeln!(stdin, "proceed");
            }
            seen.push(line);
            if started.elapsed() > Duration::from_secs(120) {
                break;
            }
        }
        drop(stdin);
        let _ = child.kill();
        let status = child.wait();
        let log = std::fs::read_to_string(d.join("upshift.log")).unwrap_or_default();
        found.unwrap_or_else(|| panic!("no state line named the zone ({status:?}): {seen:#?}\n{log}"))
    })
    .await
    .unwrap();
    assert!(line.contains("gate before"), "{line}");
    assert!(
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
            .iter()
            .any(|z| line.contains(&format!("{z}: data/postgres-"))),
        "{line}"
    );
    assert!(line.contains("(volume data-postgres-"), "{line}");
}
