//! Plain data the cloud operations return: no SDK types leak past `cloud::aws`.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// An EKS cluster (`DescribeCluster`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterInfo {
    pub name: String,
    pub arn: String,
    /// Kubernetes minor version, e.g. "1.30".
    pub version: String,
    /// ACTIVE, UPDATING, …
    pub status: String,
    /// The Kubernetes API server's URL.
    pub endpoint: String,
    pub platform_version: String,
    pub created: Option<Timestamp>,
    /// The upgrade policy's support type: `STANDARD` (EKS upgrades the cluster when
    /// standard support ends) or `EXTENDED` (it stays, and pays for extended support).
    pub support_type: String,
    /// EKS Auto Mode's compute (`computeConfig.enabled`): EKS runs Karpenter.
    pub auto_mode: bool,
    /// Auto Mode's built-in NodePools enabled (`computeConfig.nodePools`).
    pub auto_mode_pools: Vec<String>,
}

/// A Kubernetes minor's life on EKS (`DescribeClusterVersions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionSupport {
    /// `1.31`
    pub version: String,
    /// `STANDARD_SUPPORT`, `EXTENDED_SUPPORT`, `UNSUPPORTED`
    pub status: String,
    pub release: Option<Timestamp>,
    pub end_of_standard: Option<Timestamp>,
    pub end_of_extended: Option<Timestamp>,
}

/// Whose updates to list or describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateScope {
    Cluster,
    Nodegroup(String),
    Addon(String),
}

/// An error an EKS update reports (e.g. `PodEvictionFailure`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateErrorInfo {
    pub code: String,
    pub message: String,
    pub resource_ids: Vec<String>,
}

/// An EKS update (`DescribeUpdate`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateInfo {
    pub id: String,
    /// InProgress, Successful, Failed or Cancelled.
    pub status: String,
    /// VersionUpdate, AddonUpdate, …
    pub kind: String,
    pub params: Vec<(String, String)>,
    pub created: Option<Timestamp>,
    pub errors: Vec<UpdateErrorInfo>,
}

impl UpdateInfo {
    pub fn in_progress(&self) -> bool {
        self.status == "InProgress"
    }
    pub fn succeeded(&self) -> bool {
        self.status == "Successful"
    }
    /// The value of a parameter such as `Version`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A managed node group (`DescribeNodegroup`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodegroupInfo {
    pub name: String,
    pub version: String,
    pub release_version: String,
    /// ACTIVE, UPDATING, DEGRADED, …
    pub status: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub instance_types: Vec<String>,
    /// The Auto Scaling groups behind it.
    pub auto_scaling_groups: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Health issues: "code: message".
    pub health_issues: Vec<String>,
    /// The rest of what it is made of: subnets, taints, launch template, roles, …
    pub config: NodegroupConfig,
}

/// How an add-on update treats fields changed by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveConflicts {
    None,
    Overwrite,
    Preserve,
}

/// An installed EKS add-on (`DescribeAddon`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddonInfo {
    pub name: String,
    pub version: String,
    /// ACTIVE, UPDATING, DEGRADED, …
    pub status: String,
    pub health_issues: Vec<String>,
}

/// Versions of an add-on that run on one Kubernetes minor (`DescribeAddonVersions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddonVersions {
    pub addon: String,
    pub kubernetes_version: String,
    /// Newest first, as EKS lists them.
    pub versions: Vec<String>,
    pub default: Option<String>,
}

/// An EKS upgrade insight (`ListInsights`, `DescribeInsight`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InsightInfo {
    pub id: String,
    pub name: String,
    pub category: String,
    pub kubernetes_version: String,
    /// PASSING, WARNING, ERROR or UNKNOWN.
    pub status: String,
    pub reason: String,
    pub description: String,
    /// Only from `describe_insight`.
    pub recommendation: Option<String>,
    /// Resources concerned (Kubernetes URI or ARN) and their status; only from `describe_insight`.
    pub resources: Vec<(String, String)>,
}

/// An instance of an Auto Scaling group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceInfo {
    pub id: String,
    pub zone: String,
    /// Pending, InService, Terminating, …
    pub lifecycle_state: String,
    pub health_status: String,
    pub launch_template_version: Option<String>,
    pub protected_from_scale_in: bool,
}

/// An Auto Scaling group (`DescribeAutoScalingGroups`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupInfo {
    pub name: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub launch_template_version: Option<String>,
    pub instances: Vec<InstanceInfo>,
    pub tags: BTreeMap<String, String>,
}

/// Instance refresh preferences; None leaves AWS's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefreshPrefs {
    pub min_healthy_percentage: Option<i32>,
    pub instance_warmup: Option<i32>,
    pub checkpoint_percentages: Vec<i32>,
    pub checkpoint_delay: Option<i32>,
    pub skip_matching: Option<bool>,
}

/// An instance refresh (`DescribeInstanceRefreshes`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefreshInfo {
    pub id: String,
    pub group: String,
    /// Pending, InProgress, Successful, Failed, Cancelling, Cancelled, …
    pub status: String,
    pub status_reason: Option<String>,
    pub percentage_complete: i32,
    pub instances_to_update: i32,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl RefreshInfo {
    pub fn active(&self) -> bool {
        matches!(self.status.as_str(), "Pending" | "InProgress" | "Cancelling" | "Baking")
    }
}

