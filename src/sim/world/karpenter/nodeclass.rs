//! The node class controller: resolves each EC2NodeClass's AMI, subnet and security
//! group selectors against the simulated EC2 (AMI aliases follow the control plane's
//! minor, refreshed every five minutes as Karpenter does), writes its status and
//! readiness conditions and its hash annotation; Auto Mode's NodeClass likewise.

use std::sync::Arc;

use serde_json::{Value, json};

use super::catalog::Ami;
use super::objects::{EC2NodeClass, NodeClass};
use super::spec::{self, AmiTerm};
use super::{AMI_REFRESH_SECS, Resolved, keys, set_condition, set_ready_from};
use crate::sim::world::{World, fnv};

/// A stable hash of the spec fields that drift a node when they change (selector
/// terms are resolved and compared on their own).
pub fn class_hash(spec: &Value) -> String {
    let mut v = spec.clone();
    if let Value::Object(m) = &mut v {
        for k in [
            "amiSelectorTerms",
            "subnetSelectorTerms",
            "securityGroupSelectorTerms",
            "capacityReservationSelectorTerms",
            "amiFamily",
            "kubelet",
            "ipPrefixCount",
        ] {
            m.remove(k);
        }
    }
    let s = serde_json::to_string(&v).unwrap_or_default();
    (u64::from(fnv(s.as_bytes())) << 32 | u64::from(fnv(format!("{s}!").as_bytes()))).to_string()
}

/// The zones the cluster's subnets are in.
pub fn zones(w: &World) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|z| format!("{}{z}", w.cluster.region))
        .collect()
}

fn subnet_id(zone: &str) -> String {
    format!("subnet-0{:016x}", u64::from(fnv(zone.as_bytes())) * 0x9e37)
}

/// What `terms` resolve to now, for the control plane's minor.
pub fn resolve_amis(w: &World, terms: &[AmiTerm]) -> Result<Vec<Ami>, (String, String)> {
    let minor = w.cluster.version.clone();
    let mut out = Vec::new();
    for t in terms {
        match t {
            AmiTerm::Alias { family, version } => {
                let Some(releases) = w.karpenter.releases.get(family.as_str()) else {
                    return Err((
                        "UnsupportedAlias".into(),
                        format!(
                            "the simulator has no AMIs for alias family {family:?} (it has al2023, al2 and bottlerocket)"
                        ),
                    ));
                };
                let release = if version == "latest" {
                    releases.last().cloned()
                } else {
                    releases.iter().find(|r| *r == version).cloned()
                };
                if let Some(r) = release {
                    out.extend(
                        ["x86_64", "arm64"]
                            .into_iter()
                            .filter_map(|a| Ami::of(family, &minor, &r, a)),
                    );
                }
            }
            AmiTerm::Id(id) => out.extend(super::catalog::find_ami(id, &w.karpenter.releases)),
            AmiTerm::Name(n) => {
                for (family, rels) in &w.karpenter.releases {
                    for m in 20..=40 {
                        for r in rels {
                            for a in ["x86_64", "arm64"] {
                                if let Some(ami) = Ami::of(family, &format!("1.{m}"), r, a)
                                    && &ami.name == n
                                {
                                    out.push(ami);
                                }
                            }
                        }
                    }
                }
            }
            AmiTerm::Other => {}
        }
    }
    if out.is_empty() {
        return Err(("AMINotFound".into(), "AMISelector did not match any AMIs".into()));
    }
    Ok(out)
}

/// The AMIs Auto Mode's NodeClass uses: EKS's own image for the control plane's minor.
fn auto_amis(w: &World) -> Vec<Ami> {
    let release = w
        .karpenter
        .releases
        .get("eks-auto")
        .and_then(|r| r.last().cloned())
        .unwrap_or_default();
    ["x86_64", "arm64"]
        .into_iter()
        .filter_map(|a| Ami::of("eks-auto", &w.cluster.version, &release, a))
        .collect()
}

