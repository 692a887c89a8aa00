//! The node-state pane where Karpenter runs: the fixed cluster of the screen tests
//! with two NodePools beside its node groups (drifted nodes, one being disrupted, a
//! NodeClaim still launching, one that failed to launch with the pods it was for),
//! and the same as EKS Auto Mode. Snapshots of the pane and the whole screen, the
//! counts and the colours that carry meaning; a cluster without Karpenter draws no
//! NodePool table at all.

#[allow(dead_code)]
#[path = "ui_snapshots/cluster.rs"]
mod cluster;

use cluster::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use serde_json::{Value, json};
use upshift::cockpit::Cockpit;
use upshift::cockpit::view::Pane;
use upshift::model::karpenter::{NodeClaimInfo, NodePoolInfo};
use upshift::model::{Change, Delta, Interner, LogEntry, NodeInfo, Source, SourceState};
use upshift::ui;

fn karpenter_node(host_name: &str, pool: &str, kubelet: &str, age_min: i64, disrupted: bool) -> NodeInfo {
    let taints: Vec<Value> = if disrupted {
        vec![json!({"key": "karpenter.sh/disrupted", "effect": "NoSchedule"})]
    } else {
        Vec::new()
    };
    let n: k8s_openapi::api::core::v1::Node = from(json!({
        "metadata": {"name": host(host_name), "creationTimestamp": ago(age_min),
                     "labels": {"karpenter.sh/nodepool": pool, "topology.kubernetes.io/zone": "eu-west-1a",
                                "node.kubernetes.io/instance-type": "m5.large"}},
        "spec": {"taints": taints, "providerID": "aws:///eu-west-1a/i-0123"},
        "status": {"nodeInfo": {"kubeletVersion": kubelet, "machineID": "", "systemUUID": "", "bootID": "",
                                "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "", "kubeProxyVersion": "",
                                "operatingSystem": "linux", "architecture": "amd64"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": ago(age_min)}],
                   "allocatable": {"cpu": "1930m", "memory": "7000Mi", "pods": "29"}}
    }));
    NodeInfo::from_node(&n, &mut Interner::default())
}

fn claim(name: &str, pool: &str, node: Option<&str>, state: &str, age_min: i64, auto: bool) -> NodeClaimInfo {
    let (launched, registered, drifted) = match state {
        "launching" => ("Unknown", "Unknown", false),
        "drifted" => ("True", "True", true),
        _ => ("True", "True", false),
    };
    let mut conditions = vec![
        json!({"type": "Launched", "status": launched}),
        json!({"type": "Registered", "status": registered}),
    ];
    if drifted {
        conditions.push(json!({"type": "Drifted", "status": "True", "reason": "AMIDrift"}));
    }
    let group = if auto { "eks.amazonaws.com" } else { "karpenter.k8s.aws" };
    NodeClaimInfo::from_json(
        &json!({"metadata": {"name": name, "labels": {"karpenter.sh/nodepool": pool}, "creationTimestamp": ago(age_min)},
                "spec": {"nodeClassRef": {"group": group, "kind": "EC2NodeClass", "name": "default"}, "expireAfter": "720h"},
                "status": {"nodeName": node.map(host), "conditions": conditions}}),
        &mut Interner::default(),
    )
}

/// The fixed cluster with Karpenter's NodePools `general` and `critical` (or Auto Mode's).
fn with_karpenter(auto: bool) -> Cockpit {
    let mut c = cockpit(true);
    let (general, critical) = if auto {
        ("general-purpose", "system")
    } else {
        ("general", "critical")
    };
    let day = 24 * 60;
    let pool = |name: &str| {
        let class = if auto {
            json!({"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"})
        } else {
            json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"})
        };
        NodePoolInfo::from_json(&json!({"metadata": {"name": name},
            "spec": {"template": {"spec": {"nodeClassRef": class, "expireAfter": "720h"}}}}))
    };
    c.apply(Delta::NodePools(vec![
        Change::Upsert(general.into(), pool(general)),
        Change::Upsert(critical.into(), pool(critical)),
    ]));
    let g = |s: &str| format!("{general}-{s}");
    c.apply(Delta::NodeClaims(vec![
        Change::Upsert(
            g("aaaaa"),
            claim(
                &g("aaaaa"),
                general,
                Some("ip-10-1-0-1"),
                "drifted",
                29 * day + 23 * 60,
                auto,
            ),
        ),
        Change::Upsert(
            g("bbbbb"),
            claim(&g("bbbbb"), general, Some("ip-10-1-0-2"), "drifted", 5 * day, auto),
        ),
        Change::Upsert(
            g("ccccc"),
            claim(&g("ccccc"), general, Some("ip-10-1-0-3"), "ready", 6, auto),
        ),
        Change::Upsert(g("ddddd"), claim(&g("ddddd"), general, None, "launching", 1, auto)),
        Change::Upsert(
            format!("{critical}-aaaaa"),
            claim(
                &format!("{critical}-aaaaa"),
                critical,
                Some("ip-10-1-0-9"),
                "ready",
                12 * day,
                auto,
            ),
        ),
    ]));
    c.apply(Delta::Nodes(
        [
            karpenter_node("ip-10-1-0-1", general, OLD, 29 * day + 23 * 60, true),
            karpenter_node("ip-10-1-0-2", general, OLD, 5 * day, false),
            karpenter_node("ip-10-1-0-3", general, NEW, 6, false),
            karpenter_node("ip-10-1-0-9", critical, OLD, 12 * day, false),
        ]
        .into_iter()
        .map(|n| Change::Upsert(n.name.clone(), n))
        .collect(),
    ));
    let failed = g("zzzzz");
    let ev: k8s_openapi::api::core::v1::Event = from(json!({
        "metadata": {"name": format!("{failed}.1"), "namespace": "default"},
        "involvedObject": {"kind": "NodeClaim", "name": failed},
        "reason": "InsufficientCapacityError", "type": "Warning", "count": 3, "lastTimestamp": ago(2),
        "message": format!("NodeClaim {failed} event: creating instance, insufficient capacity, with fleet error(s), InsufficientInstanceCapacity: We currently do not have sufficient m5.large capacity in the Availability Zone you requested (eu-west-1a).")
    }));
    let entry = LogEntry::from_event(&ev);
    c.apply(Delta::Events(vec![Change::Upsert(entry.reason.clone(), entry)]));
    c.apply(Delta::Nominations(vec![
        ("batch/nightly-report-29145630-b8v7c".into(), failed.clone()),
        ("batch/nightly-report-29145630-n6m5l".into(), failed),
        ("batch/nightly-report-29145630-k4j3h".into(), g("ddddd")),
    ]));
    c.apply(Delta::Source(Source::NodePools, SourceState::Synced));
    c.apply(Delta::Source(Source::NodeClaims, SourceState::Synced));
    c.refresh();
    c
}

fn pane(c: &Cockpit, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| {
        let area = f.area();
        ui::draw_pane(f.buffer_mut(), area, c, Pane::Nodes, true);
    })
    .expect("draw");
    t
}

