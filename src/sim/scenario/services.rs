//! A scenario's `services:` (Services over its workloads' pods) and
//! `storageClasses:`, with their checks.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Problem, WorkloadSpec, dns_label};

/// A Service. YAML: `{name: web, workload: shop/web, ports: [80]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    /// Defaults to the workload's namespace, else `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `namespace/name` of a workload of the scenario: the Service selects its pods
    /// (`app: NAME`, the label every workload's pods carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Or a selector of its own; neither makes a Service without a selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// `clusterIP: None`: no virtual IP, the pods' addresses published as they are.
    #[serde(default)]
    pub headless: bool,
    #[serde(default)]
    pub publish_not_ready_addresses: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// A port: `80`, or `{port: 80, targetPort: 8080, name: http, protocol: TCP}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortSpec {
    Number(u16),
    Full(FullPort),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FullPort {
    pub port: u16,
    /// The pods' port (a number); defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "TCP".into()
}

impl PortSpec {
    /// (name, port, target port, protocol)
    pub fn parts(&self) -> (Option<String>, u16, u16, String) {
        match self {
            PortSpec::Number(p) => (None, *p, *p, tcp()),
            PortSpec::Full(f) => (
                f.name.clone(),
                f.port,
                f.target_port.unwrap_or(f.port),
                f.protocol.clone(),
            ),
        }
    }
}

impl ServiceSpec {
    /// The namespace the Service lives in.
    pub fn namespace(&self) -> String {
        self.namespace
            .clone()
            .or_else(|| {
                self.workload
                    .as_ref()
                    .and_then(|w| w.split_once('/'))
                    .map(|(ns, _)| ns.to_string())
            })
            .unwrap_or_else(|| "default".into())
    }

    /// The selector: the workload's pods, or the one given.
    pub fn selector(&self) -> BTreeMap<String, String> {
        match &self.workload {
            Some(w) => {
                let name = w.split_once('/').map(|(_, n)| n).unwrap_or(w);
                BTreeMap::from([("app".to_string(), name.to_string())])
            }
            None => self.selector.clone(),
        }
    }
}

/// A StorageClass. YAML: `{name: gp3, default: true}` (an EBS class that waits for
/// its first consumer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageClassSpec {
    pub name: String,
    #[serde(default = "ebs")]
    pub provisioner: String,
    /// Annotated as the cluster's default class.
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub volume_binding_mode: BindingMode,
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
    #[serde(default)]
    pub allow_volume_expansion: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

fn ebs() -> String {
    "ebs.csi.aws.com".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BindingMode {
    #[default]
    WaitForFirstConsumer,
    Immediate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReclaimPolicy {
    #[default]
    Delete,
    Retain,
}

impl BindingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BindingMode::WaitForFirstConsumer => "WaitForFirstConsumer",
            BindingMode::Immediate => "Immediate",
        }
    }
}

impl ReclaimPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReclaimPolicy::Delete => "Delete",
            ReclaimPolicy::Retain => "Retain",
        }
    }
}

