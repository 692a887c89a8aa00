//! Discovery for a plan, read-only by type (it holds a [`ClusterReader`] and a
//! [`CloudRead`]): the control plane's version from the API server, node groups from
//! the nodes' labels (managed: `eks.amazonaws.com/nodegroup`; self-managed:
//! `alpha.eksctl.io/nodegroup-name`), and, when EKS is asked, the cluster's version,
//! its managed node groups, each installed add-on with the versions EKS offers for
//! the target, and what would drain an instance refresh of each self-managed group
//! (its termination hooks, aws-node-termination-handler and its mode); Karpenter's
//! NodePools and their nodes (`nodepools.rs`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::{GroupType, Live, LiveAddon, LiveGroup};
use crate::cloud::{CloudError, CloudRead};
use crate::cluster::ClusterReader;
use crate::units::Minor;

/// The label EKS puts on a managed node group's nodes.
const MANAGED_LABEL: &str = "eks.amazonaws.com/nodegroup";
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
    live.groups = groups.into_values().collect();
    Ok(live)
}

/// A node's kubelet version, e.g. `v1.30.4-eks-a737599`.
fn kubelet_of(n: &Node) -> String {
    n.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default()
}
