//! Garbage collection: dependents of deleted owners, pods of deleted nodes, objects
//! whose finalizers are gone, namespaces being deleted, and old events.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Namespace, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::{Stored, World, controller_of};

/// How long events are kept (virtual time), like the apiserver's default event TTL.
const EVENT_TTL_SECS: i64 = 3600;

/// Deletes what `owner_uid` controls (background cascading deletion).
pub fn cascade(w: &mut World, owner_uid: &str) {
    let rs: Vec<String> = dependents::<ReplicaSet>(w, owner_uid);
    for k in rs {
        if let Some(gone) = w.remove::<ReplicaSet>(&k) {
            cascade(w, gone.metadata.uid.as_deref().unwrap_or_default());
        }
    }
    for k in dependents::<ControllerRevision>(w, owner_uid) {
        w.remove::<ControllerRevision>(&k);
    }
    let pods: Vec<String> = w
        .idx
        .pods_by_owner
        .get(owner_uid)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    for k in pods {
        delete_pod(w, &k, None);
    }
}

fn dependents<T: Stored>(w: &World, owner_uid: &str) -> Vec<String> {
    T::table(w)
        .items()
        .iter()
        .filter(|(_, o)| controller_of(o.metadata()).is_some_and(|r| r.uid == owner_uid))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Starts the graceful deletion of a pod (or removes it at once for grace 0).
pub fn delete_pod(w: &mut World, key: &str, grace: Option<i64>) -> Option<std::sync::Arc<Pod>> {
    let pod = w.pods.get(key).cloned()?;
    let grace = grace
        .or_else(|| pod.spec.as_ref()?.termination_grace_period_seconds)
        .unwrap_or(30)
        .max(0);
    if grace == 0 {
        return w.remove::<Pod>(key);
    }
    if let Some(current) = pod.metadata.deletion_grace_period_seconds
        && current <= grace
    {
        return Some(pod);
    }
    let mut p = (*pod).clone();
    p.metadata.deletion_grace_period_seconds = Some(grace);
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        w.now
            .checked_add(jiff::SignedDuration::from_secs(grace))
            .unwrap_or(w.now),
    ));
    let p = w.put(p);
    let container = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    if super::kubelet::node_name(&p).is_some() {
        w.pod_event(
            &p,
            "Normal",
            "Killing",
            &format!("Stopping container {container}"),
            "kubelet",
        );
    }
    Some(p)
}

/// Deletes every object in a namespace, then the namespace itself.
pub fn delete_namespace(w: &mut World, ns: &str) {
    fn clear<T: Stored>(w: &mut World, ns: &str) {
        let keys: Vec<String> = T::table(w).in_namespace(ns).map(|(k, _)| k.clone()).collect();
        for k in keys {
            w.remove::<T>(&k);
        }
    }
    clear::<Deployment>(w, ns);
    clear::<ReplicaSet>(w, ns);
    clear::<DaemonSet>(w, ns);
    clear::<StatefulSet>(w, ns);
    clear::<ControllerRevision>(w, ns);
    clear::<Service>(w, ns);
    clear::<EndpointSlice>(w, ns);
    clear::<Endpoints>(w, ns);
    clear::<PersistentVolumeClaim>(w, ns);
    clear::<Pod>(w, ns);
    clear::<PodDisruptionBudget>(w, ns);
    clear::<ConfigMap>(w, ns);
    clear::<Secret>(w, ns);
    clear::<Lease>(w, ns);
    clear::<Event>(w, ns);
    w.remove::<Namespace>(ns);
}

/// Drops events not seen for an hour.
pub fn expire_events(w: &mut World) {
    let now = w.now;
    let old: Vec<String> = w
        .events
        .items()
        .iter()
        .filter(|(_, e)| {
            let last = e
                .last_timestamp
                .as_ref()
                .or(e.metadata.creation_timestamp.as_ref())
                .map(|t| t.0)
                .unwrap_or(now);
            now.duration_since(last).as_secs() > EVENT_TTL_SECS
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in old {
        w.remove::<Event>(&k);
        w.recorder.forget(&k);
    }
}
