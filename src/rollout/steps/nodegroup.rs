//! A managed node group step: EKS's UpdateNodegroupVersion to the target, once; EKS
//! surges, drains (honouring PodDisruptionBudgets) and replaces the nodes itself,
//! `maxUnavailable` at a time, and stops at no gate inside its update. The plan's
//! `maxUnavailable`/`maxUnavailablePercentage` is set as the group's `updateConfig`
//! first, when it differs. `blue-green` (upshift's copy of the group) is in `bluegreen`.
//! When budgets made the update fail, the operator may force it (a journaled
//! `force` decision): it is started again once, past the budgets. Self-managed
//! groups are in `selfmanaged`.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::cloud::{CloudError, MaxUnavailable, NodegroupChange, NodegroupInfo, UpdateInfo, UpdateScope};
use crate::model::journal::{Decision, StepId, StepState};
use crate::rollout::plan::{GroupType, NodegroupStep, Strategy};
use crate::units::Minor;

use super::{Progress, StepCtx, StepError, short, update_errors};

pub(super) const ACTION: &str = "update-nodegroup-version";
pub(super) const FORCED: &str = "force-update-nodegroup-version";
/// The journal's action for setting the group's EKS `updateConfig` from the plan.
pub const UPDATE_CONFIG: &str = "update-nodegroup-config";
/// EKS's kind of update for `UpdateNodegroupConfig`.
const CONFIG_UPDATE: &str = "ConfigUpdate";
/// The label EKS puts on a managed node group's nodes.
const GROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// One call: Done when the group is ACTIVE on the target; follows a running update;
/// otherwise starts one (never forced: a blocking budget fails the update, and the
/// operator decides), at most once per call.
pub async fn reconcile(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Progress, StepError> {
    let step = StepId::Nodegroup(g.name.clone());
    if g.group_type != GroupType::Managed || g.strategy != Strategy::EksUpdate {
        return Err(StepError::Unsupported {
            step,
            why: format!(
                "{} groups with strategy {} are not driven here; managed groups are driven with eks-update or blue-green",
                g.group_type.as_str(),
                g.strategy.as_str()
            ),
        });
    }
    let name = g.name.as_str();
    let target = ctx.target.to_string();
    fill_progress(ctx, g).await;
    let ng = ctx.cloud.describe_nodegroup(ctx.cluster, name).await?;
    if ng.version == target && ng.status == "ACTIVE" {
        ctx.state(&step, StepState::Done)?;
        return Ok(Progress::Done {
            what: format!("node group {name} on {target}"),
        });
    }
    let scope = UpdateScope::Nodegroup(name.to_string());
    let latest = ctx.latest_update(&scope).await?;
    if let Some(u) = &latest
        && u.in_progress()
        && u.kind == CONFIG_UPDATE
    {
        return Ok(update_config_waiting(name, &ng, u));
    }
    if let Some(u) = &latest
        && u.in_progress()
    {
        ctx.state(&step, StepState::Running)?;
        return Ok(Progress::Waiting {
            what: format!(
                "node group {name} update {} InProgress {}",
                short(&u.id),
                ctx.running_for(u.created)
            )
            .trim_end()
            .to_string(),
            detail: format!(
                "EKS is replacing the nodes of {name} ({} → {}), {}; the group is {} with {} desired{}",
                ng.version,
                u.param("Version").unwrap_or(&target),
                at_a_time(&ng),
                ng.status,
                ng.desired,
                health(&ng.health_issues)
            ),
        });
    }
    if ng.version == target || (ng.status != "ACTIVE" && ng.status != "DEGRADED") {
        return Ok(Progress::Waiting {
            what: format!("node group {name} {} on {}", ng.status, ng.version),
            detail: format!(
                "waiting for {name} to be ACTIVE on {target}{}",
                health(&ng.health_issues)
            ),
        });
    }
    let mut force = false;
    if let Some(u) = &latest
        && !u.succeeded()
        && u.param("Version").is_none_or(|v| v == target)
        && !ctx.decided_after_failure(&step, Decision::Retry)
    {
        let blocked = u.errors.iter().any(|e| e.code == "PodEvictionFailure");
        force = blocked && ctx.decided_after_failure(&step, Decision::Force);
        if !force {
            ctx.state(&step, StepState::Failed)?;
            let why = format!(
                "the update {} of node group {name} to {target} ended {}: {}",
                u.id,
                u.status,
                update_errors(u)
            );
            return Err(if blocked {
                let held = held_by(ctx, u).await;
                StepError::EvictionRefused {
                    why,
                    what_to_do: format!(
                        "a PodDisruptionBudget refused evictions from the nodes of {name}{held}: let the pods it protects move (scale the workload up or relax the budget), then retry the step; or force the update (type {name} to confirm), which deletes the pods the budget protects"
                    ),
                }
            } else {
                StepError::Failed {
                    why,
                    what_to_do: "fix what EKS names, then retry the step".into(),
                }
            });
        }
    }
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    if cluster.version != target {
        return Err(StepError::Failed {
            why: format!(
                "node group {name} cannot go to {target} while the control plane is on {}",
                cluster.version
            ),
            what_to_do: "upgrade the control plane first (its step comes before the node groups)".into(),
        });
    }
    ctx.state(&step, StepState::Running)?;
    if let Some(p) = set_update_config(ctx, g, &step, &ng).await? {
        return Ok(p);
    }
    let action = if force { FORCED } else { ACTION };
    ctx.action(&step, action, &target)?;
    match ctx
        .cloud
        .update_nodegroup_version(ctx.cluster, name, Some(&target), force)
        .await
    {
        Ok(u) => {
            ctx.result(&step, action, &target, true, format!("update {} {}", u.id, u.status))?;
            Ok(Progress::Waiting {
                what: format!(
                    "node group {name} update {} started{}",
                    short(&u.id),
                    if force { ", forced past its budgets" } else { "" }
                ),
                detail: format!(
                    "EKS is replacing the {} nodes of {name} ({} → {target}), {}",
                    ng.desired,
                    ng.version,
                    at_a_time(&ng)
                ),
            })
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(&step, action, &target, false, e.to_string())?;
            Ok(Progress::Waiting {
                what: format!("node group {name} busy with another update"),
                detail: e.to_string(),
            })
        }
        Err(e) => {
            ctx.result(&step, action, &target, false, e.to_string())?;
            Err(e.into())
        }
    }
}

/// What an abort can do about a managed group: nothing; a running EKS update
/// cannot be cancelled, and the lead is told so.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    let scope = UpdateScope::Nodegroup(g.name.clone());
    let line = match ctx.latest_update(&scope).await? {
        Some(u) if u.in_progress() => format!(
            "the EKS update {} of node group {} cannot be cancelled: it keeps running, and EKS goes on replacing the group's nodes",
            u.id, g.name
        ),
        _ => format!("node group {}: nothing to undo (EKS runs no update of it)", g.name),
    };
    Ok(vec![line])
}

