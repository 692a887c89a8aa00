//! Karpenter's controllers on scenario worlds, stepping virtual time.

use std::time::Duration;

use super::objects::str_at;
use super::{is_true, keys};
use crate::sim::clock::Clock;
use crate::sim::scenario::Scenario;
use crate::sim::world::{World, build};

fn world(name: &str) -> World {
    let s = Scenario::load(name).unwrap();
    let clock = Clock::starting_at("2026-12-07T10:00:00Z".parse().unwrap(), 1.0);
    build(&s, clock).unwrap()
}

fn step(w: &mut World, secs: u64) {
    for _ in 0..secs.div_ceil(5) {
        w.clock.advance(Duration::from_secs(5));
        w.tick();
    }
}

fn claims_ready(w: &World) -> usize {
    w.karpenter
        .nodeclaims
        .items()
        .values()
        .filter(|c| is_true(c.status.as_ref(), "Ready"))
        .count()
}

#[test]
fn the_karpenter_scenario_starts_with_twenty_ready_nodes_and_everything_placed() {
    let mut w = world("karpenter");
    assert_eq!(w.karpenter.nodeclaims.len(), 20);
    assert_eq!(claims_ready(&w), 20);
    step(&mut w, 30);
    assert!(w.idx.unscheduled.is_empty(), "pending: {:?}", w.idx.unscheduled);
    let karpenter_nodes = w
        .nodes
        .items()
        .values()
        .filter(|n| n.metadata.labels.as_ref().unwrap().contains_key(keys::NODEPOOL))
        .count();
    assert_eq!(karpenter_nodes, 20);
    let np = w.karpenter.nodepools.get("general").unwrap();
    assert_eq!(np.status.as_ref().unwrap()["nodes"], 14);
    assert!(is_true(np.status.as_ref(), "Ready"));
    // nothing drifts before the control plane moves
    assert!(
        w.karpenter
            .nodeclaims
            .items()
            .values()
            .all(|c| !is_true(c.status.as_ref(), "Drifted"))
    );
}

#[test]
fn a_control_plane_update_drifts_latest_alias_nodes_only() {
    let mut w = world("karpenter");
    step(&mut w, 20);
    w.cluster.version = "1.31".into();
    step(&mut w, 6 * 60);
    let drifted: Vec<(String, bool)> = w
        .karpenter
        .nodeclaims
        .items()
        .values()
        .map(|c| {
            (
                c.metadata.labels.as_ref().unwrap()[keys::NODEPOOL].clone(),
                is_true(c.status.as_ref(), "Drifted"),
            )
        })
        .collect();
    assert!(
        drifted.iter().filter(|(p, _)| p == "critical").all(|(_, d)| !d),
        "{drifted:?}"
    );
    assert!(drifted.iter().any(|(p, d)| p == "general" && *d), "{drifted:?}");
    let reason = w
        .karpenter
        .nodeclaims
        .items()
        .values()
        .find(|c| is_true(c.status.as_ref(), "Drifted"))
        .and_then(|c| super::condition(c.status.as_ref(), "Drifted").cloned())
        .unwrap();
    assert_eq!(str_at(&reason, "reason"), Some("AMIDrift"));
}
