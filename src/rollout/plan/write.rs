//! Proposing a plan from what discovery saw, and writing it as YAML for review,
//! each field with a comment that says what it does.

use std::fmt::Write as _;

use crate::cloud::MaxUnavailable;

use super::{
    API_VERSION, ClusterRef, Drain, Drainer, Environment, Gates, GroupType, KIND, Live, LiveGroup, NodegroupStep,
    NodepoolStep, Plan, Step, Strategy,
};
use crate::preflight::drainers::Verdict;

/// Writes a plan's YAML to `path`, readable by its owner only (0600, also when the
/// file was there before): a plan names the cluster, its context and its people.
pub fn save(path: &std::path::Path, yaml: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(yaml.as_bytes())?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(yaml.as_bytes())?;
        file.sync_all()
    }
}

/// Choices for a proposed plan that discovery cannot make.
#[derive(Clone, Debug)]
pub struct ProposeOptions {
    pub target: String,
    pub environment: Environment,
    /// The kubeconfig context, recorded so that `plan check` and the drive use the same.
    pub context: Option<String>,
    /// AWS region, when EKS was asked.
    pub region: Option<String>,
    /// Nodes per batch (capped at each group's size).
    pub batch_size: u32,
    /// How self-managed groups are upgraded.
    pub self_managed: Strategy,
    /// How managed groups are upgraded; None: by the environment (see [`managed_strategy`]).
    pub managed: Option<Strategy>,
}

/// How a managed group is upgraded when the options do not say: `blue-green` on a
/// production cluster, where a gate between batches is worth a second group for a
/// while (EKS's own update stops at no gate inside it); `eks-update` elsewhere.
pub fn managed_strategy(environment: Environment) -> Strategy {
    match environment {
        Environment::Production => Strategy::BlueGreen,
        Environment::PreProduction => Strategy::EksUpdate,
    }
}

/// Add-ons updated right after the control plane, in this order; the others follow
/// by name, and kube-proxy comes after the node groups.
const EARLY_ADDONS: [&str; 2] = ["vpc-cni", "coredns"];
const AFTER_NODES_ADDON: &str = "kube-proxy";

/// Whether a group looks like it hosts the cluster's own components.
fn system_like(g: &LiveGroup) -> bool {
    ["system", "core", "infra", "platform"]
        .iter()
        .any(|w| g.name.to_ascii_lowercase().contains(w))
}

