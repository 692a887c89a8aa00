//! upshift's view of the cloud: the EKS, Auto Scaling and CloudWatch operations an
//! upgrade needs, as two traits with plain types (`CloudRead` for what only reads,
//! `Cloud` adding what writes), and their AWS implementation over the official SDKs.
//! The built-in simulator speaks the same wire protocols, so the AWS implementation
//! pointed at `Simulator::aws_url()` is the simulated cloud.

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

/// What can be read of the cloud: the EKS, Auto Scaling and CloudWatch operations that
/// change nothing. Preflight and plan discovery take this, so that they cannot write.
pub trait CloudRead: Send + Sync {
    // --- EKS: the cluster and its control plane
    fn describe_cluster<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, ClusterInfo>;
    /// The support calendar of these Kubernetes minors on EKS.
    fn cluster_versions<'a>(&'a self, versions: &'a [String]) -> CloudFuture<'a, Vec<VersionSupport>>;
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
    // --- EKS: add-ons
    fn list_addons<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>>;
    fn describe_addon<'a>(&'a self, cluster: &'a str, addon: &'a str) -> CloudFuture<'a, AddonInfo>;
    /// The versions of `addon` that run on Kubernetes `kubernetes_version`, and the default.
    fn addon_versions<'a>(&'a self, addon: &'a str, kubernetes_version: &'a str) -> CloudFuture<'a, AddonVersions>;
    // --- EKS: upgrade insights
    fn list_insights<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<InsightInfo>>;
    fn describe_insight<'a>(&'a self, cluster: &'a str, id: &'a str) -> CloudFuture<'a, InsightInfo>;
    // --- Auto Scaling
    /// The named groups (all when `names` is empty).
    fn describe_groups<'a>(&'a self, names: &'a [String]) -> CloudFuture<'a, Vec<GroupInfo>>;
    /// The group's instance refreshes, newest first.
    fn describe_instance_refreshes<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<RefreshInfo>>;
    /// The group's latest scaling activities, newest first.
    fn scaling_activities<'a>(&'a self, group: &'a str, max: i32) -> CloudFuture<'a, Vec<ActivityInfo>>;
    /// The group's lifecycle hooks (both transitions).
    fn describe_lifecycle_hooks<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<LifecycleHookInfo>>;
    /// The named instances with their lifecycle state (`Terminating:Wait`, …); ids
    /// that belong to no group are left out.
    fn describe_asg_instances<'a>(&'a self, ids: &'a [String]) -> CloudFuture<'a, Vec<AsgInstanceInfo>>;
    // --- CloudWatch
    fn metric_data<'a>(
        &'a self,
        queries: &'a [MetricQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> CloudFuture<'a, Vec<MetricSeries>>;
    /// Metric alarms whose names start with `prefix` (all when None).
    fn describe_alarms<'a>(&'a self, prefix: Option<&'a str>) -> CloudFuture<'a, Vec<AlarmInfo>>;
}

/// The cloud operations of an EKS upgrade that change something, on top of the reads.
/// Only a rollout holds one; a read-only cockpit, preflight and plan discovery never do.
pub trait Cloud: CloudRead {
    /// Starts a control-plane update to `version` (one minor above the current).
    fn update_cluster_version<'a>(&'a self, cluster: &'a str, version: &'a str) -> CloudFuture<'a, UpdateInfo>;
    /// Starts a managed node group update to `version` (the control plane's when None).
    fn update_nodegroup_version<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        version: Option<&'a str>,
        force: bool,
    ) -> CloudFuture<'a, UpdateInfo>;
    fn update_addon<'a>(
        &'a self,
        cluster: &'a str,
        addon: &'a str,
        version: &'a str,
        resolve_conflicts: Option<ResolveConflicts>,
    ) -> CloudFuture<'a, UpdateInfo>;
    fn start_instance_refresh<'a>(&'a self, group: &'a str, prefs: &'a RefreshPrefs) -> CloudFuture<'a, String>;
    fn cancel_instance_refresh<'a>(&'a self, group: &'a str) -> CloudFuture<'a, String>;
    /// Terminates an instance; its group replaces it unless `decrement` shrinks the group.
    fn terminate_instance<'a>(&'a self, instance: &'a str, decrement: bool) -> CloudFuture<'a, ActivityInfo>;
    fn set_instance_protection<'a>(
        &'a self,
        group: &'a str,
        instances: &'a [String],
        protected: bool,
    ) -> CloudFuture<'a, ()>;
    fn tag_group<'a>(&'a self, group: &'a str, tags: &'a [(String, String)]) -> CloudFuture<'a, ()>;
    fn untag_group<'a>(&'a self, group: &'a str, keys: &'a [String]) -> CloudFuture<'a, ()>;
    fn put_metric<'a>(&'a self, metric: &'a MetricQuery, value: f64) -> CloudFuture<'a, ()>;
    /// Creates (or changes) a termination lifecycle hook on the group.
    fn put_lifecycle_hook<'a>(&'a self, group: &'a str, hook: &'a HookSpec) -> CloudFuture<'a, ()>;
    /// Deletes a lifecycle hook; instances waiting on it go on with its default result.
    fn delete_lifecycle_hook<'a>(&'a self, group: &'a str, hook: &'a str) -> CloudFuture<'a, ()>;
    /// Ends the lifecycle action `instance` waits in on `hook`.
    fn complete_lifecycle_action<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
        result: HookResult,
    ) -> CloudFuture<'a, ()>;
    /// Starts the heartbeat timeout of the action `instance` waits in on `hook` again.
    fn record_lifecycle_heartbeat<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
    ) -> CloudFuture<'a, ()>;
    /// Creates a managed node group (CREATING until its nodes join, then ACTIVE).
    fn create_nodegroup<'a>(&'a self, cluster: &'a str, group: &'a NewNodegroup) -> CloudFuture<'a, NodegroupInfo>;
    /// Deletes a managed node group: EKS drains its nodes and terminates their instances.
    fn delete_nodegroup<'a>(&'a self, cluster: &'a str, nodegroup: &'a str) -> CloudFuture<'a, NodegroupInfo>;
    /// Changes a managed node group's scaling or `updateConfig` (a `ConfigUpdate`).
    fn update_nodegroup_config<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        change: &'a NodegroupChange,
    ) -> CloudFuture<'a, UpdateInfo>;
}
