//! EKS upgrade insights for the simulated cluster (`ListInsights`, `DescribeInsight`),
//! computed from the world: kubelet skew against the next minor, add-ons that do
//! not run on it, and the APIs it removes (the simulator records no use of them).

use super::eks::next_minor;
use super::{World, addons, fnv, minor_of};

#[derive(Clone, Debug)]
pub struct Insight {
    pub id: String,
    pub name: String,
    pub category: &'static str,
    pub kubernetes_version: String,
    /// PASSING, WARNING, ERROR or UNKNOWN.
    pub status: &'static str,
    pub reason: String,
    pub description: String,
    pub recommendation: String,
    /// Resources concerned: (name or ARN, status).
    pub resources: Vec<(String, &'static str)>,
}

fn id_for(cluster: &str, name: &str) -> String {
    let a = fnv(format!("{cluster}/{name}").as_bytes());
    let b = fnv(format!("{name}/{cluster}").as_bytes());
    format!(
        "{a:08x}-{:04x}-4{:03x}-a{:03x}-{b:08x}{:04x}",
        a >> 16,
        b & 0xfff,
        a & 0xfff,
        (a ^ b) & 0xffff
    )
}

/// The upgrade readiness insights for moving to the next minor version.
pub fn all(w: &World) -> Vec<Insight> {
    let current = minor_of(&w.cluster.version);
    let next = next_minor(&current).unwrap_or_else(|| current.clone());
    let next_n = super::eks::minor_number(&next).unwrap_or(0);
    let cluster = w.cluster.name.clone();
    let allowed_skew = if next_n >= 28 { 3 } else { 2 };
    let mut skewed = Vec::new();
    for (name, node) in w.nodes.items().iter() {
        let kubelet = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| minor_of(&i.kubelet_version))
            .unwrap_or_default();
        if let Some(k) = super::eks::minor_number(&kubelet)
            && next_n.saturating_sub(k) > allowed_skew
        {
            skewed.push((name.clone(), "ERROR"));
        }
    }
    let mut addon_issues = Vec::new();
    for a in &w.aws.addons {
        let (versions, _) = addons::compatible(&a.name, &next);
        if !versions.contains(&a.version) {
            addon_issues.push((a.name.clone(), "ERROR"));
        }
    }
    let make = |name: &str, resources: Vec<(String, &'static str)>, description: &str, recommendation: &str| {
        let status = if resources.is_empty() { "PASSING" } else { "ERROR" };
        Insight {
            id: id_for(&cluster, name),
            name: name.to_string(),
            category: "UPGRADE_READINESS",
            kubernetes_version: next.clone(),
            status,
            reason: if resources.is_empty() {
                "No issues found".into()
            } else {
                format!(
                    "{} resource(s) need attention before upgrading to {next}",
                    resources.len()
                )
            },
            description: description.to_string(),
            recommendation: recommendation.to_string(),
            resources,
        }
    };
    vec![
        make(
            "Kubelet version skew",
            skewed,
            &format!("Checks that every node's kubelet stays within the supported skew of Kubernetes {next}."),
            "Upgrade the nodes whose kubelet is too old before upgrading the control plane.",
        ),
        make(
            "Amazon EKS add-on version compatibility",
            addon_issues,
            &format!("Checks that the installed EKS add-ons have versions that run on Kubernetes {next}."),
            "Update the add-ons to a version compatible with the next Kubernetes version.",
        ),
        make(
            &format!("Deprecated APIs removed in Kubernetes v{next}"),
            Vec::new(),
            &format!("Checks for use of APIs that Kubernetes {next} removes, in the last 30 days of audit logs."),
            "Move clients and manifests to the replacement APIs before upgrading.",
        ),
    ]
}
