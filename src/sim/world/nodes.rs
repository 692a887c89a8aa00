//! Node groups and their instances: launching an instance makes a Ready node join
//! after its boot time; terminating one makes its node NotReady, then gone with its
//! pods. Groups keep their desired count like an Auto Scaling group.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{Timer, World, eks_version};
use crate::units::quantity;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeGroupKind {
    Managed,
    SelfManaged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    InService,
    Terminating,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub zone: String,
    pub node_name: String,
    pub state: InstanceState,
    /// Kubelet minor version this instance boots with.
    pub version: String,
    pub launched: jiff::Timestamp,
}

#[derive(Clone, Debug)]
pub struct NodeGroupState {
    pub name: String,
    pub kind: NodeGroupKind,
    pub asg_name: String,
    pub instance_type: String,
    pub zones: Vec<String>,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// Kubelet minor version that new instances boot with.
    pub version: String,
    pub cpu_millis: u64,
    pub memory: u64,
    pub max_pods: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub boot_seconds: f64,
    pub instances: Vec<Instance>,
    next_zone: usize,
    /// What EKS reports of a managed group (and its update config).
    pub managed: ManagedConfig,
}

/// Where a managed node group is in its life, as EKS reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupLife {
    Creating,
    #[default]
    Active,
    Deleting,
}

/// A managed node group's EKS settings.
#[derive(Clone, Debug, Default)]
pub struct ManagedConfig {
    pub life: GroupLife,
    /// `AL2023_x86_64_STANDARD` unless the group was created with another.
    pub ami_type: Option<String>,
    /// The AMI release version the group was created with, if one was asked for.
    pub release_version: Option<String>,
    /// (id, name, version) of the launch template it was created with.
    pub launch_template: Option<(String, String, String)>,
    /// `updateConfig`: nodes replaced at a time, as a count or a percentage.
    pub max_unavailable: Option<u32>,
    pub max_unavailable_percentage: Option<u32>,
    pub capacity_type: Option<String>,
    pub disk_size: Option<u32>,
    pub subnets: Vec<String>,
    pub created: Option<jiff::Timestamp>,
    pub modified: Option<jiff::Timestamp>,
}

impl NodeGroupState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        kind: NodeGroupKind,
        instance_type: String,
        zones: Vec<String>,
        desired: u32,
        min: u32,
        max: u32,
        version: String,
        (cpu_millis, memory, max_pods): (u64, u64, u32),
        labels: BTreeMap<String, String>,
        taints: Vec<Taint>,
        boot_seconds: f64,
    ) -> Self {
        let asg_name = match kind {
            NodeGroupKind::Managed => format!("eks-{name}-{:08x}", super::fnv(name.as_bytes())),
            NodeGroupKind::SelfManaged => name.clone(),
        };
        NodeGroupState {
            name,
            kind,
            asg_name,
            instance_type,
            zones,
            desired,
            min,
            max,
            version,
            cpu_millis,
            memory,
            max_pods,
            labels,
            taints,
            boot_seconds,
            instances: Vec::new(),
            next_zone: 0,
            managed: ManagedConfig::default(),
        }
    }

    pub fn alive(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminating)
            .count()
    }
}

pub fn node_changed(w: &mut World, old: Option<&Arc<Node>>, new: Option<&Arc<Node>>) {
    w.dirty.scheduler = true;
    let became = |n: Option<&Arc<Node>>| {
        n.map(|n| {
            (
                super::scheduler::node_ready(n),
                n.metadata.labels.clone(),
                n.spec.as_ref().and_then(|s| s.taints.clone()),
            )
        })
    };
    if became(old) != became(new) {
        w.dirty.all_daemonsets = true;
    }
    if let (Some(o), None) = (old, new) {
        // the pod garbage collector removes pods bound to a node that is gone
        let name = o.metadata.name.clone().unwrap_or_default();
        let pods: Vec<String> = w
            .idx
            .pods_by_node
            .remove(&name)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for k in pods {
            if let Some(p) = w.pods.get(&k).cloned() {
                super::lifecycle::count_lost_pod(w, &p, &name);
            }
            w.remove::<Pod>(&k);
        }
        w.idx.node_usage.remove(&name);
    }
    if let Some(n) = new {
        sync_cordon_taint(w, n);
    }
}

/// The taint the node lifecycle controller keeps on cordoned nodes.
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Adds the `node.kubernetes.io/unschedulable:NoSchedule` taint to a cordoned node
/// and removes it from an uncordoned one, as the node lifecycle controller does.
fn sync_cordon_taint(w: &mut World, n: &Arc<Node>) {
    let cordoned = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    let tainted = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == UNSCHEDULABLE_TAINT));
    if cordoned == tainted {
        return;
    }
    let mut node = (**n).clone();
    let spec = node.spec.get_or_insert_with(Default::default);
    let mut taints = spec.taints.take().unwrap_or_default();
    if cordoned {
        taints.push(Taint {
            key: UNSCHEDULABLE_TAINT.into(),
            value: None,
            effect: "NoSchedule".into(),
            time_added: Some(w.time()),
        });
    } else {
        taints.retain(|t| t.key != UNSCHEDULABLE_TAINT);
    }
    spec.taints = (!taints.is_empty()).then_some(taints);
    w.put(node);
}

