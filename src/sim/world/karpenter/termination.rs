//! Termination, as Karpenter's finalizers run it: a deleted NodeClaim deletes its
//! node; the node is tainted `karpenter.sh/disrupted:NoSchedule` and drained through
//! the eviction API (PDBs honoured, refusals retried, `do-not-disrupt` pods waited
//! for), non-critical pods first; once `terminationGracePeriod` is about to run out,
//! the pods left are deleted whatever their budgets; then the instance is terminated
//! and node and NodeClaim go. Also expiration: a NodeClaim older than its
//! `expireAfter` is deleted, budgets and `do-not-disrupt` notwithstanding.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::budgets::parse_duration;
use super::objects::{NodeClaim, str_at};
use super::{AUTO_MODE_MAX_LIFETIME_HOURS, condition, keys, lifecycle, set_condition};
use crate::sim::world::kubelet::{is_terminal, is_terminating};
use crate::sim::world::scheduler::tolerates;
use crate::sim::world::{EvictionVerdict, World, controller_of, delete_pod};

/// Virtual seconds an instance takes to shut down once terminated.
const SHUTDOWN_SECS: i64 = 30;

/// The taint Karpenter puts on nodes it disrupts.
pub fn disrupted_taint(now: Time) -> Taint {
    Taint {
        key: keys::DISRUPTED_TAINT.into(),
        value: None,
        effect: "NoSchedule".into(),
        time_added: Some(now),
    }
}

pub fn has_disrupted_taint(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == keys::DISRUPTED_TAINT))
}

/// Adds (or removes) the disrupted taint on a node.
pub fn set_disrupted_taint(w: &mut World, node: &str, on: bool) {
    let Some(n) = w.nodes.get(node).cloned() else { return };
    if has_disrupted_taint(&n) == on {
        return;
    }
    let mut n = (*n).clone();
    let spec = n.spec.get_or_insert_with(Default::default);
    let mut taints = spec.taints.take().unwrap_or_default();
    if on {
        taints.push(disrupted_taint(w.time()));
    } else {
        taints.retain(|t| t.key != keys::DISRUPTED_TAINT);
    }
    spec.taints = (!taints.is_empty()).then_some(taints);
    w.put(n);
}

/// Deletes a NodeClaim as a client would: with its finalizer it only gets a deletion
/// timestamp (and, with a termination grace period, the time its pods must be gone).
pub fn delete_claim(w: &mut World, c: &NodeClaim) {
    let name = c.metadata.name.clone().unwrap_or_default();
    if c.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty()) {
        w.remove::<NodeClaim>(&name);
        return;
    }
    if c.metadata.deletion_timestamp.is_some() {
        return;
    }
    let mut next = c.clone();
    next.metadata.deletion_timestamp = Some(w.time());
    next.metadata.deletion_grace_period_seconds = Some(0);
    w.put(next);
}

/// When every pod on the node must be gone: deletion + terminationGracePeriod.
pub fn termination_time(c: &NodeClaim) -> Option<Timestamp> {
    let deleted = c.metadata.deletion_timestamp.as_ref()?.0;
    let grace = parse_duration(str_at(&c.spec, "terminationGracePeriod")?)?;
    deleted.checked_add(grace).ok()
}

fn do_not_disrupt(pod: &Pod, now: Timestamp) -> bool {
    let Some(v) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::DO_NOT_DISRUPT))
    else {
        return false;
    };
    if v == "true" {
        return true;
    }
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    match (parse_duration(v), started) {
        (Some(d), Some(s)) => s.checked_add(d).is_ok_and(|until| now < until),
        _ => false,
    }
}

/// Whether `do-not-disrupt` holds this pod now (a running pod annotated `true`, or
/// with a duration not yet passed since it started).
pub fn pod_blocks(pod: &Pod, now: Timestamp) -> bool {
    !is_terminal(pod) && !is_terminating(pod) && do_not_disrupt(pod, now)
}

fn tolerates_disruption(pod: &Pod) -> bool {
    let tol = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    tolerates(tol, &disrupted_taint(Time(Timestamp::UNIX_EPOCH)))
}

/// Pods the drain must see gone: not finished, not tolerating the disrupted taint.
pub fn drainable(w: &World, node: &str) -> Vec<Arc<Pod>> {
    w.idx
        .pods_by_node
        .get(node)
        .into_iter()
        .flatten()
        .filter_map(|k| w.pods.get(k).cloned())
        .filter(|p| !is_terminal(p) && !tolerates_disruption(p))
        .collect()
}

