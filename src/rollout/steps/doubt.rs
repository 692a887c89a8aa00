//! Actions in doubt, resolved when a drive starts: an action journaled before it was
//! sent, whose answer never reached the journal (the process was killed between the
//! two), is read back from the real state: an update running or done, a node
//! cordoned, a pod gone, an instance terminating, a node group created. What was
//! found is journaled as the action's result, "resolved on resume: …", so no action
//! stays in doubt, and the step that took it sees it done (ok) or not taken (not ok:
//! the step takes it again if it is still needed).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;

use super::drain::{CORDON, DELETE_POD, EVICT, kube_failed};
use super::{StepCtx, StepError, addon, bluegreen, control_plane, nodegroup, selfmanaged};
use crate::cloud::{CloudError, UpdateInfo, UpdateScope};
use crate::model::journal::{StepId, What};

/// How the result of an action resolved on resume begins.
pub const RESOLVED: &str = "resolved on resume: ";

/// What the real state says of an action in doubt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its effect is there: the action is journaled as done.
    pub ok: bool,
    pub detail: String,
}

impl Found {
    pub fn done(detail: String) -> Found {
        Found { ok: true, detail }
    }

    pub fn not(detail: String) -> Found {
        Found { ok: false, detail }
    }
}

/// Resolves every action in doubt in the journal: reads its effect back and journals
/// the result. Returns one line per action resolved. An action whose state cannot be
/// read now (the cloud or the cluster did not answer) stays in doubt, named in the
/// lines: its step still reads the real state before acting, and the next start
/// tries again.
pub async fn resolve(ctx: &mut StepCtx<'_>) -> Result<Vec<String>, StepError> {
    let mut open: Vec<(StepId, String, String, Timestamp)> = Vec::new();
    for e in ctx.journal.in_doubt() {
        if let What::Action { step, action, target } = &e.what
            && !open.iter().any(|(s, a, t, _)| s == step && a == action && t == target)
        {
            open.push((step.clone(), action.clone(), target.clone(), e.at));
        }
    }
    let mut lines = Vec::new();
    for (step, action, target, at) in open {
        match look(ctx, &step, &action, &target, at).await {
            Ok(found) => {
                let detail = format!("{RESOLVED}{}", found.detail);
                lines.push(format!(
                    "{step}: {action} {target} in doubt, {}: {}",
                    if found.ok { "done" } else { "not done" },
                    found.detail
                ));
                ctx.result(&step, &action, &target, found.ok, detail)?;
            }
            Err(StepError::Journal(e)) => return Err(e.into()),
            Err(e) => lines.push(format!("{step}: {action} {target} stays in doubt: {e}")),
        }
    }
    Ok(lines)
}

