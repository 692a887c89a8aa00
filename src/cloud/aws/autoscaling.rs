//! Auto Scaling through `aws-sdk-autoscaling`: groups and their instances, instance
//! refreshes, terminating an instance, scale-in protection, scaling activities, the
//! groups' tags, and lifecycle hooks with the actions instances wait in. Group and
//! instance lists go through the SDK's paginators.

use aws_sdk_autoscaling::config::interceptors::InterceptorContext;
use aws_sdk_autoscaling::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_autoscaling::types as asg;

use super::{s, ts};
use crate::cloud::error::classify;
use crate::cloud::{
    ActivityInfo, AsgInstanceInfo, CloudError, GroupInfo, HookResult, HookSpec, InstanceInfo, LifecycleHookInfo,
    RefreshInfo, RefreshPrefs, TERMINATING,
};

/// Keeps the SDK from sending again a write that is not idempotent once the request
/// may have reached AWS: a server error (5xx) or a lost connection may have started
/// the refresh, terminated the instance or completed the action already, and a second
/// one would start another or fail for a reason that misleads. Throttling, which AWS
/// answers before doing anything, is still retried. The step that sent it reads the
/// real state on its next call and goes on from there.
#[derive(Debug)]
struct OnceUnlessThrottled;

impl ClassifyRetry for OnceUnlessThrottled {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(r) if r.status().as_u16() >= 500 => RetryAction::RetryForbidden,
            Some(_) => RetryAction::NoActionIndicated,
            None if ctx.output_or_error().is_some_and(|r| r.is_err()) => RetryAction::RetryForbidden,
            None => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "upshift: a write that is not idempotent is sent once unless throttled"
    }
}

/// The configuration override for a write that must not be sent twice.
fn once() -> aws_sdk_autoscaling::config::Builder {
    aws_sdk_autoscaling::config::Builder::default().retry_classifier(OnceUnlessThrottled)
}

/// The Auto Scaling client.
#[derive(Clone, Debug)]
pub struct AutoScaling {
    pub(super) client: aws_sdk_autoscaling::Client,
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

/// A tag of `group` with `key` (and `value`, for a tag to set).
fn tag(group: &str, key: &str, value: Option<&str>) -> asg::Tag {
    let t = asg::Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(key);
    match value {
        Some(v) => t.value(v).propagate_at_launch(false).build(),
        None => t.build(),
    }
}

impl AutoScaling {
    pub async fn describe_groups(&self, names: &[String]) -> Result<Vec<GroupInfo>, CloudError> {
        let groups = self
            .client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names((!names.is_empty()).then(|| names.to_vec()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("autoscaling:DescribeAutoScalingGroups", e))?;
        Ok(groups.iter().map(group).collect())
    }

    pub async fn start_instance_refresh(&self, group: &str, prefs: &RefreshPrefs) -> Result<String, CloudError> {
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
            .client
            .start_instance_refresh()
            .auto_scaling_group_name(group)
            .strategy(asg::RefreshStrategy::Rolling)
            .preferences(p)
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| classify("autoscaling:StartInstanceRefresh", e))?;
        Ok(s(out.instance_refresh_id()))
    }

    /// The newest refreshes, as the first page lists them (a group keeps few).
    pub async fn describe_instance_refreshes(&self, group: &str) -> Result<Vec<RefreshInfo>, CloudError> {
        let out = self
            .client
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
    }

    pub async fn cancel_instance_refresh(&self, group: &str) -> Result<String, CloudError> {
        let out = self
            .client
            .cancel_instance_refresh()
            .auto_scaling_group_name(group)
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| classify("autoscaling:CancelInstanceRefresh", e))?;
        Ok(s(out.instance_refresh_id()))
    }

