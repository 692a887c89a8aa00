//! Discovery for a plan, read-only by type (it holds a [`ClusterReader`] and a
//! [`CloudRead`]): the control plane's version from the API server, node groups from
//! the nodes' labels (managed: `eks.amazonaws.com/nodegroup`; self-managed:
//! `alpha.eksctl.io/nodegroup-name`), and, when EKS is asked, the cluster's version,
//! its managed node groups, each installed add-on with the versions EKS offers for
//! the target, and what would drain an instance refresh of each self-managed group
//! (its termination hooks, aws-node-termination-handler and its mode); Karpenter's
//! NodePools and their nodes (`nodepools.rs`). Fargate nodes
//! (`eks.amazonaws.com/compute-type: fargate`) are counted per kubelet minor. The
//! pods are read for one thing: which select a managed group by its name, which pins
//! them to it (a blue-green copy has another name).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::{GroupType, Live, LiveAddon, LiveGroup};
use crate::cloud::{CloudError, CloudRead};
use crate::cluster::ClusterReader;
use crate::units::Minor;

/// The label EKS puts on a managed node group's nodes.
const MANAGED_LABEL: &str = "eks.amazonaws.com/nodegroup";
/// The label EKS puts on Fargate nodes (`fargate`).
const FARGATE_LABEL: &str = "eks.amazonaws.com/compute-type";
/// The label eksctl puts on its (self-managed) node groups' nodes.
const SELF_MANAGED_LABEL: &str = "alpha.eksctl.io/nodegroup-name";

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("reading the API server's version: {0} (check the context and your credentials)")]
    Version(#[source] kube::Error),
    #[error("the API server reports version {0:?}, which names no Kubernetes minor")]
    BadVersion(String),
    #[error("listing nodes: {0} (planning needs get/list on nodes; see docs/rbac)")]
    Nodes(#[source] kube::Error),
    #[error("asking EKS about cluster {cluster}: {source}")]
    Eks {
        cluster: String,
        #[source]
        source: CloudError,
    },
}

/// Reads what a plan needs, through readers: nothing it holds can write. `eks` is
/// the cloud and the EKS cluster's name, when EKS should be asked; `cluster` names
/// the cluster otherwise (the kubeconfig's).
pub async fn discover(
    reader: &ClusterReader,
    cluster: &str,
    eks: Option<(&dyn CloudRead, &str)>,
    target: &str,
) -> Result<Live, DiscoverError> {
    let version = reader.server_version().await.map_err(DiscoverError::Version)?;
    let control_plane = Minor::parse(&version)
        .map(|m| m.to_string())
        .ok_or_else(|| DiscoverError::BadVersion(version.clone()))?;
    let mut live = Live {
        cluster: cluster.to_string(),
        control_plane,
        ..Live::default()
    };
    // nodes, 500 a page, keeping only what discovery reads
    let nodes = reader
        .list_all::<Node, _>(|n| (n.metadata.labels.clone().unwrap_or_default(), kubelet_of(n)))
        .await
        .map_err(DiscoverError::Nodes)?;
    let mut groups: BTreeMap<String, LiveGroup> = BTreeMap::new();
    let mut pool_nodes: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    for (labels, kubelet) in &nodes {
        if labels.get(FARGATE_LABEL).is_some_and(|v| v == "fargate") {
            // a Fargate node runs one pod: the plan's fargate step restarts them
            let minor = Minor::parse(kubelet).map(|m| m.to_string()).unwrap_or_default();
            *live.fargate.entry(minor).or_default() += 1;
            continue;
        }
        if let Some(pool) = labels.get(crate::cluster::karpenter::NODEPOOL_LABEL) {
            *pool_nodes
                .entry(pool.clone())
                .or_default()
                .entry(Minor::parse(kubelet).map(|m| m.to_string()).unwrap_or_default())
                .or_default() += 1;
        }
        let (name, group_type) = if let Some(g) = labels.get(MANAGED_LABEL) {
            (g.clone(), GroupType::Managed)
        } else if let Some(g) = labels.get(SELF_MANAGED_LABEL) {
            (g.clone(), GroupType::SelfManaged)
        } else {
            // Karpenter, Fargate and unlabelled nodes are not node groups upshift upgrades
            continue;
        };
        let g = groups.entry(name.clone()).or_insert_with(|| LiveGroup {
            name,
            group_type,
            size: 0,
            minors: BTreeMap::new(),
            ami_type: None,
            selected_by: Vec::new(),
        });
        g.size += 1;
        *g.minors
            .entry(Minor::parse(kubelet).map(|m| m.to_string()).unwrap_or_default())
            .or_default() += 1;
    }
    match super::nodepools::discover(reader, pool_nodes).await {
        Ok(pools) => live.nodepools = pools,
        Err(unreadable) => live.unreadable.push(unreadable),
    }
    if let Some((cloud, name)) = eks {
        let err = |source| DiscoverError::Eks {
            cluster: name.to_string(),
            source,
        };
        let info = cloud.describe_cluster(name).await.map_err(err)?;
        live.cluster = info.name.clone();
        if let Some(m) = Minor::parse(&info.version).map(|m| m.to_string()) {
            // EKS's word on the control plane is the one its update API acts on
            live.control_plane = m;
        }
        match cloud.list_nodegroups(name).await {
            Ok(names) => {
                for ng in names {
                    match cloud.describe_nodegroup(name, &ng).await {
                        Ok(info) => {
                            let g = groups.entry(ng.clone()).or_insert_with(|| LiveGroup {
                                name: ng.clone(),
                                group_type: GroupType::Managed,
                                size: 0,
                                minors: BTreeMap::new(),
                                ami_type: None,
                                selected_by: Vec::new(),
                            });
                            g.group_type = GroupType::Managed;
                            g.ami_type = info.config.ami_type.clone();
                            if g.size == 0 {
                                g.size = u32::try_from(info.desired).unwrap_or(0);
                            }
                        }
                        Err(e) => live.unreadable.push((format!("EKS node group {ng}"), e.to_string())),
                    }
                }
            }
            Err(e) => live.unreadable.push(("EKS node groups".into(), e.to_string())),
        }
        let mut addons = Vec::new();
        match cloud.list_addons(name).await {
            Ok(names) => {
                for a in names {
                    let installed = match cloud.describe_addon(name, &a).await {
                        Ok(info) => info,
                        Err(e) => {
                            live.unreadable.push((format!("EKS add-on {a}"), e.to_string()));
                            continue;
                        }
                    };
                    match cloud.addon_versions(&a, target).await {
                        Ok(v) => addons.push(LiveAddon {
                            name: a,
                            version: installed.version,
                            offered: v.versions,
                            default: v.default,
                        }),
                        Err(e) => live
                            .unreadable
                            .push((format!("versions of EKS add-on {a} for {target}"), e.to_string())),
                    }
                }
            }
            Err(e) => live.unreadable.push(("EKS add-ons".into(), e.to_string())),
        }
        live.addons = Some(addons);
        // what would drain an instance refresh of each self-managed group
        let self_managed: Vec<(String, Option<crate::preflight::drainers::Drainer>)> = groups
            .values()
            .filter(|g| g.group_type == GroupType::SelfManaged)
            .map(|g| (g.name.clone(), None))
            .collect();
        live.drainers = Some(crate::preflight::drainers::gather(reader, cloud, &self_managed).await);
    }
    // which workloads' pods select a managed group by its name, 500 pods a page
    match reader
        .list_all::<Pod, _>(|p| (workload_of(p), selected_groups(p)))
        .await
    {
        Ok(pods) => {
            for (workload, selected) in pods {
                for name in selected {
                    if let Some(g) = groups.get_mut(&name)
                        && g.group_type == GroupType::Managed
                        && !g.selected_by.contains(&workload)
                    {
                        g.selected_by.push(workload.clone());
                    }
                }
            }
            for g in groups.values_mut() {
                g.selected_by.sort();
            }
        }
        Err(e) => live.unreadable.push((
            "pods (which select a node group by its name)".into(),
            format!("{e}; planning needs list on pods to see them (see docs/rbac)"),
        )),
    }
    live.groups = groups.into_values().collect();
    Ok(live)
}

/// `namespace/name` of what runs the pod: its controller (a ReplicaSet's Deployment
/// by the name's hash suffix dropped), else the pod itself.
fn workload_of(p: &Pod) -> String {
    let ns = p.metadata.namespace.as_deref().unwrap_or("default");
    let owner = p
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| match o.kind.as_str() {
            "ReplicaSet" => o
                .name
                .rsplit_once('-')
                .map_or(o.name.as_str(), |(deployment, _)| deployment)
                .to_string(),
            _ => o.name.clone(),
        });
    format!(
        "{ns}/{}",
        owner.unwrap_or_else(|| p.metadata.name.clone().unwrap_or_default())
    )
}

