//! The StatefulSet controller: pods with stable names `<set>-<ordinal>` and their
//! own volume claims (`<template>-<set>-<ordinal>`, kept when pods go), created in
//! order each waiting for the one before to be Running and Ready (OrderedReady)
//! or all at once (Parallel), removed from the highest ordinal down; rolling
//! updates from the highest ordinal down to the partition with maxUnavailable, or
//! OnDelete; a ControllerRevision per template; and status.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodStatus, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::json;

use super::deployment::scaled;
use super::events::reference;
use super::kubelet::{is_ready, is_terminal, is_terminating, phase};
use super::recheck::{self, Controller, is_available};
use super::replicaset::owned_pods;
use super::{World, controller_of, gc, owner_ref, template_hash};
use crate::sim::store::key_of;

pub const REVISION_LABEL: &str = "controller-revision-hash";
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label of a ControllerRevision carrying its template's hash.
const HASH_LABEL: &str = "controller.kubernetes.io/hash";

pub fn statefulset_changed(w: &mut World, old: Option<&Arc<StatefulSet>>, new: Option<&Arc<StatefulSet>>) {
    if let (Some(o), None) = (old, new) {
        let uid = o.metadata.uid.clone().unwrap_or_default();
        w.idx.owners.remove(&uid);
        gc::cascade(w, &uid);
    }
    if let Some(n) = new {
        let k = super::key(&**n);
        w.idx
            .owners
            .insert(n.metadata.uid.clone().unwrap_or_default(), ("StatefulSet", k.clone()));
        w.dirty.statefulsets.insert(k);
    }
}

/// The ordinal of a StatefulSet's pod from its name, if it is one of `set`'s.
pub fn ordinal_of(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn replicas(set: &StatefulSet) -> usize {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize
}

fn min_ready(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

fn parallel(set: &StatefulSet) -> bool {
    set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) == Some("Parallel")
}

fn strategy(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

fn partition(set: &StatefulSet) -> usize {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0) as usize
}

fn max_unavailable(set: &StatefulSet) -> i32 {
    let value = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1));
    scaled(Some(&value), replicas(set) as i32, 1, false).max(1)
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata.labels.as_ref()?.get(REVISION_LABEL).map(String::as_str)
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// The template a ControllerRevision recorded.
fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The set's revisions, oldest first.
fn revisions(w: &World, set: &StatefulSet) -> Vec<Arc<ControllerRevision>> {
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let mut revs: Vec<Arc<ControllerRevision>> = w
        .controllerrevisions
        .in_namespace(ns)
        .filter(|(_, r)| controller_of(&r.metadata).is_some_and(|o| o.uid == uid))
        .map(|(_, r)| r.clone())
        .collect();
    revs.sort_by_key(|r| r.revision);
    revs
}