fn screen(c: &mut Cockpit, w: u16, h: u16) -> String {
    c.refresh();
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut measured = Default::default();
    t.draw(|f| measured = ui::draw(f, c)).expect("draw");
    c.view.remember(&measured);
    t.backend().to_string()
}

fn row_of(t: &Terminal<TestBackend>, needle: &str) -> Option<u16> {
    let buf = t.backend().buffer();
    (0..buf.area.height).find(|&y| {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol())
            .collect::<String>()
            .contains(needle)
    })
}

#[test]
fn nodepools_are_counted_beside_the_node_groups() {
    let c = with_karpenter(false);
    let k = c.signals.nodepools.as_ref().expect("the NodePool view is on");
    assert!(!k.auto_mode);
    let general = k.pools.iter().find(|p| p.name == "general").unwrap();
    assert_eq!(
        (
            general.nodes,
            general.old,
            general.new,
            general.drifted,
            general.disrupting
        ),
        (3, 2, 1, 2, 1)
    );
    assert_eq!((general.pending_launch, general.failed, general.expiring), (1, 1, 1));
    assert_eq!(k.failures[0].pods.len(), 2);
    // the unscheduled pods say which NodeClaim they wait for
    let why: Vec<&String> = c.signals.unscheduled.pods.iter().map(|(_, w)| w).collect();
    assert!(
        why.iter()
            .any(|w| w.contains("general-zzzzz") && w.contains("failed to launch")),
        "{why:?}"
    );
    assert!(
        why.iter().any(|w| w.contains("waiting for nodeclaim general-ddddd")),
        "{why:?}"
    );
    // the node groups are still there, the NodePools among them
    assert!(c.signals.nodes.groups.iter().any(|g| g.name == "apps-1-30"));
    assert!(c.signals.nodes.groups.iter().any(|g| g.name == "general"));

    let t = pane(&c, 120, 30);
    insta::assert_snapshot!("nodes_pane_karpenter_120x30", t.backend().to_string());
    // the colours that carry meaning: a failed launch is red, disruption is the leaving colour
    let buf = t.backend().buffer();
    let y = row_of(&t, "✗ nodeclaim general-zzzzz").expect("the failure is explained");
    let x = (0..buf.area.width).find(|&x| buf[(x, y)].symbol() == "✗").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    assert!(
        row.contains("InsufficientCapacityError ×3 · 2 pod(s) waited for it"),
        "{row}"
    );
    let text = |y: u16| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect::<String>();
    let heading = row_of(&t, "NODEPOOL").unwrap();
    let y = (heading + 1..buf.area.height)
        .find(|&y| text(y).starts_with("│general "))
        .expect("general's row");
    let x = (0..buf.area.width)
        .rev()
        .find(|&x| buf[(x, y)].symbol() == "1")
        .unwrap();
    assert_ne!(buf[(x, y)].fg, Color::Reset, "an expiring node is notable");
    let heading = row_of(&t, "NODEPOOL").expect("the NodePool table");
    let group_heading = row_of(&t, "GROUP").expect("the node groups table");
    assert!(group_heading < heading, "the NodePools come after the node groups");
}

