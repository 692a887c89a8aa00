//! EKS managed node groups made and unmade: `CreateNodegroup` (CREATING until its
//! nodes join Ready, then ACTIVE), `DeleteNodegroup` (DELETING: every node cordoned
//! and drained through evictions, each instance terminated once empty or after a
//! few minutes, then the group is gone) and `UpdateNodegroupConfig` (scaling,
//! labels, taints, `updateConfig`, as a `ConfigUpdate`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};

use super::eks::{
    AwsError, Update, UpdateStatus, UpdateTarget, in_progress, minor_number, new_update, update_mut, wake,
};
use super::nodes::{GroupLife, InstanceState, ManagedConfig, NodeGroupKind, NodeGroupState};
use super::{EvictionVerdict, World, kubelet, lifecycle};
use crate::sim::scenario::instance_capacity;

/// How long a deleted group's nodes are drained before their instances are
/// terminated anyway (EKS: "a few minutes").
pub const DELETE_DRAIN_SECS: i64 = 300;
/// Boot time of a created group's instances.
pub const BOOT_SECS: f64 = 90.0;
/// The AMI types a managed group may be created with here.
pub const AMI_TYPES: &[&str] = &[
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "AL2023_x86_64_NVIDIA",
    "AL2_x86_64",
    "AL2_ARM_64",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64",
    "CUSTOM",
];

/// Why EKS refuses a managed group on `ami_type` at Kubernetes `version`: Amazon
/// Linux 2 AMIs end at 1.32 (EKS 1.33 release notes).
pub fn ami_refused(ami_type: Option<&str>, version: &str) -> Option<String> {
    let ami = ami_type?;
    (ami.starts_with("AL2_") && minor_number(version).is_some_and(|v| v >= 33)).then(|| {
        format!(
            "AMI type {ami} is not supported for Kubernetes version {version}: Amazon Linux 2 AMIs end at 1.32; use AL2023 or Bottlerocket"
        )
    })
}

/// What a node booted from `ami_type` for Kubernetes `version` reports: (osImage,
/// kernelVersion, containerRuntimeVersion). Groups with no AMI type boot Amazon
/// Linux 2023, whose AMIs for 1.32 and later ship containerd 2.1 (amazon-eks-ami
/// #2469, #2494; release v20251023 on).
pub fn node_os(ami_type: Option<&str>, version: &str) -> (&'static str, &'static str, &'static str) {
    match ami_type.unwrap_or("AL2023_x86_64_STANDARD") {
        a if a.starts_with("AL2_") => ("Amazon Linux 2", "5.10.227-219.884.amzn2.x86_64", "containerd://1.7.22"),
        a if a.starts_with("BOTTLEROCKET_") => (
            "Bottlerocket OS 1.26.2 (aws-k8s)",
            "6.1.115",
            "containerd://1.7.22+bottlerocket",
        ),
        _ if minor_number(version).is_some_and(|v| v >= 32) => (
            "Amazon Linux 2023.9.20251027",
            "6.1.156-177.286.amzn2023.x86_64",
            "containerd://2.1.4",
        ),
        _ => (
            "Amazon Linux 2023.6.20241111",
            "6.1.112-124.190.amzn2023.x86_64",
            "containerd://1.7.22",
        ),
    }
}

/// Node group operations in flight.
#[derive(Clone, Debug, Default)]
pub struct NodegroupOps {
    /// `ConfigUpdate`s applied, to be reported Successful on the next pass.
    pub config_updates: Vec<String>,
    /// Groups being deleted: when their drain started.
    pub deleting: BTreeMap<String, Timestamp>,
}

/// What `CreateNodegroup` asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub version: Option<String>,
    pub release_version: Option<String>,
    pub ami_type: Option<String>,
    pub instance_types: Vec<String>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub desired: Option<u32>,
    pub subnets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub launch_template: Option<(Option<String>, Option<String>, Option<String>)>,
    pub max_unavailable: Option<u32>,
    pub max_unavailable_percentage: Option<u32>,
    pub capacity_type: Option<String>,
    pub disk_size: Option<u32>,
    pub node_role: Option<String>,
}

fn invalid(m: impl Into<String>) -> AwsError {
    AwsError::invalid(m)
}

