//! A NodeClaim's life until it serves pods: launch (an EC2 instance from the node
//! class's AMI, or the real failures: insufficient capacity, node class not ready),
//! registration when the instance's kubelet joins (the node gets the NodeClaim's
//! labels, taints, owner and finalizer), initialization once the node is Ready.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use rand::Rng;
use serde_json::{Value, json};

use super::catalog::{InstanceType, ON_DEMAND};
use super::objects::{NodeClaim, NodePool, str_at};
use super::spec::{ClaimSpec, PoolSpec};
use super::{Instance, Unavailable, is_true, keys, nodeclass, set_condition, set_ready_from};
use crate::sim::world::{Usage, World, eks_version, fnv};
use crate::units::quantity;

/// Where a NodeClaim is to run: an instance type in a zone, on-demand or spot.
#[derive(Clone, Debug)]
pub struct Offering {
    pub instance_type: InstanceType,
    pub zone: String,
    pub capacity_type: String,
}

impl Offering {
    /// The key of the ICE cache.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.instance_type.name, self.zone, self.capacity_type)
    }

    /// Whether the simulated EC2 refuses this offering (a scenario fault).
    pub fn refused(&self, unavailable: &[Unavailable]) -> bool {
        unavailable.iter().any(|u| {
            u.instance_type == self.instance_type.name
                && u.zone.as_ref().is_none_or(|z| *z == self.zone)
                && u.capacity_type.as_ref().is_none_or(|c| *c == self.capacity_type)
        })
    }
}

/// Whether a NodePool belongs to EKS Auto Mode (its class is Auto Mode's NodeClass).
pub fn auto_mode_pool(spec: &Value) -> bool {
    str_at(spec, "template.spec.nodeClassRef.group") == Some("eks.amazonaws.com")
}

/// The label prefix of instance facts on nodes of a pool.
pub fn label_prefix(auto: bool) -> &'static str {
    if auto { "eks.amazonaws.com" } else { "karpenter.k8s.aws" }
}

/// The labels a node of `pool` on `offering` will carry (before registration).
pub fn offering_labels(w: &World, pool: &NodePool, spec: &PoolSpec, offering: &Offering) -> BTreeMap<String, String> {
    let auto = auto_mode_pool(&pool.spec);
    let mut labels = spec.template.metadata.labels.clone();
    labels.extend(offering.instance_type.labels(label_prefix(auto)));
    labels.insert(keys::ZONE.into(), offering.zone.clone());
    labels.insert(keys::REGION.into(), w.cluster.region.clone());
    labels.insert(keys::CAPACITY_TYPE.into(), offering.capacity_type.clone());
    labels.insert(keys::NODEPOOL.into(), pool.metadata.name.clone().unwrap_or_default());
    let class = spec.template.spec.node_class_ref.name.clone();
    if auto {
        labels.insert(keys::AUTO_NODECLASS.into(), class);
        labels.insert(keys::AUTO_COMPUTE_TYPE.into(), "auto".into());
    } else {
        labels.insert(keys::EC2NODECLASS.into(), class);
    }
    labels
}

