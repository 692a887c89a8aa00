//! [`CloudRead`] and [`Cloud`] over the official AWS SDKs, one file per service
//! (`eks`, with `nodegroups` for its node groups, `autoscaling`, `cloudwatch`):
//! configuration from the standard chain
//! (environment, profiles, SSO, credential processes, web identity, instance
//! metadata), TLS by rustls, throttling retried with exponential backoff, lists read
//! through the SDKs' paginators, and an optional endpoint override (the simulator's,
//! or a local emulator's).

mod autoscaling;
mod cloudwatch;
mod eks;
mod nodegroups;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_types::DateTime;
use jiff::Timestamp;

use super::{
    ActivityInfo, AddonInfo, AddonVersions, AlarmInfo, Cloud, CloudError, CloudFuture, CloudRead, ClusterInfo,
    GroupInfo, InsightInfo, MetricQuery, MetricSeries, NewNodegroup, NodegroupChange, NodegroupInfo, RefreshInfo,
    RefreshPrefs, ResolveConflicts, UpdateInfo, UpdateScope, VersionSupport,
};
use super::{AsgInstanceInfo, HookResult, HookSpec, LifecycleHookInfo};
use autoscaling::AutoScaling;
use cloudwatch::CloudWatch;
use eks::Eks;

/// Where and as whom to reach AWS. Everything unset comes from the standard chain.
#[derive(Clone, Debug)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Send every request here instead of AWS (the simulator, moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Static credentials (access key, secret), instead of the chain.
    pub static_credentials: Option<(String, String)>,
    /// Attempts per request, including the first (throttling and transient errors).
    pub max_attempts: u32,
    /// First retry's backoff; it doubles (with jitter) up to 20 s.
    pub initial_backoff: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            region: None,
            profile: None,
            endpoint_url: None,
            static_credentials: None,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
        }
    }
}

impl AwsOptions {
    /// Options for an AWS-compatible endpoint on this machine (the simulator's
    /// `aws_url()`, or an emulator), with dummy credentials so that no credential
    /// lookup (and no instance metadata request) ever leaves the machine.
    pub fn local(endpoint_url: &str, region: &str) -> Self {
        AwsOptions {
            region: Some(region.to_string()),
            endpoint_url: Some(endpoint_url.to_string()),
            static_credentials: Some(("upshift-sim".into(), "upshift-sim".into())),
            initial_backoff: Duration::from_millis(20),
            ..Default::default()
        }
    }
}

/// The AWS implementation of [`Cloud`].
#[derive(Clone, Debug)]
pub struct AwsCloud {
    region: String,
    eks: Eks,
    asg: AutoScaling,
    cw: CloudWatch,
}

/// The SDK configuration upshift uses: the standard chain (environment, profiles,
/// SSO, credential processes, web identity, instance metadata) with `opts` on top,
/// rustls (ring) for TLS, and standard retries with exponential backoff.
pub async fn sdk_config(opts: &AwsOptions) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((key, secret)) = &opts.static_credentials {
        loader = loader.credentials_provider(aws_sdk_eks::config::Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "upshift-static",
        ));
    }
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(opts.initial_backoff),
        )
        .load()
        .await
}

impl AwsCloud {
    /// Loads the AWS configuration (standard chain plus `opts`) and builds the clients.
    pub async fn connect(opts: &AwsOptions) -> Result<AwsCloud, CloudError> {
        let conf = sdk_config(opts).await;
        let region = conf.region().map(|r| r.to_string()).ok_or(CloudError::NoRegion)?;
        Ok(AwsCloud {
            eks: Eks {
                client: aws_sdk_eks::Client::new(&conf),
                region: region.clone(),
            },
            asg: AutoScaling {
                client: aws_sdk_autoscaling::Client::new(&conf),
            },
            cw: CloudWatch {
                client: aws_sdk_cloudwatch::Client::new(&conf),
            },
            region,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

fn ts(d: Option<&DateTime>) -> Option<Timestamp> {
    let d = d?;
    Timestamp::new(d.secs(), d.subsec_nanos() as i32).ok()
}

fn to_dt(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millisecond())
}

fn s(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

impl CloudRead for AwsCloud {
    fn describe_cluster<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, ClusterInfo> {
        Box::pin(self.eks.describe_cluster(cluster))
    }

    fn cluster_versions<'a>(&'a self, versions: &'a [String]) -> CloudFuture<'a, Vec<VersionSupport>> {
        Box::pin(self.eks.cluster_versions(versions))
    }

    fn list_updates<'a>(&'a self, cluster: &'a str, scope: &'a UpdateScope) -> CloudFuture<'a, Vec<String>> {
        Box::pin(self.eks.list_updates(cluster, scope))
    }

    fn describe_update<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        scope: &'a UpdateScope,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(self.eks.describe_update(cluster, id, scope))
    }

    fn list_nodegroups<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>> {
        Box::pin(self.eks.list_nodegroups(cluster))
    }

    fn describe_nodegroup<'a>(&'a self, cluster: &'a str, nodegroup: &'a str) -> CloudFuture<'a, NodegroupInfo> {
        Box::pin(self.eks.describe_nodegroup(cluster, nodegroup))
    }

    fn list_addons<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>> {
        Box::pin(self.eks.list_addons(cluster))
    }

    fn describe_addon<'a>(&'a self, cluster: &'a str, addon: &'a str) -> CloudFuture<'a, AddonInfo> {
        Box::pin(self.eks.describe_addon(cluster, addon))
    }

    fn addon_versions<'a>(&'a self, addon: &'a str, kubernetes_version: &'a str) -> CloudFuture<'a, AddonVersions> {
        Box::pin(self.eks.addon_versions(addon, kubernetes_version))
    }

    fn list_insights<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<InsightInfo>> {
        Box::pin(self.eks.list_insights(cluster))
    }

    fn describe_insight<'a>(&'a self, cluster: &'a str, id: &'a str) -> CloudFuture<'a, InsightInfo> {
        Box::pin(self.eks.describe_insight(cluster, id))
    }

    fn describe_groups<'a>(&'a self, names: &'a [String]) -> CloudFuture<'a, Vec<GroupInfo>> {
        Box::pin(self.asg.describe_groups(names))
    }

    fn describe_instance_refreshes<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<RefreshInfo>> {
        Box::pin(self.asg.describe_instance_refreshes(group))
    }

    fn scaling_activities<'a>(&'a self, group: &'a str, max: i32) -> CloudFuture<'a, Vec<ActivityInfo>> {
        Box::pin(self.asg.scaling_activities(group, max))
    }

    fn describe_lifecycle_hooks<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<LifecycleHookInfo>> {
        Box::pin(self.asg.describe_lifecycle_hooks(group))
    }

    fn describe_asg_instances<'a>(&'a self, ids: &'a [String]) -> CloudFuture<'a, Vec<AsgInstanceInfo>> {
        Box::pin(self.asg.describe_instances(ids))
    }

    fn metric_data<'a>(
        &'a self,
        queries: &'a [MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> CloudFuture<'a, Vec<MetricSeries>> {
        Box::pin(self.cw.metric_data(queries, start, end))
    }

    fn describe_alarms<'a>(&'a self, prefix: Option<&'a str>) -> CloudFuture<'a, Vec<AlarmInfo>> {
        Box::pin(self.cw.describe_alarms(prefix))
    }
}