/// Checks a scaling config as EKS does.
fn check_scaling(min: u32, max: u32, desired: u32) -> Result<(), AwsError> {
    if max < 1 {
        return Err(invalid("Maximum capacity must be at least 1"));
    }
    if min > max {
        return Err(invalid(format!(
            "Minimum capacity {min} can't be greater than maximum capacity {max}"
        )));
    }
    if desired < min || desired > max {
        return Err(invalid(format!(
            "Desired capacity {desired} must be between minimum capacity {min} and maximum capacity {max}"
        )));
    }
    Ok(())
}

/// Checks an `updateConfig`.
pub fn check_update_config(count: Option<u32>, pct: Option<u32>) -> Result<(), AwsError> {
    match (count, pct) {
        (Some(_), Some(_)) => Err(invalid(
            "You can specify either maxUnavailable or maxUnavailablePercentage, not both",
        )),
        (Some(n), None) if !(1..=100).contains(&n) => {
            Err(invalid(format!("maxUnavailable {n} must be between 1 and 100")))
        }
        (None, Some(p)) if !(1..=100).contains(&p) => Err(invalid(format!(
            "maxUnavailablePercentage {p} must be between 1 and 100"
        ))),
        _ => Ok(()),
    }
}

/// The zone a subnet stands for: `subnet-eu-west-1a` names its zone; other subnets
/// take the region's zones in turn.
fn zone_of(w: &World, subnet: &str, i: usize) -> String {
    let region = &w.cluster.region;
    match subnet.strip_prefix("subnet-") {
        Some(z) if z.starts_with(region.as_str()) => z.to_string(),
        _ => format!("{region}{}", ["a", "b", "c"][i % 3]),
    }
}

/// `CreateNodegroup`.
pub fn create(w: &mut World, r: CreateRequest) -> Result<usize, AwsError> {
    if r.name.is_empty() {
        return Err(invalid("nodegroupName is required"));
    }
    if let Some(g) = w.groups.iter().find(|g| g.name == r.name) {
        return Err(match g.kind {
            NodeGroupKind::Managed => AwsError::in_use(format!(
                "NodeGroup already exists with name {} and cluster name {}",
                r.name, w.cluster.name
            )),
            NodeGroupKind::SelfManaged => invalid(format!(
                "{} is the name of a self-managed node group in this simulated cluster; choose another",
                r.name
            )),
        });
    }
    if r.node_role.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("nodeRole is required"));
    }
    if r.subnets.is_empty() {
        return Err(invalid("subnets is required: give at least one subnet"));
    }
    let cp = w.cluster.version.clone();
    let version = r.version.clone().unwrap_or_else(|| cp.clone());
    match (minor_number(&version), minor_number(&cp)) {
        (Some(v), Some(c)) if v <= c && c - v <= 3 => {}
        _ => {
            return Err(invalid(format!(
                "Requested Nodegroup version {version} is invalid: use the cluster's version {cp} or one up to three minors older"
            )));
        }
    }
    if let Some(rv) = &r.release_version
        && !rv.starts_with(&format!("{version}."))
    {
        return Err(invalid(format!(
            "Requested release version {rv} is not valid for kubernetes version {version}"
        )));
    }
    let v = minor_number(&version).unwrap_or(0);
    let ami = r.ami_type.clone().unwrap_or_else(|| {
        if v >= 30 {
            "AL2023_x86_64_STANDARD".into()
        } else {
            "AL2_x86_64".into()
        }
    });
    if !AMI_TYPES.contains(&ami.as_str()) {
        return Err(invalid(format!(
            "amiType {ami} is not supported by the simulator; use one of {}",
            AMI_TYPES.join(", ")
        )));
    }
    if let Some(why) = ami_refused(Some(&ami), &version) {
        return Err(invalid(why));
    }
    let instance_type = r.instance_types.first().cloned().unwrap_or_else(|| "t3.medium".into());
    let cap = instance_capacity(&instance_type).ok_or_else(|| {
        invalid(format!(
            "Instance type {instance_type} is not known to the simulator (e.g. m5.large, m5.xlarge, c5.xlarge, t3.medium)"
        ))
    })?;
    let desired = r.desired.unwrap_or(2);
    let min = r.min.unwrap_or(1);
    let max = r.max.unwrap_or(desired.max(2));
    check_scaling(min, max, desired)?;
    check_update_config(r.max_unavailable, r.max_unavailable_percentage)?;
    let zones: Vec<String> = {
        let mut z: Vec<String> = Vec::new();
        for (i, s) in r.subnets.iter().enumerate() {
            let zone = zone_of(w, s, i);
            if !z.contains(&zone) {
                z.push(zone);
            }
        }
        z
    };
    let mut g = NodeGroupState::new(
        r.name.clone(),
        NodeGroupKind::Managed,
        instance_type,
        zones,
        desired,
        min,
        max,
        version,
        (cap.cpu_millis, cap.memory_bytes, cap.pods),
        r.labels.clone(),
        r.taints.clone(),
        BOOT_SECS,
    );
    let now = w.now;
    g.managed = ManagedConfig {
        life: GroupLife::Creating,
        ami_type: Some(ami),
        release_version: r.release_version.clone(),
        launch_template: r.launch_template.clone().map(|(id, name, version)| {
            let name = name.unwrap_or_else(|| format!("{}-lt", r.name));
            let id = id.unwrap_or_else(|| format!("lt-0{:016x}", u64::from(super::fnv(name.as_bytes()))));
            (id, name, version.unwrap_or_else(|| "1".into()))
        }),
        max_unavailable: r.max_unavailable,
        max_unavailable_percentage: r.max_unavailable_percentage,
        capacity_type: r.capacity_type.clone(),
        disk_size: r.disk_size,
        subnets: r.subnets.clone(),
        created: Some(now),
        modified: Some(now),
    };
    let asg = g.asg_name.clone();
    w.groups.push(g);
    let cluster = w.cluster.name.clone();
    let tags = w.aws.refresh.tags.entry(asg).or_default();
    for (k, v) in [
        (format!("kubernetes.io/cluster/{cluster}"), "owned".to_string()),
        ("eks:cluster-name".into(), cluster.clone()),
        ("eks:nodegroup-name".into(), r.name.clone()),
        ("k8s.io/cluster-autoscaler/enabled".into(), "true".into()),
        (format!("k8s.io/cluster-autoscaler/{cluster}"), "owned".into()),
    ] {
        tags.insert(k, (v, true));
    }
    w.dirty.node_groups = true;
    wake(w);
    Ok(w.groups.len() - 1)
}

