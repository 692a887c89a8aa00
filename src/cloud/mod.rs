//! upshift's view of the cloud: the EKS, Auto Scaling and CloudWatch operations an
//! upgrade needs, as one trait with plain types, and its AWS implementation over the
//! official SDKs. The built-in simulator speaks the same wire protocols, so the AWS
//! implementation pointed at `Simulator::aws_url()` is the simulated cloud.

pub mod aws;
mod error;
mod types;

use std::future::Future;
use std::pin::Pin;

pub use aws::{AwsCloud, AwsOptions, sdk_config};
pub use error::CloudError;
pub use types::*;

/// The future every cloud operation returns (boxed, so that `dyn Cloud` works).
pub type CloudFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CloudError>> + Send + 'a>>;

/// The cloud operations of an EKS upgrade, reads and writes (a read-only cockpit
/// should not be handed one).
pub trait Cloud: Send + Sync {
    // --- EKS: the cluster and its control plane
    fn describe_cluster<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, ClusterInfo>;
    /// Starts a control-plane update to `version` (one minor above the current).
    fn update_cluster_version<'a>(&'a self, cluster: &'a str, version: &'a str) -> CloudFuture<'a, UpdateInfo>;
    /// Update ids of the cluster, a node group or an add-on, oldest first.
    fn list_updates<'a>(&'a self, cluster: &'a str, scope: &'a UpdateScope) -> CloudFuture<'a, Vec<String>>;
    fn describe_update<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        scope: &'a UpdateScope,
    ) -> CloudFuture<'a, UpdateInfo>;
    // --- EKS: managed node groups
    fn list_nodegroups<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>>;
    fn describe_nodegroup<'a>(&'a self, cluster: &'a str, nodegroup: &'a str) -> CloudFuture<'a, NodegroupInfo>;
    /// Starts a managed node group update to `version` (the control plane's when None).
    fn update_nodegroup_version<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        version: Option<&'a str>,
        force: bool,
    ) -> CloudFuture<'a, UpdateInfo>;
    // --- EKS: add-ons
    fn list_addons<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>>;
    fn describe_addon<'a>(&'a self, cluster: &'a str, addon: &'a str) -> CloudFuture<'a, AddonInfo>;
    /// The versions of `addon` that run on Kubernetes `kubernetes_version`, and the default.
    fn addon_versions<'a>(&'a self, addon: &'a str, kubernetes_version: &'a str) -> CloudFuture<'a, AddonVersions>;
    fn update_addon<'a>(
        &'a self,
        cluster: &'a str,
        addon: &'a str,
        version: &'a str,
        resolve_conflicts: Option<ResolveConflicts>,
    ) -> CloudFuture<'a, UpdateInfo>;
    // --- EKS: upgrade insights
    fn list_insights<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<InsightInfo>>;
    fn describe_insight<'a>(&'a self, cluster: &'a str, id: &'a str) -> CloudFuture<'a, InsightInfo>;
    // --- Auto Scaling
    /// The named groups (all when `names` is empty).
    fn describe_groups<'a>(&'a self, names: &'a [String]) -> CloudFuture<'a, Vec<GroupInfo>>;
    fn start_instance_refresh<'a>(&'a self, group: &'a str, prefs: &'a RefreshPrefs) -> CloudFuture<'a, String>;
    /// The group's instance refreshes, newest first.
    fn describe_instance_refreshes<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<RefreshInfo>>;
    fn cancel_instance_refresh<'a>(&'a self, group: &'a str) -> CloudFuture<'a, String>;
    /// Terminates an instance; its group replaces it unless `decrement` shrinks the group.
    fn terminate_instance<'a>(&'a self, instance: &'a str, decrement: bool) -> CloudFuture<'a, ActivityInfo>;
    fn set_instance_protection<'a>(
        &'a self,
        group: &'a str,
        instances: &'a [String],
        protected: bool,
    ) -> CloudFuture<'a, ()>;
    /// The group's latest scaling activities, newest first.
    fn scaling_activities<'a>(&'a self, group: &'a str, max: i32) -> CloudFuture<'a, Vec<ActivityInfo>>;
    fn tag_group<'a>(&'a self, group: &'a str, tags: &'a [(String, String)]) -> CloudFuture<'a, ()>;
    fn untag_group<'a>(&'a self, group: &'a str, keys: &'a [String]) -> CloudFuture<'a, ()>;
    // --- CloudWatch
    fn metric_data<'a>(
        &'a self,
        queries: &'a [MetricQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> CloudFuture<'a, Vec<MetricSeries>>;
    fn put_metric<'a>(&'a self, metric: &'a MetricQuery, value: f64) -> CloudFuture<'a, ()>;
    /// Metric alarms whose names start with `prefix` (all when None).
    fn describe_alarms<'a>(&'a self, prefix: Option<&'a str>) -> CloudFuture<'a, Vec<AlarmInfo>>;
}
