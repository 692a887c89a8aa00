//! A self-managed node group step (an Auto Scaling group of the team's own): with
//! `replace`, upshift replaces the nodes itself batch by batch (cordon, drain,
//! terminate the instance, wait for the group's replacement to join on the target),
//! with a gate between batches; with `instance-refresh`, it starts the group's
//! instance refresh once and follows it. The cluster autoscaler's tag is taken off
//! the group before the first action, so that it does not fight the replacement,
//! and put back when the step is done or aborted.
//!
//! Every call reads the nodes and the Auto Scaling group first; where the step
//! stands (which batch, which nodes in it, whether the tag is off) comes from the
//! journal and that real state, so a new process picks up where a killed one was.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::drain::{drain_node, kube_failed};
use super::{Progress, StepCtx, StepError, gate_id, short};
use crate::cloud::{CloudError, GroupInfo, RefreshInfo, RefreshPrefs};
use crate::model::minor_of;
use crate::rollout::journal::What;
use crate::rollout::plan::{NodegroupStep, Strategy};

/// The label eksctl puts on its (self-managed) node groups' nodes, and the tag on
/// their Auto Scaling groups.
const GROUP_LABEL: &str = "alpha.eksctl.io/nodegroup-name";
/// The tag the cluster autoscaler's auto-discovery looks for.
const AUTOSCALER_TAG: &str = "k8s.io/cluster-autoscaler/enabled";

const PAUSE_AUTOSCALER: &str = "untag-autoscaler";
const RESTORE_AUTOSCALER: &str = "restore-autoscaler-tag";
const START_BATCH: &str = "start-batch";
const TERMINATE: &str = "terminate-instance";
const UNCORDON: &str = "uncordon";
const START_REFRESH: &str = "start-instance-refresh";
const CANCEL_REFRESH: &str = "cancel-instance-refresh";

/// A node of the group as the step sees it.
#[derive(Clone, Debug)]
struct GroupNode {
    name: String,
    /// The kubelet's minor, e.g. `1.30`.
    minor: Option<String>,
    ready: bool,
    cordoned: bool,
    /// From `spec.providerID` (`aws:///eu-west-1a/i-0abc…`).
    instance: Option<String>,
    created: Option<Timestamp>,
}

/// The group now: its nodes and its Auto Scaling group.
struct Live {
    nodes: Vec<GroupNode>,
    asg: GroupInfo,
}

impl Live {
    fn instance_state(&self, id: &str) -> Option<&str> {
        self.asg
            .instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.lifecycle_state.as_str())
    }

    /// Whether the node's instance is being terminated or already gone from the group.
    fn leaving(&self, n: &GroupNode) -> bool {
        match &n.instance {
            Some(id) => self
                .instance_state(id)
                .is_none_or(|s| s.starts_with("Terminat") || s.starts_with("Detach")),
            None => false,
        }
    }

    /// Nodes that stay: not on their way out.
    fn staying(&self) -> impl Iterator<Item = &GroupNode> {
        self.nodes.iter().filter(|n| !self.leaving(n))
    }

    fn node(&self, name: &str) -> Option<&GroupNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Instances launched and not yet in service.
    fn pending(&self) -> usize {
        self.asg
            .instances
            .iter()
            .filter(|i| i.lifecycle_state.starts_with("Pending"))
            .count()
    }

    /// Ready, schedulable nodes that stay.
    fn serving(&self) -> usize {
        self.staying().filter(|n| n.ready && !n.cordoned).count()
    }
}

fn instance_of(node: &Node) -> Option<String> {
    let id = node.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next()?;
    id.starts_with("i-").then(|| id.to_string())
}

