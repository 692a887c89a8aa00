//! The scenario's Karpenter section: the controller's version, EC2NodeClasses (an AMI
//! alias, or an AMI pinned by id), NodePools (requirements, taints, budgets,
//! lifetimes, limits, nodes running at start, nodes marked `do-not-disrupt`) and
//! capacity EC2 refuses; with EKS Auto Mode, its built-in NodePools. The specs are
//! built here as the API server would store them, and checked with the CRDs' rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{MinorVersion, Scenario, TaintSpec};
use crate::sim::world::karpenter::automode;
use crate::sim::world::karpenter::catalog::{self, Ami, InstanceType};
use crate::sim::world::karpenter::spec;

/// `karpenter:` in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KarpenterSpec {
    /// Self-managed Karpenter's version (its controller Deployment's image tag), e.g. "1.8.2".
    #[serde(default)]
    pub version: Option<String>,
    /// Where the controller Deployment runs.
    #[serde(default = "kube_system")]
    pub namespace: String,
    /// The node group the controller runs on (default: the first).
    #[serde(default)]
    pub node_group: Option<String>,
    /// Virtual seconds from launch to a Ready node.
    #[serde(default = "sixty")]
    pub boot_seconds: u32,
    #[serde(default)]
    pub ec2_node_classes: Vec<Ec2NodeClassSpec>,
    #[serde(default)]
    pub node_pools: Vec<NodePoolSpec>,
    /// Offerings EC2 refuses with insufficient capacity.
    #[serde(default)]
    pub unavailable_offerings: Vec<UnavailableSpec>,
}

fn kube_system() -> String {
    "kube-system".into()
}
fn sixty() -> u32 {
    60
}

/// An AMI of the simulator's catalog, to pin an EC2NodeClass to by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmiRef {
    #[serde(default = "al2023")]
    pub family: String,
    pub kubernetes_version: MinorVersion,
    pub release: String,
}

fn al2023() -> String {
    "al2023".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ec2NodeClassSpec {
    pub name: String,
    /// An alias, `family@latest` or `family@vYYYYMMDD` (both follow the control plane's minor).
    #[serde(default)]
    pub ami: Option<String>,
    /// An AMI pinned by id (does not follow the control plane).
    #[serde(default)]
    pub ami_id: Option<AmiRef>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolSpec {
    pub name: String,
    /// The EC2NodeClass it launches from (Auto Mode: the NodeClass, `default`).
    #[serde(default)]
    pub node_class: Option<String>,
    /// Nodes running at start.
    #[serde(default)]
    pub nodes: u32,
    /// Instance type of the nodes running at start (default: the cheapest allowed with 4 vCPUs or more).
    #[serde(default)]
    pub instance_type: Option<String>,
    /// How long the nodes running at start have been up.
    #[serde(default = "three")]
    pub node_age_days: f64,
    /// The first N nodes at start carry `karpenter.sh/do-not-disrupt: "true"`.
    #[serde(default)]
    pub do_not_disrupt_nodes: u32,
    /// As in the NodePool (`key`, `operator`, `values`, `minValues`).
    #[serde(default)]
    pub requirements: Vec<Value>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    #[serde(default)]
    pub expire_after: Option<String>,
    #[serde(default)]
    pub termination_grace_period: Option<String>,
    /// As in the NodePool (`nodes`, `reasons`, `schedule`, `duration`); default `nodes: 10%`.
    #[serde(default)]
    pub budgets: Option<Vec<Value>>,
    #[serde(default)]
    pub consolidation_policy: Option<String>,
    #[serde(default)]
    pub consolidate_after: Option<String>,
    #[serde(default)]
    pub limits: BTreeMap<String, Value>,
    #[serde(default)]
    pub weight: Option<i32>,
}

fn three() -> f64 {
    3.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnavailableSpec {
    pub instance_type: String,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub capacity_type: Option<String>,
}

/// A problem with the Karpenter part of a scenario: where (the list, item and key
/// that find its line) and what.
pub struct Problem {
    pub list: &'static str,
    pub index: Option<usize>,
    pub key: Option<&'static str>,
    pub path: String,
    pub message: String,
}

fn problem(
    list: &'static str,
    index: Option<usize>,
    key: Option<&'static str>,
    path: String,
    message: String,
) -> Problem {
    Problem {
        list,
        index,
        key,
        path,
        message,
    }
}

impl Ec2NodeClassSpec {
    /// The AMI an `amiId` names.
    pub fn pinned_ami(&self) -> Option<Ami> {
        let r = self.ami_id.as_ref()?;
        Ami::of(&r.family, &r.kubernetes_version.to_string(), &r.release, "x86_64")
    }

    /// The EC2NodeClass spec as stored.
    pub fn spec(&self, cluster: &str) -> Value {
        let term = match (&self.ami, self.pinned_ami()) {
            (Some(alias), _) => json!({"alias": alias}),
            (None, Some(ami)) => json!({"id": ami.id}),
            (None, None) => json!({}),
        };
        let mut v = json!({
            "amiSelectorTerms": [term],
            "role": self.role.clone().unwrap_or_else(|| format!("KarpenterNodeRole-{cluster}")),
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": cluster}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": cluster}}],
        });
        if self.ami.is_none() {
            v["amiFamily"] = json!(match self.ami_id.as_ref().map(|a| a.family.as_str()) {
                Some("bottlerocket") => "Bottlerocket",
                Some("al2") => "AL2",
                _ => "AL2023",
            });
        }
        if !self.tags.is_empty() {
            v["tags"] = json!(self.tags);
        }
        spec::default_ec2_class(&mut v);
        v
    }
}

