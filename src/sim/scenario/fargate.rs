//! Fargate profiles in a scenario: which pods EKS runs on Fargate (a profile's
//! selectors: a namespace and, optionally, labels), and the kubelet their pods started
//! with, checked against the rest of the scenario with errors that name the field.
//!
//! YAML:
//! ```yaml
//! fargateProfiles:
//!   - name: fp-apps
//!     selectors: [{namespace: apps, labels: {tier: web}}]
//!     kubeletVersion: "1.29"   # optional: the control plane's minor when its pods started
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MinorVersion, Problem, Scenario, WorkloadKind};

/// One Fargate profile (EKS `CreateFargateProfile`): pods matching any selector run on Fargate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FargateProfileSpec {
    pub name: String,
    pub selectors: Vec<FargateSelectorSpec>,
    /// The kubelet the profile's pods run at the start: the control plane's minor when
    /// they started (default: `cluster.version`). An older one is a cluster whose
    /// control plane moved without its Fargate pods being recycled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<MinorVersion>,
}

/// A profile's selector: a namespace, and labels a pod must all carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FargateSelectorSpec {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl FargateSelectorSpec {
    /// Whether a pod in `namespace` with `labels` matches.
    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// EKS allows at most five selectors per profile.
const MAX_SELECTORS: usize = 5;

/// Checks the profiles: names, selectors, versions; and that no DaemonSet would be
/// placed on Fargate (Fargate runs no DaemonSets).
pub fn check(s: &Scenario) -> Result<(), Problem> {
    let problem = |index: usize, key: &'static str, path: String, message: String| Problem {
        list: "fargateProfiles",
        index: Some(index),
        key: Some(key),
        path,
        message,
    };
    let cp = s.cluster.version;
    let mut names = std::collections::BTreeSet::new();
    for (i, p) in s.fargate_profiles.iter().enumerate() {
        let at = |k: &str| format!("fargateProfiles[{i}].{k}");
        if !valid_profile_name(&p.name) {
            return Err(problem(
                i,
                "name",
                at("name"),
                format!(
                    "{:?} is not a valid profile name: letters, digits, '-' and '_', starting with a letter, at most 100",
                    p.name
                ),
            ));
        }
        if !names.insert(p.name.clone()) {
            return Err(problem(
                i,
                "name",
                at("name"),
                format!("Fargate profile {:?} is defined twice", p.name),
            ));
        }
        if p.selectors.is_empty() || p.selectors.len() > MAX_SELECTORS {
            return Err(problem(
                i,
                "selectors",
                at("selectors"),
                format!(
                    "{} selectors: a profile takes 1 to {MAX_SELECTORS} (each a namespace and optional labels)",
                    p.selectors.len()
                ),
            ));
        }
        for (j, sel) in p.selectors.iter().enumerate() {
            if !super::dns_label(&sel.namespace) {
                return Err(problem(
                    i,
                    "selectors",
                    format!("fargateProfiles[{i}].selectors[{j}].namespace"),
                    format!(
                        "{:?} is not a namespace: lower-case letters, digits and '-', at most 63",
                        sel.namespace
                    ),
                ));
            }
        }
        if let Some(k) = p.kubelet_version
            && (k > cp || k.major != cp.major || cp.minor - k.minor > 3)
        {
            return Err(problem(
                i,
                "kubeletVersion",
                at("kubeletVersion"),
                format!(
                    "kubelet {k} is not one Fargate pods can run under the control plane {cp}: give {cp} or up to 3 minors older"
                ),
            ));
        }
    }
    for (i, w) in s.workloads.iter().enumerate() {
        if w.kind == WorkloadKind::DaemonSet
            && let Some(p) = profile_for(&s.fargate_profiles, &w.namespace, &w.labels)
        {
            return Err(Problem {
                list: "workloads",
                index: Some(i),
                key: Some("namespace"),
                path: format!("workloads[{i}].namespace"),
                message: format!(
                    "DaemonSet {}/{} matches Fargate profile {:?}, but Fargate runs no DaemonSets: move it to another namespace or narrow the profile's labels",
                    w.namespace, w.name, p.name
                ),
            });
        }
    }
    Ok(())
}

/// EKS's profile names: `^[0-9A-Za-z][A-Za-z0-9\-_]*`, at most 100 characters.
fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first profile (in the scenario's order) one of whose selectors matches a pod.
pub fn profile_for<'a>(
    profiles: &'a [FargateProfileSpec],
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'a FargateProfileSpec> {
    profiles
        .iter()
        .find(|p| p.selectors.iter().any(|s| s.matches(namespace, labels)))
}

#[cfg(test)]
mod tests {
    use super::super::Scenario;

    const BASE: &str = r#"
name: t
cluster: {name: t, version: "1.30"}
nodeGroups: [{name: ng, kind: managed, instanceType: m5.large, size: 1}]
workloads:
  - {name: web, namespace: apps, kind: Deployment, replicas: 2, image: web:1}
"#;

    fn with(extra: &str) -> Result<Scenario, String> {
        Scenario::from_yaml(&format!("{BASE}{extra}"), "t.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_profile_parses_and_matches_by_namespace_and_labels() {
        let s =
            with("fargateProfiles: [{name: fp-apps, selectors: [{namespace: apps, labels: {tier: web}}]}]\n").unwrap();
        let p = &s.fargate_profiles[0];
        let mut labels = std::collections::BTreeMap::new();
        assert!(super::profile_for(&s.fargate_profiles, "apps", &labels).is_none());
        labels.insert("tier".to_string(), "web".to_string());
        assert_eq!(super::profile_for(&s.fargate_profiles, "apps", &labels), Some(p));
        assert!(super::profile_for(&s.fargate_profiles, "other", &labels).is_none());
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let e = with("fargateProfiles:\n  - name: fp\n    selectors: []\n").unwrap_err();
        assert!(
            e.contains("fargateProfiles[0].selectors") && e.contains("1 to 5"),
            "{e}"
        );
        assert!(e.starts_with("t.yaml:9:"), "{e}");
        let e = with("fargateProfiles: [{name: fp, kubeletVersion: \"1.31\", selectors: [{namespace: apps}]}]\n")
            .unwrap_err();
        assert!(
            e.contains("fargateProfiles[0].kubeletVersion") && e.contains("1.31"),
            "{e}"
        );
        let e = with("fargateProfiles: [{name: fp, selectors: [{namespace: Apps}]}]\n").unwrap_err();
        assert!(e.contains("fargateProfiles[0].selectors[0].namespace"), "{e}");
        let e = with(
            "fargateProfiles: [{name: fp, selectors: [{namespace: apps}]}, {name: fp, selectors: [{namespace: b}]}]\n",
        )
        .unwrap_err();
        assert!(e.contains("defined twice"), "{e}");
        let e = with("fargateProfiles: [{name: fp, selectors: [{namespace: apps, lables: {}}]}]\n").unwrap_err();
        assert!(e.contains("lables"), "{e}");
    }

    #[test]
    fn a_daemonset_on_fargate_is_refused() {
        let yaml = BASE.replace("kind: Deployment, replicas: 2", "kind: DaemonSet");
        let e = Scenario::from_yaml(
            &format!("{yaml}fargateProfiles: [{{name: fp, selectors: [{{namespace: apps}}]}}]\n"),
            "t.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("workloads[0].namespace") && e.contains("no DaemonSets"),
            "{e}"
        );
    }
}
