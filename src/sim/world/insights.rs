//! EKS upgrade insights for the simulated cluster (`ListInsights`, `DescribeInsight`),
//! computed from the world: kubelet skew against the next minor, add-ons that do
//! not run on it, and the APIs it removes (the simulator records no use of them).
//!
//! Add-ons are judged as EKS's upgrade guide orders them: the VPC CNI must be on a
//! version for the next minor before the control plane moves; kube-proxy and CoreDNS
//! move after it (kube-proxy after the nodes), so they are judged by whether they keep
//! running once the control plane is on the next minor: kube-proxy by its version
//! skew (at most three minors older than the API server, never newer), CoreDNS by
//! being on a version EKS offers for the current minor.

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
        if !keeps_running(&a.name, &a.version, &current, &next) {
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

/// When an add-on moves in an upgrade: before the control plane, or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moves {
    BeforeControlPlane,
    AfterControlPlane,
}

fn moves(addon: &str) -> Moves {
    match addon {
        "kube-proxy" | "coredns" => Moves::AfterControlPlane,
        _ => Moves::BeforeControlPlane,
    }
}

/// Whether an add-on at `version` runs once the control plane moves from `current`
/// to `next`.
fn keeps_running(addon: &str, version: &str, current: &str, next: &str) -> bool {
    match (moves(addon), addon) {
        (Moves::AfterControlPlane, "kube-proxy") => {
            let (Some(v), Some(n)) = (
                super::eks::minor_number(&minor_of(version)),
                super::eks::minor_number(next),
            ) else {
                return false;
            };
            v <= n && n - v <= 3
        }
        (Moves::AfterControlPlane, _) => addons::compatible(addon, current).0.iter().any(|v| v == version),
        (Moves::BeforeControlPlane, _) => addons::compatible(addon, next).0.iter().any(|v| v == version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_passes_the_add_on_insight_before_its_upgrade() {
        let scenario = crate::sim::scenario::Scenario::load("demo").expect("the demo scenario");
        let clock =
            crate::sim::clock::Clock::starting_at(jiff::Timestamp::from_second(1_800_000_000).expect("a time"), 1.0);
        let w = super::super::build::build(&scenario, clock).expect("the demo world");
        let all = all(&w);
        let addons = all
            .iter()
            .find(|i| i.name == "Amazon EKS add-on version compatibility")
            .expect("the add-on insight");
        assert_eq!(addons.status, "PASSING", "{addons:?}");
        assert!(all.iter().all(|i| i.status == "PASSING"), "{all:?}");
    }

    #[test]
    fn add_ons_that_move_after_the_control_plane_are_not_errors_before_it() {
        // the demo's add-ons on 1.30, before an upgrade to 1.31
        assert!(keeps_running("kube-proxy", "v1.30.3-eksbuild.2", "1.30", "1.31"));
        assert!(keeps_running("coredns", "v1.11.1-eksbuild.9", "1.30", "1.31"));
        assert!(keeps_running("vpc-cni", "v1.18.3-eksbuild.1", "1.30", "1.31"));
        // kube-proxy four minors behind, or newer than the API server, does not run
        assert!(!keeps_running("kube-proxy", "v1.27.1-eksbuild.1", "1.30", "1.31"));
        assert!(!keeps_running("kube-proxy", "v1.32.0-eksbuild.2", "1.30", "1.31"));
        // the VPC CNI must be on a version for the next minor first
        assert!(!keeps_running("vpc-cni", "v1.18.3-eksbuild.1", "1.31", "1.32"));
        // CoreDNS off the versions EKS offers for the current minor
        assert!(!keeps_running("coredns", "v1.10.1-eksbuild.13", "1.30", "1.31"));
    }
}
