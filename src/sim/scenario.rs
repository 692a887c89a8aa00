//! Scenarios: the starting world of a simulated EKS cluster (control plane version,
//! node groups, workloads, PDBs, faults) as YAML, with errors that name the line and
//! field at fault, and the built-in scenarios `demo` and `large`.
//!
//! About 1,000 lines with its tests: the compact YAML forms (capacity, requests,
//! budgets, counts or percentages) have hand-written serde so that errors name the
//! field, and validation finds the line. The known seam: the types in one file,
//! their validation (`validate_in`, some 250 lines) in another.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::units::quantity;

pub mod api_faults;
pub mod aws;
pub mod fargate;
pub mod services;
pub mod stateful;

use self::services::{ServiceSpec, StorageClassSpec};
use self::stateful::{ClaimTemplateSpec, PodManagementPolicy};
use aws::{AwsFaultsSpec, LifecycleHookSpec, TerminationHandlerSpec, UpgradePolicySpec};

/// A problem a check of a scenario's part found: where it is and what it is.
pub struct Problem {
    /// The top-level list it is in (to find its line) and the item's index.
    pub list: &'static str,
    pub index: Option<usize>,
    /// The field within the item (to find its line).
    pub key: Option<&'static str>,
    pub path: String,
    pub message: String,
}

pub mod karpenter;

/// Where a problem in a scenario is, and what it is.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{source_name}:{line}:{column}: {path}: {message}")]
    Parse {
        source_name: String,
        line: usize,
        column: usize,
        path: String,
        message: String,
    },
    #[error("{source_name}{}: {path}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        source_name: String,
        line: Option<usize>,
        path: String,
        message: String,
    },
    #[error("{path}: cannot read the scenario file: {error} (built-in scenarios: {builtins})")]
    Read {
        path: String,
        error: String,
        builtins: String,
    },
}

/// A Kubernetes minor version such as `1.30`, written as a quoted string in YAML (an
/// unquoted `1.30` is the number 1.3): the one minor type of `units`.
pub use crate::units::Minor as MinorVersion;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "one")]
    pub seed: u64,
    pub cluster: ClusterSpec,
    pub node_groups: Vec<NodeGroupSpec>,
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Objects seeded as they are (see `world::objects` for the kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<serde_json::Value>,
    /// A simulated aws-node-termination-handler (see `scenario::aws`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_handler: Option<TerminationHandlerSpec>,
    /// Throttling and server errors of the simulated AWS, by operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_faults: Option<AwsFaultsSpec>,
    /// Services over the workloads' pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_classes: Vec<StorageClassSpec>,
    /// Faults of the Kubernetes API from the start (as `POST /sim/faults` sets them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_faults: Option<api_faults::ApiFaults>,
    /// Self-managed Karpenter, its node classes and NodePools (see `scenario/karpenter.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub karpenter: Option<karpenter::KarpenterSpec>,
    /// EKS Fargate profiles: the pods they select run each on a Fargate node of its
    /// own (see `scenario/fargate.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fargate_profiles: Vec<fargate::FargateProfileSpec>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub version: MinorVersion,
    #[serde(default = "default_account")]
    pub account: String,
    /// EKS's upgrade policy (default: EXTENDED, as EKS creates clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_policy: Option<UpgradePolicySpec>,
    /// EKS Auto Mode: EKS runs Karpenter, with its built-in NodePools `general-purpose` and `system`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_mode: bool,
}

fn default_region() -> String {
    "eu-west-1".into()
}
fn default_account() -> String {
    "123456789012".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeGroupKind {
    Managed,
    SelfManaged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroupSpec {
    pub name: String,
    pub kind: NodeGroupKind,
    pub instance_type: String,
    #[serde(default)]
    pub zones: Vec<String>,
    pub size: u32,
    #[serde(default)]
    pub min_size: Option<u32>,
    #[serde(default)]
    pub max_size: Option<u32>,
    #[serde(default)]
    pub kubelet_version: Option<MinorVersion>,
    #[serde(default)]
    pub capacity: Option<Capacity>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
    #[serde(default = "default_boot")]
    pub boot_seconds: u32,
    /// Lifecycle hooks on the group's Auto Scaling group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<LifecycleHookSpec>,
    /// A managed group's EKS `amiType` (its nodes report that OS); Amazon Linux 2023
    /// when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_type: Option<String>,
}

fn default_boot() -> u32 {
    90
}

/// A node's capacity. YAML: `{cpu: "4", memory: 16Gi, pods: 58}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub pods: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    cpu: Quantity,
    memory: Quantity,
    pods: u32,
}

impl Serialize for Capacity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawCapacity {
            cpu: Quantity(quantity::format_cpu(self.cpu_millis)),
            memory: Quantity(quantity::format_bytes(self.memory_bytes)),
            pods: self.pods,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCapacity::deserialize(d)?;
        Ok(Capacity {
            cpu_millis: raw.cpu.cpu().map_err(serde::de::Error::custom)?,
            memory_bytes: raw.memory.bytes().map_err(serde::de::Error::custom)?,
            pods: raw.pods,
        })
    }
}

