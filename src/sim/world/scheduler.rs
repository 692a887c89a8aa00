//! The simulated scheduler: binds pending pods to Ready, schedulable nodes with room
//! for their requests (respecting cordons, taints, tolerations and node selectors),
//! spreading by free CPU; records `FailedScheduling` with the scheduler's reasons.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition, Taint, Toleration};

use super::kubelet::requests;
use super::{Usage, World};
use crate::units::quantity;

#[derive(Default)]
pub struct SchedulerState {
    /// When each unschedulable pod last got a FailedScheduling event (virtual seconds).
    last_failure: HashMap<String, i64>,
}

/// Allocatable resources of a node.
pub fn allocatable(node: &Node) -> Usage {
    let a = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let get = |k: &str| a.and_then(|m| m.get(k)).map(|q| q.0.as_str());
    Usage {
        cpu_millis: get("cpu").and_then(quantity::cpu_millis).unwrap_or(0),
        memory: get("memory").and_then(quantity::bytes).unwrap_or(0),
        pods: get("pods").and_then(|p| p.parse().ok()).unwrap_or(110),
    }
}

pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        };
        effect_ok && key_ok && value_ok
    })
}

/// Why `pod` cannot go on `node`, in the scheduler's words; None if it fits.
pub(crate) fn misfit(pod: &Pod, req: Usage, node: &Node, used: Usage) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if super::fargate::is_fargate(node) {
        // a Fargate node runs its one pod; nothing else is scheduled there
        return Some(format!(
            "node(s) had untolerated taint {{{}: fargate}}",
            super::fargate::COMPUTE_TYPE
        ));
    }
    if !node_ready(node) {
        return Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into());
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Some("node(s) were unschedulable".into());
    }
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(sel) = &spec.node_selector
        && sel.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.as_ref()) {
        for t in taints {
            if (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(tolerations, t) {
                return Some(format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key,
                    t.value.as_deref().unwrap_or("")
                ));
            }
        }
    }
    let cap = allocatable(node);
    if used.pods + 1 > cap.pods {
        return Some("Too many pods".into());
    }
    if used.cpu_millis + req.cpu_millis > cap.cpu_millis {
        return Some("Insufficient cpu".into());
    }
    if used.memory + req.memory > cap.memory {
        return Some("Insufficient memory".into());
    }
    None
}

/// The best node for `pod`, or the scheduler's message saying why there is none.
pub fn pick_node(w: &World, pod: &Pod) -> Result<String, String> {
    let req = requests(pod);
    let total = w.nodes.len();
    let volumes = super::volumes::prefilter(w, pod).map_err(|reason| {
        format!(
            "0/{total} nodes are available: {reason}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        )
    })?;
    let minor = super::minor_of(&w.cluster.version)
        .split_once('.')
        .and_then(|(_, m)| m.parse::<u32>().ok())
        .unwrap_or(0);
    let mut best: Option<(u64, &String)> = None;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (name, node) in w.nodes.items().iter() {
        let used = w.idx.node_usage.get(name).copied().unwrap_or_default();
        let misfit = misfit(pod, req, node, used).or_else(|| {
            volumes
                .as_ref()
                .and_then(|v| super::volumes::node_misfit(v, node, minor))
                .map(str::to_string)
        });
        match misfit {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => {
                let cap = allocatable(node);
                let free =
                    (cap.cpu_millis.saturating_sub(used.cpu_millis + req.cpu_millis)) * 1000 / cap.cpu_millis.max(1);
                if best.is_none_or(|(f, _)| free > f) {
                    best = Some((free, name));
                }
            }
        }
    }
    if let Some((_, name)) = best {
        return Ok(name.clone());
    }
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
        parts.join(", ")
    ))
}

/// Tries to bind every pending pod.
pub fn schedule_pending(w: &mut World) {
    let pending: Vec<String> = w.idx.unscheduled.iter().cloned().collect();
    let now_s = w.now.as_second();
    for key in pending {
        let Some(pod) = w.pods.get(&key).cloned() else { continue };
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .is_some_and(|s| s != "default-scheduler")
            || super::fargate::takes(w, &pod)
        {
            continue;
        }
        match pick_node(w, &pod) {
            Ok(node) => {
                let mut p = (*pod).clone();
                if let Some(spec) = p.spec.as_mut() {
                    spec.node_name = Some(node.clone());
                }
                mark_scheduled(&mut p, w.time());
                super::volumes::bind_claims(w, &pod, &node, true);
                let p = w.put(p);
                w.scheduler.last_failure.remove(&key);
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                w.pod_event(
                    &p,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                    "default-scheduler",
                );
            }
            Err(message) => {
                let last = w.scheduler.last_failure.get(&key).copied();
                let already = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
                    .is_some_and(|c| c.message.as_deref() == Some(message.as_str()));
                if !already {
                    let mut p = (*pod).clone();
                    set_pending(
                        &mut p,
                        PodCondition {
                            type_: "PodScheduled".into(),
                            status: "False".into(),
                            reason: Some("Unschedulable".into()),
                            message: Some(message.clone()),
                            last_transition_time: Some(w.time()),
                            ..Default::default()
                        },
                    );
                    w.put(p);
                }
                if last.is_none_or(|t| now_s - t >= 30) || !already {
                    w.scheduler.last_failure.insert(key.clone(), now_s);
                    w.pod_event(&pod, "Warning", "FailedScheduling", &message, "default-scheduler");
                }
            }
        }
    }
    // the puts above re-mark the scheduler dirty; only new changes should wake it again
    w.dirty.scheduler = false;
}

/// A pod bound to a node: Pending until its kubelet starts it, `PodScheduled` true.
pub(super) fn mark_scheduled(p: &mut Pod, at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) {
    set_pending(
        p,
        PodCondition {
            type_: "PodScheduled".into(),
            status: "True".into(),
            last_transition_time: Some(at),
            ..Default::default()
        },
    );
}

/// A pod Pending, with `scheduled` as its one `PodScheduled` condition.
fn set_pending(p: &mut Pod, scheduled: PodCondition) {
    let status = p.status.get_or_insert_with(Default::default);
    status.phase = Some("Pending".into());
    let mut conds: Vec<PodCondition> = status
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "PodScheduled")
        .collect();
    conds.push(scheduled);
    status.conditions = Some(conds);
}
