//! The critical components of a cluster — DNS, pod networking, ingress, cluster
//! autoscaling — recognised by their workloads, with availability and version.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

/// The four kinds of critical component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Category {
    Dns,
    PodNetworking,
    Ingress,
    Autoscaling,
}

impl Category {
    pub fn label(self) -> &'static str {
        match self {
            Category::Dns => "DNS",
            Category::PodNetworking => "pod networking",
            Category::Ingress => "ingress",
            Category::Autoscaling => "autoscaling",
        }
    }
}

/// Names that identify each category: a workload named so (or `NAME-...`), or an
/// image with such a path part (`registry.k8s.io/ingress-nginx/controller`).
const KNOWN: &[(Category, &[&str])] = &[
    (Category::Dns, &["coredns", "kube-dns"]),
    (
        Category::PodNetworking,
        &["aws-node", "amazon-k8s-cni", "kube-proxy", "calico-node", "cilium"],
    ),
    (
        Category::Ingress,
        &[
            "ingress-nginx",
            "aws-load-balancer-controller",
            "traefik",
            "contour",
            "haproxy-ingress",
        ],
    ),
    (Category::Autoscaling, &["cluster-autoscaler", "karpenter"]),
];

fn is_named(s: &str, name: &str) -> bool {
    s == name || s.strip_prefix(name).is_some_and(|rest| rest.starts_with('-'))
}

/// Whether an image is called `wanted` in any part of its path
/// (`registry.k8s.io/ingress-nginx/controller:v1.11.2` is called `ingress-nginx`).
pub fn image_is_called(image: &str, wanted: &str) -> bool {
    let path = image.split('@').next().unwrap_or(image);
    let path = path
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(path, |(p, _)| p);
    path.split('/').any(|part| is_named(part, wanted))
}

/// Whether a workload is called `wanted`: by its own name or an image's.
pub fn is_called(name: &str, images: &[String], wanted: &str) -> bool {
    is_named(name, wanted) || images.iter().any(|i| image_is_called(i, wanted))
}

/// The category of a workload, from its name and images.
pub fn categorise(name: &str, images: &[String]) -> Option<Category> {
    KNOWN
        .iter()
        .find_map(|(category, names)| names.iter().any(|n| is_called(name, images, n)).then_some(*category))
}

/// `registry/path/name:tag@digest` → `name`
pub fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// `registry/path/name:v1.11.1-eksbuild.9` → `v1.11.1-eksbuild.9`
pub fn image_tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split_once(':').map(|(_, t)| t)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
}

/// A critical workload: how many pods it wants, how many are ready, on which version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    pub category: Category,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub desired: u32,
    pub ready: u32,
    pub available: u32,
    pub updated: u32,
    /// The first container's image tag.
    pub version: String,
    pub image: String,
}

impl ComponentInfo {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Every wanted pod is available.
    pub fn healthy(&self) -> bool {
        self.available >= self.desired
    }

    pub fn from_deployment(d: &Deployment) -> Option<ComponentInfo> {
        let images = images(d.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
        let name = d.metadata.name.clone().unwrap_or_default();
        let category = categorise(&name, &images)?;
        let status = d.status.as_ref();
        let count = |v: Option<i32>| v.map_or(0, |n| u32::try_from(n).unwrap_or(0));
        Some(ComponentInfo {
            category,
            kind: WorkloadKind::Deployment,
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            name,
            desired: count(d.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
            ready: count(status.and_then(|s| s.ready_replicas)),
            available: count(status.and_then(|s| s.available_replicas)),
            updated: count(status.and_then(|s| s.updated_replicas)),
            version: images.first().and_then(|i| image_tag(i)).unwrap_or("").to_string(),
            image: images.first().cloned().unwrap_or_default(),
        })
    }

    pub fn from_daemonset(d: &DaemonSet) -> Option<ComponentInfo> {
        let images = images(d.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
        let name = d.metadata.name.clone().unwrap_or_default();
        let category = categorise(&name, &images)?;
        let status = d.status.as_ref();
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Some(ComponentInfo {
            category,
            kind: WorkloadKind::DaemonSet,
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            name,
            desired: status.map_or(0, |s| count(s.desired_number_scheduled)),
            ready: status.map_or(0, |s| count(s.number_ready)),
            available: status.map_or(0, |s| count(s.number_available.unwrap_or(0))),
            updated: status.map_or(0, |s| count(s.updated_number_scheduled.unwrap_or(0))),
            version: images.first().and_then(|i| image_tag(i)).unwrap_or("").to_string(),
            image: images.first().cloned().unwrap_or_default(),
        })
    }
}

fn images(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> Vec<String> {
    spec.map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default()
}

/// A PodDisruptionBudget: how many disruptions it allows now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PdbInfo {
    pub namespace: String,
    pub name: String,
    pub disruptions_allowed: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    /// The budget's `matchLabels` (what it selects pods by).
    pub selector: Vec<(String, String)>,
}

impl PdbInfo {
    pub fn from_pdb(p: &PodDisruptionBudget) -> PdbInfo {
        let s = p.status.as_ref();
        PdbInfo {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            disruptions_allowed: s.map_or(0, |s| s.disruptions_allowed),
            current_healthy: s.map_or(0, |s| s.current_healthy),
            desired_healthy: s.map_or(0, |s| s.desired_healthy),
            expected_pods: s.map_or(0, |s| s.expected_pods),
            selector: p
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether it covers pods labelled `labels` (in its namespace): every label it
    /// selects by is among them. A budget with no `matchLabels` is taken to cover nothing.
    pub fn covers(&self, namespace: &str, labels: &[(String, String)]) -> bool {
        self.namespace == namespace && !self.selector.is_empty() && self.selector.iter().all(|s| labels.contains(s))
    }

    /// Blocks every eviction of its pods (while it covers any).
    pub fn blocks(&self) -> bool {
        self.disruptions_allowed <= 0 && self.expected_pods > 0
    }
}