/// A Kubernetes quantity as written: a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Quantity(String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            U(u64),
            F(f64),
        }
        Ok(Quantity(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::U(u) => u.to_string(),
            Raw::F(f) => f.to_string(),
        }))
    }
}

impl Quantity {
    fn cpu(&self) -> Result<u64, String> {
        quantity::cpu_millis(&self.0).filter(|v| *v > 0).ok_or_else(|| {
            format!(
                "invalid CPU quantity {:?}: use cores or millicores, e.g. \"2\" or \"250m\"",
                self.0
            )
        })
    }
    fn bytes(&self) -> Result<u64, String> {
        quantity::bytes(&self.0)
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("invalid memory quantity {:?}: use e.g. \"512Mi\" or \"8Gi\"", self.0))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaintSpec {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
    Pod,
    StatefulSet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TolerationSpec {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default = "equal")]
    pub operator: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub effect: Option<String>,
}

fn equal() -> String {
    "Equal".into()
}

/// CPU and memory requests. YAML: `{cpu: 100m, memory: 128Mi}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu_millis: 100,
            memory_bytes: 128 << 20,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    #[serde(default)]
    cpu: Option<Quantity>,
    #[serde(default)]
    memory: Option<Quantity>,
}

impl Serialize for Resources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawResources {
            cpu: Some(Quantity(quantity::format_cpu(self.cpu_millis))),
            memory: Some(Quantity(quantity::format_bytes(self.memory_bytes))),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawResources::deserialize(d)?;
        let def = Resources::default();
        Ok(Resources {
            cpu_millis: raw
                .cpu
                .map(|q| q.cpu())
                .transpose()
                .map_err(serde::de::Error::custom)?
                .unwrap_or(def.cpu_millis),
            memory_bytes: raw
                .memory
                .map(|q| q.bytes())
                .transpose()
                .map_err(serde::de::Error::custom)?
                .unwrap_or(def.memory_bytes),
        })
    }
}

/// A count or a percentage (`2` or `"50%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(u32),
    Percent(u32),
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Int(i) => s.serialize_u32(*i),
            IntOrPercent::Percent(p) => s.serialize_str(&format!("{p}%")),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            I(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::I(i) => Ok(IntOrPercent::Int(i)),
            Raw::S(s) => s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .filter(|p| *p <= 100)
                .map(IntOrPercent::Percent)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "invalid value {s:?}: expected a count like 2 or a percentage like \"50%\""
                    ))
                }),
        }
    }
}

/// A PodDisruptionBudget over a workload's pods. YAML: `{minAvailable: 2}` or
/// `{maxUnavailable: "25%"}`, exactly one of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdbSpec {
    MinAvailable(IntOrPercent),
    MaxUnavailable(IntOrPercent),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPdb {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_available: Option<IntOrPercent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_unavailable: Option<IntOrPercent>,
}

