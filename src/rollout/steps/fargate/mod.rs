//! The Fargate step. A pod on Fargate runs on a node of its own whose kubelet is the
//! control plane's version when the pod started, and keeps it: EKS refuses the next
//! control-plane update while any runs a kubelet older than the control plane. After
//! the control plane moves, this step restarts each workload with such pods, one at
//! a time (`kubectl rollout restart`: the pod template's
//! `kubectl.kubernetes.io/restartedAt` annotation), waits until it has rolled out and
//! its pods run the new kubelet, and stops at a gate before the next one.
//!
//! Budgets are honoured: a workload whose PodDisruptionBudget allows no disruption
//! now is held, naming the budget, before it is restarted; the lead may keep
//! waiting, `skip-node` (target: the workload's Fargate node) to leave it, or
//! `delete-pod` (target: its pod) to restart it anyway. A pod without a Deployment or
//! StatefulSet is never deleted without the lead's `delete-pod`.
//!
//! Like every step it reads the real state first and acts at most once per call,
//! journaled before and after: a restart is journaled with its stamp
//! (`deployment/payments/checkout@2026-…Z`), and a restart in doubt after a crash is
//! sent again only when the workload's template does not carry that stamp.

mod observe;

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::drain::{DELETE_POD, kube_failed};
use super::{Progress, StepCtx, StepError};
use crate::model::Level;
use crate::model::journal::{Decision, GateId, StepId, StepState, What};
use crate::units::Minor;
use observe::{Kind, Rollout, Workload};

pub use observe::{COMPUTE_TYPE, RESTARTED_AT, SCHEDULER};

const STEP: &StepId = &StepId::Fargate;
/// The journal's action: a workload's rollout restart.
pub const RESTART: &str = "rollout-restart";
/// The journal's event when a restart is first held.
const HELD: &str = "FargateRestartHeld";