/// Checks the Services against the workloads.
pub fn check_services(services: &[ServiceSpec], workloads: &[WorkloadSpec]) -> Result<(), Problem> {
    let known: BTreeMap<String, &WorkloadSpec> = workloads
        .iter()
        .map(|w| (format!("{}/{}", w.namespace, w.name), w))
        .collect();
    let mut seen = BTreeSet::new();
    for (i, s) in services.iter().enumerate() {
        let at = |k: &'static str, message: String| Problem {
            list: "services",
            index: Some(i),
            key: Some(k),
            path: format!("services[{i}].{k}"),
            message,
        };
        if !dns_label(&s.name) {
            return Err(at(
                "name",
                format!(
                    "{:?} is not a valid name: lower-case letters, digits and '-', at most 63",
                    s.name
                ),
            ));
        }
        if let Some(w) = &s.workload {
            let Some(wl) = known.get(w) else {
                return Err(at(
                    "workload",
                    format!("no workload {w:?} in this scenario (write it as namespace/name)"),
                ));
            };
            if wl.copies > 1 {
                return Err(at(
                    "workload",
                    format!("{w} has copies: give a selector for the copy the Service is for (app: NAME-N)"),
                ));
            }
            if !s.selector.is_empty() {
                return Err(at("selector", "give workload or selector, not both".into()));
            }
            if let Some(ns) = &s.namespace
                && !w.starts_with(&format!("{ns}/"))
            {
                return Err(at(
                    "namespace",
                    format!(
                        "the Service is in {ns} but its workload {w} is not: a Service selects pods of its own namespace"
                    ),
                ));
            }
        }
        let ns = s.namespace();
        if !dns_label(&ns) {
            return Err(at("namespace", format!("{ns:?} is not a valid namespace")));
        }
        if !seen.insert(format!("{ns}/{}", s.name)) {
            return Err(at("name", format!("Service {ns}/{} is defined twice", s.name)));
        }
        if s.ports.is_empty() && !s.headless {
            return Err(at(
                "ports",
                "a Service needs at least one port (or headless: true)".into(),
            ));
        }
        if s.headless && s.type_ != ServiceType::ClusterIP {
            return Err(at("headless", "only a ClusterIP Service can be headless".into()));
        }
        let mut names = BTreeSet::new();
        for (p, port) in s.ports.iter().enumerate() {
            let (name, number, _, protocol) = port.parts();
            if number == 0 {
                return Err(Problem {
                    path: format!("services[{i}].ports[{p}].port"),
                    ..at("ports", "0 is not a port: 1 to 65535".into())
                });
            }
            if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
                return Err(Problem {
                    path: format!("services[{i}].ports[{p}].protocol"),
                    ..at("ports", format!("{protocol:?} is not TCP, UDP or SCTP"))
                });
            }
            if s.ports.len() > 1 {
                let Some(n) = name else {
                    return Err(Problem {
                        path: format!("services[{i}].ports[{p}].name"),
                        ..at("ports", "a Service with several ports names each of them".into())
                    });
                };
                if !names.insert(n.clone()) {
                    return Err(Problem {
                        path: format!("services[{i}].ports[{p}].name"),
                        ..at("ports", format!("port name {n:?} is used twice"))
                    });
                }
            }
        }
    }
    Ok(())
}

/// Checks the StorageClasses and the claims that name them.
pub fn check_classes(classes: &[StorageClassSpec], workloads: &[WorkloadSpec]) -> Result<(), Problem> {
    let mut names = BTreeSet::new();
    for (i, c) in classes.iter().enumerate() {
        if !dns_label(&c.name) || !names.insert(c.name.clone()) {
            return Err(Problem {
                list: "storageClasses",
                index: Some(i),
                key: Some("name"),
                path: format!("storageClasses[{i}].name"),
                message: format!("{:?} is not a valid name or is defined twice", c.name),
            });
        }
    }
    if classes.iter().filter(|c| c.default).count() > 1 {
        let i = classes.iter().rposition(|c| c.default).unwrap_or(0);
        return Err(Problem {
            list: "storageClasses",
            index: Some(i),
            key: Some("default"),
            path: format!("storageClasses[{i}].default"),
            message: "only one StorageClass can be the default".into(),
        });
    }
    let has_default = classes.iter().any(|c| c.default);
    for (i, w) in workloads.iter().enumerate() {
        for (t, claim) in w.volume_claim_templates.iter().enumerate() {
            let problem = |message: String| Problem {
                list: "workloads",
                index: Some(i),
                key: Some("volumeClaimTemplates"),
                path: format!("workloads[{i}].volumeClaimTemplates[{t}].storageClass"),
                message,
            };
            match &claim.storage_class {
                Some(c) if !names.contains(c) => {
                    return Err(problem(format!(
                        "no StorageClass {c:?} in this scenario (storageClasses: {})",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                None if !has_default => {
                    return Err(problem(
                        "no storageClass given and no StorageClass is the default: name one, or mark one default"
                            .into(),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
