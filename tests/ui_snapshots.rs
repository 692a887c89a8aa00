//! The cockpit's screens, drawn into ratatui's `TestBackend` from a fixed cluster
//! (real `k8s_openapi` objects projected through the model, at a fixed instant) and
//! compared with insta snapshots; the colours that carry meaning are asserted cell by
//! cell; and the keys: focus, selection, filter, prompt, details, help, quit. Then a
//! driven rollout, as the lead and as a read-only shadow see it: its gates, a held
//! drain, a failed step, the prompts, and the decisions the keys send.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use serde_json::{Value, json};
use upshift::cluster::Connection;
use upshift::cockpit::Cockpit;
use upshift::model::rollout::{Command, Criterion, GateView, GroupProgress, Phase, RolloutState, StepState, StepView};
use upshift::model::{
    Change, ComponentInfo, Delta, Interner, LogEntry, NodeInfo, PdbInfo, PodInfo, Source, SourceState, Timestamp,
};
use upshift::ui::keymap::KEYMAP;
use upshift::ui::{self, Detail, Intent, Overlay, Pane};

// ---------------------------------------------------------------- the cluster

fn now() -> Timestamp {
    "2025-06-02T14:30:00Z".parse().expect("time")
}

/// `minutes` before `now()`, as the API writes times.
fn ago(minutes: i64) -> String {
    (now() - jiff::SignedDuration::from_mins(minutes)).to_string()
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

const OLD: &str = "v1.30.9-eks-5e0fdde";
const NEW: &str = "v1.31.4-eks-0e1ae5b";

struct NodeSpec {
    host: &'static str,
    group: &'static str,
    kubelet: &'static str,
    instance: &'static str,
    zone: &'static str,
    age_min: i64,
    /// Ready status: "True", "False" or "Unknown".
    ready: &'static str,
    unschedulable: bool,
    taint: Option<&'static str>,
    memory_pressure: bool,
}

fn node(s: &NodeSpec) -> Node {
    let name = format!("{}.eu-west-1.compute.internal", s.host);
    let mut conditions = vec![
        json!({"type": "MemoryPressure", "status": if s.memory_pressure { "True" } else { "False" },
               "reason": if s.memory_pressure { "KubeletHasInsufficientMemory" } else { "KubeletHasSufficientMemory" },
               "message": if s.memory_pressure { "kubelet has insufficient memory available" } else { "kubelet has sufficient memory available" },
               "lastTransitionTime": ago(if s.memory_pressure { 4 } else { s.age_min })}),
        json!({"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
               "lastTransitionTime": ago(s.age_min)}),
        json!({"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
               "lastTransitionTime": ago(s.age_min)}),
    ];
    conditions.push(match s.ready {
        "True" => json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
                         "message": "kubelet is posting ready status", "lastTransitionTime": ago(s.age_min)}),
        status => json!({"type": "Ready", "status": status, "reason": "NodeStatusUnknown",
                         "message": "Kubelet stopped posting node status.", "lastTransitionTime": ago(7)}),
    });
    let mut taints = Vec::new();
    if s.unschedulable {
        taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}));
    }
    if let Some(t) = s.taint {
        taints.push(json!({"key": t, "value": "1748874000", "effect": "NoSchedule"}));
    }
    from(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "creationTimestamp": ago(s.age_min),
            "labels": {
                "eks.amazonaws.com/nodegroup": s.group,
                "topology.kubernetes.io/zone": s.zone,
                "node.kubernetes.io/instance-type": s.instance,
                "kubernetes.io/hostname": name,
            },
        },
        "spec": {
            "providerID": format!("aws:///{}/i-0{}", s.zone, s.host.replace('-', "").replace("ip", "")),
            "unschedulable": s.unschedulable,
            "taints": taints,
        },
        "status": {
            "allocatable": {"cpu": "7910m", "memory": "31482176Ki", "pods": "58"},
            "conditions": conditions,
            "nodeInfo": {
                "kubeletVersion": s.kubelet, "kubeProxyVersion": s.kubelet, "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.22", "kernelVersion": "6.1.115",
                "machineID": "m", "osImage": "Amazon Linux 2023", "operatingSystem": "linux",
                "bootID": "b", "systemUUID": "s",
            },
        },
    }))
}

fn nodes() -> Vec<Node> {
    let n = |host, group, kubelet, instance, zone, age_min| NodeSpec {
        host,
        group,
        kubelet,
        instance,
        zone,
        age_min,
        ready: "True",
        unschedulable: false,
        taint: None,
        memory_pressure: false,
    };
    let day = 24 * 60;
    let specs = [
        n("ip-10-0-1-10", "system", OLD, "m5.large", "eu-west-1a", 40 * day),
        n("ip-10-0-1-11", "system", OLD, "m5.large", "eu-west-1b", 40 * day),
        NodeSpec {
            taint: Some("ToBeDeletedByClusterAutoscaler"),
            ..n("ip-10-0-1-12", "system", OLD, "m5.large", "eu-west-1c", 12 * day)
        },
        n("ip-10-0-2-20", "apps-1-30", OLD, "m5.2xlarge", "eu-west-1a", 30 * day),
        NodeSpec {
            ready: "Unknown",
            ..n("ip-10-0-2-21", "apps-1-30", OLD, "m5.2xlarge", "eu-west-1b", 30 * day)
        },
        NodeSpec {
            unschedulable: true,
            ..n("ip-10-0-2-22", "apps-1-30", OLD, "m5.2xlarge", "eu-west-1c", 30 * day)
        },
        n("ip-10-0-2-23", "apps-1-30", OLD, "m5.2xlarge", "eu-west-1a", 30 * day),
        n("ip-10-0-2-24", "apps-1-30", OLD, "m5.2xlarge", "eu-west-1b", 2 * day),
        n("ip-10-0-3-30", "apps-1-31", NEW, "m6i.2xlarge", "eu-west-1a", 12),
        n("ip-10-0-3-31", "apps-1-31", NEW, "m6i.2xlarge", "eu-west-1b", 11),
        n("ip-10-0-3-32", "apps-1-31", NEW, "m6i.2xlarge", "eu-west-1c", 10),
        NodeSpec {
            memory_pressure: true,
            ..n("ip-10-0-3-33", "apps-1-31", NEW, "m6i.2xlarge", "eu-west-1a", 9)
        },
    ];
    specs.iter().map(node).collect()
}

fn host(h: &str) -> String {
    format!("{h}.eu-west-1.compute.internal")
}

/// What a pod is doing, for `pod()`.
enum Doing {
    Running,
    Deleting,
    CrashLoop { restarts: i32 },
    OomLoop { restarts: i32 },
    ImagePull,
    Unschedulable,
}

