//! The data preflight judges by, from `assets/preflight/`: Kubernetes API removals
//! per release, and which versions of the critical components run on which minor.
//! Both are checked for consistency when loaded; a user file can add removals.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::parse_minor;

const REMOVED_APIS: &str = include_str!("../../assets/preflight/removed-apis.yaml");
const COMPONENTS: &str = include_str!("../../assets/preflight/components.yaml");

/// An API version of some kinds that a release stopped serving.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Removal {
    pub removed_in: String,
    pub api_version: String,
    pub kinds: Vec<String>,
    /// The apiVersion to use instead; None when the feature went away.
    pub replacement: Option<String>,
    #[serde(default)]
    pub replacement_since: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemovalFile {
    removals: Vec<Removal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    SameMinor,
    KubeProxySkew,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentRule {
    pub name: String,
    pub category: String,
    /// Workload names or image path parts that identify it.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    #[serde(default)]
    pub rule: Option<Rule>,
    /// Component minor → Kubernetes minors it supports.
    #[serde(default)]
    pub supports: BTreeMap<String, Vec<String>>,
    /// Kubernetes minor → oldest component version for it.
    #[serde(default)]
    pub minimum: BTreeMap<String, String>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentFile {
    components: Vec<ComponentRule>,
}

/// Both tables, validated.
#[derive(Clone, Debug)]
pub struct Tables {
    pub removals: Vec<Removal>,
    pub components: Vec<ComponentRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("reading {file}: {source}")]
    Read { file: String, source: std::io::Error },
}

fn invalid(file: &str, message: String) -> TableError {
    TableError::Invalid {
        file: file.to_string(),
        message,
    }
}

/// `v1.11.3-eksbuild.1` or `1.0.5` → (1, 11, 3)
pub fn semver(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let a = parts.next()?.parse().ok()?;
    let b = parts.next()?.parse().ok()?;
    let c = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((a, b, c))
}

fn parse_removals(text: &str, file: &str) -> Result<Vec<Removal>, TableError> {
    let parsed: RemovalFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in parsed.removals.iter().enumerate() {
        let at = |m: String| invalid(file, format!("removals[{i}] ({} {:?}): {m}", r.api_version, r.kinds));
        if parse_minor(&r.removed_in).is_none() {
            return Err(at(format!(
                "removedIn {:?} is not a version like \"1.25\"",
                r.removed_in
            )));
        }
        if let Some(s) = &r.replacement_since
            && parse_minor(s).is_none()
        {
            return Err(at(format!("replacementSince {s:?} is not a version like \"1.21\"")));
        }
        match (&r.replacement, &r.note) {
            (None, None) => return Err(at("no replacement and no note saying there is none".into())),
            (Some(_), _) if r.replacement_since.is_none() => {
                return Err(at("a replacement needs replacementSince".into()));
            }
            _ => {}
        }
        if !r.api_version.contains('/') {
            return Err(at("apiVersion must be group/version".into()));
        }
        if r.kinds.is_empty() {
            return Err(at("no kinds".into()));
        }
        for k in &r.kinds {
            if !seen.insert((r.api_version.clone(), k.clone())) {
                return Err(at(format!("{} {k} is listed twice", r.api_version)));
            }
        }
    }
    Ok(parsed.removals)
}

fn parse_components(text: &str, file: &str) -> Result<Vec<ComponentRule>, TableError> {
    let parsed: ComponentFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let mut names = std::collections::BTreeSet::new();
    for c in &parsed.components {
        let at = |m: String| invalid(file, format!("component {}: {m}", c.name));
        if !names.insert(c.name.clone()) {
            return Err(at("listed twice".into()));
        }
        if c.rule.is_none() && c.supports.is_empty() && c.minimum.is_empty() {
            return Err(at("gives no rule, supports or minimum".into()));
        }
        for (comp, kube) in &c.supports {
            if parse_minor(comp).is_none() || kube.iter().any(|k| parse_minor(k).is_none()) {
                return Err(at(format!(
                    "supports {comp}: {kube:?} has a version that does not parse"
                )));
            }
        }
        for (kube, min) in &c.minimum {
            if parse_minor(kube).is_none() || semver(min).is_none() {
                return Err(at(format!("minimum {kube}: {min} does not parse")));
            }
        }
    }
    Ok(parsed.components)
}

impl Tables {
    /// The built-in tables, plus removals from `extra` (same shape as the built-in file).
    pub fn load(extra: Option<&Path>) -> Result<Tables, TableError> {
        let mut removals = parse_removals(REMOVED_APIS, "assets/preflight/removed-apis.yaml")?;
        if let Some(path) = extra {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| TableError::Read {
                file: file.clone(),
                source,
            })?;
            let more = parse_removals(&text, &file)?;
            for m in more {
                removals.retain(|r| !(r.api_version == m.api_version && r.kinds.iter().any(|k| m.kinds.contains(k))));
                removals.push(m);
            }
        }
        let components = parse_components(COMPONENTS, "assets/preflight/components.yaml")?;
        Ok(Tables { removals, components })
    }

    /// The removal of `kind` in `api_version`, if it was ever removed.
    pub fn removal(&self, api_version: &str, kind: &str) -> Option<&Removal> {
        self.removals
            .iter()
            .find(|r| r.api_version == api_version && r.kinds.iter().any(|k| k == kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_tables_load_and_are_consistent() {
        let t = Tables::load(None).expect("built-in tables are valid");
        assert!(t.removals.len() >= 30);
        // each removal of 1.25 in the deprecation guide is there
        let pdb = t.removal("policy/v1beta1", "PodDisruptionBudget").expect("PDB v1beta1");
        assert_eq!(pdb.removed_in, "1.25");
        assert_eq!(pdb.replacement.as_deref(), Some("policy/v1"));
        let psp = t.removal("policy/v1beta1", "PodSecurityPolicy").expect("PSP");
        assert!(psp.replacement.is_none() && psp.note.is_some());
        // replacements are served before the removal
        for r in &t.removals {
            if let Some(since) = &r.replacement_since {
                assert!(
                    crate::model::minor_key(since) < crate::model::minor_key(&r.removed_in),
                    "{} {:?}: replacement from {since} is not before the removal in {}",
                    r.api_version,
                    r.kinds,
                    r.removed_in
                );
            }
        }
        // no removals in releases that removed none
        for none in ["1.23", "1.24", "1.28", "1.30", "1.31"] {
            assert!(t.removals.iter().all(|r| r.removed_in != none), "{none}");
        }
        assert!(t.components.iter().any(|c| c.name == "cluster-autoscaler"));
    }

    #[test]
    fn bad_tables_are_refused_naming_the_entry() {
        let dup = "removals:\n  - {removedIn: \"1.25\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n  - {removedIn: \"1.25\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n";
        let e = parse_removals(dup, "x.yaml").unwrap_err().to_string();
        assert!(e.contains("x.yaml") && e.contains("listed twice"), "{e}");
        let bad = "removals:\n  - {removedIn: \"one\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n";
        let e = parse_removals(bad, "x.yaml").unwrap_err().to_string();
        assert!(e.contains("removals[0]") && e.contains("removedIn"), "{e}");
        let none = "removals:\n  - {removedIn: \"1.25\", apiVersion: policy/v1beta1, kinds: [PodSecurityPolicy], replacement: null}\n";
        let e = parse_removals(none, "x.yaml").unwrap_err().to_string();
        assert!(e.contains("no replacement and no note"), "{e}");
    }

    #[test]
    fn a_user_file_adds_and_overrides_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ours.yaml");
        std::fs::write(
            &path,
            "removals:\n  - {removedIn: \"1.31\", apiVersion: example.com/v1alpha1, kinds: [Widget], replacement: example.com/v1, replacementSince: \"1.28\"}\n  - {removedIn: \"1.26\", apiVersion: policy/v1beta1, kinds: [PodDisruptionBudget], replacement: policy/v1, replacementSince: \"1.21\"}\n",
        )
        .unwrap();
        let t = Tables::load(Some(&path)).unwrap();
        assert_eq!(t.removal("example.com/v1alpha1", "Widget").unwrap().removed_in, "1.31");
        assert_eq!(
            t.removal("policy/v1beta1", "PodDisruptionBudget").unwrap().removed_in,
            "1.26"
        );
        // a broken user file is refused naming the file
        std::fs::write(&path, "removals: [{removedIn: x}]\n").unwrap();
        let e = Tables::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("ours.yaml"), "{e}");
        let missing = Tables::load(Some(&dir.path().join("nope.yaml")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.yaml"), "{missing}");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(semver("v1.11.3-eksbuild.1"), Some((1, 11, 3)));
        assert_eq!(semver("1.0.5"), Some((1, 0, 5)));
        assert_eq!(semver("v1.12"), Some((1, 12, 0)));
        assert_eq!(semver("latest"), None);
    }
}
