//! The unscheduled-pods pane where a StatefulSet's pods wait for their volume's
//! zone: the fixed cluster of the screen tests with a `data` group, claims bound to
//! EBS volumes in one zone each, and pods Pending with the scheduler's "volume node
//! affinity conflict". Each row names the claim, the zone and what to do; a cockpit
//! that may not read PersistentVolumes names that blind spot instead of crashing.

#[allow(dead_code)]
#[path = "ui_snapshots/cluster.rs"]
mod cluster;

use cluster::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use upshift::cockpit::Cockpit;
use upshift::cockpit::view::Pane;
use upshift::model::volume::{ClaimInfo, VolumeInfo};
use upshift::model::{Change, Delta, Interner, NodeInfo, PodInfo, Source};
use upshift::ui;

const CONFLICT: &str = "0/14 nodes are available: 2 node(s) were unschedulable, 12 node(s) had volume node affinity conflict. preemption: 0/14 nodes are available: 14 Preemption is not helpful for scheduling.";

fn data_node(host_name: &str, zone: &str, cordoned: bool) -> NodeInfo {
    let n: k8s_openapi::api::core::v1::Node = from(json!({
        "metadata": {"name": host(host_name), "creationTimestamp": ago(600),
                     "labels": {"eks.amazonaws.com/nodegroup": "data", "topology.kubernetes.io/zone": zone}},
        "spec": {"unschedulable": cordoned},
        "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ago(600)}],
                   "allocatable": {"cpu": "1930m", "memory": "15000Mi", "pods": "29"}}
    }));
    NodeInfo::from_node(&n, &mut Interner::default())
}

/// A StatefulSet's pod, Pending, with claim `data-NAME` and its group in its node selector.
fn stateful_pod(name: &str, selector: bool) -> PodInfo {
    let mut spec = json!({
        "containers": [{"name": "db", "image": "postgres:16.4"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{name}")}}]
    });
    if selector {
        spec["nodeSelector"] = json!({"eks.amazonaws.com/nodegroup": "data"});
    }
    let p: k8s_openapi::api::core::v1::Pod = from(json!({
        "metadata": {"name": name, "namespace": "data", "creationTimestamp": ago(3),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "postgres",
                                          "uid": "u", "controller": true}]},
        "spec": spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                   "reason": "Unschedulable", "message": CONFLICT}]}
    }));
    PodInfo::from_pod(&p, &mut Interner::default())
}

fn claim_and_volume(claim: &str, zone: &str) -> (ClaimInfo, VolumeInfo) {
    let mut s = Interner::default();
    let pvc: k8s_openapi::api::core::v1::PersistentVolumeClaim = from(json!({
        "metadata": {"name": claim, "namespace": "data"},
        "spec": {"volumeName": format!("pvc-{claim}"), "storageClassName": "gp3"},
        "status": {"phase": "Bound"}
    }));
    let pv: k8s_openapi::api::core::v1::PersistentVolume = from(json!({
        "metadata": {"name": format!("pvc-{claim}")},
        "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}}}
    }));
    (
        ClaimInfo::from_claim(&pvc, &mut s).unwrap(),
        VolumeInfo::from_volume(&pv, &mut s).unwrap(),
    )
}

/// The fixed cluster with postgres-2's volume in eu-west-1c (where only apps nodes
/// take pods) and postgres-3's in eu-west-1d (whose one node is cordoned).
fn with_volumes(forbidden: &[Source]) -> Cockpit {
    let mut c = cockpit_seeing(true, forbidden);
    c.apply(Delta::Nodes(
        [
            data_node("ip-10-0-4-40", "eu-west-1c", true),
            data_node("ip-10-0-4-41", "eu-west-1d", true),
        ]
        .into_iter()
        .map(|n| Change::Upsert(n.name.clone(), n))
        .collect(),
    ));
    c.apply(Delta::Pods(
        [stateful_pod("postgres-2", true), stateful_pod("postgres-3", false)]
            .into_iter()
            .map(|p| Change::Upsert(p.key(), p))
            .collect(),
    ));
    let (c2, v2) = claim_and_volume("data-postgres-2", "eu-west-1c");
    let (c3, v3) = claim_and_volume("data-postgres-3", "eu-west-1d");
    c.apply(Delta::PersistentVolumeClaims(vec![
        Change::Upsert("data/data-postgres-2".into(), c2),
        Change::Upsert("data/data-postgres-3".into(), c3),
    ]));
    // a watch RBAC refuses lists nothing (cockpit_seeing marked it forbidden)
    if !forbidden.contains(&Source::PersistentVolumes) {
        c.apply(Delta::PersistentVolumes(vec![
            Change::Upsert("pvc-data-postgres-2".into(), v2),
            Change::Upsert("pvc-data-postgres-3".into(), v3),
        ]));
    }
    c.refresh();
    c
}

fn pane_text(c: &Cockpit, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| {
        let area = f.area();
        ui::draw_pane(f.buffer_mut(), area, c, Pane::Pending, true);
    })
    .expect("draw");
    let buf = t.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

fn why(c: &Cockpit, pod: &str) -> String {
    c.signals
        .unscheduled
        .pods
        .iter()
        .find(|(p, _)| p == pod)
        .map(|(_, w)| w.clone())
        .unwrap_or_else(|| panic!("{pod} is not listed as unscheduled: {:?}", c.signals.unscheduled.pods))
}

#[test]
fn a_pod_held_by_its_volumes_zone_names_the_claim_the_zone_and_what_to_do() {
    let c = with_volumes(&[]);
    assert_eq!(
        why(&c, "data/postgres-3"),
        "volume data-postgres-3 in eu-west-1d: no schedulable node in that zone (1 cordoned, NotReady or leaving); \
         uncordon a node in eu-west-1d or add one there (the volume cannot move zones)"
    );
    // eu-west-1c has an apps node that takes pods, but not postgres-2's: its selector says data
    let w = why(&c, "data/postgres-2");
    assert!(
        w.starts_with("volume data-postgres-2 in eu-west-1c: no schedulable node in that zone it may run on"),
        "{w}"
    );
    assert!(w.contains("nodeSelector eks.amazonaws.com/nodegroup=data"), "{w}");

    // the pane's rows say it
    let lines = pane_text(&c, 240, 30);
    let row = lines
        .iter()
        .find(|l| l.contains("data/postgres-3"))
        .unwrap_or_else(|| panic!("no row for postgres-3:\n{}", lines.join("\n")));
    assert!(
        row.contains("volume data-postgres-3 in eu-west-1d: no schedulable node in that zone"),
        "{row}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("data/postgres-2") && l.contains("volume data-postgres-2 in eu-west-1c")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn without_persistentvolumes_the_pane_says_it_cannot_see_them() {
    let c = with_volumes(&[Source::PersistentVolumes]);
    // the scheduler's words stay; the zone is not guessed
    assert_eq!(why(&c, "data/postgres-3"), CONFLICT);
    assert!(
        c.signals.blind.iter().any(|(r, _)| r == "persistentvolumes"),
        "{:?}",
        c.signals.blind
    );
    let summary: String = ui::panes::view(Pane::Pending)
        .summary(&c)
        .iter()
        .map(|s| s.content.to_string())
        .collect();
    assert!(summary.contains("cannot see persistentvolumes"), "{summary}");
}
