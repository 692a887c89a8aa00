//! A pod as the cockpit sees it: where it runs, who owns it, whether it is
//! scheduled, and what is wrong with it, projected from a `k8s_openapi` Pod.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{Interner, Timestamp};

/// The pod's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// What kind of object controls a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum OwnerKind {
    /// No controller: the pod is lost if its node is drained.
    None,
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    Job,
    /// A static pod, mirrored by the kubelet.
    Node,
    Other,
}

/// The kinds of pod error activity the cockpit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    CrashLoopBackOff,
    ImagePullBackOff,
    OOMKilled,
    Error,
    Evicted,
    /// Any other waiting reason that is not a normal start (CreateContainerConfigError, ...).
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::CrashLoopBackOff,
        ErrorKind::ImagePullBackOff,
        ErrorKind::OOMKilled,
        ErrorKind::Error,
        ErrorKind::Evicted,
        ErrorKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::CrashLoopBackOff => "CrashLoopBackOff",
            ErrorKind::ImagePullBackOff => "ImagePullBackOff",
            ErrorKind::OOMKilled => "OOMKilled",
            ErrorKind::Error => "Error",
            ErrorKind::Evicted => "Evicted",
            ErrorKind::Other => "Other",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodInfo {
    pub namespace: Arc<str>,
    pub name: String,
    pub node: Option<Arc<str>>,
    pub phase: PodPhase,
    pub owner_kind: OwnerKind,
    /// The controlling object's name (a ReplicaSet's name, a DaemonSet's, ...).
    pub owner: Option<Arc<str>>,
    /// Ready condition True.
    pub ready: bool,
    pub deleting: bool,
    pub restarts: u32,
    /// The error the pod shows now, if any.
    pub error: Option<ErrorKind>,
    /// The reason text behind the error or the waiting state.
    pub reason: Option<Box<str>>,
    /// Why the scheduler could not place it (PodScheduled=False message).
    pub unschedulable: Option<Box<str>>,
    pub empty_dir: bool,
    pub created: Option<Timestamp>,
    /// The claims it mounts and its node selector, for the few pods with claims.
    pub volumes: Option<Box<PodVolumes>>,
}

/// A pod's PersistentVolumeClaims and node selector: where its volumes let it run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVolumes {
    /// Claim names, in the pod's namespace.
    pub claims: Box<[Arc<str>]>,
    /// `spec.nodeSelector`, key and value.
    pub selector: Box<[(Arc<str>, Arc<str>)]>,
}

impl PodVolumes {
    fn from_spec(spec: &k8s_openapi::api::core::v1::PodSpec, strings: &mut Interner) -> Option<Box<PodVolumes>> {
        let claims: Box<[Arc<str>]> = spec
            .volumes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| strings.get(&c.claim_name))
            .collect();
        if claims.is_empty() {
            return None;
        }
        let selector = spec
            .node_selector
            .iter()
            .flatten()
            .map(|(k, v)| (strings.get(k), strings.get(v)))
            .collect();
        Some(Box::new(PodVolumes { claims, selector }))
    }
}

/// Waiting reasons that are part of a normal start.
const NORMAL_WAITING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

