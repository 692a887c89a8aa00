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
