//! What the Fargate step reads before it acts: the Fargate nodes (one per pod) and
//! their kubelets, the pods the Fargate scheduler placed, grouped by the workload
//! that owns them (a ReplicaSet's Deployment, a StatefulSet; a pod of its own
//! otherwise), and how far a restarted workload has rolled out. Pure where it can
//! be: [`Workload`] and [`pending`] are plain data and functions of it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

use super::super::StepError;
use super::super::drain::kube_failed;
use crate::units::Minor;

/// The label EKS puts on Fargate nodes.
pub const COMPUTE_TYPE: &str = "eks.amazonaws.com/compute-type";
/// The scheduler EKS names on the pods it places on Fargate.
pub const SCHEDULER: &str = "fargate-scheduler";
/// The annotation `kubectl rollout restart` sets on a pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Who owns Fargate pods: what upshift restarts, or a pod it can only delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Deployment,
    StatefulSet,
    /// A pod without a controller upshift can restart.
    Pod,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::Pod => "pod",
        }
    }
}

/// One pod on Fargate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FargatePod {
    pub name: String,
    /// Its Fargate node; None while Fargate has not placed it yet.
    pub node: Option<String>,
    /// The node's kubelet minor; None while the pod has no node.
    pub kubelet: Option<Minor>,
    /// Deleted, waiting for its containers to stop.
    pub terminating: bool,
}

/// A workload whose pods run on Fargate, as read now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub pods: Vec<FargatePod>,
}

impl Workload {
    /// `deployment/payments/checkout`: how the journal names it.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }

    /// Its pods on a kubelet older than `cp`.
    pub fn old(&self, cp: Minor) -> Vec<&FargatePod> {
        self.pods.iter().filter(|p| p.kubelet.is_some_and(|k| k < cp)).collect()
    }

    /// "3 pods: 2 on 1.30, 1 on 1.31".
    pub fn describe(&self) -> String {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for p in &self.pods {
            *by.entry(p.kubelet.map(|k| k.to_string()).unwrap_or_else(|| "no node yet".into()))
                .or_default() += 1;
        }
        let parts: Vec<String> = by
            .iter()
            .map(|(k, n)| {
                if k.starts_with('n') {
                    format!("{n} {k}")
                } else {
                    format!("{n} on {k}")
                }
            })
            .collect();
        format!(
            "{} pod{}: {}",
            self.pods.len(),
            if self.pods.len() == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

/// The workloads still to restart, in the order the step takes them (namespace,
/// kind, name): those with a pod on a kubelet older than `cp`, neither restarted in
/// this step already nor skipped by the lead.
pub fn pending<'a>(
    workloads: &'a [Workload],
    cp: Minor,
    restarted: &BTreeSet<String>,
    skipped: &BTreeSet<String>,
) -> Vec<&'a Workload> {
    let mut todo: Vec<&Workload> = workloads
        .iter()
        .filter(|w| !w.old(cp).is_empty())
        .filter(|w| !restarted.contains(&w.id()) && !skipped.contains(&w.id()))
        .collect();
    todo.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    todo
}

/// Reads the Fargate nodes and pods now, grouped by workload.
pub async fn read(client: &kube::Client) -> Result<Vec<Workload>, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let kubelets: BTreeMap<String, Option<Minor>> = nodes
        .list(&ListParams::default().labels(&format!("{COMPUTE_TYPE}=fargate")))
        .await
        .map_err(|e| kube_failed("listing the Fargate nodes", e))?
        .items
        .into_iter()
        .map(|n| {
            let kubelet = n
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .and_then(|i| Minor::parse(&i.kubelet_version));
            (n.metadata.name.unwrap_or_default(), kubelet)
        })
        .collect();
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.schedulerName={SCHEDULER}")))
        .await
        .map_err(|e| kube_failed("listing the pods on Fargate", e))?
        .items;
    // a ReplicaSet's Deployment, read once per ReplicaSet
    let mut owners: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut by: BTreeMap<(String, Kind, String), Vec<FargatePod>> = BTreeMap::new();
    for p in pods {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let controller = p
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true))
            .cloned();
        let (kind, owner) = match controller {
            Some(o) if o.kind == "StatefulSet" => (Kind::StatefulSet, o.name),
            Some(o) if o.kind == "ReplicaSet" => {
                let key = (ns.clone(), o.name.clone());
                if !owners.contains_key(&key) {
                    let rs = Api::<ReplicaSet>::namespaced(client.clone(), &ns)
                        .get_opt(&o.name)
                        .await
                        .map_err(|e| kube_failed(&format!("reading ReplicaSet {ns}/{}", o.name), e))?;
                    let deployment = rs.and_then(|rs| {
                        rs.metadata
                            .owner_references
                            .unwrap_or_default()
                            .into_iter()
                            .find(|r| r.controller == Some(true) && r.kind == "Deployment")
                            .map(|r| r.name)
                    });
                    owners.insert(key.clone(), deployment);
                }
                match owners.get(&key).cloned().flatten() {
                    Some(d) => (Kind::Deployment, d),
                    None => (Kind::Pod, name.clone()),
                }
            }
            _ => (Kind::Pod, name.clone()),
        };
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        let kubelet = node.as_ref().and_then(|n| kubelets.get(n).copied().flatten());
        by.entry((ns, kind, owner)).or_default().push(FargatePod {
            name,
            node,
            kubelet,
            terminating: p.metadata.deletion_timestamp.is_some(),
        });
    }
    Ok(by
        .into_iter()
        .map(|((namespace, kind, name), pods)| Workload {
            kind,
            namespace,
            name,
            pods,
        })
        .collect())
}

