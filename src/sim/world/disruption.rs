//! The disruption controller and the eviction decision: live PodDisruptionBudget
//! status (`disruptionsAllowed` and friends) and whether evicting a pod is allowed,
//! with the apiserver's messages when it is not.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::deployment::scaled;
use super::kubelet::{is_ready, is_terminal, is_terminating};
use super::{World, controller_of, gc};
use crate::sim::api::selector::LabelSelector;

pub fn pdb_changed(w: &mut World, _old: Option<&Arc<PodDisruptionBudget>>, new: Option<&Arc<PodDisruptionBudget>>) {
    if let Some(n) = new
        && let Some(ns) = &n.metadata.namespace
    {
        w.dirty.pdb_namespaces.insert(ns.clone());
    }
}

fn selector(pdb: &PodDisruptionBudget) -> Option<LabelSelector> {
    let sel = pdb.spec.as_ref()?.selector.as_ref()?;
    LabelSelector::from_k8s(sel).ok()
}

/// The PDBs in the pod's namespace whose selector matches it.
pub fn pdbs_for(w: &World, pod: &Pod) -> Vec<Arc<PodDisruptionBudget>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    w.pdbs
        .in_namespace(ns)
        .filter(|(_, pdb)| selector(pdb).is_some_and(|s| s.matches(pod.metadata.labels.as_ref())))
        .map(|(_, pdb)| pdb.clone())
        .collect()
}

/// The status a PDB should have now.
pub fn compute(w: &World, pdb: &PodDisruptionBudget) -> PodDisruptionBudgetStatus {
    let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
    let sel = selector(pdb);
    let pods: Vec<&Arc<Pod>> = w
        .pods
        .in_namespace(ns)
        .map(|(_, p)| p)
        .filter(|p| !is_terminal(p))
        .filter(|p| sel.as_ref().is_some_and(|s| s.matches(p.metadata.labels.as_ref())))
        .collect();
    // expected pods: the replicas of the controllers behind the pods, else the pods
    let mut controllers: BTreeMap<String, i32> = BTreeMap::new();
    let mut uncontrolled = 0;
    for p in &pods {
        match controller_of(&p.metadata).and_then(|o| w.idx.owners.get(&o.uid).map(|x| (o.uid.clone(), x.clone()))) {
            Some((uid, (kind, key))) => {
                let n = match kind {
                    "ReplicaSet" => w
                        .replicasets
                        .get(&key)
                        .and_then(|r| r.spec.as_ref()?.replicas)
                        .unwrap_or(1),
                    _ => 1,
                };
                if kind == "ReplicaSet" {
                    controllers.insert(uid, n);
                } else {
                    *controllers.entry(uid).or_default() += 1;
                }
            }
            None => uncontrolled += 1,
        }
    }
    let expected: i32 = controllers.values().sum::<i32>() + uncontrolled;
    let healthy = pods.iter().filter(|p| !is_terminating(p) && is_ready(p)).count() as i32;
    let spec = pdb.spec.as_ref();
    let desired = match (
        spec.and_then(|s| s.min_available.as_ref()),
        spec.and_then(|s| s.max_unavailable.as_ref()),
    ) {
        (Some(min), _) => scaled(Some(min), expected, 100, true),
        (None, Some(max)) => (expected - scaled(Some(max), expected, 0, true)).max(0),
        (None, None) => expected,
    };
    let allowed = (healthy - desired).max(0);
    let previous = pdb.status.as_ref();
    let ok = allowed > 0;
    let since = previous
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .filter(|c| c.status == if ok { "True" } else { "False" })
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| w.time());
    PodDisruptionBudgetStatus {
        current_healthy: healthy,
        desired_healthy: desired,
        disruptions_allowed: allowed,
        expected_pods: expected,
        observed_generation: pdb.metadata.generation,
        disrupted_pods: None,
        conditions: Some(vec![Condition {
            type_: "DisruptionAllowed".into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: if ok { "SufficientPods" } else { "InsufficientPods" }.into(),
            message: String::new(),
            last_transition_time: since,
            observed_generation: pdb.metadata.generation,
        }]),
    }
}

/// Refreshes the status of the PDBs in namespaces whose pods changed.
pub fn reconcile(w: &mut World) {
    let namespaces = std::mem::take(&mut w.dirty.pdb_namespaces);
    for ns in namespaces {
        let pdbs: Vec<Arc<PodDisruptionBudget>> = w.pdbs.in_namespace(&ns).map(|(_, p)| p.clone()).collect();
        for pdb in pdbs {
            let status = compute(w, &pdb);
            if pdb.status.as_ref() != Some(&status) {
                let mut p = (*pdb).clone();
                p.status = Some(status);
                w.put(p);
            }
        }
        w.dirty.pdb_namespaces.remove(&ns);
    }
}

/// The outcome of an eviction request.
#[derive(Debug, PartialEq, Eq)]
pub enum EvictionVerdict {
    /// The pod is being deleted.
    Evicted,
    /// No such pod.
    NotFound,
    /// A PDB forbids it now: the apiserver answers 429 with this cause.
    Blocked { pdb: String, cause: String },
    /// More than one PDB matches: the apiserver answers 500.
    MultiplePdbs,
}

impl World {
    /// Evicts a pod the way the eviction subresource does: a pod that is terminating,
    /// pending or finished goes without a check; otherwise its one PDB must allow a
    /// disruption, which the eviction then uses up.
    pub fn evict(&mut self, key: &str, grace: Option<i64>) -> EvictionVerdict {
        let Some(pod) = self.pods.get(key).cloned() else {
            return EvictionVerdict::NotFound;
        };
        let exempt = is_terminating(&pod) || is_terminal(&pod) || super::kubelet::phase(&pod) == "Pending";
        if !exempt {
            let pdbs = pdbs_for(self, &pod);
            if pdbs.len() > 1 {
                return EvictionVerdict::MultiplePdbs;
            }
            if let Some(pdb) = pdbs.first() {
                let status = compute(self, pdb);
                if status.disruptions_allowed <= 0 {
                    let name = pdb.metadata.name.clone().unwrap_or_default();
                    return EvictionVerdict::Blocked {
                        cause: format!(
                            "The disruption budget {name} needs {} healthy pods and has {} currently",
                            status.desired_healthy, status.current_healthy
                        ),
                        pdb: name,
                    };
                }
                let mut p = (**pdb).clone();
                let mut status = status;
                status.disruptions_allowed -= 1;
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                status.disrupted_pods = Some(BTreeMap::from([(pod_name, self.time())]));
                p.status = Some(status);
                self.put(p);
            }
        }
        gc::delete_pod(self, key, grace);
        EvictionVerdict::Evicted
    }
}
