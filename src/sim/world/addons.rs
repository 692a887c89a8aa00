//! EKS add-ons of the simulated cluster (vpc-cni, kube-proxy, coredns): which versions
//! exist for which Kubernetes minor (`assets/eks-addons.yaml`), the add-ons found in
//! the world's workloads, and `UpdateAddon`, which rolls the workload's image.

use std::sync::OnceLock;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Deserialize;

use super::eks::{AwsError, Update, UpdateStatus, UpdateTarget, new_update, update_mut, wake};
use super::{World, minor_of};

const TABLE: &str = include_str!("../../../assets/eks-addons.yaml");

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonTable {
    pub addons: Vec<AddonSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub workload: WorkloadRef,
    pub versions: Vec<AddonVersion>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonVersion {
    pub version: String,
    pub cluster_versions: Vec<String>,
    pub default_for: Vec<String>,
}

/// The add-on version table shipped in `assets/eks-addons.yaml`.
pub fn table() -> &'static AddonTable {
    static TABLE_CELL: OnceLock<AddonTable> = OnceLock::new();
    TABLE_CELL.get_or_init(|| {
        serde_norway::from_str(TABLE).unwrap_or_else(|e| {
            tracing::error!("assets/eks-addons.yaml does not parse: {e}");
            AddonTable { addons: Vec::new() }
        })
    })
}

/// An installed add-on.
#[derive(Clone, Debug)]
pub struct Addon {
    pub name: String,
    pub version: String,
    pub workload: WorkloadRef,
    pub created: Timestamp,
    pub modified: Timestamp,
    /// The update rolling it now, if any.
    pub updating: Option<String>,
}

/// The add-ons of a freshly built world: each table entry whose workload exists,
/// at the version its image tag names.
pub fn discover(w: &mut World) {
    let created = w.aws.created.unwrap_or(w.now);
    for spec in &table().addons {
        let key = format!("{}/{}", spec.workload.namespace, spec.workload.name);
        let template = match spec.workload.kind.as_str() {
            "DaemonSet" => w
                .daemonsets
                .get(&key)
                .and_then(|d| d.spec.as_ref().map(|s| s.template.clone())),
            _ => w
                .deployments
                .get(&key)
                .and_then(|d| d.spec.as_ref().map(|s| s.template.clone())),
        };
        let Some(version) = template.as_ref().and_then(image_tag) else {
            continue;
        };
        w.aws.addons.push(Addon {
            name: spec.name.clone(),
            version,
            workload: spec.workload.clone(),
            created,
            modified: created,
            updating: None,
        });
    }
}

fn image_tag(t: &PodTemplateSpec) -> Option<String> {
    let image = &t.spec.as_ref()?.containers.first()?.image.as_ref()?.clone();
    image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map(|(_, tag)| tag.to_string())
}

fn with_tag(image: &str, tag: &str) -> String {
    match image.rsplit_once(':') {
        Some((repo, old)) if !old.contains('/') => format!("{repo}:{tag}"),
        _ => format!("{image}:{tag}"),
    }
}

/// Versions of `addon` that run on Kubernetes `minor`, newest first, and the default.
pub fn compatible(addon: &str, minor: &str) -> (Vec<String>, Option<String>) {
    let Some(spec) = table().addons.iter().find(|a| a.name == addon) else {
        return (Vec::new(), None);
    };
    let versions = spec
        .versions
        .iter()
        .filter(|v| v.cluster_versions.iter().any(|c| c == minor))
        .map(|v| v.version.clone())
        .collect();
    let default = spec
        .versions
        .iter()
        .find(|v| v.default_for.iter().any(|c| c == minor))
        .map(|v| v.version.clone());
    (versions, default)
}

pub fn find<'a>(w: &'a World, name: &str) -> Option<&'a Addon> {
    w.aws.addons.iter().find(|a| a.name == name)
}

