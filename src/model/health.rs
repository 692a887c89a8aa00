//! The cluster's health as a gate judges it: a small extract of the signals that the
//! cockpit's loop hands to the drive. Pure data and a pure function of the signals.

use std::collections::BTreeMap;

use super::Signals;
use super::availability::WorkloadRow;

/// A pod with no controller, where it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerlessPod {
    /// `namespace/name`
    pub pod: String,
    pub node: Option<String>,
    /// The node's group.
    pub group: Option<String>,
}

/// A node as a drain's zone check needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePlace {
    pub name: String,
    pub group: String,
    pub zone: String,
    pub instance_type: String,
    /// Its kubelet's minor, `1.31`.
    pub minor: String,
    pub created: Option<super::Timestamp>,
    /// Ready, not cordoned, not being removed: it takes new pods.
    pub schedulable: bool,
    pub cordoned: bool,
    pub terminating: bool,
}

/// A critical component as the verdict judges it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentHealth {
    /// `DNS kube-system/coredns`
    pub name: String,
    pub image: String,
    pub available: u32,
    pub desired: u32,
}

/// The cluster's health as a gate judges it: a small extract of the signals, sent
/// from the cockpit's loop to the drive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Every watch has listed once: before that, nothing is judged green.
    pub synced: bool,
    pub unscheduled: usize,
    /// The scheduler's reasons with counts, most frequent first.
    pub unscheduled_reasons: Vec<(String, usize)>,
    pub pod_errors: usize,
    /// "shop/recommendations CrashLoopBackOff ×3"
    pub error_workloads: Vec<String>,
    pub nodes: usize,
    pub not_ready: Vec<String>,
    /// "DNS kube-system/coredns 1/2 available"
    pub components_down: Vec<String>,
    /// "payments/ledger (0 disruptions allowed)"
    pub blocking_pdbs: Vec<String>,
    /// Per node group: nodes per kubelet minor.
    pub groups: BTreeMap<String, BTreeMap<String, u32>>,
    /// Workloads not fully available, down first.
    pub workloads: Vec<WorkloadRow>,
    /// Services with a selector and no ready endpoint.
    pub services_down: Vec<String>,
    /// Pods no controller would bring back.
    pub ownerless: Vec<OwnerlessPod>,
    /// Nodes cordoned and not being removed.
    pub cordoned: Vec<String>,
    pub components: Vec<ComponentHealth>,
    /// Running pods with volumes bound to one zone.
    pub zonal: Vec<super::volume::ZonalPod>,
    /// Every node's group, zone and whether it takes pods (when `zonal` is not empty).
    pub places: Vec<NodePlace>,
}

impl Health {
    pub fn from_signals(s: &Signals) -> Health {
        let components_down = s
            .components
            .items
            .iter()
            .filter(|c| !c.healthy())
            .map(|c| {
                format!(
                    "{} {} {}/{} available",
                    c.category.label(),
                    c.key(),
                    c.available,
                    c.desired
                )
            })
            .collect();
        let groups = s
            .nodes
            .groups
            .iter()
            .map(|g| {
                let minors = g.versions.iter().map(|(v, n)| (v.clone(), *n as u32)).collect();
                (g.name.clone(), minors)
            })
            .collect();
        let group_of: std::collections::HashMap<&str, &str> = s
            .nodes
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.group.as_str()))
            .collect();
        let a = &s.availability;
        Health {
            zonal: s.zonal.clone(),
            // only a cluster with zonal volumes needs the nodes' places
            places: s
                .nodes
                .rows
                .iter()
                .filter(|_| !s.zonal.is_empty())
                .map(|r| NodePlace {
                    name: r.name.clone(),
                    group: r.group.clone(),
                    zone: r.zone.clone(),
                    instance_type: r.instance_type.clone(),
                    minor: r.minor.clone(),
                    created: r.created,
                    schedulable: r.ready && !r.cordoned && !r.terminating,
                    cordoned: r.cordoned,
                    terminating: r.terminating,
                })
                .collect(),
            workloads: a.rows.clone(),
            services_down: a.services_down.clone(),
            ownerless: a
                .ownerless
                .iter()
                .map(|(pod, node)| OwnerlessPod {
                    pod: pod.clone(),
                    group: node.as_deref().and_then(|n| group_of.get(n)).map(|g| g.to_string()),
                    node: node.clone(),
                })
                .collect(),
            cordoned: s
                .nodes
                .rows
                .iter()
                .filter(|r| r.cordoned && !r.terminating)
                .map(|r| r.name.clone())
                .collect(),
            components: s
                .components
                .items
                .iter()
                .map(|c| ComponentHealth {
                    name: format!("{} {}", c.category.label(), c.key()),
                    image: c.image.clone(),
                    available: c.available,
                    desired: c.desired,
                })
                .collect(),
            synced: s.synced,
            unscheduled: s.unscheduled.count,
            unscheduled_reasons: s.unscheduled.reasons.clone(),
            pod_errors: s.errors.pods,
            error_workloads: s
                .errors
                .top
                .iter()
                .map(|o| format!("{} {} ×{}", o.workload, o.reason, o.pods))
                .collect(),
            nodes: s.nodes.all.total,
            not_ready: s
                .nodes
                .rows
                .iter()
                .filter(|r| !r.ready && !r.terminating)
                .map(|r| r.name.clone())
                .collect(),
            components_down,
            blocking_pdbs: s
                .components
                .blocking_pdbs
                .iter()
                .map(|p| {
                    format!(
                        "{}/{} ({} healthy, {} required, {} disruptions allowed)",
                        p.namespace, p.name, p.current_healthy, p.desired_healthy, p.disruptions_allowed
                    )
                })
                .collect(),
            groups,
        }
    }

    /// Nodes of `group` on `minor`, and on any other minor.
    pub fn group_counts(&self, group: &str, minor: &str) -> (u32, u32) {
        let Some(m) = self.groups.get(group) else {
            return (0, 0);
        };
        let new = m.get(minor).copied().unwrap_or(0);
        let old = m.values().sum::<u32>() - new;
        (old, new)
    }
}