/// Creates a NodeClaim of `pool` for `offering`, sized for `requests`.
pub fn create_claim(w: &mut World, pool: &NodePool, offering: &Offering, requests: Usage) -> Option<Arc<NodeClaim>> {
    let spec = PoolSpec::parse(&pool.spec)?;
    let pool_name = pool.metadata.name.clone().unwrap_or_default();
    let labels = offering_labels(w, pool, &spec, offering);
    let mut annotations = spec.template.metadata.annotations.clone();
    if let Some(a) = pool.metadata.annotations.as_ref() {
        for k in [keys::NODEPOOL_HASH, keys::NODEPOOL_HASH_VERSION] {
            if let Some(v) = a.get(k) {
                annotations.insert(k.into(), v.clone());
            }
        }
    }
    let class_ref = spec.template.spec.node_class_ref.clone();
    if class_ref.kind == "EC2NodeClass"
        && let Some(c) = w.karpenter.ec2nodeclasses.get(&class_ref.name)
        && let Some(a) = c.metadata.annotations.as_ref()
    {
        for k in [keys::EC2NODECLASS_HASH, keys::EC2NODECLASS_HASH_VERSION] {
            if let Some(v) = a.get(k) {
                annotations.insert(k.into(), v.clone());
            }
        }
    }
    let mut reqs = serde_json::to_value(&spec.template.spec.requirements).unwrap_or(json!([]));
    if let Some(list) = reqs.as_array_mut() {
        list.retain(|r| {
            !matches!(
                r["key"].as_str(),
                Some(keys::INSTANCE_TYPE | keys::ZONE | keys::CAPACITY_TYPE)
            )
        });
        list.push(json!({"key": keys::INSTANCE_TYPE, "operator": "In", "values": [offering.instance_type.name]}));
        list.push(json!({"key": keys::ZONE, "operator": "In", "values": [offering.zone]}));
        list.push(json!({"key": keys::CAPACITY_TYPE, "operator": "In", "values": [offering.capacity_type]}));
        list.push(json!({"key": keys::NODEPOOL, "operator": "In", "values": [pool_name]}));
    }
    let mut claim_spec = json!({
        "nodeClassRef": class_ref,
        "requirements": reqs,
        "resources": {"requests": {
            "cpu": quantity::format_cpu(requests.cpu_millis),
            "memory": quantity::format_bytes(requests.memory),
            "pods": requests.pods.to_string(),
        }},
    });
    let t = &spec.template.spec;
    if !t.taints.is_empty() {
        claim_spec["taints"] = serde_json::to_value(&t.taints).unwrap_or_default();
    }
    if !t.startup_taints.is_empty() {
        claim_spec["startupTaints"] = serde_json::to_value(&t.startup_taints).unwrap_or_default();
    }
    if let Some(x) = &t.expire_after {
        claim_spec["expireAfter"] = json!(x);
    }
    if let Some(x) = &t.termination_grace_period {
        claim_spec["terminationGracePeriod"] = json!(x);
    }
    // a generated name, never one already taken (the apiserver retries generateName too)
    let name = loop {
        let n = format!("{pool_name}-{}", w.suffix(5));
        if w.karpenter.nodeclaims.get(&n).is_none() {
            break n;
        }
    };
    let mut meta = ObjectMeta {
        name: Some(name),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![OwnerReference {
            api_version: "karpenter.sh/v1".into(),
            kind: "NodePool".into(),
            name: pool_name,
            uid: pool.metadata.uid.clone().unwrap_or_default(),
            block_owner_deletion: Some(true),
            controller: None,
        }]),
        finalizers: Some(vec![keys::TERMINATION_FINALIZER.into()]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    meta.generation = Some(1);
    let now = w.now;
    let mut status = json!({});
    for c in ["Launched", "Registered", "Initialized"] {
        set_condition(
            &mut status,
            c,
            "Unknown",
            "AwaitingReconciliation",
            "object is awaiting reconciliation",
            now,
            Some(1),
        );
    }
    set_ready_from(&mut status, &["Launched", "Registered", "Initialized"], now, Some(1));
    Some(w.put(NodeClaim {
        metadata: meta,
        spec: claim_spec,
        status: Some(status),
    }))
}

/// The offering a NodeClaim was created for, from its labels.
pub fn claim_offering(c: &NodeClaim) -> Option<Offering> {
    let l = c.metadata.labels.as_ref()?;
    Some(Offering {
        instance_type: InstanceType::get(l.get(keys::INSTANCE_TYPE)?)?,
        zone: l.get(keys::ZONE)?.clone(),
        capacity_type: l.get(keys::CAPACITY_TYPE).cloned().unwrap_or_else(|| ON_DEMAND.into()),
    })
}

fn resources(t: &InstanceType) -> Value {
    json!({
        "cpu": quantity::format_cpu(t.cpu_millis),
        "memory": quantity::format_bytes(t.memory),
        "pods": t.pods.to_string(),
        "ephemeral-storage": "20Gi",
    })
}

pub fn reconcile(w: &mut World) {
    let claims: Vec<Arc<NodeClaim>> = w.karpenter.nodeclaims.items().values().cloned().collect();
    for c in claims {
        if c.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = c.status.as_ref();
        if !is_true(status, "Launched") {
            launch(w, &c);
        } else if !is_true(status, "Registered") {
            register(w, &c);
        } else if !is_true(status, "Initialized") {
            initialize(w, &c);
        }
    }
}

fn failed(w: &mut World, c: &NodeClaim, reason: &str, message: &str) {
    let name = c.metadata.name.clone().unwrap_or_default();
    w.karpenter_event(c, "Warning", reason, &format!("NodeClaim {name} event: {message}"), 0);
    super::termination::delete_claim(w, c);
}

fn launch(w: &mut World, c: &NodeClaim) {
    let Some(spec) = ClaimSpec::parse(&c.spec) else { return };
    let class = spec.template.node_class_ref.clone();
    let exists = match class.kind.as_str() {
        "EC2NodeClass" => w.karpenter.ec2nodeclasses.get(&class.name).is_some(),
        "NodeClass" => w.karpenter.nodeclasses.get(&class.name).is_some(),
        _ => false,
    };
    if !exists {
        let what = if class.kind == "NodeClass" {
            format!("nodeclasses.eks.amazonaws.com \"{}\" not found", class.name)
        } else {
            format!("ec2nodeclasses.karpenter.k8s.aws \"{}\" not found", class.name)
        };
        return failed(
            w,
            c,
            "InsufficientCapacityError",
            &format!("resolving nodeclass, {what}"),
        );
    }
    if let Some(message) = nodeclass::not_ready(w, &class.kind, &class.name) {
        return failed(w, c, "NodeClassNotReady", &message);
    }
    let Some(offering) = claim_offering(c) else { return };
    if offering.refused(&w.karpenter.config.unavailable) || w.karpenter.ice.iter().any(|(k, _)| *k == offering.key()) {
        let until = w
            .now
            .checked_add(jiff::SignedDuration::from_secs(super::ICE_TTL_SECS))
            .unwrap_or(w.now);
        w.karpenter.ice.push((offering.key(), until));
        let code = if offering.capacity_type == ON_DEMAND {
            "InsufficientInstanceCapacity"
        } else {
            "UnfulfillableCapacity"
        };
        let message = format!(
            "creating instance, insufficient capacity, with fleet error(s), {code}: We currently do not have sufficient {} capacity in the Availability Zone you requested ({}).",
            offering.instance_type.name, offering.zone
        );
        return failed(w, c, "InsufficientCapacityError", &message);
    }
    let Some(ami) = nodeclass::amis(w, &class.kind, &class.name)
        .iter()
        .find(|a| a.arch == "x86_64")
        .cloned()
    else {
        return failed(w, c, "NodeClassNotReady", "AMISelector did not match any AMIs");
    };
    let n: u64 = w.rng.random();
    let id = format!("i-0{n:016x}")[..19].to_string();
    let auto = class.kind == "NodeClass";
    w.karpenter.host_counter += 1;
    let h = w.karpenter.host_counter;
    let node_name = if auto {
        id.clone()
    } else {
        format!(
            "ip-10-1-{}-{}.{}.compute.internal",
            (h >> 8) & 0xff,
            h & 0xff,
            w.cluster.region
        )
    };
    let claim_name = c.metadata.name.clone().unwrap_or_default();
    let inst = Instance {
        id: id.clone(),
        nodeclaim: claim_name,
        node_name,
        zone: offering.zone.clone(),
        instance_type: offering.instance_type.name.to_string(),
        capacity_type: offering.capacity_type.clone(),
        image_id: ami.id.clone(),
        minor: ami.minor.clone(),
        os_image: ami.os_image(),
        launched: w.now,
        terminating_since: None,
    };
    w.karpenter.instances.insert(id.clone(), inst);
    let mut next = c.clone();
    let status = next.status.get_or_insert_with(|| json!({}));
    status["providerID"] = json!(format!("aws:///{}/{id}", offering.zone));
    status["imageID"] = json!(ami.id);
    status["capacity"] = resources(&offering.instance_type);
    status["allocatable"] = resources(&offering.instance_type);
    let now = w.now;
    set_condition(status, "Launched", "True", "Launched", "", now, c.metadata.generation);
    set_ready_from(
        status,
        &["Launched", "Registered", "Initialized"],
        now,
        c.metadata.generation,
    );
    w.put(next);
}

/// The instance behind a NodeClaim.
pub fn instance_of(w: &World, c: &NodeClaim) -> Option<Instance> {
    let name = c.metadata.name.as_deref()?;
    w.karpenter.instances.values().find(|i| i.nodeclaim == name).cloned()
}

fn register(w: &mut World, c: &NodeClaim) {
    let Some(inst) = instance_of(w, c) else { return };
    if inst.terminating_since.is_some() {
        return;
    }
    let boot = jiff::SignedDuration::from_secs_f64(w.karpenter.config.boot_seconds);
    if w.now.duration_since(inst.launched) < boot {
        return;
    }
    let node = node_for(w, c, &inst);
    let node = w.put(node);
    w.node_event(
        &node,
        "Normal",
        "RegisteredNode",
        &format!("Node {0} event: Registered Node {0} in Controller", inst.node_name),
        "node-controller",
    );
    let mut next = c.clone();
    let status = next.status.get_or_insert_with(|| json!({}));
    status["nodeName"] = json!(inst.node_name);
    let now = w.now;
    set_condition(
        status,
        "Registered",
        "True",
        "Registered",
        "",
        now,
        c.metadata.generation,
    );
    set_ready_from(
        status,
        &["Launched", "Registered", "Initialized"],
        now,
        c.metadata.generation,
    );
    w.put(next);
}

fn initialize(w: &mut World, c: &NodeClaim) {
    let Some(node_name) = c
        .status
        .as_ref()
        .and_then(|s| str_at(s, "nodeName"))
        .map(str::to_string)
    else {
        return;
    };
    let Some(node) = w.nodes.get(&node_name).cloned() else {
        return;
    };
    if !crate::sim::world::scheduler::node_ready(&node) {
        return;
    }
    // the agents that own startup taints remove them once the node is up
    let startup: Vec<String> = ClaimSpec::parse(&c.spec)
        .map(|s| s.template.startup_taints.iter().map(|t| t.key.clone()).collect())
        .unwrap_or_default();
    let mut n = (*node).clone();
    n.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(keys::INITIALIZED.into(), "true".into());
    if let Some(taints) = n.spec.as_mut().and_then(|s| s.taints.as_mut()) {
        taints.retain(|t| !startup.contains(&t.key));
    }
    if n.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.is_empty())
        && let Some(s) = n.spec.as_mut()
    {
        s.taints = None;
    }
    w.put(n);
    let mut next = c.clone();
    let status = next.status.get_or_insert_with(|| json!({}));
    let now = w.now;
    set_condition(
        status,
        "Initialized",
        "True",
        "Initialized",
        "",
        now,
        c.metadata.generation,
    );
    set_ready_from(
        status,
        &["Launched", "Registered", "Initialized"],
        now,
        c.metadata.generation,
    );
    next.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(keys::INITIALIZED.into(), "true".into());
    w.put(next);
}

