//! Reads what preflight needs from a cluster, once and through a [`ClusterReader`]
//! (so it cannot write): nodes, pods, workloads, budgets, and the evidence of API
//! versions objects were written with (last-applied annotations, managedFields, Helm
//! v3 release records). Lists are paged; what RBAC or the server refuses is noted,
//! not fatal.

use std::collections::BTreeMap;
use std::io::Read;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, PodSpec, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use serde::Serialize;

use crate::cluster::ClusterReader;
use crate::model::node::GROUP_LABELS;
use crate::units::{Minor, quantity};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeFacts {
    pub name: String,
    pub group: String,
    pub zone: String,
    pub minor: String,
    pub kubelet: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    pub labels: BTreeMap<String, String>,
    pub cpu_millis: u64,
    pub memory: u64,
    pub max_pods: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Toleration {
    pub key: String,
    pub operator: String,
    pub value: String,
    pub effect: String,
}

impl Toleration {
    pub fn tolerates(&self, t: &Taint) -> bool {
        let key = self.key.is_empty() || self.key == t.key;
        let effect = self.effect.is_empty() || self.effect == t.effect;
        let value = self.operator == "Exists" || self.value == t.value;
        key && effect && value
    }

    /// `operator: Exists` without a key: tolerates every taint.
    pub fn is_wildcard(&self) -> bool {
        self.key.is_empty() && self.operator == "Exists"
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub phase: String,
    /// The controller's kind and name (`ReplicaSet`, `web-7d9c`), if any.
    pub owner: Option<(String, String)>,
    pub cpu_millis: u64,
    pub memory: u64,
    pub empty_dir: bool,
    pub host_path: bool,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub labels: BTreeMap<String, String>,
    /// Annotated `karpenter.sh/do-not-disrupt: "true"`: Karpenter will not disrupt its node.
    pub do_not_disrupt: bool,
    /// The PersistentVolumeClaims it mounts (names in its namespace).
    pub claims: Vec<String>,
}

impl PodFacts {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_daemon(&self) -> bool {
        matches!(&self.owner, Some((k, _)) if k == "DaemonSet")
    }

    /// A static pod mirrored by the kubelet.
    pub fn is_mirror(&self) -> bool {
        matches!(&self.owner, Some((k, _)) if k == "Node")
    }

    pub fn finished(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }

    /// Whether it may run on `node` (taints and node selector; not resources).
    pub fn fits_on(&self, node: &NodeFacts) -> bool {
        let selector = self.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v));
        let taints = node
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .all(|t| self.tolerations.iter().any(|tol| tol.tolerates(t)));
        selector && taints
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadFacts {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
    pub images: Vec<String>,
    pub tolerates_all: bool,
}

impl WorkloadFacts {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PdbFacts {
    pub namespace: String,
    pub name: String,
    pub match_labels: BTreeMap<String, String>,
    pub disruptions_allowed: i32,
    pub expected_pods: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
}

impl PdbFacts {
    pub fn covers(&self, pod: &PodFacts) -> bool {
        pod.namespace == self.namespace
            && !self.match_labels.is_empty()
            && self.match_labels.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

/// One write of an object through some API version, as managedFields record it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManagedWrite {
    pub api_version: String,
    pub manager: String,
    /// RFC 3339, as the server wrote it.
    pub time: Option<String>,
}

/// What an object says about the API versions it was written with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectEvidence {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// apiVersion in the last-applied-configuration annotation.
    pub last_applied: Option<String>,
    pub managed: Vec<ManagedWrite>,
}

impl ObjectEvidence {
    pub fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// A resource a Helm release renders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelmResource {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// The latest revision of a Helm v3 release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelmRelease {
    pub namespace: String,
    pub name: String,
    pub revision: u32,
    pub status: String,
    pub resources: Vec<HelmResource>,
}

/// Everything preflight reads from a cluster.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub server_version: String,
    pub nodes: Vec<NodeFacts>,
    pub pods: Vec<PodFacts>,
    pub workloads: Vec<WorkloadFacts>,
    pub pdbs: Vec<PdbFacts>,
    pub objects: Vec<ObjectEvidence>,
    pub helm: Vec<HelmRelease>,
    /// Each node's OS, kernel and container runtime (`status.nodeInfo`).
    #[serde(skip)]
    pub node_os: Vec<super::nodeos::NodeOs>,
    /// What could not be read, with why (RBAC, a resource the server does not serve).
    pub unreadable: Vec<(String, String)>,
    /// Bound claims whose volume is pinned to one zone: `namespace/claim` → volume, zone.
    pub claim_zones: BTreeMap<String, ClaimZone>,
}

/// Where a claim's volume lives.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClaimZone {
    pub volume: String,
    pub zone: String,
}

impl Snapshot {
    /// The control plane's minor, e.g. `1.30`.
    pub fn current_minor(&self) -> String {
        Minor::parse(&self.server_version)
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    fn note(&mut self, what: &str, e: &kube::Error) {
        let why = match e {
            kube::Error::Api(s) if s.code == 403 => format!("forbidden: {}", s.message),
            kube::Error::Api(s) if s.code == 404 => "not served by this API server".to_string(),
            other => other.to_string(),
        };
        self.unreadable.push((what.to_string(), why));
    }
}

fn evidence(kind: &str, meta: &ObjectMeta) -> Option<ObjectEvidence> {
    let last_applied = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|v| v.get("apiVersion").and_then(|a| a.as_str()).map(str::to_string));
    let managed: Vec<ManagedWrite> = meta
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            Some(ManagedWrite {
                api_version: m.api_version.clone()?,
                manager: m.manager.clone().unwrap_or_default(),
                time: m.time.as_ref().map(|t| t.0.to_string()),
            })
        })
        .collect();
    (last_applied.is_some() || !managed.is_empty()).then(|| ObjectEvidence {
        kind: kind.to_string(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        last_applied,
        managed,
    })
}