fn pod(ns: &str, name: &str, owner: (&str, &str), node: Option<&str>, doing: Doing, age_min: i64) -> Pod {
    let (kind, owner_name) = owner;
    let image = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{}:2025.05.3", owner_name);
    let running = json!({"running": {"startedAt": ago(age_min)}});
    let (phase, ready, state, last, restarts, conditions) = match doing {
        Doing::Running | Doing::Deleting => ("Running", true, running, json!({}), 0, vec![]),
        Doing::CrashLoop { restarts } => (
            "Running",
            false,
            json!({"waiting": {"reason": "CrashLoopBackOff",
                   "message": format!("back-off 5m0s restarting failed container=app pod={name}_{ns}")}}),
            json!({"terminated": {"reason": "Error", "exitCode": 1, "startedAt": ago(3), "finishedAt": ago(3)}}),
            restarts,
            vec![],
        ),
        Doing::OomLoop { restarts } => (
            "Running",
            false,
            json!({"waiting": {"reason": "CrashLoopBackOff",
                   "message": format!("back-off 2m40s restarting failed container=app pod={name}_{ns}")}}),
            json!({"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": ago(2), "finishedAt": ago(2)}}),
            restarts,
            vec![],
        ),
        Doing::ImagePull => (
            "Pending",
            false,
            json!({"waiting": {"reason": "ImagePullBackOff",
                   "message": format!("Back-off pulling image \"{image}\"")}}),
            json!({}),
            0,
            vec![],
        ),
        Doing::Unschedulable => (
            "Pending",
            false,
            json!(null),
            json!({}),
            0,
            vec![
                json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "lastTransitionTime": ago(age_min),
                        "message": "0/12 nodes are available: 3 node(s) were unschedulable, 9 Insufficient cpu. \
                                    preemption: 0/12 nodes are available: 12 No preemption victims found for incoming pod."}),
            ],
        ),
    };
    let mut conditions = conditions;
    if node.is_some() {
        conditions.push(json!({"type": "PodScheduled", "status": "True"}));
        conditions.push(json!({"type": "Ready", "status": if ready { "True" } else { "False" }}));
    }
    let statuses = if state.is_null() {
        json!(null)
    } else {
        json!([{"name": "app", "image": image, "imageID": "", "ready": ready, "restartCount": restarts,
                "state": state, "lastState": last}])
    };
    let mut meta = json!({
        "namespace": ns, "name": name, "creationTimestamp": ago(age_min),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner_name, "uid": "u", "controller": true}],
    });
    if matches!(doing, Doing::Deleting) {
        meta["deletionTimestamp"] = json!(ago(1));
    }
    from(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node.map(host), "containers": [{"name": "app", "image": image}]},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }))
}

fn pods() -> Vec<Pod> {
    let mut out = Vec::new();
    let hosts: Vec<String> = nodes()
        .iter()
        .map(|n| n.metadata.name.clone().unwrap_or_default())
        .collect();
    for (i, h) in hosts.iter().enumerate() {
        let short = h.split('.').next().unwrap_or(h);
        out.push(pod(
            "kube-system",
            &format!("aws-node-{:05x}", 0x1a2b3 + i * 977),
            ("DaemonSet", "aws-node"),
            Some(short),
            Doing::Running,
            60,
        ));
    }
    for (i, h) in ["ip-10-0-1-10", "ip-10-0-1-11"].into_iter().enumerate() {
        out.push(pod(
            "kube-system",
            &format!("coredns-5d8f7c9b6-{}", ["x7k2p", "q9m4d"][i]),
            ("ReplicaSet", "coredns-5d8f7c9b6"),
            Some(h),
            Doing::Running,
            40 * 24 * 60,
        ));
    }
    let web = [
        "ip-10-0-2-20",
        "ip-10-0-2-23",
        "ip-10-0-2-24",
        "ip-10-0-3-30",
        "ip-10-0-3-31",
    ];
    for (i, h) in web.into_iter().enumerate() {
        out.push(pod(
            "shop",
            &format!("web-7c9d8b6f5-{}", ["a1b2c", "d3e4f", "g5h6i", "j7k8l", "m9n0p"][i]),
            ("ReplicaSet", "web-7c9d8b6f5"),
            Some(h),
            Doing::Running,
            300,
        ));
    }
    out.push(pod(
        "shop",
        "web-7c9d8b6f5-zz9yx",
        ("ReplicaSet", "web-7c9d8b6f5"),
        Some("ip-10-0-2-22"),
        Doing::Deleting,
        300,
    ));
    out.push(pod(
        "shop",
        "checkout-6f7d9c8b4-r2d2x",
        ("ReplicaSet", "checkout-6f7d9c8b4"),
        Some("ip-10-0-3-32"),
        Doing::CrashLoop { restarts: 14 },
        55,
    ));
    out.push(pod(
        "shop",
        "checkout-6f7d9c8b4-c3p0y",
        ("ReplicaSet", "checkout-6f7d9c8b4"),
        Some("ip-10-0-3-33"),
        Doing::CrashLoop { restarts: 9 },
        50,
    ));
    out.push(pod(
        "shop",
        "recommender-5b6c7d8e9-k4l5m",
        ("ReplicaSet", "recommender-5b6c7d8e9"),
        Some("ip-10-0-3-30"),
        Doing::OomLoop { restarts: 6 },
        45,
    ));
    out.push(pod(
        "shop",
        "search-8e7f6d5c4-w1x2y",
        ("ReplicaSet", "search-8e7f6d5c4"),
        Some("ip-10-0-3-31"),
        Doing::ImagePull,
        20,
    ));
    for (i, id) in ["b8v7c", "n6m5l", "k4j3h"].into_iter().enumerate() {
        out.push(pod(
            "batch",
            &format!("nightly-report-29145630-{id}"),
            ("Job", "nightly-report-29145630"),
            None,
            Doing::Unschedulable,
            18 - i as i64 * 5,
        ));
    }
    out
}

/// An event about `(kind, namespace, name)`, last seen `min` minutes ago.
fn event(object: (&str, Option<&str>, &str), type_: &str, reason: &str, message: &str, count: i32, min: i64) -> Event {
    let (kind, ns, name) = object;
    from(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{reason}"), "namespace": ns.unwrap_or("default"), "creationTimestamp": ago(min)},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name},
        "type": type_, "reason": reason, "message": message, "count": count,
        "firstTimestamp": ago(min + 10), "lastTimestamp": ago(min),
    }))
}

fn events() -> Vec<Event> {
    vec![
        event(
            ("Node", None, &host("ip-10-0-2-22")),
            "Normal",
            "NodeNotSchedulable",
            &format!("Node {} status is now: NodeNotSchedulable", host("ip-10-0-2-22")),
            1,
            9,
        ),
        event(
            ("Node", None, &host("ip-10-0-2-21")),
            "Warning",
            "NodeNotReady",
            &format!("Node {} status is now: NodeNotReady", host("ip-10-0-2-21")),
            1,
            7,
        ),
        event(
            ("Pod", Some("shop"), "web-7c9d8b6f5-zz9yx"),
            "Warning",
            "EvictionBlocked",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            23,
            2,
        ),
        event(
            ("Pod", Some("batch"), "nightly-report-29145630-b8v7c"),
            "Warning",
            "FailedScheduling",
            "0/12 nodes are available: 3 node(s) were unschedulable, 9 Insufficient cpu. preemption: 0/12 nodes \
             are available: 12 No preemption victims found for incoming pod.",
            12,
            1,
        ),
        event(
            ("Pod", Some("shop"), "checkout-6f7d9c8b4-r2d2x"),
            "Warning",
            "BackOff",
            "Back-off restarting failed container app in pod checkout-6f7d9c8b4-r2d2x_shop(7f1c)",
            31,
            1,
        ),
        event(
            ("Node", None, &host("ip-10-0-3-33")),
            "Warning",
            "EvictionThresholdMet",
            "Attempting to reclaim memory",
            2,
            0,
        ),
    ]
}

fn pdbs() -> Vec<PodDisruptionBudget> {
    let pdb = |ns: &str, name: &str, allowed: i32, current: i32, desired: i32, expected: i32| -> PodDisruptionBudget {
        from(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"minAvailable": desired},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": current, "desiredHealthy": desired,
                       "expectedPods": expected, "observedGeneration": 1},
        }))
    };
    vec![
        pdb("shop", "web", 0, 6, 6, 6),
        pdb("kube-system", "coredns", 1, 2, 1, 2),
    ]
}

fn deployment(ns: &str, name: &str, image: &str, replicas: i32, ready: i32) -> Deployment {
    from(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": replicas},
    }))
}

