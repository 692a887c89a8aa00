//! The Deployment controller: one ReplicaSet per pod template (named by its hash),
//! rolling updates within maxSurge/maxUnavailable (or Recreate), and status.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{World, controller_of, gc, owner_ref, template_hash};

pub fn deployment_changed(w: &mut World, old: Option<&Arc<Deployment>>, new: Option<&Arc<Deployment>>) {
    if let (Some(o), None) = (old, new) {
        let uid = o.metadata.uid.clone().unwrap_or_default();
        w.idx.owners.remove(&uid);
        gc::cascade(w, &uid);
    }
    if let Some(n) = new {
        let k = super::key(&**n);
        w.idx
            .owners
            .insert(n.metadata.uid.clone().unwrap_or_default(), ("Deployment", k.clone()));
        w.dirty.deployments.insert(k);
    }
}

/// `value` of an int-or-percent against `total`, rounding up or down.
pub fn scaled(value: Option<&IntOrString>, total: i32, default_pct: i32, round_up: bool) -> i32 {
    match value {
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let pct: i32 = s.trim_end_matches('%').parse().unwrap_or(default_pct);
            percent(pct, total, round_up)
        }
        None => percent(default_pct, total, round_up),
    }
}

fn percent(pct: i32, total: i32, round_up: bool) -> i32 {
    let x = pct * total;
    if round_up { (x + 99) / 100 } else { x / 100 }
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// Pods Ready for the ReplicaSet's minReadySeconds, as its controller counts them.
fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// The most pods the Deployment may have unavailable (the controller's
/// `MaxUnavailable`): none for Recreate or zero replicas.
fn max_unavailable(d: &Deployment, want: i32) -> i32 {
    let spec = d.spec.as_ref();
    let rolling = spec
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    if strategy(d) != "RollingUpdate" || want == 0 {
        return 0;
    }
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), want, 25, true);
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), want, 25, false);
    let unavailable = if surge == 0 && unavailable == 0 { 1 } else { unavailable };
    unavailable.min(want)
}

fn set_replicas(w: &mut World, rs: &ReplicaSet, n: i32) {
    if replicas(rs) == n {
        return;
    }
    let mut r = rs.clone();
    if let Some(spec) = r.spec.as_mut() {
        spec.replicas = Some(n);
    }
    r.metadata.generation = Some(r.metadata.generation.unwrap_or(1) + 1);
    w.put(r);
}

pub fn reconcile(w: &mut World) {
    let dirty = std::mem::take(&mut w.dirty.deployments);
    for k in dirty {
        let Some(d) = w.deployments.get(&k).cloned() else {
            continue;
        };
        if d.metadata.deletion_timestamp.is_some() {
            continue;
        }
        reconcile_one(w, &k, &d);
    }
}

