//! The Karpenter check: what Karpenter (self-managed, or run by EKS Auto Mode) will do
//! to the nodes around an upgrade, that its disruption budgets cannot hold. Node
//! lifetimes (`expireAfter`, Auto Mode's 21 days) and `terminationGracePeriod` that
//! end inside the window; pods with `karpenter.sh/do-not-disrupt` that will block
//! drift; NodePools on Karpenter's default budget; EC2NodeClasses on an `@latest`
//! alias, whose nodes drift when the control plane moves. Karpenter's version against
//! the target is the components check's (its table in assets/preflight/components.yaml).
//! `gather` reads; `check` is a pure function of the facts.

pub mod gather;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Check, CheckRun, Finding, Severity};
use crate::model::karpenter::{NodeClaimInfo, NodePoolInfo, go_duration_secs};
use crate::model::nodepools::{AUTO_MODE_MAX_LIFETIME_SECS, node_end};
use crate::units::Timestamp;

/// Karpenter's documentation of disruption: budgets, expiration, terminationGracePeriod, do-not-disrupt.
pub const DISRUPTION_DOCS: &str = "Karpenter documentation, \"Disruption\" (https://karpenter.sh/docs/concepts/disruption/): budgets default to nodes: 10%; expiration and terminationGracePeriod are forceful and not held by budgets; karpenter.sh/do-not-disrupt blocks voluntary disruption";
/// Karpenter's documentation of EC2NodeClass AMI aliases.
pub const NODECLASS_DOCS: &str = "Karpenter documentation, \"NodeClasses\", amiSelectorTerms alias (https://karpenter.sh/docs/concepts/nodeclasses/): an alias at @latest follows the newest AMI for the cluster's Kubernetes version, so nodes drift after a control plane upgrade";
/// EKS's documentation of Auto Mode's node lifetime.
pub const AUTO_MODE_DOCS: &str = "Amazon EKS User Guide, \"Automate cluster infrastructure with EKS Auto Mode\" (https://docs.aws.amazon.com/eks/latest/userguide/automode.html): EKS Auto Mode enforces a 21-day maximum node lifetime; its nodes' AMI follows the control plane";

/// An EC2NodeClass and its AMI aliases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeClassFacts {
    pub name: String,
    pub aliases: Vec<String>,
}

/// What the Karpenter check reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KarpenterFacts {
    /// The controller's workload (`Deployment kube-system/karpenter`) and version (`1.8.2`).
    pub version: Option<(String, String)>,
    /// Why the cluster is taken for EKS Auto Mode, when it is.
    pub auto_mode: Option<String>,
    pub nodepools: Vec<NodePoolInfo>,
    pub claims: Vec<NodeClaimInfo>,
    pub nodeclasses: Vec<NodeClassFacts>,
    /// Pods annotated `karpenter.sh/do-not-disrupt` on Karpenter's nodes: (pod, node).
    pub do_not_disrupt: Vec<(String, String)>,
    /// When the facts were read: the window starts here.
    pub now: Timestamp,
    /// The maintenance window's length, in seconds.
    pub window_secs: i64,
    /// What could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

/// `36h`, `3d 4h` for a span of seconds.
fn span(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, h) => format!("{h}h"),
        (d, 0) => format!("{d}d"),
        (d, h) => format!("{d}d {h}h"),
    }
}

fn list(names: &[String], most: usize) -> String {
    let mut s = names.iter().take(most).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > most {
        s.push_str(&format!(" and {} more", names.len() - most));
    }
    s
}