impl PodInfo {
    pub fn from_pod(pod: &Pod, strings: &mut Interner) -> PodInfo {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let controller = meta
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true));
        let owner_kind = match controller.map(|o| o.kind.as_str()) {
            None => OwnerKind::None,
            Some("ReplicaSet") => OwnerKind::ReplicaSet,
            Some("DaemonSet") => OwnerKind::DaemonSet,
            Some("StatefulSet") => OwnerKind::StatefulSet,
            Some("Job") => OwnerKind::Job,
            Some("Node") => OwnerKind::Node,
            Some(_) => OwnerKind::Other,
        };
        let phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Pending") | None => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some(_) => PodPhase::Unknown,
        };
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
        let ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        let unschedulable = conditions
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| {
                c.message
                    .clone()
                    .or_else(|| c.reason.clone())
                    .unwrap_or_default()
                    .into_boxed_str()
            });
        let statuses = status
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default()
            .iter()
            .chain(status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default());
        let mut restarts = 0u32;
        let mut error = None;
        let mut reason: Option<String> = None;
        for cs in statuses {
            restarts = restarts.saturating_add(u32::try_from(cs.restart_count).unwrap_or(0));
            let state = cs.state.as_ref();
            let (kind, why) = if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
                let r = w.reason.as_deref().unwrap_or("");
                let kind = match r {
                    "CrashLoopBackOff" => {
                        // a crash loop caused by OOM kills is reported as OOMKilled
                        let last = cs
                            .last_state
                            .as_ref()
                            .and_then(|l| l.terminated.as_ref())
                            .and_then(|t| t.reason.as_deref());
                        Some(if last == Some("OOMKilled") {
                            ErrorKind::OOMKilled
                        } else {
                            ErrorKind::CrashLoopBackOff
                        })
                    }
                    "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => Some(ErrorKind::ImagePullBackOff),
                    r if r.is_empty() || NORMAL_WAITING.contains(&r) => None,
                    _ => Some(ErrorKind::Other),
                };
                (
                    kind,
                    w.message.clone().filter(|m| !m.is_empty()).or(Some(r.to_string())),
                )
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                let r = t.reason.as_deref().unwrap_or("");
                let kind = match r {
                    "OOMKilled" => Some(ErrorKind::OOMKilled),
                    "Completed" => None,
                    _ if t.exit_code != 0 => Some(ErrorKind::Error),
                    _ => None,
                };
                (kind, Some(format!("{r} (exit code {})", t.exit_code)))
            } else {
                (None, None)
            };
            if kind.is_some() && error.is_none() {
                error = kind;
                reason = why;
            }
        }
        let pod_reason = status.and_then(|s| s.reason.as_deref());
        if phase == PodPhase::Failed && error.is_none() {
            error = Some(if pod_reason == Some("Evicted") {
                ErrorKind::Evicted
            } else {
                ErrorKind::Error
            });
            reason = status
                .and_then(|s| s.message.clone())
                .or_else(|| pod_reason.map(str::to_string));
        }
        let empty_dir = spec
            .and_then(|s| s.volumes.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|v| v.empty_dir.is_some());
        PodInfo {
            namespace: strings.get(meta.namespace.as_deref().unwrap_or("")),
            name: meta.name.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.as_deref()).map(|n| strings.get(n)),
            phase,
            owner_kind,
            owner: controller.map(|o| strings.get(&o.name)),
            ready,
            deleting: meta.deletion_timestamp.is_some(),
            restarts,
            error,
            reason: reason.map(String::into_boxed_str),
            unschedulable,
            empty_dir,
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            volumes: spec.and_then(|s| PodVolumes::from_spec(s, strings)),
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// A pod no controller brings back: nothing owns it, it is not a node's static
    /// pod, and it has not finished.
    pub fn is_ownerless(&self) -> bool {
        self.owner_kind == OwnerKind::None && !matches!(self.phase, PodPhase::Succeeded | PodPhase::Failed)
    }

    /// Waiting for a node: not bound, not finished, not being deleted.
    pub fn is_unscheduled(&self) -> bool {
        self.node.is_none() && self.phase == PodPhase::Pending && !self.deleting
    }

    /// The workload a pod belongs to, for grouping: a ReplicaSet's pods are shown
    /// under their Deployment's name (the ReplicaSet name less its hash suffix).
    pub fn workload(&self) -> String {
        match (&self.owner, self.owner_kind) {
            (Some(o), OwnerKind::ReplicaSet) => match o.rsplit_once('-') {
                Some((base, hash)) if !base.is_empty() && hash.len() >= 5 => format!("{}/{base}", self.namespace),
                _ => format!("{}/{o}", self.namespace),
            },
            (Some(o), _) => format!("{}/{o}", self.namespace),
            (None, _) => format!("{}/{}", self.namespace, self.name),
        }
    }
}