/// `DeleteNodegroup`: the group goes DELETING at once.
pub fn delete(w: &mut World, name: &str) -> Result<usize, AwsError> {
    let gi = super::eks::managed_group(w, name)
        .ok_or_else(|| AwsError::not_found(format!("No node group found for name: {name}.")))?;
    if w.groups[gi].managed.life == GroupLife::Deleting {
        return Err(AwsError::in_use(format!("Nodegroup {name} is already being deleted")));
    }
    if in_progress(w, &UpdateTarget::Nodegroup(name.to_string())) {
        return Err(AwsError::in_use(format!(
            "Nodegroup {name} cannot be deleted while an update is in progress"
        )));
    }
    let g = &mut w.groups[gi];
    g.managed.life = GroupLife::Deleting;
    g.managed.modified = Some(w.now);
    g.min = 0;
    let nodes: Vec<String> = g
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating)
        .map(|i| i.node_name.clone())
        .collect();
    for n in nodes {
        super::eks::cordon(w, &n);
    }
    w.aws.nodegroups.deleting.insert(name.to_string(), w.now);
    wake(w);
    Ok(gi)
}

/// What `UpdateNodegroupConfig` asks for.
#[derive(Clone, Debug, Default)]
pub struct ConfigRequest {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub desired: Option<u32>,
    pub labels_add: BTreeMap<String, String>,
    pub labels_remove: Vec<String>,
    pub taints_add: Vec<Taint>,
    pub taints_remove: Vec<Taint>,
    pub max_unavailable: Option<u32>,
    pub max_unavailable_percentage: Option<u32>,
}