impl NodePoolSpec {
    /// The NodePool spec as stored (CRD defaults applied); Auto Mode's built-in
    /// pools start from EKS's own spec.
    pub fn spec(&self, auto_mode: bool) -> Value {
        let builtin = auto_mode.then(|| automode::builtin_pool(&self.name)).flatten();
        let mut v = builtin.clone().unwrap_or_else(
            || json!({"template": {"spec": {"nodeClassRef": {}, "requirements": []}}, "disruption": {}}),
        );
        let class = self.node_class.clone().unwrap_or_else(|| "default".into());
        if builtin.is_none() {
            v["template"]["spec"]["nodeClassRef"] = if auto_mode && self.node_class.is_none() {
                json!({"group": "eks.amazonaws.com", "kind": "NodeClass", "name": class})
            } else {
                json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": class})
            };
        }
        let t = &mut v["template"];
        if !self.requirements.is_empty() {
            t["spec"]["requirements"] = json!(self.requirements);
        }
        if !self.labels.is_empty() {
            t["metadata"] = json!({"labels": self.labels});
        }
        if !self.taints.is_empty() {
            t["spec"]["taints"] = json!(
                self.taints
                    .iter()
                    .map(|x| {
                        let mut o = json!({"key": x.key, "effect": x.effect});
                        if let Some(val) = &x.value {
                            o["value"] = json!(val);
                        }
                        o
                    })
                    .collect::<Vec<_>>()
            );
        }
        if let Some(x) = &self.expire_after {
            t["spec"]["expireAfter"] = json!(x);
        }
        if let Some(x) = &self.termination_grace_period {
            t["spec"]["terminationGracePeriod"] = json!(x);
        }
        let d = &mut v["disruption"];
        if !d.is_object() {
            *d = json!({});
        }
        if let Some(b) = &self.budgets {
            d["budgets"] = json!(b);
        }
        if let Some(p) = &self.consolidation_policy {
            d["consolidationPolicy"] = json!(p);
        }
        if let Some(a) = &self.consolidate_after {
            d["consolidateAfter"] = json!(a);
        }
        if !self.limits.is_empty() {
            v["limits"] = json!(self.limits);
        }
        if let Some(wt) = self.weight {
            v["weight"] = json!(wt);
        }
        spec::default_pool(&mut v);
        v
    }
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The NodePools a scenario has: its own and, with Auto Mode, the built-ins it does not list.
pub fn pool_names(s: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = s
        .karpenter
        .iter()
        .flat_map(|k| k.node_pools.iter().map(|p| p.name.clone()))
        .collect();
    if s.cluster.auto_mode {
        for b in automode::BUILTIN_POOLS {
            if !names.iter().any(|n| n == b) {
                names.push(b.to_string());
            }
        }
    }
    names
}

/// Checks the Karpenter section and Auto Mode against the rest of the scenario.
pub fn check(s: &Scenario) -> Result<(), Problem> {
    let names = pool_names(s);
    for (i, w) in s.workloads.iter().enumerate() {
        if let Some(p) = &w.node_pool
            && !names.contains(p)
        {
            return Err(problem(
                "workloads",
                Some(i),
                Some("nodePool"),
                format!("workloads[{i}].nodePool"),
                if names.is_empty() {
                    format!(
                        "no NodePool {p:?}: this scenario has no Karpenter (add a karpenter section or cluster.autoMode)"
                    )
                } else {
                    format!("no NodePool {p:?} in this scenario (have: {})", names.join(", "))
                },
            ));
        }
    }
    let Some(k) = &s.karpenter else {
        return Ok(());
    };
    if let Some(v) = &k.version {
        let ok = v.split('.').count() == 3
            && v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(problem(
                "karpenter",
                None,
                Some("version"),
                "karpenter.version".into(),
                format!("{v:?} is not a Karpenter version: write MAJOR.MINOR.PATCH such as \"1.8.2\""),
            ));
        }
        let group = k
            .node_group
            .clone()
            .or_else(|| s.node_groups.first().map(|g| g.name.clone()));
        match group {
            None => {
                return Err(problem(
                    "karpenter",
                    None,
                    Some("version"),
                    "karpenter.version".into(),
                    "the Karpenter controller runs on a node group: add one under nodeGroups (Auto Mode runs Karpenter for you: drop version and set cluster.autoMode)".into(),
                ));
            }
            Some(g) if !s.node_groups.iter().any(|x| x.name == g) => {
                return Err(problem(
                    "karpenter",
                    None,
                    Some("nodeGroup"),
                    "karpenter.nodeGroup".into(),
                    format!("no node group {g:?} in this scenario"),
                ));
            }
            _ => {}
        }
    }
    let mut classes = std::collections::BTreeSet::new();
    for (i, c) in k.ec2_node_classes.iter().enumerate() {
        let at = |key: &'static str, m: String| {
            problem(
                "ec2NodeClasses",
                Some(i),
                Some(key),
                format!("karpenter.ec2NodeClasses[{i}].{key}"),
                m,
            )
        };
        if !dns_label(&c.name) {
            return Err(at(
                "name",
                format!("{:?} is not a valid name: lower-case letters, digits and '-'", c.name),
            ));
        }
        if !classes.insert(c.name.clone()) {
            return Err(at("name", format!("EC2NodeClass {:?} is defined twice", c.name)));
        }
        match (&c.ami, &c.ami_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(at(
                    "ami",
                    "give exactly one of ami (an alias such as al2023@latest or al2023@v20251120) and amiId ({kubernetesVersion, release, family})".into(),
                ));
            }
            (None, Some(r)) => {
                if !catalog::FAMILIES.contains(&r.family.as_str()) {
                    return Err(at(
                        "amiId",
                        format!(
                            "family {:?}: the simulator has AMIs for al2023, al2 and bottlerocket",
                            r.family
                        ),
                    ));
                }
                let releases = catalog::default_releases(&r.family);
                if !releases.contains(&r.release) {
                    return Err(at(
                        "amiId",
                        format!(
                            "no {} release {:?} (known: {})",
                            r.family,
                            r.release,
                            releases.join(", ")
                        ),
                    ));
                }
                if c.pinned_ami().is_none() {
                    return Err(at(
                        "amiId",
                        format!("{} publishes no AMI for Kubernetes {}", r.family, r.kubernetes_version),
                    ));
                }
            }
            (Some(_), None) => {}
        }
        if let Err(m) = spec::validate_ec2_class(&c.spec(&s.cluster.name)) {
            return Err(at("ami", m.to_string()));
        }
    }
    let mut pools = std::collections::BTreeSet::new();
    for (i, p) in k.node_pools.iter().enumerate() {
        let at = |key: &'static str, m: String| {
            problem(
                "nodePools",
                Some(i),
                Some(key),
                format!("karpenter.nodePools[{i}].{key}"),
                m,
            )
        };
        if !dns_label(&p.name) {
            return Err(at(
                "name",
                format!("{:?} is not a valid name: lower-case letters, digits and '-'", p.name),
            ));
        }
        if !pools.insert(p.name.clone()) {
            return Err(at("name", format!("NodePool {:?} is defined twice", p.name)));
        }
        let builtin = s.cluster.auto_mode && automode::builtin_pool(&p.name).is_some();
        let auto_class = s.cluster.auto_mode && p.node_class.is_none();
        if !builtin && !auto_class {
            if k.version.is_none() {
                return Err(at(
                    "name",
                    "this NodePool needs self-managed Karpenter: give karpenter.version (or use cluster.autoMode and omit nodeClass)".into(),
                ));
            }
            match &p.node_class {
                None => return Err(at("nodeClass", "name the EC2NodeClass it launches from".into())),
                Some(c) if !classes.contains(c) => {
                    return Err(at(
                        "nodeClass",
                        format!("no EC2NodeClass {c:?} under karpenter.ec2NodeClasses"),
                    ));
                }
                _ => {}
            }
        }
        let v = p.spec(s.cluster.auto_mode);
        if let Err(m) = spec::validate_pool(&v, None) {
            return Err(at("name", format!("the NodePool would be refused: {m}")));
        }
        if let Some(t) = &p.instance_type
            && InstanceType::get(t).is_none()
        {
            return Err(at("instanceType", format!("unknown instance type {t:?}")));
        }
        if p.do_not_disrupt_nodes > p.nodes {
            return Err(at(
                "doNotDisruptNodes",
                format!("{} is more than the {} nodes at start", p.do_not_disrupt_nodes, p.nodes),
            ));
        }
        if !(p.node_age_days >= 0.0 && p.node_age_days <= 3650.0) {
            return Err(at(
                "nodeAgeDays",
                format!("{} is not a number of days from 0 to 3650", p.node_age_days),
            ));
        }
    }
    for (i, u) in k.unavailable_offerings.iter().enumerate() {
        if InstanceType::get(&u.instance_type).is_none() {
            return Err(problem(
                "unavailableOfferings",
                Some(i),
                Some("instanceType"),
                format!("karpenter.unavailableOfferings[{i}].instanceType"),
                format!("unknown instance type {:?}", u.instance_type),
            ));
        }
        if let Some(ct) = &u.capacity_type
            && ct != "on-demand"
            && ct != "spot"
        {
            return Err(problem(
                "unavailableOfferings",
                Some(i),
                Some("capacityType"),
                format!("karpenter.unavailableOfferings[{i}].capacityType"),
                format!("{ct:?}: on-demand or spot"),
            ));
        }
    }
    Ok(())
}

