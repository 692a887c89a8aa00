//! A simulated aws-node-termination-handler. In queue-processor mode it learns of
//! instances entering `Terminating:Wait` (as the real one does from the SQS queue the
//! termination hook notifies), cordons their nodes, evicts their pods through the
//! eviction API's rules (PodDisruptionBudgets honoured, refused evictions retried,
//! DaemonSet pods left), and completes the lifecycle action with CONTINUE once the
//! node is empty. In IMDS mode it runs as a DaemonSet and never sees lifecycle hooks.
//! Either way it shows up as the workload its Helm chart installs, so that a
//! preflight can recognise it and its mode.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use super::lifecycle::{self, Transition};
use super::{EvictionVerdict, World, kubelet};
use crate::sim::scenario::aws::{NthMode, TerminationHandlerSpec};

/// The workload's name, in kube-system.
pub const NAME: &str = "aws-node-termination-handler";

/// The handler's state: its configuration and the nodes it drains.
#[derive(Clone, Debug, Default)]
pub struct TerminationHandler {
    pub mode: Option<NthMode>,
    /// Node groups whose events reach it (empty: all).
    pub node_groups: Vec<String>,
    pub heartbeat_interval: Option<u32>,
    /// Instances being drained.
    pub draining: BTreeMap<String, NthDrain>,
    pub stats: NthStats,
}

#[derive(Clone, Debug)]
pub struct NthDrain {
    pub node: String,
    pub started: Timestamp,
    pub last_heartbeat: Timestamp,
    /// The last eviction refused, as `namespace/name: reason`.
    pub last_refusal: Option<String>,
}

/// What the handler did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NthStats {
    pub evictions: u64,
    pub refused: u64,
    pub completed: u64,
    pub heartbeats: u64,
}

/// Sets the handler up from the scenario and adds its workload.
pub fn install(w: &mut World, spec: &TerminationHandlerSpec) -> Result<(), String> {
    w.aws.nth.mode = Some(spec.mode);
    w.aws.nth.node_groups = spec.node_groups.clone();
    w.aws.nth.heartbeat_interval = spec.heartbeat_interval;
    let labels = json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "k8s-app": NAME,
    });
    let queue = format!(
        "https://sqs.{}.amazonaws.com/{}/{}-nth",
        w.cluster.region, w.cluster.account, w.cluster.name
    );
    let env = |pairs: &[(&str, &str)]| -> Value {
        Value::Array(pairs.iter().map(|(k, v)| json!({"name": k, "value": v})).collect())
    };
    let heartbeat = spec
        .heartbeat_interval
        .map(|h| h.to_string())
        .unwrap_or_else(|| "-1".into());
    let (kind, env) = match spec.mode {
        NthMode::QueueProcessor => (
            "Deployment",
            env(&[
                ("ENABLE_SQS_TERMINATION_DRAINING", "true"),
                ("QUEUE_URL", &queue),
                ("AWS_REGION", &w.cluster.region.clone()),
                ("CORDON_ONLY", "false"),
                ("IGNORE_DAEMON_SETS", "true"),
                ("POD_TERMINATION_GRACE_PERIOD", "-1"),
                ("HEARTBEAT_INTERVAL", &heartbeat),
            ]),
        ),
        NthMode::Imds => (
            "DaemonSet",
            env(&[
                ("ENABLE_SQS_TERMINATION_DRAINING", "false"),
                ("ENABLE_SPOT_INTERRUPTION_DRAINING", "true"),
                ("ENABLE_SCHEDULED_EVENT_DRAINING", "true"),
                ("ENABLE_REBALANCE_MONITORING", "false"),
                ("IGNORE_DAEMON_SETS", "true"),
            ]),
        ),
    };
    let pod_spec = json!({
        "serviceAccountName": NAME,
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": NAME,
            "image": spec.image,
            "env": env,
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        }],
    });
    let mut obj = json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": NAME, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    });
    if spec.mode == NthMode::QueueProcessor {
        obj["spec"]["replicas"] = json!(1);
    }
    super::objects::add(w, &[obj])
}