/// A scaling activity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityInfo {
    pub id: String,
    pub group: String,
    pub description: String,
    pub cause: String,
    pub status: String,
    pub start: Option<Timestamp>,
}

/// One metric statistic to fetch (or a metric to put a value to).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricQuery {
    /// Query id: lower-case letter first, then letters, digits, underscores.
    pub id: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    /// Sum, Average, Maximum, Minimum, SampleCount.
    pub stat: String,
    /// Seconds, a multiple of 60.
    pub period: i32,
}

/// A metric's values, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSeries {
    pub id: String,
    pub label: String,
    pub points: Vec<(Timestamp, f64)>,
}

/// A CloudWatch metric alarm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlarmInfo {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: String,
    pub namespace: String,
    pub metric: String,
    pub updated: Option<Timestamp>,
}

/// The transition a termination lifecycle hook holds.
pub const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";

/// What a lifecycle action ends with, or what its hook applies when it times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookResult {
    /// Go on: for a termination, the instance terminates and other hooks still run.
    Continue,
    /// Stop waiting: for a termination, the instance terminates and no other hook runs.
    Abandon,
}

impl HookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            HookResult::Continue => "CONTINUE",
            HookResult::Abandon => "ABANDON",
        }
    }
}

/// A taint of a managed node group, in EKS's spelling: effect `NO_SCHEDULE`,
/// `NO_EXECUTE` or `PREFER_NO_SCHEDULE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaintInfo {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

/// The launch template a managed node group boots from; EKS gives at least the id
/// or the name, and the version it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchTemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

/// How many nodes EKS takes down at once while it updates a managed group (its
/// `updateConfig`): a count, or a percentage of the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxUnavailable {
    Count(i32),
    Percentage(i32),
}

impl std::fmt::Display for MaxUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxUnavailable::Count(n) => write!(f, "maxUnavailable {n}"),
            MaxUnavailable::Percentage(p) => write!(f, "maxUnavailablePercentage {p}"),
        }
    }
}

/// A lifecycle hook of an Auto Scaling group (`DescribeLifecycleHooks`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifecycleHookInfo {
    pub name: String,
    pub group: String,
    /// `autoscaling:EC2_INSTANCE_TERMINATING` or `autoscaling:EC2_INSTANCE_LAUNCHING`.
    pub transition: String,
    /// Seconds an instance waits without a heartbeat before the default result applies.
    pub heartbeat_timeout: i32,
    /// Seconds an instance can wait at most, heartbeats or not.
    pub global_timeout: i32,
    /// CONTINUE or ABANDON.
    pub default_result: String,
    /// Where Auto Scaling sends the hook's notifications (an SQS queue, an SNS topic).
    pub notification_target_arn: Option<String>,
}

impl LifecycleHookInfo {
    /// Whether the hook holds instances being terminated.
    pub fn terminating(&self) -> bool {
        self.transition == TERMINATING
    }
}

/// A termination lifecycle hook to put on a group (`PutLifecycleHook`).
#[derive(Clone, Debug, PartialEq)]
pub struct HookSpec {
    pub name: String,
    /// Seconds, 30 to 7200.
    pub heartbeat_timeout: i32,
    pub default_result: HookResult,
}

/// An instance as `DescribeAutoScalingInstances` reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AsgInstanceInfo {
    pub id: String,
    pub group: String,
    pub zone: String,
    /// InService, Terminating:Wait, Terminating:Proceed, Pending:Wait, …
    pub lifecycle_state: String,
    pub health_status: String,
    pub protected_from_scale_in: bool,
}

/// What a managed node group is made of (`DescribeNodegroup`): what a copy of it on
/// another version needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodegroupConfig {
    pub subnets: Vec<String>,
    pub taints: Vec<TaintInfo>,
    pub launch_template: Option<LaunchTemplateRef>,
    /// ON_DEMAND, SPOT or CAPACITY_BLOCK.
    pub capacity_type: Option<String>,
    /// The IAM role of the group's nodes (an ARN).
    pub node_role: Option<String>,
    /// AL2023_x86_64_STANDARD, BOTTLEROCKET_ARM_64, CUSTOM, …
    pub ami_type: Option<String>,
    /// GiB; EKS gives none when a launch template sets the disks.
    pub disk_size: Option<i32>,
    pub update_config: Option<MaxUnavailable>,
    pub tags: BTreeMap<String, String>,
}

/// A managed node group to create (`CreateNodegroup`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewNodegroup {
    pub name: String,
    /// Kubernetes minor, e.g. "1.31" (the control plane's when None).
    pub version: Option<String>,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub instance_types: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub config: NodegroupConfig,
}

/// A change to a managed node group (`UpdateNodegroupConfig`); None leaves a part as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodegroupChange {
    /// (min, max, desired)
    pub scaling: Option<(i32, i32, i32)>,
    pub update_config: Option<MaxUnavailable>,
}
