//! Availability as a signal: the workloads that are down or degraded (down first),
//! each with ready/desired, since when, the PodDisruptionBudget covering it and the
//! reason its pods give, and the Services with no ready endpoint. Computed from the
//! model's sets kept change by change: it walks the unavailable workloads, the pods
//! in error or unscheduled, and the budgets, never every pod or every workload.

use std::collections::HashMap;

use super::ClusterModel;
use super::Timestamp;
use super::pod::PodInfo;
use super::signals::scheduler_reasons;
use super::workload::{Kind, Level};

/// How many rows the signal keeps (counts always cover everything).
const TOP: usize = 200;

/// One workload that is not fully available.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadRow {
    /// `Deployment shop/recommendations`
    pub id: String,
    pub kind: Kind,
    /// `shop/recommendations`
    pub key: String,
    pub level: Level,
    pub desired: u32,
    pub ready: u32,
    pub available: u32,
    /// Since when it has been at this level (by the cockpit's clock).
    pub since: Option<Timestamp>,
    /// The budget covering its pods: `shop/recommendations`, with how many must stay healthy.
    pub pdb: Option<String>,
    pub pdb_min: Option<u32>,
    /// What its pods say: `CrashLoopBackOff ×6: back-off restarting…`, `Pending: Insufficient cpu`.
    pub reason: String,
}

/// Every workload's and Service's availability, the worst first.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Availability {
    /// Workloads counted (Deployments, StatefulSets, DaemonSets, ownerless ReplicaSets).
    pub workloads: usize,
    pub down: usize,
    pub degraded: usize,
    /// Down first, then degraded; by id within each.
    pub rows: Vec<WorkloadRow>,
    /// Services watched.
    pub services: usize,
    /// Services with a selector and no ready endpoint (`namespace/name`).
    pub services_down: Vec<String>,
    /// Pods with no controller, `namespace/name` and their node.
    pub ownerless: Vec<(String, Option<String>)>,
}

impl Availability {
    pub fn compute(m: &ClusterModel) -> Availability {
        let ws = &m.workloads;
        // what the pods in error or waiting say, per workload (those walks are bounded
        // by the pods in trouble, as for the other signals)
        let mut reasons: HashMap<String, (usize, String)> = HashMap::new();
        let mut note = |p: &PodInfo, text: String| {
            if let Some(id) = ws.of_pod(p) {
                let e = reasons.entry(id).or_insert((0, text));
                e.0 += 1;
            }
        };
        for p in m.pod_index.errors.iter().filter_map(|k| m.pods.items.get(k)) {
            if let Some(kind) = p.error {
                let why = p.reason.as_deref().unwrap_or("");
                note(
                    p,
                    format!("{}{}{why}", kind.label(), if why.is_empty() { "" } else { ": " }),
                );
            }
        }
        for p in m.pod_index.unscheduled.iter().filter_map(|k| m.pods.items.get(k)) {
            let why = p
                .unschedulable
                .as_deref()
                .map(|msg| scheduler_reasons(msg).join(", "))
                .unwrap_or_else(|| "waiting for the scheduler".into());
            note(p, format!("Pending: {why}"));
        }
        let mut rows: Vec<WorkloadRow> = ws
            .unavailable
            .iter()
            .filter_map(|id| ws.get(id))
            .map(|w| {
                let id = w.id();
                let key = format!("{}/{}", w.namespace, w.name);
                let pdb = m.pdbs.items.values().find(|p| p.covers(&w.namespace, &w.labels));
                let reason = match reasons.get(&id) {
                    Some((n, text)) if *n > 1 => format!("{text} (×{n})"),
                    Some((_, text)) => text.clone(),
                    None => String::new(),
                };
                WorkloadRow {
                    since: ws.since.get(&id).map(|(_, t)| *t),
                    id,
                    kind: w.kind,
                    key,
                    level: w.level(),
                    desired: w.desired,
                    ready: w.ready,
                    available: w.available,
                    pdb: pdb.map(|p| p.key()),
                    pdb_min: pdb.map(|p| u32::try_from(p.desired_healthy).unwrap_or(0)),
                    reason,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.id.cmp(&b.id)));
        let down = rows.iter().filter(|r| r.level == Level::Down).count();
        let degraded = rows.len() - down;
        rows.truncate(TOP);
        let mut ownerless: Vec<(String, Option<String>)> = m
            .pod_index
            .ownerless
            .iter()
            .filter_map(|k| m.pods.items.get(k))
            .map(|p| (p.key(), p.node.as_deref().map(str::to_string)))
            .collect();
        ownerless.sort();
        Availability {
            workloads: ws.counted,
            down,
            degraded,
            rows,
            services: m.services.services.len(),
            services_down: m.services.down(),
            ownerless,
        }
    }
}