fn daemonset(ns: &str, name: &str, image: &str, desired: i32, ready: i32) -> DaemonSet {
    from(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired, "numberMisscheduled": 0,
                   "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": desired},
    }))
}

fn components() -> Vec<ComponentInfo> {
    let ecr = "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks";
    let mut out: Vec<ComponentInfo> = [
        deployment(
            "kube-system",
            "coredns",
            &format!("{ecr}/coredns:v1.11.3-eksbuild.2"),
            2,
            2,
        ),
        deployment(
            "kube-system",
            "cluster-autoscaler",
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.2",
            1,
            0,
        ),
        deployment(
            "shop",
            "web",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:2025.05.3",
            6,
            6,
        ),
    ]
    .iter()
    .filter_map(ComponentInfo::from_deployment)
    .collect();
    out.extend(
        [
            daemonset(
                "kube-system",
                "aws-node",
                &format!("{ecr}/amazon-k8s-cni:v1.19.2-eksbuild.1"),
                12,
                11,
            ),
            daemonset(
                "kube-system",
                "kube-proxy",
                &format!("{ecr}/kube-proxy:v1.30.9-eksbuild.3"),
                12,
                12,
            ),
        ]
        .iter()
        .filter_map(ComponentInfo::from_daemonset),
    );
    out
}

fn connection() -> Connection {
    Connection {
        context: "arn:aws:eks:eu-west-1:123456789012:cluster/shop-prod".into(),
        cluster: "shop-prod".into(),
        server: "https://4F2A9C1B7D3E5F60718293A4B5C6D7E8.gr7.eu-west-1.eks.amazonaws.com".into(),
        user: "arn:aws:iam::123456789012:role/platform-oncall".into(),
    }
}

/// The fixed cluster: 12 nodes in three groups mid-upgrade from 1.30 to 1.31.
fn cockpit(read_only: bool) -> Cockpit {
    cockpit_seeing(read_only, &[])
}

/// The same cluster, with some watches forbidden.
fn cockpit_seeing(read_only: bool, forbidden: &[Source]) -> Cockpit {
    // the cockpit started watching 30 minutes ago: the nodes that joined since are new
    let mut c = Cockpit::new(connection(), read_only, now() - jiff::SignedDuration::from_mins(30));
    c.now = now();
    c.log.now = Some(now());
    let mut strings = Interner::default();
    c.apply(Delta::ServerVersion(NEW.into()));
    c.apply(Delta::Nodes(
        nodes()
            .iter()
            .map(|n| NodeInfo::from_node(n, &mut strings))
            .map(|n| Change::Upsert(n.name.clone(), n))
            .collect(),
    ));
    c.apply(Delta::Pods(
        pods()
            .iter()
            .map(|p| PodInfo::from_pod(p, &mut strings))
            .map(|p| Change::Upsert(p.key(), p))
            .collect(),
    ));
    if !forbidden.contains(&Source::Pdbs) {
        c.apply(Delta::Pdbs(
            pdbs()
                .iter()
                .map(PdbInfo::from_pdb)
                .map(|p| Change::Upsert(p.key(), p))
                .collect(),
        ));
    }
    c.apply(Delta::Components(
        components()
            .into_iter()
            .map(|ci| Change::Upsert(ci.key(), ci))
            .collect(),
    ));
    if !forbidden.contains(&Source::Events) {
        c.apply(Delta::Events(
            events()
                .iter()
                .map(LogEntry::from_event)
                .map(|e| Change::Upsert(e.reason.clone(), e))
                .collect(),
        ));
    }
    for s in Source::ALL {
        let state = if forbidden.contains(&s) {
            SourceState::Forbidden(format!(
                "{} is forbidden: User \"platform-viewer\" cannot list resource \"{}\" at the cluster scope",
                s.resource(),
                s.resource()
            ))
        } else {
            SourceState::Synced
        };
        c.apply(Delta::Source(s, state));
    }
    // ten minutes of trends
    for i in 0..600u64 {
        c.series.unscheduled.push(if i > 520 { (i - 520) / 25 } else { 0 });
        c.series.restarts.push(if i > 400 {
            (i * 7 % 5) + (i - 400) / 60
        } else {
            i % 97 / 96
        });
        c.series.pod_errors.push(if i > 450 { 4 } else { 0 });
    }
    c.refresh();
    c
}

// ---------------------------------------------------------------- drawing

fn render(c: &mut Cockpit, w: u16, h: u16) -> Terminal<TestBackend> {
    c.refresh();
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| ui::draw(f, c)).expect("draw");
    t
}

fn screen(c: &mut Cockpit, w: u16, h: u16) -> String {
    render(c, w, h).backend().to_string()
}

fn press(c: &mut Cockpit, code: KeyCode) -> Option<Intent> {
    ui::handle_key(c, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(c: &mut Cockpit, text: &str) {
    for ch in text.chars() {
        press(c, KeyCode::Char(ch));
    }
}

fn focus(c: &mut Cockpit, pane: Pane) {
    press(c, KeyCode::Char(pane.digit()));
    assert_eq!(c.view.focus, pane);
}

fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

/// The position of the first `needle` on a row that also holds `on_row` (cells, not bytes).
fn find(buf: &Buffer, on_row: &str, needle: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let text: String = cells.concat();
        if !text.contains(on_row) {
            continue;
        }
        let n: Vec<String> = needle.chars().map(String::from).collect();
        for x in 0..cells.len().saturating_sub(n.len() - 1) {
            if cells[x..x + n.len()].iter().zip(&n).all(|(a, b)| *a == b.as_str()) {
                return (x as u16, y);
            }
        }
    }
    panic!("no {needle:?} on a row with {on_row:?}");
}

/// A compact map of the colours: one letter per cell for the foreground colour
/// (R red, G green, Y yellow, M magenta, C cyan, d dark grey, k black, . default);
/// upper-case-only letters stand for themselves, `#` marks reversed (selected) cells.
fn colours(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            let ch = if cell.modifier.contains(Modifier::REVERSED) {
                '#'
            } else {
                match cell.fg {
                    Color::Red => 'R',
                    Color::Green => 'G',
                    Color::Yellow => 'Y',
                    Color::Magenta => 'M',
                    Color::Cyan => 'C',
                    Color::DarkGray => 'd',
                    Color::Black => 'k',
                    _ => '.',
                }
            };
            out.push(ch);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- whole screens

#[test]
fn whole_screen_80x24() {
    insta::assert_snapshot!(screen(&mut cockpit(false), 80, 24));
}

#[test]
fn whole_screen_80x24_read_only() {
    insta::assert_snapshot!(screen(&mut cockpit(true), 80, 24));
}

#[test]
fn whole_screen_200x60() {
    insta::assert_snapshot!(screen(&mut cockpit(false), 200, 60));
}

#[test]
fn whole_screen_200x60_read_only() {
    let mut c = cockpit(true);
    let t = render(&mut c, 200, 60);
    insta::assert_snapshot!(t.backend().to_string());
    insta::assert_snapshot!("whole_screen_200x60_read_only_colours", colours(t.backend().buffer()));
}

#[test]
fn each_pane_focused_at_80x24() {
    for pane in Pane::CLUSTER {
        let mut c = cockpit(false);
        focus(&mut c, pane);
        insta::assert_snapshot!(format!("pane_{}_80x24", pane.name()), screen(&mut c, 80, 24));
    }
}

#[test]
fn each_pane_alone_at_100x16() {
    for pane in Pane::CLUSTER {
        let mut c = cockpit(false);
        focus(&mut c, pane);
        c.refresh();
        let mut t = Terminal::new(TestBackend::new(100, 16)).expect("terminal");
        t.draw(|f| {
            let area = f.area();
            ui::draw_pane(f.buffer_mut(), area, &c, pane, true);
        })
        .expect("draw");
        insta::assert_snapshot!(format!("pane_{}_alone_100x16", pane.name()), t.backend().to_string());
    }
}

#[test]
fn help_overlay() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('?'));
    assert!(matches!(c.view.overlay, Some(Overlay::Help { .. })));
    insta::assert_snapshot!("help_200x60", screen(&mut c, 200, 60));
    insta::assert_snapshot!("help_80x24", screen(&mut c, 80, 24));
}