/// One call: Done when no Fargate pod runs a kubelet older than the control plane
/// (but those the lead skipped); otherwise follows the restart under way, stops at
/// the gate before the next workload, holds on its budget, or restarts it.
pub async fn reconcile(ctx: &mut StepCtx<'_>) -> Result<Progress, StepError> {
    let Some(client) = ctx.client.clone() else {
        return Err(StepError::Unsupported {
            step: STEP.clone(),
            why: "restarting Fargate workloads needs a Kubernetes client that may write".into(),
        });
    };
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    let Some(cp) = Minor::parse(&cluster.version) else {
        return Err(StepError::Failed {
            why: format!(
                "EKS reports version {:?} for {}, which names no Kubernetes minor",
                cluster.version, ctx.cluster
            ),
            what_to_do: "check the cluster in the EKS console, then retry".into(),
        });
    };
    let workloads = observe::read(&client).await?;
    let restarts = restarts(ctx);
    if let Some((id, stamp)) = restarts.last() {
        match observe::rollout(&client, id, stamp, &workloads, cp).await? {
            Rollout::NotApplied => {
                let Some(w) = workloads.iter().find(|w| &w.id() == id) else {
                    return Ok(Progress::Waiting {
                        what: format!("restart of {id} in doubt"),
                        detail: "reading it again".into(),
                    });
                };
                ctx.state(STEP, StepState::Running)?;
                return restart(ctx, &client, w, stamp).await;
            }
            Rollout::Going(what) => {
                ctx.state(STEP, StepState::Running)?;
                return Ok(Progress::Waiting {
                    what: format!("restarting {id}: {what}"),
                    detail: format!(
                        "its new pods start on new Fargate nodes with the {cp} kubelet; the old ones go with their nodes"
                    ),
                });
            }
            Rollout::Done => {}
        }
    }
    let restarted: BTreeSet<String> = restarts.iter().map(|(id, _)| id.clone()).collect();
    let skipped = skipped(ctx, &workloads);
    let todo = observe::pending(&workloads, cp, &restarted, &skipped);
    let Some(next) = todo.first().copied() else {
        ctx.state(STEP, StepState::Done)?;
        let mut what = match restarted.len() {
            0 => format!("every Fargate pod runs the {cp} kubelet: nothing to restart"),
            n => format!(
                "{n} Fargate workload{} restarted: every Fargate pod runs the {cp} kubelet",
                if n == 1 { "" } else { "s" }
            ),
        };
        if !skipped.is_empty() {
            what = format!(
                "{what}, but for {} the lead skipped (EKS refuses the next upgrade while they run an older one)",
                skipped.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        return Ok(Progress::Done { what });
    };
    let done = u32::try_from(restarted.len()).unwrap_or(u32::MAX);
    if done > 0
        && ctx
            .journal
            .gate_decision(&GateId::batch(STEP.clone(), done + 1))
            .is_none()
    {
        return Ok(Progress::Gate {
            batch: done + 1,
            of: done + u32::try_from(todo.len()).unwrap_or(u32::MAX),
        });
    }
    ctx.state(STEP, StepState::Running)?;
    if let Some(held) = hold(ctx, &client, next, cp).await? {
        return Ok(held);
    }
    let stamp = stamp((ctx.now)());
    restart(ctx, &client, next, &stamp).await
}

/// The restarts journaled in this step, oldest first, one per workload (its newest
/// stamp): `(deployment/payments/checkout, 2026-…Z)`.
fn restarts(ctx: &StepCtx<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in ctx.journal.entries() {
        if let What::Action { step, action, target } = &e.what
            && step == STEP
            && (action == RESTART || action == DELETE_POD)
        {
            let (id, stamp) = target.rsplit_once('@').unwrap_or((target.as_str(), ""));
            out.retain(|(i, _)| i != id);
            out.push((id.to_string(), stamp.to_string()));
        }
    }
    out
}

/// Workloads the lead skipped: a `skip-node` naming one of their Fargate nodes.
fn skipped(ctx: &StepCtx<'_>, workloads: &[Workload]) -> BTreeSet<String> {
    let nodes: BTreeSet<&str> = ctx
        .journal
        .decisions(STEP)
        .filter(|(_, d, _)| *d == Decision::SkipNode)
        .filter_map(|(_, _, t)| t)
        .collect();
    workloads
        .iter()
        .filter(|w| {
            w.pods
                .iter()
                .any(|p| p.node.as_deref().is_some_and(|n| nodes.contains(n)))
        })
        .map(Workload::id)
        .collect()
}

/// The time as `kubectl rollout restart` writes it: RFC 3339, whole seconds, UTC.
fn stamp(now: Timestamp) -> String {
    now.round(jiff::Unit::Second).unwrap_or(now).to_string()
}

/// Why `w` is not restarted now, as a hold for the lead; None when it may go.
async fn hold(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    w: &Workload,
    cp: Minor,
) -> Result<Option<Progress>, StepError> {
    let ns = &w.namespace;
    let keys: Vec<String> = w.pods.iter().map(|p| format!("{ns}/{}", p.name)).collect();
    let decided = |d: Decision| -> Option<Timestamp> {
        ctx.journal
            .decisions(STEP)
            .filter(|(_, x, t)| *x == d && t.is_some_and(|t| keys.iter().any(|k| k == t)))
            .map(|(at, _, _)| at)
            .last()
    };
    if decided(Decision::DeletePod).is_some() {
        return Ok(None);
    }
    let keep_waiting = decided(Decision::KeepWaiting);
    let old = w.old(cp);
    let first = old.first().copied().or(w.pods.first());
    let pod = first.map(|p| format!("{ns}/{}", p.name)).unwrap_or_default();
    let node = first.and_then(|p| p.node.clone()).unwrap_or_default();
    let why = match w.kind {
        Kind::Pod => Some((
            format!(
                "pod {pod} runs the {} kubelet under a {cp} control plane and has no Deployment or StatefulSet to restart it: \
                 delete-pod deletes it (nothing brings it back), skip-node leaves it (EKS refuses the next upgrade while it runs)",
                first.and_then(|p| p.kubelet).map(|k| k.to_string()).unwrap_or_default()
            ),
            true,
        )),
        Kind::Deployment | Kind::StatefulSet => blocking_budget(client, w).await?.map(|b| {
            (
                format!(
                    "{b}: restarting {} now would take a pod it protects; upshift waits for the budget to allow one \
                     (keep-waiting), or delete-pod restarts it anyway, skip-node leaves it on its old kubelet",
                    w.id()
                ),
                false,
            )
        }),
    };
    let Some((why, ask_now)) = why else {
        return Ok(None);
    };
    let object = format!("Fargate/{}", w.id());
    let noted = ctx.journal.entries().iter().find_map(|e| match &e.what {
        What::Event {
            object: o, reason: r, ..
        } if *o == object && r == HELD => Some(e.at),
        _ => None,
    });
    let since = match noted {
        Some(t) => t,
        None => {
            let at = (ctx.now)();
            ctx.journal.append(
                ctx.who,
                at,
                What::Event {
                    level: Level::Warning,
                    object,
                    reason: HELD.into(),
                    message: format!("{}: {why}", STEP),
                },
            )?;
            at
        }
    };
    let since = keep_waiting.map_or(since, |k| k.max(since));
    Ok(Some(Progress::Held {
        what: format!("{} held before its restart ({})", w.id(), w.describe()),
        node,
        pod,
        why,
        since,
        ask_now,
    }))
}

/// The PodDisruptionBudget over `w`'s pods that allows no disruption now, in words.
async fn blocking_budget(client: &kube::Client, w: &Workload) -> Result<Option<String>, StepError> {
    let ns = &w.namespace;
    let labels = match w.kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
            .get_opt(&w.name)
            .await
            .map_err(|e| kube_failed(&format!("reading Deployment {ns}/{}", w.name), e))?
            .and_then(|d| d.spec?.template.metadata?.labels),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt(&w.name)
            .await
            .map_err(|e| kube_failed(&format!("reading StatefulSet {ns}/{}", w.name), e))?
            .and_then(|s| s.spec?.template.metadata?.labels),
        Kind::Pod => None,
    }
    .unwrap_or_default();
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| kube_failed(&format!("listing the PodDisruptionBudgets of {ns}"), e))?;
    for b in pdbs.items {
        let selects = b
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.match_labels.as_ref())
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let Some(st) = b.status.as_ref().filter(|_| selects) else {
            continue;
        };
        if st.disruptions_allowed <= 0 {
            return Ok(Some(format!(
                "PodDisruptionBudget {ns}/{} allows 0 disruptions ({} healthy, {} needed)",
                b.metadata.name.as_deref().unwrap_or_default(),
                st.current_healthy,
                st.desired_healthy
            )));
        }
    }
    Ok(None)
}