fn tolerations(spec: Option<&PodSpec>) -> Vec<Toleration> {
    spec.and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|t| Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator: t.operator.clone().unwrap_or_else(|| "Equal".into()),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
        })
        .collect()
}

fn requests(spec: Option<&PodSpec>) -> (u64, u64) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        if let Some(r) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) {
            cpu += r.get("cpu").and_then(|q| quantity::cpu_millis(&q.0)).unwrap_or(0);
            mem += r.get("memory").and_then(|q| quantity::bytes(&q.0)).unwrap_or(0);
        }
    }
    (cpu, mem)
}

pub fn node_facts(n: &Node) -> NodeFacts {
    let labels = n.metadata.labels.clone().unwrap_or_default();
    let group = GROUP_LABELS
        .iter()
        .find_map(|k| labels.get(*k))
        .cloned()
        .unwrap_or_else(|| crate::model::node::NO_GROUP.to_string());
    let status = n.status.as_ref();
    let kubelet = status
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default();
    let alloc = status.and_then(|s| s.allocatable.as_ref());
    let q = |k: &str| alloc.and_then(|a| a.get(k)).map(|q| q.0.clone()).unwrap_or_default();
    NodeFacts {
        name: n.metadata.name.clone().unwrap_or_default(),
        group,
        zone: labels.get("topology.kubernetes.io/zone").cloned().unwrap_or_default(),
        minor: Minor::parse(&kubelet).map(|m| m.to_string()).unwrap_or_default(),
        kubelet,
        ready: status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        unschedulable: n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        taints: n
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect(),
        labels,
        cpu_millis: quantity::cpu_millis(&q("cpu")).unwrap_or(0),
        memory: quantity::bytes(&q("memory")).unwrap_or(0),
        max_pods: q("pods").parse().unwrap_or(0),
    }
}

pub fn pod_facts(p: &Pod) -> PodFacts {
    let spec = p.spec.as_ref();
    let (cpu_millis, memory) = requests(spec);
    let volumes = spec.and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    PodFacts {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        node: spec.and_then(|s| s.node_name.clone()),
        phase: p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default(),
        owner: p
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| (o.kind.clone(), o.name.clone())),
        cpu_millis,
        memory,
        empty_dir: volumes.iter().any(|v| v.empty_dir.is_some()),
        host_path: volumes.iter().any(|v| v.host_path.is_some()),
        node_selector: spec.and_then(|s| s.node_selector.clone()).unwrap_or_default(),
        tolerations: tolerations(spec),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        claims: volumes
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone()))
            .collect(),
        do_not_disrupt: p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::model::karpenter::DO_NOT_DISRUPT))
            .is_some_and(|v| v == "true"),
    }
}

