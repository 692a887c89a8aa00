//! The [`Cloud`] over the official AWS SDKs: configuration from the standard chain
//! (environment, profiles, SSO, credential processes, web identity, instance
//! metadata), TLS by rustls, throttling retried with exponential backoff, and an
//! optional endpoint override (the simulator's, or a local emulator's).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_autoscaling::types as asg;
use aws_sdk_cloudwatch::types as cw;
use aws_sdk_eks::types as eks;
use aws_smithy_types::DateTime;
use jiff::Timestamp;

use super::error::classify;
use super::{
    ActivityInfo, AddonInfo, AddonVersions, AlarmInfo, Cloud, CloudError, CloudFuture, ClusterInfo, GroupInfo,
    InsightInfo, InstanceInfo, MetricQuery, MetricSeries, NodegroupInfo, RefreshInfo, RefreshPrefs, ResolveConflicts,
    UpdateErrorInfo, UpdateInfo, UpdateScope,
};

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
    eks: aws_sdk_eks::Client,
    asg: aws_sdk_autoscaling::Client,
    cw: aws_sdk_cloudwatch::Client,
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
            region,
            eks: aws_sdk_eks::Client::new(&conf),
            asg: aws_sdk_autoscaling::Client::new(&conf),
            cw: aws_sdk_cloudwatch::Client::new(&conf),
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

fn update(u: Option<&eks::Update>) -> UpdateInfo {
    let Some(u) = u else { return UpdateInfo::default() };
    UpdateInfo {
        id: s(u.id()),
        status: u.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
        kind: u.r#type().map(|x| x.as_str().to_string()).unwrap_or_default(),
        params: u
            .params()
            .iter()
            .map(|p| {
                (
                    p.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    s(p.value()),
                )
            })
            .collect(),
        created: ts(u.created_at()),
        errors: u
            .errors()
            .iter()
            .map(|e| UpdateErrorInfo {
                code: e.error_code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                message: s(e.error_message()),
                resource_ids: e.resource_ids().to_vec(),
            })
            .collect(),
    }
}

fn scope_names(scope: &UpdateScope) -> (Option<String>, Option<String>) {
    match scope {
        UpdateScope::Cluster => (None, None),
        UpdateScope::Nodegroup(n) => (Some(n.clone()), None),
        UpdateScope::Addon(a) => (None, Some(a.clone())),
    }
}

impl AwsCloud {
    /// A missing cluster names the region searched.
    fn cluster_error<E, R>(&self, action: &str, cluster: &str, err: aws_sdk_eks::error::SdkError<E, R>) -> CloudError
    where
        E: aws_sdk_eks::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match classify(action, err) {
            CloudError::NotFound { message, .. }
                if message.contains("No cluster found") || action.ends_with(":DescribeCluster") =>
            {
                CloudError::ClusterNotFound {
                    name: cluster.to_string(),
                    region: self.region.clone(),
                }
            }
            other => other,
        }
    }
}