/// `UpdateNodegroupConfig`: applied now, reported as a `ConfigUpdate` that
/// succeeds on the next pass.
pub fn update_config(w: &mut World, name: &str, r: ConfigRequest) -> Result<Update, AwsError> {
    let gi = super::eks::managed_group(w, name)
        .ok_or_else(|| AwsError::not_found(format!("No node group found for name: {name}.")))?;
    let target = UpdateTarget::Nodegroup(name.to_string());
    if in_progress(w, &target) {
        return Err(AwsError::in_use(format!(
            "Nodegroup {name} cannot be updated while an update is in progress"
        )));
    }
    if w.groups[gi].managed.life != GroupLife::Active {
        return Err(AwsError::in_use(format!("Nodegroup {name} is not ACTIVE")));
    }
    if let Some(k) = r.labels_add.keys().find(|k| r.labels_remove.contains(k)) {
        return Err(invalid(format!(
            "The label {k} is both added and removed in one update"
        )));
    }
    let g = &w.groups[gi];
    let (min, max, desired) = (
        r.min.unwrap_or(g.min),
        r.max.unwrap_or(g.max),
        r.desired.unwrap_or(g.desired),
    );
    let mut params: Vec<(String, String)> = Vec::new();
    if r.min.is_some() || r.max.is_some() || r.desired.is_some() {
        check_scaling(min, max, desired)?;
        for (k, v) in [("MinSize", r.min), ("MaxSize", r.max), ("DesiredSize", r.desired)] {
            if let Some(v) = v {
                params.push((k.into(), v.to_string()));
            }
        }
    }
    if r.max_unavailable.is_some() || r.max_unavailable_percentage.is_some() {
        check_update_config(r.max_unavailable, r.max_unavailable_percentage)?;
        if let Some(n) = r.max_unavailable {
            params.push(("MaxUnavailable".into(), n.to_string()));
        }
        if let Some(p) = r.max_unavailable_percentage {
            params.push(("MaxUnavailablePercentage".into(), p.to_string()));
        }
    }
    let json = |v: serde_json::Value| v.to_string();
    if !r.labels_add.is_empty() {
        params.push(("LabelsToAdd".into(), json(serde_json::json!(r.labels_add))));
    }
    if !r.labels_remove.is_empty() {
        params.push(("LabelsToRemove".into(), json(serde_json::json!(r.labels_remove))));
    }
    let taint_json = |ts: &[Taint]| {
        json(serde_json::Value::Array(
            ts.iter()
                .map(|t| serde_json::json!({"key": t.key, "value": t.value, "effect": eks_effect(&t.effect)}))
                .collect(),
        ))
    };
    if !r.taints_add.is_empty() {
        params.push(("TaintsToAdd".into(), taint_json(&r.taints_add)));
    }
    if !r.taints_remove.is_empty() {
        params.push(("TaintsToRemove".into(), taint_json(&r.taints_remove)));
    }
    if params.is_empty() {
        return Err(invalid("No changes needed"));
    }
    // apply
    let now = w.now;
    let g = &mut w.groups[gi];
    g.min = min;
    g.max = max;
    g.desired = desired;
    if r.max_unavailable.is_some() || r.max_unavailable_percentage.is_some() {
        g.managed.max_unavailable = r.max_unavailable;
        g.managed.max_unavailable_percentage = r.max_unavailable_percentage;
    }
    for (k, v) in &r.labels_add {
        g.labels.insert(k.clone(), v.clone());
    }
    for k in &r.labels_remove {
        g.labels.remove(k);
    }
    g.taints
        .retain(|t| !r.taints_remove.iter().any(|x| x.key == t.key && x.effect == t.effect));
    for t in &r.taints_add {
        g.taints.retain(|x| !(x.key == t.key && x.effect == t.effect));
        g.taints.push(t.clone());
    }
    g.managed.modified = Some(now);
    let nodes: Vec<String> = g.instances.iter().map(|i| i.node_name.clone()).collect();
    for n in nodes {
        relabel(w, &n, &r);
    }
    w.dirty.node_groups = true;
    let u = new_update(w, target, "ConfigUpdate", params);
    w.aws.nodegroups.config_updates.push(u.id.clone());
    wake(w);
    Ok(u)
}

/// Applies label and taint changes to a running node, as EKS does.
fn relabel(w: &mut World, node: &str, r: &ConfigRequest) {
    let Some(n) = w.nodes.get(node).cloned() else { return };
    let mut n: Node = (*n).clone();
    let labels = n.metadata.labels.get_or_insert_with(Default::default);
    for (k, v) in &r.labels_add {
        labels.insert(k.clone(), v.clone());
    }
    for k in &r.labels_remove {
        labels.remove(k);
    }
    let spec = n.spec.get_or_insert_with(Default::default);
    let mut taints = spec.taints.take().unwrap_or_default();
    taints.retain(|t| !r.taints_remove.iter().any(|x| x.key == t.key && x.effect == t.effect));
    for t in &r.taints_add {
        taints.retain(|x| !(x.key == t.key && x.effect == t.effect));
        taints.push(t.clone());
    }
    spec.taints = (!taints.is_empty()).then_some(taints);
    w.put(n);
}

