//! The node OS table (`assets/preflight/node-os.yaml`): the families of EKS-optimized
//! AMIs, which `amiType`s and `osImage`s belong to each, for which minors EKS
//! publishes them, their cgroup version and container runtime, and what the kubelet
//! stops accepting by minor.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::Deserialize;

use super::horizon::{Horizon, check_minors, check_unverified};
use super::{TableError, invalid};
use crate::units::Minor;

/// The cgroup version a family's nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupUse {
    V1,
    V2,
    /// Not a Linux cgroup host (Windows).
    None,
}

/// A family of EKS-optimized AMIs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OsFamily {
    pub name: String,
    /// The managed node group `amiType`s that select it.
    pub ami_types: Vec<String>,
    /// Prefixes of `status.nodeInfo.osImage` its nodes report.
    pub os_images: Vec<String>,
    pub cgroup: CgroupUse,
    /// The kubelet on it keeps starting on cgroup v1 (it sets `failCgroupV1: false`).
    #[serde(default)]
    pub tolerates_cgroup_v1: bool,
    /// The newest minor EKS publishes its AMIs for.
    pub published_through: String,
    /// No AMIs will follow for later minors.
    #[serde(rename = "final", default)]
    pub last: bool,
    #[serde(default)]
    pub end_of_support: Option<String>,
    /// `amiType` → the one to move to.
    #[serde(default)]
    pub move_to: BTreeMap<String, String>,
    /// The minor from which its AMIs ship containerd 2.x.
    #[serde(default)]
    pub containerd2_from: Option<String>,
    #[serde(default)]
    pub unverified: Vec<String>,
    pub source: String,
}

/// Whether EKS publishes a family's AMIs for a minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Published,
    /// EKS publishes none for this minor, and none will come.
    Never,
    /// The table cannot say.
    Unverified,
}

impl OsFamily {
    pub fn availability(&self, minor: &str) -> Availability {
        if self.is_unverified(minor) {
            Availability::Unverified
        } else if Minor::key(minor) <= Minor::key(&self.published_through) {
            Availability::Published
        } else if self.last {
            Availability::Never
        } else {
            Availability::Unverified
        }
    }

    /// Whether the table knows how the family stands on `minor`.
    pub fn knows(&self, minor: &str) -> bool {
        self.availability(minor) != Availability::Unverified
    }

    pub fn is_unverified(&self, minor: &str) -> bool {
        self.unverified.iter().any(|m| m == minor)
    }

    /// The day EKS stopped supporting it, if it has.
    pub fn end_of_support(&self) -> Option<Date> {
        self.end_of_support.as_deref().and_then(|d| d.parse().ok())
    }

    /// Whether its AMIs for `minor` ship containerd 2.x.
    pub fn ships_containerd2(&self, minor: &str) -> bool {
        self.containerd2_from
            .as_deref()
            .is_some_and(|from| Minor::key(from) <= Minor::key(minor))
    }
}

/// What the kubelet and the container runtime stop accepting, by minor.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeRules {
    pub kubelet_refuses_cgroup_v1_from: String,
    /// The oldest kernel (`major.minor`) that supports cgroup v2.
    pub cgroup_v2_min_kernel: String,
    pub containerd1_last_supported: String,
    pub dockershim_removed_in: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NodeOsFile {
    #[serde(default)]
    checked_against: Option<String>,
    #[serde(default)]
    checked_on: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    families: Vec<OsFamily>,
    runtime: RuntimeRules,
}

/// The node OS table and how far it reaches.
#[derive(Clone, Debug)]
pub struct NodeOsTable {
    pub horizon: Horizon,
    pub families: Vec<OsFamily>,
    pub runtime: RuntimeRules,
}

impl NodeOsTable {
    /// The family a managed node group's `amiType` selects.
    pub fn family_of_ami(&self, ami_type: &str) -> Option<&OsFamily> {
        self.families.iter().find(|f| f.ami_types.iter().any(|a| a == ami_type))
    }

    /// The family a node's `osImage` belongs to: the longest matching prefix wins, so
    /// "Amazon Linux 2023.6" is Amazon Linux 2023, not Amazon Linux 2.
    pub fn family_of_image(&self, os_image: &str) -> Option<&OsFamily> {
        self.families
            .iter()
            .flat_map(|f| f.os_images.iter().map(move |p| (f, p)))
            .filter(|(_, p)| os_image.starts_with(p.as_str()))
            .max_by_key(|(_, p)| p.len())
            .map(|(f, _)| f)
    }
}

pub(super) fn parse(text: &str, file: &str) -> Result<NodeOsTable, TableError> {
    let parsed: NodeOsFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let horizon = Horizon::from_fields(
        file,
        "node OS table",
        parsed.checked_against.as_deref(),
        parsed.checked_on.as_deref(),
        &parsed.sources,
    )?;
    let mut amis = BTreeSet::new();
    for f in &parsed.families {
        let at = |m: String| invalid(file, format!("family {}: {m}", f.name));
        if f.ami_types.is_empty() || f.os_images.is_empty() {
            return Err(at("needs amiTypes and osImages".into()));
        }
        for a in &f.ami_types {
            if !amis.insert(a.clone()) {
                return Err(at(format!("amiType {a} belongs to two families")));
            }
        }
        check_minors(
            file,
            &format!("family {}.publishedThrough", f.name),
            [&f.published_through],
        )?;
        if let Some(c) = &f.containerd2_from {
            check_minors(file, &format!("family {}.containerd2From", f.name), [c])?;
        }
        if let Some(d) = &f.end_of_support
            && d.parse::<Date>().is_err()
        {
            return Err(at(format!("endOfSupport {d:?} is not a date like 2025-11-26")));
        }
        for (from, to) in &f.move_to {
            if !f.ami_types.contains(from) {
                return Err(at(format!("moveTo names {from}, which is not one of its amiTypes")));
            }
            if parsed.families.iter().all(|g| !g.ami_types.contains(to)) {
                return Err(at(format!("moveTo {to} is no family's amiType")));
            }
        }
        check_unverified(file, &format!("family {}", f.name), &f.unverified, &horizon, |m| {
            Minor::key(m) <= Minor::key(&f.published_through) || f.last
        })?;
    }
    let r = &parsed.runtime;
    for (field, v) in [
        ("kubeletRefusesCgroupV1From", &r.kubelet_refuses_cgroup_v1_from),
        ("cgroupV2MinKernel", &r.cgroup_v2_min_kernel),
        ("containerd1LastSupported", &r.containerd1_last_supported),
        ("dockershimRemovedIn", &r.dockershim_removed_in),
    ] {
        if Minor::parse_exact(v).is_none() {
            return Err(invalid(
                file,
                format!("runtime.{field} {v:?} is not a version like \"1.35\""),
            ));
        }
    }
    Ok(NodeOsTable {
        horizon,
        families: parsed.families,
        runtime: parsed.runtime,
    })
}