/// The AMIs a node class resolves to (refreshed by the last pass).
pub fn amis<'a>(w: &'a World, kind: &str, name: &str) -> &'a [Ami] {
    w.karpenter
        .resolved
        .get(&format!("{kind}/{name}"))
        .map(|r| r.amis.as_slice())
        .unwrap_or_default()
}

fn ami_status(amis: &[Ami]) -> Value {
    json!(
        amis.iter()
            .map(|a| json!({
                "id": a.id, "name": a.name,
                "requirements": [{"key": "kubernetes.io/arch", "operator": "In",
                    "values": [if a.arch == "arm64" { "arm64" } else { "amd64" }]}],
            }))
            .collect::<Vec<_>>()
    )
}

fn network_status(w: &World, status: &mut Value) {
    status["subnets"] = json!(
        zones(w)
            .iter()
            .enumerate()
            .map(|(i, z)| json!({"id": subnet_id(z), "zone": z, "zoneID": format!("{}-az{}", short_region(&w.cluster.region), i + 1)}))
            .collect::<Vec<_>>()
    );
    let sg = format!("sg-0{:016x}", u64::from(fnv(w.cluster.name.as_bytes())) * 0x51ed);
    status["securityGroups"] = json!([{"id": sg, "name": format!("eks-cluster-sg-{}", w.cluster.name)}]);
}

fn short_region(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    match parts.as_slice() {
        [a, b, n] => format!("{a}{}{n}", b.chars().next().unwrap_or('x')),
        _ => region.to_string(),
    }
}

/// Whether the AMIs of a class must be looked up again now.
fn due(w: &World, key: &str, generation: Option<i64>) -> bool {
    match w.karpenter.resolved.get(key) {
        None => true,
        Some(r) => {
            r.generation != generation
                || r.at
                    .is_none_or(|at| w.now.duration_since(at).as_secs() >= AMI_REFRESH_SECS)
        }
    }
}

fn in_use(w: &World, kind: &str, name: &str) -> bool {
    w.karpenter.nodeclaims.items().values().any(|c| {
        super::objects::str_at(&c.spec, "nodeClassRef.kind") == Some(kind)
            && super::objects::str_at(&c.spec, "nodeClassRef.name") == Some(name)
    })
}

fn ensure_finalizer(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, f: &str) {
    let list = meta.finalizers.get_or_insert_with(Vec::new);
    if !list.iter().any(|x| x == f) {
        list.push(f.to_string());
    }
}

pub fn reconcile(w: &mut World) {
    let classes: Vec<Arc<EC2NodeClass>> = w.karpenter.ec2nodeclasses.items().values().cloned().collect();
    for c in classes {
        reconcile_ec2(w, &c);
    }
    let classes: Vec<Arc<NodeClass>> = w.karpenter.nodeclasses.items().values().cloned().collect();
    for c in classes {
        reconcile_auto(w, &c);
    }
}