fn group_node(n: &Node) -> GroupNode {
    let status = n.status.as_ref();
    let kubelet = status
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.as_str())
        .unwrap_or_default();
    let ready = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    GroupNode {
        name: n.metadata.name.clone().unwrap_or_default(),
        minor: minor_of(kubelet),
        ready,
        cordoned: n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
        instance: instance_of(n),
        created: n.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

fn client(ctx: &StepCtx<'_>, g: &NodegroupStep) -> Result<kube::Client, StepError> {
    ctx.client.clone().ok_or_else(|| StepError::Failed {
        why: format!(
            "node group {} is self-managed: upshift drains and replaces its nodes itself, and was given no Kubernetes client that may write",
            g.name
        ),
        what_to_do: "drive the rollout from the lead's cockpit, with a kubeconfig context allowed to patch nodes and evict and delete pods".into(),
    })
}

/// Reads the group's nodes and finds its Auto Scaling group: by eksctl's tag, by
/// name, or as the group holding its nodes' instances.
async fn read(ctx: &StepCtx<'_>, client: &kube::Client, g: &NodegroupStep) -> Result<Live, StepError> {
    let lp = ListParams::default().labels(&format!("{GROUP_LABEL}={}", g.name));
    let nodes = Api::<Node>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| kube_failed(&format!("listing the nodes of node group {}", g.name), e))?;
    let mut nodes: Vec<GroupNode> = nodes.items.iter().map(group_node).collect();
    nodes.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    // a group named as the node group needs no listing of every group in the account
    let named = ctx.cloud.describe_groups(std::slice::from_ref(&g.name)).await?;
    let groups = if named.iter().any(|a| a.name == g.name) {
        named
    } else {
        ctx.cloud.describe_groups(&[]).await?
    };
    let ids: BTreeSet<&str> = nodes.iter().filter_map(|n| n.instance.as_deref()).collect();
    let asg = groups
        .iter()
        .find(|a| a.tags.get(GROUP_LABEL) == Some(&g.name))
        .or_else(|| groups.iter().find(|a| a.name == g.name))
        .or_else(|| {
            groups
                .iter()
                .find(|a| a.instances.iter().any(|i| ids.contains(i.id.as_str())))
        })
        .cloned()
        .ok_or_else(|| StepError::Failed {
            why: format!(
                "no Auto Scaling group found for self-managed node group {}: none is tagged {GROUP_LABEL}={0}, named {0}, or holds the instances of its {} node(s)",
                g.name,
                nodes.len()
            ),
            what_to_do: format!(
                "tag the node group's Auto Scaling group with {GROUP_LABEL}={}, or check that the AWS identity may call autoscaling:DescribeAutoScalingGroups, then retry",
                g.name
            ),
        })?;
    Ok(Live { nodes, asg })
}

/// One call of a self-managed node group step.
pub async fn reconcile(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Progress, StepError> {
    let step = format!("nodegroup/{}", g.name);
    let client = client(ctx, g)?;
    ctx.group.auto_continue = g.auto_continue;
    match g.strategy {
        Strategy::Replace => replace(ctx, g, &step, client).await,
        Strategy::InstanceRefresh => refresh(ctx, g, &step, client).await,
        Strategy::EksUpdate => Err(StepError::Unsupported {
            step,
            why: format!(
                "node group {} is self-managed: EKS cannot update it; plan it with strategy replace or instance-refresh",
                g.name
            ),
        }),
    }
}

// ---------------------------------------------------------------- replace

/// The batches this step started, oldest first: when, and their nodes.
fn batches(ctx: &StepCtx<'_>, step: &str) -> Vec<(Timestamp, Vec<String>)> {
    ctx.journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == START_BATCH => Some((e.at, target.split(',').map(str::to_string).collect())),
            _ => None,
        })
        .collect()
}

/// Nodes the operator chose to leave on the old minor.
fn skipped(ctx: &StepCtx<'_>, step: &str) -> BTreeSet<String> {
    ctx.journal
        .decisions(step)
        .filter(|(_, d, _)| *d == "skip-node")
        .filter_map(|(_, _, t)| t.map(str::to_string))
        .collect()
}

