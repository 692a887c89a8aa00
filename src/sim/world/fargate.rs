//! EKS Fargate: the profiles a scenario sets, and the Fargate scheduler. A pod one of
//! whose profiles selects it (namespace and labels) gets `schedulerName:
//! fargate-scheduler`, and a node of its own, named `fargate-ip-….compute.internal`,
//! labelled and tainted `eks.amazonaws.com/compute-type: fargate`, whose kubelet is
//! the control plane's version at the time the pod started; the node goes when the
//! pod goes. `UpdateClusterVersion` is refused while a Fargate node's kubelet is
//! older than the control plane, as EKS refuses it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kubelet::requests;
use super::{World, eks_version, minor_of};
use crate::sim::scenario::Scenario;
use crate::sim::scenario::fargate::FargateProfileSpec;
use crate::units::{Minor, quantity};

/// The label (and taint key) EKS puts on Fargate nodes.
pub const COMPUTE_TYPE: &str = "eks.amazonaws.com/compute-type";
/// The label EKS puts on a Fargate pod: the profile that placed it.
pub const PROFILE_LABEL: &str = "eks.amazonaws.com/fargate-profile";
/// The scheduler EKS's admission webhook names on Fargate pods.
pub const SCHEDULER: &str = "fargate-scheduler";
/// The annotation Fargate writes on a pod: the vCPU and memory it provisioned.
pub const CAPACITY_PROVISIONED: &str = "CapacityProvisioned";

/// A Fargate profile as EKS keeps it.
#[derive(Clone, Debug)]
pub struct Profile {
    pub spec: FargateProfileSpec,
    pub created: Timestamp,
}

/// The Fargate side of the world.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub profiles: Vec<Profile>,
    /// The Fargate nodes, by name.
    pub nodes: BTreeSet<String>,
    next_ip: u32,
}

/// Takes the scenario's profiles (before its workloads are placed).
pub fn install(w: &mut World, s: &Scenario) {
    let created = w.now;
    w.fargate.profiles = s
        .fargate_profiles
        .iter()
        .map(|p| Profile {
            spec: p.clone(),
            created,
        })
        .collect();
}

/// Whether a node is a Fargate node.
pub fn is_fargate(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(COMPUTE_TYPE))
        .is_some_and(|v| v == "fargate")
}

/// The profile that selects `pod`, if any: a pod that names another scheduler than
/// the default (or Fargate's) is left alone.
fn profile_of<'a>(w: &'a World, pod: &Pod) -> Option<&'a FargateProfileSpec> {
    if w.fargate.profiles.is_empty() {
        return None;
    }
    let scheduler = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref());
    if scheduler.is_some_and(|s| s != "default-scheduler" && s != SCHEDULER) {
        return None;
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    w.fargate
        .profiles
        .iter()
        .map(|p| &p.spec)
        .find(|p| p.selectors.iter().any(|s| s.matches(ns, labels)))
}

/// Whether the default scheduler must leave `pod` to Fargate.
pub fn takes(w: &World, pod: &Pod) -> bool {
    profile_of(w, pod).is_some()
}

/// The Fargate configuration (vCPU in millicores, memory in bytes) a pod's requests
/// round up to: Fargate adds 256 MiB for its own components.
fn config(pod: &Pod) -> (u64, u64) {
    const GI: u64 = 1 << 30;
    let req = requests(pod);
    let cpu = [250, 500, 1000, 2000, 4000, 8000, 16000]
        .into_iter()
        .find(|c| *c >= req.cpu_millis)
        .unwrap_or(16000);
    let least = match cpu {
        250 => GI / 2,
        500 => GI,
        1000 => 2 * GI,
        2000 => 4 * GI,
        4000 => 8 * GI,
        _ => 16 * GI,
    };
    let want = (req.memory + (256 << 20)).div_ceil(GI) * GI;
    (cpu, want.max(least))
}

/// "0.25vCPU 0.5GB", as Fargate writes `CapacityProvisioned`.
fn provisioned(cpu: u64, memory: u64) -> String {
    let gb = memory as f64 / (1u64 << 30) as f64;
    format!("{}vCPU {}GB", cpu as f64 / 1000.0, gb)
}

/// Gives `pod` a Fargate node whose kubelet is `minor`'s, and binds it there:
/// scheduler, profile label, `CapacityProvisioned`, node name. Returns the node's name.
fn bind(w: &mut World, pod: &mut Pod, profile: &str, minor: &str) -> String {
    let (cpu, memory) = config(pod);
    w.fargate.next_ip += 1;
    let n = w.fargate.next_ip;
    let ip = format!("10.0.{}.{}", 128 + (n >> 8) % 128, n & 0xff);
    let region = w.cluster.region.clone();
    let name = format!("fargate-ip-{}.{region}.compute.internal", ip.replace('.', "-"));
    let zone = format!("{region}{}", ["a", "b", "c"][(n % 3) as usize]);
    let node = node_object(w, &name, &ip, &zone, minor, cpu, memory);
    w.fargate.nodes.insert(name.clone());
    w.put(node);
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(PROFILE_LABEL.into(), profile.into());
    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(CAPACITY_PROVISIONED.into(), provisioned(cpu, memory));
    if let Some(spec) = pod.spec.as_mut() {
        spec.scheduler_name = Some(SCHEDULER.into());
        spec.node_name = Some(name.clone());
    }
    name
}