/// The plan for `live`: preflight, the drift hold (with NodePools), control plane,
/// vpc-cni, coredns, other add-ons, node groups (system-like first, then managed,
/// then self-managed), NodePools, kube-proxy, postflight. Add-ons already on EKS's
/// default for the target get no step.
pub fn propose(live: &Live, opts: &ProposeOptions) -> Plan {
    let pools: Vec<String> = live
        .nodepools
        .iter()
        .filter(|p| p.nodes() > 0)
        .map(|p| p.name.clone())
        .collect();
    let mut steps = vec![Step::Preflight];
    if !pools.is_empty() {
        steps.push(Step::DriftHold {
            nodepools: pools.clone(),
        });
    }
    steps.push(Step::ControlPlane);
    let addon_step = |a: &super::LiveAddon| {
        let version = a.default.clone().or_else(|| a.offered.first().cloned())?;
        (version != a.version).then(|| Step::Addon {
            name: a.name.clone(),
            version,
        })
    };
    let addons = live.addons.as_deref().unwrap_or_default();
    for name in EARLY_ADDONS {
        steps.extend(addons.iter().filter(|a| a.name == name).filter_map(addon_step));
    }
    let mut others: Vec<_> = addons
        .iter()
        .filter(|a| !EARLY_ADDONS.contains(&a.name.as_str()) && a.name != AFTER_NODES_ADDON)
        .collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    steps.extend(others.into_iter().filter_map(addon_step));
    if !live.fargate.is_empty() {
        // Fargate pods keep the kubelet they started with: restarted after the
        // control plane moves, or EKS refuses the next upgrade
        steps.push(Step::Fargate);
    }
    let mut groups: Vec<&LiveGroup> = live.groups.iter().filter(|g| g.size > 0).collect();
    groups.sort_by_key(|g| (!system_like(g), g.group_type == GroupType::SelfManaged, g.name.clone()));
    let node_os = crate::preflight::tables::Tables::builtin_node_os();
    for g in groups {
        // a managed group whose AMI family has no AMI for the target cannot be updated
        // in place: it is copied onto the family's successor
        let ami_move = match g.group_type {
            GroupType::Managed => g
                .ami_type
                .as_deref()
                .and_then(|ami| crate::preflight::nodeos::needed_move(&node_os, ami, &opts.target)),
            GroupType::SelfManaged => None,
        };
        let strategy = match g.group_type {
            GroupType::Managed if ami_move.is_some() => Strategy::BlueGreen,
            // pods pinned to the group's name would find no node on a blue-green copy
            GroupType::Managed if !g.selected_by.is_empty() => Strategy::EksUpdate,
            GroupType::Managed => opts.managed.unwrap_or(managed_strategy(opts.environment)),
            GroupType::SelfManaged => opts.self_managed,
        };
        steps.push(Step::Nodegroup(NodegroupStep {
            name: g.name.clone(),
            group_type: g.group_type,
            strategy,
            batch_size: opts.batch_size.clamp(1, g.size),
            auto_continue: false,
            drainer: (strategy == Strategy::InstanceRefresh).then(|| choose_drainer(live, &g.name)),
            update_config: None,
            ami_type: ami_move,
        }));
    }
    for p in live.nodepools.iter().filter(|p| pools.contains(&p.name)) {
        steps.push(Step::Nodepool(NodepoolStep {
            name: p.name.clone(),
            wave: super::nodepools::DEFAULT_WAVE,
            auto_continue: false,
            pinned_node_class: p.pinned.as_ref().map(|(class, _)| class.clone()),
        }));
    }
    steps.extend(
        addons
            .iter()
            .filter(|a| a.name == AFTER_NODES_ADDON)
            .filter_map(addon_step),
    );
    steps.push(Step::Postflight);
    Plan {
        cluster: ClusterRef {
            name: live.cluster.clone(),
            region: opts.region.clone(),
            context: opts.context.clone(),
            environment: opts.environment,
        },
        from: live.control_plane.clone(),
        target: opts.target.clone(),
        gates: Gates::default(),
        drain: Drain::default(),
        steps,
        notify: None,
        origin: None,
    }
}

/// Who drains an instance refresh of `group`: aws-node-termination-handler when it
/// is seen draining on the group's termination hook, else upshift.
fn choose_drainer(live: &Live, group: &str) -> Drainer {
    match live.refresh_verdict(group) {
        Some(Verdict::HandlerDrains { .. }) => Drainer::TerminationHandler,
        _ => Drainer::Upshift,
    }
}

/// Why the plan's drainer for `group` was chosen, for its comment.
fn drainer_why(live: Option<&Live>, group: &str, drainer: Drainer) -> String {
    let verdict = live.and_then(|l| l.refresh_verdict(group));
    match (drainer, verdict) {
        (Drainer::TerminationHandler, Some(Verdict::HandlerDrains { hook, handler })) => {
            format!("{handler} (queue-processor) drains on the group's termination hook {hook}")
        }
        (Drainer::TerminationHandler, Some(v)) => format!(
            "NOT SAFE as found: {}; preflight blocks this step until it is fixed, or write drainer: upshift",
            verdict_words(&v)
        ),
        (Drainer::TerminationHandler, None) => {
            "the group's termination hook and aws-node-termination-handler were not looked up (plan with --cluster NAME)"
                .into()
        }
        (Drainer::Upshift, Some(v)) => format!(
            "{}; upshift adds a termination hook for the step and drains each node itself",
            verdict_words(&v)
        ),
        (Drainer::Upshift, None) => "upshift adds a termination hook for the step and drains each node itself".into(),
    }
}