/// Whether the operator let batch `batch` start (since the last abort: an abort
/// closes the gates passed before it).
fn gate_passed(ctx: &StepCtx<'_>, step: &str, batch: u32) -> bool {
    if batch <= 1 {
        return true;
    }
    let entries = ctx.journal.entries();
    let from = entries
        .iter()
        .rposition(|e| matches!(&e.what, What::Decision { decision, .. } if decision == "abort"))
        .map_or(0, |i| i + 1);
    let id = gate_id(step, batch);
    entries[from..].iter().any(|e| {
        matches!(&e.what, What::Decision { step: Some(s), decision, .. }
            if *s == id && matches!(decision.as_str(), "proceed" | "override" | "auto-proceed"))
    })
}

/// Whether an action on `target` was journaled in `step` without a result yet.
fn in_doubt(ctx: &StepCtx<'_>, step: &str, action: &str, target: &str) -> bool {
    ctx.journal.in_doubt().iter().any(|e| {
        matches!(&e.what, What::Action { step: s, action: a, target: t }
            if s == step && a == action && t == target)
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn replace(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &str,
    client: kube::Client,
) -> Result<Progress, StepError> {
    let target = ctx.target.to_string();
    let live = read(ctx, &client, g).await?;
    let asg = live.asg.name.clone();
    let skip = skipped(ctx, step);
    let batches = batches(ctx, step);
    let started: BTreeSet<&str> = batches.iter().flat_map(|(_, n)| n.iter().map(String::as_str)).collect();
    let on_target = |n: &GroupNode| n.minor.as_deref() == Some(target.as_str());
    // old nodes no batch has taken yet
    let waiting: Vec<&GroupNode> = live
        .staying()
        .filter(|n| !on_target(n) && !skip.contains(&n.name) && !started.contains(n.name.as_str()))
        .collect();
    let bs = g.batch_size.max(1) as usize;
    let of = (batches.len() + waiting.len().div_ceil(bs)) as u32;
    let skipped_here: Vec<String> = live
        .nodes
        .iter()
        .filter(|n| skip.contains(&n.name))
        .map(|n| n.name.clone())
        .collect();
    ctx.group.old = live.staying().filter(|n| !on_target(n)).count() as u32;
    ctx.group.new = live.staying().filter(|n| on_target(n)).count() as u32;
    ctx.group.batch = batches.len() as u32;
    ctx.group.batches = of;
    ctx.group.skipped = skipped_here.clone();
    ctx.group.draining.clear();
    ctx.group.holding = None;

    if batches.is_empty() && waiting.is_empty() {
        return finish(ctx, g, step, &live, &skipped_here).await;
    }
    if batches.is_empty() {
        precheck(ctx, g, &live, &waiting).await?;
    }
    // a replacement that joined on the old minor: the launch template still boots it
    if let Some((first, _)) = batches.first()
        && let Some(n) = live.staying().find(|n| {
            n.minor.is_some()
                && !on_target(n)
                && n.created.is_some_and(|c| c >= *first)
                && !ctx.retry_requested(step, n.created)
        })
    {
        ctx.state(step, "failed")?;
        return Err(StepError::Failed {
            why: format!(
                "node {} joined node group {} on {} after upshift replaced a node: Auto Scaling group {asg} still launches instances for {}",
                n.name,
                g.name,
                n.minor.as_deref().unwrap_or("?"),
                n.minor.as_deref().unwrap_or("?"),
            ),
            what_to_do: format!(
                "point the launch template of {asg} at an AMI for {target} (e.g. the EKS optimized AMI for {target}), then retry the step; nodes already replaced stay"
            ),
        });
    }
    let opts = ctx.drain.clone();

    // the current batch: its nodes that are still there and not skipped
    if let Some((_, names)) = batches.last() {
        let mut holds = Vec::new();
        let mut busy = Vec::new();
        for name in names {
            let Some(n) = live.node(name) else { continue };
            if live.leaving(n) {
                continue;
            }
            if skip.contains(name) {
                if n.cordoned && !ctx.journal.done(step, UNCORDON, name) {
                    uncordon(ctx, &client, step, name).await?;
                }
                continue;
            }
            let Some(id) = n.instance.clone() else {
                return Err(StepError::Failed {
                    why: format!(
                        "node {name} of node group {} has no AWS instance id in spec.providerID, so upshift cannot terminate it",
                        g.name
                    ),
                    what_to_do: format!(
                        "terminate the instance behind {name} in Auto Scaling group {asg} by hand (without decrementing the desired capacity), or skip the node"
                    ),
                });
            };
            if ctx.journal.done(step, TERMINATE, &id) {
                // terminated: the group's view catches up
                continue;
            }
            acting(ctx, step, &live.asg).await?;
            let progress = drain_node(&mut ctx.drain_ctx(client.clone()), step, name, &opts).await?;
            match progress {
                Progress::Done { .. } => terminate(ctx, g, step, &asg, name, &id).await?,
                Progress::Held { .. } => holds.push(progress),
                other => busy.push((name.clone(), other)),
            }
            ctx.group.draining.push(name.clone());
        }
        if let Some(first) = holds.into_iter().next() {
            if let Progress::Held { what, .. } = &first {
                ctx.group.holding = Some(what.clone());
            }
            return Ok(first);
        }
        if !busy.is_empty() {
            let lines: Vec<String> = busy
                .iter()
                .filter_map(|(_, p)| match p {
                    Progress::Waiting { what, .. } => Some(what.clone()),
                    _ => None,
                })
                .collect();
            return Ok(Progress::Waiting {
                what: format!(
                    "node group {}: batch {} of {of}: draining {}",
                    g.name,
                    batches.len(),
                    busy.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ),
                detail: lines.join("; "),
            });
        }
        // drained and terminated: wait for the replacements
        let leaving: Vec<&str> = names
            .iter()
            .filter(|n| live.node(n).is_some_and(|n| live.leaving(n) || n.cordoned) && !skip.contains(*n))
            .map(String::as_str)
            .collect();
        let want = live.asg.desired.max(0) as usize;
        if !ctx.group.draining.is_empty() || live.serving() < want || live.pending() > 0 {
            return Ok(Progress::Waiting {
                what: format!(
                    "node group {}: batch {} of {of}: waiting for replacements ({} of {want} nodes Ready)",
                    g.name,
                    batches.len(),
                    live.serving()
                ),
                detail: format!(
                    "Auto Scaling group {asg} launches instances for the terminated ones; {} pending; leaving: {}",
                    live.pending(),
                    if leaving.is_empty() {
                        "none".to_string()
                    } else {
                        leaving.join(", ")
                    }
                ),
            });
        }
    }

    if waiting.is_empty() {
        return finish(ctx, g, step, &live, &skipped_here).await;
    }
    let batch = batches.len() as u32 + 1;
    if !gate_passed(ctx, step, batch) {
        return Ok(Progress::Gate { batch, of });
    }
    acting(ctx, step, &live.asg).await?;
    let chosen: Vec<String> = waiting.iter().take(bs).map(|n| n.name.clone()).collect();
    let names = chosen.join(",");
    ctx.action(step, START_BATCH, &names)?;
    ctx.result(step, START_BATCH, &names, true, format!("batch {batch} of {of}"))?;
    ctx.group.batch = batch;
    let mut first_held = None;
    for name in &chosen {
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
            "node group {}: batch {batch} of {of} started: {}",
            g.name,
            chosen.join(", ")
        ),
        detail: format!(
            "cordoning and draining {}; their instances in {asg} are terminated once drained, and replaced",
            chosen.join(", ")
        ),
    })
}

/// About to act on the group: the autoscaler's tag comes off first, and the step runs.
async fn acting(ctx: &mut StepCtx<'_>, step: &str, asg: &GroupInfo) -> Result<(), StepError> {
    pause_autoscaler(ctx, step, asg).await?;
    ctx.state(step, "running")
}

/// Before the first batch: the control plane must be on the target, and the group
/// must not be launching the very image its old nodes run.
async fn precheck(ctx: &mut StepCtx<'_>, g: &NodegroupStep, live: &Live, old: &[&GroupNode]) -> Result<(), StepError> {
    precheck_control_plane(ctx, g).await?;
    let numeric = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    if let Some(lt) = live.asg.launch_template_version.as_deref().filter(|v| numeric(v)) {
        let launched_from = |n: &GroupNode| {
            let id = n.instance.as_deref()?;
            live.asg
                .instances
                .iter()
                .find(|i| i.id == id)?
                .launch_template_version
                .clone()
        };
        let same = !old.is_empty() && old.iter().all(|n| launched_from(n).as_deref() == Some(lt));
        if same {
            let step = format!("nodegroup/{}", g.name);
            ctx.state(&step, "failed")?;
            return Err(StepError::Failed {
                why: format!(
                    "Auto Scaling group {} launches from launch template version {lt}, the one its {} node(s) on {} run: replacements would boot {} again",
                    live.asg.name,
                    old.len(),
                    old[0].minor.as_deref().unwrap_or("the old minor"),
                    old[0].minor.as_deref().unwrap_or("the old minor"),
                ),
                what_to_do: format!(
                    "point the launch template of {} at an AMI for {} and make that version the group's, then retry the step",
                    live.asg.name, ctx.target
                ),
            });
        }
    }
    Ok(())
}

/// Terminates a drained node's instance, once; the group launches its replacement.
async fn terminate(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &str,
    asg: &str,
    node: &str,
    id: &str,
) -> Result<(), StepError> {
    ctx.action(step, TERMINATE, id)?;
    match ctx.cloud.terminate_instance(id, false).await {
        Ok(a) => ctx.result(step, TERMINATE, id, true, format!("node {node}: {}", a.description)),
        Err(e) => {
            ctx.result(step, TERMINATE, id, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!(
                    "terminating instance {id} (node {node}) of node group {} in Auto Scaling group {asg}: {e}",
                    g.name
                ),
                what_to_do: format!(
                    "check that {id} is still in {asg} and the AWS identity may call autoscaling:TerminateInstanceInAutoScalingGroup, then retry; node {node} stays cordoned and drained"
                ),
            })
        }
    }
}

