//! Who drains the nodes an instance refresh terminates. A refresh terminates its
//! instances by itself; their pods are evicted first only when a termination
//! lifecycle hook holds each instance in `Terminating:Wait` and something drains its
//! node meanwhile: aws-node-termination-handler in queue-processor mode (recognised
//! by its workload and settings; in IMDS mode it never sees Auto Scaling lifecycle
//! events), or upshift itself (a plan's `drainer: upshift`). Without both, every
//! batch's pods die with their nodes.
//!
//! `gather` reads the groups' hooks (through a [`CloudRead`]) and the handler's
//! workloads (through a [`ClusterReader`]); `check` is a pure function of them.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::PodSpec;
use serde::{Deserialize, Serialize};

use super::{Check, CheckRun, Confidence, Finding, Severity};
use crate::cloud::{CloudError, CloudRead, GroupInfo, LifecycleHookInfo};
use crate::cluster::ClusterReader;

/// The handler's name in its Helm chart (workload, labels, image).
pub const HANDLER: &str = "aws-node-termination-handler";
/// The label eksctl puts on its (self-managed) node groups' nodes, and the tag on
/// their Auto Scaling groups.
pub const GROUP_LABEL: &str = "alpha.eksctl.io/nodegroup-name";

/// Who drains the nodes of an instance refresh (a plan's `drainer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drainer {
    /// aws-node-termination-handler in queue-processor mode, on the group's own
    /// termination hook; upshift follows the refresh.
    TerminationHandler,
    /// upshift adds a termination hook for the step and drains each node itself as
    /// its instance waits, with a gate between the refresh's batches.
    Upshift,
}

impl Drainer {
    pub fn as_str(self) -> &'static str {
        match self {
            Drainer::TerminationHandler => "termination-handler",
            Drainer::Upshift => "upshift",
        }
    }
}

/// How aws-node-termination-handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandlerMode {
    /// A Deployment reading an SQS queue that Auto Scaling lifecycle events reach.
    QueueProcessor,
    /// A DaemonSet reading instance metadata: spot interruptions and scheduled
    /// events, never lifecycle hooks.
    Imds,
}

impl HandlerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerMode::QueueProcessor => "queue-processor",
            HandlerMode::Imds => "IMDS",
        }
    }
}

/// An aws-node-termination-handler found in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Handler {
    /// `Deployment` or `DaemonSet`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub mode: HandlerMode,
    /// Its `QUEUE_URL`, in queue-processor mode.
    pub queue: Option<String>,
}

impl Handler {
    pub fn key(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Recognises the handler in a workload: by its chart's label or its image; the mode
/// from its settings (`ENABLE_SQS_TERMINATION_DRAINING` or a `QUEUE_URL`), else from
/// its kind (the chart runs the queue processor as a Deployment).
pub fn recognise(kind: &str, namespace: &str, name: &str, labelled: bool, spec: Option<&PodSpec>) -> Option<Handler> {
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let image = containers
        .iter()
        .any(|c| c.image.as_deref().is_some_and(|i| i.contains(HANDLER)));
    if !labelled && !image {
        return None;
    }
    let env = |key: &str| {
        containers
            .iter()
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == key)
            .and_then(|e| e.value.clone())
    };
    let queue = env("QUEUE_URL").filter(|q| !q.is_empty());
    let mode = match env("ENABLE_SQS_TERMINATION_DRAINING").as_deref() {
        Some("true") => HandlerMode::QueueProcessor,
        Some(_) => HandlerMode::Imds,
        None if queue.is_some() || kind == "Deployment" => HandlerMode::QueueProcessor,
        None => HandlerMode::Imds,
    };
    Some(Handler {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        mode,
        queue: if mode == HandlerMode::QueueProcessor {
            queue
        } else {
            None
        },
    })
}

fn labelled(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .is_some_and(|l| l.get("app.kubernetes.io/name").map(String::as_str) == Some(HANDLER))
}

/// Every aws-node-termination-handler in the cluster (Deployments and DaemonSets).
pub async fn find_handlers(reader: &ClusterReader) -> Result<Vec<Handler>, kube::Error> {
    let meta = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        (
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
            labelled(m),
        )
    };
    let mut out: Vec<Handler> = reader
        .list_all::<Deployment, _>(|d| {
            let (ns, name, l) = meta(&d.metadata);
            let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            recognise("Deployment", &ns, &name, l, spec)
        })
        .await?
        .into_iter()
        .flatten()
        .collect();
    out.extend(
        reader
            .list_all::<DaemonSet, _>(|d| {
                let (ns, name, l) = meta(&d.metadata);
                let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
                recognise("DaemonSet", &ns, &name, l, spec)
            })
            .await?
            .into_iter()
            .flatten(),
    );
    Ok(out)
}