/// `UpdateAddon`: checks the version against the cluster's minor, then rolls the
/// workload's image to it.
pub fn update(
    w: &mut World,
    name: &str,
    version: Option<&str>,
    resolve_conflicts: Option<&str>,
) -> Result<Update, AwsError> {
    let Some(addon) = find(w, name).cloned() else {
        return Err(AwsError::not_found(format!(
            "No addon: {name} found in cluster: {}",
            w.cluster.name
        )));
    };
    if addon.updating.is_some() {
        return Err(AwsError::in_use(format!(
            "Addon {name} cannot be updated while an update is in progress"
        )));
    }
    let minor = minor_of(&w.cluster.version);
    let (versions, default) = compatible(name, &minor);
    let target = match version {
        Some(v) => v.to_string(),
        None => default.unwrap_or_else(|| addon.version.clone()),
    };
    if !versions.contains(&target) {
        return Err(AwsError::invalid(format!(
            "Addon version specified {target} is not supported for addon {name} on Kubernetes {minor}"
        )));
    }
    let mut params = vec![("AddonVersion".to_string(), target.clone())];
    if let Some(r) = resolve_conflicts {
        params.push(("ResolveConflicts".into(), r.into()));
    }
    let u = new_update(w, UpdateTarget::Addon(name.to_string()), "AddonUpdate", params);
    roll(w, &addon.workload, &target);
    let now = w.now;
    if let Some(a) = w.aws.addons.iter_mut().find(|a| a.name == name) {
        a.updating = Some(u.id.clone());
        a.version = target;
        a.modified = now;
    }
    wake(w);
    Ok(u)
}

fn roll(w: &mut World, workload: &WorkloadRef, tag: &str) {
    let key = format!("{}/{}", workload.namespace, workload.name);
    let retag = |t: &mut PodTemplateSpec| {
        if let Some(spec) = t.spec.as_mut() {
            for c in spec.containers.iter_mut() {
                if let Some(image) = c.image.as_mut() {
                    *image = with_tag(image, tag);
                }
            }
        }
    };
    if workload.kind == "DaemonSet" {
        if let Some(d) = w.daemonsets.get(&key).cloned() {
            let mut d: DaemonSet = (*d).clone();
            if let Some(s) = d.spec.as_mut() {
                retag(&mut s.template);
            }
            d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
            w.put(d);
        }
    } else if let Some(d) = w.deployments.get(&key).cloned() {
        let mut d: Deployment = (*d).clone();
        if let Some(s) = d.spec.as_mut() {
            retag(&mut s.template);
        }
        d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
        w.put(d);
    }
}

/// Whether the add-on's workload runs its new image everywhere, available.
fn rolled_out(w: &World, workload: &WorkloadRef) -> bool {
    let key = format!("{}/{}", workload.namespace, workload.name);
    if workload.kind == "DaemonSet" {
        w.daemonsets.get(&key).is_some_and(|d| {
            d.status.as_ref().is_some_and(|s| {
                s.observed_generation >= d.metadata.generation
                    && s.updated_number_scheduled == Some(s.desired_number_scheduled)
                    && s.number_available == Some(s.desired_number_scheduled)
            })
        })
    } else {
        w.deployments.get(&key).is_some_and(|d| {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            d.status.as_ref().is_some_and(|s| {
                s.observed_generation >= d.metadata.generation
                    && s.updated_replicas == Some(want)
                    && s.available_replicas == Some(want)
                    && s.replicas == Some(want)
            })
        })
    }
}

/// Marks add-on updates done once their workloads have rolled out.
pub fn step(w: &mut World) {
    let done: Vec<(String, String)> = w
        .aws
        .addons
        .iter()
        .filter_map(|a| {
            let id = a.updating.clone()?;
            rolled_out(w, &a.workload).then(|| (a.name.clone(), id))
        })
        .collect();
    for (name, id) in done {
        if let Some(a) = w.aws.addons.iter_mut().find(|a| a.name == name) {
            a.updating = None;
        }
        if let Some(u) = update_mut(w, &id) {
            u.status = UpdateStatus::Successful;
        }
    }
}

pub fn busy(w: &World) -> bool {
    w.aws.addons.iter().any(|a| a.updating.is_some())
}

/// The add-on's status as EKS reports it.
pub fn status(a: &Addon) -> &'static str {
    if a.updating.is_some() { "UPDATING" } else { "ACTIVE" }
}