async fn uncordon(ctx: &mut StepCtx<'_>, client: &kube::Client, step: &str, node: &str) -> Result<(), StepError> {
    ctx.action(step, UNCORDON, node)?;
    let patch = serde_json::json!({"spec": {"unschedulable": null}});
    let result = Api::<Node>::all(client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    match result {
        Ok(_) => ctx.result(step, UNCORDON, node, true, String::new()),
        Err(kube::Error::Api(s)) if s.code == 404 => ctx.result(step, UNCORDON, node, true, "node gone".into()),
        Err(e) => {
            ctx.result(step, UNCORDON, node, false, e.to_string())?;
            Err(kube_failed(&format!("uncordoning node {node}"), e))
        }
    }
}

/// Done: every node not skipped is on the target; the autoscaler's tag goes back.
async fn finish(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &str,
    live: &Live,
    skipped: &[String],
) -> Result<Progress, StepError> {
    restore_autoscaler(ctx, step, &live.asg).await?;
    ctx.state(step, "done")?;
    let on_target = live
        .staying()
        .filter(|n| n.minor.as_deref() == Some(ctx.target))
        .count();
    let mut what = format!(
        "node group {} on {}: {on_target} node{}",
        g.name,
        ctx.target,
        plural(on_target)
    );
    if !skipped.is_empty() {
        let minors: BTreeSet<&str> = skipped.iter().filter_map(|n| live.node(n)?.minor.as_deref()).collect();
        what.push_str(&format!(
            "; skipped, left on {}: {}",
            minors.into_iter().collect::<Vec<_>>().join(", "),
            skipped.join(", ")
        ));
    }
    Ok(Progress::Done { what })
}

// ---------------------------------------------------------------- instance refresh

/// The ids of the refreshes this step started, oldest first.
fn our_refreshes(ctx: &StepCtx<'_>, step: &str) -> Vec<String> {
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
            } if s == step && action == START_REFRESH => Some(detail.clone()),
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

async fn refresh(
    ctx: &mut StepCtx<'_>,
    g: &NodegroupStep,
    step: &str,
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
    if let Some(r) = refreshes.iter().find(|r| r.active()) {
        ctx.state(step, "running")?;
        ctx.group.batch = 1;
        ctx.group.batches = 1;
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
                ctx.state(step, "failed")?;
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
            ctx.state(step, "failed")?;
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
    acting(ctx, step, &live.asg).await?;
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

async fn precheck_control_plane(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<(), StepError> {
    let cluster = ctx.cloud.describe_cluster(ctx.cluster).await?;
    if cluster.version != ctx.target {
        return Err(StepError::Failed {
            why: format!(
                "node group {} cannot go to {} while the control plane is on {}",
                g.name, ctx.target, cluster.version
            ),
            what_to_do: "upgrade the control plane first (its step comes before the node groups)".into(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------- the autoscaler's tag

/// The autoscaler tag's value this step took off `asg` and has not put back, and
/// whether taking it off is confirmed by a result.
fn paused_tag(ctx: &StepCtx<'_>, step: &str, asg: &str) -> Option<(String, bool)> {
    let prefix = format!("{asg}:{AUTOSCALER_TAG}=");
    let mut state: Option<(String, bool)> = None;
    for e in ctx.journal.entries() {
        match &e.what {
            What::Action {
                step: s,
                action,
                target,
            } if s == step && action == PAUSE_AUTOSCALER => {
                if let Some(v) = target.strip_prefix(&prefix) {
                    state = Some((v.to_string(), false));
                }
            }
            What::Result {
                step: s,
                action,
                target,
                ok,
                ..
            } if s == step && target.starts_with(&prefix) => {
                if action == PAUSE_AUTOSCALER {
                    if *ok {
                        if let Some(st) = state.as_mut() {
                            st.1 = true;
                        }
                    } else {
                        state = None;
                    }
                } else if action == RESTORE_AUTOSCALER && *ok {
                    state = None;
                }
            }
            _ => {}
        }
    }
    state
}

/// Takes the cluster autoscaler's tag off the group (its value journaled), unless
/// this step already did.
async fn pause_autoscaler(ctx: &mut StepCtx<'_>, step: &str, asg: &GroupInfo) -> Result<(), StepError> {
    let value = match paused_tag(ctx, step, &asg.name) {
        Some((_, true)) => return Ok(()),
        Some((v, false)) => {
            if !asg.tags.contains_key(AUTOSCALER_TAG) {
                let target = format!("{}:{AUTOSCALER_TAG}={v}", asg.name);
                return ctx.result(step, PAUSE_AUTOSCALER, &target, true, "found removed".into());
            }
            v
        }
        None => match asg.tags.get(AUTOSCALER_TAG) {
            Some(v) => v.clone(),
            None => return Ok(()),
        },
    };
    let target = format!("{}:{AUTOSCALER_TAG}={value}", asg.name);
    ctx.action(step, PAUSE_AUTOSCALER, &target)?;
    match ctx.cloud.untag_group(&asg.name, &[AUTOSCALER_TAG.to_string()]).await {
        Ok(()) => ctx.result(
            step,
            PAUSE_AUTOSCALER,
            &target,
            true,
            format!("the cluster autoscaler leaves {} alone until the step ends", asg.name),
        ),
        Err(e) => {
            ctx.result(step, PAUSE_AUTOSCALER, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!(
                    "removing tag {AUTOSCALER_TAG} from Auto Scaling group {} (so that the cluster autoscaler does not fight the replacement): {e}",
                    asg.name
                ),
                what_to_do: "grant autoscaling:DeleteTags on the group, or scale the cluster autoscaler down for the step, then retry".into(),
            })
        }
    }
}

/// Puts the cluster autoscaler's tag back with the value it had, if this step took
/// it off. Returns what it did.
async fn restore_autoscaler(ctx: &mut StepCtx<'_>, step: &str, asg: &GroupInfo) -> Result<Option<String>, StepError> {
    let Some((value, _)) = paused_tag(ctx, step, &asg.name) else {
        return Ok(None);
    };
    let target = format!("{}:{AUTOSCALER_TAG}={value}", asg.name);
    let line = format!(
        "put tag {AUTOSCALER_TAG}={value} back on Auto Scaling group {}",
        asg.name
    );
    if in_doubt(ctx, step, RESTORE_AUTOSCALER, &target) && asg.tags.get(AUTOSCALER_TAG) == Some(&value) {
        ctx.result(step, RESTORE_AUTOSCALER, &target, true, "found in place".into())?;
        return Ok(Some(line));
    }
    ctx.action(step, RESTORE_AUTOSCALER, &target)?;
    match ctx
        .cloud
        .tag_group(&asg.name, &[(AUTOSCALER_TAG.to_string(), value.clone())])
        .await
    {
        Ok(()) => {
            ctx.result(step, RESTORE_AUTOSCALER, &target, true, String::new())?;
            Ok(Some(line))
        }
        Err(e) => {
            ctx.result(step, RESTORE_AUTOSCALER, &target, false, e.to_string())?;
            Err(StepError::Failed {
                why: format!(
                    "putting tag {AUTOSCALER_TAG}={value} back on Auto Scaling group {}: {e}",
                    asg.name
                ),
                what_to_do: format!(
                    "tag {} with {AUTOSCALER_TAG}={value} by hand (the cluster autoscaler ignores the group until then), or retry",
                    asg.name
                ),
            })
        }
    }
}

// ---------------------------------------------------------------- abort

/// Undoes what an aborted self-managed step must not leave half done.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    let step = format!("nodegroup/{}", g.name);
    let client = client(ctx, g)?;
    let live = read(ctx, &client, g).await?;
    let asg = live.asg.name.clone();
    let mut lines = Vec::new();

    let refreshed = ctx
        .journal
        .entries()
        .iter()
        .any(|e| matches!(&e.what, What::Action { step: s, action, .. } if s == &step && action == START_REFRESH));
    if refreshed {
        let refreshes = ctx.cloud.describe_instance_refreshes(&asg).await?;
        if let Some(r) = refreshes.iter().find(|r| r.active() && r.status != "Cancelling") {
            ctx.action(&step, CANCEL_REFRESH, &r.id)?;
            match ctx.cloud.cancel_instance_refresh(&asg).await {
                Ok(_) => {
                    ctx.result(&step, CANCEL_REFRESH, &r.id, true, String::new())?;
                    lines.push(format!(
                        "cancelled instance refresh {} of Auto Scaling group {asg} at {}% (instances already replaced stay)",
                        r.id, r.percentage_complete
                    ));
                }
                Err(e @ CloudError::Invalid { .. }) => {
                    // ActiveInstanceRefreshNotFound: it ended meanwhile
                    ctx.result(&step, CANCEL_REFRESH, &r.id, true, e.to_string())?;
                }
                Err(e) => {
                    ctx.result(&step, CANCEL_REFRESH, &r.id, false, e.to_string())?;
                    return Err(e.into());
                }
            }
        }
    }

    // nodes this step cordoned that stay: schedulable again
    let cordoned_here: BTreeSet<&str> = ctx
        .journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                step: s,
                action,
                target,
                ok: true,
                ..
            } if s == &step && action == "cordon" => Some(target.as_str()),
            _ => None,
        })
        .collect();
    let to_uncordon: Vec<String> = live
        .nodes
        .iter()
        .filter(|n| cordoned_here.contains(n.name.as_str()) && n.cordoned && !live.leaving(n))
        .filter(|n| {
            n.instance
                .as_deref()
                .is_none_or(|id| !ctx.journal.done(&step, TERMINATE, id))
        })
        .map(|n| n.name.clone())
        .collect();
    for name in to_uncordon {
        uncordon(ctx, &client, &step, &name).await?;
        lines.push(format!("uncordoned node {name}"));
    }
    if let Some(line) = restore_autoscaler(ctx, &step, &live.asg).await? {
        lines.push(line);
    }
    Ok(lines)
}