/// Nodes, CPU (millicores) and pods the NodePools run at start, for capacity checks.
pub fn initial_capacity(s: &Scenario) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    for p in s.karpenter.iter().flat_map(|k| k.node_pools.iter()) {
        let t = p
            .instance_type
            .as_deref()
            .and_then(InstanceType::get)
            .or_else(|| InstanceType::get("m5.xlarge"));
        if let Some(t) = t {
            out.0 += u64::from(p.nodes);
            out.1 += t.cpu_millis * u64::from(p.nodes);
            out.2 += u64::from(t.pods) * u64::from(p.nodes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        Scenario::from_yaml(yaml, "k.yaml").unwrap_err().to_string()
    }

    const HEAD: &str = "name: k\ncluster: {name: k, version: \"1.30\"}\nnodeGroups:\n  - {name: system, kind: managed, instanceType: m5.large, size: 1}\n";

    #[test]
    fn the_builtins_parse_with_their_nodepools() {
        let k = Scenario::load("karpenter").unwrap();
        let spec = k.karpenter.as_ref().unwrap();
        assert_eq!(spec.version.as_deref(), Some("1.8.2"));
        assert_eq!(initial_capacity(&k).0, 20);
        assert_eq!(pool_names(&k), ["general", "critical"]);
        let a = Scenario::load("automode").unwrap();
        assert!(a.cluster.auto_mode && a.node_groups.is_empty());
        assert_eq!(pool_names(&a), ["general-purpose", "system"]);
        let system = &a.karpenter.as_ref().unwrap().node_pools[1];
        let v = system.spec(true);
        assert_eq!(v["template"]["spec"]["taints"][0]["key"], "CriticalAddonsOnly");
        assert_eq!(v["template"]["spec"]["nodeClassRef"]["kind"], "NodeClass");
    }

    #[test]
    fn errors_name_the_line_and_the_karpenter_field() {
        let e = err(&format!(
            "{HEAD}karpenter:\n  version: \"1.8.2\"\n  ec2NodeClasses:\n    - {{name: default, ami: al2023@latest}}\n  nodePools:\n    - name: apps\n      nodeClass: nope\n"
        ));
        assert!(
            e.starts_with("k.yaml:11: karpenter.nodePools[0].nodeClass: no EC2NodeClass \"nope\""),
            "{e}"
        );
        let e = err(&format!(
            "{HEAD}karpenter:\n  version: \"1.8.2\"\n  ec2NodeClasses:\n    - {{name: default, ami: ubuntu@latest}}\n"
        ));
        assert!(
            e.contains("karpenter.ec2NodeClasses[0].ami") && e.contains("family is not supported"),
            "{e}"
        );
        let e = err(&format!(
            "{HEAD}karpenter:\n  version: \"1.8.2\"\n  ec2NodeClasses:\n    - {{name: old, amiId: {{family: al2, kubernetesVersion: \"1.33\", release: v20251120}}}}\n"
        ));
        assert!(e.contains("al2 publishes no AMI for Kubernetes 1.33"), "{e}");
        let e = err(&format!(
            "{HEAD}karpenter:\n  version: \"1.8.2\"\n  ec2NodeClasses:\n    - {{name: default, ami: al2023@latest}}\n  nodePools:\n    - name: apps\n      nodeClass: default\n      budgets: [{{nodes: \"5 nodes\"}}]\n"
        ));
        assert!(
            e.contains("karpenter.nodePools[0].name")
                && e.contains("spec.disruption.budgets[0].nodes: Invalid value: \"5 nodes\""),
            "{e}"
        );
        let e = err(&format!("{HEAD}karpenter:\n  version: latest\n"));
        assert!(
            e.contains("karpenter.version") && e.contains("MAJOR.MINOR.PATCH"),
            "{e}"
        );
        let e = err(&format!(
            "{HEAD}karpenter:\n  nodePools:\n    - {{name: apps, nodeClass: default}}\n"
        ));
        assert!(e.contains("needs self-managed Karpenter"), "{e}");
        let e = err(&format!(
            "{HEAD}workloads:\n  - {{name: w, kind: Deployment, image: x, nodePool: apps}}\n"
        ));
        assert!(
            e.contains("workloads[0].nodePool") && e.contains("has no Karpenter"),
            "{e}"
        );
        let e = err("name: k\ncluster: {name: k, version: \"1.30\"}\nnodeGroups: []\n");
        assert!(e.contains("at least one node group"), "{e}");
        // Auto Mode needs no node group
        assert!(
            Scenario::from_yaml(
                "name: k\ncluster: {name: k, version: \"1.30\", autoMode: true}\nnodeGroups: []\n",
                "k.yaml"
            )
            .is_ok()
        );
    }
}