/// The Auto Scaling group of a self-managed node group: tagged with eksctl's label,
/// or named as the group.
pub fn asg_of<'a>(groups: &'a [GroupInfo], group: &str) -> Option<&'a GroupInfo> {
    groups
        .iter()
        .find(|a| a.tags.get(GROUP_LABEL).map(String::as_str) == Some(group))
        .or_else(|| groups.iter().find(|a| a.name == group))
}

/// One self-managed node group as a refresh of it would find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupHooks {
    pub group: String,
    /// Its Auto Scaling group, when found.
    pub asg: Option<String>,
    /// What the plan says drains it; None when no plan was given.
    pub planned: Option<Drainer>,
    /// Its termination hooks.
    pub hooks: Vec<LifecycleHookInfo>,
    /// Why its hooks could not be read, if they could not.
    pub unreadable: Option<String>,
}

/// What `gather` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainerFacts {
    pub handlers: Vec<Handler>,
    pub groups: Vec<GroupHooks>,
    /// Why the handlers could not be looked for, if they could not.
    pub handlers_unreadable: Option<String>,
}

/// Reads the termination hooks of `groups` (a group's name and what its plan says
/// drains it) and looks for the handler. Nothing read here is fatal: what could not
/// be read is said.
pub async fn gather(
    reader: &ClusterReader,
    cloud: &dyn CloudRead,
    groups: &[(String, Option<Drainer>)],
) -> DrainerFacts {
    let mut facts = DrainerFacts::default();
    match find_handlers(reader).await {
        Ok(h) => facts.handlers = h,
        Err(e) => facts.handlers_unreadable = Some(e.to_string()),
    }
    if groups.is_empty() {
        return facts;
    }
    let asgs: Result<Vec<GroupInfo>, CloudError> = cloud.describe_groups(&[]).await;
    for (group, planned) in groups {
        let mut g = GroupHooks {
            group: group.clone(),
            asg: None,
            planned: *planned,
            hooks: Vec::new(),
            unreadable: None,
        };
        match &asgs {
            Err(e) => g.unreadable = Some(e.to_string()),
            Ok(all) => match asg_of(all, group) {
                None => {
                    g.unreadable = Some(format!(
                        "no Auto Scaling group is tagged {GROUP_LABEL}={group} or named {group}"
                    ))
                }
                Some(a) => {
                    g.asg = Some(a.name.clone());
                    match cloud.describe_lifecycle_hooks(&a.name).await {
                        Ok(hooks) => g.hooks = hooks.into_iter().filter(|h| h.terminating()).collect(),
                        Err(e) => g.unreadable = Some(e.to_string()),
                    }
                }
            },
        }
        facts.groups.push(g);
    }
    facts
}

/// Whether a refresh of one group would drain its nodes, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// upshift adds its own hook and drains.
    UpshiftDrains,
    /// The handler drains on the group's hook.
    HandlerDrains { hook: String, handler: String },
    /// No termination hook: instances terminate at once, pods and all.
    NoHook,
    /// A hook holds the instances, but nothing that sees lifecycle events drains:
    /// each waits out the hook's timeout, then terminates with its pods.
    NothingDrains {
        hook: String,
        timeout: i32,
        imds: Option<String>,
    },
    /// The hooks could not be read.
    Unknown(String),
}

impl Verdict {
    pub fn drains(&self) -> bool {
        matches!(self, Verdict::UpshiftDrains | Verdict::HandlerDrains { .. })
    }
}

/// The verdict for one group, given the handlers found.
pub fn verdict(g: &GroupHooks, handlers: &[Handler]) -> Verdict {
    if g.planned == Some(Drainer::Upshift) {
        return Verdict::UpshiftDrains;
    }
    if let Some(why) = &g.unreadable {
        return Verdict::Unknown(why.clone());
    }
    let Some(hook) = g.hooks.first() else {
        return Verdict::NoHook;
    };
    if let Some(h) = handlers.iter().find(|h| h.mode == HandlerMode::QueueProcessor) {
        return Verdict::HandlerDrains {
            hook: hook.name.clone(),
            handler: h.key(),
        };
    }
    Verdict::NothingDrains {
        hook: hook.name.clone(),
        timeout: hook.heartbeat_timeout,
        imds: handlers.iter().find(|h| h.mode == HandlerMode::Imds).map(Handler::key),
    }
}

