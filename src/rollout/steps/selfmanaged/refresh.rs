//! `instance-refresh`: the Auto Scaling group's own instance refresh, started once
//! (adopted when a start was in doubt after a restart) and followed until the group's
//! nodes are all on the target.
//!
//! A refresh terminates nodes with their pods unless something drains them while a
//! termination hook holds their instances. With `drainer: termination-handler` the
//! step starts the refresh only when the group has a termination hook and
//! aws-node-termination-handler runs in queue-processor mode, then follows it, naming
//! the pod and budget that hold a node the handler drains. With `drainer: upshift`
//! (`drainer.rs`) upshift puts its own hook on the group and drains each node itself.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};

use super::super::{Progress, StepCtx, StepError, short};
use super::{GroupNode, Observed, START_REFRESH, acting, drainer, finish, precheck_control_plane, read};
use crate::cloud::{CloudError, RefreshInfo, RefreshPrefs};
use crate::cluster::ClusterReader;
use crate::model::journal::{StepId, StepState, What};
use crate::preflight::drainers::{self as found, Verdict};
use crate::rollout::plan::{Drainer, NodegroupStep};
use crate::rollout::steps::doubt::RESOLVED;

/// The ids of the refreshes this step started, oldest first.
fn our_refreshes(ctx: &StepCtx<'_>, step: &StepId) -> Vec<String> {
    ctx.journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                step: s,
                action,
                ok: true,
                detail,
                ..
            } if s == step && action == START_REFRESH => {
                Some(detail.strip_prefix(RESOLVED).unwrap_or(detail).to_string())
            }
            _ => None,
        })
        .collect()
}

fn refresh_line(r: &RefreshInfo) -> String {
    format!(
        "instance refresh {} {} {}%",
        short(&r.id),
        r.status,
        r.percentage_complete
    )
}

