//! EKS managed node groups through `aws-sdk-eks`: what `DescribeNodegroup` says of a
//! group (everything a copy of it needs), and the writes that make, unmake and
//! reconfigure one: `CreateNodegroup`, `DeleteNodegroup`, `UpdateNodegroupConfig`.

use aws_sdk_eks::types as eks;

use super::eks::{Eks, issues, update};
use super::s;
use crate::cloud::error::classify;
use crate::cloud::{
    CloudError, LaunchTemplateRef, MaxUnavailable, NewNodegroup, NodegroupChange, NodegroupConfig, NodegroupInfo,
    TaintInfo, UpdateInfo,
};

/// upshift's view of an SDK node group.
pub(super) fn nodegroup_info(n: &eks::Nodegroup) -> NodegroupInfo {
    let scaling = n.scaling_config();
    let update_config = n
        .update_config()
        .and_then(|u| match (u.max_unavailable(), u.max_unavailable_percentage()) {
            (_, Some(p)) => Some(MaxUnavailable::Percentage(p)),
            (Some(c), None) => Some(MaxUnavailable::Count(c)),
            (None, None) => None,
        });
    NodegroupInfo {
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
            .map(|h| issues(h.issues().iter().map(|i| (i.code().map(|c| c.as_str()), i.message()))))
            .unwrap_or_default(),
        config: NodegroupConfig {
            subnets: n.subnets().to_vec(),
            taints: n
                .taints()
                .iter()
                .map(|t| TaintInfo {
                    key: s(t.key()),
                    value: t.value().map(str::to_string),
                    effect: t.effect().map(|e| e.as_str().to_string()).unwrap_or_default(),
                })
                .collect(),
            launch_template: n.launch_template().map(|lt| LaunchTemplateRef {
                id: lt.id().map(str::to_string),
                name: lt.name().map(str::to_string),
                version: lt.version().map(str::to_string),
            }),
            capacity_type: n.capacity_type().map(|c| c.as_str().to_string()),
            node_role: n.node_role().map(str::to_string),
            ami_type: n.ami_type().map(|a| a.as_str().to_string()),
            disk_size: n.disk_size(),
            update_config,
            tags: n
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        },
    }
}

fn update_config(m: MaxUnavailable) -> eks::NodegroupUpdateConfig {
    match m {
        MaxUnavailable::Count(n) => eks::NodegroupUpdateConfig::builder().max_unavailable(n).build(),
        MaxUnavailable::Percentage(p) => eks::NodegroupUpdateConfig::builder()
            .max_unavailable_percentage(p)
            .build(),
    }
}

fn scaling(min: i32, max: i32, desired: i32) -> eks::NodegroupScalingConfig {
    eks::NodegroupScalingConfig::builder()
        .min_size(min)
        .max_size(max)
        .desired_size(desired)
        .build()
}

impl Eks {
    pub async fn create_nodegroup(&self, cluster: &str, g: &NewNodegroup) -> Result<NodegroupInfo, CloudError> {
        let c = &g.config;
        let mut req = self
            .client
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&g.name)
            .set_version(g.version.clone())
            .scaling_config(scaling(g.min, g.max, g.desired))
            .set_subnets(Some(c.subnets.clone()))
            .set_node_role(c.node_role.clone())
            .set_ami_type(c.ami_type.as_deref().map(eks::AmiTypes::from))
            .set_capacity_type(c.capacity_type.as_deref().map(eks::CapacityTypes::from))
            .set_disk_size(c.disk_size)
            .set_update_config(c.update_config.map(update_config));
        if !g.instance_types.is_empty() {
            req = req.set_instance_types(Some(g.instance_types.clone()));
        }
        if !g.labels.is_empty() {
            req = req.set_labels(Some(g.labels.clone().into_iter().collect()));
        }
        if !c.tags.is_empty() {
            req = req.set_tags(Some(c.tags.clone().into_iter().collect()));
        }
        for t in &c.taints {
            req = req.taints(
                eks::Taint::builder()
                    .key(&t.key)
                    .set_value(t.value.clone())
                    .effect(eks::TaintEffect::from(t.effect.as_str()))
                    .build(),
            );
        }
        if let Some(lt) = &c.launch_template {
            req = req.launch_template(
                eks::LaunchTemplateSpecification::builder()
                    .set_id(lt.id.clone())
                    .set_name(lt.name.clone())
                    .set_version(lt.version.clone())
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| classify("eks:CreateNodegroup", e))?;
        Ok(out.nodegroup().map(nodegroup_info).unwrap_or_default())
    }

    pub async fn delete_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, CloudError> {
        let out = self
            .client
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .map_err(|e| classify("eks:DeleteNodegroup", e))?;
        Ok(out.nodegroup().map(nodegroup_info).unwrap_or_default())
    }

    pub async fn update_nodegroup_config(
        &self,
        cluster: &str,
        nodegroup: &str,
        change: &NodegroupChange,
    ) -> Result<UpdateInfo, CloudError> {
        let out = self
            .client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .set_scaling_config(change.scaling.map(|(min, max, desired)| scaling(min, max, desired)))
            .set_update_config(change.update_config.map(update_config))
            .send()
            .await
            .map_err(|e| classify("eks:UpdateNodegroupConfig", e))?;
        Ok(update(out.update()))
    }
}
