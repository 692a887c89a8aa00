//! Version skew: kubelets against the target control plane. From 1.28 on a kubelet
//! may be three minors older than the API server; before, two (Kubernetes version
//! skew policy).

use std::collections::BTreeMap;

use super::gather::Snapshot;
use super::{Check, CheckRun, Finding, Severity};
use crate::units::Minor;

/// How many minors a kubelet may lag an API server of `target`.
pub fn allowed_lag(target: &str) -> u32 {
    if Minor::key(target) >= Minor::new(1, 28) { 3 } else { 2 }
}

pub fn check(s: &Snapshot, target: &str) -> (Vec<Finding>, CheckRun) {
    let t = Minor::key(target);
    let allowed = allowed_lag(target);
    // per group and kubelet minor, the nodes
    let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for n in &s.nodes {
        groups.entry((&n.group, &n.minor)).or_default().push(&n.name);
    }
    let mut findings = Vec::new();
    for ((group, minor), nodes) in &groups {
        let k = Minor::key(minor);
        if k.major != t.major || minor.is_empty() {
            continue;
        }
        let resources = vec![format!("node group {group} ({} nodes on {minor})", nodes.len())];
        let evidence = vec![format!(
            "nodes: {}",
            nodes.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        )];
        if k > t {
            findings.push(Finding {
                check: Check::Skew,
                severity: Severity::Blocker,
                confidence: None,
                title: format!("Node group {group} runs kubelet {minor}, newer than the target {target}"),
                resources,
                why: "A kubelet must never be newer than the API server.".into(),
                action: "Check the target: the control plane must be upgraded at least to the newest kubelet.".into(),
                evidence,
            });
            continue;
        }
        let lag = t.minor - k.minor;
        if lag > allowed {
            let needed = Minor::new(t.major, t.minor - allowed);
            findings.push(Finding {
                check: Check::Skew,
                severity: Severity::Blocker,
                confidence: None,
                title: format!("Node group {group} on {minor} would be {lag} minors behind {target}"),
                resources,
                why: format!("Kubelets may be at most {allowed} minors older than the API server on {target}; beyond, they are unsupported and may stop working."),
                action: format!("Upgrade node group {group} to {needed} or newer before upgrading the control plane."),
                evidence,
            });
        } else if lag == allowed {
            findings.push(Finding {
                check: Check::Skew,
                severity: Severity::Warning,
                confidence: None,
                title: format!("Node group {group} on {minor} will be at the skew limit on {target}"),
                resources,
                why: format!("{lag} minors behind is the most the skew policy allows: the next control plane upgrade is blocked until it moves."),
                action: format!("Upgrade node group {group} during this window."),
                evidence,
            });
        }
    }
    let run = CheckRun {
        check: Check::Skew,
        examined: format!(
            "{} nodes in {} group/version pairs, allowed lag {allowed} minors",
            s.nodes.len(),
            groups.len()
        ),
        complete: !s.unreadable.iter().any(|(w, _)| w == "nodes"),
    };
    (findings, run)
}