#[test]
fn node_detail() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "2-22");
    press(&mut c, KeyCode::Enter);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Node(host("ip-10-0-2-22")),
            scroll: 0
        })
    );
    insta::assert_snapshot!("node_detail_120x40", screen(&mut c, 120, 40));
}

#[test]
fn pod_detail() {
    let mut c = cockpit(false);
    focus(&mut c, Pane::Pending);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Pod("batch/nightly-report-29145630-b8v7c".into()),
            scroll: 0
        })
    );
    insta::assert_snapshot!("pod_detail_unscheduled_100x30", screen(&mut c, 100, 30));

    // a crash-looping workload opens on one of its pods
    let mut c = cockpit(false);
    focus(&mut c, Pane::Errors);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Pod("shop/checkout-6f7d9c8b4-c3p0y".into()),
            scroll: 0
        })
    );
    insta::assert_snapshot!("pod_detail_crashloop_100x30", screen(&mut c, 100, 30));
}

#[test]
fn filter_applied() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "apps-1-31");
    insta::assert_snapshot!("filter_typing_80x24", screen(&mut c, 80, 24));
    press(&mut c, KeyCode::Enter);
    insta::assert_snapshot!("filter_kept_200x60", screen(&mut c, 200, 60));
}

#[test]
fn blind_cockpit_says_what_it_cannot_see() {
    // one blind spot: named with the API's reason
    let mut c = cockpit_seeing(true, &[Source::Events]);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("⚠ cannot see events: events is forbidden: User \"platform-viewer\""),
        "{text}"
    );
    // two: both named, the reasons in the log
    let mut c = cockpit_seeing(true, &[Source::Events, Source::Pdbs]);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("⚠ cannot see events, poddisruptionbudgets: forbidden"),
        "{text}"
    );
    assert!(
        text.contains("cannot watch poddisruptionbudgets: poddisruptionbudgets is forbidden"),
        "{text}"
    );
    assert!(text.contains("cannot see PDBs"), "{text}");
    insta::assert_snapshot!("blind_200x60", text);
    focus(&mut c, Pane::Events);
    insta::assert_snapshot!("blind_events_80x24", screen(&mut c, 80, 24));
}

#[test]
fn an_empty_cockpit_still_listing() {
    let mut c = Cockpit::new(connection(), true, now());
    insta::assert_snapshot!("empty_listing_80x24", screen(&mut c, 80, 24));
    insta::assert_snapshot!("empty_listing_200x60", screen(&mut c, 200, 60));
}

#[test]
fn never_panics_on_any_size() {
    for (w, h) in [
        (0, 0),
        (1, 1),
        (20, 5),
        (5, 20),
        (40, 10),
        (80, 3),
        (119, 33),
        (120, 33),
        (300, 100),
    ] {
        let mut cockpits = vec![cockpit(false), Cockpit::new(connection(), true, now())];
        for (read_only, state) in [(false, gate_red()), (true, held()), (false, failed()), (true, done())] {
            let mut c = driven(read_only, state);
            c.rollout.as_mut().expect("driven").notice = Some("a notice from the drive ".repeat(8));
            cockpits.push(c);
        }
        for mut c in cockpits {
            let panes: Vec<Pane> = ui::shown(&c).collect();
            for pane in panes {
                focus(&mut c, pane);
                render(&mut c, w, h);
                press(&mut c, KeyCode::Char('?'));
                render(&mut c, w, h);
                press(&mut c, KeyCode::Esc);
                press(&mut c, KeyCode::Enter);
                render(&mut c, w, h);
                press(&mut c, KeyCode::Esc);
            }
        }
    }
    insta::assert_snapshot!("tiny_20x5", screen(&mut cockpit(true), 20, 5));
}

// ---------------------------------------------------------------- colours that mean something

#[test]
fn colours_carry_meaning() {
    let mut c = cockpit(true);
    let t = render(&mut c, 200, 60);
    let buf = t.backend().buffer();
    let fg = |on_row: &str, needle: &str| buf[find(buf, on_row, needle)].fg;

    assert_eq!(fg("ip-10-0-2-21", "NotReady"), Color::Red, "a NotReady node is red");
    assert_eq!(fg("ip-10-0-2-20", "Ready"), Color::Green, "a Ready node is green");
    assert_eq!(
        fg("ip-10-0-2-22", "Draining"),
        Color::Yellow,
        "a draining node is yellow"
    );
    assert_eq!(
        fg("ip-10-0-1-12", "Terminating"),
        Color::Magenta,
        "a terminating node is magenta"
    );
    assert_eq!(fg("ip-10-0-2-20", "v1.30.9"), Color::Yellow, "an old kubelet is marked");
    assert_eq!(fg("ip-10-0-3-30", "v1.31.4"), Color::Reset, "a current kubelet is not");
    assert_eq!(fg("ip-10-0-2-20", "old"), Color::Yellow);

    let badge = &buf[find(buf, "upshift", "READ-ONLY")];
    assert_eq!(
        (badge.fg, badge.bg),
        (Color::Black, Color::Yellow),
        "the READ-ONLY badge stands out"
    );
    assert!(badge.modifier.contains(Modifier::BOLD));

    let count = &buf[find(buf, "pods unscheduled", " 3 ")];
    assert_eq!(count.bg, Color::Red, "unscheduled pods > 0 are red");
    let (x, y) = find(buf, "CrashLoop 2", "CrashLoop 2");
    assert_eq!(buf[(x + 10, y)].fg, Color::Red, "pod errors > 0 are red");
    assert_eq!(
        fg("kube-system/coredns", "healthy"),
        Color::Green,
        "a healthy component is green"
    );
    assert_eq!(fg("kube-system/aws-node", "unhealthy"), Color::Red);
    assert_eq!(fg("shop/web ", "blocking"), Color::Red, "a blocking PDB is red");
    assert_eq!(
        fg("nightly-report", "WARN"),
        Color::Yellow,
        "a warning in the log is yellow"
    );

    // the selected row of the focused pane is reversed
    let first = find(buf, "ip-10-0-2-20", "ip-10-0-2-20");
    assert!(buf[first].modifier.contains(Modifier::REVERSED));

    // a cockpit that may write has no badge
    let mut c = cockpit(false);
    let t = render(&mut c, 200, 60);
    assert!(!t.backend().to_string().contains("READ-ONLY"));
}

#[test]
fn zero_counts_are_green() {
    let mut c = Cockpit::new(connection(), false, now());
    for s in Source::ALL {
        c.apply(Delta::Source(s, SourceState::Synced));
    }
    let t = render(&mut c, 200, 60);
    let buf = t.backend().buffer();
    let count = &buf[find(buf, "pods unscheduled", "0")];
    assert_eq!(count.fg, Color::Green);
    let (x, y) = find(buf, "CrashLoop 0", "CrashLoop 0");
    assert_eq!(buf[(x + 10, y)].fg, Color::Green);
    assert!(row_text(buf, 0).contains("● synced"));
}

// ---------------------------------------------------------------- keys

