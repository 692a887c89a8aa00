//! EKS through `aws-sdk-eks`: the cluster and its updates, managed node groups,
//! add-ons and their versions, Upgrade Insights. Lists go through the SDK's
//! paginators; a missing cluster names the region that was searched.

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types as eks;

use super::{s, ts};
use crate::cloud::error::classify;
use crate::cloud::{
    AddonInfo, AddonVersions, CloudError, ClusterInfo, InsightInfo, NodegroupInfo, ResolveConflicts, UpdateErrorInfo,
    UpdateInfo, UpdateScope, VersionSupport,
};

/// The EKS client, and the region it asks.
#[derive(Clone, Debug)]
pub struct Eks {
    pub(super) client: aws_sdk_eks::Client,
    pub(super) region: String,
}

pub(super) fn update(u: Option<&eks::Update>) -> UpdateInfo {
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

/// "code: message" for each health issue.
pub(super) fn issues<'a, I>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
{
    list.into_iter()
        .map(|(code, message)| format!("{}: {}", code.unwrap_or_default(), message.unwrap_or_default()))
        .collect()
}

fn insight(i: &eks::InsightSummary) -> InsightInfo {
    InsightInfo {
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
    }
}

impl Eks {
    /// A missing cluster names the region searched.
    fn cluster_error<E, R>(&self, action: &str, cluster: &str, err: SdkError<E, R>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
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

    pub async fn describe_cluster(&self, cluster: &str) -> Result<ClusterInfo, CloudError> {
        let out = self
            .client
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
            support_type: c
                .and_then(|c| c.upgrade_policy())
                .and_then(|p| p.support_type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            auto_mode: c
                .and_then(|c| c.compute_config())
                .and_then(|cc| cc.enabled())
                .unwrap_or(false),
            auto_mode_pools: c
                .and_then(|c| c.compute_config())
                .map(|cc| cc.node_pools().to_vec())
                .unwrap_or_default(),
        })
    }

    pub async fn cluster_versions(&self, versions: &[String]) -> Result<Vec<VersionSupport>, CloudError> {
        let out = self
            .client
            .describe_cluster_versions()
            .set_cluster_versions(Some(versions.to_vec()))
            .send()
            .await
            .map_err(|e| classify("eks:DescribeClusterVersions", e))?;
        Ok(out
            .cluster_versions()
            .iter()
            .map(|v| VersionSupport {
                version: s(v.cluster_version()),
                status: v.version_status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                release: ts(v.release_date()),
                end_of_standard: ts(v.end_of_standard_support_date()),
                end_of_extended: ts(v.end_of_extended_support_date()),
            })
            .collect())
    }

    pub async fn update_cluster_version(&self, cluster: &str, version: &str) -> Result<UpdateInfo, CloudError> {
        let out = self
            .client
            .update_cluster_version()
            .name(cluster)
            .version(version)
            .send()
            .await
            .map_err(|e| self.cluster_error("eks:UpdateClusterVersion", cluster, e))?;
        Ok(update(out.update()))
    }

    pub async fn list_updates(&self, cluster: &str, scope: &UpdateScope) -> Result<Vec<String>, CloudError> {
        let (ng, addon) = scope_names(scope);
        self.client
            .list_updates()
            .name(cluster)
            .set_nodegroup_name(ng)
            .set_addon_name(addon)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.cluster_error("eks:ListUpdates", cluster, e))
    }

    pub async fn describe_update(
        &self,
        cluster: &str,
        id: &str,
        scope: &UpdateScope,
    ) -> Result<UpdateInfo, CloudError> {
        let (ng, addon) = scope_names(scope);
        let out = self
            .client
            .describe_update()
            .name(cluster)
            .update_id(id)
            .set_nodegroup_name(ng)
            .set_addon_name(addon)
            .send()
            .await
            .map_err(|e| classify("eks:DescribeUpdate", e))?;
        Ok(update(out.update()))
    }

    pub async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        self.client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.cluster_error("eks:ListNodegroups", cluster, e))
    }

    pub async fn describe_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, CloudError> {
        let out = self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .map_err(|e| classify("eks:DescribeNodegroup", e))?;
        Ok(out
            .nodegroup()
            .map(super::nodegroups::nodegroup_info)
            .unwrap_or_default())
    }

    pub async fn update_nodegroup_version(
        &self,
        cluster: &str,
        nodegroup: &str,
        version: Option<&str>,
        force: bool,
    ) -> Result<UpdateInfo, CloudError> {
        let out = self
            .client
            .update_nodegroup_version()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .set_version(version.map(str::to_string))
            .force(force)
            .send()
            .await
            .map_err(|e| classify("eks:UpdateNodegroupVersion", e))?;
        Ok(update(out.update()))
    }

    pub async fn list_addons(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        self.client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.cluster_error("eks:ListAddons", cluster, e))
    }

    pub async fn describe_addon(&self, cluster: &str, addon: &str) -> Result<AddonInfo, CloudError> {
        let out = self
            .client
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
                .map(|h| issues(h.issues().iter().map(|i| (i.code().map(|c| c.as_str()), i.message()))))
                .unwrap_or_default(),
        })
    }

    pub async fn addon_versions(&self, addon: &str, kubernetes_version: &str) -> Result<AddonVersions, CloudError> {
        let addons = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(kubernetes_version)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("eks:DescribeAddonVersions", e))?;
        let mut result = AddonVersions {
            addon: addon.to_string(),
            kubernetes_version: kubernetes_version.to_string(),
            ..Default::default()
        };
        for a in &addons {
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
        Ok(result)
    }

    pub async fn update_addon(
        &self,
        cluster: &str,
        addon: &str,
        version: &str,
        resolve_conflicts: Option<ResolveConflicts>,
    ) -> Result<UpdateInfo, CloudError> {
        let resolve = resolve_conflicts.map(|r| match r {
            ResolveConflicts::None => eks::ResolveConflicts::None,
            ResolveConflicts::Overwrite => eks::ResolveConflicts::Overwrite,
            ResolveConflicts::Preserve => eks::ResolveConflicts::Preserve,
        });
        let out = self
            .client
            .update_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .addon_version(version)
            .set_resolve_conflicts(resolve)
            .send()
            .await
            .map_err(|e| classify("eks:UpdateAddon", e))?;
        Ok(update(out.update()))
    }

    pub async fn list_insights(&self, cluster: &str) -> Result<Vec<InsightInfo>, CloudError> {
        let list = self
            .client
            .list_insights()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.cluster_error("eks:ListInsights", cluster, e))?;
        Ok(list.iter().map(insight).collect())
    }

    pub async fn describe_insight(&self, cluster: &str, id: &str) -> Result<InsightInfo, CloudError> {
        let out = self
            .client
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
    }
}
