//! The ReplicaSet controller: keeps each ReplicaSet's count of live pods at its
//! replicas (recreating evicted or deleted pods) and reports ready/available counts.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kubelet::{is_ready, is_terminal, is_terminating, node_name};
use super::{World, controller_of, gc, owner_ref};

pub fn replicaset_changed(w: &mut World, old: Option<&Arc<ReplicaSet>>, new: Option<&Arc<ReplicaSet>>) {
    if let (Some(o), None) = (old, new) {
        let uid = o.metadata.uid.clone().unwrap_or_default();
        w.idx.owners.remove(&uid);
        gc::cascade(w, &uid);
    }
    if let Some(n) = new {
        let k = super::key(&**n);
        w.idx
            .owners
            .insert(n.metadata.uid.clone().unwrap_or_default(), ("ReplicaSet", k.clone()));
        w.dirty.replicasets.insert(k);
    }
    for side in [old, new].into_iter().flatten() {
        if let Some(owner) = controller_of(&side.metadata)
            && let Some((_, dkey)) = w.idx.owners.get(&owner.uid)
        {
            w.dirty.deployments.insert(dkey.clone());
        }
    }
}

/// The live (not terminating, not finished) pods a controller owns.
pub fn owned_pods(w: &World, owner_uid: &str) -> Vec<Arc<Pod>> {
    w.idx
        .pods_by_owner
        .get(owner_uid)
        .into_iter()
        .flatten()
        .filter_map(|k| w.pods.get(k).cloned())
        .collect()
}

/// A new pod from a ReplicaSet's template.
pub fn pod_from_template(w: &mut World, rs: &ReplicaSet) -> Option<Pod> {
    let spec = rs.spec.as_ref()?;
    let template = spec.template.as_ref()?;
    let name = rs.metadata.name.clone()?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut meta = ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: rs.metadata.namespace.clone(),
        labels: tmeta.labels,
        annotations: tmeta.annotations,
        owner_references: Some(vec![owner_ref(rs)]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    Some(Pod {
        metadata: meta,
        spec: template.spec.clone(),
        status: Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    })
}

pub fn reconcile(w: &mut World) {
    let dirty = std::mem::take(&mut w.dirty.replicasets);
    for k in dirty {
        let Some(rs) = w.replicasets.get(&k).cloned() else {
            continue;
        };
        if rs.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
        let pods = owned_pods(w, &uid);
        let mut live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !is_terminating(p) && !is_terminal(p)).collect();
        if live.len() < want {
            for _ in live.len()..want {
                if let Some(p) = pod_from_template(w, &rs) {
                    w.put(p);
                }
            }
        } else if live.len() > want {
            // delete the least settled first: unscheduled, then not ready, then newest
            live.sort_by_key(|p| {
                (
                    node_name(p).is_some(),
                    is_ready(p),
                    std::cmp::Reverse(p.metadata.creation_timestamp.clone().map(|t| t.0)),
                )
            });
            let extra: Vec<String> = live[..live.len() - want].iter().map(|p| super::key(&***p)).collect();
            for pk in extra {
                gc::delete_pod(w, &pk, None);
            }
        }
        let pods = owned_pods(w, &uid);
        let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !is_terminating(p) && !is_terminal(p)).collect();
        let ready = live.iter().filter(|p| is_ready(p)).count() as i32;
        let min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let available = super::recheck::count_available(
            w,
            super::Controller::ReplicaSet,
            &k,
            min_ready,
            live.iter().map(|p| &***p),
        );
        let status = ReplicaSetStatus {
            replicas: live.len() as i32,
            fully_labeled_replicas: Some(live.len() as i32),
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            observed_generation: rs.metadata.generation,
            ..Default::default()
        };
        if rs.status.as_ref() != Some(&status) {
            let mut r = (*rs).clone();
            r.status = Some(status);
            w.put(r);
            // our own status write must not loop the controller
            w.dirty.replicasets.remove(&k);
        }
    }
}