impl Cloud for AwsCloud {
    fn describe_cluster<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, ClusterInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .describe_cluster()
                .name(cluster)
                .send()
                .await
                .map_err(|e| self.cluster_error("eks:DescribeCluster", cluster, e))?;
            let c = out.cluster();
            Ok(ClusterInfo {
                name: s(c.and_then(|c| c.name())),
                arn: s(c.and_then(|c| c.arn())),
                version: s(c.and_then(|c| c.version())),
                status: c
                    .and_then(|c| c.status())
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                endpoint: s(c.and_then(|c| c.endpoint())),
                platform_version: s(c.and_then(|c| c.platform_version())),
                created: ts(c.and_then(|c| c.created_at())),
            })
        })
    }

    fn update_cluster_version<'a>(&'a self, cluster: &'a str, version: &'a str) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .update_cluster_version()
                .name(cluster)
                .version(version)
                .send()
                .await
                .map_err(|e| self.cluster_error("eks:UpdateClusterVersion", cluster, e))?;
            Ok(update(out.update()))
        })
    }

    fn list_updates<'a>(&'a self, cluster: &'a str, scope: &'a UpdateScope) -> CloudFuture<'a, Vec<String>> {
        Box::pin(async move {
            let (ng, addon) = scope_names(scope);
            let mut ids = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .eks
                    .list_updates()
                    .name(cluster)
                    .set_nodegroup_name(ng.clone())
                    .set_addon_name(addon.clone())
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| self.cluster_error("eks:ListUpdates", cluster, e))?;
                ids.extend(out.update_ids().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(ids);
                }
            }
        })
    }

    fn describe_update<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        scope: &'a UpdateScope,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(async move {
            let (ng, addon) = scope_names(scope);
            let out = self
                .eks
                .describe_update()
                .name(cluster)
                .update_id(id)
                .set_nodegroup_name(ng)
                .set_addon_name(addon)
                .send()
                .await
                .map_err(|e| classify("eks:DescribeUpdate", e))?;
            Ok(update(out.update()))
        })
    }

    fn list_nodegroups<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut names = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .eks
                    .list_nodegroups()
                    .cluster_name(cluster)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| self.cluster_error("eks:ListNodegroups", cluster, e))?;
                names.extend(out.nodegroups().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(names);
                }
            }
        })
    }

    fn describe_nodegroup<'a>(&'a self, cluster: &'a str, nodegroup: &'a str) -> CloudFuture<'a, NodegroupInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(nodegroup)
                .send()
                .await
                .map_err(|e| classify("eks:DescribeNodegroup", e))?;
            let Some(n) = out.nodegroup() else {
                return Ok(NodegroupInfo::default());
            };
            let scaling = n.scaling_config();
            Ok(NodegroupInfo {
                name: s(n.nodegroup_name()),
                version: s(n.version()),
                release_version: s(n.release_version()),
                status: n.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                min: scaling.and_then(|c| c.min_size()).unwrap_or_default(),
                max: scaling.and_then(|c| c.max_size()).unwrap_or_default(),
                desired: scaling.and_then(|c| c.desired_size()).unwrap_or_default(),
                instance_types: n.instance_types().to_vec(),
                auto_scaling_groups: n
                    .resources()
                    .map(|r| {
                        r.auto_scaling_groups()
                            .iter()
                            .filter_map(|g| g.name().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                labels: n
                    .labels()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                health_issues: n
                    .health()
                    .map(|h| {
                        h.issues()
                            .iter()
                            .map(|i| {
                                format!(
                                    "{}: {}",
                                    i.code().map(|c| c.as_str()).unwrap_or_default(),
                                    i.message().unwrap_or_default()
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
    }

    fn update_nodegroup_version<'a>(
        &'a self,
        cluster: &'a str,
        nodegroup: &'a str,
        version: Option<&'a str>,
        force: bool,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .update_nodegroup_version()
                .cluster_name(cluster)
                .nodegroup_name(nodegroup)
                .set_version(version.map(str::to_string))
                .force(force)
                .send()
                .await
                .map_err(|e| classify("eks:UpdateNodegroupVersion", e))?;
            Ok(update(out.update()))
        })
    }

    fn list_addons<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut names = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .eks
                    .list_addons()
                    .cluster_name(cluster)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| self.cluster_error("eks:ListAddons", cluster, e))?;
                names.extend(out.addons().iter().cloned());
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(names);
                }
            }
        })
    }

    fn describe_addon<'a>(&'a self, cluster: &'a str, addon: &'a str) -> CloudFuture<'a, AddonInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .describe_addon()
                .cluster_name(cluster)
                .addon_name(addon)
                .send()
                .await
                .map_err(|e| classify("eks:DescribeAddon", e))?;
            let Some(a) = out.addon() else {
                return Ok(AddonInfo::default());
            };
            Ok(AddonInfo {
                name: s(a.addon_name()),
                version: s(a.addon_version()),
                status: a.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                health_issues: a
                    .health()
                    .map(|h| {
                        h.issues()
                            .iter()
                            .map(|i| {
                                format!(
                                    "{}: {}",
                                    i.code().map(|c| c.as_str()).unwrap_or_default(),
                                    i.message().unwrap_or_default()
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
    }

    fn addon_versions<'a>(&'a self, addon: &'a str, kubernetes_version: &'a str) -> CloudFuture<'a, AddonVersions> {
        Box::pin(async move {
            let mut result = AddonVersions {
                addon: addon.to_string(),
                kubernetes_version: kubernetes_version.to_string(),
                ..Default::default()
            };
            let mut token = None;
            loop {
                let out = self
                    .eks
                    .describe_addon_versions()
                    .addon_name(addon)
                    .kubernetes_version(kubernetes_version)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| classify("eks:DescribeAddonVersions", e))?;
                for a in out.addons() {
                    for v in a.addon_versions() {
                        let Some(version) = v.addon_version() else { continue };
                        let compat: Vec<&eks::Compatibility> = v
                            .compatibilities()
                            .iter()
                            .filter(|c| c.cluster_version() == Some(kubernetes_version))
                            .collect();
                        if compat.is_empty() {
                            continue;
                        }
                        if compat.iter().any(|c| c.default_version()) {
                            result.default = Some(version.to_string());
                        }
                        result.versions.push(version.to_string());
                    }
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(result);
                }
            }
        })
    }

    fn update_addon<'a>(
        &'a self,
        cluster: &'a str,
        addon: &'a str,
        version: &'a str,
        resolve_conflicts: Option<ResolveConflicts>,
    ) -> CloudFuture<'a, UpdateInfo> {
        Box::pin(async move {
            let resolve = resolve_conflicts.map(|r| match r {
                ResolveConflicts::None => eks::ResolveConflicts::None,
                ResolveConflicts::Overwrite => eks::ResolveConflicts::Overwrite,
                ResolveConflicts::Preserve => eks::ResolveConflicts::Preserve,
            });
            let out = self
                .eks
                .update_addon()
                .cluster_name(cluster)
                .addon_name(addon)
                .addon_version(version)
                .set_resolve_conflicts(resolve)
                .send()
                .await
                .map_err(|e| classify("eks:UpdateAddon", e))?;
            Ok(update(out.update()))
        })
    }

    fn list_insights<'a>(&'a self, cluster: &'a str) -> CloudFuture<'a, Vec<InsightInfo>> {
        Box::pin(async move {
            let mut list = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .eks
                    .list_insights()
                    .cluster_name(cluster)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| self.cluster_error("eks:ListInsights", cluster, e))?;
                for i in out.insights() {
                    list.push(InsightInfo {
                        id: s(i.id()),
                        name: s(i.name()),
                        category: i.category().map(|c| c.as_str().to_string()).unwrap_or_default(),
                        kubernetes_version: s(i.kubernetes_version()),
                        status: i
                            .insight_status()
                            .and_then(|st| st.status())
                            .map(|x| x.as_str().to_string())
                            .unwrap_or_default(),
                        reason: s(i.insight_status().and_then(|st| st.reason())),
                        description: s(i.description()),
                        recommendation: None,
                        resources: Vec::new(),
                    });
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(list);
                }
            }
        })
    }

    fn describe_insight<'a>(&'a self, cluster: &'a str, id: &'a str) -> CloudFuture<'a, InsightInfo> {
        Box::pin(async move {
            let out = self
                .eks
                .describe_insight()
                .cluster_name(cluster)
                .id(id)
                .send()
                .await
                .map_err(|e| classify("eks:DescribeInsight", e))?;
            let Some(i) = out.insight() else {
                return Ok(InsightInfo::default());
            };
            Ok(InsightInfo {
                id: s(i.id()),
                name: s(i.name()),
                category: i.category().map(|c| c.as_str().to_string()).unwrap_or_default(),
                kubernetes_version: s(i.kubernetes_version()),
                status: i
                    .insight_status()
                    .and_then(|st| st.status())
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                reason: s(i.insight_status().and_then(|st| st.reason())),
                description: s(i.description()),
                recommendation: i.recommendation().map(str::to_string),
                resources: i
                    .resources()
                    .iter()
                    .map(|r| {
                        (
                            r.kubernetes_resource_uri().or(r.arn()).unwrap_or_default().to_string(),
                            r.insight_status()
                                .and_then(|st| st.status())
                                .map(|x| x.as_str().to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
            })
        })
    }

    fn describe_groups<'a>(&'a self, names: &'a [String]) -> CloudFuture<'a, Vec<GroupInfo>> {
        Box::pin(async move {
            let mut groups = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .asg
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names((!names.is_empty()).then(|| names.to_vec()))
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| classify("autoscaling:DescribeAutoScalingGroups", e))?;
                for g in out.auto_scaling_groups() {
                    groups.push(group(g));
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(groups);
                }
            }
        })
    }

    fn start_instance_refresh<'a>(&'a self, group: &'a str, prefs: &'a RefreshPrefs) -> CloudFuture<'a, String> {
        Box::pin(async move {
            let p = asg::RefreshPreferences::builder()
                .set_min_healthy_percentage(prefs.min_healthy_percentage)
                .set_instance_warmup(prefs.instance_warmup)
                .set_checkpoint_percentages(
                    (!prefs.checkpoint_percentages.is_empty()).then(|| prefs.checkpoint_percentages.clone()),
                )
                .set_checkpoint_delay(prefs.checkpoint_delay)
                .set_skip_matching(prefs.skip_matching)
                .build();
            let out = self
                .asg
                .start_instance_refresh()
                .auto_scaling_group_name(group)
                .strategy(asg::RefreshStrategy::Rolling)
                .preferences(p)
                .send()
                .await
                .map_err(|e| classify("autoscaling:StartInstanceRefresh", e))?;
            Ok(s(out.instance_refresh_id()))
        })
    }

    fn describe_instance_refreshes<'a>(&'a self, group: &'a str) -> CloudFuture<'a, Vec<RefreshInfo>> {
        Box::pin(async move {
            let out = self
                .asg
                .describe_instance_refreshes()
                .auto_scaling_group_name(group)
                .send()
                .await
                .map_err(|e| classify("autoscaling:DescribeInstanceRefreshes", e))?;
            Ok(out
                .instance_refreshes()
                .iter()
                .map(|r| RefreshInfo {
                    id: s(r.instance_refresh_id()),
                    group: s(r.auto_scaling_group_name()),
                    status: r.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                    status_reason: r.status_reason().map(str::to_string),
                    percentage_complete: r.percentage_complete().unwrap_or_default(),
                    instances_to_update: r.instances_to_update().unwrap_or_default(),
                    start: ts(r.start_time()),
                    end: ts(r.end_time()),
                })
                .collect())
        })
    }

    fn cancel_instance_refresh<'a>(&'a self, group: &'a str) -> CloudFuture<'a, String> {
        Box::pin(async move {
            let out = self
                .asg
                .cancel_instance_refresh()
                .auto_scaling_group_name(group)
                .send()
                .await
                .map_err(|e| classify("autoscaling:CancelInstanceRefresh", e))?;
            Ok(s(out.instance_refresh_id()))
        })
    }

    fn terminate_instance<'a>(&'a self, instance: &'a str, decrement: bool) -> CloudFuture<'a, ActivityInfo> {
        Box::pin(async move {
            let out = self
                .asg
                .terminate_instance_in_auto_scaling_group()
                .instance_id(instance)
                .should_decrement_desired_capacity(decrement)
                .send()
                .await
                .map_err(|e| classify("autoscaling:TerminateInstanceInAutoScalingGroup", e))?;
            Ok(out.activity().map(activity).unwrap_or_default())
        })
    }

    fn set_instance_protection<'a>(
        &'a self,
        group: &'a str,
        instances: &'a [String],
        protected: bool,
    ) -> CloudFuture<'a, ()> {
        Box::pin(async move {
            self.asg
                .set_instance_protection()
                .auto_scaling_group_name(group)
                .set_instance_ids(Some(instances.to_vec()))
                .protected_from_scale_in(protected)
                .send()
                .await
                .map_err(|e| classify("autoscaling:SetInstanceProtection", e))?;
            Ok(())
        })
    }

    fn scaling_activities<'a>(&'a self, group: &'a str, max: i32) -> CloudFuture<'a, Vec<ActivityInfo>> {
        Box::pin(async move {
            let out = self
                .asg
                .describe_scaling_activities()
                .auto_scaling_group_name(group)
                .max_records(max)
                .send()
                .await
                .map_err(|e| classify("autoscaling:DescribeScalingActivities", e))?;
            Ok(out.activities().iter().map(activity).collect())
        })
    }

    fn tag_group<'a>(&'a self, group: &'a str, tags: &'a [(String, String)]) -> CloudFuture<'a, ()> {
        Box::pin(async move {
            let tags = tags
                .iter()
                .map(|(k, v)| {
                    asg::Tag::builder()
                        .resource_id(group)
                        .resource_type("auto-scaling-group")
                        .key(k)
                        .value(v)
                        .propagate_at_launch(false)
                        .build()
                })
                .collect::<Vec<_>>();
            self.asg
                .create_or_update_tags()
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify("autoscaling:CreateOrUpdateTags", e))?;
            Ok(())
        })
    }

    fn untag_group<'a>(&'a self, group: &'a str, keys: &'a [String]) -> CloudFuture<'a, ()> {
        Box::pin(async move {
            let tags = keys
                .iter()
                .map(|k| {
                    asg::Tag::builder()
                        .resource_id(group)
                        .resource_type("auto-scaling-group")
                        .key(k)
                        .build()
                })
                .collect::<Vec<_>>();
            self.asg
                .delete_tags()
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| classify("autoscaling:DeleteTags", e))?;
            Ok(())
        })
    }

    fn metric_data<'a>(
        &'a self,
        queries: &'a [MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> CloudFuture<'a, Vec<MetricSeries>> {
        Box::pin(async move {
            let qs: Vec<cw::MetricDataQuery> = queries
                .iter()
                .map(|q| {
                    let metric = cw::Metric::builder()
                        .namespace(&q.namespace)
                        .metric_name(&q.metric)
                        .set_dimensions(Some(dimensions(&q.dimensions)))
                        .build();
                    let stat = cw::MetricStat::builder()
                        .metric(metric)
                        .period(q.period)
                        .stat(&q.stat)
                        .build();
                    cw::MetricDataQuery::builder()
                        .id(&q.id)
                        .metric_stat(stat)
                        .return_data(true)
                        .build()
                })
                .collect();
            let mut series: BTreeMap<String, MetricSeries> = BTreeMap::new();
            let mut token = None;
            loop {
                let out = self
                    .cw
                    .get_metric_data()
                    .set_metric_data_queries(Some(qs.clone()))
                    .start_time(to_dt(start))
                    .end_time(to_dt(end))
                    .scan_by(cw::ScanBy::TimestampAscending)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| classify("cloudwatch:GetMetricData", e))?;
                for r in out.metric_data_results() {
                    let id = s(r.id());
                    let entry = series.entry(id.clone()).or_insert_with(|| MetricSeries {
                        id,
                        label: s(r.label()),
                        points: Vec::new(),
                    });
                    for (t, v) in r.timestamps().iter().zip(r.values()) {
                        if let Some(t) = ts(Some(t)) {
                            entry.points.push((t, *v));
                        }
                    }
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            let mut list: Vec<MetricSeries> = queries.iter().filter_map(|q| series.remove(&q.id)).collect();
            for m in &mut list {
                m.points.sort_by_key(|(t, _)| *t);
            }
            Ok(list)
        })
    }

    fn put_metric<'a>(&'a self, metric: &'a MetricQuery, value: f64) -> CloudFuture<'a, ()> {
        Box::pin(async move {
            let datum = cw::MetricDatum::builder()
                .metric_name(&metric.metric)
                .set_dimensions(Some(dimensions(&metric.dimensions)))
                .value(value)
                .timestamp(to_dt(Timestamp::now()))
                .build();
            self.cw
                .put_metric_data()
                .namespace(&metric.namespace)
                .metric_data(datum)
                .send()
                .await
                .map_err(|e| classify("cloudwatch:PutMetricData", e))?;
            Ok(())
        })
    }

    fn describe_alarms<'a>(&'a self, prefix: Option<&'a str>) -> CloudFuture<'a, Vec<AlarmInfo>> {
        Box::pin(async move {
            let mut alarms = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .cw
                    .describe_alarms()
                    .set_alarm_name_prefix(prefix.map(str::to_string))
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| classify("cloudwatch:DescribeAlarms", e))?;
                for a in out.metric_alarms() {
                    alarms.push(AlarmInfo {
                        name: s(a.alarm_name()),
                        state: a.state_value().map(|x| x.as_str().to_string()).unwrap_or_default(),
                        reason: s(a.state_reason()),
                        namespace: s(a.namespace()),
                        metric: s(a.metric_name()),
                        updated: ts(a.state_updated_timestamp()),
                    });
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(alarms);
                }
            }
        })
    }
}