    pub async fn terminate_instance(&self, instance: &str, decrement: bool) -> Result<ActivityInfo, CloudError> {
        let out = self
            .client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance)
            .should_decrement_desired_capacity(decrement)
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| classify("autoscaling:TerminateInstanceInAutoScalingGroup", e))?;
        Ok(out.activity().map(activity).unwrap_or_default())
    }

    pub async fn set_instance_protection(
        &self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<(), CloudError> {
        self.client
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .set_instance_ids(Some(instances.to_vec()))
            .protected_from_scale_in(protected)
            .send()
            .await
            .map_err(|e| classify("autoscaling:SetInstanceProtection", e))?;
        Ok(())
    }

    /// The newest `max` activities: one page, as asked.
    pub async fn scaling_activities(&self, group: &str, max: i32) -> Result<Vec<ActivityInfo>, CloudError> {
        let out = self
            .client
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(max)
            .send()
            .await
            .map_err(|e| classify("autoscaling:DescribeScalingActivities", e))?;
        Ok(out.activities().iter().map(activity).collect())
    }

    pub async fn tag_group(&self, group: &str, tags: &[(String, String)]) -> Result<(), CloudError> {
        let tags = tags.iter().map(|(k, v)| tag(group, k, Some(v))).collect::<Vec<_>>();
        self.client
            .create_or_update_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("autoscaling:CreateOrUpdateTags", e))?;
        Ok(())
    }

    pub async fn untag_group(&self, group: &str, keys: &[String]) -> Result<(), CloudError> {
        let tags = keys.iter().map(|k| tag(group, k, None)).collect::<Vec<_>>();
        self.client
            .delete_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("autoscaling:DeleteTags", e))?;
        Ok(())
    }

    pub async fn describe_lifecycle_hooks(&self, group: &str) -> Result<Vec<LifecycleHookInfo>, CloudError> {
        let out = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(group)
            .send()
            .await
            .map_err(|e| classify("autoscaling:DescribeLifecycleHooks", e))?;
        Ok(out
            .lifecycle_hooks()
            .iter()
            .map(|h| LifecycleHookInfo {
                name: s(h.lifecycle_hook_name()),
                group: s(h.auto_scaling_group_name()),
                transition: s(h.lifecycle_transition()),
                heartbeat_timeout: h.heartbeat_timeout().unwrap_or_default(),
                global_timeout: h.global_timeout().unwrap_or_default(),
                default_result: s(h.default_result()),
                notification_target_arn: h.notification_target_arn().map(str::to_string),
            })
            .collect())
    }

    /// The named instances, 50 a request (the most AWS takes).
    pub async fn describe_instances(&self, ids: &[String]) -> Result<Vec<AsgInstanceInfo>, CloudError> {
        let mut all = Vec::new();
        for chunk in ids.chunks(50) {
            let items = self
                .client
                .describe_auto_scaling_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| classify("autoscaling:DescribeAutoScalingInstances", e))?;
            all.extend(items.iter().map(|i| AsgInstanceInfo {
                id: s(i.instance_id()),
                group: s(i.auto_scaling_group_name()),
                zone: s(i.availability_zone()),
                lifecycle_state: s(i.lifecycle_state()),
                health_status: s(i.health_status()),
                protected_from_scale_in: i.protected_from_scale_in().unwrap_or_default(),
            }));
        }
        Ok(all)
    }

    pub async fn put_lifecycle_hook(&self, group: &str, hook: &HookSpec) -> Result<(), CloudError> {
        self.client
            .put_lifecycle_hook()
            .auto_scaling_group_name(group)
            .lifecycle_hook_name(&hook.name)
            .lifecycle_transition(TERMINATING)
            .heartbeat_timeout(hook.heartbeat_timeout)
            .default_result(hook.default_result.as_str())
            .send()
            .await
            .map_err(|e| classify("autoscaling:PutLifecycleHook", e))?;
        Ok(())
    }

    pub async fn delete_lifecycle_hook(&self, group: &str, hook: &str) -> Result<(), CloudError> {
        self.client
            .delete_lifecycle_hook()
            .auto_scaling_group_name(group)
            .lifecycle_hook_name(hook)
            .send()
            .await
            .map_err(|e| classify("autoscaling:DeleteLifecycleHook", e))?;
        Ok(())
    }

    pub async fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance: &str,
        result: HookResult,
    ) -> Result<(), CloudError> {
        self.client
            .complete_lifecycle_action()
            .auto_scaling_group_name(group)
            .lifecycle_hook_name(hook)
            .instance_id(instance)
            .lifecycle_action_result(result.as_str())
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| classify("autoscaling:CompleteLifecycleAction", e))?;
        Ok(())
    }

    pub async fn record_lifecycle_heartbeat(&self, group: &str, hook: &str, instance: &str) -> Result<(), CloudError> {
        self.client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(group)
            .lifecycle_hook_name(hook)
            .instance_id(instance)
            .send()
            .await
            .map_err(|e| classify("autoscaling:RecordLifecycleActionHeartbeat", e))?;
        Ok(())
    }
}
