//! Zonal volumes as EBS gives them: StorageClasses; PersistentVolumeClaims that
//! wait for their first pod (`WaitForFirstConsumer`) and are then bound to a
//! PersistentVolume provisioned in the zone of the node the scheduler chose, with
//! node affinity on that zone; what the scheduler's volume plugins say about a
//! pod's claims; and claims kept until no pod uses them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus, PersistentVolumeSpec, PersistentVolumeStatus,
    Pod, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::World;
use super::events::reference;
use super::kubelet::is_terminal;
use crate::sim::store::key_of;

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// The default StorageClass: the newest of those annotated as default.
pub fn default_class(w: &World) -> Option<Arc<StorageClass>> {
    w.storageclasses
        .items()
        .values()
        .filter(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS))
                .is_some_and(|v| v == "true")
        })
        .max_by_key(|c| c.metadata.creation_timestamp.clone().map(|t| t.0))
        .cloned()
}

/// What the API server fills in on a StorageClass.
pub fn admit_class(sc: &mut StorageClass) {
    sc.reclaim_policy.get_or_insert_with(|| "Delete".into());
    sc.volume_binding_mode.get_or_insert_with(|| "Immediate".into());
}

/// What the API server (with its DefaultStorageClass admission) fills in on a claim.
pub fn admit_claim(w: &World, pvc: &mut PersistentVolumeClaim) {
    let spec = pvc.spec.get_or_insert_with(Default::default);
    if spec.storage_class_name.is_none()
        && let Some(c) = default_class(w)
    {
        spec.storage_class_name = c.metadata.name.clone();
    }
    spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
    let finalizers = pvc.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == PVC_PROTECTION) {
        finalizers.push(PVC_PROTECTION.into());
    }
    if pvc.status.as_ref().and_then(|s| s.phase.as_deref()).is_none() {
        pvc.status = Some(PersistentVolumeClaimStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        });
    }
}

/// What the API server fills in on a PersistentVolume.
pub fn admit_volume(pv: &mut PersistentVolume) {
    let spec = pv.spec.get_or_insert_with(Default::default);
    spec.persistent_volume_reclaim_policy
        .get_or_insert_with(|| "Retain".into());
    spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
    if pv.status.is_none() {
        pv.status = Some(PersistentVolumeStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        });
    }
}

pub fn claim_changed(
    w: &mut World,
    old: Option<&Arc<PersistentVolumeClaim>>,
    new: Option<&Arc<PersistentVolumeClaim>>,
) {
    if let Some(n) = new {
        let fresh = old.is_none();
        let deleting = n.metadata.deletion_timestamp.is_some();
        if fresh || deleting {
            w.dirty.claims.insert(super::key(&**n));
        }
    }
    if let (Some(o), None) = (old, new) {
        release(w, o);
    }
}

/// A claim is gone: its volume is released, and deleted if its class says so.
fn release(w: &mut World, pvc: &PersistentVolumeClaim) {
    let Some(pv_name) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
        return;
    };
    let Some(pv) = w.pvs.get(&pv_name).cloned() else { return };
    let claimed_by = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|r| r.uid.clone());
    if claimed_by != pvc.metadata.uid {
        return;
    }
    if pv
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        == Some("Delete")
    {
        w.remove::<PersistentVolume>(&pv_name);
    } else {
        let mut p = (*pv).clone();
        p.status = Some(PersistentVolumeStatus {
            phase: Some("Released".into()),
            ..Default::default()
        });
        w.put(p);
    }
}

fn class_of<'a>(w: &'a World, pvc: &PersistentVolumeClaim) -> Option<&'a Arc<StorageClass>> {
    let name = pvc.spec.as_ref()?.storage_class_name.as_deref()?;
    w.storageclasses.get(name)
}

fn waits_for_consumer(class: &StorageClass) -> bool {
    class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
}

fn bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty())
}

fn claim_event(w: &mut World, pvc: &PersistentVolumeClaim, type_: &str, reason: &str, message: &str, component: &str) {
    w.record_event(reference(pvc), type_, reason, message, component, None);
}

/// Whether a live pod in the claim's namespace mounts it.
fn in_use(w: &World, pvc: &PersistentVolumeClaim) -> bool {
    let ns = pvc.metadata.namespace.as_deref().unwrap_or_default();
    let name = pvc.metadata.name.as_deref().unwrap_or_default();
    w.pods
        .in_namespace(ns)
        .any(|(_, p)| !is_terminal(p) && claims_of(p).any(|c| c == name))
}

/// The claims a pod mounts.
pub fn claims_of(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()))
}

