//! What a scenario's StatefulSets add to a workload: their volume claim templates
//! and pod management policy, with their checks.

use serde::{Deserialize, Serialize};

use super::{Problem, WorkloadKind, WorkloadSpec, quantity};

/// A volume claim template. YAML: `{name: data, storage: 20Gi, storageClass: gp3}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimTemplateSpec {
    pub name: String,
    /// The size asked for, a Kubernetes quantity (`20Gi`).
    pub storage: String,
    /// A StorageClass of the scenario; the default class when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Mounted at this path in the pod's container (default `/var/lib/NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodManagementPolicy {
    /// One pod at a time, each waiting for the one before to be Running and Ready.
    #[default]
    OrderedReady,
    /// Every pod at once.
    Parallel,
}

impl PodManagementPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PodManagementPolicy::OrderedReady => "OrderedReady",
            PodManagementPolicy::Parallel => "Parallel",
        }
    }
}

/// Checks the StatefulSet fields of the workloads (and that others do not use them).
pub fn check(workloads: &[WorkloadSpec]) -> Result<(), Problem> {
    for (i, w) in workloads.iter().enumerate() {
        let at = |k: &'static str, path: String, message: String| Problem {
            list: "workloads",
            index: Some(i),
            key: Some(k),
            path,
            message,
        };
        let stateful = w.kind == WorkloadKind::StatefulSet;
        if !stateful {
            for (field, used) in [
                ("volumeClaimTemplates", !w.volume_claim_templates.is_empty()),
                ("serviceName", w.service_name.is_some()),
                ("podManagementPolicy", w.pod_management_policy.is_some()),
            ] {
                if used {
                    return Err(at(
                        field,
                        format!("workloads[{i}].{field}"),
                        format!("{field} applies to StatefulSets only"),
                    ));
                }
            }
        }
        if w.kind == WorkloadKind::Pod && w.min_ready_seconds > 0 {
            return Err(at(
                "minReadySeconds",
                format!("workloads[{i}].minReadySeconds"),
                "minReadySeconds applies to Deployments, DaemonSets and StatefulSets".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (t, c) in w.volume_claim_templates.iter().enumerate() {
            let path = |f: &str| format!("workloads[{i}].volumeClaimTemplates[{t}].{f}");
            if !super::dns_label(&c.name) || !names.insert(c.name.clone()) {
                return Err(at(
                    "volumeClaimTemplates",
                    path("name"),
                    format!("{:?} is not a valid name or is used twice", c.name),
                ));
            }
            if quantity::bytes(&c.storage).is_none_or(|b| b == 0) {
                return Err(at(
                    "volumeClaimTemplates",
                    path("storage"),
                    format!("invalid storage quantity {:?}: use e.g. \"20Gi\"", c.storage),
                ));
            }
        }
        if stateful && w.copies > 1 {
            return Err(at(
                "copies",
                format!("workloads[{i}].copies"),
                "copies is not supported for StatefulSets: write each one".into(),
            ));
        }
    }
    Ok(())
}