/// Counts the group's nodes per minor for the drive (when there is a client; the
/// count is for showing, so a failed list leaves it as it was).
async fn fill_progress(ctx: &mut StepCtx<'_>, g: &NodegroupStep) {
    ctx.group.auto_continue = g.auto_continue;
    let Some(client) = ctx.client.clone() else { return };
    let lp = ListParams::default().labels(&format!("{GROUP_LABEL}={}", g.name));
    let Ok(nodes) = Api::<Node>::all(client).list(&lp).await else {
        return;
    };
    let (mut old, mut new) = (0, 0);
    for n in &nodes.items {
        let kubelet = n
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str())
            .unwrap_or_default();
        if Minor::parse(kubelet).map(|m| m.to_string()).as_deref() == Some(ctx.target) {
            new += 1;
        } else {
            old += 1;
        }
    }
    ctx.group.old = old;
    ctx.group.new = new;
}

/// ` (on ip-…: pod … held by PodDisruptionBudget …)`: the pods and budgets on the nodes
/// a PodEvictionFailure names, read from the cluster; empty when none could be read.
async fn held_by(ctx: &StepCtx<'_>, u: &crate::cloud::UpdateInfo) -> String {
    let Some(client) = ctx.client.as_ref() else {
        return String::new();
    };
    let nodes: Vec<String> = u
        .errors
        .iter()
        .filter(|e| e.code == "PodEvictionFailure")
        .flat_map(|e| e.resource_ids.iter().cloned())
        .collect();
    let said = super::eviction_blockers::say(&super::eviction_blockers::on_nodes(client, &nodes).await);
    if said.is_empty() {
        String::new()
    } else {
        format!(" ({said})")
    }
}