/// The persistent volume controller over the claims that changed: a new claim
/// waiting for its first consumer says so, an Immediate one is provisioned at once,
/// a deleted one goes once no pod uses it.
pub fn reconcile(w: &mut World) {
    let dirty = std::mem::take(&mut w.dirty.claims);
    for key in dirty {
        let Some(pvc) = w.pvcs.get(&key).cloned() else { continue };
        if pvc.metadata.deletion_timestamp.is_some() {
            if !in_use(w, &pvc) {
                w.remove::<PersistentVolumeClaim>(&key);
            }
            continue;
        }
        if bound(&pvc) {
            continue;
        }
        let Some(class) = class_of(w, &pvc).cloned() else {
            let message = match pvc.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()) {
                Some(c) if !c.is_empty() => format!("storageclass.storage.k8s.io \"{c}\" not found"),
                _ => "no persistent volumes available for this claim and no storage class is set".into(),
            };
            let reason = if message.starts_with("storageclass") {
                "ProvisioningFailed"
            } else {
                "FailedBinding"
            };
            claim_event(w, &pvc, "Warning", reason, &message, "persistentvolume-controller");
            continue;
        };
        if waits_for_consumer(&class) {
            claim_event(
                w,
                &pvc,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
                "persistentvolume-controller",
            );
            continue;
        }
        // Immediate: provisioned in a zone of the cluster chosen by the claim's name
        let zones: std::collections::BTreeSet<String> = w
            .nodes
            .items()
            .values()
            .filter_map(|n| n.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned())
            .collect();
        let zones: Vec<String> = zones.into_iter().collect();
        if zones.is_empty() {
            continue;
        }
        let zone = zones[super::fnv(key.as_bytes()) as usize % zones.len()].clone();
        provision(w, &key, &zone, None, true);
    }
    // claims being deleted wait for their pods: look again when pods go
    let waiting: Vec<String> = w
        .pvcs
        .items()
        .iter()
        .filter(|(_, c)| c.metadata.deletion_timestamp.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for k in waiting {
        if let Some(pvc) = w.pvcs.get(&k).cloned()
            && !in_use(w, &pvc)
        {
            w.remove::<PersistentVolumeClaim>(&k);
        }
    }
}

fn volume_handle(w: &mut World) -> String {
    use rand::Rng;
    let n: u64 = w.rng.random();
    format!("vol-0{:016x}", n)
}