fn dimensions(dims: &[(String, String)]) -> Vec<cw::Dimension> {
    dims.iter()
        .map(|(k, v)| cw::Dimension::builder().name(k).value(v).build())
        .collect()
}

fn group(g: &asg::AutoScalingGroup) -> GroupInfo {
    GroupInfo {
        name: s(g.auto_scaling_group_name()),
        min: g.min_size().unwrap_or_default(),
        max: g.max_size().unwrap_or_default(),
        desired: g.desired_capacity().unwrap_or_default(),
        launch_template_version: g.launch_template().and_then(|t| t.version()).map(str::to_string),
        instances: g
            .instances()
            .iter()
            .map(|i| InstanceInfo {
                id: s(i.instance_id()),
                zone: s(i.availability_zone()),
                lifecycle_state: i.lifecycle_state().map(|x| x.as_str().to_string()).unwrap_or_default(),
                health_status: s(i.health_status()),
                launch_template_version: i.launch_template().and_then(|t| t.version()).map(str::to_string),
                protected_from_scale_in: i.protected_from_scale_in().unwrap_or_default(),
            })
            .collect(),
        tags: g.tags().iter().map(|t| (s(t.key()), s(t.value()))).collect(),
    }
}

fn activity(a: &asg::Activity) -> ActivityInfo {
    ActivityInfo {
        id: s(a.activity_id()),
        group: s(a.auto_scaling_group_name()),
        description: s(a.description()),
        cause: s(a.cause()),
        status: a.status_code().map(|x| x.as_str().to_string()).unwrap_or_default(),
        start: ts(a.start_time()),
    }
}