/// Restarts `w` (a pod: deletes it, at the lead's word), journaled before and after.
async fn restart(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    w: &Workload,
    stamp: &str,
) -> Result<Progress, StepError> {
    let id = w.id();
    let ns = &w.namespace;
    let (action, target) = match w.kind {
        Kind::Pod => (DELETE_POD, id.clone()),
        _ => (RESTART, format!("{id}@{stamp}")),
    };
    ctx.action(STEP, action, &target)?;
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}});
    let params = PatchParams::default();
    let sent = match w.kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
            .patch(&w.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .patch(&w.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
        Kind::Pod => match Api::<Pod>::namespaced(client.clone(), ns)
            .delete(&w.name, &DeleteParams::default())
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            r => r.map(|_| ()),
        },
    };
    match sent {
        Ok(()) => {
            let detail = match w.kind {
                Kind::Pod => "deleted at the lead's word".to_string(),
                _ => format!("{RESTARTED_AT}={stamp}"),
            };
            ctx.result(STEP, action, &target, true, detail)?;
            Ok(Progress::Waiting {
                what: format!("restarting {id} ({})", w.describe()),
                detail: "its pods are replaced as its rollout strategy says, each on a new Fargate node".into(),
            })
        }
        Err(e) => {
            ctx.result(STEP, action, &target, false, crate::cluster::connect::said(&e))?;
            Err(kube_failed(&format!("restarting {id}"), e))
        }
    }
}
