//! Draining one node, as upshift does it for self-managed groups: cordon, then evict
//! every pod but DaemonSet and mirror pods through the eviction API, which honours
//! PodDisruptionBudgets. Each call evicts what it can and says, by name, which pod
//! and which budget are holding the node up; it is called again until only
//! DaemonSet pods are left. Evictions are journaled; a refusal is journaled once
//! per pod, not on every call.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

use super::{Progress, StepError};
use crate::rollout::journal::{Journal, What};

/// What a drain needs: a client that may write, the journal, who acts, the time.
pub struct DrainCtx<'a> {
    pub client: kube::Client,
    pub journal: &'a mut Journal,
    pub who: &'a str,
    pub now: &'a (dyn Fn() -> Timestamp + Send + Sync),
}

impl DrainCtx<'_> {
    fn action(&mut self, step: &str, action: &str, target: &str) -> Result<(), StepError> {
        super::journal_action(self.journal, self.who, (self.now)(), step, action, target)
    }

    fn result(&mut self, step: &str, action: &str, target: &str, ok: bool, detail: String) -> Result<(), StepError> {
        super::journal_result(self.journal, self.who, (self.now)(), step, action, target, ok, detail)
    }
}

fn kube_failed(what: &str, e: kube::Error) -> StepError {
    StepError::Failed {
        why: format!("{what}: {e}"),
        what_to_do: "Check the API server and the lead's RBAC (patch nodes, create pods/eviction), then retry".into(),
    }
}

fn stays(p: &Pod) -> bool {
    let daemon = p
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    let mirror = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let finished = matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    );
    daemon || mirror || finished
}

/// The budgets in the pod's namespace whose selector matches it.
async fn budgets_of(client: &kube::Client, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let labels: BTreeMap<String, String> = pod.metadata.labels.clone().unwrap_or_default();
    let Ok(list) = Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
    else {
        return Vec::new();
    };
    list.items
        .iter()
        .filter(|b| {
            let sel = b
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref());
            sel.is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|b| {
            let st = b.status.as_ref();
            format!(
                "PodDisruptionBudget {ns}/{} ({} healthy, {} required, {} disruptions allowed)",
                b.metadata.name.as_deref().unwrap_or(""),
                st.map_or(0, |s| s.current_healthy),
                st.map_or(0, |s| s.desired_healthy),
                st.map_or(0, |s| s.disruptions_allowed)
            )
        })
        .collect()
}

/// Whether the journal already holds a refusal for this pod in this step.
fn refusal_recorded(journal: &Journal, step: &str, target: &str) -> bool {
    journal.entries().iter().any(|e| {
        matches!(&e.what, What::Result { step: s, action, target: t, ok: false, .. }
            if s == step && action == "evict" && t == target)
    })
}

/// One pass of draining `node`.
pub async fn drain_node(ctx: &mut DrainCtx<'_>, step: &str, node: &str) -> Result<Progress, StepError> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let current = nodes
        .get_opt(node)
        .await
        .map_err(|e| kube_failed(&format!("reading node {node}"), e))?;
    let Some(current) = current else {
        return Ok(Progress::Done {
            what: format!("node {node} is gone"),
        });
    };
    if current.spec.as_ref().and_then(|s| s.unschedulable) != Some(true) {
        ctx.action(step, "cordon", node)?;
        let patch = serde_json::json!({"spec": {"unschedulable": true}});
        let result = nodes.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await;
        let detail = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
        ctx.result(step, "cordon", node, result.is_ok(), detail)?;
        result.map_err(|e| kube_failed(&format!("cordoning node {node}"), e))?;
    }
    let pods = Api::<Pod>::all(ctx.client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| kube_failed(&format!("listing the pods on {node}"), e))?;
    let movable: Vec<&Pod> = pods.items.iter().filter(|p| !stays(p)).collect();
    if movable.is_empty() {
        return Ok(Progress::Done {
            what: format!("node {node} drained"),
        });
    }
    let mut held = Vec::new();
    let mut leaving = 0;
    for p in &movable {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let key = format!("{ns}/{name}");
        if p.metadata.deletion_timestamp.is_some() {
            leaving += 1;
            continue;
        }
        let first_try = !refusal_recorded(ctx.journal, step, &key);
        if first_try {
            ctx.action(step, "evict", &key)?;
        }
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        match api.evict(&name, &EvictParams::default()).await {
            Ok(_) => {
                leaving += 1;
                ctx.result(step, "evict", &key, true, String::new())?;
            }
            Err(kube::Error::Api(s)) if s.code == 429 => {
                let budgets = budgets_of(&ctx.client, p).await;
                let why = if budgets.is_empty() {
                    s.message.clone()
                } else {
                    budgets.join("; ")
                };
                if first_try {
                    ctx.result(step, "evict", &key, false, format!("refused: {why}"))?;
                }
                held.push(format!("pod {key} held by {why}"));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => leaving += 1,
            Err(e) => return Err(kube_failed(&format!("evicting pod {key}"), e)),
        }
    }
    let what = if held.is_empty() {
        format!("node {node}: {leaving} pod(s) terminating")
    } else {
        format!("node {node}: {}", held[0])
    };
    Ok(Progress::Waiting {
        what,
        detail: format!(
            "{} pod(s) left to move: {leaving} terminating, {} refused by a budget{}",
            movable.len(),
            held.len(),
            if held.is_empty() {
                String::new()
            } else {
                format!(" ({})", held.join("; "))
            }
        ),
    })
}
