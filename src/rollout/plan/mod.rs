//! The rollout plan: which cluster, from which minor to which, with which gates,
//! and the ordered steps the drive executes (preflight, control plane, add-ons,
//! node groups in batches, postflight). `discover` reads what is live, `propose`
//! turns it into a plan, `to_yaml` writes it for review with comments, and
//! `Plan::load` + `Plan::validate` read it back with errors that name the line.

mod discover;
mod load;
pub mod locate;
mod nodepools;
mod write;

use serde::{Deserialize, Serialize};

use crate::cloud::MaxUnavailable;
use crate::model::journal::StepId;

pub use crate::preflight::drainers::Drainer;
pub use discover::{DiscoverError, discover};
pub use load::PlanError;
pub use write::{ProposeOptions, managed_strategy, propose, save};

/// The `apiVersion` of plan files this build reads and writes.
pub const API_VERSION: &str = "upshift.dev/v1";
/// The `kind` of plan files.
pub const KIND: &str = "Plan";

/// A rollout plan, as loaded from a file or proposed from discovery.
#[derive(Clone, Debug)]
pub struct Plan {
    pub cluster: ClusterRef,
    /// The control plane's minor when the plan was written, e.g. `1.30`.
    pub from: String,
    /// The minor to upgrade to, e.g. `1.31`.
    pub target: String,
    pub gates: Gates,
    pub drain: Drain,
    pub steps: Vec<Step>,
    /// Where the rollout's events are sent (docs/notify.md); None: nowhere.
    pub notify: Option<crate::notify::NotifyConfig>,
    /// The file and text it was loaded from, to point errors at lines.
    pub origin: Option<Origin>,
}

/// Plans are equal when what they say is equal, wherever they were read from.
impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        self.cluster == other.cluster
            && self.from == other.from
            && self.target == other.target
            && self.gates == other.gates
            && self.drain == other.drain
            && self.steps == other.steps
    }
}

/// Where a plan was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub text: String,
}

/// Which cluster the plan is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRef {
    /// The EKS cluster's name (or the kubeconfig cluster's, without EKS).
    pub name: String,
    /// AWS region; present when the plan was made with EKS's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The kubeconfig context the plan was made through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub environment: Environment,
}

/// Production clusters ask for the cluster's name to be typed before the first action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    Production,
    PreProduction,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::PreProduction => "pre-production",
        }
    }
}

/// What must hold before every step and between node batches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Gates {
    /// How long the criteria must hold before the gate turns green.
    pub settle_seconds: u64,
    pub max_unscheduled_pods: u32,
    /// Pods in error beyond the count taken before the step.
    pub max_pod_errors_above_baseline: u32,
    pub all_nodes_ready: bool,
    /// DNS, pod networking, ingress and autoscaling have their replicas available.
    pub components_available: bool,
    /// CloudWatch alarm names that must not be in ALARM.
    pub alarms: Vec<String>,
    /// How long a workload may stay degraded below its budget (or below
    /// `minAvailablePercent`) before a gate turns red.
    pub degraded_grace_seconds: u64,
    /// A workload with fewer available pods than this share of its desired ones is
    /// degraded beyond what a gate accepts (0: only its PodDisruptionBudget counts).
    pub min_available_percent: u32,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            settle_seconds: 60,
            max_unscheduled_pods: 0,
            max_pod_errors_above_baseline: 0,
            all_nodes_ready: true,
            components_available: true,
            alarms: Vec::new(),
            degraded_grace_seconds: 300,
            min_available_percent: 0,
        }
    }
}

/// How nodes are drained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Drain {
    /// After this long, the cockpit names the pod holding a drain up and asks what to do.
    pub pod_timeout_seconds: u64,
    /// Wait between two attempts to evict a pod a PodDisruptionBudget protects.
    pub eviction_retry_seconds: u64,
    /// Evict pods with emptyDir volumes (their data is lost); false: stop and ask.
    pub delete_empty_dir_data: bool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            pod_timeout_seconds: 900,
            eviction_retry_seconds: 5,
            delete_empty_dir_data: true,
        }
    }
}