/// How far a restarted workload has gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Its template does not carry this step's `restartedAt`: the patch never landed.
    NotApplied,
    /// Rolling out: what it waits for.
    Going(String),
    /// Rolled out, every pod on the control plane's kubelet (or the workload is gone).
    Done,
}

/// Where the restart of `id` (stamped `stamp`) stands: the controller's status, and
/// no pod of it left on a kubelet older than `cp`.
pub async fn rollout(
    client: &kube::Client,
    id: &str,
    stamp: &str,
    workloads: &[Workload],
    cp: Minor,
) -> Result<Rollout, StepError> {
    let mut parts = id.splitn(3, '/');
    let (kind, ns, name) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let stamped = |t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>| {
        t.and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT))
            .is_some_and(|v| v == stamp)
    };
    let waiting = match kind {
        "deployment" => {
            let Some(d) = Api::<Deployment>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map_err(|e| kube_failed(&format!("reading Deployment {ns}/{name}"), e))?
            else {
                return Ok(Rollout::Done);
            };
            let spec = d.spec.as_ref();
            if !stamped(spec.map(|s| &s.template)) {
                return Ok(Rollout::NotApplied);
            }
            let want = spec.and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let observed = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
            let updated = st.updated_replicas.unwrap_or(0);
            let available = st.available_replicas.unwrap_or(0);
            let total = st.replicas.unwrap_or(0);
            (!(observed && updated == want && available == want && total == want))
                .then(|| format!("{updated} of {want} pods updated, {available} available, {total} in all"))
        }
        "statefulset" => {
            let Some(s) = Api::<StatefulSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map_err(|e| kube_failed(&format!("reading StatefulSet {ns}/{name}"), e))?
            else {
                return Ok(Rollout::Done);
            };
            let spec = s.spec.as_ref();
            if !stamped(spec.map(|s| &s.template)) {
                return Ok(Rollout::NotApplied);
            }
            let want = spec.and_then(|s| s.replicas).unwrap_or(1);
            let st = s.status.clone().unwrap_or_default();
            let observed = st.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0);
            let updated = st.updated_replicas.unwrap_or(0);
            let ready = st.ready_replicas.unwrap_or(0);
            let same = st.update_revision.is_some() && st.current_revision == st.update_revision;
            (!(observed && same && updated == want && ready == want))
                .then(|| format!("{updated} of {want} pods updated, {ready} ready"))
        }
        // a pod is done once it is gone; still there and not leaving: not deleted yet
        _ => {
            if workloads
                .iter()
                .find(|w| w.id() == id)
                .is_some_and(|w| w.pods.iter().any(|p| !p.terminating))
            {
                return Ok(Rollout::NotApplied);
            }
            None
        }
    };
    if let Some(w) = waiting {
        return Ok(Rollout::Going(w));
    }
    let left = workloads
        .iter()
        .find(|w| w.id() == id)
        .map(|w| w.old(cp).len())
        .unwrap_or(0);
    if left > 0 {
        return Ok(Rollout::Going(format!(
            "{left} pod(s) still on a kubelet older than {cp}"
        )));
    }
    Ok(Rollout::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, kubelet: &str) -> FargatePod {
        FargatePod {
            name: name.into(),
            node: Some(format!("fargate-ip-{name}")),
            kubelet: Minor::parse(kubelet),
            terminating: false,
        }
    }

    fn wl(kind: Kind, ns: &str, name: &str, kubelets: &[&str]) -> Workload {
        Workload {
            kind,
            namespace: ns.into(),
            name: name.into(),
            pods: kubelets
                .iter()
                .enumerate()
                .map(|(i, k)| pod(&format!("{name}-{i}"), k))
                .collect(),
        }
    }

    #[test]
    fn pending_takes_old_workloads_in_order_leaving_restarted_and_skipped_ones() {
        let cp = Minor::parse("1.31").unwrap();
        let ws = vec![
            wl(Kind::Deployment, "payments", "ledger", &["1.30", "1.31"]),
            wl(Kind::Deployment, "jobs", "reports", &["1.30"]),
            wl(Kind::StatefulSet, "payments", "db", &["1.31"]),
            wl(Kind::Deployment, "payments", "checkout", &["1.30", "1.30"]),
        ];
        let none = BTreeSet::new();
        let ids: Vec<String> = pending(&ws, cp, &none, &none).iter().map(|w| w.id()).collect();
        assert_eq!(
            ids,
            [
                "deployment/jobs/reports",
                "deployment/payments/checkout",
                "deployment/payments/ledger"
            ]
        );
        let restarted = BTreeSet::from(["deployment/jobs/reports".to_string()]);
        let skipped = BTreeSet::from(["deployment/payments/ledger".to_string()]);
        let ids: Vec<String> = pending(&ws, cp, &restarted, &skipped).iter().map(|w| w.id()).collect();
        assert_eq!(ids, ["deployment/payments/checkout"]);
        // on the control plane's minor already: nothing to do
        assert!(pending(&ws, Minor::parse("1.30").unwrap(), &none, &none).is_empty());
    }

    #[test]
    fn a_workload_describes_its_pods_by_kubelet() {
        let mut w = wl(Kind::Deployment, "payments", "checkout", &["1.30", "1.31", "1.30"]);
        w.pods.push(FargatePod {
            name: "x".into(),
            node: None,
            kubelet: None,
            terminating: false,
        });
        assert_eq!(w.describe(), "4 pods: 2 on 1.30, 1 on 1.31, 1 no node yet");
        assert_eq!(w.old(Minor::parse("1.31").unwrap()).len(), 2);
    }
}
