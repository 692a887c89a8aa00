//! The signals from hand-built nodes, pods and events: each must count what it is
//! written to count, at the instant given, and nothing else.

use std::sync::Arc;

use super::*;
use crate::model::component::WorkloadKind;
use crate::model::node::Problem;
use crate::model::pod::{OwnerKind, PodPhase};
use crate::model::{Change, Delta, EventLog};

fn at(min: i64) -> Timestamp {
    Timestamp::from_second(1_750_000_000 + min * 60).unwrap()
}

fn node(name: &str, group: &str, kubelet: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        group: Arc::from(group),
        nodepool: None,
        zone: Arc::from("eu-west-1a"),
        instance_type: Arc::from("m5.large"),
        kubelet: Arc::from(kubelet),
        minor: Arc::from(
            crate::units::Minor::parse(kubelet)
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ),
        ready: Tri::True,
        ready_since: Some(at(0)),
        unschedulable: false,
        deleting: false,
        leaving_taint: false,
        taints: Vec::new(),
        problems: Vec::new(),
        created: Some(at(-60)),
        cpu_millis: 2000,
        memory: 8 << 30,
        max_pods: 29,
        provider_id: None,
    }
}

fn not_ready(mut n: NodeInfo, since: i64) -> NodeInfo {
    n.ready = Tri::Unknown;
    n.problems.push(Problem {
        condition: "Ready".into(),
        status: Tri::Unknown,
        reason: "NodeStatusUnknown".into(),
        message: "Kubelet stopped posting node status.".into(),
        since: Some(at(since)),
    });
    n
}

fn pod(ns: &str, name: &str, rs: &str, node: Option<&str>) -> PodInfo {
    PodInfo {
        namespace: Arc::from(ns),
        name: name.into(),
        node: node.map(Arc::from),
        phase: if node.is_some() {
            PodPhase::Running
        } else {
            PodPhase::Pending
        },
        owner_kind: OwnerKind::ReplicaSet,
        owner: Some(Arc::from(rs)),
        ready: node.is_some(),
        deleting: false,
        restarts: 0,
        error: None,
        reason: None,
        unschedulable: None,
        empty_dir: false,
        created: Some(at(0)),
        volumes: None,
    }
}

fn model(nodes: Vec<NodeInfo>, pods: Vec<PodInfo>) -> ClusterModel {
    let mut m = ClusterModel::new(at(-10));
    let mut log = EventLog::new(10);
    let up_nodes = nodes.into_iter().map(|n| Change::Upsert(n.name.clone(), n)).collect();
    m.apply(Delta::Nodes(up_nodes), &mut log);
    let up_pods = pods.into_iter().map(|p| Change::Upsert(p.key(), p)).collect();
    m.apply(Delta::Pods(up_pods), &mut log);
    m
}

#[test]
fn node_state_counts_each_group_against_the_control_planes_minor() {
    let mut cordoned = node("b-1", "batch", "v1.30.4-eks-1");
    cordoned.unschedulable = true;
    let mut leaving = node("b-2", "batch", "v1.30.4-eks-1");
    leaving.deleting = true;
    let mut fresh = node("a-3", "apps", "v1.31.2-eks-1");
    fresh.created = Some(at(5));
    let mut m = model(
        vec![
            node("a-1", "apps", "v1.30.4-eks-1"),
            not_ready(node("a-2", "apps", "v1.30.4-eks-1"), 2),
            fresh,
            cordoned,
            leaving,
        ],
        // a pod leaving the cordoned node makes it draining
        vec![{
            let mut p = pod("shop", "web-1", "web-7d9c8b6f5", Some("b-1"));
            p.deleting = true;
            p
        }],
    );
    m.server_version = Some("v1.31.1-eks-abc".into());
    let s = Signals::compute(&m);
    let n = &s.nodes;
    assert_eq!(n.target.as_deref(), Some("1.31"));
    assert_eq!((n.total, n.ready, n.not_ready, n.old, n.new), (5, 4, 1, 4, 1));
    assert_eq!((n.cordoned, n.draining, n.terminating), (1, 1, 1));
    let names: Vec<&str> = n.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["apps", "batch"], "groups by name");
    assert_eq!(n.groups[0].versions.get("1.30"), Some(&2));
    assert_eq!(n.groups[0].versions.get("1.31"), Some(&1));
    let states: Vec<(&str, &str)> = n.rows.iter().map(|r| (r.name.as_str(), r.state())).collect();
    assert_eq!(
        states,
        [
            ("a-1", "Ready"),
            ("a-2", "NotReady"),
            ("a-3", "Ready"),
            ("b-1", "Draining"),
            ("b-2", "Terminating")
        ]
    );
    // a driven rollout's target wins over the control plane's minor
    m.rollout_target = Some("1.32".into());
    assert_eq!(Signals::compute(&m).nodes.old, 5);
}

