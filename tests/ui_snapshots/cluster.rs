//! The fixed cluster the screens are drawn from: real `k8s_openapi` objects (nodes
//! in three groups, pods doing everything pods do, warning events, budgets, the
//! critical components) projected through the model at a fixed instant, and the
//! cockpits built on it.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};
use upshift::cluster::Connection;
use upshift::cockpit::Cockpit;
use upshift::model::{
    Change, ComponentInfo, Delta, Interner, LogEntry, NodeInfo, PdbInfo, PodInfo, Source, SourceState, Timestamp,
};

pub fn now() -> Timestamp {
    "2025-06-02T14:30:00Z".parse().expect("time")
}

/// `minutes` before `now()`, as the API writes times.
pub fn ago(minutes: i64) -> String {
    (now() - jiff::SignedDuration::from_mins(minutes)).to_string()
}

pub fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

pub const OLD: &str = "v1.30.9-eks-5e0fdde";
pub const NEW: &str = "v1.31.4-eks-0e1ae5b";

pub struct NodeSpec {
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

pub fn node(s: &NodeSpec) -> Node {
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

pub fn nodes() -> Vec<Node> {
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

pub fn host(h: &str) -> String {
    format!("{h}.eu-west-1.compute.internal")
}

/// What a pod is doing, for `pod()`.
pub enum Doing {
    Running,
    Deleting,
    CrashLoop { restarts: i32 },
    OomLoop { restarts: i32 },
    ImagePull,
    Unschedulable,
}

pub fn pod(ns: &str, name: &str, owner: (&str, &str), node: Option<&str>, doing: Doing, age_min: i64) -> Pod {
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

pub fn pods() -> Vec<Pod> {
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
pub fn event(
    object: (&str, Option<&str>, &str),
    type_: &str,
    reason: &str,
    message: &str,
    count: i32,
    min: i64,
) -> Event {
    let (kind, ns, name) = object;
    from(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{reason}"), "namespace": ns.unwrap_or("default"), "creationTimestamp": ago(min)},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name},
        "type": type_, "reason": reason, "message": message, "count": count,
        "firstTimestamp": ago(min + 10), "lastTimestamp": ago(min),
    }))
}

pub fn events() -> Vec<Event> {
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

pub fn pdbs() -> Vec<PodDisruptionBudget> {
    let pdb = |ns: &str, name: &str, allowed: i32, current: i32, desired: i32, expected: i32| -> PodDisruptionBudget {
        from(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"minAvailable": desired, "selector": {"matchLabels": {"app": name}}},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": current, "desiredHealthy": desired,
                       "expectedPods": expected, "observedGeneration": 1},
        }))
    };
    vec![
        pdb("shop", "web", 0, 6, 6, 6),
        pdb("kube-system", "coredns", 1, 2, 1, 2),
    ]
}

pub fn deployment(ns: &str, name: &str, image: &str, replicas: i32, ready: i32) -> Deployment {
    from(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": replicas},
    }))
}

pub fn daemonset(ns: &str, name: &str, image: &str, desired: i32, ready: i32) -> DaemonSet {
    from(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired, "numberMisscheduled": 0,
                   "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": desired},
    }))
}