#[test]
fn tab_and_digits_move_the_focus() {
    let mut c = cockpit(false);
    assert_eq!(c.view.focus, Pane::Nodes);
    press(&mut c, KeyCode::Tab);
    assert_eq!(c.view.focus, Pane::Health);
    press(&mut c, KeyCode::BackTab);
    press(&mut c, KeyCode::BackTab);
    assert_eq!(
        c.view.focus,
        Pane::Events,
        "no rollout: no rollout pane to cycle through"
    );
    assert_eq!(press(&mut c, KeyCode::Char('0')), None);
    assert_eq!(c.view.focus, Pane::Events);
    for p in Pane::CLUSTER {
        press(&mut c, KeyCode::Char(p.digit()));
        assert_eq!(c.view.focus, p);
    }
    // the narrow layout gives the focused pane the room
    press(&mut c, KeyCode::Char('4'));
    let text = screen(&mut c, 80, 24);
    assert!(text.contains("WORKLOAD"), "{text}");
    assert!(!text.contains("KUBELETS"), "{text}");
}

#[test]
fn j_and_k_move_the_selection_and_stop_at_the_ends() {
    let mut c = cockpit(false);
    render(&mut c, 80, 24);
    press(&mut c, KeyCode::Char('k'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 0);
    press(&mut c, KeyCode::Char('j'));
    press(&mut c, KeyCode::Down);
    assert_eq!(c.view.list(Pane::Nodes).selected, 2);
    press(&mut c, KeyCode::Up);
    assert_eq!(c.view.list(Pane::Nodes).selected, 1);
    press(&mut c, KeyCode::Char('G'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 11);
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 11);
    // the selection stays in view
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    let last = find(buf, "ip-10-0-1-12", "ip-10-0-1-12");
    assert!(buf[last].modifier.contains(Modifier::REVERSED));
    press(&mut c, KeyCode::PageUp);
    assert!(c.view.list(Pane::Nodes).selected < 11);
    press(&mut c, KeyCode::Char('g'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 0);
    press(&mut c, KeyCode::PageDown);
    assert!(c.view.list(Pane::Nodes).selected > 0);
}

#[test]
fn slash_filters_enter_keeps_esc_clears() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "notready");
    assert_eq!(c.view.list(Pane::Nodes).filter, "notready");
    assert_eq!(ui::list::filtered_len(&c, Pane::Nodes), 1);
    // while typing, q is a letter, not quit
    assert_eq!(press(&mut c, KeyCode::Char('q')), None);
    press(&mut c, KeyCode::Backspace);
    press(&mut c, KeyCode::Enter);
    assert!(c.view.prompt.is_none());
    assert_eq!(c.view.list(Pane::Nodes).filter, "notready");
    let text = screen(&mut c, 80, 24);
    assert!(text.contains("ip-10-0-2-21"));
    assert!(!text.contains("ip-10-0-2-20"));
    // the filter belongs to its pane
    press(&mut c, KeyCode::Char('2'));
    assert_eq!(c.view.list(Pane::Health).filter, "");
    press(&mut c, KeyCode::Char('1'));
    // esc clears it
    press(&mut c, KeyCode::Esc);
    assert_eq!(c.view.list(Pane::Nodes).filter, "");
    // and esc while typing drops what was typed
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "zzz");
    assert_eq!(ui::list::filtered_len(&c, Pane::Nodes), 0);
    assert!(screen(&mut c, 80, 24).contains("nothing matches the filter"));
    press(&mut c, KeyCode::Esc);
    assert!(c.view.prompt.is_none());
    assert_eq!(ui::list::filtered_len(&c, Pane::Nodes), 12);
}

#[test]
fn colon_jumps_to_a_pane_by_name() {
    let mut c = cockpit(false);
    for p in Pane::CLUSTER {
        press(&mut c, KeyCode::Char(':'));
        typed(&mut c, p.name());
        press(&mut c, KeyCode::Enter);
        assert_eq!(c.view.focus, p, ":{}", p.name());
    }
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "bogus");
    press(&mut c, KeyCode::Enter);
    assert_eq!(c.view.focus, Pane::Events);
    assert!(screen(&mut c, 120, 24).contains("no pane named \"bogus\""));
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "q");
    assert_eq!(press(&mut c, KeyCode::Enter), Some(Intent::Quit));
}

#[test]
fn enter_opens_the_selected_row_and_esc_goes_back() {
    let mut c = cockpit(false);
    // health lists the NotReady node first
    focus(&mut c, Pane::Health);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Node(n), .. }) if *n == host("ip-10-0-2-21")
    ));
    let text = screen(&mut c, 80, 24);
    insta::assert_snapshot!("node_detail_not_ready_80x24", text);
    assert!(text.contains("NodeStatusUnknown"), "{text}");
    assert!(text.contains("NodeNotReady"), "the log entry about the node: {text}");
    press(&mut c, KeyCode::Esc);
    assert!(c.view.overlay.is_none());

    // the log follows its newest entry; enter opens what it is about
    focus(&mut c, Pane::Events);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Node(n), .. }) if *n == host("ip-10-0-3-33")
    ));
    press(&mut c, KeyCode::Esc);
    press(&mut c, KeyCode::Char('k'));
    assert!(!c.view.list(Pane::Events).follow);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Pod(p), .. }) if p == "shop/checkout-6f7d9c8b4-r2d2x"
    ));
    press(&mut c, KeyCode::Esc);
    press(&mut c, KeyCode::Char('G'));
    assert!(c.view.list(Pane::Events).follow);
}

#[test]
fn the_log_follows_new_entries_unless_scrolled() {
    let mut c = cockpit(false);
    focus(&mut c, Pane::Events);
    let note = |c: &mut Cockpit, reason: &str| {
        c.log
            .push(LogEntry::local(upshift::model::Level::Warning, reason, "a note".into()));
    };
    note(&mut c, "FirstNewThing");
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    assert!(
        buf[find(buf, "FirstNewThing", "FirstNewThing")]
            .modifier
            .contains(Modifier::REVERSED)
    );
    press(&mut c, KeyCode::Char('k'));
    note(&mut c, "SecondNewThing");
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    assert!(
        !buf[find(buf, "SecondNewThing", "SecondNewThing")]
            .modifier
            .contains(Modifier::REVERSED)
    );
    assert!(t.backend().to_string().contains("scrolled: G follows"));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut c = cockpit(false);
    assert_eq!(press(&mut c, KeyCode::Char('q')), Some(Intent::Quit));
    assert_eq!(
        ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Intent::Quit)
    );
    press(&mut c, KeyCode::Char('/'));
    assert_eq!(
        ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Intent::Quit),
        "ctrl-c quits even while typing"
    );
}

#[test]
fn help_lists_every_keymap_entry() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('?'));
    let text = screen(&mut c, 200, 60);
    for b in KEYMAP {
        assert!(text.contains(b.label), "the help shows the keys {:?}", b.label);
        assert!(text.contains(b.help), "the help explains {:?}: {:?}", b.label, b.help);
    }
    // j/k scroll the help, ? closes it
    press(&mut c, KeyCode::Char('?'));
    assert!(c.view.overlay.is_none());
    // at 80x24 the help scrolls, and stops at its end
    press(&mut c, KeyCode::Char('?'));
    render(&mut c, 80, 24);
    press(&mut c, KeyCode::Char('G'));
    let Some(Overlay::Help { scroll }) = c.view.overlay else {
        panic!("help closed")
    };
    assert!(scroll > 0);
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.overlay, Some(Overlay::Help { scroll }));
    press(&mut c, KeyCode::Char('k'));
    assert_eq!(c.view.overlay, Some(Overlay::Help { scroll: scroll - 1 }));
}

// ---------------------------------------------------------------- a driven rollout

