//! Draining one node, as upshift does it for self-managed groups: cordon, then evict
//! every pod but DaemonSet and mirror pods through the eviction API, which honours
//! PodDisruptionBudgets. Each call evicts what it can and, when a pod cannot move,
//! says which pod and why ([`Progress::Held`]); it is called again until only
//! DaemonSet pods are left.
//!
//! Pods upshift does not evict on its own are held at once, for the operator to
//! decide: a pod with no controller (it would not come back) and, when the plan says
//! not to delete emptyDir data, a pod with an emptyDir volume. The operator's
//! decisions about the step are honoured: `delete-pod` (target `namespace/name`)
//! deletes the pod instead of evicting it, once; `keep-waiting` (same target)
//! restarts the pod's timeout. Evictions and deletions are journaled; a refusal is
//! journaled once per pod, not on every call.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};

use super::{Progress, StepCtx, StepError};
use crate::model::Level;
use crate::model::journal::{Decision, StepId, What};
use crate::rollout::journal::Journal;
use crate::rollout::plan::Drain;

/// The journal's action words for what a drain does.
pub const CORDON: &str = "cordon";
pub const EVICT: &str = "evict";
pub const DELETE_POD: &str = "delete-pod";

/// The journal's reason on the note that a pod is held for the operator.
const HELD: &str = "DrainHeld";
/// The journal's reason on the warning that an evicted pod's emptyDir data is lost.
const EMPTY_DIR_LOST: &str = "EmptyDirDataLost";

/// What a drain needs: a client that may write, the journal, who acts, the time.
pub struct DrainCtx<'a> {
    pub client: kube::Client,
    pub journal: &'a mut Journal,
    pub who: &'a str,
    pub now: &'a (dyn Fn() -> Timestamp + Send + Sync),
}

impl DrainCtx<'_> {
    fn action(&mut self, step: &StepId, action: &str, target: &str) -> Result<(), StepError> {
        super::journal_action(self.journal, self.who, (self.now)(), step, action, target)
    }

    fn result(&mut self, step: &StepId, action: &str, target: &str, ok: bool, detail: String) -> Result<(), StepError> {
        super::journal_result(self.journal, self.who, (self.now)(), step, action, target, ok, detail)
    }

    /// Journals a note about a pod once (the same object and reason are not repeated).
    fn note_once(&mut self, level: Level, pod: &str, reason: &str, message: String) -> Result<(), StepError> {
        let object = format!("Pod/{pod}");
        if noted(self.journal, &object, reason).is_none() {
            let at = (self.now)();
            self.journal.append(
                self.who,
                at,
                What::Event {
                    level,
                    object,
                    reason: reason.into(),
                    message,
                },
            )?;
        }
        Ok(())
    }
}