/// One step of the rollout, in the order the drive executes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read-only research again, right before the first action.
    Preflight,
    /// The EKS control plane to the target minor.
    ControlPlane,
    /// An EKS add-on to a version offered for the target.
    Addon { name: String, version: String },
    /// A node group's nodes to the target, batch by batch.
    Nodegroup(NodegroupStep),
    /// After the control plane: restart, one at a time, the workloads whose Fargate
    /// pods run a kubelet older than the control plane.
    Fargate,
    /// Read-only checks after the last step.
    Postflight,
    /// Before the control plane: Karpenter's drift held on these NodePools (the ones
    /// the plan has a `nodepool` step for), each one's `Drifted` budget set to 0.
    DriftHold { nodepools: Vec<String> },
    /// A Karpenter NodePool's drift released wave by wave, then its budgets restored.
    Nodepool(NodepoolStep),
}

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Preflight => StepKind::Preflight,
            Step::ControlPlane => StepKind::ControlPlane,
            Step::Addon { .. } => StepKind::Addon,
            Step::Nodegroup(_) => StepKind::Nodegroup,
            Step::Fargate => StepKind::Fargate,
            Step::Postflight => StepKind::Postflight,
            Step::DriftHold { .. } => StepKind::DriftHold,
            Step::Nodepool(_) => StepKind::Nodepool,
        }
    }

    /// The step's id in the journal: `control-plane`, `addon/coredns`, `nodegroup/apps`.
    pub fn id(&self) -> StepId {
        match self {
            Step::Preflight => StepId::Preflight,
            Step::ControlPlane => StepId::ControlPlane,
            Step::Addon { name, .. } => StepId::Addon(name.clone()),
            Step::Nodegroup(g) => StepId::Nodegroup(g.name.clone()),
            Step::Fargate => StepId::Fargate,
            Step::Postflight => StepId::Postflight,
            Step::DriftHold { .. } => StepId::DriftHold,
            Step::Nodepool(p) => StepId::Nodepool(p.name.clone()),
        }
    }

    /// A short label: `addon vpc-cni`, `nodegroup batch`, `control-plane`.
    pub fn label(&self) -> String {
        match self {
            Step::Addon { name, .. } => format!("addon {name}"),
            Step::Nodegroup(g) => format!("nodegroup {}", g.name),
            Step::Nodepool(p) => format!("nodepool {}", p.name),
            other => other.kind().as_str().to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Preflight,
    ControlPlane,
    Addon,
    Nodegroup,
    Fargate,
    Postflight,
    DriftHold,
    Nodepool,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Preflight => "preflight",
            StepKind::ControlPlane => "control-plane",
            StepKind::Addon => "addon",
            StepKind::Nodegroup => "nodegroup",
            StepKind::Fargate => "fargate",
            StepKind::Postflight => "postflight",
            StepKind::DriftHold => "drift-hold",
            StepKind::Nodepool => "nodepool",
        }
    }
}

/// A node group step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodegroupStep {
    pub name: String,
    pub group_type: GroupType,
    pub strategy: Strategy,
    /// Nodes replaced at once (1..=the group's size).
    pub batch_size: u32,
    /// Go on to the next batch on its own while the gate is green.
    pub auto_continue: bool,
    /// Who drains the nodes an instance refresh terminates; set for `instance-refresh`
    /// only (a plan that names none gets `termination-handler`).
    pub drainer: Option<Drainer>,
    /// `eks-update` only: the group's EKS `updateConfig` (how many nodes EKS takes
    /// down at once inside its update), set before the update when it differs; None
    /// leaves the group's as it is.
    pub update_config: Option<MaxUnavailable>,
    /// `blue-green` only: the EKS `amiType` the copy boots (e.g. moving a group off
    /// Amazon Linux 2, which has no AMI past 1.32); None keeps the old group's.
    pub ami_type: Option<String>,
}

/// A Karpenter NodePool's step: its drift released `wave` nodes at a time, a gate
/// between waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodepoolStep {
    pub name: String,
    /// Drifted nodes Karpenter may replace in one wave.
    pub wave: WaveSize,
    /// Go on to the next wave on its own while the gate is green.
    pub auto_continue: bool,
    /// The EC2NodeClass that pins the NodePool's AMI (no `@latest` alias): nothing
    /// drifts until it changes, so the first wave waits at a gate for the lead, who
    /// changes it (the gate turns green) or passes it with a typed reason.
    pub pinned_node_class: Option<String>,
}

/// How many drifted nodes a wave replaces: a count, or a percent of the NodePool's
/// nodes (rounded up, at least 1), written `2` or `"10%"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaveSize {
    Nodes(u32),
    Percent(u32),
}

impl WaveSize {
    /// The nodes a wave replaces in a NodePool of `nodes` nodes (at least 1).
    pub fn of(self, nodes: u32) -> u32 {
        match self {
            WaveSize::Nodes(n) => n.max(1),
            WaveSize::Percent(p) => (u64::from(nodes) * u64::from(p)).div_ceil(100).max(1) as u32,
        }
    }
}

