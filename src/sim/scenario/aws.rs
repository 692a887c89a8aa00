//! The AWS side of a scenario: a group's lifecycle hooks, the simulated
//! aws-node-termination-handler, the cluster's upgrade policy, and AWS fault rates.

use serde::{Deserialize, Serialize};

/// A lifecycle hook on a node group's Auto Scaling group. YAML:
/// `{name: nth-drain, transition: terminating, heartbeatTimeout: 300, defaultResult: CONTINUE}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleHookSpec {
    pub name: String,
    #[serde(default = "terminating")]
    pub transition: HookTransition,
    /// Seconds, 30 to 7200.
    #[serde(default = "hour")]
    pub heartbeat_timeout: u32,
    #[serde(default)]
    pub default_result: HookDefault,
}

fn terminating() -> HookTransition {
    HookTransition::Terminating
}
fn hour() -> u32 {
    3600
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookTransition {
    Launching,
    Terminating,
}

/// What an action that times out does (AWS's default is ABANDON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HookDefault {
    Continue,
    #[default]
    Abandon,
}

/// The simulated aws-node-termination-handler. YAML: `{mode: queue-processor}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TerminationHandlerSpec {
    pub mode: NthMode,
    /// Node groups whose termination events reach its queue (empty: every group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_groups: Vec<String>,
    /// Seconds between the heartbeats it sends for an instance it drains (none by
    /// default, as in its chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<u32>,
    #[serde(default = "nth_image")]
    pub image: String,
}

/// The image the simulated handler's workload runs.
pub fn nth_image() -> String {
    "public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.22.0".into()
}

/// queue-processor: a Deployment that drains on Auto Scaling lifecycle events from
/// an SQS queue. imds: a DaemonSet that watches instance metadata (spot
/// interruptions, scheduled events) and does not see lifecycle hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NthMode {
    QueueProcessor,
    Imds,
}

/// The cluster's EKS upgrade policy. YAML: `{supportType: STANDARD}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradePolicySpec {
    pub support_type: SupportType,
}

/// STANDARD: upgraded automatically at the end of standard support. EXTENDED (EKS's
/// default): stays, paying for extended support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SupportType {
    Standard,
    #[default]
    Extended,
}

impl SupportType {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportType::Standard => "STANDARD",
            SupportType::Extended => "EXTENDED",
        }
    }
}

/// AWS fault rates. YAML: `{seed: 7, rules: [{operation: DescribeUpdate, throttle: 0.3}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsFaultsSpec {
    /// Seed of the faults' own random numbers (default: the scenario's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub rules: Vec<AwsFaultRule>,
}

/// Rates for one operation (its AWS name, e.g. `DescribeUpdate`) or every one (`*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsFaultRule {
    pub operation: String,
    /// Share of requests refused as throttled, 0 to 1.
    #[serde(default)]
    pub throttle: f64,
    /// Share of requests answered with a 500, 0 to 1.
    #[serde(default)]
    pub server_error: f64,
}

/// A problem found: (top-level list, index, key, path, message).
pub type Problem = (&'static str, Option<usize>, Option<&'static str>, String, String);

/// Checks the AWS fields of a scenario.
pub fn validate(s: &super::Scenario) -> Result<(), Problem> {
    for (i, g) in s.node_groups.iter().enumerate() {
        let mut names = std::collections::BTreeSet::new();
        for (h, hook) in g.lifecycle_hooks.iter().enumerate() {
            let at = |k: &str| format!("nodeGroups[{i}].lifecycleHooks[{h}].{k}");
            if hook.name.is_empty() || hook.name.len() > 255 {
                return Err((
                    "nodeGroups",
                    Some(i),
                    Some("lifecycleHooks"),
                    at("name"),
                    "a hook's name is 1 to 255 characters".into(),
                ));
            }
            if !names.insert(hook.name.clone()) {
                return Err((
                    "nodeGroups",
                    Some(i),
                    Some("lifecycleHooks"),
                    at("name"),
                    format!("hook {:?} is defined twice on this group", hook.name),
                ));
            }
            if !(30..=7200).contains(&hook.heartbeat_timeout) {
                return Err((
                    "nodeGroups",
                    Some(i),
                    Some("lifecycleHooks"),
                    at("heartbeatTimeout"),
                    format!(
                        "{} is out of range: a heartbeat timeout is 30 to 7200 seconds",
                        hook.heartbeat_timeout
                    ),
                ));
            }
        }
    }
    if let Some(t) = &s.termination_handler {
        for (i, g) in t.node_groups.iter().enumerate() {
            if !s.node_groups.iter().any(|x| &x.name == g) {
                return Err((
                    "terminationHandler",
                    None,
                    Some("nodeGroups"),
                    format!("terminationHandler.nodeGroups[{i}]"),
                    format!("no node group {g:?} in this scenario"),
                ));
            }
        }
        if t.heartbeat_interval == Some(0) {
            return Err((
                "terminationHandler",
                None,
                Some("heartbeatInterval"),
                "terminationHandler.heartbeatInterval".into(),
                "a heartbeat interval is at least 1 second (leave it out for none)".into(),
            ));
        }
    }
    if let Some(f) = &s.aws_faults {
        for (i, r) in f.rules.iter().enumerate() {
            for (k, v) in [("throttle", r.throttle), ("serverError", r.server_error)] {
                if !(0.0..=1.0).contains(&v) {
                    return Err((
                        "awsFaults",
                        None,
                        Some("rules"),
                        format!("awsFaults.rules[{i}].{k}"),
                        format!("{v} is not a rate between 0 and 1"),
                    ));
                }
            }
            if r.operation.is_empty() {
                return Err((
                    "awsFaults",
                    None,
                    Some("rules"),
                    format!("awsFaults.rules[{i}].operation"),
                    "name an operation (e.g. DescribeUpdate) or * for every one".into(),
                ));
            }
        }
    }
    Ok(())
}