fn instance_id(w: &mut World) -> String {
    use rand::Rng;
    let n: u64 = w.rng.random();
    format!("i-0{:016x}", n)[..19].to_string()
}

/// A node object as the kubelet of `group`'s instance registers it.
pub fn node_object(w: &mut World, group: &NodeGroupState, inst: &Instance, ready: bool) -> Node {
    let mut labels = group.labels.clone();
    let region = w.cluster.region.clone();
    for (k, v) in [
        ("kubernetes.io/hostname", inst.node_name.clone()),
        ("kubernetes.io/os", "linux".into()),
        ("kubernetes.io/arch", "amd64".into()),
        ("beta.kubernetes.io/os", "linux".into()),
        ("beta.kubernetes.io/arch", "amd64".into()),
        ("node.kubernetes.io/instance-type", group.instance_type.clone()),
        ("topology.kubernetes.io/zone", inst.zone.clone()),
        ("topology.kubernetes.io/region", region.clone()),
    ] {
        labels.insert(k.into(), v);
    }
    match group.kind {
        NodeGroupKind::Managed => {
            labels.insert("eks.amazonaws.com/nodegroup".into(), group.name.clone());
            labels.insert("eks.amazonaws.com/capacityType".into(), "ON_DEMAND".into());
            labels.insert(
                "eks.amazonaws.com/nodegroup-image".into(),
                format!("ami-0{:016x}", u64::from(super::fnv(inst.version.as_bytes())) << 8)[..21].to_string(),
            );
        }
        NodeGroupKind::SelfManaged => {
            labels.insert("alpha.eksctl.io/nodegroup-name".into(), group.name.clone());
        }
    }
    let resources = BTreeMap::from([
        ("cpu".to_string(), Quantity(quantity::format_cpu(group.cpu_millis))),
        ("memory".to_string(), Quantity(quantity::format_bytes(group.memory))),
        ("pods".to_string(), Quantity(group.max_pods.to_string())),
        ("ephemeral-storage".to_string(), Quantity("20Gi".into())),
    ]);
    let ip = inst
        .node_name
        .trim_start_matches("ip-")
        .split('.')
        .next()
        .unwrap_or_default()
        .replace('-', ".");
    let now = w.time();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    };
    let version = eks_version(&inst.version);
    let (os_image, kernel, runtime) = super::nodegroups::node_os(group.managed.ami_type.as_deref(), &inst.version);
    let mut meta = ObjectMeta {
        name: Some(inst.node_name.clone()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            "alpha.kubernetes.io/provided-node-ip".to_string(),
            ip.clone(),
        )])),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    Node {
        metadata: meta,
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///{}/{}", inst.zone, inst.id)),
            taints: (!group.taints.is_empty()).then(|| group.taints.clone()),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            conditions: Some(vec![
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                if ready {
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")
                } else {
                    cond(
                        "Ready",
                        "False",
                        "KubeletNotReady",
                        "container runtime network not ready",
                    )
                },
            ]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip,
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: inst.node_name.clone(),
                },
                NodeAddress {
                    type_: "InternalDNS".into(),
                    address: inst.node_name.clone(),
                },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: w.uid(),
                container_runtime_version: runtime.into(),
                kernel_version: kernel.into(),
                kube_proxy_version: version.clone(),
                kubelet_version: version,
                machine_id: format!("ec2{:029x}", u128::from(super::fnv(inst.id.as_bytes()))),
                operating_system: "linux".into(),
                os_image: os_image.into(),
                system_uuid: format!(
                    "ec2{:05x}-0000-0000-0000-000000000000",
                    super::fnv(inst.id.as_bytes()) & 0xfffff
                ),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// Launches one instance in `group` (index); its node joins after the boot time,
/// or at once when `booted`.
pub fn launch(w: &mut World, group: usize, booted: bool) -> String {
    let id = instance_id(w);
    let g = &mut w.groups[group];
    let zone = g.zones[g.next_zone % g.zones.len().max(1)].clone();
    g.next_zone += 1;
    let n = w.next_host();
    let region = w.cluster.region.clone();
    let node_name = format!("ip-10-0-{}-{}.{region}.compute.internal", (n >> 8) & 0xff, n & 0xff);
    let inst = Instance {
        id: id.clone(),
        zone,
        node_name,
        state: InstanceState::Pending,
        version: w.groups[group].version.clone(),
        launched: w.now,
    };
    w.groups[group].instances.push(inst);
    super::lifecycle::launched(w, group, &id);
    if booted {
        join(w, &id);
    } else {
        let boot = w.groups[group].boot_seconds;
        w.schedule(boot, Timer::NodeJoin { instance: id.clone() });
    }
    id
}

/// (group index, instance index) of an instance.
pub fn find(w: &World, instance: &str) -> Option<(usize, usize)> {
    w.groups
        .iter()
        .enumerate()
        .find_map(|(gi, g)| g.instances.iter().position(|i| i.id == instance).map(|ii| (gi, ii)))
}

/// The instance's kubelet registers its node, Ready.
pub fn join(w: &mut World, instance: &str) {
    let Some((gi, ii)) = find(w, instance) else { return };
    if w.groups[gi].instances[ii].state != InstanceState::Pending {
        return;
    }
    // the kubelet registers the node even while a launching hook holds the instance
    // in Pending:Wait; the instance is in service once the hook lets it go
    if !super::lifecycle::waiting(w, instance) {
        w.groups[gi].instances[ii].state = InstanceState::InService;
    }
    let group = w.groups[gi].clone();
    let inst = group.instances[ii].clone();
    let node = node_object(w, &group, &inst, true);
    let node = w.put(node);
    w.node_event(
        &node,
        "Normal",
        "RegisteredNode",
        &format!(
            "Node {} event: Registered Node {} in Controller",
            inst.node_name, inst.node_name
        ),
        "node-controller",
    );
}

/// Starts terminating an instance: its node goes NotReady now and disappears soon
/// after. With `replace`, the group launches a replacement (desired unchanged).
/// This is the abrupt end (a failed or reclaimed instance): Auto Scaling's own
/// terminations go through `lifecycle::terminate`, which honours lifecycle hooks.
pub fn terminate(w: &mut World, instance: &str, replace: bool) -> bool {
    let Some((gi, ii)) = find(w, instance) else {
        return false;
    };
    if w.groups[gi].instances[ii].state == InstanceState::Terminating {
        return true;
    }
    mark_terminating(w, gi, ii, replace);
    shut_down(w, instance);
    true
}

/// Takes an instance out of service: it no longer counts towards the group's
/// capacity (so a replacement launches, unless `replace` is false and the group
/// shrinks instead). Its node keeps running until `shut_down`.
pub fn mark_terminating(w: &mut World, gi: usize, ii: usize, replace: bool) {
    w.groups[gi].instances[ii].state = InstanceState::Terminating;
    if !replace {
        let g = &mut w.groups[gi];
        g.desired = g.desired.saturating_sub(1).max(g.min.min(g.desired));
    }
    w.dirty.node_groups = true;
}

/// The instance shuts down: its node goes NotReady now and disappears (with the
/// pods still bound to it) after 40 virtual seconds.
pub fn shut_down(w: &mut World, instance: &str) {
    let Some((gi, ii)) = find(w, instance) else { return };
    let node_name = w.groups[gi].instances[ii].node_name.clone();
    set_ready(
        w,
        &node_name,
        false,
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    );
    w.schedule(
        40.0,
        Timer::InstanceGone {
            instance: instance.to_string(),
        },
    );
    w.dirty.node_groups = true;
}

/// A terminated instance is gone: so is its node (and with it, its pods).
pub fn instance_gone(w: &mut World, instance: &str) {
    let Some((gi, ii)) = find(w, instance) else { return };
    let inst = w.groups[gi].instances.remove(ii);
    super::lifecycle::forget(w, &inst.id);
    w.remove::<Node>(&inst.node_name);
}

/// Sets a node's Ready condition (fault injection and instance termination).
pub fn set_ready(w: &mut World, node: &str, ready: bool, reason: &str, message: &str) -> bool {
    let Some(n) = w.nodes.get(node).cloned() else {
        return false;
    };
    let mut n = (*n).clone();
    let now = w.time();
    if let Some(conds) = n.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        for c in conds.iter_mut().filter(|c| c.type_ == "Ready") {
            let status = if ready {
                "True"
            } else if reason == "NodeStatusUnknown" {
                "Unknown"
            } else {
                "False"
            };
            if c.status != status {
                c.last_transition_time = Some(now.clone());
            }
            c.status = status.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.last_heartbeat_time = Some(Time(w.now));
        }
    }
    let n = w.put(n);
    let what = if ready { "NodeReady" } else { "NodeNotReady" };
    let msg = format!("Node {node} status is now: {what}");
    w.node_event(&n, "Normal", what, &msg, "node-controller");
    true
}

/// Launches or terminates instances until each group has its desired count.
pub fn reconcile_groups(w: &mut World) {
    for gi in 0..w.groups.len() {
        let alive = w.groups[gi].alive();
        let desired = w.groups[gi].desired as usize;
        if alive < desired {
            for _ in alive..desired {
                launch(w, gi, false);
            }
        } else if alive > desired {
            let extra: Vec<String> = w.groups[gi]
                .instances
                .iter()
                .filter(|i| i.state != InstanceState::Terminating)
                .take(alive - desired)
                .map(|i| i.id.clone())
                .collect();
            for id in extra {
                super::lifecycle::terminate(w, &id, true);
            }
        }
    }
}

impl World {
    fn next_host(&mut self) -> u32 {
        self.host_counter += 1;
        self.host_counter
    }
}