impl std::fmt::Display for WaveSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaveSize::Nodes(n) => write!(f, "{n}"),
            WaveSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Who manages a node group's instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GroupType {
    /// An EKS managed node group.
    Managed,
    /// An Auto Scaling group of our own (eksctl unmanaged, Terraform, …).
    SelfManaged,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Managed => "managed",
            GroupType::SelfManaged => "self-managed",
        }
    }

    /// The strategies that can upgrade a group of this type.
    pub fn strategies(self) -> &'static [Strategy] {
        match self {
            GroupType::Managed => &[Strategy::EksUpdate, Strategy::BlueGreen],
            GroupType::SelfManaged => &[Strategy::Replace, Strategy::InstanceRefresh],
        }
    }
}

/// How a node group's nodes are replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// EKS's UpdateNodegroupVersion (managed groups).
    EksUpdate,
    /// The Auto Scaling group's instance refresh (self-managed groups).
    InstanceRefresh,
    /// upshift cordons, drains and terminates batch by batch, waiting for
    /// replacements (self-managed groups).
    Replace,
    /// upshift creates a copy of the group on the target, then cordons the old
    /// group's nodes and drains them batch by batch, with a gate between batches, and
    /// deletes the old group (managed groups).
    BlueGreen,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::EksUpdate => "eks-update",
            Strategy::InstanceRefresh => "instance-refresh",
            Strategy::Replace => "replace",
            Strategy::BlueGreen => "blue-green",
        }
    }
}

/// What discovery sees of the cluster now: what a plan is validated against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// The cluster's name (EKS's, else the kubeconfig's).
    pub cluster: String,
    /// The control plane's minor, e.g. `1.30`.
    pub control_plane: String,
    pub groups: Vec<LiveGroup>,
    /// Installed EKS add-ons; None when EKS was not asked.
    pub addons: Option<Vec<LiveAddon>>,
    /// What could not be read, with why.
    pub unreadable: Vec<(String, String)>,
    /// The self-managed groups' termination hooks and the termination handlers found;
    /// None when EKS was not asked.
    pub drainers: Option<crate::preflight::drainers::DrainerFacts>,
    /// Fargate nodes (one per pod) per kubelet minor, e.g. `{"1.30": 6}`.
    pub fargate: std::collections::BTreeMap<String, u32>,
    /// Karpenter's NodePools (EKS Auto Mode's built-in ones included).
    pub nodepools: Vec<LiveNodePool>,
}

impl Live {
    pub fn group(&self, name: &str) -> Option<&LiveGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether an instance refresh of self-managed group `name` would be drained
    /// without upshift, and why; None when that was not looked up.
    pub fn refresh_verdict(&self, name: &str) -> Option<crate::preflight::drainers::Verdict> {
        let facts = self.drainers.as_ref()?;
        let g = facts.groups.iter().find(|g| g.group == name)?;
        Some(crate::preflight::drainers::verdict(g, &facts.handlers))
    }
}

/// A node group as discovery sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveGroup {
    pub name: String,
    pub group_type: GroupType,
    /// Nodes in the group (EKS's desired size when no node is registered).
    pub size: u32,
    /// Nodes per kubelet minor, e.g. `{"1.30": 3}`.
    pub minors: std::collections::BTreeMap<String, u32>,
    /// A managed group's EKS `amiType` (e.g. `AL2_x86_64`), when EKS was asked.
    pub ami_type: Option<String>,
    /// The workloads (`namespace/name`) whose pods select a managed group by its name
    /// (`eks.amazonaws.com/nodegroup` in a nodeSelector or a required node affinity):
    /// they cannot run on a blue-green copy, whose nodes carry the copy's name.
    pub selected_by: Vec<String>,
}

/// A Karpenter NodePool as discovery sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveNodePool {
    pub name: String,
    /// Its node class: `EC2NodeClass/default`, or `NodeClass/default` (EKS Auto Mode).
    pub node_class: String,
    /// The EC2NodeClass when it pins the AMI (no `@latest` alias), with the terms:
    /// `pinned (id: ami-0abc…)`.
    pub pinned: Option<(String, String)>,
    /// Nodes per kubelet minor.
    pub minors: std::collections::BTreeMap<String, u32>,
    /// Its `spec.disruption.budgets` as JSON (`null` when it has none).
    pub budgets: String,
}

impl LiveNodePool {
    pub fn nodes(&self) -> u32 {
        self.minors.values().sum()
    }
}

impl Live {
    pub fn nodepool(&self, name: &str) -> Option<&LiveNodePool> {
        self.nodepools.iter().find(|p| p.name == name)
    }
}

/// An installed EKS add-on and what EKS offers for the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAddon {
    pub name: String,
    pub version: String,
    /// Versions offered for the target minor, newest first.
    pub offered: Vec<String>,
    /// EKS's default for the target.
    pub default: Option<String>,
}
