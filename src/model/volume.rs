//! Zonal volumes as the cockpit sees them: PersistentVolumeClaims (the volume each
//! is bound to, its class and phase) and PersistentVolumes (the zone their node
//! affinity pins them to, as EBS's CSI driver writes it), and why a pod whose volume
//! lives in one zone waits: no schedulable node it may use is left in that zone.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::node::{GROUP_LABELS, NodeInfo, Tri};
use super::pod::PodInfo;
use super::{Interner, Reflected};

/// The node labels a volume's node affinity names its zone by: Kubernetes' well-known
/// label, and the one the EBS CSI driver wrote before it used that.
pub const ZONE_KEYS: [&str; 2] = ["topology.kubernetes.io/zone", "topology.ebs.csi.aws.com/zone"];

/// A PersistentVolumeClaim (keyed `namespace/name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimInfo {
    /// The PersistentVolume it is bound to.
    pub volume: Option<Arc<str>>,
    pub class: Option<Arc<str>>,
    /// `Pending`, `Bound`, `Lost`
    pub phase: Arc<str>,
}

impl ClaimInfo {
    pub fn from_claim(c: &PersistentVolumeClaim, strings: &mut Interner) -> Option<ClaimInfo> {
        let spec = c.spec.as_ref();
        Some(ClaimInfo {
            volume: spec
                .and_then(|s| s.volume_name.as_deref())
                .filter(|v| !v.is_empty())
                .map(|v| strings.get(v)),
            class: spec
                .and_then(|s| s.storage_class_name.as_deref())
                .map(|v| strings.get(v)),
            phase: strings.get(c.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")),
        })
    }
}

/// A PersistentVolume (keyed by name): the zone its node affinity requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    pub zone: Option<Arc<str>>,
}

impl VolumeInfo {
    pub fn from_volume(v: &PersistentVolume, strings: &mut Interner) -> Option<VolumeInfo> {
        Some(VolumeInfo {
            zone: volume_zone(v).map(|z| strings.get(z)),
        })
    }
}

/// The zone a volume's required node affinity pins it to: a single value `In` one of
/// [`ZONE_KEYS`] (a volume reachable from several zones is not zonal).
pub fn volume_zone(v: &PersistentVolume) -> Option<&str> {
    let terms = &v
        .spec
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms;
    let mut zones = terms.iter().filter_map(|t| {
        t.match_expressions.as_deref()?.iter().find_map(|e| {
            let vals = e.values.as_deref()?;
            (ZONE_KEYS.contains(&e.key.as_str()) && e.operator == "In" && vals.len() == 1).then(|| vals[0].as_str())
        })
    });
    let first = zones.next()?;
    zones.all(|z| z == first).then_some(first)
}

/// Claims and volumes, as watched.
#[derive(Debug, Default)]
pub struct Volumes {
    pub claims: Reflected<ClaimInfo>,
    pub volumes: Reflected<VolumeInfo>,
}

/// One claim of a pod and the zone its volume is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZonedClaim {
    pub claim: String,
    pub volume: String,
    pub zone: String,
}

impl Volumes {
    /// The pod's claims whose volumes are bound and zonal.
    pub fn zones_of(&self, pod: &PodInfo) -> Vec<ZonedClaim> {
        let Some(v) = &pod.volumes else {
            return Vec::new();
        };
        v.claims
            .iter()
            .filter_map(|claim| {
                let c = self.claims.items.get(&format!("{}/{claim}", pod.namespace))?;
                let volume = c.volume.as_deref()?;
                let zone = self.volumes.items.get(volume)?.zone.as_deref()?;
                Some(ZonedClaim {
                    claim: claim.to_string(),
                    volume: volume.to_string(),
                    zone: zone.to_string(),
                })
            })
            .collect()
    }
}

/// A running pod with zonal volumes: what a drain of its node must leave room for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZonalPod {
    /// `namespace/name`
    pub pod: String,
    pub node: String,
    /// Its claims and their zones.
    pub claims: Vec<ZonedClaim>,
    /// Its node selector, `key`, `value`.
    pub selector: Vec<(String, String)>,
}

