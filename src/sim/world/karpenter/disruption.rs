//! The disruption controller's drift method and its orchestration queue. Every 10
//! virtual seconds: each Karpenter node that cannot be disrupted says why
//! (`DisruptionBlocked`: a PDB, a `do-not-disrupt` pod or node); then, within each
//! NodePool's budget for `Drifted` (nodes already disrupting or NotReady count
//! against it), the oldest drifted node whose pods can go elsewhere is taken: it is
//! tainted `karpenter.sh/disrupted:NoSchedule`, replacements are launched for the
//! pods that fit nowhere else, and once they are initialized its NodeClaim is
//! deleted (termination drains it). A replacement that fails undoes the taint.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::budgets::{self, Reason};
use super::objects::{NodeClaim, str_at};
use super::provisioner::{self, PoolView};
use super::spec::PoolSpec;
use super::termination::{self, pod_blocks};
use super::{clear_condition, is_true, keys, set_condition, since};
use crate::sim::world::kubelet::{is_terminating, requests};
use crate::sim::world::scheduler::{misfit, node_ready};
use crate::sim::world::{Usage, World, controller_of};

/// How long a command waits for its replacements before it gives up (Karpenter: 10 minutes).
const COMMAND_TIMEOUT_SECS: i64 = 600;

/// A disruption under way: the candidate's replacements are launching.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub candidate: String,
    pub node: String,
    pub replacements: Vec<String>,
    pub reason: Reason,
    pub started: Timestamp,
}

fn title(r: Reason) -> &'static str {
    r.as_str()
}

pub fn reconcile(w: &mut World) {
    progress(w);
    let budgets = budget_mapping(w);
    let candidates = candidates(w);
    start_drift(w, &budgets, candidates);
}

