//! What a NodePool step reads before it acts: the NodePool's budgets, its nodes
//! (minor, drifted, being disrupted) and its NodeClaims still launching.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::super::StepError;
use super::super::drain::kube_failed;
use crate::cluster::karpenter::{self, NODEPOOL_LABEL};
use crate::units::Minor;

/// The taint Karpenter puts on a node it disrupts.
const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";

/// A node of the NodePool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolNode {
    pub name: String,
    /// Its kubelet's minor, e.g. `1.30`.
    pub minor: String,
    /// Its NodeClaim is `Drifted`.
    pub drifted: bool,
    /// Karpenter is replacing it (tainted `karpenter.sh/disrupted`, or deleting).
    pub disrupting: bool,
}

/// The NodePool now.
#[derive(Clone, Debug, Default)]
pub struct PoolView {
    /// `spec.disruption.budgets` (Null when none).
    pub budgets: Value,
    pub nodes: Vec<PoolNode>,
    /// NodeClaims launched and not Ready yet.
    pub launching: u32,
}

impl PoolView {
    /// Nodes not on `target`.
    pub fn old<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a PoolNode> + 'a {
        self.nodes.iter().filter(move |n| n.minor != target)
    }

    pub fn disrupting(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.disrupting)
            .map(|n| n.name.clone())
            .collect()
    }
}

/// The NodePool `name`, or None when it is gone.
pub async fn pool(client: &kube::Client, name: &str) -> Result<Option<DynamicObject>, StepError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &karpenter::nodepools());
    api.get_opt(name)
        .await
        .map_err(|e| kube_failed(&format!("reading NodePool {name}"), e))
}

/// Reads the NodePool's budgets, nodes and NodeClaims.
pub async fn view(client: &kube::Client, name: &str) -> Result<Option<PoolView>, StepError> {
    let Some(p) = pool(client, name).await? else {
        return Ok(None);
    };
    let lp = ListParams::default().labels(&format!("{NODEPOOL_LABEL}={name}"));
    let claims = Api::<DynamicObject>::all_with(client.clone(), &karpenter::nodeclaims())
        .list(&lp)
        .await
        .map_err(|e| kube_failed(&format!("listing NodePool {name}'s NodeClaims"), e))?
        .items;
    let nodes = Api::<Node>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| kube_failed(&format!("listing NodePool {name}'s nodes"), e))?
        .items;
    let node_of = |c: &DynamicObject| {
        c.data
            .pointer("/status/nodeName")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let drifted: Vec<String> = claims
        .iter()
        .filter(|c| karpenter::condition(c, karpenter::DRIFTED) == Some("True"))
        .filter_map(node_of)
        .collect();
    let launching = claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none() && karpenter::condition(c, "Ready") != Some("True"))
        .count() as u32;
    let nodes = nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let kubelet = n
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone())
                .unwrap_or_default();
            let tainted = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| t.key == DISRUPTED_TAINT));
            PoolNode {
                minor: Minor::parse(&kubelet).map(|m| m.to_string()).unwrap_or_default(),
                drifted: drifted.contains(&name),
                disrupting: tainted || n.metadata.deletion_timestamp.is_some(),
                name,
            }
        })
        .collect();
    Ok(Some(PoolView {
        budgets: karpenter::budgets(&p),
        nodes,
        launching,
    }))
}