/// What the real state says of `action` on `target`, journaled at `at` by `step`.
async fn look(ctx: &StepCtx<'_>, step: &StepId, action: &str, target: &str, at: Timestamp) -> Result<Found, StepError> {
    if let Some(found) = selfmanaged::doubt::resolve(ctx, step, action, target, at).await? {
        return Ok(found);
    }
    if let Some(found) = super::nodepool::doubt(ctx, action, target).await? {
        return Ok(found);
    }
    Ok(match (step, action) {
        (StepId::ControlPlane, control_plane::ACTION) => {
            let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
            if cluster.version == target {
                Found::done(format!("the control plane is on {target} ({})", cluster.status))
            } else {
                update_to(ctx, &UpdateScope::Cluster, "Version", target).await?
            }
        }
        (StepId::Addon(name), addon::ACTION) => {
            let found = ctx.cloud.describe_addon(ctx.cluster, name).await?;
            if found.version == target {
                Found::done(format!("add-on {name} is at {target} ({})", found.status))
            } else {
                update_to(ctx, &UpdateScope::Addon(name.clone()), "AddonVersion", target).await?
            }
        }
        (StepId::Nodegroup(name), nodegroup::ACTION | nodegroup::FORCED) => {
            let ng = ctx.cloud.describe_nodegroup(ctx.cluster, name).await?;
            if ng.version == target {
                Found::done(format!("node group {name} is on {target} ({})", ng.status))
            } else {
                update_to(ctx, &UpdateScope::Nodegroup(name.clone()), "Version", target).await?
            }
        }
        (StepId::Nodegroup(name), nodegroup::UPDATE_CONFIG) => {
            let ng = ctx.cloud.describe_nodegroup(ctx.cluster, name).await?;
            let now = ng.config.update_config.map(|m| m.to_string());
            if now.as_deref() == Some(target) {
                Found::done(format!("node group {name}'s update configuration is {target}"))
            } else {
                let scope = UpdateScope::Nodegroup(name.clone());
                let ids = ctx.cloud.list_updates(ctx.cluster, &scope).await?;
                let latest = match ids.last() {
                    Some(id) => Some(ctx.cloud.describe_update(ctx.cluster, id, &scope).await?),
                    None => None,
                };
                match latest {
                    Some(u) if u.kind == "ConfigUpdate" && u.in_progress() => {
                        Found::done(format!("configuration update {} of {name} is InProgress", u.id))
                    }
                    _ => Found::not(format!(
                        "node group {name}'s update configuration is {}, and no configuration update runs",
                        now.unwrap_or_else(|| "EKS's default".into())
                    )),
                }
            }
        }
        (_, bluegreen::CREATE) => match ctx.cloud.describe_nodegroup(ctx.cluster, target).await {
            Ok(ng) => Found::done(format!("node group {target} exists ({} on {})", ng.status, ng.version)),
            Err(CloudError::NotFound { .. }) => Found::not(format!("node group {target} does not exist")),
            Err(e) => return Err(e.into()),
        },
        (_, bluegreen::DELETE) => match ctx.cloud.describe_nodegroup(ctx.cluster, target).await {
            Ok(ng) if ng.status == "DELETING" => Found::done(format!("node group {target} is DELETING")),
            Ok(ng) => Found::not(format!("node group {target} is still {}", ng.status)),
            Err(CloudError::NotFound { .. }) => Found::done(format!("node group {target} is gone")),
            Err(e) => return Err(e.into()),
        },
        (_, bluegreen::START_BATCH) => Found::done("a batch chosen is a record, nothing was sent".into()),
        (_, CORDON | selfmanaged::UNCORDON) => {
            let client = client(ctx)?;
            let node = Api::<Node>::all(client)
                .get_opt(target)
                .await
                .map_err(|e| kube_failed(&format!("reading node {target}"), e))?;
            let cordoned = node
                .as_ref()
                .map(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true));
            let word = |c: bool| if c { "cordoned" } else { "schedulable" };
            match cordoned {
                None => Found::done(format!("node {target} is gone")),
                Some(c) if c == (action == CORDON) => Found::done(format!("node {target} is {}", word(c))),
                Some(c) => Found::not(format!("node {target} is still {}", word(c))),
            }
        }
        (_, EVICT | DELETE_POD) => pod_left(ctx, step, target).await?,
        _ => Found::not(format!(
            "this upshift cannot read back `{action}`; its step reads the real state before acting again"
        )),
    })
}

/// Whether an update of `scope` to `want` (its parameter `param`) is running or done.
async fn update_to(ctx: &StepCtx<'_>, scope: &UpdateScope, param: &str, want: &str) -> Result<Found, StepError> {
    let ids = ctx.cloud.list_updates(ctx.cluster, scope).await?;
    let mut newest: Option<UpdateInfo> = None;
    for id in ids.iter().rev() {
        let u = ctx.cloud.describe_update(ctx.cluster, id, scope).await?;
        let to = u.param(param).or(u.param("Version"));
        if to == Some(want) {
            newest = Some(u);
            break;
        }
    }
    Ok(match newest {
        Some(u) if u.in_progress() || u.succeeded() => {
            Found::done(format!("update {} to {want} is {}", u.id, u.status))
        }
        Some(u) => Found::not(format!("the newest update to {want}, {}, ended {}", u.id, u.status)),
        None => Found::not(format!("EKS shows no update to {want}: the request did not reach it")),
    })
}

/// Whether the pod `namespace/name` left its node: gone, terminating, or (a
/// StatefulSet's pod, recreated under its name) on a node that is neither cordoned
/// nor drained by `step`.
async fn pod_left(ctx: &StepCtx<'_>, step: &StepId, key: &str) -> Result<Found, StepError> {
    let client = client(ctx)?;
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    let pod = Api::<Pod>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| kube_failed(&format!("reading pod {key}"), e))?;
    let Some(pod) = pod else {
        return Ok(Found::done(format!("pod {key} is gone")));
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(Found::done(format!("pod {key} is terminating")));
    }
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return Ok(Found::done(format!("pod {key} was recreated and waits for a node")));
    };
    // the node this step drains, or any cordoned one: the pod did not leave it
    let drained = ctx.journal.entries().iter().any(|e| {
        matches!(&e.what, What::Action { step: s, action, target } if s == step && action == CORDON && *target == node)
    });
    let cordoned = Api::<Node>::all(client)
        .get_opt(&node)
        .await
        .map_err(|e| kube_failed(&format!("reading node {node}"), e))?
        .is_some_and(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true));
    Ok(if cordoned || drained {
        Found::not(format!("pod {key} still runs on node {node}, which the step drains"))
    } else {
        Found::done(format!("pod {key} was recreated on node {node}"))
    })
}

fn client(ctx: &StepCtx<'_>) -> Result<kube::Client, StepError> {
    ctx.client.clone().ok_or_else(|| StepError::Failed {
        why: "reading a node or pod back needs a Kubernetes client, and this step context has none".into(),
        what_to_do: "run the drive with a cluster connection".into(),
    })
}