#[test]
fn the_whole_screen_and_the_pending_pane_with_karpenter() {
    let mut c = with_karpenter(false);
    insta::assert_snapshot!("screen_karpenter_200x60", screen(&mut c, 200, 60));
    let mut t = Terminal::new(TestBackend::new(140, 16)).expect("terminal");
    t.draw(|f| {
        let area = f.area();
        ui::draw_pane(f.buffer_mut(), area, &c, Pane::Pending, true);
    })
    .expect("draw");
    insta::assert_snapshot!("pending_pane_karpenter_140x16", t.backend().to_string());
}

#[test]
fn auto_mode_shows_in_the_header_and_the_pool_table() {
    let mut c = with_karpenter(true);
    assert!(c.signals.nodepools.as_ref().is_some_and(|k| k.auto_mode));
    let s = screen(&mut c, 200, 60);
    assert!(s.lines().next().is_some_and(|l| l.contains("EKS Auto Mode")), "{s}");
    assert!(s.contains("NODEPOOL (Auto Mode)"), "{s}");
    insta::assert_snapshot!("nodes_pane_automode_120x30", pane(&c, 120, 30).backend().to_string());
}

#[test]
fn without_karpenter_there_is_no_nodepool_table() {
    let mut c = cockpit(true);
    assert!(c.signals.nodepools.is_none());
    let s = screen(&mut c, 200, 60);
    assert!(!s.contains("NODEPOOL") && !s.contains("Auto Mode"), "{s}");
    // CRDs absent: the sources leave the model, and nothing says it is listing them
    c.apply(Delta::Source(Source::NodePools, SourceState::Absent));
    assert!(!c.model.sources.contains_key(&Source::NodePools));
    assert!(c.model.synced());
}

#[test]
fn a_forbidden_nodepool_watch_is_named_like_any_other() {
    let mut c = cockpit(true);
    c.apply(Delta::Source(
        Source::NodePools,
        SourceState::Forbidden(
            "nodepools.karpenter.sh is forbidden: User \"platform-viewer\" cannot list resource \"nodepools\" in API group \"karpenter.sh\" at the cluster scope".into(),
        ),
    ));
    c.refresh();
    assert_eq!(c.signals.blind.len(), 1);
    assert_eq!(c.signals.blind[0].0, "nodepools");
    assert!(c.model.synced(), "a forbidden watch counts as done");
    assert!(
        c.log
            .entries()
            .iter()
            .any(|e| e.reason == "CannotSee" && e.message.contains("cannot watch nodepools")),
        "the log says so"
    );
    let s = screen(&mut c, 200, 60);
    assert!(
        s.contains("cannot see nodepools: nodepools.karpenter.sh is forbidden"),
        "{s}"
    );
}

#[test]
fn a_karpenter_nodes_detail_names_its_nodepool_claim_drift_and_lifetime() {
    use upshift::cockpit::view::{Detail, Overlay};
    let mut c = with_karpenter(false);
    c.view.overlay = Some(Overlay::Detail {
        target: Detail::Node(host("ip-10-1-0-1")),
        scroll: 0,
    });
    let s = screen(&mut c, 200, 60);
    assert!(
        s.contains("general · nodeclaim general-aaaaa · drifted (AMIDrift) · lifetime ends in 60m"),
        "{s}"
    );
    // a node of a node group says nothing of NodePools
    c.view.overlay = Some(Overlay::Detail {
        target: Detail::Node(host("ip-10-0-2-20")),
        scroll: 0,
    });
    let s = screen(&mut c, 200, 60);
    assert!(!s.contains("nodeclaim"), "{s}");
}
