//! The lower bound the simulator's own timing and the plan allow, step by step.

#[allow(unused_imports)]
use super::*;

/// A PodDisruptionBudget over a Deployment's pods, as the drains meet it.
pub struct Budget {
    pub namespace: String,
    /// The Deployment's name (the budget selects `app: NAME`).
    pub app: String,
    /// Disruptions it allows with every pod healthy.
    pub allowed: u32,
    /// Virtual seconds an evicted pod's replacement takes to be Ready.
    pub start: f64,
}

/// A node group as the simulator runs it.
pub struct Group {
    pub kind: GroupType,
    pub nodes: u32,
    pub zones: u32,
    pub boot: f64,
}

/// How an add-on's workload rolls out.
pub enum Roll {
    /// Pods at once (maxUnavailable), how many, seconds a pod takes to stop and to start.
    DaemonSet {
        pods: u32,
        at_once: u32,
        stop: f64,
        start: f64,
    },
    /// Replicas, new pods at once (maxSurge + maxUnavailable), start seconds.
    Deployment { replicas: u32, at_once: u32, start: f64 },
}

/// What the lower bound is computed from: read from the simulator's world before
/// the rollout, and the plan.
pub struct Facts {
    pub groups: BTreeMap<String, Group>,
    pub budgets: Vec<Budget>,
    pub addons: BTreeMap<String, Roll>,
    /// The longest a pod takes to stop once evicted.
    pub stop: f64,
    pub settle: f64,
}

pub fn annotation_secs(
    meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    key: &str,
    default: f64,
) -> f64 {
    meta.and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An IntOrString of `total`, rounded up or down as the controllers do.
pub fn scaled(v: Option<&IntOrString>, total: u32, default_pct: u32, up: bool) -> u32 {
    let pct = |p: u32| {
        if up { (p * total).div_ceil(100) } else { p * total / 100 }
    };
    match v {
        Some(IntOrString::Int(i)) => (*i).max(0) as u32,
        Some(IntOrString::String(s)) => pct(s.trim_end_matches('%').parse().unwrap_or(default_pct)),
        None => pct(default_pct),
    }
}

impl Facts {
    pub fn read(w: &World, plan: &Plan) -> Facts {
        use upshift::sim::world::eks::managed_group;
        let groups = w
            .groups
            .iter()
            .map(|g| {
                let kind = if managed_group(w, &g.name).is_some() {
                    GroupType::Managed
                } else {
                    GroupType::SelfManaged
                };
                let group = Group {
                    kind,
                    nodes: g.alive() as u32,
                    zones: g.zones.len().max(1) as u32,
                    boot: g.boot_seconds,
                };
                (g.name.clone(), group)
            })
            .collect();
        let mut stop: f64 = 0.0;
        let mut starts = BTreeMap::new();
        for (key, d) in w.deployments.items().iter() {
            let tpl = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
            starts.insert(key.clone(), annotation_secs(tpl, annotations::START_SECONDS, 3.0));
            stop = stop.max(annotation_secs(tpl, annotations::TERMINATION_SECONDS, 2.0));
        }
        let budgets = w
            .pdbs
            .items()
            .values()
            .filter_map(|p| {
                let namespace = p.metadata.namespace.clone()?;
                let app = p
                    .spec
                    .as_ref()?
                    .selector
                    .as_ref()?
                    .match_labels
                    .as_ref()?
                    .get("app")?
                    .clone();
                let allowed = p.status.as_ref()?.disruptions_allowed.max(1) as u32;
                let start = starts.get(&format!("{namespace}/{app}")).copied().unwrap_or(3.0);
                Some(Budget {
                    namespace,
                    app,
                    allowed,
                    start,
                })
            })
            .collect();
        let mut rolls = BTreeMap::new();
        for step in &plan.steps {
            let Step::Addon { name, .. } = step else { continue };
            let Some(spec) = addons::table().addons.iter().find(|a| &a.name == name) else {
                continue;
            };
            let key = format!("{}/{}", spec.workload.namespace, spec.workload.name);
            let roll = if spec.workload.kind == "DaemonSet" {
                w.daemonsets.get(&key).map(|d| {
                    let pods = d
                        .status
                        .as_ref()
                        .map_or(0, |s| s.desired_number_scheduled.max(0) as u32);
                    let spec = d.spec.as_ref();
                    let tpl = spec.and_then(|s| s.template.metadata.as_ref());
                    let max = spec
                        .and_then(|s| s.update_strategy.as_ref())
                        .and_then(|s| s.rolling_update.as_ref())
                        .and_then(|r| r.max_unavailable.as_ref());
                    Roll::DaemonSet {
                        pods,
                        at_once: scaled(max, pods, 0, true).max(1),
                        stop: annotation_secs(tpl, annotations::TERMINATION_SECONDS, 2.0),
                        start: annotation_secs(tpl, annotations::START_SECONDS, 3.0),
                    }
                })
            } else {
                w.deployments.get(&key).map(|d| {
                    let spec = d.spec.as_ref();
                    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
                    let rolling = spec
                        .and_then(|s| s.strategy.as_ref())
                        .and_then(|s| s.rolling_update.as_ref());
                    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), replicas, 25, true);
                    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), replicas, 25, false);
                    Roll::Deployment {
                        replicas,
                        at_once: (surge + unavailable).max(1),
                        start: starts.get(&key).copied().unwrap_or(3.0),
                    }
                })
            };
            if let Some(r) = roll {
                rolls.insert(name.clone(), r);
            }
        }
        Facts {
            groups,
            budgets,
            addons: rolls,
            stop,
            settle: plan.gates.settle_seconds as f64,
        }
    }
}