const LEAD: &str = "ana@laptop";
const HOLDING_POD: &str = "payments/ledger-7d9f8c6b5-x2x4z";

fn step(id: &str, label: &str, state: StepState) -> StepView {
    StepView {
        id: id.into(),
        label: label.into(),
        state,
        ..Default::default()
    }
}

/// The plan of the fixed cluster: the control plane, four add-ons, three node groups,
/// the first four done; `apps` (index 5) is the step under way.
fn plan(apps: StepState) -> Vec<StepView> {
    use StepState::{Done, Pending};
    let mut apps = step("nodegroup/apps-1-30", "nodegroup apps-1-30 → 1.31", apps);
    apps.group = Some(GroupProgress {
        old: 4,
        new: 1,
        batch: 1,
        batches: 3,
        ..Default::default()
    });
    vec![
        step("control-plane", "control plane 1.30 → 1.31", Done),
        step("addon/vpc-cni", "addon vpc-cni → v1.19.2-eksbuild.1", Done),
        step("addon/coredns", "addon coredns → v1.11.3-eksbuild.2", Done),
        step("addon/kube-proxy", "addon kube-proxy → v1.31.3-eksbuild.2", Done),
        step("nodegroup/system", "nodegroup system → 1.31", Pending),
        apps,
        step(
            "nodegroup/apps-1-31",
            "nodegroup apps-1-31 → 1.31 (already there)",
            Pending,
        ),
        step(
            "addon/aws-ebs-csi-driver",
            "addon aws-ebs-csi-driver → v1.38.1-eksbuild.1",
            Pending,
        ),
        step("check", "check: every node on 1.31", Pending),
    ]
}

fn state(phase: Phase, apps: StepState) -> RolloutState {
    let mut steps = plan(apps);
    // the system group went first
    steps[4].state = StepState::Done;
    RolloutState {
        cluster: "shop-prod".into(),
        from: "1.30".into(),
        target: "1.31".into(),
        environment: "production".into(),
        lead: LEAD.into(),
        updated: Some(now() - jiff::SignedDuration::from_secs(3)),
        phase,
        steps,
        current: Some(5),
        gate: None,
        notice: None,
    }
}

fn criterion(name: &str, ok: bool, detail: &str) -> Criterion {
    Criterion {
        name: name.into(),
        ok,
        detail: detail.into(),
    }
}

/// The gate before the second batch of `apps-1-30`: pod errors above the baseline and
/// a budget that allows no disruption.
fn red_gate() -> GateView {
    GateView {
        id: "gate/nodegroup/apps-1-30/batch#2".into(),
        title: "before batch 2 of 3 of nodegroup apps-1-30".into(),
        criteria: vec![
            criterion("unscheduled pods", true, "0 (limit 0)"),
            criterion(
                "pod errors above baseline",
                false,
                "3 above the baseline of 1 (limit 0): shop/checkout CrashLoopBackOff 2, shop/search ImagePullBackOff 1",
            ),
            criterion("nodes Ready", true, "12 of 12"),
            criterion("critical components", true, "DNS, pod networking, autoscaling healthy"),
            criterion("CloudWatch alarms", true, "0 of 4 in ALARM"),
            criterion(
                "drain blockers",
                false,
                "PodDisruptionBudget shop/web allows 0 disruptions (6 healthy, 6 needed)",
            ),
        ],
        green_since: None,
        settle_seconds: 60,
        passable: false,
        decision: None,
    }
}

fn green_gate(for_secs: i64, passable: bool) -> GateView {
    let mut g = red_gate();
    for k in &mut g.criteria {
        k.ok = true;
    }
    g.criteria[1].detail = "0 above the baseline of 1 (limit 0)".into();
    g.criteria[5].detail = "none".into();
    g.green_since = Some(now() - jiff::SignedDuration::from_secs(for_secs));
    g.passable = passable;
    g
}

fn gate_red() -> RolloutState {
    let mut s = state(Phase::Gate, StepState::Gate);
    s.steps[5].what = "waiting at the gate before batch 2 of 3".into();
    s.gate = Some(red_gate());
    s
}

fn gate_green() -> RolloutState {
    let mut s = gate_red();
    s.gate = Some(green_gate(75, true));
    s
}

fn group_running() -> RolloutState {
    let mut s = state(Phase::Running, StepState::Running);
    let apps = &mut s.steps[5];
    apps.what = "replacing batch 2 of 3: draining ip-10-0-2-22".into();
    apps.detail = "EKS update 3f9c2e71 InProgress for 6m · 4 pods left to move off ip-10-0-2-22".into();
    apps.group = Some(GroupProgress {
        old: 3,
        new: 2,
        batch: 2,
        batches: 3,
        draining: vec![host("ip-10-0-2-22")],
        holding: Some(format!(
            "pod {HOLDING_POD} held by PodDisruptionBudget payments/ledger (0 disruptions allowed: 2 healthy, 2 needed)"
        )),
        skipped: vec![host("ip-10-0-2-21")],
        auto_continue: true,
    });
    let mut gate = green_gate(75, true);
    gate.decision = Some(format!("proceed by {LEAD}"));
    s.gate = Some(gate);
    s
}

fn held() -> RolloutState {
    let mut s = group_running();
    s.phase = Phase::Held {
        node: host("ip-10-0-2-22"),
        pod: HOLDING_POD.into(),
        why: "PodDisruptionBudget payments/ledger (0 disruptions allowed: 2 healthy, 2 needed)".into(),
        since: Some(now() - jiff::SignedDuration::from_mins(15)),
    };
    s.steps[5].what = "drain of ip-10-0-2-22 held for 15m (pod timeout 10m)".into();
    s
}

fn failed() -> RolloutState {
    let mut s = group_running();
    s.phase = Phase::Failed {
        why: "EKS update 3f9c2e71 Failed: PodEvictionFailure: Reached max retries while trying to evict pods from \
              nodes in node group apps-1-30"
            .into(),
        what_to_do: "free the budget (kubectl -n payments get pdb ledger) and retry, skip the step, or force the \
                     update past the budgets"
            .into(),
        can_force: true,
    };
    let apps = &mut s.steps[5];
    apps.state = StepState::Failed;
    apps.what = "the node group's update failed".into();
    apps.detail = "EKS update 3f9c2e71 Failed after 14m; 2 of 5 nodes replaced".into();
    s.notice = Some("retry refused: the update is still rolling back".into());
    s
}

fn confirming() -> RolloutState {
    let mut s = state(Phase::ConfirmCluster, StepState::Pending);
    for st in &mut s.steps {
        st.state = StepState::Pending;
    }
    s.current = None;
    s
}

fn done() -> RolloutState {
    let mut s = state(Phase::Done, StepState::Done);
    for st in &mut s.steps {
        st.state = StepState::Done;
    }
    s.steps[6].state = StepState::Skipped;
    s.current = Some(8);
    let mut gate = green_gate(60, true);
    gate.title = "before check: every node on 1.31".into();
    gate.decision = Some(format!("proceed by {LEAD}"));
    s.gate = Some(gate);
    s
}

/// The fixed cluster with a rollout driven on it, the rollout pane focused.
fn driven(read_only: bool, state: RolloutState) -> Cockpit {
    let mut c = cockpit(read_only);
    c.rollout = Some(state);
    focus(&mut c, Pane::Rollout);
    c
}

fn drive(c: &mut Cockpit, code: KeyCode) -> Option<Command> {
    match press(c, code) {
        Some(Intent::Drive(command)) => Some(command),
        Some(other) => panic!("{other:?}"),
        None => None,
    }
}