pub(super) async fn reconcile(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: kube::Client,
) -> Result<Progress, StepError> {
    let target = ctx.target.to_string();
    let live = read(ctx, &client, g).await?;
    let asg = live.asg.name.clone();
    let on_target = |n: &GroupNode| n.minor.as_deref() == Some(target.as_str());
    let old: Vec<&GroupNode> = live.staying().filter(|n| !on_target(n)).collect();
    ctx.group.old = old.len() as u32;
    ctx.group.new = live.staying().filter(|n| on_target(n)).count() as u32;
    ctx.group.draining = live
        .nodes
        .iter()
        .filter(|n| n.cordoned && !on_target(n))
        .map(|n| n.name.clone())
        .collect();
    let want = live.asg.desired.max(0) as usize;
    let refreshes = ctx.cloud.describe_instance_refreshes(&asg).await?;
    let by = g.drainer.unwrap_or(Drainer::TerminationHandler);
    if by == Drainer::Upshift
        && let Some(p) = drainer::tend(ctx, g, step, &client, &live).await?
    {
        ctx.state(step, StepState::Running)?;
        return Ok(p);
    }
    if let Some(r) = refreshes.iter().find(|r| r.active()) {
        ctx.state(step, StepState::Running)?;
        if by == Drainer::Upshift {
            return Ok(Progress::Waiting {
                what: format!(
                    "node group {}: {}; batch {} of {}",
                    g.name,
                    refresh_line(r),
                    ctx.group.batch,
                    ctx.group.batches
                ),
                detail: format!(
                    "Auto Scaling group {asg} replaces its instances ({} to go; {} of {want} nodes on {target}); upshift drains each as it waits in hook {}",
                    r.instances_to_update,
                    ctx.group.new,
                    drainer::HOOK
                ),
            });
        }
        ctx.group.batch = 1;
        ctx.group.batches = 1;
        if let Some(p) = follow_handler(ctx, g, &client, &live, r).await? {
            return Ok(p);
        }
        return Ok(Progress::Waiting {
            what: format!("node group {}: {}", g.name, refresh_line(r)),
            detail: format!(
                "Auto Scaling group {asg} replaces its instances ({} to go; {} of {want} nodes on {target}){}",
                r.instances_to_update,
                ctx.group.new,
                r.status_reason.as_deref().map(|s| format!(": {s}")).unwrap_or_default()
            ),
        });
    }
    let settled = live.pending() == 0 && live.serving() >= want;
    if old.is_empty() && settled {
        drainer::remove_hook(ctx, step, &asg).await?;
        return finish(ctx, g, step, &live, &[]).await;
    }
    let ours = our_refreshes(ctx, step);
    if let Some(r) = refreshes.iter().find(|r| ours.contains(&r.id)) {
        let since = r.end.or(r.start);
        if !ctx.retry_requested(step, since) {
            if r.status == "Successful" {
                if !settled {
                    return Ok(Progress::Waiting {
                        what: format!(
                            "node group {}: {}; {} of {want} nodes Ready",
                            g.name,
                            refresh_line(r),
                            live.serving()
                        ),
                        detail: format!("waiting for the new instances of {asg} to join as Ready nodes"),
                    });
                }
                ctx.state(step, StepState::Failed)?;
                return Err(StepError::Failed {
                    why: format!(
                        "instance refresh {} of Auto Scaling group {asg} succeeded, but {} node(s) of node group {} are still not on {target}: {}",
                        r.id,
                        old.len(),
                        g.name,
                        old.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    what_to_do: format!(
                        "point the launch template of {asg} at an AMI for {target} (a refresh skips instances that already match the template), then retry the step"
                    ),
                });
            }
            ctx.state(step, StepState::Failed)?;
            return Err(StepError::Failed {
                why: format!(
                    "instance refresh {} of Auto Scaling group {asg} (node group {}) ended {}: {}",
                    r.id,
                    g.name,
                    r.status,
                    r.status_reason.as_deref().unwrap_or("AWS gave no reason")
                ),
                what_to_do: format!(
                    "fix what the refresh names (see the scaling activities of {asg}), then retry the step"
                ),
            });
        }
    }
    // a start in doubt (killed between the journal and the answer): adopt the
    // refresh the group shows, if it began after the action was journaled
    let doubt = ctx.journal.in_doubt().iter().rev().find_map(|e| match &e.what {
        What::Action {
            step: s,
            action,
            target,
        } if s == step && action == START_REFRESH && target == &asg => Some(e.at),
        _ => None,
    });
    if let Some(at) = doubt
        && let Some(r) = refreshes.iter().find(|r| r.start.is_some_and(|s| s >= at))
    {
        ctx.result(step, START_REFRESH, &asg, true, r.id.clone())?;
        return Ok(Progress::Waiting {
            what: format!("node group {}: {}", g.name, refresh_line(r)),
            detail: format!("following the instance refresh of {asg} started before a restart"),
        });
    }
    precheck_control_plane(ctx, g).await?;
    match by {
        Drainer::TerminationHandler => drained_by_handler(ctx, g, step, &client, &live).await?,
        Drainer::Upshift => {}
    }
    acting(ctx, step, &live.asg).await?;
    if by == Drainer::Upshift {
        drainer::ensure_hook(ctx, step, &asg).await?;
    }
    let size = live.asg.desired.max(1);
    let batch = (g.batch_size as i32).clamp(1, size);
    let prefs = RefreshPrefs {
        min_healthy_percentage: Some(((size - batch) * 100 / size).clamp(0, 100)),
        skip_matching: Some(true),
        ..RefreshPrefs::default()
    };
    ctx.action(step, START_REFRESH, &asg)?;
    match ctx.cloud.start_instance_refresh(&asg, &prefs).await {
        Ok(id) => {
            ctx.result(step, START_REFRESH, &asg, true, id.clone())?;
            ctx.group.batch = 1;
            ctx.group.batches = 1;
            Ok(Progress::Waiting {
                what: format!("node group {}: instance refresh {} started", g.name, short(&id)),
                detail: format!(
                    "Auto Scaling group {asg} replaces its {} old instance(s), keeping {}% healthy",
                    old.len(),
                    prefs.min_healthy_percentage.unwrap_or(0)
                ),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(step, START_REFRESH, &asg, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("Auto Scaling group {asg} busy with another instance refresh"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(step, START_REFRESH, &asg, false, e.to_string())?;
            Err(e.into())
        }
    }
}

/// Before a refresh that aws-node-termination-handler is to drain: the group has a
/// termination hook and the handler runs in queue-processor mode, or the step fails
/// before any action, saying what is missing.
async fn drained_by_handler(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    client: &kube::Client,
    live: &Observed,
) -> Result<(), StepError> {
    let asg = &live.asg.name;
    let hooks = ctx.cloud.describe_lifecycle_hooks(asg).await?;
    let handlers = found::find_handlers(&ClusterReader::new(client.clone()))
        .await
        .map_err(|e| super::super::drain::kube_failed("looking for aws-node-termination-handler", e))?;
    let facts = found::GroupHooks {
        group: g.name.clone(),
        asg: Some(asg.clone()),
        planned: g.drainer,
        hooks: hooks.into_iter().filter(|h| h.terminating()).collect(),
        unreadable: None,
    };
    let why = match found::verdict(&facts, &handlers) {
        Verdict::HandlerDrains { .. } | Verdict::UpshiftDrains => return Ok(()),
        Verdict::NoHook => format!(
            "Auto Scaling group {asg} has no termination lifecycle hook: an instance refresh would terminate the nodes of node group {} with their pods running",
            g.name
        ),
        Verdict::NothingDrains { hook, imds, .. } => format!(
            "nothing drains node group {} on hook {hook} of {asg}: no {} runs in queue-processor mode{}",
            g.name,
            found::HANDLER,
            imds.map(|k| format!(" ({k} runs in IMDS mode, which never sees Auto Scaling lifecycle events)"))
                .unwrap_or_default()
        ),
        Verdict::Unknown(why) => why,
    };
    ctx.state(step, StepState::Failed)?;
    Err(StepError::Failed {
        why: format!("{why}; the plan says drainer: termination-handler"),
        what_to_do: format!(
            "write `drainer: upshift` for node group {} in the plan (upshift adds a hook and drains), or strategy: replace; or add a termination hook to {asg} and run {} in queue-processor mode; then retry",
            g.name,
            found::HANDLER
        ),
    })
}

/// While aws-node-termination-handler drains: a node whose instance waits in the
/// hook and still has a pod a budget refuses to let go is named, with the budget.
async fn follow_handler(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    client: &kube::Client,
    live: &Observed,
    r: &RefreshInfo,
) -> Result<Option<Progress>, StepError> {
    let held: Vec<&GroupNode> = live
        .nodes
        .iter()
        .filter(|n| {
            n.instance
                .as_deref()
                .and_then(|id| live.instance_state(id))
                .is_some_and(|s| s == "Terminating:Wait")
        })
        .collect();
    ctx.group.draining = held.iter().map(|n| n.name.clone()).collect();
    for n in held {
        if let Some((pod, budget)) = holding(client, &n.name).await? {
            let what = format!("node {}: pod {pod} held by {budget}", n.name);
            ctx.group.holding = Some(what.clone());
            return Ok(Some(Progress::Waiting {
                what: format!("node group {}: {}; {what}", g.name, refresh_line(r)),
                detail: format!(
                    "{} drains node {} while its instance waits in the group's termination hook; the budget lets the pod go once enough of its peers are Ready elsewhere",
                    found::HANDLER,
                    n.name
                ),
            }));
        }
    }
    Ok(None)
}

/// A pod on `node` that a PodDisruptionBudget allows no disruption of, and the budget.
async fn holding(client: &kube::Client, node: &str) -> Result<Option<(String, String)>, StepError> {
    let failed = |e| super::super::drain::kube_failed(&format!("reading what holds node {node}"), e);
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(failed)?;
    let budgets = Api::<PodDisruptionBudget>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(failed)?;
    for p in &pods.items {
        let daemon = p
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o.kind == "DaemonSet");
        if daemon || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let labels = p.metadata.labels.clone().unwrap_or_default();
        for b in &budgets.items {
            if b.metadata.namespace.as_deref() != Some(ns.as_str()) {
                continue;
            }
            let sel = b
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref());
            let matches = sel.is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)));
            let st = b.status.as_ref();
            if matches && st.is_some_and(|s| s.disruptions_allowed == 0) {
                return Ok(Some((
                    format!("{ns}/{}", p.metadata.name.as_deref().unwrap_or_default()),
                    format!(
                        "PodDisruptionBudget {ns}/{} ({} healthy, {} required, 0 disruptions allowed)",
                        b.metadata.name.as_deref().unwrap_or_default(),
                        st.map_or(0, |s| s.current_healthy),
                        st.map_or(0, |s| s.desired_healthy)
                    ),
                )));
            }
        }
    }
    Ok(None)
}
