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
//!
//! `replace` and `refresh` are the two strategies, `autoscaler` the tag; what they
//! share (reading the group, finishing, aborting) is here.

mod autoscaler;
pub(super) mod doubt;
mod drainer;

pub use drainer::{
    DEFAULT_RESULT as HOOK_DEFAULT_RESULT, HEARTBEAT_TIMEOUT as HOOK_HEARTBEAT_TIMEOUT, HOOK as HOOK_NAME,
};
mod refresh;
mod replace;

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::drain::kube_failed;
use super::{Progress, StepCtx, StepError};
use crate::cloud::{CloudError, GroupInfo};
use crate::model::journal::{StepId, StepState, What};
use crate::rollout::plan::{NodegroupStep, Strategy};
use crate::units::Minor;

/// The label eksctl puts on its (self-managed) node groups' nodes, and the tag on
/// their Auto Scaling groups.
const GROUP_LABEL: &str = "alpha.eksctl.io/nodegroup-name";

const TERMINATE: &str = "terminate-instance";
pub(super) const UNCORDON: &str = "uncordon";
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
struct Observed {
    nodes: Vec<GroupNode>,
    asg: GroupInfo,
}

impl Observed {
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
        minor: Minor::parse(kubelet).map(|m| m.to_string()),
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
async fn read(ctx: &StepCtx<'_>, client: &kube::Client, g: &NodegroupStep) -> Result<Observed, StepError> {
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
    Ok(Observed { nodes, asg })
}

/// One call of a self-managed node group step.
pub async fn reconcile(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Progress, StepError> {
    let step = StepId::Nodegroup(g.name.clone());
    let client = client(ctx, g)?;
    ctx.group.auto_continue = g.auto_continue;
    match g.strategy {
        Strategy::Replace => replace::reconcile(ctx, g, &step, client).await,
        Strategy::InstanceRefresh => refresh::reconcile(ctx, g, &step, client).await,
        Strategy::EksUpdate | Strategy::BlueGreen => Err(StepError::Unsupported {
            step,
            why: format!(
                "node group {} is self-managed: EKS cannot update or copy it; plan it with strategy replace or instance-refresh",
                g.name
            ),
        }),
    }
}

/// Whether an action on `target` was journaled in `step` without a result yet.
fn in_doubt(ctx: &StepCtx<'_>, step: &StepId, action: &str, target: &str) -> bool {
    ctx.journal.in_doubt().iter().any(|e| {
        matches!(&e.what, What::Action { step: s, action: a, target: t }
            if s == step && a == action && t == target)
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// About to act on the group: the autoscaler's tag comes off first, and the step runs.
async fn acting(ctx: &mut StepCtx<'_>, step: &StepId, asg: &GroupInfo) -> Result<(), StepError> {
    autoscaler::pause(ctx, step, asg).await?;
    ctx.state(step, StepState::Running)
}

/// Makes a node schedulable again (journaled).
async fn uncordon(ctx: &mut StepCtx<'_>, client: &kube::Client, step: &StepId, node: &str) -> Result<(), StepError> {
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
    step: &StepId,
    live: &Observed,
    skipped: &[String],
) -> Result<Progress, StepError> {
    autoscaler::restore(ctx, step, &live.asg).await?;
    ctx.state(step, StepState::Done)?;
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

/// The control plane must be on the target before a node goes to it.
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

/// Undoes what an aborted self-managed step must not leave half done.
pub async fn abort(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<Vec<String>, StepError> {
    let step = StepId::Nodegroup(g.name.clone());
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
            } if s == &step && action == super::drain::CORDON => Some(target.as_str()),
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
    // the step's termination hook comes off; what it still held terminates now
    let held = drainer::still_held(ctx, &step, &live);
    if let Some(line) = drainer::remove_hook(ctx, &step, &asg).await? {
        lines.push(line);
        if !held.is_empty() {
            lines.push(format!(
                "instance(s) already taken out of service by the refresh terminate now, not drained: {}",
                held.join(", ")
            ));
        }
    }
    if let Some(line) = autoscaler::restore(ctx, &step, &live.asg).await? {
        lines.push(line);
    }
    Ok(lines)
}

/// From the drive's turn, whatever its phase: heartbeats for the instances an
/// `instance-refresh` step drained by upshift holds in its hook (a gate between
/// batches, a pause, a held drain). Asks nothing of AWS while none is due.
pub async fn keep_alive(ctx: &mut StepCtx<'_>, g: &NodegroupStep) -> Result<(), StepError> {
    if g.group_type != crate::rollout::plan::GroupType::SelfManaged
        || g.strategy != Strategy::InstanceRefresh
        || g.drainer != Some(crate::rollout::plan::Drainer::Upshift)
    {
        return Ok(());
    }
    drainer::keep_alive(ctx, &StepId::Nodegroup(g.name.clone())).await
}