/// Whether the handler receives the termination events of `group`.
fn watches(w: &World, group: &str) -> bool {
    w.aws.nth.mode == Some(NthMode::QueueProcessor)
        && (w.aws.nth.node_groups.is_empty() || w.aws.nth.node_groups.iter().any(|g| g == group))
}

/// One pass: drain every watched instance waiting on a termination hook; complete
/// its actions once its node has nothing left but DaemonSet pods.
pub fn step(w: &mut World) {
    if w.aws.nth.mode != Some(NthMode::QueueProcessor) {
        return;
    }
    let waiting = lifecycle::waiting_instances(w);
    w.aws.nth.draining.retain(|i, _| waiting.contains_key(i));
    for (instance, actions) in waiting {
        if actions.iter().all(|a| a.transition != Transition::Terminating) {
            continue;
        }
        let Some((gi, ii)) = super::nodes::find(w, &instance) else {
            continue;
        };
        if !watches(w, &w.groups[gi].name.clone()) {
            continue;
        }
        let node = w.groups[gi].instances[ii].node_name.clone();
        let now = w.now;
        let drain = w.aws.nth.draining.entry(instance.clone()).or_insert_with(|| NthDrain {
            node: node.clone(),
            started: now,
            last_heartbeat: now,
            last_refusal: None,
        });
        let due_heartbeat = w
            .aws
            .nth
            .heartbeat_interval
            .is_some_and(|h| now.duration_since(drain.last_heartbeat).as_secs() >= i64::from(h));
        if due_heartbeat {
            drain.last_heartbeat = now;
            for a in &actions {
                if lifecycle::heartbeat(w, &a.asg, &a.hook, Some(&a.token), None).is_ok() {
                    w.aws.nth.stats.heartbeats += 1;
                }
            }
        }
        cordon(w, &node);
        if drain_node(w, &instance, &node) {
            for a in &actions {
                if lifecycle::complete(w, &a.asg, &a.hook, Some(&a.token), None, "CONTINUE").is_ok() {
                    w.aws.nth.stats.completed += 1;
                }
            }
            w.aws.nth.draining.remove(&instance);
        }
    }
}

/// Marks the node unschedulable (the handler cordons before it drains).
fn cordon(w: &mut World, node: &str) {
    let Some(n) = w.nodes.get(node).cloned() else { return };
    if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return;
    }
    let mut n: Node = (*n).clone();
    n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
    w.put(n);
}

/// Evicts what is left on the node; true once only DaemonSet pods and finished
/// pods remain.
fn drain_node(w: &mut World, instance: &str, node: &str) -> bool {
    let pods: Vec<String> = w
        .idx
        .pods_by_node
        .get(node)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let mut remaining = 0;
    for key in pods {
        let Some(pod) = w.pods.get(&key).cloned() else { continue };
        if super::eks::daemon_pod(&pod) || kubelet::is_terminal(&pod) {
            continue;
        }
        remaining += 1;
        if kubelet::is_terminating(&pod) {
            continue;
        }
        let refusal = match w.evict(&key, None) {
            EvictionVerdict::Evicted | EvictionVerdict::NotFound => {
                w.aws.nth.stats.evictions += 1;
                None
            }
            EvictionVerdict::Blocked { pdb, cause } => Some(format!("{key}: PodDisruptionBudget {pdb}: {cause}")),
            EvictionVerdict::MultiplePdbs => Some(format!("{key}: more than one PodDisruptionBudget covers it")),
        };
        if let Some(why) = refusal {
            w.aws.nth.stats.refused += 1;
            if let Some(d) = w.aws.nth.draining.get_mut(instance) {
                d.last_refusal = Some(why);
            }
        }
    }
    remaining == 0
}