/// At build: a pod a profile selects gets its Fargate node, with the profile's
/// kubelet (the control plane's minor when the pod started). None: not a Fargate pod.
pub fn place_at_build(w: &mut World, pod: &mut Pod) -> Option<String> {
    let p = profile_of(w, pod)?;
    let name = p.name.clone();
    let minor = p
        .kubelet_version
        .map(|m| m.to_string())
        .unwrap_or_else(|| w.cluster.version.clone());
    Some(bind(w, pod, &name, &minor))
}

/// The Fargate scheduler's pass: each pending pod a profile selects gets its node
/// (on the control plane's version now); Fargate nodes whose pod is gone go too.
pub fn reconcile(w: &mut World) {
    if w.fargate.profiles.is_empty() {
        return;
    }
    let pending: Vec<String> = w.idx.unscheduled.iter().cloned().collect();
    for key in pending {
        let Some(pod) = w.pods.get(&key).cloned() else { continue };
        let Some(profile) = profile_of(w, &pod).map(|p| p.name.clone()) else {
            continue;
        };
        let mut p = (*pod).clone();
        let minor = w.cluster.version.clone();
        let node = bind(w, &mut p, &profile, &minor);
        super::scheduler::mark_scheduled(&mut p, w.time());
        let p = w.put(p);
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        w.pod_event(
            &p,
            "Normal",
            "Scheduled",
            &format!("Successfully assigned {ns}/{name} to {node}"),
            SCHEDULER,
        );
    }
    let empty: Vec<String> = w
        .fargate
        .nodes
        .iter()
        .filter(|n| w.idx.pods_by_node.get(*n).is_none_or(|p| p.is_empty()))
        .cloned()
        .collect();
    for n in empty {
        w.fargate.nodes.remove(&n);
        w.remove::<Node>(&n);
    }
}

/// Why EKS refuses a control-plane update now: a Fargate node runs a kubelet older
/// than the control plane (EKS's words, with the pods named after them).
pub fn refusal(w: &World) -> Option<String> {
    let cp = Minor::parse(&w.cluster.version)?;
    let mut offending: Vec<String> = Vec::new();
    for name in &w.fargate.nodes {
        let Some(node) = w.nodes.get(name) else { continue };
        let kubelet = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str())
            .unwrap_or_default();
        if Minor::parse(kubelet).is_some_and(|k| k < cp) {
            let pods = w.idx.pods_by_node.get(name).into_iter().flatten();
            offending.extend(pods.map(|k| format!("{k} (kubelet {})", minor_of(kubelet))));
        }
    }
    if offending.is_empty() {
        return None;
    }
    offending.sort();
    let more = offending.len().saturating_sub(5);
    offending.truncate(5);
    Some(format!(
        "Kubelet version of Fargate pods must be updated to match cluster version {cp} before updating cluster version; Please recycle all offending pod replicas ({}{})",
        offending.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

/// A Fargate node as EKS registers it for one pod.
fn node_object(w: &mut World, name: &str, ip: &str, zone: &str, minor: &str, cpu: u64, memory: u64) -> Node {
    let region = w.cluster.region.clone();
    let labels = BTreeMap::from(
        [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            ("topology.kubernetes.io/zone", zone),
            ("topology.kubernetes.io/region", region.as_str()),
            ("failure-domain.beta.kubernetes.io/zone", zone),
            (COMPUTE_TYPE, "fargate"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let resources = BTreeMap::from([
        ("cpu".to_string(), Quantity(quantity::format_cpu(cpu))),
        ("memory".to_string(), Quantity(quantity::format_bytes(memory))),
        ("pods".to_string(), Quantity("1".into())),
        ("ephemeral-storage".to_string(), Quantity("20Gi".into())),
    ]);
    let now = w.time();
    let version = eks_version(minor);
    let mut meta = ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    let boot_id = w.uid();
    Node {
        metadata: meta,
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///{zone}/{}", boot_id.replace('-', "")[..20].to_owned())),
            taints: Some(vec![Taint {
                key: COMPUTE_TYPE.into(),
                value: Some("fargate".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                message: Some("kubelet is posting ready status".into()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(now),
            }]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name.to_string(),
                },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id,
                container_runtime_version: "containerd://1.7.27".into(),
                kernel_version: "5.10.234-225.910.amzn2.x86_64".into(),
                kube_proxy_version: version.clone(),
                kubelet_version: version,
                operating_system: "linux".into(),
                os_image: "Amazon Linux 2".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}