/// Provisions a volume for the claim at `key` in `zone` and binds the two. With
/// `events`, says so the way the external provisioner and the controller do.
pub fn provision(w: &mut World, key: &str, zone: &str, node: Option<&str>, events: bool) {
    let Some(pvc) = w.pvcs.get(key).cloned() else { return };
    if bound(&pvc) {
        return;
    }
    let class = class_of(w, &pvc).cloned();
    let provisioner = class
        .as_ref()
        .map(|c| c.provisioner.clone())
        .unwrap_or_else(|| "ebs.csi.aws.com".into());
    let ns = pvc.metadata.namespace.clone().unwrap_or_default();
    let name = pvc.metadata.name.clone().unwrap_or_default();
    let uid = pvc.metadata.uid.clone().unwrap_or_default();
    let spec = pvc.spec.clone().unwrap_or_default();
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage").cloned());
    let capacity = storage.map(|q| BTreeMap::from([("storage".to_string(), q)]));
    let access = spec.access_modes.clone().or_else(|| Some(vec!["ReadWriteOnce".into()]));
    if events {
        claim_event(
            w,
            &pvc,
            "Normal",
            "ExternalProvisioning",
            &format!(
                "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
            ),
            "persistentvolume-controller",
        );
        claim_event(
            w,
            &pvc,
            "Normal",
            "Provisioning",
            &format!("External provisioner is provisioning volume for claim \"{ns}/{name}\""),
            &provisioner,
        );
    }
    let pv_name = format!("pvc-{uid}");
    let handle = volume_handle(w);
    let mut meta = ObjectMeta {
        name: Some(pv_name.clone()),
        annotations: Some(BTreeMap::from([(
            "pv.kubernetes.io/provisioned-by".to_string(),
            provisioner.clone(),
        )])),
        finalizers: Some(vec![
            "external-provisioner.volume.kubernetes.io/finalizer".into(),
            PV_PROTECTION.into(),
        ]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    w.put(PersistentVolume {
        metadata: meta,
        spec: Some(PersistentVolumeSpec {
            access_modes: access.clone(),
            capacity: capacity.clone(),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: Some(uid),
                resource_version: pvc.metadata.resource_version.clone(),
                field_path: None,
            }),
            csi: Some(CSIPersistentVolumeSource {
                driver: provisioner.clone(),
                fs_type: Some("ext4".into()),
                volume_handle: handle,
                volume_attributes: Some(BTreeMap::from([(
                    "storage.kubernetes.io/csiProvisionerIdentity".to_string(),
                    format!(
                        "1700000000000-{:04}-{provisioner}",
                        super::fnv(provisioner.as_bytes()) % 10_000
                    ),
                )])),
                ..Default::default()
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: ZONE_LABEL.into(),
                            operator: "In".into(),
                            values: Some(vec![zone.to_string()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .as_ref()
                    .and_then(|c| c.reclaim_policy.clone())
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: spec.storage_class_name.clone(),
            volume_mode: Some("Filesystem".into()),
            ..Default::default()
        }),
        status: Some(PersistentVolumeStatus {
            phase: Some("Bound".into()),
            ..Default::default()
        }),
    });
    let mut p = (*pvc).clone();
    let annotations = p.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in [
        ("pv.kubernetes.io/bind-completed", "yes"),
        ("pv.kubernetes.io/bound-by-controller", "yes"),
        ("volume.beta.kubernetes.io/storage-provisioner", provisioner.as_str()),
        ("volume.kubernetes.io/storage-provisioner", provisioner.as_str()),
    ] {
        annotations.insert(k.into(), v.into());
    }
    if let Some(n) = node {
        annotations.insert(SELECTED_NODE.into(), n.into());
    }
    if let Some(s) = p.spec.as_mut() {
        s.volume_name = Some(pv_name.clone());
    }
    p.status = Some(PersistentVolumeClaimStatus {
        phase: Some("Bound".into()),
        access_modes: access,
        capacity,
        ..Default::default()
    });
    let p = w.put(p);
    if events {
        claim_event(
            w,
            &p,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {pv_name}"),
            &provisioner,
        );
    }
}

/// A pod's claims as the scheduler's volume plugins see them before any node.
pub struct PodVolumes {
    /// Node affinity of each bound claim's volume.
    bound: Vec<Arc<PersistentVolume>>,
    /// A bound claim's volume is missing.
    missing_volume: bool,
}

/// The volume plugins' pre-filter: a claim that is missing, being deleted or
/// unbound with an Immediate class makes the pod unschedulable before any node is
/// looked at (the message is the scheduler's).
pub fn prefilter(w: &World, pod: &Pod) -> Result<Option<PodVolumes>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut out = PodVolumes {
        bound: Vec::new(),
        missing_volume: false,
    };
    let mut any = false;
    let mut unbound_immediate = false;
    for claim in claims_of(pod) {
        any = true;
        let Some(pvc) = w.pvcs.get(&key_of(Some(ns), claim)) else {
            return Err(format!("persistentvolumeclaim \"{claim}\" not found"));
        };
        if pvc.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim \"{claim}\" is being deleted"));
        }
        if bound(pvc) {
            let pv = pvc
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .unwrap_or_default();
            match w.pvs.get(pv) {
                Some(v) => out.bound.push(v.clone()),
                None => out.missing_volume = true,
            }
        } else if class_of(w, pvc).is_none_or(|c| !waits_for_consumer(c)) {
            unbound_immediate = true;
        }
    }
    if unbound_immediate {
        return Err("pod has unbound immediate PersistentVolumeClaims".into());
    }
    Ok(any.then_some(out))
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    term.match_expressions.iter().flatten().all(|e| {
        let v = labels.and_then(|l| l.get(&e.key));
        let vals = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => v.is_some_and(|v| vals.contains(v)),
            "NotIn" => v.is_none_or(|v| !vals.contains(v)),
            "Exists" => v.is_some(),
            "DoesNotExist" => v.is_none(),
            _ => false,
        }
    })
}

/// Whether a volume's node affinity lets it be used on `node`.
pub fn reachable_from(pv: &PersistentVolume, node: &Node) -> bool {
    let Some(required) = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    required.node_selector_terms.iter().any(|t| term_matches(t, node))
}

/// The volume binding filter's reason why `node` cannot host the pod's volumes, in
/// the words of the scheduler of the control plane's `minor` version.
pub fn node_misfit(vols: &PodVolumes, node: &Node, minor: u32) -> Option<&'static str> {
    if vols.missing_volume {
        return Some("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)");
    }
    if vols.bound.iter().any(|pv| !reachable_from(pv, node)) {
        // kubernetes/kubernetes#129887 reworded it for 1.33
        return Some(if minor >= 33 {
            "node(s) didn't match PersistentVolume's node affinity"
        } else {
            "node(s) had volume node affinity conflict"
        });
    }
    None
}

/// The pod is bound to `node`: its claims waiting for a consumer are provisioned
/// in the node's zone.
pub fn bind_claims(w: &mut World, pod: &Pod, node: &str, events: bool) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let Some(zone) = w
        .nodes
        .get(node)
        .and_then(|n| n.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned())
    else {
        return;
    };
    let claims: Vec<String> = claims_of(pod).map(|c| key_of(Some(&ns), c)).collect();
    for key in claims {
        if w.pvcs.get(&key).is_some_and(|c| !bound(c)) {
            provision(w, &key, &zone, Some(node), events);
        }
    }
}