/// The update revision for the set's current template: found, bumped (a rollback to
/// an earlier template) or created.
fn update_revision(w: &mut World, set: &StatefulSet, revs: &[Arc<ControllerRevision>]) -> Arc<ControllerRevision> {
    let spec = set.spec.as_ref();
    let template = spec.map(|s| s.template.clone()).unwrap_or_default();
    let name = format!(
        "{}-{}",
        set.metadata.name.as_deref().unwrap_or_default(),
        template_hash(&template)
    );
    let next = revs.last().map(|r| r.revision + 1).unwrap_or(1);
    if let Some(existing) = revs.iter().find(|r| r.metadata.name.as_deref() == Some(name.as_str())) {
        if revs.last().is_some_and(|l| Arc::ptr_eq(l, existing)) {
            return existing.clone();
        }
        let mut r = (**existing).clone();
        r.revision = next;
        return w.put(r);
    }
    let mut data = json!({"spec": {"template": template}});
    data["spec"]["template"]["$patch"] = json!("replace");
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(
        HASH_LABEL.into(),
        name.rsplit('-').next().unwrap_or_default().to_string(),
    );
    let mut meta = ObjectMeta {
        name: Some(name),
        namespace: set.metadata.namespace.clone(),
        labels: Some(labels),
        owner_references: Some(vec![owner_ref(set)]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    w.put(ControllerRevision {
        metadata: meta,
        data: Some(RawExtension(data)),
        revision: next,
    })
}

fn claim_name(template: &PersistentVolumeClaim, set: &str, ordinal: usize) -> String {
    format!(
        "{}-{set}-{ordinal}",
        template.metadata.name.as_deref().unwrap_or_default()
    )
}

fn event(w: &mut World, set: &StatefulSet, type_: &str, reason: &str, message: &str) {
    w.record_event(reference(set), type_, reason, message, "statefulset-controller", None);
}

/// Creates the claims of pod `ordinal` that do not exist yet.
pub(crate) fn create_claims(w: &mut World, set: &StatefulSet, ordinal: usize) {
    let name = set.metadata.name.clone().unwrap_or_default();
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let selector = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    for t in &templates {
        let claim = claim_name(t, &name, ordinal);
        if w.pvcs.get(&key_of(Some(&ns), &claim)).is_some() {
            continue;
        }
        let mut labels = t.metadata.labels.clone().unwrap_or_default();
        labels.extend(selector.clone());
        let mut meta = ObjectMeta {
            name: Some(claim.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            annotations: t.metadata.annotations.clone(),
            ..Default::default()
        };
        w.stamp_new(&mut meta);
        let mut pvc = PersistentVolumeClaim {
            metadata: meta,
            spec: t.spec.clone(),
            status: None,
        };
        super::volumes::admit_claim(w, &mut pvc);
        w.put(pvc);
        let pod = format!("{name}-{ordinal}");
        event(
            w,
            set,
            "Normal",
            "SuccessfulCreate",
            &format!("create Claim {claim} Pod {pod} in StatefulSet {name} success"),
        );
    }
}

/// A new pod `ordinal` from `template` at `revision`.
pub(crate) fn new_pod(
    w: &mut World,
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: usize,
) -> Pod {
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let name = format!("{set_name}-{ordinal}");
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), revision.into());
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    let mut meta = ObjectMeta {
        name: Some(name.clone()),
        namespace: set.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: tmeta.annotations,
        owner_references: Some(vec![owner_ref(set)]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name);
    spec.subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone());
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|t| Volume {
            name: t.metadata.name.clone().unwrap_or_default(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(t, &set_name, ordinal),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    for v in spec.volumes.take().unwrap_or_default() {
        if !volumes.iter().any(|c| c.name == v.name) {
            volumes.push(v);
        }
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    Pod {
        metadata: meta,
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

pub fn reconcile(w: &mut World) {
    let dirty = std::mem::take(&mut w.dirty.statefulsets);
    for k in dirty {
        let Some(set) = w.statefulsets.get(&k).cloned() else {
            continue;
        };
        reconcile_one(w, &k, &set);
    }
}

/// The revision of the set's current template (created if new).
pub(crate) fn revision_for(w: &mut World, set: &StatefulSet) -> Arc<ControllerRevision> {
    let revs = revisions(w, set);
    update_revision(w, set, &revs)
}

/// What one pass decided to do, applied after the decisions are made.
enum Act {
    Create(usize),
    /// A pending pod's missing claims are created again.
    Claims(usize),
    Delete(String),
}

fn reconcile_one(w: &mut World, key: &str, set: &StatefulSet) {
    let name = set.metadata.name.clone().unwrap_or_default();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let revs = revisions(w, set);
    let update = update_revision(w, set, &revs);
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .filter(|c| revs.iter().any(|r| r.metadata.name.as_deref() == Some(c.as_str())))
        .unwrap_or_else(|| update_name.clone());
    let current = revs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name.as_str()))
        .cloned()
        .unwrap_or_else(|| update.clone());
    let n = replicas(set);
    let monotonic = !parallel(set);
    let min_ready = min_ready(set);
    let now = w.now;
    let pods = owned_pods(w, &uid);
    let mut slots: Vec<Option<Arc<Pod>>> = vec![None; n];
    let mut condemned: Vec<(usize, Arc<Pod>)> = Vec::new();
    for p in &pods {
        let Some(i) = p.metadata.name.as_deref().and_then(|pn| ordinal_of(&name, pn)) else {
            continue;
        };
        if i < n {
            slots[i] = Some(p.clone());
        } else {
            condemned.push((i, p.clone()));
        }
    }
    condemned.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    let unavailable = |p: &Pod| !is_available(p, min_ready, now) || is_terminating(p);
    let mut acts: Vec<Act> = Vec::new();
    if set.metadata.deletion_timestamp.is_none() {
        let mut blocked = false;
        // living replicas, in order
        for (i, slot) in slots.iter().enumerate() {
            match slot {
                None => {
                    acts.push(Act::Create(i));
                    if monotonic {
                        blocked = true;
                        break;
                    }
                }
                Some(p) if is_terminal(p) => {
                    if !is_terminating(p) {
                        acts.push(Act::Delete(super::key(&**p)));
                    }
                    blocked = true;
                    break;
                }
                Some(p) => {
                    if phase(p) == "Pending" && !is_terminating(p) {
                        acts.push(Act::Claims(i));
                    }
                    if monotonic && (is_terminating(p) || !running_and_ready(p) || !is_available(p, min_ready, now)) {
                        blocked = true;
                        break;
                    }
                }
            }
        }
        // pods beyond replicas, highest ordinal first
        if !blocked {
            let first_unhealthy = slots
                .iter()
                .flatten()
                .find(|p| unavailable(p))
                .or_else(|| condemned.iter().rev().map(|(_, p)| p).find(|p| unavailable(p)))
                .map(|p| super::key(&**p));
            for (_, p) in &condemned {
                if is_terminating(p) {
                    if monotonic {
                        blocked = true;
                        break;
                    }
                    continue;
                }
                if monotonic
                    && (!running_and_ready(p) || !is_available(p, min_ready, now))
                    && first_unhealthy.as_deref() != Some(super::key(&**p).as_str())
                {
                    blocked = true;
                    break;
                }
                acts.push(Act::Delete(super::key(&**p)));
                if monotonic {
                    blocked = true;
                    break;
                }
            }
        }
        // rolling update, highest ordinal down to the partition
        if !blocked && strategy(set) == "RollingUpdate" {
            let max = max_unavailable(set);
            let live: Vec<&Arc<Pod>> = slots.iter().flatten().collect();
            let down = live.iter().filter(|p| unavailable(p)).count() as i32;
            let min = partition(set);
            let stale = |p: &Pod| revision_of(p) != Some(update_name.as_str()) && !is_terminating(p);
            if parallel(set) {
                // first the old pods already unavailable, then healthy ones within the budget
                let mut budget = max - down;
                for i in (min..n).rev() {
                    let Some(p) = &slots[i] else { continue };
                    if stale(p) && !is_available(p, min_ready, now) {
                        acts.push(Act::Delete(super::key(&**p)));
                    }
                }
                for i in (min..n).rev() {
                    let Some(p) = &slots[i] else { continue };
                    if budget <= 0 {
                        break;
                    }
                    if stale(p) && !unavailable(p) {
                        acts.push(Act::Delete(super::key(&**p)));
                        budget -= 1;
                    }
                }
            } else if down < max {
                let mut budget = max - down;
                for i in (min..n).rev() {
                    if budget <= 0 {
                        break;
                    }
                    let Some(p) = &slots[i] else { continue };
                    if stale(p) {
                        acts.push(Act::Delete(super::key(&**p)));
                        budget -= 1;
                    }
                }
            }
        }
    }
    let current_template = template_of(&current);
    let update_template = template_of(&update);
    for act in acts {
        match act {
            Act::Create(i) => {
                // below the partition a pod comes back at the current revision
                let below = strategy(set) == "RollingUpdate" && i < partition(set);
                let (template, rev) = match (below, &current_template, &update_template) {
                    (true, Some(t), _) => (t.clone(), current_name.clone()),
                    (_, _, Some(t)) => (t.clone(), update_name.clone()),
                    _ => continue,
                };
                create_claims(w, set, i);
                let pod = new_pod(w, set, &template, &rev, i);
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                w.put(pod);
                event(
                    w,
                    set,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("create Pod {pod_name} in StatefulSet {name} successful"),
                );
            }
            Act::Claims(i) => create_claims(w, set, i),
            Act::Delete(pk) => {
                let pod_name = pk.rsplit('/').next().unwrap_or_default().to_string();
                gc::delete_pod(w, &pk, None);
                event(
                    w,
                    set,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("delete Pod {pod_name} in StatefulSet {name} successful"),
                );
            }
        }
    }
    truncate_history(w, set, &current_name, &update_name);
    write_status(w, key, set, &current_name, &update_name);
}

/// Drops revisions beyond `revisionHistoryLimit` that no pod uses.
fn truncate_history(w: &mut World, set: &StatefulSet, current: &str, update: &str) {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let revs = revisions(w, set);
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let live: Vec<String> = owned_pods(w, &uid)
        .iter()
        .filter_map(|p| revision_of(p).map(str::to_string))
        .collect();
    let old: Vec<&Arc<ControllerRevision>> = revs
        .iter()
        .filter(|r| {
            let n = r.metadata.name.as_deref().unwrap_or_default();
            n != current && n != update && !live.iter().any(|l| l == n)
        })
        .collect();
    if old.len() > limit {
        let drop: Vec<String> = old[..old.len() - limit].iter().map(|r| super::key(&***r)).collect();
        for k in drop {
            w.remove::<ControllerRevision>(&k);
        }
    }
}

fn write_status(w: &mut World, key: &str, set: &StatefulSet, current: &str, update: &str) {
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let name = set.metadata.name.clone().unwrap_or_default();
    let pods: Vec<Arc<Pod>> = owned_pods(w, &uid)
        .into_iter()
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .and_then(|pn| ordinal_of(&name, pn))
                .is_some()
        })
        .collect();
    let ready: Vec<&Pod> = pods.iter().map(|p| &**p).filter(|p| running_and_ready(p)).collect();
    let available = recheck::count_available(w, Controller::StatefulSet, key, min_ready(set), ready.iter().copied());
    let settled = |p: &&Arc<Pod>| !is_terminating(p);
    let current_n = pods
        .iter()
        .filter(settled)
        .filter(|p| revision_of(p) == Some(current))
        .count() as i32;
    let updated_n = pods
        .iter()
        .filter(settled)
        .filter(|p| revision_of(p) == Some(update))
        .count() as i32;
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas: pods.len() as i32,
        ready_replicas: Some(ready.len() as i32),
        available_replicas: Some(available),
        current_replicas: Some(current_n),
        updated_replicas: Some(updated_n),
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: Some(0),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    };
    // an update is complete once every replica runs the update revision
    let want = replicas(set) as i32;
    if updated_n == want && ready.len() as i32 == want && pods.len() as i32 == want {
        status.current_replicas = Some(updated_n);
        status.current_revision = Some(update.to_string());
    }
    if set.status.as_ref() != Some(&status) {
        let mut s = set.clone();
        s.status = Some(status);
        w.put(s);
        w.dirty.statefulsets.remove(key);
    }
}