/// Moves every command on: done when its replacements are initialized, undone when
/// one of them failed or the command timed out.
fn progress(w: &mut World) {
    let commands = std::mem::take(&mut w.karpenter.commands);
    let mut keep = Vec::new();
    for cmd in commands {
        let Some(cand) = w.karpenter.nodeclaims.get(&cmd.candidate).cloned() else {
            continue;
        };
        if cand.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let reps: Vec<Option<Arc<NodeClaim>>> = cmd
            .replacements
            .iter()
            .map(|r| w.karpenter.nodeclaims.get(r).cloned())
            .collect();
        let failed = reps
            .iter()
            .any(|r| r.as_ref().is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
        let timed_out = w.now.duration_since(cmd.started).as_secs() > COMMAND_TIMEOUT_SECS;
        if failed || timed_out {
            undo(w, &cmd, &cand);
            continue;
        }
        let mut waiting = false;
        for r in reps.iter().flatten() {
            w.karpenter_event(
                &**r,
                "Normal",
                "DisruptionLaunching",
                &format!("Launching NodeClaim: {}", title(cmd.reason)),
                120,
            );
            if !is_true(r.status.as_ref(), "Initialized") {
                waiting = true;
                w.karpenter_event(
                    &**r,
                    "Normal",
                    "DisruptionWaitingReadiness",
                    "Waiting on readiness to continue disruption",
                    120,
                );
            }
        }
        if waiting {
            keep.push(cmd);
            continue;
        }
        termination::delete_claim(w, &cand);
        if let Some(node) = w.nodes.get(&cmd.node).cloned() {
            w.karpenter_event(
                &*node,
                "Normal",
                "DisruptionTerminating",
                &format!("Disrupting Node: {}", title(cmd.reason)),
                0,
            );
        }
        if let Some(c) = w.karpenter.nodeclaims.get(&cmd.candidate).cloned() {
            w.karpenter_event(
                &*c,
                "Normal",
                "DisruptionTerminating",
                &format!("Disrupting NodeClaim: {}", title(cmd.reason)),
                0,
            );
        }
    }
    keep.extend(std::mem::take(&mut w.karpenter.commands));
    w.karpenter.commands = keep;
}

fn undo(w: &mut World, cmd: &Command, cand: &NodeClaim) {
    termination::set_disrupted_taint(w, &cmd.node, false);
    let mut next = cand.clone();
    if let Some(st) = next.status.as_mut() {
        clear_condition(st, "DisruptionReason");
    }
    if next != *cand {
        w.put(next);
    }
}

/// Whether a NodeClaim counts towards its NodePool's node total (initialized, not yet
/// terminating its instance), and whether it counts as disrupting.
fn budget_counts(w: &World, c: &NodeClaim, queued: &[String]) -> Option<(String, bool)> {
    let pool = c.metadata.labels.as_ref()?.get(keys::NODEPOOL)?.clone();
    let status = c.status.as_ref();
    if !is_true(status, "Initialized") || is_true(status, "InstanceTerminating") {
        return None;
    }
    let name = c.metadata.name.clone().unwrap_or_default();
    let node_ready_now = status
        .and_then(|s| str_at(s, "nodeName"))
        .and_then(|n| w.nodes.get(n))
        .is_some_and(|n| node_ready(n));
    let disrupting = c.metadata.deletion_timestamp.is_some() || queued.contains(&name) || !node_ready_now;
    Some((pool, disrupting))
}

/// Disruptions each NodePool allows for drift now: the most restrictive active budget
/// less the nodes already disrupting; NodePools with none left say so.
fn budget_mapping(w: &mut World) -> HashMap<String, u32> {
    let queued: Vec<String> = w.karpenter.commands.iter().map(|c| c.candidate.clone()).collect();
    let mut totals: HashMap<String, (u32, u32)> = HashMap::new();
    for c in w.karpenter.nodeclaims.items().values() {
        if let Some((pool, disrupting)) = budget_counts(w, c, &queued) {
            let e = totals.entry(pool).or_default();
            e.0 += 1;
            e.1 += u32::from(disrupting);
        }
    }
    let mut out = HashMap::new();
    let pools: Vec<_> = w.karpenter.nodepools.items().values().cloned().collect();
    for p in pools {
        let name = p.metadata.name.clone().unwrap_or_default();
        let Some(spec) = PoolSpec::parse(&p.spec) else { continue };
        let (total, disrupting) = totals.get(&name).copied().unwrap_or_default();
        let allowed = budgets::allowed(spec.budgets(), w.now, total, Reason::Drifted);
        if total > 0 && allowed == 0 {
            w.karpenter_event(
                &*p,
                "Normal",
                "DisruptionBlocked",
                "No allowed disruptions for disruption reason Drifted due to blocking budget",
                60,
            );
        }
        out.insert(name, allowed.saturating_sub(disrupting));
    }
    out
}

/// A node that may be disrupted, with the pods that must move.
struct Candidate {
    claim: Arc<NodeClaim>,
    node: String,
    pool: String,
    pods: Vec<Arc<Pod>>,
}

/// Why pods on a node block graceful disruption: a `do-not-disrupt` pod, or a PDB
/// that allows no disruption over one of its pods.
fn pods_block(w: &World, pods: &[Arc<Pod>]) -> Option<String> {
    let now = w.now;
    for p in pods {
        if pod_blocks(p, now) {
            return Some(format!(
                "Pod has \"karpenter.sh/do-not-disrupt\" annotation (Pod={}/{})",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            ));
        }
    }
    for p in pods {
        if is_terminating(p) {
            continue;
        }
        let pdbs = crate::sim::world::disruption::pdbs_for(w, p);
        let names: Vec<String> = pdbs
            .iter()
            .map(|b| {
                format!(
                    "{}/{}",
                    b.metadata.namespace.as_deref().unwrap_or_default(),
                    b.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if pdbs.len() > 1 {
            return Some(format!(
                "Eviction does not support multiple PDBs (PodDisruptionBudget(s)=[{}])",
                names.join(" ")
            ));
        }
        if let Some(b) = pdbs.first()
            && b.status.as_ref().is_some_and(|s| s.disruptions_allowed <= 0)
        {
            return Some(format!(
                "Pdb prevents pod evictions (PodDisruptionBudget=[{}])",
                names[0]
            ));
        }
    }
    None
}

/// Every drifted Karpenter node that could be disrupted now; the others get a
/// `DisruptionBlocked` event saying why. (Karpenter checks every node, for
/// consolidation too; drift is the only method simulated, so only drifted nodes are.)
fn candidates(w: &mut World) -> Vec<Candidate> {
    let queued: Vec<String> = w.karpenter.commands.iter().map(|c| c.candidate.clone()).collect();
    let claims: Vec<Arc<NodeClaim>> = w.karpenter.nodeclaims.items().values().cloned().collect();
    let mut out = Vec::new();
    for c in claims {
        let name = c.metadata.name.clone().unwrap_or_default();
        if c.metadata.deletion_timestamp.is_some()
            || queued.contains(&name)
            || !is_true(c.status.as_ref(), "Drifted")
            || !is_true(c.status.as_ref(), "Initialized")
        {
            continue;
        }
        let Some(node_name) = c
            .status
            .as_ref()
            .and_then(|s| str_at(s, "nodeName"))
            .map(str::to_string)
        else {
            continue;
        };
        let Some(node) = w.nodes.get(&node_name).cloned() else {
            continue;
        };
        if node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(pool) = c.metadata.labels.as_ref().and_then(|l| l.get(keys::NODEPOOL)).cloned() else {
            continue;
        };
        let blocked = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::DO_NOT_DISRUPT))
            .map(String::as_str)
            == Some("true");
        if blocked {
            let msg = "Disruption is blocked through the \"karpenter.sh/do-not-disrupt\" annotation";
            w.karpenter_event(&*node, "Normal", "DisruptionBlocked", msg, 120);
            w.karpenter_event(&*c, "Normal", "DisruptionBlocked", msg, 120);
            continue;
        }
        if w.karpenter.nodepools.get(&pool).is_none() {
            let msg = format!("NodePool not found (NodePool={pool})");
            w.karpenter_event(&*node, "Normal", "DisruptionBlocked", &msg, 120);
            w.karpenter_event(&*c, "Normal", "DisruptionBlocked", &msg, 120);
            continue;
        }
        let pods: Vec<Arc<Pod>> = termination::drainable(w, &node_name)
            .into_iter()
            .filter(|p| crate::sim::world::kubelet::node_name(p).is_some())
            .collect();
        // with a termination grace period, drift goes ahead: the grace period bounds the drain
        let eventual = str_at(&c.spec, "terminationGracePeriod").is_some();
        if let Some(why) = pods_block(w, &pods)
            && !eventual
        {
            w.karpenter_event(&*node, "Normal", "DisruptionBlocked", &why, 120);
            w.karpenter_event(&*c, "Normal", "DisruptionBlocked", &why, 120);
            continue;
        }
        out.push(Candidate {
            claim: c,
            node: node_name,
            pool,
            pods,
        });
    }
    out
}

/// Pods that must find a new home when the node goes (not DaemonSet-run).
fn reschedulable(pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| !is_terminating(p))
        .filter(|p| controller_of(&p.metadata).is_none_or(|o| o.kind != "DaemonSet"))
        .cloned()
        .collect()
}

/// Places `pods` on the other nodes that take pods; returns those that fit nowhere.
fn fit_elsewhere(w: &World, cand: &str, pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    let busy: Vec<String> = w.karpenter.commands.iter().map(|c| c.node.clone()).collect();
    let mut extra: HashMap<String, Usage> = HashMap::new();
    let mut left = Vec::new();
    let mut sorted = pods.to_vec();
    sorted.sort_by_key(|p| std::cmp::Reverse(requests(p).cpu_millis));
    for p in sorted {
        let req = requests(&p);
        let spot = w.nodes.items().iter().find(|(name, n)| {
            if name.as_str() == cand || busy.contains(name) || n.metadata.deletion_timestamp.is_some() {
                return false;
            }
            let base = w.idx.node_usage.get(name.as_str()).copied().unwrap_or_default();
            let more = extra.get(name.as_str()).copied().unwrap_or_default();
            let used = Usage {
                cpu_millis: base.cpu_millis + more.cpu_millis,
                memory: base.memory + more.memory,
                pods: base.pods + more.pods,
            };
            misfit(&p, req, n, used).is_none()
        });
        match spot {
            Some((name, _)) => {
                let e = extra.entry(name.clone()).or_default();
                e.cpu_millis += req.cpu_millis;
                e.memory += req.memory;
                e.pods += 1;
            }
            None => left.push(p),
        }
    }
    left
}

fn start_drift(w: &mut World, budgets: &HashMap<String, u32>, candidates: Vec<Candidate>) {
    let mut drifted: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| is_true(c.claim.status.as_ref(), "Drifted"))
        .collect();
    // empty nodes first, then the longest drifted
    drifted.sort_by_key(|c| {
        (
            !reschedulable(&c.pods).is_empty(),
            since(c.claim.status.as_ref(), "Drifted"),
            c.claim.metadata.name.clone(),
        )
    });
    let views: Vec<PoolView> = provisioner::pool_views(w);
    for cand in drifted {
        if budgets.get(&cand.pool).copied().unwrap_or(0) == 0 {
            continue;
        }
        let movers = reschedulable(&cand.pods);
        let homeless = fit_elsewhere(w, &cand.node, &movers);
        let packing = provisioner::pack(w, &views, &homeless, &mut []);
        if let Some((pod, why)) = packing.failures.first() {
            let msg = format!(
                "Could not schedule pod {}/{}, {why}",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default()
            );
            if let Some(node) = w.nodes.get(&cand.node).cloned() {
                w.karpenter_event(&*node, "Normal", "DisruptionBlocked", &msg, 120);
            }
            w.karpenter_event(&*cand.claim, "Normal", "DisruptionBlocked", &msg, 120);
            continue;
        }
        // taint first, so nothing new lands on the node, then launch the replacements
        termination::set_disrupted_taint(w, &cand.node, true);
        let mut next = (*cand.claim).clone();
        let now = w.now;
        set_condition(
            next.status.get_or_insert_with(|| json!({})),
            "DisruptionReason",
            "True",
            Reason::Drifted.as_str(),
            "",
            now,
            cand.claim.metadata.generation,
        );
        w.put(next);
        let replacements: Vec<String> = provisioner::create(w, &views, packing)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        w.karpenter.commands.push(Command {
            candidate: cand.claim.metadata.name.clone().unwrap_or_default(),
            node: cand.node.clone(),
            replacements,
            reason: Reason::Drifted,
            started: now,
        });
        // one command per pass, as Karpenter's drift method computes one at a time
        return;
    }
}
