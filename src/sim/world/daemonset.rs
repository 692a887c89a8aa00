//! The DaemonSet controller: one pod per eligible node (node selector and taints
//! permitting; cordoned nodes included, as DaemonSet pods tolerate that), rolling
//! updates one node at a time (maxUnavailable), and status.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, PodStatus, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::deployment::scaled;
use super::kubelet::{is_ready, is_terminal, is_terminating, node_name};
use super::replicaset::owned_pods;
use super::scheduler::tolerates;
use super::{World, gc, owner_ref, template_hash};

const REVISION_LABEL: &str = "controller-revision-hash";

pub fn daemonset_changed(w: &mut World, old: Option<&Arc<DaemonSet>>, new: Option<&Arc<DaemonSet>>) {
    if let (Some(o), None) = (old, new) {
        let uid = o.metadata.uid.clone().unwrap_or_default();
        w.idx.owners.remove(&uid);
        gc::cascade(w, &uid);
    }
    if let Some(n) = new {
        let k = super::key(&**n);
        w.idx
            .owners
            .insert(n.metadata.uid.clone().unwrap_or_default(), ("DaemonSet", k.clone()));
        w.dirty.daemonsets.insert(k);
    }
}

/// Whether a DaemonSet's pods belong on `node`.
pub fn eligible(ds: &DaemonSet, node: &Node) -> bool {
    let Some(spec) = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return false;
    };
    if node.metadata.deletion_timestamp.is_some() || super::fargate::is_fargate(node) {
        // Fargate runs no DaemonSets
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    if let Some(sel) = &spec.node_selector
        && sel.iter().any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v))
    {
        return false;
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_none_or(|taints| {
        taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            // DaemonSet pods tolerate cordons
            .filter(|t| t.key != "node.kubernetes.io/unschedulable")
            .all(|t| tolerates(tolerations, t))
    })
}

fn new_pod(w: &mut World, ds: &DaemonSet, node: &str, revision: &str) -> Option<Pod> {
    let template = &ds.spec.as_ref()?.template;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), revision.into());
    let mut meta = ObjectMeta {
        generate_name: Some(format!("{}-", ds.metadata.name.as_deref().unwrap_or("ds"))),
        namespace: ds.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: tmeta.annotations,
        owner_references: Some(vec![owner_ref(ds)]),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    let mut spec = template.spec.clone()?;
    spec.node_name = Some(node.to_string());
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        tolerations.push(Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        });
    }
    Some(Pod {
        metadata: meta,
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    })
}

pub fn reconcile(w: &mut World) {
    let mut dirty = std::mem::take(&mut w.dirty.daemonsets);
    if std::mem::take(&mut w.dirty.all_daemonsets) {
        dirty.extend(w.daemonsets.items().keys().cloned());
    }
    for k in dirty {
        let Some(ds) = w.daemonsets.get(&k).cloned() else {
            continue;
        };
        if ds.metadata.deletion_timestamp.is_some() {
            continue;
        }
        reconcile_one(w, &k, &ds);
    }
}

fn reconcile_one(w: &mut World, k: &str, ds: &DaemonSet) {
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let Some(spec) = ds.spec.as_ref() else { return };
    let revision = template_hash(&spec.template);
    let pods = owned_pods(w, &uid);
    let mut by_node: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
    for p in pods.iter().filter(|p| !is_terminal(p)) {
        if let Some(n) = node_name(p) {
            by_node.entry(n.to_string()).or_default().push(p.clone());
        }
    }
    let nodes: Vec<(String, bool)> = w
        .nodes
        .items()
        .iter()
        .map(|(name, node)| (name.clone(), eligible(ds, node)))
        .collect();
    let desired = nodes.iter().filter(|(_, e)| *e).count() as i32;
    for (name, ok) in &nodes {
        let live: Vec<&Arc<Pod>> = by_node
            .get(name)
            .map(|v| v.iter().filter(|p| !is_terminating(p)).collect())
            .unwrap_or_default();
        if *ok && live.is_empty() && by_node.get(name).is_none_or(|v| v.is_empty()) {
            if let Some(p) = new_pod(w, ds, name, &revision) {
                w.put(p);
            }
        } else if !*ok {
            for p in live {
                gc::delete_pod(w, &super::key(&**p), None);
            }
        } else if live.len() > 1 {
            for p in &live[1..] {
                gc::delete_pod(w, &super::key(&***p), None);
            }
        }
    }
    // pods on nodes that no longer exist
    for (node, ps) in &by_node {
        if w.nodes.get(node).is_none() {
            for p in ps {
                w.remove::<Pod>(&super::key(&**p));
            }
        }
    }
    // rolling update: replace outdated pods while at most maxUnavailable are not ready
    let is_current = |p: &Pod| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL))
            .is_some_and(|r| *r == revision)
    };
    let max_unavailable = scaled(
        spec.update_strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.max_unavailable.as_ref()),
        desired,
        0,
        true,
    )
    .max(1);
    let on_delete = spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("OnDelete");
    let pods = owned_pods(w, &uid);
    let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !is_terminal(p)).collect();
    let unavailable = desired - live.iter().filter(|p| is_ready(p)).count() as i32;
    if !on_delete {
        let mut budget = max_unavailable - unavailable.max(0);
        for p in live.iter().filter(|p| !is_current(p) && !is_terminating(p)) {
            if budget <= 0 {
                break;
            }
            gc::delete_pod(w, &super::key(&***p), None);
            budget -= 1;
        }
    }
    let pods = owned_pods(w, &uid);
    let live: Vec<&Arc<Pod>> = pods.iter().filter(|p| !is_terminal(p) && !is_terminating(p)).collect();
    let ready = live.iter().filter(|p| is_ready(p)).count() as i32;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let available = super::recheck::count_available(
        w,
        super::Controller::DaemonSet,
        k,
        min_ready,
        live.iter().map(|p| &***p),
    );
    let status = DaemonSetStatus {
        desired_number_scheduled: desired,
        current_number_scheduled: live.len() as i32,
        number_ready: ready,
        number_available: Some(available),
        number_unavailable: Some((desired - available).max(0)),
        updated_number_scheduled: Some(live.iter().filter(|p| is_current(p)).count() as i32),
        number_misscheduled: 0,
        observed_generation: ds.metadata.generation,
        ..Default::default()
    };
    if ds.status.as_ref() != Some(&status) {
        let mut d = ds.clone();
        d.status = Some(status);
        w.put(d);
        w.dirty.daemonsets.remove(k);
    }
}