fn verdict_words(v: &Verdict) -> String {
    match v {
        Verdict::UpshiftDrains => "upshift drains".into(),
        Verdict::HandlerDrains { hook, handler } => format!("{handler} drains on hook {hook}"),
        Verdict::NoHook => "the Auto Scaling group has no termination hook".into(),
        Verdict::NothingDrains { hook, imds, .. } => match imds {
            Some(k) => format!("nothing drains on hook {hook} ({k} runs in IMDS mode, blind to lifecycle events)"),
            None => format!("nothing drains on hook {hook} (no aws-node-termination-handler in queue-processor mode)"),
        },
        Verdict::Unknown(why) => format!("its hooks could not be read ({why})"),
    }
}

/// A YAML scalar: plain when that reads back as the same string, else quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn group_nodes(g: &LiveGroup) -> String {
    let minors: Vec<String> = g.minors.iter().map(|(m, n)| format!("{n} on {m}")).collect();
    if minors.is_empty() {
        format!("{} nodes", g.size)
    } else {
        format!("{} nodes: {}", g.size, minors.join(", "))
    }
}

impl Plan {
    /// The plan as YAML with comments; `live` (what discovery saw) adds facts to them.
    pub fn to_yaml(&self, live: Option<&Live>) -> String {
        let mut y = String::new();
        let w = &mut y;
        let c = &self.cluster;
        let _ = writeln!(
            w,
            "# upshift rollout plan: {} from {} to {}.",
            c.name, self.from, self.target
        );
        let _ = writeln!(
            w,
            "# Review it, change what you need, check it with `upshift plan check FILE`, then run it with `upshift drive FILE`."
        );
        let _ = writeln!(w, "# Every field is described in docs/plan.md.");
        let _ = writeln!(w, "apiVersion: {API_VERSION}");
        let _ = writeln!(w, "kind: {KIND}");
        let _ = writeln!(w, "cluster:");
        let _ = writeln!(
            w,
            "  # the EKS cluster (with a region) or the kubeconfig's cluster name"
        );
        let _ = writeln!(w, "  name: {}", scalar(&c.name));
        if let Some(r) = &c.region {
            let _ = writeln!(
                w,
                "  # AWS region: EKS is asked for the control plane, add-ons and node groups"
            );
            let _ = writeln!(w, "  region: {}", scalar(r));
        }
        if let Some(ctx) = &c.context {
            let _ = writeln!(w, "  # kubeconfig context the drive connects through");
            let _ = writeln!(w, "  context: {}", scalar(ctx));
        }
        let _ = writeln!(
            w,
            "  # production: the drive asks for the cluster's name to be typed before the first action; or pre-production"
        );
        let _ = writeln!(w, "  environment: {}", c.environment.as_str());
        let _ = writeln!(
            w,
            "# the control plane's minor when this plan was written; the drive refuses the plan if the cluster moved"
        );
        let _ = writeln!(w, "from: {}", scalar(&self.from));
        let _ = writeln!(w, "# one minor after `from`: EKS upgrades one minor at a time");
        let _ = writeln!(w, "target: {}", scalar(&self.target));
        let g = &self.gates;
        let _ = writeln!(
            w,
            "# checked before every step and between node batches; a red gate passes only with a typed reason"
        );
        let _ = writeln!(w, "gates:");
        let _ = writeln!(w, "  # how long every criterion must hold before the gate turns green");
        let _ = writeln!(w, "  settleSeconds: {}", g.settle_seconds);
        let _ = writeln!(w, "  # pods Pending without a node");
        let _ = writeln!(w, "  maxUnscheduledPods: {}", g.max_unscheduled_pods);
        let _ = writeln!(
            w,
            "  # pods in error (CrashLoopBackOff, ImagePullBackOff, OOMKilled, …) beyond the count before the rollout"
        );
        let _ = writeln!(w, "  maxPodErrorsAboveBaseline: {}", g.max_pod_errors_above_baseline);
        let _ = writeln!(w, "  allNodesReady: {}", g.all_nodes_ready);
        let _ = writeln!(
            w,
            "  # DNS, pod networking, ingress and cluster autoscaling have their replicas available"
        );
        let _ = writeln!(w, "  componentsAvailable: {}", g.components_available);
        let _ = writeln!(w, "  # CloudWatch alarm names that must not be in ALARM");
        if g.alarms.is_empty() {
            let _ = writeln!(w, "  alarms: []");
        } else {
            let _ = writeln!(w, "  alarms:");
            for a in &g.alarms {
                let _ = writeln!(w, "    - {}", scalar(a));
            }
        }
        let _ = writeln!(
            w,
            "  # a workload degraded below its PodDisruptionBudget (or minAvailablePercent) this long turns a gate red"
        );
        let _ = writeln!(w, "  degradedGraceSeconds: {}", g.degraded_grace_seconds);
        let _ = writeln!(w, "  minAvailablePercent: {}", g.min_available_percent);
        let d = &self.drain;
        let _ = writeln!(w, "drain:");
        let _ = writeln!(
            w,
            "  # after this long the cockpit names the pod (and PodDisruptionBudget) holding a node, and asks"
        );
        let _ = writeln!(w, "  podTimeoutSeconds: {}", d.pod_timeout_seconds);
        let _ = writeln!(w, "  # wait between two evictions refused by a PodDisruptionBudget");
        let _ = writeln!(w, "  evictionRetrySeconds: {}", d.eviction_retry_seconds);
        let _ = writeln!(
            w,
            "  # evict pods with emptyDir volumes (their data is lost); false: stop and ask"
        );
        let _ = writeln!(w, "  deleteEmptyDirData: {}", d.delete_empty_dir_data);
        let _ = writeln!(
            w,
            "# executed in this order; each step reads the real state first and does only what is left"
        );
        let _ = writeln!(w, "steps:");
        for step in &self.steps {
            self.write_step(w, step, live);
        }
        if live.is_some_and(|l| l.addons.is_none()) {
            let _ = writeln!(
                w,
                "# EKS add-ons were not looked up: run `upshift plan` with --cluster NAME [--region R] to plan their updates"
            );
        }
        y
    }

