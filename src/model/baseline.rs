//! The cluster as it was when a rollout began: what every gate and the verdict
//! compare against. Taken once, from the cockpit's [`Health`] at the first gate with
//! a synced view, journaled as one entry, and read back from the journal on resume,
//! so that a step's start never becomes the new normal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Health;
use super::workload::Level;

/// The cluster when the rollout began.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Baseline {
    /// Pods in error.
    pub pod_errors: usize,
    /// Workloads not fully available then: id → (available, desired). Any other
    /// workload was fully available (or did not exist yet).
    pub unavailable: BTreeMap<String, (u32, u32)>,
    /// Services with a selector and no ready endpoint then.
    pub services_down: Vec<String>,
    /// Nodes per node group.
    pub groups: BTreeMap<String, u32>,
    /// Pods with no controller (`namespace/name`).
    pub ownerless: Vec<String>,
}

impl Baseline {
    /// What `h` says now, as a baseline.
    pub fn take(h: &Health) -> Baseline {
        Baseline {
            pod_errors: h.pod_errors,
            unavailable: h
                .workloads
                .iter()
                .map(|w| (w.id.clone(), (w.available, w.desired)))
                .collect(),
            services_down: h.services_down.clone(),
            groups: h.groups.iter().map(|(g, m)| (g.clone(), m.values().sum())).collect(),
            ownerless: h.ownerless.iter().map(|p| p.pod.clone()).collect(),
        }
    }

    /// How many pods of workload `id` were available then; None when every wanted
    /// pod was (or the workload did not exist).
    pub fn available(&self, id: &str) -> Option<u32> {
        self.unavailable.get(id).map(|(a, _)| *a)
    }

    /// Whether workload `id` had at least one available pod then.
    pub fn was_up(&self, id: &str) -> bool {
        self.available(id).is_none_or(|a| a > 0)
    }

    /// Whether workload `id`, now at `available` of `desired`, is back where it was.
    pub fn back(&self, id: &str, available: u32, desired: u32) -> bool {
        match self.available(id) {
            None => Level::of(desired, available) == Level::Available,
            Some(then) => available >= then,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::availability::WorkloadRow;
    use crate::model::workload::Kind;

    #[test]
    fn a_baseline_remembers_who_was_down_and_judges_recovery_against_it() {
        let row = |name: &str, available, desired| WorkloadRow {
            id: format!("Deployment shop/{name}"),
            kind: Kind::Deployment,
            key: format!("shop/{name}"),
            level: Level::of(desired, available),
            desired,
            ready: available,
            available,
            since: None,
            pdb: None,
            pdb_min: None,
            reason: String::new(),
        };
        let h = Health {
            pod_errors: 2,
            workloads: vec![row("broken", 0, 2), row("half", 1, 2)],
            ..Default::default()
        };
        let b = Baseline::take(&h);
        assert_eq!(b.pod_errors, 2);
        assert!(!b.was_up("Deployment shop/broken"));
        assert!(b.was_up("Deployment shop/half") && b.was_up("Deployment shop/web"));
        assert!(b.back("Deployment shop/half", 1, 2), "as it was");
        assert!(!b.back("Deployment shop/web", 5, 6), "was fully available");
        assert!(b.back("Deployment shop/web", 6, 6));
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Baseline>(&text).unwrap(), b);
    }
}