/// EKS's spelling of a taint effect.
pub fn eks_effect(effect: &str) -> &'static str {
    match effect {
        "NoSchedule" => "NO_SCHEDULE",
        "NoExecute" => "NO_EXECUTE",
        _ => "PREFER_NO_SCHEDULE",
    }
}

/// Kubernetes' spelling of an EKS taint effect.
pub fn k8s_effect(effect: &str) -> Option<&'static str> {
    match effect {
        "NO_SCHEDULE" => Some("NoSchedule"),
        "NO_EXECUTE" => Some("NoExecute"),
        "PREFER_NO_SCHEDULE" => Some("PreferNoSchedule"),
        _ => None,
    }
}

/// Whether anything here is still moving.
pub fn busy(w: &World) -> bool {
    !w.aws.nodegroups.config_updates.is_empty()
        || !w.aws.nodegroups.deleting.is_empty()
        || w.groups.iter().any(|g| g.managed.life == GroupLife::Creating)
}

/// One pass: config updates succeed, created groups turn ACTIVE once their nodes
/// are Ready, deleted groups drain and go.
pub fn step(w: &mut World) {
    for id in std::mem::take(&mut w.aws.nodegroups.config_updates) {
        if let Some(u) = update_mut(w, &id) {
            u.status = UpdateStatus::Successful;
        }
    }
    for gi in 0..w.groups.len() {
        if w.groups[gi].managed.life != GroupLife::Creating {
            continue;
        }
        let g = &w.groups[gi];
        let ready = g.alive() >= g.desired as usize
            && g.instances
                .iter()
                .filter(|i| i.state != InstanceState::Terminating)
                .all(|i| {
                    i.state == InstanceState::InService
                        && w.nodes
                            .get(&i.node_name)
                            .is_some_and(|n| super::scheduler::node_ready(n))
                });
        if ready {
            let now = w.now;
            let g = &mut w.groups[gi];
            g.managed.life = GroupLife::Active;
            g.managed.modified = Some(now);
        }
    }
    let deleting: Vec<(String, Timestamp)> = w.aws.nodegroups.deleting.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for (name, since) in deleting {
        step_delete(w, &name, since);
    }
}

fn step_delete(w: &mut World, name: &str, since: Timestamp) {
    let Some(gi) = w.groups.iter().position(|g| g.name == name) else {
        w.aws.nodegroups.deleting.remove(name);
        return;
    };
    if w.groups[gi].instances.is_empty() {
        let asg = w.groups[gi].asg_name.clone();
        w.groups.remove(gi);
        w.aws.refresh.tags.remove(&asg);
        w.aws.lifecycle.hooks.retain(|h| h.asg != asg);
        w.aws.nodegroups.deleting.remove(name);
        return;
    }
    let overdue = w.now.duration_since(since).as_secs() >= DELETE_DRAIN_SECS;
    let live: Vec<(String, String)> = w.groups[gi]
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating)
        .map(|i| (i.id.clone(), i.node_name.clone()))
        .collect();
    for (id, node) in live {
        super::eks::cordon(w, &node);
        if evict_all(w, &node) == 0 || overdue {
            lifecycle::terminate(w, &id, false);
        }
    }
}

/// Evicts every pod on a node that a drain moves (not DaemonSet pods, not finished
/// ones), PodDisruptionBudgets honoured; returns how many are still there.
pub fn evict_all(w: &mut World, node: &str) -> usize {
    let pods: Vec<String> = w
        .idx
        .pods_by_node
        .get(node)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let mut remaining = 0;
    for key in pods {
        let Some(pod) = w.pods.get(&key).cloned() else { continue };
        if super::eks::daemon_pod(&pod) || kubelet::is_terminal(&pod) {
            continue;
        }
        remaining += 1;
        if !kubelet::is_terminating(&pod) {
            let _ = matches!(w.evict(&key, None), EvictionVerdict::Evicted);
        }
    }
    remaining
}