fn tier(pod: &Pod) -> u8 {
    let critical = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .is_some_and(|p| p == "system-cluster-critical" || p == "system-node-critical");
    let daemon = controller_of(&pod.metadata).is_some_and(|o| o.kind == "DaemonSet");
    u8::from(critical) * 2 + u8::from(daemon)
}

fn eviction_reason(c: &NodeClaim) -> String {
    condition(c.status.as_ref(), "DisruptionReason")
        .filter(|x| x["status"] == "True")
        .and_then(|x| x.get("reason"))
        .and_then(|r| r.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| "Forceful Termination".into())
}

fn set_claim_condition(
    w: &mut World,
    c: &NodeClaim,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
) -> Arc<NodeClaim> {
    let mut next = c.clone();
    let now = w.now;
    set_condition(
        next.status.get_or_insert_with(|| json!({})),
        type_,
        value,
        reason,
        message,
        now,
        c.metadata.generation,
    );
    if next == *c {
        return Arc::new(next);
    }
    w.put(next)
}

/// Drains a node one step; true once nothing is left to wait for.
fn drain(w: &mut World, c: &NodeClaim, node: &Arc<Node>) -> bool {
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let now = w.now;
    let deadline = termination_time(c);
    let pods = drainable(w, &node_name);
    if pods.is_empty() {
        return true;
    }
    // the grace period runs out: delete what is left, PDBs and do-not-disrupt notwithstanding
    if let Some(end) = deadline {
        for p in &pods {
            let grace = p
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30);
            let start_by = end.checked_sub(SignedDuration::from_secs(grace)).unwrap_or(end);
            let already = p.metadata.deletion_timestamp.as_ref().is_some_and(|t| t.0 <= end);
            if now >= start_by && !already {
                let left = end.duration_since(now).as_secs().max(1);
                let key = crate::sim::world::key(&**p);
                delete_pod(w, &key, Some(left));
                let msg = format!(
                    "Deleting the pod to accommodate the terminationTime {} of the node. The pod was granted {left} seconds of grace-period of its {grace} terminationGracePeriodSeconds. This bypasses the PDB of the pod and the do-not-disrupt annotation.",
                    super::rfc3339(end)
                );
                w.karpenter_event(&**p, "Normal", "Disrupted", &msg, 0);
            }
        }
    }
    let pods = drainable(w, &node_name);
    let Some(first) = pods.iter().filter(|p| !is_terminating(p)).map(|p| tier(p)).min() else {
        // only terminating pods left: wait for them
        return pods.is_empty();
    };
    let reason = eviction_reason(c);
    for p in pods.iter().filter(|p| !is_terminating(p) && tier(p) == first) {
        if pod_blocks(p, now) {
            continue;
        }
        let key = crate::sim::world::key(&**p);
        let pod_ref = format!(
            "{}/{}",
            p.metadata.namespace.as_deref().unwrap_or_default(),
            p.metadata.name.as_deref().unwrap_or_default()
        );
        match w.evict(&key, None) {
            EvictionVerdict::Evicted => {
                w.karpenter_event(&**p, "Normal", "Evicted", &format!("Evicted pod: {reason}"), 0);
            }
            EvictionVerdict::NotFound => {}
            EvictionVerdict::Blocked { .. } => {
                let msg = format!("Failed to drain node, evicting pod violates a PDB (Pod={pod_ref})");
                w.karpenter_event(&**node, "Warning", "FailedDraining", &msg, 60);
            }
            EvictionVerdict::MultiplePdbs => {
                let msg = format!("Failed to drain node, eviction does not support multiple PDBs (Pod={pod_ref})");
                w.karpenter_event(&**node, "Warning", "FailedDraining", &msg, 60);
            }
        }
    }
    let left = drainable(w, &node_name).len();
    if left > 0 {
        let msg = format!("Failed to drain node, {left} pods are waiting to be evicted");
        w.karpenter_event(&**node, "Warning", "FailedDraining", &msg, 60);
    }
    left == 0
}