fn quantity_map(t: &InstanceType) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(quantity::format_cpu(t.cpu_millis))),
        ("memory".to_string(), Quantity(quantity::format_bytes(t.memory))),
        ("pods".to_string(), Quantity(t.pods.to_string())),
        ("ephemeral-storage".to_string(), Quantity("20Gi".into())),
    ])
}

/// The node the instance's kubelet registers, as Karpenter leaves it after registration.
pub fn node_for(w: &mut World, c: &NodeClaim, inst: &Instance) -> Node {
    let mut labels = c.metadata.labels.clone().unwrap_or_default();
    labels.insert("kubernetes.io/hostname".into(), inst.node_name.clone());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("beta.kubernetes.io/arch".into(), "amd64".into());
    labels.insert(keys::REGISTERED.into(), "true".into());
    let mut annotations = c.metadata.annotations.clone().unwrap_or_default();
    let ip = format!(
        "10.1.{}.{}",
        fnv(inst.id.as_bytes()) % 250,
        fnv(inst.node_name.as_bytes()) % 250 + 1
    );
    annotations.insert("alpha.kubernetes.io/provided-node-ip".into(), ip.clone());
    let spec = ClaimSpec::parse(&c.spec).unwrap_or_default();
    let mut taints: Vec<Taint> = spec.template.taints.clone();
    taints.extend(spec.template.startup_taints.iter().cloned());
    let t = InstanceType::get(&inst.instance_type);
    let res = t.as_ref().map(quantity_map).unwrap_or_default();
    let now = w.time();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    };
    let version = eks_version(&inst.minor);
    let runtime = match super::super::eks::minor_number(&inst.minor) {
        Some(m) if m >= 34 => "containerd://2.1.4",
        _ => "containerd://1.7.27",
    };
    let mut meta = ObjectMeta {
        name: Some(inst.node_name.clone()),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![OwnerReference {
            api_version: "karpenter.sh/v1".into(),
            kind: "NodeClaim".into(),
            name: c.metadata.name.clone().unwrap_or_default(),
            uid: c.metadata.uid.clone().unwrap_or_default(),
            block_owner_deletion: Some(true),
            controller: None,
        }]),
        finalizers: Some(vec![keys::TERMINATION_FINALIZER.into()]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    Node {
        metadata: meta,
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///{}/{}", inst.zone, inst.id)),
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(res.clone()),
            allocatable: Some(res),
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
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
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
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: w.uid(),
                container_runtime_version: runtime.into(),
                kernel_version: "6.12.46-66.121.amzn2023.x86_64".into(),
                kube_proxy_version: version.clone(),
                kubelet_version: version,
                machine_id: format!("ec2{:029x}", u128::from(fnv(inst.id.as_bytes()))),
                operating_system: "linux".into(),
                os_image: inst.os_image.clone(),
                system_uuid: format!(
                    "ec2{:05x}-0000-0000-0000-000000000000",
                    fnv(inst.id.as_bytes()) & 0xfffff
                ),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// A node from its NodeClaim at once (for a scenario's starting world).
pub fn launch_now(w: &mut World, c: &NodeClaim) -> Option<String> {
    launch(w, c);
    let c = w.karpenter.nodeclaims.get(c.metadata.name.as_deref()?)?.clone();
    let mut inst = instance_of(w, &c)?;
    inst.launched = w
        .now
        .checked_sub(jiff::SignedDuration::from_secs_f64(w.karpenter.config.boot_seconds))
        .unwrap_or(w.now);
    w.karpenter.instances.insert(inst.id.clone(), inst.clone());
    register(w, &c);
    let c = w.karpenter.nodeclaims.get(c.metadata.name.as_deref()?)?.clone();
    initialize(w, &c);
    Some(inst.node_name)
}