fn workload(kind: &str, meta: &ObjectMeta, replicas: u32, spec: Option<&PodSpec>) -> WorkloadFacts {
    WorkloadFacts {
        kind: kind.to_string(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        replicas,
        images: spec
            .map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
            .unwrap_or_default(),
        tolerates_all: tolerations(spec).iter().any(Toleration::is_wildcard),
    }
}

/// Decodes a Helm v3 release record: base64 of gzip of JSON.
pub fn decode_helm_release(encoded: &[u8]) -> Option<HelmRelease> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_ascii())
        .ok()?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        raw
    };
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let manifest = v.get("manifest").and_then(|m| m.as_str()).unwrap_or("");
    let mut resources = Vec::new();
    for doc in manifest.split("\n---") {
        let Ok(d) = serde_norway::from_str::<serde_json::Value>(doc) else {
            continue;
        };
        let (Some(api_version), Some(kind)) = (
            d.get("apiVersion").and_then(|x| x.as_str()),
            d.get("kind").and_then(|x| x.as_str()),
        ) else {
            continue;
        };
        resources.push(HelmResource {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: d
                .pointer("/metadata/name")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string(),
        });
    }
    Some(HelmRelease {
        namespace: v.get("namespace").and_then(|x| x.as_str()).unwrap_or("").to_string(),
        name: v.get("name").and_then(|x| x.as_str()).unwrap_or("").to_string(),
        revision: v
            .get("version")
            .and_then(|x| x.as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        status: v
            .pointer("/info/status")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string(),
        resources,
    })
}

/// Keeps the newest revision of each release (older ones are history, not intent).
fn latest_revisions(mut all: Vec<HelmRelease>) -> Vec<HelmRelease> {
    all.sort_by(|a, b| (&a.namespace, &a.name, b.revision).cmp(&(&b.namespace, &b.name, a.revision)));
    all.dedup_by(|later, first| later.namespace == first.namespace && later.name == first.name);
    all
}

/// The zones of bound claims' volumes, from PersistentVolumeClaims and PersistentVolumes.
async fn gather_volumes(reader: &ClusterReader, s: &mut Snapshot) {
    use crate::model::volume::volume_zone;
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let zones = match reader
        .list_all::<PersistentVolume, _>(|v| {
            (
                v.metadata.name.clone().unwrap_or_default(),
                volume_zone(v).map(str::to_string),
            )
        })
        .await
    {
        Ok(list) => list
            .into_iter()
            .filter_map(|(n, z)| Some((n, z?)))
            .collect::<BTreeMap<_, _>>(),
        Err(e) => return s.note("persistentvolumes", &e),
    };
    match reader
        .list_all::<PersistentVolumeClaim, _>(|c| {
            (
                format!(
                    "{}/{}",
                    c.metadata.namespace.as_deref().unwrap_or(""),
                    c.metadata.name.as_deref().unwrap_or("")
                ),
                c.spec.as_ref().and_then(|s| s.volume_name.clone()),
            )
        })
        .await
    {
        Ok(list) => {
            for (key, volume) in list {
                if let Some(v) = volume
                    && let Some(zone) = zones.get(&v)
                {
                    s.claim_zones.insert(
                        key,
                        ClaimZone {
                            volume: v,
                            zone: zone.clone(),
                        },
                    );
                }
            }
        }
        Err(e) => s.note("persistentvolumeclaims", &e),
    }
}