pub fn reconcile(w: &mut World) {
    // nodes deleted by a client delete their NodeClaim
    let by_node = super::claims_by_node(w);
    let deleted_nodes: Vec<String> = w
        .nodes
        .items()
        .iter()
        .filter(|(_, n)| n.metadata.deletion_timestamp.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for n in deleted_nodes {
        if let Some(c) = by_node.get(&n)
            && c.metadata.deletion_timestamp.is_none()
        {
            delete_claim(w, c);
        }
    }
    let deleting: Vec<Arc<NodeClaim>> = w
        .karpenter
        .nodeclaims
        .items()
        .values()
        .filter(|c| c.metadata.deletion_timestamp.is_some())
        .cloned()
        .collect();
    for c in deleting {
        finalize(w, &c);
    }
}

fn finalize(w: &mut World, c: &Arc<NodeClaim>) {
    let name = c.metadata.name.clone().unwrap_or_default();
    let now = w.now;
    let mut c = c.clone();
    if let Some(end) = termination_time(&c)
        && c.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(keys::TERMINATION_TIMESTAMP))
    {
        let mut next = (*c).clone();
        next.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(keys::TERMINATION_TIMESTAMP.into(), super::rfc3339(end));
        c = w.put(next);
        w.karpenter_event(
            &*c,
            "Warning",
            "TerminationGracePeriodExpiring",
            &format!("All pods will be deleted by {}", super::rfc3339(end)),
            0,
        );
    }
    let inst = lifecycle::instance_of(w, &c);
    let node_name = c
        .status
        .as_ref()
        .and_then(|s| str_at(s, "nodeName"))
        .map(str::to_string)
        .or_else(|| inst.as_ref().map(|i| i.node_name.clone()));
    let node = node_name.as_ref().and_then(|n| w.nodes.get(n).cloned());
    if let Some(node) = node {
        let nn = node.metadata.name.clone().unwrap_or_default();
        if node.metadata.deletion_timestamp.is_none() {
            let mut n = (*node).clone();
            n.metadata.deletion_timestamp = Some(w.time());
            w.put(n);
            if let Some(end) = termination_time(&c)
                && let Some(n) = w.nodes.get(&nn).cloned()
            {
                w.karpenter_event(
                    &*n,
                    "Warning",
                    "TerminationGracePeriodExpiring",
                    &format!("All pods will be deleted by {}", super::rfc3339(end)),
                    0,
                );
            }
        }
        set_disrupted_taint(w, &nn, true);
        let Some(node) = w.nodes.get(&nn).cloned() else { return };
        let instance_down = inst.as_ref().is_some_and(|i| i.terminating_since.is_some());
        if !instance_down {
            if !drain(w, &c, &node) {
                set_claim_condition(w, &c, "Drained", "Unknown", "Draining", "Draining");
                return;
            }
            let c2 = set_claim_condition(w, &c, "Drained", "True", "Drained", "");
            let c3 = set_claim_condition(w, &c2, "VolumesDetached", "True", "VolumesDetached", "");
            set_claim_condition(w, &c3, "InstanceTerminating", "True", "InstanceTerminating", "");
            if let Some(i) = inst.as_ref() {
                terminate_instance(w, &i.id);
            }
            return;
        }
    } else if let Some(i) = inst.as_ref()
        && i.terminating_since.is_none()
    {
        set_claim_condition(w, &c, "InstanceTerminating", "True", "InstanceTerminating", "");
        terminate_instance(w, &i.id);
        return;
    }
    // the instance is shutting down: once it is gone, so are the node and the NodeClaim
    if let Some(i) = inst.as_ref()
        && i.terminating_since
            .is_some_and(|t| now.duration_since(t).as_secs() < SHUTDOWN_SECS)
    {
        return;
    }
    if let Some(i) = inst {
        w.karpenter.instances.remove(&i.id);
    }
    if let Some(n) = node_name {
        w.remove::<Node>(&n);
    }
    w.remove::<NodeClaim>(&name);
}

fn terminate_instance(w: &mut World, id: &str) {
    let now = w.now;
    if let Some(i) = w.karpenter.instances.get_mut(id)
        && i.terminating_since.is_none()
    {
        i.terminating_since = Some(now);
    }
}

/// The time a NodeClaim expires, if it does.
pub fn expiry(c: &NodeClaim) -> Option<Timestamp> {
    let created = c.metadata.creation_timestamp.as_ref()?.0;
    let auto = str_at(&c.spec, "nodeClassRef.group") == Some("eks.amazonaws.com");
    let after = str_at(&c.spec, "expireAfter").and_then(parse_duration);
    let cap = auto.then(|| SignedDuration::from_hours(AUTO_MODE_MAX_LIFETIME_HOURS));
    let lifetime = match (after, cap) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }?;
    created.checked_add(lifetime).ok()
}

/// Deletes the NodeClaims whose lifetime is over (a forceful method: no budget, no
/// do-not-disrupt holds it, and no replacement is launched first).
pub fn expire(w: &mut World) {
    let now = w.now;
    let expired: Vec<Arc<NodeClaim>> = w
        .karpenter
        .nodeclaims
        .items()
        .values()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| expiry(c).is_some_and(|t| t <= now))
        .cloned()
        .collect();
    for c in expired {
        delete_claim(w, &c);
    }
}