fn reconcile_one(w: &mut World, k: &str, d: &Deployment) {
    let Some(spec) = d.spec.as_ref() else { return };
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let want = spec.replicas.unwrap_or(1).max(0);
    let hash = template_hash(&spec.template);
    let owned: Vec<Arc<ReplicaSet>> = w
        .replicasets
        .in_namespace(&ns)
        .filter(|(_, rs)| controller_of(&rs.metadata).is_some_and(|o| o.uid == uid))
        .map(|(_, rs)| rs.clone())
        .collect();
    let is_new = |rs: &ReplicaSet| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
            .is_some_and(|h| *h == hash)
    };
    let mut new_rs = owned.iter().find(|rs| is_new(rs)).cloned();
    let olds: Vec<Arc<ReplicaSet>> = owned.iter().filter(|rs| !is_new(rs)).cloned().collect();
    if new_rs.is_none() {
        let mut template = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(Default::default);
        tmeta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("pod-template-hash".into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert("pod-template-hash".into(), hash.clone());
        let mut labels = tmeta.labels.clone().unwrap_or_default();
        labels.insert("pod-template-hash".into(), hash.clone());
        let mut meta = ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            owner_references: Some(vec![owner_ref(d)]),
            generation: Some(1),
            ..Default::default()
        };
        w.stamp_new(&mut meta);
        let rs = ReplicaSet {
            metadata: meta,
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        new_rs = Some(w.put(rs));
    }
    let Some(new_rs) = new_rs else { return };
    let old_total: i32 = olds.iter().map(|rs| replicas(rs)).sum();
    let rolling = spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    if strategy(d) == "Recreate" {
        for rs in &olds {
            set_replicas(w, rs, 0);
        }
        let old_pods_left: usize = olds
            .iter()
            .map(|rs| super::replicaset::owned_pods(w, rs.metadata.uid.as_deref().unwrap_or_default()).len())
            .sum();
        if old_pods_left == 0 {
            set_replicas(w, &new_rs, want);
        }
    } else {
        let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), want, 25, true);
        let mut unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), want, 25, false);
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        // scale up the new ReplicaSet as far as surge allows
        let allowed = (want + surge - old_total).clamp(replicas(&new_rs).min(want), want);
        if allowed > replicas(&new_rs) {
            set_replicas(w, &new_rs, allowed);
        } else if replicas(&new_rs) > want {
            set_replicas(w, &new_rs, want);
        }
        // scale down old ReplicaSets while enough pods stay available
        let new_now = w
            .replicasets
            .get(&super::key(&*new_rs))
            .cloned()
            .unwrap_or(new_rs.clone());
        let up: i32 = available(&new_now) + olds.iter().map(|rs| available(rs)).sum::<i32>();
        let min_available = want - unavailable;
        let mut can_remove = (up - min_available).max(0);
        // old pods that are not ready can always go
        for rs in &olds {
            let unready = (replicas(rs) - available(rs)).max(0);
            let take = unready.min(replicas(rs));
            let mut n = replicas(rs) - take;
            let more = can_remove.min(n);
            n -= more;
            can_remove -= more;
            set_replicas(w, rs, n);
        }
    }
    // status
    let all: Vec<Arc<ReplicaSet>> = w
        .replicasets
        .in_namespace(&ns)
        .filter(|(_, rs)| controller_of(&rs.metadata).is_some_and(|o| o.uid == uid))
        .map(|(_, rs)| rs.clone())
        .collect();
    let new_now = all.iter().find(|rs| is_new(rs));
    let total: i32 = all
        .iter()
        .map(|rs| rs.status.as_ref().map(|s| s.replicas).unwrap_or(0))
        .sum();
    let ready_n: i32 = all.iter().map(|rs| ready(rs)).sum();
    let updated = new_now
        .and_then(|rs| rs.status.as_ref())
        .map(|s| s.replicas)
        .unwrap_or(0);
    let available_n: i32 = all.iter().map(|rs| available(rs)).sum();
    let spec_total: i32 = all.iter().map(|rs| replicas(rs)).sum();
    let available_ok = available_n >= want - max_unavailable(d, want);
    let complete = updated == want && total == want && available_n == want;
    let cond = |type_: &str, ok: bool, reason: &str, message: String| DeploymentCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: d
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == type_ && c.status == if ok { "True" } else { "False" })
            })
            .and_then(|c| c.last_transition_time.clone())
            .or_else(|| Some(w.time())),
        last_update_time: None,
    };
    let status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(total),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready_n),
        available_replicas: Some(available_n),
        unavailable_replicas: Some((spec_total - available_n).max(0)),
        conditions: Some(vec![
            cond(
                "Available",
                available_ok,
                if available_ok {
                    "MinimumReplicasAvailable"
                } else {
                    "MinimumReplicasUnavailable"
                },
                if available_ok {
                    "Deployment has minimum availability.".into()
                } else {
                    "Deployment does not have minimum availability.".into()
                },
            ),
            cond(
                "Progressing",
                true,
                if complete {
                    "NewReplicaSetAvailable"
                } else {
                    "ReplicaSetUpdated"
                },
                format!(
                    "ReplicaSet \"{}\" {}",
                    new_now.and_then(|r| r.metadata.name.clone()).unwrap_or_default(),
                    if complete {
                        "has successfully progressed."
                    } else {
                        "is progressing."
                    }
                ),
            ),
        ]),
        ..Default::default()
    };
    if d.status.as_ref() != Some(&status) {
        let mut dd = d.clone();
        dd.status = Some(status);
        w.put(dd);
        w.dirty.deployments.remove(k);
    }
}

fn strategy(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}