pub fn components() -> Vec<ComponentInfo> {
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

/// Every workload's availability and the Services: a Deployment down and two
/// degraded in shop, the autoscaler down, and a Service with no ready endpoint.
pub fn availability(c: &mut Cockpit) {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use upshift::model::service::{ServiceInfo, SliceInfo};
    use upshift::model::workload::{Kind, WorkloadInfo};
    let mut strings = Interner::default();
    let ecr = "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks";
    let app = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let deployments = [
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
        deployment("shop", "web", &format!("{app}/web:2025.05.3"), 6, 6),
        deployment("shop", "checkout", &format!("{app}/checkout:2025.05.3"), 3, 1),
        deployment("shop", "recommender", &format!("{app}/recommender:2025.05.3"), 2, 0),
        deployment("shop", "search", &format!("{app}/search:2025.05.3"), 2, 1),
    ];
    c.apply(Delta::Workloads(
        Kind::Deployment,
        deployments
            .iter()
            .filter_map(|d| WorkloadInfo::from_deployment(d, &mut strings))
            .map(|w| Change::Upsert(format!("{}/{}", w.namespace, w.name), w))
            .collect(),
    ));
    let daemonsets = [
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
    ];
    c.apply(Delta::Workloads(
        Kind::DaemonSet,
        daemonsets
            .iter()
            .filter_map(|d| WorkloadInfo::from_daemonset(d, &mut strings))
            .map(|w| Change::Upsert(format!("{}/{}", w.namespace, w.name), w))
            .collect(),
    ));
    let rs = |ns: &str, name: &str, owner: &str| -> ReplicaSet {
        from(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"namespace": ns, "name": name,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u", "controller": true}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": owner}}},
        }))
    };
    let sets = [
        rs("kube-system", "coredns-5d8f7c9b6", "coredns"),
        rs("shop", "web-7c9d8b6f5", "web"),
        rs("shop", "checkout-6f7d9c8b4", "checkout"),
        rs("shop", "recommender-5b6c7d8e9", "recommender"),
        rs("shop", "search-8e7f6d5c4", "search"),
    ];
    c.apply(Delta::Workloads(
        Kind::ReplicaSet,
        sets.iter()
            .filter_map(|d| WorkloadInfo::from_replicaset(d, &mut strings))
            .map(|w| Change::Upsert(format!("{}/{}", w.namespace, w.name), w))
            .collect(),
    ));
    let svc = |ns: &str, name: &str| -> Service {
        from(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        }))
    };
    let services = [
        svc("shop", "web"),
        svc("shop", "recommender"),
        svc("kube-system", "kube-dns"),
    ];
    c.apply(Delta::Services(
        services
            .iter()
            .filter_map(|s| ServiceInfo::from_service(s, &mut strings))
            .map(|s| Change::Upsert(s.key(), s))
            .collect(),
    ));
    let slice = |ns: &str, service: &str, ready: usize| -> EndpointSlice {
        let endpoints: Vec<Value> = (0..ready)
            .map(|i| json!({"addresses": [format!("10.0.1.{i}")], "conditions": {"ready": true}}))
            .collect();
        from(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": ns, "name": format!("{service}-abcde"),
                         "labels": {"kubernetes.io/service-name": service}},
            "endpoints": endpoints,
        }))
    };
    let slices = [
        slice("shop", "web", 6),
        slice("shop", "recommender", 0),
        slice("kube-system", "kube-dns", 2),
    ];
    c.apply(Delta::EndpointSlices(
        slices
            .iter()
            .filter_map(|s| SliceInfo::from_slice(s, &mut strings))
            .map(|s| Change::Upsert(format!("{}/x", s.service), s))
            .collect(),
    ));
}

pub fn connection() -> Connection {
    Connection {
        context: "arn:aws:eks:eu-west-1:123456789012:cluster/shop-prod".into(),
        cluster: "shop-prod".into(),
        server: "https://4F2A9C1B7D3E5F60718293A4B5C6D7E8.gr7.eu-west-1.eks.amazonaws.com".into(),
        user: "arn:aws:iam::123456789012:role/platform-oncall".into(),
        clock: Default::default(),
    }
}

/// The fixed cluster: 12 nodes in three groups mid-upgrade from 1.30 to 1.31.
/// An empty cockpit: read-only, or the lead's (its controls lead to no drive: these
/// tests read the decisions keys make from the intents they return).
pub fn bare(read_only: bool, now: Timestamp) -> Cockpit {
    if read_only {
        Cockpit::new(connection(), now)
    } else {
        let (tx, _) = tokio::sync::mpsc::unbounded_channel();
        Cockpit::lead(connection(), upshift::cockpit::lead::Controls::new(tx), now)
    }
}

pub fn cockpit(read_only: bool) -> Cockpit {
    cockpit_seeing(read_only, &[])
}

/// The same cluster, with some watches forbidden.
pub fn cockpit_seeing(read_only: bool, forbidden: &[Source]) -> Cockpit {
    // the cockpit started watching 30 minutes ago: the nodes that joined since are new
    let mut c = bare(read_only, now() - jiff::SignedDuration::from_mins(30));
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
    availability(&mut c);
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
