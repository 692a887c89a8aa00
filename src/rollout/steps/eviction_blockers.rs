//! What held a managed node group's update: EKS's `PodEvictionFailure` names the
//! nodes it could not drain but not the pods or budgets (containers-roadmap #1282), so
//! they are read from the cluster: the pods still on those nodes that a drain would
//! evict, and the PodDisruptionBudgets covering them that allow no disruption now.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};

/// The most pods named per node (the rest are counted).
const MAX_PODS: usize = 3;

/// One pod a budget holds on a node EKS could not drain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    pub node: String,
    /// `namespace/name`
    pub pod: String,
    /// `PodDisruptionBudget payments/ledger (2 healthy, 2 required, 0 disruptions allowed)`
    pub budget: String,
}

/// The pods held by budgets on `nodes`, read from the cluster; empty when nothing
/// could be read (the failure is then said without them).
pub async fn on_nodes(client: &kube::Client, nodes: &[String]) -> Vec<Blocker> {
    let mut out = Vec::new();
    let mut budgets: BTreeMap<String, Vec<PodDisruptionBudget>> = BTreeMap::new();
    for node in nodes {
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let Ok(pods) = Api::<Pod>::all(client.clone()).list(&lp).await else {
            continue;
        };
        for pod in pods.items.iter().filter(|p| evicted_by_a_drain(p)) {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            if !budgets.contains_key(&ns) {
                let list = Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                budgets.insert(ns.clone(), list);
            }
            for b in budgets.get(&ns).into_iter().flatten().filter(|b| holds(b, pod)) {
                out.push(Blocker {
                    node: node.clone(),
                    pod: format!("{ns}/{}", pod.metadata.name.as_deref().unwrap_or_default()),
                    budget: describe(b),
                });
            }
        }
    }
    out
}

/// `on ip-10-0-1-12: pod payments/ledger-… held by PodDisruptionBudget payments/ledger (…)`,
/// a few pods per node, the rest counted.
pub fn say(blockers: &[Blocker]) -> String {
    let mut by_node: BTreeMap<&str, Vec<&Blocker>> = BTreeMap::new();
    for b in blockers {
        by_node.entry(b.node.as_str()).or_default().push(b);
    }
    by_node
        .into_iter()
        .map(|(node, bs)| {
            let mut pods: Vec<String> = bs
                .iter()
                .take(MAX_PODS)
                .map(|b| format!("pod {} held by {}", b.pod, b.budget))
                .collect();
            if bs.len() > MAX_PODS {
                pods.push(format!("{} more", bs.len() - MAX_PODS));
            }
            format!("on {node}: {}", pods.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A pod a drain evicts: not a DaemonSet's, not a mirror pod, not finished.
fn evicted_by_a_drain(p: &Pod) -> bool {
    let daemon = p
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
    let mirror = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let finished = matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    !(daemon || mirror || finished)
}

/// Whether budget `b` covers `pod` and allows no disruption now.
fn holds(b: &PodDisruptionBudget, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let selector = b
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| s.match_labels.as_ref());
    let covers = selector.is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let allowed = b.status.as_ref().map_or(0, |s| s.disruptions_allowed);
    covers && allowed == 0
}

fn describe(b: &PodDisruptionBudget) -> String {
    let st = b.status.as_ref();
    format!(
        "PodDisruptionBudget {}/{} ({} healthy, {} required, {} disruptions allowed)",
        b.metadata.namespace.as_deref().unwrap_or_default(),
        b.metadata.name.as_deref().unwrap_or_default(),
        st.map_or(0, |s| s.current_healthy),
        st.map_or(0, |s| s.desired_healthy),
        st.map_or(0, |s| s.disruptions_allowed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocker(node: &str, pod: &str) -> Blocker {
        Blocker {
            node: node.into(),
            pod: pod.into(),
            budget: "PodDisruptionBudget payments/ledger (2 healthy, 2 required, 0 disruptions allowed)".into(),
        }
    }

    #[test]
    fn says_each_node_with_its_held_pods_and_counts_the_rest() {
        let said = say(&[
            blocker("ip-1", "payments/ledger-a"),
            blocker("ip-2", "payments/ledger-b"),
            blocker("ip-2", "payments/ledger-c"),
            blocker("ip-2", "payments/ledger-d"),
            blocker("ip-2", "payments/ledger-e"),
        ]);
        assert!(
            said.starts_with(
                "on ip-1: pod payments/ledger-a held by PodDisruptionBudget payments/ledger (2 healthy, 2 required, 0 disruptions allowed); on ip-2: "
            ),
            "{said}"
        );
        assert!(said.ends_with(", 1 more"), "{said}");
        assert_eq!(say(&[]), "");
    }
}