#[test]
fn a_red_gate_as_the_lead_sees_it() {
    let mut c = driven(false, gate_red());
    let wide = screen(&mut c, 200, 60);
    assert!(
        wide.contains("upshift drive shop-prod 1.30 → 1.31 · production · lead ana@laptop · phase at gate · 5/9 steps"),
        "{wide}"
    );
    let t = render(&mut c, 120, 40);
    let text = t.backend().to_string();
    assert!(
        text.contains("upshift drive shop-prod 1.30 → 1.31 · production · lead ana@laptop "),
        "{text}"
    );
    assert!(text.contains("phase at gate · 5/9 steps"), "{text}");
    assert!(text.contains("[o] override with a reason"), "{text}");
    assert!(!text.contains("[enter] proceed"), "{text}");
    insta::assert_snapshot!("rollout_gate_red_120x40", text);
    let buf = t.backend().buffer();
    let fg = |on_row: &str, needle: &str| buf[find(buf, on_row, needle)].fg;
    assert_eq!(fg("unscheduled pods", "✓"), Color::Green, "a green criterion");
    assert_eq!(fg("pod errors above baseline", "✗"), Color::Red, "a red criterion");
    assert_eq!(fg("drain blockers", "drain blockers"), Color::Red);
    assert_eq!(fg("red: 2 of 6 criteria", "red"), Color::Red);
    assert_eq!(fg("nodegroup system", "✓"), Color::Green, "a step done");
    assert_eq!(fg("nodegroup apps-1-30", "◆"), Color::Yellow, "the step at its gate");
    insta::assert_snapshot!("rollout_gate_red_120x40_colours", colours(buf));
    insta::assert_snapshot!("rollout_gate_red_200x60", wide);
    insta::assert_snapshot!("rollout_gate_red_80x24", screen(&mut c, 80, 24));
    // a narrow screen with another pane focused folds the rollout to a line
    focus(&mut c, Pane::Nodes);
    let text = screen(&mut c, 80, 24);
    assert!(text.contains(" 0 rollout"), "{text}");
    assert!(text.contains("at gate · 5/9 steps"), "{text}");
    insta::assert_snapshot!("rollout_gate_red_folded_80x24", text);
}

#[test]
fn the_same_gate_read_only_with_the_leads_decision() {
    let mut s = gate_red();
    let gate = s.gate.as_mut().expect("gate");
    gate.decision = Some(format!(
        "override by {LEAD}: the checkout errors are the known canary issue INC-2211"
    ));
    let mut c = driven(true, s);
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(
        text.contains("decision: override by ana@laptop: the checkout errors"),
        "{text}"
    );
    assert!(text.contains("published 3s ago"), "{text}");
    insta::assert_snapshot!("rollout_gate_read_only_120x40", text);
    insta::assert_snapshot!("rollout_gate_read_only_200x60", screen(&mut c, 200, 60));

    // before the lead decides, the shadow sees the lead's choices, not its own
    let mut c = driven(true, gate_red());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("ana@laptop decides: o override with a reason"), "{text}");
    assert!(!text.contains("[o]"), "{text}");
    let footer = text.lines().last().expect("footer").to_string();
    assert!(
        !footer.contains("override"),
        "no drive keys in a shadow's footer: {footer}"
    );
}

#[test]
fn a_node_group_step_running() {
    let mut c = driven(false, group_running());
    let wide = screen(&mut c, 200, 60);
    assert!(
        wide.contains("new 2 of 5 · old 3 · batch 2/3 · auto-continue on"),
        "{wide}"
    );
    let text = screen(&mut c, 120, 40);
    for needle in [
        "held: pod payments/ledger-7d9f8c6b5-x2x4z held by PodDisruptionBudget",
        "gate before batch 2 of 3 of nodegroup apps-1-30 passed · proceed by ana@laptop",
    ] {
        assert!(wide.contains(needle), "{needle:?} in {wide}");
    }
    for needle in [
        "replacing batch 2 of 3: draining ip-10-0-2-22",
        "new 2 of 5 · old 3 · batch 2/3",
        "auto-continue on",
        "draining ip-10-0-2-22",
        "held: pod payments/ledger-7d9f8c6b5-x2x4z held by",
        "skipped ip-10-0-2-21 (left on 1.30)",
        "gate before batch 2 of 3 of nodegroup apps-1-30 passed",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    insta::assert_snapshot!("rollout_group_running_120x40", text);
    insta::assert_snapshot!("rollout_group_running_200x60", wide);
}

#[test]
fn a_held_drain_and_its_choices() {
    let mut c = driven(false, held());
    let wide = screen(&mut c, 200, 60);
    assert!(wide.contains("drain held on ip-10-0-2-22 for 15m"), "{wide}");
    assert!(
        wide.contains("[w] keep waiting  [s] skip node  [D] delete the pod (type its name)"),
        "{wide}"
    );
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("[D] delete the pod (type its name)"), "{text}");
    insta::assert_snapshot!("rollout_held_120x40", text);
    insta::assert_snapshot!("rollout_held_200x60", wide);

    // without a time, the choices are still there
    let mut s = held();
    if let Phase::Held { since, .. } = &mut s.phase {
        *since = None;
    }
    let mut c = driven(false, s);
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("drain held on ip-10-0-2-22 "), "{text}");
    assert!(text.contains("[w] keep waiting"), "{text}");
}

#[test]
fn a_failed_step_that_can_be_forced() {
    let mut c = driven(false, failed());
    let wide = screen(&mut c, 200, 60);
    assert!(wide.contains("step failed: EKS update 3f9c2e71 Failed"), "{wide}");
    assert!(
        wide.contains(
            "[r] retry  [o] skip step with a reason  [F] force (type the group's name)  [A] abort (type abort)"
        ),
        "{wide}"
    );
    assert!(
        wide.contains("retry refused: the update is still rolling back"),
        "the drive's notice: {wide}"
    );
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("[A] abort (type abort)"), "{text}");
    insta::assert_snapshot!("rollout_failed_120x40", text);
    insta::assert_snapshot!("rollout_failed_200x60", wide);

    // without force, no F
    let mut s = failed();
    s.phase = Phase::Failed {
        why: "addon coredns: DEGRADED".into(),
        what_to_do: "look at the add-on's health".into(),
        can_force: false,
    };
    let mut c = driven(false, s);
    assert!(!screen(&mut c, 120, 40).contains("[F]"));
    assert_eq!(drive(&mut c, KeyCode::Char('F')), None);
}

#[test]
fn the_override_reason_prompt() {
    let mut c = driven(false, gate_red());
    assert_eq!(drive(&mut c, KeyCode::Char('o')), None);
    // an empty reason is refused in the prompt itself
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_some(), "the prompt stays open");
    assert!(screen(&mut c, 120, 40).contains("a reason is needed"));
    typed(&mut c, "checkout errors are the known canary issue INC-2211");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("reason for passing this red gate:"), "{text}");
    assert!(
        text.contains("> checkout errors are the known canary issue INC-2211▏"),
        "{text}"
    );
    assert!(!text.contains("a reason is needed"), "{text}");
    insta::assert_snapshot!("rollout_override_prompt_120x40", text);
    insta::assert_snapshot!("rollout_override_prompt_200x60", screen(&mut c, 200, 60));
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Override {
            reason: "checkout errors are the known canary issue INC-2211".into()
        })
    );
    assert!(c.view.prompt.is_none());

    // esc drops it: nothing sent
    press(&mut c, KeyCode::Char('o'));
    typed(&mut c, "never mind");
    assert_eq!(drive(&mut c, KeyCode::Esc), None);
    assert!(c.view.prompt.is_none());
}

