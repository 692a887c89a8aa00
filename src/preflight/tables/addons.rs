//! The simulator's EKS add-on table (`assets/eks-addons.yaml`), as far as preflight's
//! loader checks it: its horizon, each version's minors, one default per minor, and
//! the minors each add-on leaves unverified. The simulator reads the same file for
//! DescribeAddonVersions; fields it does not need are ignored here, and ours there.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::horizon::{Horizon, check_minors, check_unverified};
use super::{TableError, invalid, semver};

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonVersion {
    pub version: String,
    pub cluster_versions: Vec<String>,
    pub default_for: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonEntry {
    pub name: String,
    pub versions: Vec<AddonVersion>,
    #[serde(default)]
    pub unverified: Vec<String>,
}

impl AddonEntry {
    /// Whether some version runs on `minor` and the minor is not marked unverified.
    pub fn offers(&self, minor: &str) -> bool {
        !self.is_unverified(minor) && self.lists(minor)
    }

    fn lists(&self, minor: &str) -> bool {
        self.versions
            .iter()
            .any(|v| v.cluster_versions.iter().any(|c| c == minor))
    }

    pub fn is_unverified(&self, minor: &str) -> bool {
        self.unverified.iter().any(|m| m == minor)
    }

    /// The version that is the default for `minor`.
    pub fn default_for(&self, minor: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.default_for.iter().any(|d| d == minor))
            .map(|v| v.version.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddonFile {
    #[serde(default)]
    checked_against: Option<String>,
    #[serde(default)]
    checked_on: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    addons: Vec<AddonEntry>,
}

/// The add-on table and how far it reaches.
#[derive(Clone, Debug)]
pub struct AddonTable {
    pub horizon: Horizon,
    pub addons: Vec<AddonEntry>,
}

pub(super) fn parse(text: &str, file: &str) -> Result<AddonTable, TableError> {
    let parsed: AddonFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let horizon = Horizon::from_fields(
        file,
        "EKS add-on table",
        parsed.checked_against.as_deref(),
        parsed.checked_on.as_deref(),
        &parsed.sources,
    )?;
    let mut names = BTreeSet::new();
    for a in &parsed.addons {
        let at = |m: String| invalid(file, format!("add-on {}: {m}", a.name));
        if !names.insert(a.name.clone()) {
            return Err(at("listed twice".into()));
        }
        let mut defaults = BTreeSet::new();
        let mut versions = BTreeSet::new();
        for v in &a.versions {
            if semver(&v.version).is_none() {
                return Err(at(format!("version {:?} does not parse", v.version)));
            }
            if !versions.insert(v.version.clone()) {
                return Err(at(format!("version {} is listed twice", v.version)));
            }
            check_minors(file, &format!("add-on {} {}", a.name, v.version), &v.cluster_versions)?;
            for d in &v.default_for {
                if !v.cluster_versions.contains(d) {
                    return Err(at(format!(
                        "{} is the default for {d} but does not run on it",
                        v.version
                    )));
                }
                if !defaults.insert(d.clone()) {
                    return Err(at(format!("two versions are the default for {d}")));
                }
            }
            for c in &v.cluster_versions {
                if !horizon.covers(c) {
                    return Err(at(format!(
                        "{} runs on {c}, beyond checkedAgainst {}",
                        v.version, horizon.checked_against
                    )));
                }
            }
        }
        // a modelled minor (listed and unverified) is allowed; it is still a gap in knowledge
        check_unverified(file, &format!("add-on {}", a.name), &a.unverified, &horizon, |_| false)?;
    }
    Ok(AddonTable {
        horizon,
        addons: parsed.addons,
    })
}
