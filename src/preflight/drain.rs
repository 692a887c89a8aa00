//! Drain blockers: what will stop or hurt the eviction of pods from old nodes —
//! budgets that allow no disruption now, single-replica workloads, pods without a
//! controller, pods with node-local data, and workloads that tolerate every taint.

use std::collections::{BTreeMap, BTreeSet};

use super::gather::{PodFacts, Snapshot};
use super::{Check, CheckRun, Finding, Severity};

/// Shown resources per finding (the count says how many there are).
const SHOWN: usize = 20;

/// `shop/web` for a pod of ReplicaSet `web-7d9c4`.
pub fn workload_of(p: &PodFacts) -> String {
    match &p.owner {
        Some((kind, name)) if kind == "ReplicaSet" => match name.rsplit_once('-') {
            Some((base, hash)) if !base.is_empty() && hash.len() >= 5 => format!("Deployment {}/{base}", p.namespace),
            _ => format!("ReplicaSet {}/{name}", p.namespace),
        },
        Some((kind, name)) => format!("{kind} {}/{name}", p.namespace),
        None => format!("Pod {}", p.key()),
    }
}

fn listed(items: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = items.iter().take(SHOWN).cloned().collect();
    if items.len() > SHOWN {
        v.push(format!("… and {} more", items.len() - SHOWN));
    }
    v
}

pub fn check(s: &Snapshot) -> (Vec<Finding>, CheckRun) {
    let mut findings = Vec::new();
    let live: Vec<&PodFacts> = s.pods.iter().filter(|p| !p.finished() && !p.is_mirror()).collect();
    for pdb in s
        .pdbs
        .iter()
        .filter(|p| p.disruptions_allowed <= 0 && p.expected_pods > 0)
    {
        let covered: BTreeSet<String> = live
            .iter()
            .filter(|p| pdb.covers(p))
            .map(|p| {
                format!(
                    "Pod {}{}",
                    p.key(),
                    p.node.as_deref().map(|n| format!(" on {n}")).unwrap_or_default()
                )
            })
            .collect();
        let mut resources = vec![format!("PodDisruptionBudget {}/{}", pdb.namespace, pdb.name)];
        resources.extend(listed(&covered));
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Blocker,
            confidence: None,
            title: format!(
                "PodDisruptionBudget {}/{} allows no disruption ({} healthy, {} required)",
                pdb.namespace, pdb.name, pdb.current_healthy, pdb.desired_healthy
            ),
            resources,
            why: "No pod it covers can be evicted: draining their nodes waits forever, and an EKS managed node group update fails with PodEvictionFailure after 15 minutes.".into(),
            action: "Before the window, scale the workload up so the budget allows a disruption, or relax the budget (e.g. maxUnavailable: 1) for the window and restore it after.".into(),
            evidence: vec![format!(
                "status: disruptionsAllowed {}, currentHealthy {}, desiredHealthy {}, expectedPods {}",
                pdb.disruptions_allowed, pdb.current_healthy, pdb.desired_healthy, pdb.expected_pods
            )],
        });
    }
    let single: BTreeSet<String> = s
        .workloads
        .iter()
        .filter(|w| w.kind != "DaemonSet" && w.replicas == 1)
        .map(|w| format!("{} {}", w.kind, w.key()))
        .collect();
    if !single.is_empty() {
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Warning,
            confidence: None,
            title: format!("{} workloads run a single replica", single.len()),
            resources: listed(&single),
            why: "Evicting the only pod stops the service until its replacement is Running elsewhere.".into(),
            action: "Scale them to 2 or more for the window (with a PDB of maxUnavailable: 1), or accept a short outage of each.".into(),
            evidence: Vec::new(),
        });
    }
    let bare: BTreeSet<String> = live
        .iter()
        .filter(|p| p.owner.is_none())
        .map(|p| format!("Pod {}", p.key()))
        .collect();
    if !bare.is_empty() {
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Warning,
            confidence: None,
            title: format!("{} pods have no controller", bare.len()),
            resources: listed(&bare),
            why: "Nothing recreates them: a drain deletes them for good (kubectl drain refuses them without --force)."
                .into(),
            action: "Move them under a Deployment or Job, or note them as lost in the plan.".into(),
            evidence: Vec::new(),
        });
    }
    // EKS deletes a managed group's pods with no controller without asking: named as lost
    let managed: BTreeMap<&str, &str> = s
        .nodes
        .iter()
        .filter_map(|n| {
            n.labels
                .get("eks.amazonaws.com/nodegroup")
                .map(|g| (n.name.as_str(), g.as_str()))
        })
        .collect();
    let lost: BTreeSet<String> = live
        .iter()
        .filter(|p| p.owner.is_none())
        .filter_map(|p| {
            let group = managed.get(p.node.as_deref()?)?;
            Some(format!("Pod {} (managed node group {group})", p.key()))
        })
        .collect();
    if !lost.is_empty() {
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Warning,
            confidence: None,
            title: format!(
                "{} pods with no controller will be lost when EKS updates their managed node group",
                lost.len()
            ),
            resources: listed(&lost),
            why: "A managed node group's update evicts and deletes them without asking; nothing recreates them.".into(),
            action: "Recreate them under a controller before the window, or accept their loss by name at the gate before that group.".into(),
            evidence: Vec::new(),
        });
    }
    let local: BTreeSet<String> = live
        .iter()
        .filter(|p| (p.empty_dir || p.host_path) && !p.is_daemon())
        .map(|p| workload_of(p))
        .collect();
    if !local.is_empty() {
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Info,
            confidence: None,
            title: format!("{} workloads keep data on the node (emptyDir or hostPath)", local.len()),
            resources: listed(&local),
            why:
                "Their node-local data is lost when their pods are evicted; kubectl drain needs --delete-emptydir-data."
                    .into(),
            action: "Make sure nothing in those volumes needs to survive (caches, scratch space).".into(),
            evidence: Vec::new(),
        });
    }
    let everywhere: BTreeSet<String> = s
        .workloads
        .iter()
        .filter(|w| w.kind != "DaemonSet" && w.tolerates_all)
        .map(|w| format!("{} {}", w.kind, w.key()))
        .collect();
    if !everywhere.is_empty() {
        findings.push(Finding {
            check: Check::DrainBlockers,
            severity: Severity::Warning,
            confidence: None,
            title: format!("{} workloads tolerate every taint", everywhere.len()),
            resources: listed(&everywhere),
            why: "They tolerate the unschedulable taint too, so their pods come back onto nodes being drained; EKS managed node group updates then fail.".into(),
            action: "Give them specific tolerations instead of `operator: Exists` without a key.".into(),
            evidence: Vec::new(),
        });
    }
    let run = CheckRun {
        check: Check::DrainBlockers,
        examined: format!(
            "{} pods, {} workloads, {} PodDisruptionBudgets",
            live.len(),
            s.workloads.len(),
            s.pdbs.len()
        ),
        complete: !s
            .unreadable
            .iter()
            .any(|(w, _)| w == "pods" || w == "poddisruptionbudgets" || w == "deployments"),
    };
    (findings, run)
}