#[test]
fn the_confirm_cluster_prompt() {
    let mut c = driven(false, confirming());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("production cluster: type its name to begin"), "{text}");
    // enter, or any key that means nothing else, opens the prompt
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_some());
    typed(&mut c, "shop-pr");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("type the cluster's name (shop-prod):"), "{text}");
    insta::assert_snapshot!("rollout_confirm_prompt_120x40", text);
    insta::assert_snapshot!("rollout_confirm_prompt_200x60", screen(&mut c, 200, 60));
    // not the name: refused, the prompt stays
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(screen(&mut c, 120, 40).contains("that is not the cluster's name: type shop-prod"));
    typed(&mut c, "od");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::ConfirmCluster {
            name: "shop-prod".into()
        })
    );

    let mut c = driven(false, confirming());
    focus(&mut c, Pane::Nodes);
    press(&mut c, KeyCode::Char('s'));
    typed(&mut c, "hop-prod");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::ConfirmCluster {
            name: "shop-prod".into()
        }),
        "typing the name opens the prompt from any pane"
    );
}

#[test]
fn a_finished_rollout() {
    let mut c = driven(false, done());
    let text = screen(&mut c, 120, 40);
    assert!(
        text.contains("done: every step finished; the cluster runs 1.31 (1 skipped)"),
        "{text}"
    );
    insta::assert_snapshot!("rollout_done_120x40", text);
    insta::assert_snapshot!("rollout_done_200x60", screen(&mut c, 200, 60));
    for key in ['p', 'A', 'o', 'c'] {
        assert_eq!(drive(&mut c, KeyCode::Char(key)), None, "{key} after the end");
    }
}

#[test]
fn enter_proceeds_at_a_passable_gate_only() {
    let mut c = driven(false, gate_green());
    assert!(screen(&mut c, 120, 40).contains("[enter] proceed"));
    assert_eq!(drive(&mut c, KeyCode::Enter), Some(Command::Proceed));

    // red: nothing sent, the notice says to use o
    let mut c = driven(false, gate_red());
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    let note = c.view.message.clone().expect("a notice");
    assert!(note.contains("o passes it with a reason"), "{note}");
    assert!(screen(&mut c, 200, 60).contains("o passes it with a reason"));

    // green but settling: not yet
    let mut s = gate_red();
    s.gate = Some(green_gate(12, false));
    let mut c = driven(false, s);
    assert!(screen(&mut c, 120, 40).contains("green for 12s of 60s"));
    assert_eq!(drive(&mut c, KeyCode::Enter), None);

    // in a pane watching the cluster, enter still opens the selected row
    let mut c = driven(false, gate_green());
    focus(&mut c, Pane::Nodes);
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(matches!(c.view.overlay, Some(Overlay::Detail { .. })));
}

#[test]
fn the_leads_keys_send_commands() {
    let mut c = driven(false, held());
    assert_eq!(drive(&mut c, KeyCode::Char('w')), Some(Command::KeepWaiting));
    assert_eq!(drive(&mut c, KeyCode::Char('s')), Some(Command::SkipNode));
    assert_eq!(drive(&mut c, KeyCode::Char('p')), Some(Command::Pause));
    assert_eq!(
        drive(&mut c, KeyCode::Char('c')),
        Some(Command::AutoContinue(false)),
        "auto-continue was on"
    );
    // deleting the pod takes its name, with or without its namespace
    press(&mut c, KeyCode::Char('D'));
    typed(&mut c, "ledger");
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(screen(&mut c, 120, 40).contains("that is not the pod's name: type ledger-7d9f8c6b5-x2x4z"));
    typed(&mut c, "-7d9f8c6b5-x2x4z");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::DeletePod {
            confirm: HOLDING_POD.into()
        })
    );
    // the drain was released meanwhile: the prompt closes, nothing sent
    press(&mut c, KeyCode::Char('D'));
    typed(&mut c, HOLDING_POD);
    c.rollout = Some(group_running());
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_none());
    assert!(c.view.message.clone().unwrap_or_default().contains("nothing was sent"));

    let mut c = driven(false, failed());
    assert_eq!(drive(&mut c, KeyCode::Char('r')), Some(Command::Retry));
    press(&mut c, KeyCode::Char('F'));
    typed(&mut c, "apps-1-30");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Force {
            confirm: "apps-1-30".into()
        })
    );
    press(&mut c, KeyCode::Char('o'));
    typed(&mut c, "  ");
    assert_eq!(drive(&mut c, KeyCode::Enter), None, "a blank reason is no reason");
    typed(&mut c, "ledger is migrated by hand tonight");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Override {
            reason: "ledger is migrated by hand tonight".into()
        })
    );
    press(&mut c, KeyCode::Char('A'));
    typed(&mut c, "abort");
    assert_eq!(drive(&mut c, KeyCode::Enter), Some(Command::Abort));

    let mut s = group_running();
    s.phase = Phase::Paused;
    let mut c = driven(false, s);
    assert!(screen(&mut c, 120, 40).contains("[p] resume"));
    assert_eq!(drive(&mut c, KeyCode::Char('p')), Some(Command::Resume));

    // the footer offers what applies now
    let mut c = driven(false, held());
    let text = screen(&mut c, 200, 60);
    let footer = text.lines().last().expect("footer").to_string();
    for hint in [
        "w keep waiting",
        "s skip node",
        "D delete the pod",
        "p pause",
        "A abort",
    ] {
        assert!(footer.contains(hint), "{hint:?} in {footer}");
    }
    assert!(!footer.contains("r retry"), "{footer}");
}

#[test]
fn a_read_only_cockpit_decides_nothing() {
    let keys = [
        KeyCode::Enter,
        KeyCode::Char('o'),
        KeyCode::Char('p'),
        KeyCode::Char('A'),
        KeyCode::Char('r'),
        KeyCode::Char('F'),
        KeyCode::Char('w'),
        KeyCode::Char('s'),
        KeyCode::Char('D'),
        KeyCode::Char('c'),
        KeyCode::Char('x'),
    ];
    let mut paused = group_running();
    paused.phase = Phase::Paused;
    for state in [
        gate_red(),
        gate_green(),
        group_running(),
        held(),
        failed(),
        confirming(),
        paused,
        done(),
    ] {
        let phase = state.phase.name();
        for pane in [Pane::Rollout, Pane::Nodes] {
            let mut c = driven(true, state.clone());
            focus(&mut c, pane);
            for key in keys {
                let intent = press(&mut c, key);
                assert!(
                    !matches!(intent, Some(Intent::Drive(_))),
                    "{key:?} at {phase} in {pane:?} sent {intent:?}"
                );
                assert!(c.view.prompt.is_none(), "{key:?} at {phase} opened a prompt");
                press(&mut c, KeyCode::Esc);
            }
        }
    }
    let mut c = driven(true, held());
    press(&mut c, KeyCode::Char('w'));
    assert_eq!(c.view.message.as_deref(), Some("read-only: the lead decides"));
    assert!(screen(&mut c, 120, 40).contains("read-only: the lead decides"));
}

#[test]
fn the_rollout_pane_joins_the_cycle_while_driven() {
    let mut c = driven(false, gate_red());
    assert_eq!(c.view.focus, Pane::Rollout);
    press(&mut c, KeyCode::Tab);
    assert_eq!(c.view.focus, Pane::Nodes);
    press(&mut c, KeyCode::BackTab);
    press(&mut c, KeyCode::BackTab);
    assert_eq!(c.view.focus, Pane::Events);
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "rollout");
    press(&mut c, KeyCode::Enter);
    assert_eq!(c.view.focus, Pane::Rollout);
    // the rollout ends: the focus goes back to the cluster on the next key
    c.rollout = None;
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.focus, Pane::Nodes);
    assert!(!screen(&mut c, 200, 60).contains("rollout"));
}