/// The managed node groups a pod can only run on, by their name: its nodeSelector's
/// `eks.amazonaws.com/nodegroup`, or a required node affinity every term of which
/// holds that label `In` a list of names.
pub(super) fn selected_groups(p: &Pod) -> Vec<String> {
    let Some(spec) = &p.spec else { return Vec::new() };
    if let Some(g) = spec.node_selector.as_ref().and_then(|s| s.get(MANAGED_LABEL)) {
        return vec![g.clone()];
    }
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or_default();
    let mut names = Vec::new();
    for term in terms {
        let pinned: Vec<&String> = term
            .match_expressions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|e| e.key == MANAGED_LABEL && e.operator == "In")
            .flat_map(|e| e.values.as_deref().unwrap_or_default())
            .collect();
        if pinned.is_empty() {
            // this term lets the pod run on nodes of any group
            return Vec::new();
        }
        names.extend(pinned.into_iter().cloned());
    }
    names.sort();
    names.dedup();
    names
}

/// A node's kubelet version, e.g. `v1.30.4-eks-a737599`.
fn kubelet_of(n: &Node) -> String {
    n.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "kube-system"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn affinity(terms: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
        })
    }

    #[test]
    fn a_pod_selects_a_group_by_node_selector_or_by_every_term_of_a_required_affinity() {
        let by_selector = pod(serde_json::json!({
            "containers": [],
            "nodeSelector": {"eks.amazonaws.com/nodegroup": "system", "kubernetes.io/os": "linux"},
        }));
        assert_eq!(selected_groups(&by_selector), ["system"]);
        let by_affinity = pod(affinity(serde_json::json!([
            {"matchExpressions": [{"key": "eks.amazonaws.com/nodegroup", "operator": "In", "values": ["system", "infra"]}]},
            {"matchExpressions": [{"key": "eks.amazonaws.com/nodegroup", "operator": "In", "values": ["system"]}]},
        ])));
        assert_eq!(selected_groups(&by_affinity), ["infra", "system"]);
        // a term without the label lets the pod run anywhere: not pinned
        let open_term = pod(affinity(serde_json::json!([
            {"matchExpressions": [{"key": "eks.amazonaws.com/nodegroup", "operator": "In", "values": ["system"]}]},
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]},
        ])));
        assert!(selected_groups(&open_term).is_empty());
        // NotIn and Exists name no group to stay on; another label is not the group's name
        let not_in = pod(affinity(serde_json::json!([
            {"matchExpressions": [{"key": "eks.amazonaws.com/nodegroup", "operator": "NotIn", "values": ["batch"]}]},
        ])));
        assert!(selected_groups(&not_in).is_empty());
        let by_role = pod(serde_json::json!({"containers": [], "nodeSelector": {"role": "system"}}));
        assert!(selected_groups(&by_role).is_empty());
    }
}