#[test]
fn health_lists_not_ready_first_then_pressures_oldest_first() {
    let mut pressed = node("a-1", "apps", "v1.30.4");
    pressed.problems.push(Problem {
        condition: "MemoryPressure".into(),
        status: Tri::True,
        reason: "KubeletHasInsufficientMemory".into(),
        message: String::new(),
        since: Some(at(1)),
    });
    let m = model(
        vec![
            pressed,
            not_ready(node("a-2", "apps", "v1.30.4"), 3),
            node("a-3", "apps", "v1.30.4"),
        ],
        Vec::new(),
    );
    let h = Signals::compute(&m).health;
    assert_eq!((h.healthy, h.not_ready), (1, 1));
    assert_eq!(h.conditions.get("MemoryPressure"), Some(&1));
    let order: Vec<(&str, &str)> = h
        .problems
        .iter()
        .map(|p| (p.node.as_str(), p.condition.as_str()))
        .collect();
    assert_eq!(order, [("a-2", "Ready"), ("a-1", "MemoryPressure")]);
}

#[test]
fn unscheduled_pods_are_counted_with_the_schedulers_reasons() {
    let mut a = pod("shop", "web-1", "web-7d9c8b6f5", None);
    a.unschedulable = Some("0/12 nodes are available: 3 node(s) were unschedulable, 9 Insufficient cpu. preemption: 0/12 nodes are available.".into());
    a.created = Some(at(2));
    let mut b = pod("shop", "web-2", "web-7d9c8b6f5", None);
    b.unschedulable = Some("0/12 nodes are available: 12 Insufficient cpu.".into());
    b.created = Some(at(1));
    let waiting = pod("shop", "web-3", "web-7d9c8b6f5", None);
    let mut gone = pod("shop", "web-4", "web-7d9c8b6f5", None);
    gone.deleting = true;
    let m = model(Vec::new(), vec![a, b, waiting, gone]);
    let u = Signals::compute(&m).unscheduled;
    assert_eq!(u.count, 3, "a pod being deleted waits for no node");
    assert_eq!(u.oldest, Some(at(0)));
    assert_eq!(
        u.reasons,
        [
            ("Insufficient cpu".to_string(), 2),
            ("node(s) were unschedulable".to_string(), 1),
            ("waiting for the scheduler".to_string(), 1)
        ]
    );
    assert_eq!(u.pods[0].0, "shop/web-3", "oldest first");
    assert_eq!(scheduler_reasons(""), ["waiting for the scheduler"]);
}

#[test]
fn pod_errors_group_by_workload_and_kind_worst_first() {
    let crash = |name: &str, restarts: u32| {
        let mut p = pod("shop", name, "recommendations-6f7c9d8b5", Some("a-1"));
        p.error = Some(ErrorKind::CrashLoopBackOff);
        p.restarts = restarts;
        p.reason = Some("back-off 5m0s restarting failed container".into());
        p
    };
    let mut oom = pod("payments", "ledger-0", "ledger-5c6d7e8f9", Some("a-1"));
    oom.error = Some(ErrorKind::OOMKilled);
    oom.restarts = 1;
    let m = model(
        vec![node("a-1", "apps", "v1.31.2")],
        vec![crash("r-1", 4), crash("r-2", 6), oom],
    );
    let e = Signals::compute(&m).errors;
    assert_eq!((e.pods, e.restarts), (3, 11));
    assert_eq!(e.by_kind.get("CrashLoopBackOff"), Some(&2));
    let top: Vec<(&str, usize, u64)> = e
        .top
        .iter()
        .map(|o| (o.workload.as_str(), o.pods, o.restarts))
        .collect();
    assert_eq!(top, [("shop/recommendations", 2, 10), ("payments/ledger", 1, 1)]);
}

#[test]
fn components_say_what_is_missing_and_which_budgets_block_and_blind_spots_are_named() {
    let mut m = model(Vec::new(), Vec::new());
    let mut log = EventLog::new(10);
    let dns = ComponentInfo {
        category: Category::Dns,
        kind: WorkloadKind::Deployment,
        namespace: "kube-system".into(),
        name: "coredns".into(),
        desired: 2,
        ready: 1,
        available: 1,
        updated: 2,
        version: "v1.11.3".into(),
        image: "coredns:v1.11.3".into(),
    };
    m.apply(Delta::Components(vec![Change::Upsert(dns.key(), dns)]), &mut log);
    let pdb = |name: &str, allowed: i32| PdbInfo {
        namespace: "payments".into(),
        name: name.into(),
        disruptions_allowed: allowed,
        current_healthy: 2,
        desired_healthy: 2,
        expected_pods: 2,
        selector: Vec::new(),
    };
    let pdbs = vec![pdb("ledger", 0), pdb("checkout", 1)];
    m.apply(
        Delta::Pdbs(pdbs.into_iter().map(|p| Change::Upsert(p.key(), p)).collect()),
        &mut log,
    );
    m.apply(
        Delta::Source(Source::Events, SourceState::Forbidden("events is forbidden".into())),
        &mut log,
    );
    let s = Signals::compute(&m);
    let c = &s.components;
    assert_eq!(c.items.len(), 1);
    assert!(!c.items[0].healthy());
    assert_eq!(
        c.missing,
        [Category::PodNetworking, Category::Ingress, Category::Autoscaling]
    );
    assert_eq!(c.pdbs, 2);
    let blocking: Vec<&str> = c.blocking_pdbs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(blocking, ["ledger"]);
    assert_eq!(s.blind, [("events".to_string(), "events is forbidden".to_string())]);
    assert!(!s.can_see(Source::Events) && s.can_see(Source::Pods));
    assert!(!s.synced, "the other watches are still listing");
}