/// Reads the cluster, through a reader: preflight cannot write.
pub async fn gather(reader: &ClusterReader) -> Result<Snapshot, kube::Error> {
    let mut s = Snapshot {
        server_version: reader.server_version().await?,
        ..Snapshot::default()
    };
    match reader
        .list_all::<Node, _>(|n| (node_facts(n), super::nodeos::NodeOs::from_node(n)))
        .await
    {
        Ok(nodes) => (s.nodes, s.node_os) = nodes.into_iter().unzip(),
        Err(e) => s.note("nodes", &e),
    }
    match reader.list_all::<Pod, _>(pod_facts).await {
        Ok(pods) => s.pods = pods,
        Err(e) => s.note("pods", &e),
    }
    match reader.list_all::<Deployment, _>(Clone::clone).await {
        Ok(items) => {
            for d in &items {
                let spec = d.spec.as_ref();
                let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
                s.workloads.push(workload(
                    "Deployment",
                    &d.metadata,
                    replicas,
                    spec.and_then(|s| s.template.spec.as_ref()),
                ));
                s.objects.extend(evidence("Deployment", &d.metadata));
            }
        }
        Err(e) => s.note("deployments", &e),
    }
    match reader.list_all::<StatefulSet, _>(Clone::clone).await {
        Ok(items) => {
            for d in &items {
                let spec = d.spec.as_ref();
                let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
                s.workloads.push(workload(
                    "StatefulSet",
                    &d.metadata,
                    replicas,
                    spec.and_then(|s| s.template.spec.as_ref()),
                ));
                s.objects.extend(evidence("StatefulSet", &d.metadata));
            }
        }
        Err(e) => s.note("statefulsets", &e),
    }
    match reader.list_all::<DaemonSet, _>(Clone::clone).await {
        Ok(items) => {
            for d in &items {
                let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
                s.workloads.push(workload("DaemonSet", &d.metadata, 0, spec));
                s.objects.extend(evidence("DaemonSet", &d.metadata));
            }
        }
        Err(e) => s.note("daemonsets", &e),
    }
    match reader.list_all::<PodDisruptionBudget, _>(Clone::clone).await {
        Ok(items) => {
            for p in &items {
                let st = p.status.as_ref();
                s.pdbs.push(PdbFacts {
                    namespace: p.metadata.namespace.clone().unwrap_or_default(),
                    name: p.metadata.name.clone().unwrap_or_default(),
                    match_labels: p
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .and_then(|s| s.match_labels.clone())
                        .unwrap_or_default(),
                    disruptions_allowed: st.map_or(0, |s| s.disruptions_allowed),
                    expected_pods: st.map_or(0, |s| s.expected_pods),
                    current_healthy: st.map_or(0, |s| s.current_healthy),
                    desired_healthy: st.map_or(0, |s| s.desired_healthy),
                });
                s.objects.extend(evidence("PodDisruptionBudget", &p.metadata));
            }
        }
        Err(e) => s.note("poddisruptionbudgets", &e),
    }
    gather_volumes(reader, &mut s).await;
    let mut releases = Vec::new();
    // Helm v3 keeps releases in Secrets (the default) or ConfigMaps (HELM_DRIVER=configmap)
    let helm = ListParams::default().labels("owner=helm");
    match reader.list::<Secret>(&helm).await {
        Ok(list) => releases.extend(list.items.iter().filter_map(|sec| {
            let data = sec.data.as_ref()?.get("release")?;
            decode_helm_release(&data.0)
        })),
        Err(e) => s.note("secrets (Helm releases)", &e),
    }
    match reader.list::<ConfigMap>(&helm).await {
        Ok(list) => releases.extend(list.items.iter().filter_map(|cm| {
            let data = cm.data.as_ref()?.get("release")?;
            decode_helm_release(data.as_bytes())
        })),
        Err(e) => s.note("configmaps (Helm releases)", &e),
    }
    s.helm = latest_revisions(releases);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn encode_release(json: &serde_json::Value) -> String {
        use base64::Engine;
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    #[test]
    fn helm_records_decode_and_only_the_latest_revision_counts() {
        let rel = |rev: u32, status: &str, api: &str| {
            serde_json::json!({
                "name": "shop", "namespace": "shop", "version": rev, "info": {"status": status},
                "manifest": format!("---\n# Source: shop/templates/pdb.yaml\napiVersion: {api}\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  maxUnavailable: 1\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n")
            })
        };
        let old = decode_helm_release(encode_release(&rel(1, "superseded", "policy/v1beta1")).as_bytes()).unwrap();
        let new = decode_helm_release(encode_release(&rel(2, "deployed", "policy/v1")).as_bytes()).unwrap();
        assert_eq!(old.revision, 1);
        assert_eq!(old.resources.len(), 2);
        assert_eq!(old.resources[0].api_version, "policy/v1beta1");
        assert_eq!(old.resources[0].name, "web");
        let latest = latest_revisions(vec![old, new]);
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].revision, 2);
        assert_eq!(latest[0].resources[0].api_version, "policy/v1");
        assert!(decode_helm_release(b"not base64!").is_none());
    }
}