/// Runs the check over the facts.
pub fn check(f: &KarpenterFacts, target: &str) -> (Vec<Finding>, CheckRun) {
    let mut out = Vec::new();
    let window = span(f.window_secs);
    let auto = f.auto_mode.is_some();
    let pool = |name: &str| f.nodepools.iter().find(|p| p.name == name);
    if let Some(why) = &f.auto_mode {
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Info,
            confidence: None,
            title: format!("The cluster runs EKS Auto Mode: EKS runs Karpenter, and its nodes follow the control plane to {target}"),
            resources: f.nodepools.iter().map(|p| format!("NodePool {}", p.name)).collect(),
            why: "With Auto Mode, EKS updates the nodes' AMI with the control plane: every node drifts when the control plane reaches the target, and Karpenter replaces them within the NodePools' budgets. Nodes also live at most 21 days.".into(),
            action: "Hold drift with the plan's nodepool step (budget 0 for reason Drifted on each NodePool) and release it wave by wave; watch the lifetime findings below.".into(),
            evidence: vec![format!("recognised by: {why}"), format!("source: {AUTO_MODE_DOCS}")],
        });
    }
    // lifetimes that end inside the window, per NodePool
    let end_of_window = f.now.as_second().saturating_add(f.window_secs);
    let mut expiring: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for c in f.claims.iter().filter(|c| !c.deleting) {
        let expire = c
            .expire_after
            .clone()
            .or_else(|| pool(&c.nodepool).and_then(|p| p.expire_after.clone()));
        let Some(end) = node_end(c.created, expire.as_deref(), auto) else {
            continue;
        };
        if end.as_second() <= end_of_window {
            // the 21 days, not expireAfter, end it
            let by_auto = auto
                && expire
                    .as_deref()
                    .and_then(go_duration_secs)
                    .is_none_or(|e| e > AUTO_MODE_MAX_LIFETIME_SECS);
            let name = c.node.clone().unwrap_or_else(|| format!("nodeclaim {}", c.name));
            expiring
                .entry((c.nodepool.to_string(), by_auto))
                .or_default()
                .push(name);
        }
    }
    for ((pool_name, by_auto), nodes) in &expiring {
        let expire = pool(pool_name)
            .and_then(|p| p.expire_after.clone())
            .unwrap_or_else(|| "?".into());
        let (title, why, source) = if *by_auto {
            (
                format!("{} node(s) of NodePool {pool_name} reach Auto Mode's 21-day lifetime within the {window} window", nodes.len()),
                "EKS Auto Mode replaces a node 21 days after its launch, whatever the NodePool's budgets say: the nodepool step cannot hold them.".to_string(),
                AUTO_MODE_DOCS,
            )
        } else {
            (
                format!("{} node(s) of NodePool {pool_name} expire (expireAfter {expire}) within the {window} window", nodes.len()),
                "Expiration is forceful: Karpenter replaces an expired node whatever the disruption budgets say, so the nodepool step cannot hold it, and it may go while the control plane moves.".to_string(),
                DISRUPTION_DOCS,
            )
        };
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Warning,
            confidence: None,
            title,
            resources: vec![format!("NodePool {pool_name}")],
            why,
            action: format!("Replace them before the window (kubectl delete nodeclaim, a node at a time), or start the window after they are replaced; on a self-managed NodePool, raise spec.template.spec.expireAfter for the window. Nodes: {}.", list(nodes, 5)),
            evidence: vec![format!("source: {source}")],
        });
    }
    // terminationGracePeriod shorter than the window: budgets and PDBs stop holding after it
    for p in &f.nodepools {
        let Some(tgp) = p.termination_grace_period.as_deref() else {
            continue;
        };
        let Some(secs) = go_duration_secs(tgp) else { continue };
        if secs > f.window_secs {
            continue;
        }
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Warning,
            confidence: None,
            title: format!("NodePool {}'s terminationGracePeriod ({tgp}) ends inside the {window} window", p.name),
            resources: vec![format!("NodePool {}", p.name)],
            why: format!("Once Karpenter starts terminating a node of {}, it deletes the pods still on it after {tgp}, even those a PodDisruptionBudget or karpenter.sh/do-not-disrupt protects: a drain that a budget holds ends in a forced delete within the window.", p.name),
            action: "Clear the budgets that hold its nodes before the window (the drain-blockers findings name them), or raise terminationGracePeriod for the window and restore it after.".into(),
            evidence: vec![format!("source: {DISRUPTION_DOCS}")],
        });
    }
    // do-not-disrupt pods block drift of their nodes
    if !f.do_not_disrupt.is_empty() {
        let pods: Vec<String> = f
            .do_not_disrupt
            .iter()
            .map(|(p, n)| format!("Pod {p} on {n}"))
            .collect();
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Warning,
            confidence: None,
            title: format!("{} pod(s) carry karpenter.sh/do-not-disrupt: their nodes' drift waits for them", pods.len()),
            resources: pods,
            why: "Karpenter does not voluntarily disrupt a node running a pod with karpenter.sh/do-not-disrupt: after the control plane upgrade, those nodes stay on the old AMI until the pod ends (or a forceful path — expiry, terminationGracePeriod — removes it).".into(),
            action: "Let those pods finish before the window, or remove the annotation for the window; otherwise expect the nodepool step to wait on their nodes.".into(),
            evidence: vec![format!("source: {DISRUPTION_DOCS}")],
        });
    }
    // NodePools on Karpenter's default budget
    let defaults: Vec<&NodePoolInfo> = f.nodepools.iter().filter(|p| p.default_budget()).collect();
    for p in defaults {
        let how = if p.budgets_absent {
            "has no disruption budget (Karpenter defaults to nodes: 10%)"
        } else {
            "has only Karpenter's default budget (nodes: 10%, every reason, always)"
        };
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Warning,
            confidence: None,
            title: format!("NodePool {} {how}", p.name),
            resources: vec![format!("NodePool {}", p.name)],
            why: format!("When the control plane reaches {target} and its nodes drift, Karpenter replaces 10% of them at a time with no pause between waves and no gate: nothing in the budget holds drift for the window."),
            action: "Let upshift's nodepool step hold drift (budget nodes: 0 for reason Drifted) and release it in waves behind gates, or set spec.disruption.budgets with a Drifted budget yourself.".into(),
            evidence: vec![
                format!("budgets: {}", if p.budgets_absent { "(none)".to_string() } else { p.budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join("; ") }),
                format!("source: {DISRUPTION_DOCS}"),
            ],
        });
    }
    // EC2NodeClasses on @latest drift with the control plane
    for c in &f.nodeclasses {
        let latest: Vec<&String> = c.aliases.iter().filter(|a| a.ends_with("@latest")).collect();
        if latest.is_empty() {
            continue;
        }
        let pools: Vec<String> = f
            .nodepools
            .iter()
            .filter(|p| p.node_class.kind == "EC2NodeClass" && p.node_class.name == c.name)
            .map(|p| p.name.clone())
            .collect();
        let nodes = f
            .claims
            .iter()
            .filter(|cl| pools.iter().any(|p| *p == *cl.nodepool))
            .count();
        out.push(Finding {
            check: Check::Karpenter,
            severity: Severity::Warning,
            confidence: None,
            title: format!(
                "EC2NodeClass {} selects its AMI by alias {}: its {nodes} node(s) drift when the control plane reaches {target}",
                c.name,
                latest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            resources: std::iter::once(format!("EC2NodeClass {}", c.name))
                .chain(pools.iter().map(|p| format!("NodePool {p}")))
                .collect(),
            why: "An @latest alias resolves to the newest AMI for the cluster's Kubernetes version: the control plane upgrade changes it, every node launched from this class is marked Drifted, and Karpenter starts replacing them within the budgets.".into(),
            action: "Hold drift on these NodePools before the control plane step (the plan's nodepool step does) and release it in waves; or pin the alias to a release (e.g. al2023@v20251108) and move it as its own step.".into(),
            evidence: vec![format!("source: {NODECLASS_DOCS}")],
        });
    }
    let version = match &f.version {
        Some((w, v)) => format!("Karpenter {v} ({w}; judged against {target} by the components check)"),
        None if auto => "Karpenter run by EKS (Auto Mode)".to_string(),
        None => "no Karpenter controller found".to_string(),
    };
    let run = CheckRun {
        check: Check::Karpenter,
        examined: format!(
            "{version}; {} NodePool(s), {} NodeClaim(s), {} EC2NodeClass(es), window {window}",
            f.nodepools.len(),
            f.claims.len(),
            f.nodeclasses.len()
        ),
        complete: f.unreadable.is_empty(),
    };
    (out, run)
}