/// The virtual seconds a step needs at least, by the simulator's timing, with why.
pub fn step_bound(f: &Facts, step: &Step, batches: &[Batch]) -> (f64, String) {
    match step {
        Step::Preflight | Step::Postflight => (0.0, "read-only".into()),
        // the benchmark's scenarios have no Fargate pods: nothing to restart
        Step::Fargate => (0.0, "no Fargate workloads in the benchmark".into()),
        Step::DriftHold { .. } => (0.0, "a budget patch per NodePool".into()),
        // Karpenter's own pace decides: the benchmark's scenarios have no NodePools
        Step::Nodepool(_) => (0.0, "Karpenter replaces the nodes at its own pace".into()),
        Step::ControlPlane => (
            CONTROL_PLANE_UPDATE_SECS,
            format!("EKS control plane update, {CONTROL_PLANE_UPDATE_SECS:.0} s"),
        ),
        Step::Addon { name, .. } => match f.addons.get(name) {
            Some(Roll::DaemonSet {
                pods,
                at_once,
                stop,
                start,
            }) => {
                let waves = pods.div_ceil(*at_once);
                (
                    f64::from(waves) * (stop + start),
                    format!("{waves} waves of {at_once} pods × ({stop:.0} s stop + {start:.0} s start)"),
                )
            }
            Some(Roll::Deployment {
                replicas,
                at_once,
                start,
            }) => {
                let waves = replicas.div_ceil(*at_once);
                (
                    f64::from(waves) * start,
                    format!("{waves} waves of {at_once} new pods × {start:.0} s start"),
                )
            }
            None => (0.0, "workload not found".into()),
        },
        Step::Nodegroup(g) => {
            let Some(group) = f.groups.get(&g.name) else {
                return (0.0, "group not found".into());
            };
            match (group.kind, g.strategy) {
                (GroupType::Managed, _) => {
                    // EKS surges 2 per zone, then drains one old node at a time: its
                    // pods go at a pass of its reconciler, the node is seen empty at
                    // the next, terminated TERMINATE_DELAY later, and the next node
                    // is taken at the pass after; replaced nodes must boot first
                    let n = group.nodes;
                    let surge = (2 * group.zones).min(n);
                    let per_node = TERMINATE_DELAY_SECS as f64 + 2.0 * STEP_SECS;
                    let replaced = n.saturating_sub(surge);
                    let secs = group.boot * f64::from(1 + replaced) + f64::from(n) * per_node;
                    (
                        secs,
                        format!(
                            "surge of {surge} boots ({:.0} s), then {n} nodes × {per_node:.0} s (drain, {TERMINATE_DELAY_SECS} s before termination){}",
                            group.boot,
                            if replaced > 0 {
                                format!(", {replaced} replacements boot")
                            } else {
                                String::new()
                            }
                        ),
                    )
                }
                (GroupType::SelfManaged, Strategy::Replace) => {
                    let drains: f64 = batches.iter().map(|b| b.drain_bound).sum();
                    let n = batches.len();
                    let secs = drains + n as f64 * group.boot + n.saturating_sub(1) as f64 * f.settle;
                    (
                        secs,
                        format!(
                            "{n} batches: drains {drains:.0} s (budgets' waves), {n} × {:.0} s boot, {} gates × {:.0} s settle",
                            group.boot,
                            n.saturating_sub(1),
                            f.settle
                        ),
                    )
                }
                _ => (0.0, "not modelled".into()),
            }
        }
    }
}