/// A cluster call that failed, as the step's error: a lost answer (the connection
/// closed, a server error) is [`StepError::Interrupted`], for the drive to call the
/// step again, which reads the real state first (a cordon or an eviction that went
/// through is not sent again); any other refusal is the lead's to decide.
pub(super) fn kube_failed(what: &str, e: kube::Error) -> StepError {
    let lost = match &e {
        kube::Error::Api(s) => s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    };
    if lost {
        return StepError::Interrupted {
            why: format!("{what}: {e}"),
        };
    }
    StepError::Failed {
        why: format!("{what}: {}", crate::cluster::connect::said(&e)),
        what_to_do:
            "Check the API server and the lead's RBAC (patch nodes, create pods/eviction, delete pods), then retry"
                .into(),
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

fn has_controller(p: &Pod) -> bool {
    p.metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o.controller == Some(true))
}

/// The names of the pod's emptyDir volumes.
fn empty_dirs(p: &Pod) -> Vec<String> {
    p.spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|v| v.empty_dir.is_some())
        .map(|v| v.name.clone())
        .collect()
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

/// When the journal first recorded a refusal to evict this pod in this step.
fn first_refusal(journal: &Journal, step: &StepId, target: &str) -> Option<Timestamp> {
    journal.entries().iter().find_map(|e| match &e.what {
        What::Result {
            step: s,
            action,
            target: t,
            ok: false,
            ..
        } if s == step && action == EVICT && t == target => Some(e.at),
        _ => None,
    })
}

/// When the journal first noted `reason` about `object`.
fn noted(journal: &Journal, object: &str, reason: &str) -> Option<Timestamp> {
    journal.entries().iter().find_map(|e| match &e.what {
        What::Event {
            object: o, reason: r, ..
        } if o == object && r == reason => Some(e.at),
        _ => None,
    })
}

/// Whether the operator chose `decision` about `target` in this step.
fn chosen(journal: &Journal, step: &StepId, decision: Decision, target: &str) -> Option<Timestamp> {
    journal
        .decisions(step)
        .filter(|(_, d, t)| *d == decision && *t == Some(target))
        .map(|(at, _, _)| at)
        .last()
}

/// A pod the drain cannot move.
struct Hold {
    pod: String,
    why: String,
    since: Timestamp,
    ask_now: bool,
}

/// One pass of draining `node` for `step`, with the plan's drain options.
pub async fn drain_node(
    ctx: &mut DrainCtx<'_>,
    step: &StepId,
    node: &str,
    opts: &Drain,
) -> Result<Progress, StepError> {
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
        ctx.action(step, CORDON, node)?;
        let patch = serde_json::json!({"spec": {"unschedulable": true}});
        let result = nodes.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await;
        let detail = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
        ctx.result(step, CORDON, node, result.is_ok(), detail)?;
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
    let mut held: Vec<Hold> = Vec::new();
    let mut leaving = 0;
    for p in &movable {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let key = format!("{ns}/{name}");
        if p.metadata.deletion_timestamp.is_some() {
            leaving += 1;
            continue;
        }
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        if chosen(ctx.journal, step, Decision::DeletePod, &key).is_some() {
            if !ctx.journal.done(step, DELETE_POD, &key) {
                ctx.action(step, DELETE_POD, &key)?;
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => ctx.result(step, DELETE_POD, &key, true, "deleted at the operator's word".into())?,
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        ctx.result(step, DELETE_POD, &key, true, "already gone".into())?
                    }
                    Err(e) => {
                        ctx.result(step, DELETE_POD, &key, false, crate::cluster::connect::said(&e))?;
                        return Err(kube_failed(&format!("deleting pod {key} on node {node}"), e));
                    }
                }
            }
            leaving += 1;
            continue;
        }
        let keep_waiting = chosen(ctx.journal, step, Decision::KeepWaiting, &key);
        let refuse_now = if !has_controller(p) {
            Some(format!(
                "pod {key} has no controller: once evicted it does not come back"
            ))
        } else {
            let dirs = empty_dirs(p);
            if !dirs.is_empty() && !opts.delete_empty_dir_data {
                Some(format!(
                    "pod {key} has an emptyDir volume ({}): once evicted, its emptyDir data is lost (the plan's drain.deleteEmptyDirData is false)",
                    dirs.join(", ")
                ))
            } else {
                if !dirs.is_empty() {
                    ctx.note_once(
                        Level::Warning,
                        &key,
                        EMPTY_DIR_LOST,
                        format!(
                            "{step}: evicting pod {key} from node {node} loses the data of its emptyDir volume(s) {}",
                            dirs.join(", ")
                        ),
                    )?;
                }
                None
            }
        };
        if let Some(why) = refuse_now {
            ctx.note_once(
                Level::Warning,
                &key,
                HELD,
                format!("{step}: node {node}: {why}; it stays until the operator decides"),
            )?;
            let first = noted(ctx.journal, &format!("Pod/{key}"), HELD).unwrap_or_else(|| (ctx.now)());
            held.push(Hold {
                pod: key,
                why,
                since: keep_waiting.map_or(first, |k| k.max(first)),
                ask_now: true,
            });
            continue;
        }
        let first_try = first_refusal(ctx.journal, step, &key).is_none();
        if first_try {
            ctx.action(step, EVICT, &key)?;
        }
        match api.evict(&name, &EvictParams::default()).await {
            Ok(_) => {
                leaving += 1;
                ctx.result(step, EVICT, &key, true, String::new())?;
            }
            Err(kube::Error::Api(s)) if s.code == 429 => {
                let budgets = budgets_of(&ctx.client, p).await;
                let why = if budgets.is_empty() {
                    s.message.clone()
                } else {
                    budgets.join("; ")
                };
                if first_try {
                    ctx.result(step, EVICT, &key, false, format!("refused: {why}"))?;
                }
                let first = first_refusal(ctx.journal, step, &key).unwrap_or_else(|| (ctx.now)());
                held.push(Hold {
                    pod: key,
                    why,
                    since: keep_waiting.map_or(first, |k| k.max(first)),
                    ask_now: false,
                });
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                leaving += 1;
                if first_try {
                    ctx.result(step, EVICT, &key, true, "already gone".into())?;
                }
            }
            Err(e) => {
                if first_try {
                    ctx.result(step, EVICT, &key, false, crate::cluster::connect::said(&e))?;
                }
                return Err(kube_failed(&format!("evicting pod {key} from node {node}"), e));
            }
        }
    }
    // the pod to ask about: one upshift will not evict itself first, else the one
    // held longest
    held.sort_by_key(|h| (!h.ask_now, h.since));
    if let Some(h) = held.into_iter().next() {
        let what = if h.ask_now {
            format!("node {node}: {}", h.why)
        } else {
            format!("node {node}: pod {} held by {}", h.pod, h.why)
        };
        return Ok(Progress::Held {
            what,
            node: node.to_string(),
            pod: h.pod,
            why: h.why,
            since: h.since,
            ask_now: h.ask_now,
        });
    }
    Ok(Progress::Waiting {
        what: format!("node {node}: {leaving} pod(s) terminating"),
        detail: format!("{} pod(s) left to move from {node}, all terminating", movable.len()),
    })
}

/// Starts batch `batch` of `of` of node group `group` as replace and blue-green do:
/// journals the batch's nodes (`action`, their names joined by commas), then drains
/// each; the first node held is the batch's answer, else it waits with `detail`.
#[allow(clippy::too_many_arguments)]
pub async fn start_batch(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    step: &StepId,
    action: &str,
    group: &str,
    chosen: &[String],
    (batch, of): (u32, u32),
    detail: String,
) -> Result<Progress, StepError> {
    let names = chosen.join(",");
    ctx.action(step, action, &names)?;
    ctx.result(step, action, &names, true, format!("batch {batch} of {of}"))?;
    ctx.group.batch = batch;
    let opts = ctx.drain.clone();
    let mut first_held = None;
    for name in chosen {
        let progress = drain_node(&mut ctx.drain_ctx(client.clone()), step, name, &opts).await?;
        ctx.group.draining.push(name.clone());
        if let Progress::Held { what, .. } = &progress
            && first_held.is_none()
        {
            ctx.group.holding = Some(what.clone());
            first_held = Some(progress);
        }
    }
    if let Some(h) = first_held {
        return Ok(h);
    }
    Ok(Progress::Waiting {
        what: format!(
            "node group {group}: batch {batch} of {of} started: {}",
            chosen.join(", ")
        ),
        detail,
    })
}