fn health(issues: &[String]) -> String {
    if issues.is_empty() {
        String::new()
    } else {
        format!("; health issues: {}", issues.join("; "))
    }
}

/// How many nodes EKS takes down at once, and that nothing stops it between them.
fn at_a_time(ng: &NodegroupInfo) -> String {
    let m = ng.config.update_config.unwrap_or(MaxUnavailable::Count(1));
    let n = match m {
        MaxUnavailable::Count(n) => format!("{n} node{} at a time", if n == 1 { "" } else { "s" }),
        MaxUnavailable::Percentage(p) => format!("{p}% of the nodes at a time"),
    };
    format!("{n} ({m}); EKS stops at no gate inside its update")
}

fn update_config_waiting(name: &str, ng: &NodegroupInfo, u: &UpdateInfo) -> Progress {
    Progress::Waiting {
        what: format!("node group {name}: updateConfig change {} InProgress", short(&u.id)),
        detail: format!(
            "EKS applies the plan's updateConfig to {name} before its version update; now {}",
            at_a_time(ng)
        ),
    }
}

/// Before the version update: the plan's `updateConfig` for the group, set once
/// when EKS's differs (journaled before it is sent and after). Some while EKS
/// applies it.
async fn set_update_config(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &StepId,
    ng: &NodegroupInfo,
) -> Result<Option<Progress>, StepError> {
    let Some(want) = g.update_config else { return Ok(None) };
    let now = ng.config.update_config.unwrap_or(MaxUnavailable::Count(1));
    if now == want {
        return Ok(None);
    }
    let name = g.name.as_str();
    let target = want.to_string();
    ctx.action(step, UPDATE_CONFIG, &target)?;
    let change = NodegroupChange {
        scaling: None,
        update_config: Some(want),
    };
    match ctx.cloud.update_nodegroup_config(ctx.cluster, name, &change).await {
        Ok(u) => {
            ctx.result(
                step,
                UPDATE_CONFIG,
                &target,
                true,
                format!("update {} {}", u.id, u.status),
            )?;
            Ok(Some(Progress::Waiting {
                what: format!("node group {name}: updateConfig {now} → {want}"),
                detail: format!(
                    "the plan sets how many nodes EKS takes down at once inside its update of {name}; EKS stops at no gate inside it"
                ),
            }))
        }
        Err(e @ CloudError::InUse { .. }) => {
            ctx.result(step, UPDATE_CONFIG, &target, false, e.to_string())?;
            Ok(Some(Progress::Waiting {
                what: format!("node group {name} busy; its updateConfig is set when it is free"),
                detail: e.to_string(),
            }))
        }
        Err(e) => {
            ctx.result(step, UPDATE_CONFIG, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!("setting the updateConfig of node group {name} to {want}: {e}"),
                what_to_do: "fix the plan's maxUnavailable (or the identity's eks:UpdateNodegroupConfig permission, docs/iam.md), then retry the step".into(),
            })
        }
    }
}
