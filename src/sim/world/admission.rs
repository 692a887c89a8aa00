//! What the API server fills in and refuses when an object of a kind is written,
//! beyond what every kind gets (uid, timestamps, generation): Service allocations,
//! StatefulSet and storage defaults, and the fields that may not change.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

use super::{World, service, volumes};

/// A kind's admission: `old` is the stored object on an update, None on a create.
/// The error is the field at fault and why, as the API server words it.
pub trait Admit: Sized {
    fn admit(_w: &mut World, _new: &mut Self, _old: Option<&Self>) -> Result<(), String> {
        Ok(())
    }
}

impl Admit for Namespace {}
impl Admit for Node {}
impl Admit for Pod {}
impl Admit for Event {}
impl Admit for ConfigMap {}
impl Admit for Secret {}
impl Admit for Lease {}
impl Admit for PodDisruptionBudget {}
impl Admit for Deployment {}
impl Admit for ReplicaSet {}
impl Admit for DaemonSet {}
impl Admit for Endpoints {}
impl Admit for EndpointSlice {}
impl Admit for ControllerRevision {}

impl Admit for Service {
    fn admit(w: &mut World, new: &mut Self, old: Option<&Self>) -> Result<(), String> {
        service::admit(w, new, old).map_err(|e| e.0)
    }
}

impl Admit for StorageClass {
    fn admit(_w: &mut World, new: &mut Self, old: Option<&Self>) -> Result<(), String> {
        volumes::admit_class(new);
        if let Some(o) = old
            && (o.provisioner != new.provisioner
                || o.parameters != new.parameters
                || o.reclaim_policy != new.reclaim_policy
                || o.volume_binding_mode != new.volume_binding_mode)
        {
            return Err("parameters: Forbidden: updates to parameters are forbidden.".into());
        }
        Ok(())
    }
}

impl Admit for PersistentVolumeClaim {
    fn admit(w: &mut World, new: &mut Self, old: Option<&Self>) -> Result<(), String> {
        match old {
            None => volumes::admit_claim(w, new),
            Some(o) => {
                // only the size may change (and the binding, which the controller writes)
                let strip = |c: &PersistentVolumeClaim| {
                    let mut s = c.spec.clone().unwrap_or_default();
                    s.resources = None;
                    s.volume_name = None;
                    s.volume_attributes_class_name = None;
                    s
                };
                if strip(o) != strip(new) {
                    return Err(
                        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
                    );
                }
                if let Some(s) = new.spec.as_mut()
                    && s.volume_name.as_deref().is_none_or(str::is_empty)
                {
                    s.volume_name = o.spec.as_ref().and_then(|x| x.volume_name.clone());
                }
            }
        }
        Ok(())
    }
}

impl Admit for PersistentVolume {
    fn admit(_w: &mut World, new: &mut Self, _old: Option<&Self>) -> Result<(), String> {
        volumes::admit_volume(new);
        Ok(())
    }
}

impl Admit for StatefulSet {
    fn admit(_w: &mut World, new: &mut Self, old: Option<&Self>) -> Result<(), String> {
        let spec = new.spec.as_mut().ok_or_else(|| "spec: Required value".to_string())?;
        spec.replicas.get_or_insert(1);
        spec.pod_management_policy.get_or_insert_with(|| "OrderedReady".into());
        spec.revision_history_limit.get_or_insert(10);
        let strategy = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
        if kind == "RollingUpdate" {
            strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default)
                .partition
                .get_or_insert(0);
        } else if kind != "OnDelete" {
            return Err(format!(
                "spec.updateStrategy: Invalid value: \"{kind}\": must be 'RollingUpdate' or 'OnDelete'"
            ));
        }
        let policy = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        policy.when_deleted.get_or_insert_with(|| "Retain".into());
        policy.when_scaled.get_or_insert_with(|| "Retain".into());
        for c in spec.volume_claim_templates.iter_mut().flatten() {
            c.spec
                .get_or_insert_with(Default::default)
                .volume_mode
                .get_or_insert_with(|| "Filesystem".into());
        }
        let policy_name = spec.pod_management_policy.clone().unwrap_or_default();
        if policy_name != "OrderedReady" && policy_name != "Parallel" {
            return Err(format!(
                "spec.podManagementPolicy: Unsupported value: \"{policy_name}\": supported values: \"OrderedReady\", \"Parallel\""
            ));
        }
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let selected = spec
            .selector
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        if !selected {
            return Err(format!(
                "spec.template.metadata.labels: Invalid value: {labels:?}: `selector` does not match template `labels`"
            ));
        }
        if let Some(o) = old.and_then(|o| o.spec.as_ref()) {
            // only these may change: replicas, ordinals, template, updateStrategy,
            // persistentVolumeClaimRetentionPolicy, minReadySeconds
            let mut a = o.clone();
            let mut b = spec.clone();
            for s in [&mut a, &mut b] {
                s.replicas = None;
                s.ordinals = None;
                s.template = Default::default();
                s.update_strategy = None;
                s.persistent_volume_claim_retention_policy = None;
                s.min_ready_seconds = None;
                s.revision_history_limit = None;
            }
            if a != b {
                return Err("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".into());
            }
        }
        Ok(())
    }
}