/// Every pod with a node and a bound zonal volume, by key.
pub fn zonal_pods(m: &super::ClusterModel) -> Vec<ZonalPod> {
    let mut out: Vec<ZonalPod> = m
        .pod_index
        .with_claims
        .iter()
        .filter_map(|k| m.pods.items.get(k))
        .filter(|p| !p.deleting)
        .filter_map(|p| {
            let node = p.node.as_deref()?;
            let claims = m.volumes.zones_of(p);
            (!claims.is_empty()).then(|| ZonalPod {
                pod: p.key(),
                node: node.to_string(),
                claims,
                selector: p
                    .volumes
                    .iter()
                    .flat_map(|v| v.selector.iter())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

/// Whether the scheduler's message says a volume's zone kept the pod off every node
/// (worded `had volume node affinity conflict` before 1.33, `didn't match
/// PersistentVolume's node affinity` since).
pub fn is_volume_conflict(message: &str) -> bool {
    message.contains("volume node affinity conflict")
        || message.contains("didn't match PersistentVolume's node affinity")
}

/// A node takes new pods: Ready, not cordoned, not on its way out.
pub fn schedulable(n: &NodeInfo) -> bool {
    n.ready == Tri::True && !n.unschedulable && !n.terminating()
}

/// Whether the node's labels, as far as the cockpit keeps them, satisfy a node
/// selector term `key=value`. `None`: a label the cockpit does not keep.
pub fn label_matches(node_group: &str, node_zone: &str, instance_type: &str, key: &str, value: &str) -> Option<bool> {
    if GROUP_LABELS.contains(&key) {
        Some(node_group == value)
    } else if ZONE_KEYS.contains(&key) {
        Some(node_zone == value)
    } else if key == "node.kubernetes.io/instance-type" {
        Some(instance_type == value)
    } else {
        None
    }
}

/// Whether `pod` may run on `n` by its node selector. A selector label the cockpit
/// does not keep is taken as met only on nodes of `home`, the group the pod ran in.
pub fn selects(pod: &PodInfo, n: &NodeInfo, home: Option<&str>) -> bool {
    let Some(v) = &pod.volumes else { return true };
    v.selector.iter().all(|(k, val)| {
        label_matches(&n.group, &n.zone, &n.instance_type, k, val)
            .unwrap_or_else(|| home.is_none_or(|h| *n.group == *h))
    })
}

/// Why a pending pod waits, when its volume's zone is the cause: `volume data-db-0 in
/// eu-west-1b: no schedulable node in that zone` and what to do. None when the pod
/// has no zonal volume, or the scheduler's message does not blame the volume and the
/// zone has a node for it.
pub fn why_waiting(
    pod: &PodInfo,
    volumes: &Volumes,
    nodes: &std::collections::HashMap<String, NodeInfo>,
) -> Option<String> {
    let zoned = volumes.zones_of(pod);
    let first = zoned.first()?;
    let conflict = pod.unschedulable.as_deref().is_some_and(is_volume_conflict);
    let zone = first.zone.as_str();
    let in_zone: Vec<&NodeInfo> = nodes.values().filter(|n| &*n.zone == zone).collect();
    let open: Vec<&&NodeInfo> = in_zone.iter().filter(|n| schedulable(n)).collect();
    // a pending pod has no node: a selector label the cockpit does not keep is taken as met
    let usable = open.iter().filter(|n| selects(pod, n, None)).count();
    let claim = &first.claim;
    let at = format!("volume {claim} in {zone}");
    let selector = pod
        .volumes
        .as_ref()
        .map(|v| {
            v.selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    if open.is_empty() {
        let what = if in_zone.is_empty() {
            "no node in that zone".to_string()
        } else {
            format!(
                "no schedulable node in that zone ({} cordoned, NotReady or leaving)",
                in_zone.len()
            )
        };
        return Some(format!(
            "{at}: {what}; uncordon a node in {zone} or add one there (the volume cannot move zones)"
        ));
    }
    if usable == 0 {
        return Some(format!(
            "{at}: no schedulable node in that zone it may run on (nodeSelector {selector}); \
             add such a node in {zone} or uncordon one"
        ));
    }
    conflict.then(|| {
        format!("{at}: its {usable} schedulable node(s) there lack room or refuse it; free room on a node in {zone}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pod::{OwnerKind, PodPhase, PodVolumes};
    use crate::model::{Change, NodeInfo};
    use std::collections::HashMap;

    fn node(name: &str, group: &str, zone: &str, cordoned: bool) -> NodeInfo {
        let n: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                "eks.amazonaws.com/nodegroup": group, "topology.kubernetes.io/zone": zone}},
            "spec": {"unschedulable": cordoned},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        NodeInfo::from_node(&n, &mut Interner::default())
    }

    fn pending(name: &str, claim: &str, message: &str) -> PodInfo {
        PodInfo {
            namespace: Arc::from("data"),
            name: name.into(),
            node: None,
            phase: PodPhase::Pending,
            owner_kind: OwnerKind::StatefulSet,
            owner: Some(Arc::from("db")),
            ready: false,
            deleting: false,
            restarts: 0,
            error: None,
            reason: None,
            unschedulable: Some(message.into()),
            empty_dir: false,
            created: None,
            volumes: Some(Box::new(PodVolumes {
                claims: vec![Arc::from(claim)].into(),
                selector: vec![(Arc::from("eks.amazonaws.com/nodegroup"), Arc::from("data"))].into(),
            })),
        }
    }

    fn volumes(claim: &str, zone: &str) -> Volumes {
        let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pvc-1"},
            "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [zone]}]}]}}}
        }))
        .unwrap();
        let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": claim, "namespace": "data"},
            "spec": {"volumeName": "pvc-1", "storageClassName": "gp3"},
            "status": {"phase": "Bound"}
        }))
        .unwrap();
        let mut s = Interner::default();
        let mut v = Volumes::default();
        v.volumes.apply(Change::Upsert(
            "pvc-1".into(),
            VolumeInfo::from_volume(&pv, &mut s).unwrap(),
        ));
        v.claims.apply(Change::Upsert(
            format!("data/{claim}"),
            ClaimInfo::from_claim(&pvc, &mut s).unwrap(),
        ));
        v
    }

    fn nodes(list: Vec<NodeInfo>) -> HashMap<String, NodeInfo> {
        list.into_iter().map(|n| (n.name.clone(), n)).collect()
    }

    const CONFLICT: &str = "0/6 nodes are available: 1 node(s) were unschedulable, 5 node(s) had volume node affinity conflict. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.";

    #[test]
    fn a_zone_whose_nodes_are_cordoned_is_named_with_the_claim() {
        let v = volumes("data-db-0", "eu-west-1b");
        let ns = nodes(vec![
            node("a1", "data", "eu-west-1a", false),
            node("b1", "data", "eu-west-1b", true),
        ]);
        let why = why_waiting(&pending("db-0", "data-db-0", CONFLICT), &v, &ns).expect("explained");
        assert!(
            why.starts_with("volume data-db-0 in eu-west-1b: no schedulable node in that zone"),
            "{why}"
        );
        assert!(why.contains("uncordon a node in eu-west-1b"), "{why}");
    }

    #[test]
    fn a_node_of_another_group_in_the_zone_does_not_count() {
        let v = volumes("data-db-0", "eu-west-1b");
        let ns = nodes(vec![
            node("b1", "data", "eu-west-1b", true),
            node("b2", "apps", "eu-west-1b", false),
        ]);
        let why = why_waiting(&pending("db-0", "data-db-0", CONFLICT), &v, &ns).expect("explained");
        assert!(why.contains("no schedulable node in that zone it may run on"), "{why}");
        assert!(why.contains("eks.amazonaws.com/nodegroup=data"), "{why}");
    }

    #[test]
    fn a_zone_with_room_is_not_blamed_unless_the_scheduler_says_so() {
        let v = volumes("data-db-0", "eu-west-1b");
        let ns = nodes(vec![node("b1", "data", "eu-west-1b", false)]);
        assert_eq!(
            why_waiting(
                &pending("db-0", "data-db-0", "0/1 nodes are available: 1 Insufficient cpu."),
                &v,
                &ns
            ),
            None
        );
        let why = why_waiting(&pending("db-0", "data-db-0", CONFLICT), &v, &ns).expect("the scheduler blames it");
        assert!(why.contains("lack room"), "{why}");
        // an unknown claim: nothing to say
        assert_eq!(why_waiting(&pending("db-0", "other", CONFLICT), &v, &ns), None);
    }

    #[test]
    fn both_wordings_of_the_scheduler_are_read() {
        assert!(is_volume_conflict(CONFLICT));
        assert!(is_volume_conflict(
            "0/3 nodes are available: 3 node(s) didn't match PersistentVolume's node affinity."
        ));
        assert!(!is_volume_conflict("0/3 nodes are available: 3 Insufficient cpu."));
    }
}
