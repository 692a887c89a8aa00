//! Discovery for a plan, read-only: the control plane's version from the API
//! server, node groups from the nodes' labels (managed: `eks.amazonaws.com/nodegroup`;
//! self-managed: `alpha.eksctl.io/nodegroup-name`), and, when EKS is asked, the
//! cluster's version, its managed node groups, and each installed add-on with the
//! versions EKS offers for the target.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use super::{GroupType, Live, LiveAddon, LiveGroup};
use crate::cloud::{Cloud, CloudError};
use crate::model::minor_of;

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

/// Reads what a plan needs, without writing anything. `eks` is the cloud and the
/// EKS cluster's name, when EKS should be asked; `cluster` names the cluster
/// otherwise (the kubeconfig's).
pub async fn discover(
    client: &kube::Client,
    cluster: &str,
    eks: Option<(&dyn Cloud, &str)>,
    target: &str,
) -> Result<Live, DiscoverError> {
    let version = client.apiserver_version().await.map_err(DiscoverError::Version)?;
    let control_plane =
        minor_of(&version.git_version).ok_or_else(|| DiscoverError::BadVersion(version.git_version.clone()))?;
    let mut live = Live {
        cluster: cluster.to_string(),
        control_plane,
        ..Live::default()
    };
    let nodes = list_nodes(client).await.map_err(DiscoverError::Nodes)?;
    let mut groups: BTreeMap<String, LiveGroup> = BTreeMap::new();
    for n in &nodes {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let (name, group_type) = if let Some(g) = labels.get(MANAGED_LABEL) {
            (g.clone(), GroupType::Managed)
        } else if let Some(g) = labels.get(SELF_MANAGED_LABEL) {
            (g.clone(), GroupType::SelfManaged)
        } else {
            // Karpenter, Fargate and unlabelled nodes are not node groups upshift upgrades
            continue;
        };
        let kubelet = n
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.as_str())
            .unwrap_or_default();
        let g = groups.entry(name.clone()).or_insert_with(|| LiveGroup {
            name,
            group_type,
            size: 0,
            minors: BTreeMap::new(),
        });
        g.size += 1;
        *g.minors.entry(minor_of(kubelet).unwrap_or_default()).or_default() += 1;
    }
    if let Some((cloud, name)) = eks {
        let err = |source| DiscoverError::Eks {
            cluster: name.to_string(),
            source,
        };
        let info = cloud.describe_cluster(name).await.map_err(err)?;
        live.cluster = info.name.clone();
        if let Some(m) = minor_of(&info.version) {
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
                            });
                            g.group_type = GroupType::Managed;
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
    }
    live.groups = groups.into_values().collect();
    Ok(live)
}

/// Lists nodes, 500 at a time, keeping only what discovery reads.
async fn list_nodes(client: &kube::Client) -> Result<Vec<Node>, kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list(&lp).await?;
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Ok(out),
        }
    }
}