impl Serialize for PdbSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (min_available, max_unavailable) = match *self {
            PdbSpec::MinAvailable(v) => (Some(v), None),
            PdbSpec::MaxUnavailable(v) => (None, Some(v)),
        };
        RawPdb {
            min_available,
            max_unavailable,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PdbSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawPdb::deserialize(d)? {
            RawPdb {
                min_available: Some(v),
                max_unavailable: None,
            } => Ok(PdbSpec::MinAvailable(v)),
            RawPdb {
                min_available: None,
                max_unavailable: Some(v),
            } => Ok(PdbSpec::MaxUnavailable(v)),
            _ => Err(serde::de::Error::custom(
                "give exactly one of minAvailable and maxUnavailable",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Dns,
    PodNetworking,
    Ingress,
    Autoscaling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub kind: WorkloadKind,
    #[serde(default = "one32")]
    pub copies: u32,
    #[serde(default = "one32")]
    pub replicas: u32,
    pub image: String,
    #[serde(default)]
    pub requests: Resources,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub node_group: Option<String>,
    #[serde(default)]
    pub tolerations: Vec<TolerationSpec>,
    #[serde(default)]
    pub tolerate_all: bool,
    #[serde(default)]
    pub pdb: Option<PdbSpec>,
    #[serde(default)]
    pub component: Option<Component>,
    #[serde(default = "five")]
    pub start_seconds: u32,
    #[serde(default = "two")]
    pub termination_seconds: u32,
    #[serde(default = "thirty")]
    pub grace_period_seconds: u32,
    #[serde(default)]
    pub empty_dir: bool,
    #[serde(default)]
    pub priority_class: Option<String>,
    /// Seconds a pod must have been Ready to count as available.
    #[serde(default)]
    pub min_ready_seconds: u32,
    /// StatefulSets: the governing (headless) Service's name; the workload's name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// StatefulSets: `OrderedReady` (default) or `Parallel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_management_policy: Option<PodManagementPolicy>,
    /// StatefulSets: a claim per pod per template, `<name>-<set>-<ordinal>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<ClaimTemplateSpec>,
    /// Shorthand: only on nodes of that Karpenter NodePool.
    #[serde(default)]
    pub node_pool: Option<String>,
    /// Pods carry `karpenter.sh/do-not-disrupt: "true"`.
    #[serde(default)]
    pub do_not_disrupt: bool,
}

fn default_namespace() -> String {
    "default".into()
}
fn one32() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn five() -> u32 {
    5
}
fn thirty() -> u32 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    CrashLoopBackOff,
    ImagePullBackOff,
    #[serde(rename = "OOMKilled")]
    OomKilled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// `namespace/name` of a workload of this scenario.
    pub workload: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub on_kubelet_version: Option<MinorVersion>,
    #[serde(default = "whole")]
    pub fraction: f64,
}

fn whole() -> f64 {
    1.0
}

/// A scenario whose defaults that depend on other fields are filled in.
pub type ResolvedScenario = Scenario;

/// Capacity of the instance types the simulator knows (EKS max pods with the VPC CNI).
pub fn instance_capacity(instance_type: &str) -> Option<Capacity> {
    const GI: u64 = 1 << 30;
    let (cpu, mem, pods) = match instance_type {
        "t3.medium" => (2, 4, 17),
        "t3.large" => (2, 8, 35),
        "t3.xlarge" => (4, 16, 58),
        "m5.large" | "m6i.large" | "m7i.large" => (2, 8, 29),
        "m5.xlarge" | "m6i.xlarge" | "m7i.xlarge" => (4, 16, 58),
        "m5.2xlarge" | "m6i.2xlarge" | "m7i.2xlarge" => (8, 32, 58),
        "m5.4xlarge" | "m6i.4xlarge" | "m7i.4xlarge" => (16, 64, 234),
        "m5.8xlarge" | "m6i.8xlarge" => (32, 128, 234),
        "c5.large" | "c6i.large" => (2, 4, 29),
        "c5.xlarge" | "c6i.xlarge" => (4, 8, 58),
        "c5.2xlarge" | "c6i.2xlarge" => (8, 16, 58),
        "c5.4xlarge" | "c6i.4xlarge" => (16, 32, 234),
        "r5.large" | "r6i.large" => (2, 16, 29),
        "r5.xlarge" | "r6i.xlarge" => (4, 32, 58),
        "r5.2xlarge" | "r6i.2xlarge" => (8, 64, 58),
        _ => return None,
    };
    Some(Capacity {
        cpu_millis: cpu * 1000,
        memory_bytes: mem * GI,
        pods,
    })
}

const DEMO: &str = include_str!("../../assets/scenarios/demo.yaml");
const LARGE: &str = include_str!("../../assets/scenarios/large.yaml");
const PREFLIGHT: &str = include_str!("../../assets/scenarios/preflight.yaml");
const FLEET: &str = include_str!("../../assets/scenarios/fleet.yaml");
const STATEFUL: &str = include_str!("../../assets/scenarios/stateful.yaml");
const KARPENTER: &str = include_str!("../../assets/scenarios/karpenter.yaml");
const AUTOMODE: &str = include_str!("../../assets/scenarios/automode.yaml");
const AL2: &str = include_str!("../../assets/scenarios/al2.yaml");
const FARGATE: &str = include_str!("../../assets/scenarios/fargate.yaml");
const CAMPAIGN_STAGING: &str = include_str!("../../assets/scenarios/campaign-staging.yaml");
const CAMPAIGN_PROD: &str = include_str!("../../assets/scenarios/campaign-prod.yaml");

/// The 1-based line of `key:` in the YAML text under the item `index` of the list
/// at `list` (a best effort used to point validation errors at a line).
fn find_line(text: &str, list: &str, index: Option<usize>, key: Option<&str>) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{list}:")))?;
    let mut item = None;
    let mut line = start;
    if let Some(index) = index {
        let mut seen = 0usize;
        for (i, l) in lines.iter().enumerate().skip(start + 1) {
            if l.trim_start().starts_with("- ") {
                if seen == index {
                    item = Some(i);
                    break;
                }
                seen += 1;
            }
        }
        line = item?;
    }
    if let Some(key) = key {
        for (i, l) in lines.iter().enumerate().skip(line) {
            if i > line && l.trim_start().starts_with("- ") {
                break;
            }
            if l.trim_start().trim_start_matches("- ").starts_with(&format!("{key}:")) {
                return Some(i + 1);
            }
        }
    }
    Some(line + 1)
}

impl Scenario {
    /// Parses YAML; errors name `source`, the line and column, and the field path.
    pub fn from_yaml(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let de = serde_norway::Deserializer::from_str(text);
        let s: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let mut message = inner.to_string();
            // serde_norway appends " at line L column C" and may lead with the path:
            // the prefix of our message says both already
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            if let Some(rest) = message.strip_prefix(&format!("{path}: ")) {
                message = rest.to_string();
            }
            ScenarioError::Parse {
                source_name: source.to_string(),
                line,
                column,
                path: if path == "." { "(top level)".into() } else { path },
                message,
            }
        })?;
        s.validate_in(text, source)?;
        Ok(s)
    }

    /// Checks what the types cannot: names, references, versions, sizes.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.validate_in("", &format!("scenario {:?}", self.name))
    }

    fn validate_in(&self, text: &str, source: &str) -> Result<(), ScenarioError> {
        let err = |list: &str, index: Option<usize>, key: Option<&str>, path: String, message: String| {
            ScenarioError::Invalid {
                source_name: source.to_string(),
                line: find_line(text, list, index, key),
                path,
                message,
            }
        };
        let cp = self.cluster.version;
        if !(1..=1).contains(&cp.major) || !(20..=40).contains(&cp.minor) {
            return Err(err(
                "cluster",
                None,
                Some("version"),
                "cluster.version".into(),
                format!("{cp} is not a Kubernetes version EKS runs (1.20 to 1.40)"),
            ));
        }
        for (i, o) in self.objects.iter().enumerate() {
            if let Err(message) = super::world::objects::decode(o) {
                return Err(err("objects", Some(i), None, format!("objects[{i}]"), message));
            }
        }
        if self.node_groups.is_empty() && !self.cluster.auto_mode && karpenter::initial_capacity(self).0 == 0 {
            return Err(err(
                "nodeGroups",
                None,
                None,
                "nodeGroups".into(),
                "a cluster needs at least one node group (or Karpenter NodePools with nodes at start, or cluster.autoMode)".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, g) in self.node_groups.iter().enumerate() {
            let at = |k: &str| format!("nodeGroups[{i}].{k}");
            if !dns_label(&g.name) {
                return Err(err(
                    "nodeGroups",
                    Some(i),
                    Some("name"),
                    at("name"),
                    format!(
                        "{:?} is not a valid name: lower-case letters, digits and '-', at most 63",
                        g.name
                    ),
                ));
            }
            if !names.insert(g.name.clone()) {
                return Err(err(
                    "nodeGroups",
                    Some(i),
                    Some("name"),
                    at("name"),
                    format!("node group {:?} is defined twice", g.name),
                ));
            }
            if g.capacity.is_none() && instance_capacity(&g.instance_type).is_none() {
                return Err(err(
                    "nodeGroups",
                    Some(i),
                    Some("instanceType"),
                    at("instanceType"),
                    format!(
                        "unknown instance type {:?}: give its capacity ({{cpu, memory, pods}}) or use a known type such as m5.large, m5.xlarge, c5.xlarge",
                        g.instance_type
                    ),
                ));
            }
            if let Some(max) = g.max_size
                && max < g.size
            {
                return Err(err(
                    "nodeGroups",
                    Some(i),
                    Some("maxSize"),
                    at("maxSize"),
                    format!("maxSize {max} is below size {}", g.size),
                ));
            }
            if let Some(min) = g.min_size
                && min > g.size
            {
                return Err(err(
                    "nodeGroups",
                    Some(i),
                    Some("minSize"),
                    at("minSize"),
                    format!("minSize {min} is above size {}", g.size),
                ));
            }
            if let Some(k) = g.kubelet_version {
                if k > cp {
                    return Err(err(
                        "nodeGroups",
                        Some(i),
                        Some("kubeletVersion"),
                        at("kubeletVersion"),
                        format!("kubelet {k} is newer than the control plane {cp}"),
                    ));
                }
                if k.major != cp.major || cp.minor - k.minor > 3 {
                    return Err(err(
                        "nodeGroups",
                        Some(i),
                        Some("kubeletVersion"),
                        at("kubeletVersion"),
                        format!("kubelet {k} is more than 3 minors behind the control plane {cp}"),
                    ));
                }
            }
            if let Some(ami) = &g.ami_type {
                let why = if g.kind != NodeGroupKind::Managed {
                    Some("only a managed group has an amiType: remove it, or write kind: managed".to_string())
                } else if !crate::sim::world::nodegroups::AMI_TYPES.contains(&ami.as_str()) {
                    Some(format!(
                        "{ami} is not an AMI type the simulator knows: use one of {}",
                        crate::sim::world::nodegroups::AMI_TYPES.join(", ")
                    ))
                } else {
                    let version = g.kubelet_version.unwrap_or(cp).to_string();
                    crate::sim::world::nodegroups::ami_refused(Some(ami), &version)
                };
                if let Some(why) = why {
                    return Err(err("nodeGroups", Some(i), Some("amiType"), at("amiType"), why));
                }
            }
            for (t, taint) in g.taints.iter().enumerate() {
                if !matches!(taint.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                    return Err(err(
                        "nodeGroups",
                        Some(i),
                        Some("taints"),
                        format!("nodeGroups[{i}].taints[{t}].effect"),
                        format!(
                            "{:?} is not a taint effect: NoSchedule, PreferNoSchedule or NoExecute",
                            taint.effect
                        ),
                    ));
                }
            }
        }
        let mut workloads = std::collections::BTreeSet::new();
        for (i, w) in self.workloads.iter().enumerate() {
            let at = |k: &str| format!("workloads[{i}].{k}");
            for (k, v) in [("name", &w.name), ("namespace", &w.namespace)] {
                if !dns_label(v) {
                    return Err(err(
                        "workloads",
                        Some(i),
                        Some(k),
                        at(k),
                        format!("{v:?} is not a valid {k}: lower-case letters, digits and '-', at most 63"),
                    ));
                }
            }
            if !workloads.insert(format!("{}/{}", w.namespace, w.name)) {
                return Err(err(
                    "workloads",
                    Some(i),
                    Some("name"),
                    at("name"),
                    format!("workload {}/{} is defined twice", w.namespace, w.name),
                ));
            }
            if let Some(g) = &w.node_group
                && !names.contains(g)
            {
                return Err(err(
                    "workloads",
                    Some(i),
                    Some("nodeGroup"),
                    at("nodeGroup"),
                    format!(
                        "no node group {g:?} in this scenario (have: {})",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if w.copies == 0 {
                return Err(err(
                    "workloads",
                    Some(i),
                    Some("copies"),
                    at("copies"),
                    "copies must be at least 1".into(),
                ));
            }
            if !matches!(w.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet) && w.replicas != 1 {
                return Err(err(
                    "workloads",
                    Some(i),
                    Some("replicas"),
                    at("replicas"),
                    "replicas applies to Deployments and StatefulSets only".into(),
                ));
            }
            if w.termination_seconds > w.grace_period_seconds {
                return Err(err(
                    "workloads",
                    Some(i),
                    Some("terminationSeconds"),
                    at("terminationSeconds"),
                    format!(
                        "terminationSeconds {} exceeds gracePeriodSeconds {}",
                        w.termination_seconds, w.grace_period_seconds
                    ),
                ));
            }
        }
        if let Err((list, index, key, path, message)) = aws::validate(self) {
            return Err(err(list, index, key, path, message));
        }
        let checks = [
            stateful::check(&self.workloads),
            services::check_classes(&self.storage_classes, &self.workloads),
            services::check_services(&self.services, &self.workloads),
        ];
        for check in checks {
            if let Err(p) = check {
                return Err(err(p.list, p.index, p.key, p.path, p.message));
            }
        }
        if let Some(f) = &self.api_faults
            && let Err((path, message)) = f.check()
        {
            return Err(err("apiFaults", None, None, format!("apiFaults.{path}"), message));
        }
        for (i, f) in self.faults.iter().enumerate() {
            if !workloads.contains(&f.workload) {
                return Err(err(
                    "faults",
                    Some(i),
                    Some("workload"),
                    format!("faults[{i}].workload"),
                    format!(
                        "no workload {:?} in this scenario (write it as namespace/name)",
                        f.workload
                    ),
                ));
            }
            if !(f.fraction > 0.0 && f.fraction <= 1.0) {
                return Err(err(
                    "faults",
                    Some(i),
                    Some("fraction"),
                    format!("faults[{i}].fraction"),
                    format!("{} is not in (0, 1]", f.fraction),
                ));
            }
        }
        if let Err(p) = karpenter::check(self) {
            return Err(err(p.list, p.index, p.key, p.path, p.message));
        }
        if let Err(p) = fargate::check(self) {
            return Err(err(p.list, p.index, p.key, p.path, p.message));
        }
        Ok(())
    }

    /// Fills defaults that depend on other fields: zones from the region, capacity
    /// from the instance type, min/max sizes, kubelet versions.
    pub fn resolve(mut self) -> Result<ResolvedScenario, ScenarioError> {
        let region = self.cluster.region.clone();
        let version = self.cluster.version;
        for g in &mut self.node_groups {
            if g.zones.is_empty() {
                g.zones = ["a", "b", "c"].iter().map(|z| format!("{region}{z}")).collect();
            }
            if g.capacity.is_none() {
                g.capacity = instance_capacity(&g.instance_type);
            }
            g.min_size.get_or_insert(g.size);
            g.max_size.get_or_insert(g.size.max(1) * 2);
            g.kubelet_version.get_or_insert(version);
        }
        self.validate()?;
        Ok(self)
    }

    pub fn builtin_names() -> &'static [&'static str] {
        &[
            "demo",
            "large",
            "preflight",
            "fleet",
            "stateful",
            "karpenter",
            "automode",
            "al2",
            "fargate",
            "campaign-staging",
            "campaign-prod",
        ]
    }

    /// A built-in scenario's YAML by name.
    fn builtin_text(name: &str) -> Option<&'static str> {
        Some(match name {
            "demo" => DEMO,
            "large" => LARGE,
            "preflight" => PREFLIGHT,
            "fleet" => FLEET,
            "stateful" => STATEFUL,
            "karpenter" => KARPENTER,
            "automode" => AUTOMODE,
            "al2" => AL2,
            "fargate" => FARGATE,
            "campaign-staging" => CAMPAIGN_STAGING,
            "campaign-prod" => CAMPAIGN_PROD,
            _ => return None,
        })
    }

    /// A built-in scenario by name.
    pub fn builtin(name: &str) -> Option<Scenario> {
        let text = Self::builtin_text(name)?;
        Scenario::from_yaml(text, &format!("built-in scenario {name:?}")).ok()
    }

    /// A built-in scenario's name, or the path of a YAML file.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some(text) = Self::builtin_text(name_or_path) {
            return Scenario::from_yaml(text, &format!("built-in scenario {name_or_path:?}"));
        }
        let path = name_or_path;
        let read = |error: String| ScenarioError::Read {
            path: path.to_string(),
            error,
            builtins: Self::builtin_names().join(", "),
        };
        // refused before it is read: a scenario is a page or two of YAML
        let size = std::fs::metadata(path).map_err(|e| read(e.to_string()))?.len();
        if size > MAX_SCENARIO_BYTES {
            return Err(read(format!(
                "{size} bytes, over the {} MiB a scenario may have",
                MAX_SCENARIO_BYTES >> 20
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        Scenario::from_yaml(&text, name_or_path)
    }
}

/// The largest scenario file read (the 1,006-node fleet is well under 1 MiB).
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(s: &Scenario) -> (u32, u64) {
        let s = s.clone().resolve().unwrap();
        let nodes: u32 = s.node_groups.iter().map(|g| g.size).sum();
        let mut pods = 0u64;
        for w in &s.workloads {
            let n = match w.kind {
                WorkloadKind::DaemonSet => s
                    .node_groups
                    .iter()
                    .filter(|g| w.tolerate_all || g.taints.is_empty())
                    .map(|g| u64::from(g.size))
                    .sum(),
                WorkloadKind::Deployment | WorkloadKind::StatefulSet => u64::from(w.replicas),
                WorkloadKind::Pod => 1,
            };
            pods += n * u64::from(w.copies);
        }
        (nodes, pods)
    }

    #[test]
    fn built_ins_parse_and_have_the_promised_size() {
        let demo = Scenario::load("demo").unwrap();
        let (nodes, pods) = totals(&demo);
        assert!((10..=14).contains(&nodes), "demo nodes {nodes}");
        assert!((120..=180).contains(&pods), "demo pods {pods}");
        assert_eq!(demo.node_groups.len(), 3);
        assert!(
            demo.faults
                .iter()
                .any(|f| f.kind == FaultKind::CrashLoopBackOff && f.on_kubelet_version == MinorVersion::parse("1.35"))
        );
        let large = Scenario::load("large").unwrap();
        let (nodes, pods) = totals(&large);
        assert_eq!(nodes, 5000);
        assert!((145_000..=155_000).contains(&pods), "large pods {pods}");
        assert!(Scenario::builtin("nope").is_none());
        assert_eq!(
            Scenario::builtin_names(),
            &[
                "demo",
                "large",
                "preflight",
                "fleet",
                "stateful",
                "karpenter",
                "automode",
                "al2",
                "fargate",
                "campaign-staging",
                "campaign-prod"
            ]
        );
        for name in Scenario::builtin_names() {
            assert!(Scenario::builtin(name).is_some(), "built-in scenario {name} parses");
        }
    }

    #[test]
    fn built_ins_fit_their_nodes_with_headroom() {
        for name in Scenario::builtin_names() {
            let s = Scenario::load(name).unwrap().resolve().unwrap();
            // Karpenter's nodes at start count too
            let (k_nodes, k_cpu, k_pods) = karpenter::initial_capacity(&s);
            let cap_cpu: u64 = s
                .node_groups
                .iter()
                .map(|g| g.capacity.as_ref().unwrap().cpu_millis * u64::from(g.size))
                .sum::<u64>()
                + k_cpu;
            let cap_pods: u64 = s
                .node_groups
                .iter()
                .map(|g| u64::from(g.capacity.as_ref().unwrap().pods * g.size))
                .sum::<u64>()
                + k_pods;
            let nodes: u64 = s.node_groups.iter().map(|g| u64::from(g.size)).sum::<u64>() + k_nodes;
            let (mut cpu, mut pods) = (0u64, 0u64);
            for w in &s.workloads {
                let n = match w.kind {
                    WorkloadKind::DaemonSet => nodes,
                    WorkloadKind::Deployment | WorkloadKind::StatefulSet => u64::from(w.replicas),
                    WorkloadKind::Pod => 1,
                } * u64::from(w.copies);
                cpu += n * w.requests.cpu_millis;
                pods += n;
            }
            assert!(cpu * 10 <= cap_cpu * 9, "{name}: cpu {cpu} of {cap_cpu}");
            assert!(pods * 10 <= cap_pods * 9, "{name}: pods {pods} of {cap_pods}");
        }
    }

    fn err(yaml: &str) -> String {
        Scenario::from_yaml(yaml, "test.yaml").unwrap_err().to_string()
    }

    const HEAD: &str = "name: t\ncluster:\n  name: t\n  version: \"1.30\"\nnodeGroups:\n  - name: a\n    kind: managed\n    instanceType: m5.large\n    size: 2\n";

    #[test]
    fn errors_name_the_line_and_field() {
        let e = err(
            "name: t\ncluster:\n  name: t\n  version: \"1.30\"\nnodeGroups:\n  - name: a\n    kind: managed\n    instanceType: m5.large\n    size: three\n",
        );
        assert!(e.starts_with("test.yaml:9:"), "{e}");
        assert!(e.contains("nodeGroups[0].size") && e.contains("invalid type"), "{e}");

        let e = err(&format!(
            "{HEAD}workloads:\n  - name: w\n    kind: Deployment\n    image: x\n    replica: 3\n"
        ));
        assert!(
            e.contains("test.yaml:14:") && e.contains("workloads[0]") && e.contains("unknown field `replica`"),
            "{e}"
        );

        let e = err("name: t\ncluster:\n  name: t\n  version: 1.30\nnodeGroups: []\n");
        assert!(e.contains("cluster.version") && e.contains("quote it"), "{e}");

        let e = err("name: t\ncluster:\n  name: t\nnodeGroups: []\n");
        assert!(e.contains("missing field `version`"), "{e}");

        let e = err(
            "name: t\ncluster:\n  name: t\n  version: \"1.30\"\nnodeGroups:\n  - name: a\n    kind: managed\n    instanceType: z9.huge\n    size: 2\n",
        );
        assert!(
            e.contains("test.yaml:8") && e.contains("nodeGroups[0].instanceType") && e.contains("z9.huge"),
            "{e}"
        );

        let e = err(&format!(
            "{HEAD}workloads:\n  - name: w\n    kind: Deployment\n    image: x\nfaults:\n  - workload: default/nope\n    kind: CrashLoopBackOff\n"
        ));
        assert!(
            e.contains("test.yaml:15") && e.contains("faults[0].workload") && e.contains("default/nope"),
            "{e}"
        );

        let e = err(&format!(
            "{HEAD}workloads:\n  - name: w\n    kind: Deployment\n    image: x\n    requests: {{cpu: 12 cores}}\n"
        ));
        assert!(
            e.contains("workloads[0].requests") && e.contains("invalid CPU quantity"),
            "{e}"
        );

        let e = err(
            "name: t\ncluster:\n  name: t\n  version: \"1.30\"\nnodeGroups:\n  - name: a\n    kind: managed\n    instanceType: m5.large\n    size: 2\n    kubeletVersion: \"1.31\"\n",
        );
        assert!(
            e.contains("nodeGroups[0].kubeletVersion") && e.contains("newer than the control plane"),
            "{e}"
        );
    }

    #[test]
    fn resolve_fills_defaults() {
        let s = Scenario::from_yaml(
            &format!("{HEAD}workloads:\n  - name: w\n    kind: Deployment\n    image: x\n"),
            "t",
        )
        .unwrap();
        let r = s.resolve().unwrap();
        let g = &r.node_groups[0];
        assert_eq!(g.zones, vec!["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
        assert_eq!(g.capacity, instance_capacity("m5.large"));
        assert_eq!((g.min_size, g.max_size), (Some(2), Some(4)));
        assert_eq!(g.kubelet_version, MinorVersion::parse("1.30"));
        let w = &r.workloads[0];
        assert_eq!((w.namespace.as_str(), w.replicas, w.copies), ("default", 1, 1));
        assert_eq!(
            w.requests,
            Resources {
                cpu_millis: 100,
                memory_bytes: 128 << 20
            }
        );
    }

    #[test]
    fn a_missing_file_names_the_built_ins() {
        let e = Scenario::load("/nonexistent/x.yaml").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.yaml") && e.contains("demo, large"), "{e}");
    }

    #[test]
    fn an_ami_type_is_for_a_managed_group_the_simulator_knows_and_eks_still_publishes() {
        let with = |kind: &str, version: &str, ami: &str| {
            format!(
                "name: t\ncluster:\n  name: t\n  version: \"{version}\"\nnodeGroups:\n  - name: a\n    kind: {kind}\n    instanceType: m5.large\n    size: 2\n    amiType: {ami}\n"
            )
        };
        let ok = Scenario::from_yaml(&with("managed", "1.32", "AL2_x86_64"), "t.yaml").unwrap();
        assert_eq!(ok.node_groups[0].ami_type.as_deref(), Some("AL2_x86_64"));
        for (kind, version, ami, words) in [
            ("self-managed", "1.32", "AL2_x86_64", "only a managed group"),
            ("managed", "1.33", "AL2_x86_64", "Amazon Linux 2 AMIs end at 1.32"),
            ("managed", "1.32", "AL3_x86_64", "not an AMI type the simulator knows"),
        ] {
            let e = Scenario::from_yaml(&with(kind, version, ami), "t.yaml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("amiType") && e.contains(words), "{e}");
            assert!(e.contains("t.yaml:10"), "the line is named: {e}");
        }
    }
}