impl Cloud for AwsCloud {
    fn update_cluster_version<'a>(&'a self, cluster: &'a str, version: &'a str) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(self.eks.update_cluster_version(cluster, version))
    }

    fn update_nodegroup_version<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        version: Option<&'a str>,
        force: bool,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(self.eks.update_nodegroup_version(cluster, nodegroup, version, force))
    }

    fn update_addon<'a>(
        &'a self,
        cluster: &'a str,
        addon: &'a str,
        version: &'a str,
        resolve_conflicts: Option<ResolveConflicts>,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(self.eks.update_addon(cluster, addon, version, resolve_conflicts))
    }

    fn start_instance_refresh<'a>(&'a self, group: &'a str, prefs: &'a RefreshPrefs) -> CloudFuture<'a, String> {
        Box::pin(self.asg.start_instance_refresh(group, prefs))
    }

    fn cancel_instance_refresh<'a>(&'a self, group: &'a str) -> CloudFuture<'a, String> {
        Box::pin(self.asg.cancel_instance_refresh(group))
    }

    fn terminate_instance<'a>(&'a self, instance: &'a str, decrement: bool) -> CloudFuture<'a, ActivityInfo> {
        Box::pin(self.asg.terminate_instance(instance, decrement))
    }

    fn set_instance_protection<'a>(
        &'a self,
        group: &'a str,
        instances: &'a [String],
        protected: bool,
    ) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.set_instance_protection(group, instances, protected))
    }

    fn tag_group<'a>(&'a self, group: &'a str, tags: &'a [(String, String)]) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.tag_group(group, tags))
    }

    fn untag_group<'a>(&'a self, group: &'a str, keys: &'a [String]) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.untag_group(group, keys))
    }

    fn put_metric<'a>(&'a self, metric: &'a MetricQuery, value: f64) -> CloudFuture<'a, ()> {
        Box::pin(self.cw.put_metric(metric, value))
    }

    fn put_lifecycle_hook<'a>(&'a self, group: &'a str, hook: &'a HookSpec) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.put_lifecycle_hook(group, hook))
    }

    fn delete_lifecycle_hook<'a>(&'a self, group: &'a str, hook: &'a str) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.delete_lifecycle_hook(group, hook))
    }

    fn complete_lifecycle_action<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
        result: HookResult,
    ) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.complete_lifecycle_action(group, hook, instance, result))
    }

    fn record_lifecycle_heartbeat<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
    ) -> CloudFuture<'a, ()> {
        Box::pin(self.asg.record_lifecycle_heartbeat(group, hook, instance))
    }

    fn create_nodegroup<'a>(&'a self, cluster: &'a str, group: &'a NewNodegroup) -> CloudFuture<'a, NodegroupInfo> {
        Box::pin(self.eks.create_nodegroup(cluster, group))
    }

    fn delete_nodegroup<'a>(&'a self, cluster: &'a str, nodegroup: &'a str) -> CloudFuture<'a, NodegroupInfo> {
        Box::pin(self.eks.delete_nodegroup(cluster, nodegroup))
    }

    fn update_nodegroup_config<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        change: &'a NodegroupChange,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(self.eks.update_nodegroup_config(cluster, nodegroup, change))
    }
}