fn reconcile_ec2(w: &mut World, c: &EC2NodeClass) {
    let name = c.metadata.name.clone().unwrap_or_default();
    if c.metadata.deletion_timestamp.is_some() {
        if !in_use(w, "EC2NodeClass", &name) {
            w.remove::<EC2NodeClass>(&name);
        }
        return;
    }
    let key = format!("EC2NodeClass/{name}");
    let generation = c.metadata.generation;
    let mut status = c.status.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let now = w.now;
    if due(w, &key, generation) {
        let terms = spec::ami_terms(&c.spec);
        match resolve_amis(w, &terms) {
            Ok(amis) => {
                status["amis"] = ami_status(&amis);
                set_condition(&mut status, "AMIsReady", "True", "AMIsReady", "", now, generation);
                w.karpenter.resolved.insert(
                    key.clone(),
                    Resolved {
                        amis,
                        at: Some(now),
                        generation,
                    },
                );
            }
            Err((reason, message)) => {
                if let Some(m) = status.as_object_mut() {
                    m.remove("amis");
                }
                set_condition(&mut status, "AMIsReady", "False", &reason, &message, now, generation);
                w.karpenter.resolved.insert(
                    key.clone(),
                    Resolved {
                        amis: Vec::new(),
                        at: Some(now),
                        generation,
                    },
                );
            }
        }
    }
    network_status(w, &mut status);
    if let Some(role) = super::objects::str_at(&c.spec, "role") {
        status["instanceProfile"] = json!(format!("{}_{}", w.cluster.name, fnv(role.as_bytes())));
    } else if let Some(p) = super::objects::str_at(&c.spec, "instanceProfile") {
        status["instanceProfile"] = json!(p);
    }
    for t in [
        "SubnetsReady",
        "SecurityGroupsReady",
        "InstanceProfileReady",
        "ValidationSucceeded",
    ] {
        set_condition(&mut status, t, "True", t, "", now, generation);
    }
    set_ready_from(
        &mut status,
        &[
            "AMIsReady",
            "SubnetsReady",
            "SecurityGroupsReady",
            "InstanceProfileReady",
            "ValidationSucceeded",
        ],
        now,
        generation,
    );
    let mut next = c.clone();
    next.status = Some(status);
    ensure_finalizer(&mut next.metadata, keys::EC2NODECLASS_FINALIZER);
    let ann = next.metadata.annotations.get_or_insert_with(Default::default);
    ann.insert(keys::EC2NODECLASS_HASH.into(), class_hash(&c.spec));
    ann.insert(
        keys::EC2NODECLASS_HASH_VERSION.into(),
        keys::EC2NODECLASS_HASH_VERSION_VALUE.into(),
    );
    if next != *c {
        w.put(next);
    }
}

fn reconcile_auto(w: &mut World, c: &NodeClass) {
    let name = c.metadata.name.clone().unwrap_or_default();
    if c.metadata.deletion_timestamp.is_some() {
        if !in_use(w, "NodeClass", &name) {
            w.remove::<NodeClass>(&name);
        }
        return;
    }
    let key = format!("NodeClass/{name}");
    let generation = c.metadata.generation;
    let now = w.now;
    if due(w, &key, generation) {
        let amis = auto_amis(w);
        w.karpenter.resolved.insert(
            key,
            Resolved {
                amis,
                at: Some(now),
                generation,
            },
        );
    }
    let mut status = c.status.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    network_status(w, &mut status);
    if let Some(role) = super::objects::str_at(&c.spec, "role") {
        status["instanceProfile"] = json!(format!("eks-{}-{}", w.cluster.name, fnv(role.as_bytes())));
    }
    for t in ["SubnetsReady", "SecurityGroupsReady", "InstanceProfileReady"] {
        set_condition(&mut status, t, "True", t, "", now, generation);
    }
    set_ready_from(
        &mut status,
        &["SubnetsReady", "SecurityGroupsReady", "InstanceProfileReady"],
        now,
        generation,
    );
    let mut next = c.clone();
    next.status = Some(status);
    if next != *c {
        w.put(next);
    }
}

/// A node class's readiness for launches: None when ready, else the message.
pub fn not_ready(w: &World, kind: &str, name: &str) -> Option<String> {
    let status = match kind {
        "EC2NodeClass" => w.karpenter.ec2nodeclasses.get(name).map(|c| c.status.clone()),
        "NodeClass" => w.karpenter.nodeclasses.get(name).map(|c| c.status.clone()),
        _ => None,
    };
    let Some(status) = status else {
        return Some(format!("{kind} {name:?} not found"));
    };
    let ready = super::condition(status.as_ref(), "Ready");
    match ready.and_then(|c| c.get("status")).and_then(Value::as_str) {
        Some("True") => None,
        _ => Some(
            super::condition(status.as_ref(), "AMIsReady")
                .filter(|c| c["status"] != "True")
                .and_then(|c| c.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("NodeClass is not ready")
                .to_string(),
        ),
    }
}