/// Findings for each group: a blocker where the plan refreshes a group nothing would
/// drain, a warning for such a group when no plan was given, and what protects the
/// others.
pub fn check(facts: &DrainerFacts) -> (Vec<Finding>, CheckRun) {
    let mut findings = Vec::new();
    for g in &facts.groups {
        let v = verdict(g, &facts.handlers);
        let asg = g.asg.as_deref().unwrap_or("(not found)");
        let mut resources = vec![format!("NodeGroup {}", g.group)];
        if let Some(a) = &g.asg {
            resources.push(format!("AutoScalingGroup {a}"));
        }
        let mut evidence: Vec<String> = g
            .hooks
            .iter()
            .map(|h| {
                format!(
                    "termination hook {} on {asg}: heartbeat timeout {}s, default {}{}",
                    h.name,
                    h.heartbeat_timeout,
                    h.default_result,
                    h.notification_target_arn
                        .as_deref()
                        .map(|t| format!(", notifies {t}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        evidence.extend(
            facts
                .handlers
                .iter()
                .map(|h| format!("{} runs {HANDLER} in {} mode", h.key(), h.mode.as_str())),
        );
        let planned = g.planned.is_some();
        let unprotected = |title: String, why: String| Finding {
            check: Check::RefreshDrainers,
            severity: if planned { Severity::Blocker } else { Severity::Warning },
            confidence: Some(Confidence::High),
            title,
            resources: resources.clone(),
            why,
            action: format!(
                "plan node group {} with `strategy: instance-refresh` and `drainer: upshift` (upshift adds a hook and drains), or `strategy: replace`; or add a termination hook to {asg} and run {HANDLER} in queue-processor mode on its queue",
                g.group
            ),
            evidence: evidence.clone(),
        };
        let f = match &v {
            Verdict::UpshiftDrains => Finding {
                check: Check::RefreshDrainers,
                severity: Severity::Info,
                confidence: None,
                title: format!("upshift drains node group {}'s instance refresh", g.group),
                resources: resources.clone(),
                why: "upshift adds a termination hook for the step, drains each node as its instance waits in Terminating:Wait, and removes the hook afterwards".into(),
                action: if g.hooks.is_empty() {
                    "nothing to do".into()
                } else {
                    format!(
                        "the group's own hook ({}) stays; whatever drains on it will drain too",
                        g.hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                },
                evidence: evidence.clone(),
            },
            Verdict::HandlerDrains { hook, handler } => Finding {
                check: Check::RefreshDrainers,
                severity: Severity::Info,
                confidence: Some(Confidence::Medium),
                title: format!("{HANDLER} drains node group {} on hook {hook}", g.group),
                resources: resources.clone(),
                why: format!(
                    "{handler} runs in queue-processor mode and {asg} has termination hook {hook}: each instance a refresh terminates waits while its node is drained"
                ),
                action: format!(
                    "check that the handler's queue receives {asg}'s lifecycle events (an EventBridge rule or the hook's notification target)"
                ),
                evidence: evidence.clone(),
            },
            Verdict::NoHook => unprotected(
                format!(
                    "An instance refresh of node group {} would terminate nodes with their pods running",
                    g.group
                ),
                format!(
                    "{asg} has no termination lifecycle hook: a refresh terminates each batch's instances at once, and their pods die without an eviction (an outage per batch)"
                ),
            ),
            Verdict::NothingDrains { hook, timeout, imds } => unprotected(
                format!(
                    "Nothing drains node group {} on its termination hook {hook}",
                    g.group
                ),
                format!(
                    "{asg}'s hook {hook} holds each instance, but no {HANDLER} in queue-processor mode runs{}: each instance waits out the {timeout}s timeout, then terminates with its pods",
                    imds.as_deref()
                        .map(|k| format!(" ({k} runs in IMDS mode, which never sees Auto Scaling lifecycle events)"))
                        .unwrap_or_default()
                ),
            ),
            Verdict::Unknown(why) => Finding {
                check: Check::RefreshDrainers,
                severity: if planned { Severity::Blocker } else { Severity::Warning },
                confidence: Some(Confidence::Low),
                title: format!(
                    "Could not tell whether anything drains node group {}'s instance refresh",
                    g.group
                ),
                resources: resources.clone(),
                why: why.clone(),
                action: "grant autoscaling:DescribeAutoScalingGroups and autoscaling:DescribeLifecycleHooks (docs/iam.md), or plan the group with `drainer: upshift`".into(),
                evidence: evidence.clone(),
            },
        };
        findings.push(f);
    }
    let examined = if facts.groups.is_empty() {
        "no self-managed node group to refresh".to_string()
    } else {
        format!(
            "termination hooks of {} self-managed group(s); {} {HANDLER}(s) found",
            facts.groups.len(),
            facts.handlers.len()
        )
    };
    let run = CheckRun {
        check: Check::RefreshDrainers,
        examined: match &facts.handlers_unreadable {
            Some(e) => format!("{examined}; workloads unreadable: {e}"),
            None => examined,
        },
        complete: facts.handlers_unreadable.is_none() && facts.groups.iter().all(|g| g.unreadable.is_none()),
    };
    (findings, run)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, EnvVar};

    use super::*;

    fn spec(image: &str, env: &[(&str, &str)]) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some(image.into()),
                env: Some(
                    env.iter()
                        .map(|(k, v)| EnvVar {
                            name: (*k).into(),
                            value: Some((*v).into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    const IMAGE: &str = "public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.22.0";

    fn hook(name: &str) -> LifecycleHookInfo {
        LifecycleHookInfo {
            name: name.into(),
            group: "batch".into(),
            transition: crate::cloud::TERMINATING.into(),
            heartbeat_timeout: 300,
            global_timeout: 30000,
            default_result: "CONTINUE".into(),
            notification_target_arn: None,
        }
    }

    fn group(planned: Option<Drainer>, hooks: Vec<LifecycleHookInfo>) -> GroupHooks {
        GroupHooks {
            group: "batch".into(),
            asg: Some("batch".into()),
            planned,
            hooks,
            unreadable: None,
        }
    }

    #[test]
    fn the_handler_is_recognised_with_its_mode_from_its_settings() {
        let q = recognise(
            "Deployment",
            "kube-system",
            "nth",
            false,
            Some(&spec(
                IMAGE,
                &[("ENABLE_SQS_TERMINATION_DRAINING", "true"), ("QUEUE_URL", "https://q")],
            )),
        )
        .expect("recognised by its image");
        assert_eq!(
            (q.mode, q.queue.as_deref()),
            (HandlerMode::QueueProcessor, Some("https://q"))
        );
        let i = recognise(
            "DaemonSet",
            "kube-system",
            "nth",
            true,
            Some(&spec("mirror/nth:1", &[("ENABLE_SQS_TERMINATION_DRAINING", "false")])),
        )
        .expect("recognised by its label");
        assert_eq!((i.mode, i.queue), (HandlerMode::Imds, None));
        assert!(recognise("Deployment", "default", "web", false, Some(&spec("nginx:1", &[]))).is_none());
    }

    #[test]
    fn a_planned_refresh_nothing_drains_is_a_blocker_and_one_the_handler_drains_is_not() {
        let imds = recognise("DaemonSet", "kube-system", "nth", true, Some(&spec(IMAGE, &[]))).expect("imds");
        let qp = recognise("Deployment", "kube-system", "nth", true, Some(&spec(IMAGE, &[]))).expect("qp");
        let planned = Some(Drainer::TerminationHandler);
        let cases = [
            (
                group(planned, vec![]),
                vec![qp.clone()],
                Severity::Blocker,
                "terminate nodes with their pods",
            ),
            (
                group(planned, vec![hook("h")]),
                vec![imds.clone()],
                Severity::Blocker,
                "Nothing drains",
            ),
            (
                group(None, vec![]),
                vec![],
                Severity::Warning,
                "terminate nodes with their pods",
            ),
            (
                group(planned, vec![hook("h")]),
                vec![qp.clone()],
                Severity::Info,
                "drains node group batch on hook h",
            ),
            (
                group(Some(Drainer::Upshift), vec![]),
                vec![],
                Severity::Info,
                "upshift drains",
            ),
        ];
        for (g, handlers, severity, title) in cases {
            let facts = DrainerFacts {
                handlers,
                groups: vec![g],
                handlers_unreadable: None,
            };
            let (f, run) = check(&facts);
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].severity, severity, "{f:?}");
            assert!(f[0].title.contains(title), "{:?} lacks {title:?}", f[0].title);
            assert!(run.complete);
        }
        let imds_only = verdict(&group(planned, vec![hook("h")]), &[imds]);
        assert!(
            matches!(&imds_only, Verdict::NothingDrains { imds: Some(k), .. } if k.contains("DaemonSet")),
            "{imds_only:?}"
        );
    }
}
