//! What a `blue-green` step reads before it acts: the two groups as EKS describes
//! them, their nodes, and the pods that select the old group by EKS's group label.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use super::super::drain::kube_failed;
use super::super::{StepCtx, StepError};
use super::GROUP_LABEL;
use crate::cloud::{CloudError, NodegroupInfo};
use crate::units::Minor;

/// A node as this step sees it.
#[derive(Clone, Debug)]
pub(super) struct GroupNode {
    pub(super) name: String,
    pub(super) minor: Option<String>,
    pub(super) ready: bool,
    pub(super) cordoned: bool,
    pub(super) created: Option<Timestamp>,
}

fn group_node(n: &Node) -> GroupNode {
    let status = n.status.as_ref();
    let kubelet = status
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.as_str())
        .unwrap_or_default();
    GroupNode {
        name: n.metadata.name.clone().unwrap_or_default(),
        minor: Minor::parse(kubelet).map(|m| m.to_string()),
        ready: status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        cordoned: n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true),
        created: n.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

/// The nodes of managed group `group`, oldest first.
pub(super) async fn nodes_of(client: &kube::Client, group: &str) -> Result<Vec<GroupNode>, StepError> {
    let lp = ListParams::default().labels(&format!("{GROUP_LABEL}={group}"));
    let list = Api::<Node>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| kube_failed(&format!("listing the nodes of node group {group}"), e))?;
    let mut nodes: Vec<GroupNode> = list.items.iter().map(group_node).collect();
    nodes.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    Ok(nodes)
}

/// Pods on `nodes` (DaemonSet pods aside) that select group `group`'s nodes by EKS's
/// group label, in a nodeSelector or a required node affinity: they cannot move to
/// a copy, whose nodes carry the copy's name.
pub(super) async fn pinned_pods(
    client: &kube::Client,
    nodes: &[GroupNode],
    group: &str,
) -> Result<Vec<String>, StepError> {
    use k8s_openapi::api::core::v1::Pod;
    let mut pinned = Vec::new();
    for n in nodes {
        let lp = ListParams::default().fields(&format!("spec.nodeName={}", n.name));
        let pods = Api::<Pod>::all(client.clone())
            .list(&lp)
            .await
            .map_err(|e| kube_failed(&format!("listing the pods on node {}", n.name), e))?;
        for p in &pods.items {
            let daemon = p
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o.kind == "DaemonSet");
            let Some(spec) = p.spec.as_ref().filter(|_| !daemon) else {
                continue;
            };
            let by_selector = spec
                .node_selector
                .as_ref()
                .is_some_and(|s| s.get(GROUP_LABEL).is_some_and(|v| v == group));
            let by_affinity = spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
                .is_some_and(|r| {
                    r.node_selector_terms.iter().any(|t| {
                        t.match_expressions.as_deref().unwrap_or_default().iter().any(|e| {
                            e.key == GROUP_LABEL
                                && e.operator == "In"
                                && e.values.as_deref().unwrap_or_default().iter().any(|v| v == group)
                        })
                    })
                });
            if by_selector || by_affinity {
                pinned.push(format!(
                    "{}/{}",
                    p.metadata.namespace.as_deref().unwrap_or_default(),
                    p.metadata.name.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    Ok(pinned)
}

/// The first few of a list, and how many more.
pub(super) fn shortlist(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

/// The group as EKS describes it, None when EKS has none of that name.
pub(super) async fn describe(ctx: &StepCtx<'_>, name: &str) -> Result<Option<NodegroupInfo>, StepError> {
    match ctx.cloud.describe_nodegroup(ctx.cluster, name).await {
        Ok(n) => Ok(Some(n)),
        Err(CloudError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