    fn write_step(&self, w: &mut String, step: &Step, live: Option<&Live>) {
        match step {
            Step::Preflight => {
                let _ = writeln!(
                    w,
                    "  # read-only checks right before the first action: removed APIs, skew, drain blockers, EKS state"
                );
                let _ = writeln!(w, "  - kind: preflight");
            }
            Step::ControlPlane => {
                let _ = writeln!(
                    w,
                    "  # EKS control plane {} → {} (UpdateClusterVersion, about 10 minutes; it cannot be rolled back)",
                    self.from, self.target
                );
                let _ = writeln!(w, "  - kind: control-plane");
            }
            Step::Addon { name, version } => {
                let installed = live
                    .and_then(|l| l.addons.as_ref())
                    .and_then(|a| a.iter().find(|a| &a.name == name));
                let why = match name.as_str() {
                    "kube-proxy" => {
                        "after the nodes: EKS advises kube-proxy on the nodes' minor, so it follows their upgrade"
                    }
                    "vpc-cni" => "first: pod networking for the new nodes",
                    "coredns" => "before the nodes, so DNS runs the target's version as pods move",
                    _ => "after the control plane, before the nodes",
                };
                match installed {
                    Some(a) => {
                        let _ = writeln!(w, "  # EKS add-on {name} {} → {version}; {why}", a.version);
                    }
                    None => {
                        let _ = writeln!(w, "  # EKS add-on {name} → {version}; {why}");
                    }
                }
                let _ = writeln!(w, "  - kind: addon");
                let _ = writeln!(w, "    name: {}", scalar(name));
                let _ = writeln!(w, "    version: {}", scalar(version));
            }
            Step::Nodegroup(g) => {
                let facts = live
                    .and_then(|l| l.group(&g.name))
                    .map(|lg| format!(" ({})", group_nodes(lg)))
                    .unwrap_or_default();
                let how = match g.strategy {
                    Strategy::EksUpdate => {
                        "EKS's node group update replaces the nodes (UpdateNodegroupVersion); EKS stops at no gate inside its update"
                    }
                    Strategy::InstanceRefresh => "the Auto Scaling group's instance refresh replaces the nodes",
                    Strategy::Replace => {
                        "upshift cordons, drains and terminates nodes batch by batch; the Auto Scaling group replaces them"
                    }
                    Strategy::BlueGreen => {
                        "upshift creates a copy of the group on the target, cordons the old nodes, drains them batch by batch, then deletes the old group"
                    }
                };
                let _ = writeln!(w, "  # node group {}{facts}: {how}", g.name);
                let _ = writeln!(w, "  - kind: nodegroup");
                let _ = writeln!(w, "    name: {}", scalar(&g.name));
                let strategies: Vec<&str> = g.group_type.strategies().iter().map(|s| s.as_str()).collect();
                let _ = writeln!(w, "    type: {}", g.group_type.as_str());
                let pinned = live
                    .and_then(|l| l.group(&g.name))
                    .map(|lg| lg.selected_by.join(", "))
                    .unwrap_or_default();
                if !pinned.is_empty() && g.strategy == Strategy::BlueGreen {
                    let _ = writeln!(
                        w,
                        "    # WARNING: pods select this group by its name (eks.amazonaws.com/nodegroup: {}): {pinned}.\n    # A blue-green copy's nodes carry the copy's name: change their selector first, or they stay Pending",
                        g.name
                    );
                }
                let _ = match (g.group_type, self.cluster.environment) {
                    (GroupType::Managed, _) if g.ami_type.is_some() && g.strategy == Strategy::BlueGreen => writeln!(
                        w,
                        "    # blue-green: the group changes its AMI type (amiType below), which only a copy can do.\n    # It needs eks:CreateNodegroup, eks:DeleteNodegroup and iam:PassRole on the node role (docs/iam.md)"
                    ),
                    (GroupType::Managed, _) if !pinned.is_empty() && g.strategy == Strategy::EksUpdate => writeln!(
                        w,
                        "    # eks-update, not blue-green: pods select this group by its name (eks.amazonaws.com/nodegroup: {}):\n    # {pinned}. A blue-green copy's nodes carry the copy's name, so they would not schedule on it",
                        g.name
                    ),
                    (GroupType::Managed, Environment::Production) => writeln!(
                        w,
                        "    # blue-green or eks-update; blue-green is proposed because this cluster is production: a gate\n    # between batches (EKS's update has none), for a second group's cost while it runs.\n    # It needs eks:CreateNodegroup, eks:DeleteNodegroup and iam:PassRole on the node role (docs/iam.md)"
                    ),
                    (GroupType::Managed, Environment::PreProduction) => writeln!(
                        w,
                        "    # eks-update or blue-green; eks-update is proposed because this cluster is not production:\n    # EKS replaces the nodes maxUnavailable at a time and stops at no gate inside its update"
                    ),
                    (GroupType::SelfManaged, _) => writeln!(w, "    # {}", strategies.join(" or ")),
                };
                let _ = writeln!(w, "    strategy: {}", g.strategy.as_str());
                if let Some(ami) = &g.ami_type {
                    let from = live
                        .and_then(|l| l.group(&g.name))
                        .and_then(|lg| lg.ami_type.clone())
                        .map(|a| format!("from {a} "))
                        .unwrap_or_default();
                    let _ = writeln!(
                        w,
                        "    # the copy boots {ami}: the group moves {from}to it (EKS cannot change a group's AMI type in place)"
                    );
                    let _ = writeln!(w, "    amiType: {}", scalar(ami));
                }
                if let Some(d) = g.drainer {
                    let _ = writeln!(
                        w,
                        "    # who drains the nodes the refresh terminates: termination-handler or upshift; {} because {}",
                        d.as_str(),
                        drainer_why(live, &g.name, d)
                    );
                    let _ = writeln!(w, "    drainer: {}", d.as_str());
                }
                match g.strategy {
                    Strategy::EksUpdate => {
                        let _ = writeln!(
                            w,
                            "    # eks-update: batches do not apply (EKS's maxUnavailable decides); a gate before the update only"
                        );
                    }
                    Strategy::BlueGreen => {
                        let _ = writeln!(
                            w,
                            "    # old nodes drained at once, 1 to the group's size; a gate between batches"
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            w,
                            "    # nodes replaced at once, 1 to the group's size; a gate between batches"
                        );
                    }
                }
                let _ = writeln!(w, "    batchSize: {}", g.batch_size);
                match g.update_config {
                    Some(m) if g.strategy == Strategy::EksUpdate => {
                        let (field, n) = match m {
                            MaxUnavailable::Count(n) => ("maxUnavailable", n),
                            MaxUnavailable::Percentage(p) => ("maxUnavailablePercentage", p),
                        };
                        let _ = writeln!(
                            w,
                            "    # EKS's updateConfig, set before the update: nodes (or percent) EKS takes down at once"
                        );
                        let _ = writeln!(w, "    {field}: {n}");
                    }
                    None if g.strategy == Strategy::EksUpdate => {
                        let _ = writeln!(
                            w,
                            "    # maxUnavailable: N or maxUnavailablePercentage: P sets EKS's updateConfig before the update"
                        );
                    }
                    _ => {}
                }
                let _ = writeln!(w, "    autoContinue: {}", g.auto_continue);
            }
            Step::Fargate => {
                let nodes = live
                    .map(|l| {
                        let n: u32 = l.fargate.values().sum();
                        let minors: Vec<String> = l.fargate.iter().map(|(m, c)| format!("{c} on {m}")).collect();
                        format!(" ({n} Fargate pods now: {})", minors.join(", "))
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    w,
                    "  # Fargate pods keep the kubelet they started with{nodes}: each Deployment or\n  \
                     # StatefulSet whose pods run one older than {} is restarted (kubectl rollout restart),\n  \
                     # one at a time, waiting for its new pods; held while its budget allows no disruption",
                    self.target
                );
                let _ = writeln!(w, "  - kind: fargate");
            }
            Step::DriftHold { nodepools } => {
                let _ = writeln!(
                    w,
                    "  # Karpenter replaces drifted nodes on its own once the control plane moves: upshift sets the\n  # Drifted disruption budget of NodePool(s) {} to 0 first, journaling the budgets it found\n  # (restored at each NodePool's step's end, and on abort)",
                    nodepools.join(", ")
                );
                let _ = writeln!(w, "  - kind: drift-hold");
            }
            Step::Nodepool(p) => super::nodepools::write_step(w, p, live),
            Step::Postflight => {
                let _ = writeln!(
                    w,
                    "  # read-only checks at the end: every node on the target, components healthy"
                );
                let _ = writeln!(w, "  - kind: postflight");
            }
        }
    }

    /// A few lines for `plan check`: the cluster, the versions and each step.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "cluster {} ({}), {} → {}, {} steps:",
            self.cluster.name,
            self.cluster.environment.as_str(),
            self.from,
            self.target,
            self.steps.len()
        );
        for (i, step) in self.steps.iter().enumerate() {
            let detail = match step {
                Step::Addon { version, .. } => format!(" to {version}"),
                Step::Nodegroup(g) => format!(
                    " ({}, {}{}, batches of {}{}{}{})",
                    g.group_type.as_str(),
                    g.strategy.as_str(),
                    g.drainer
                        .map(|d| format!(" drained by {}", d.as_str()))
                        .unwrap_or_default(),
                    g.batch_size,
                    g.update_config.map(|m| format!(", {m}")).unwrap_or_default(),
                    g.ami_type.as_ref().map(|a| format!(", onto {a}")).unwrap_or_default(),
                    if g.auto_continue { ", auto-continue" } else { "" }
                ),
                Step::Nodepool(p) => format!(
                    " (waves of {}{}{})",
                    p.wave,
                    p.pinned_node_class
                        .as_ref()
                        .map(|c| format!(", waits for EC2NodeClass {c}"))
                        .unwrap_or_default(),
                    if p.auto_continue { ", auto-continue" } else { "" }
                ),
                Step::DriftHold { nodepools } => format!(" ({})", nodepools.join(", ")),
                _ => String::new(),
            };
            let _ = writeln!(s, "  {:>2}. {}{detail}", i + 1, step.label());
        }
        s
    }
}
