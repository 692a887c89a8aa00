//! A maintenance window the drive runs in: when it closes (on the cluster's clock),
//! how long each step is expected to take, and what follows. Before a step or a
//! batch starts, its gate gets a criterion that is red when the work cannot finish
//! before the window closes; as the end nears, the lead is warned and offered to stop
//! at a safe point. Pure functions: the engine gives the time and what is starting.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::Timestamp;
use crate::model::journal::{Accepted, StepId};
use crate::model::rollout::Criterion;
use crate::rollout::plan::{Step, Strategy};
pub use crate::units::time::span;

/// The name of the gate criterion a window adds.
pub const CRITERION: &str = "maintenance window";

/// EKS's typical control plane update at its longest, in minutes: the upper end of
/// the 10–25 minutes the EKS User Guide gives (the cockpit's time line says the same).
const CONTROL_PLANE_MINUTES: i64 = 25;
/// A managed add-on's update at its longest, in minutes: EKS rolls the add-on's
/// Deployment or DaemonSet in a few minutes on most clusters (an estimate).
const ADDON_MINUTES: i64 = 5;
/// A node's replacement when no cluster done before measured it: a new node
/// launched and Ready, the old one drained and terminated (an estimate, not an AWS
/// figure).
pub const NODE_MINUTES: i64 = 6;
/// Restarting the Fargate workloads, one at a time.
const FARGATE_MINUTES: i64 = 5;
/// The read-only steps (preflight, postflight) and holding Karpenter's drift.
const CHECK_MINUTES: i64 = 1;

/// The window a drive must finish its steps in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowLimit {
    /// `tue-night`: the campaign file's name for it.
    pub name: String,
    /// When it closes, on the cluster's clock (the drive's `now`).
    pub closes: Timestamp,
    /// How long each step took on the clusters already done: used before the plan's
    /// own estimate.
    pub expected: BTreeMap<StepId, Duration>,
    /// Warn this long before the window closes, whatever is running.
    pub warn_before: Duration,
    /// The drive runs outside its window: the lead's typed reason, journaled once as
    /// a decision when the drive starts.
    pub outside_override: Option<String>,
}

impl WindowLimit {
    /// A window named `name` that closes at `closes`, warning 15 minutes before.
    pub fn new(name: &str, closes: Timestamp) -> WindowLimit {
        WindowLimit {
            name: name.to_string(),
            closes,
            expected: BTreeMap::new(),
            warn_before: Duration::from_secs(15 * 60),
            outside_override: None,
        }
    }

    /// Seconds left before it closes (negative once closed).
    pub fn left(&self, now: Timestamp) -> i64 {
        self.closes.as_second() - now.as_second()
    }

    /// `window tue-night closes in 12m`, or `window tue-night closed 3m ago`.
    pub fn phrase(&self, now: Timestamp) -> String {
        let left = self.left(now);
        if left >= 0 {
            format!("window {} closes in {}", self.name, span(left))
        } else {
            format!("window {} closed {} ago", self.name, span(-left))
        }
    }
}

/// What is about to start: a whole step, or one batch (or wave) of it.
#[derive(Clone, Copy, Debug)]
pub struct Unit<'a> {
    pub step: &'a Step,
    /// The batch the gate opens (None: the gate before the step).
    pub batch: Option<u32>,
    /// Nodes of the group still on the old minor, as the cockpit sees them.
    pub old_nodes: u32,
}

/// How many parts a step is driven in, each behind a gate: its batches or waves.
fn parts(step: &Step, old_nodes: u32) -> u32 {
    let old = old_nodes.max(1);
    match step {
        Step::Nodegroup(g) if matches!(g.strategy, Strategy::Replace | Strategy::BlueGreen) => {
            old.div_ceil(g.batch_size.max(1))
        }
        Step::Nodepool(p) => old.div_ceil(p.wave.of(old)),
        _ => 1,
    }
}

/// The plan's own estimate for one part of the step, in seconds: EKS's typical
/// control plane time and an add-on's at their longest, a
/// node's replacement times the nodes of the batch (the whole group for an EKS or
/// Auto Scaling update, which cannot stop half way).
fn plan_secs(u: &Unit) -> i64 {
    let old = u.old_nodes.max(1);
    let minutes = match u.step {
        Step::ControlPlane => CONTROL_PLANE_MINUTES,
        Step::Addon { .. } => ADDON_MINUTES,
        Step::Nodegroup(g) => match g.strategy {
            Strategy::Replace | Strategy::BlueGreen => i64::from(g.batch_size.clamp(1, old)) * NODE_MINUTES,
            Strategy::EksUpdate | Strategy::InstanceRefresh => i64::from(old) * NODE_MINUTES,
        },
        Step::Nodepool(p) => i64::from(p.wave.of(old).min(old)) * NODE_MINUTES,
        Step::Fargate => FARGATE_MINUTES,
        Step::Preflight | Step::Postflight | Step::DriftHold { .. } => CHECK_MINUTES,
    };
    minutes * 60
}

/// How long the unit is expected to take, in seconds: the caller's figure for the
/// step (shared between its batches), else the plan's.
pub fn expected_secs(w: &WindowLimit, u: &Unit) -> i64 {
    match w.expected.get(&u.step.id()) {
        Some(d) => d.as_secs().div_ceil(u64::from(parts(u.step, u.old_nodes))) as i64,
        None => plan_secs(u),
    }
}

/// `control plane`, `nodegroup apps batch 2`.
pub fn unit_label(u: &Unit) -> String {
    let step = match u.step {
        Step::ControlPlane => "control plane".to_string(),
        other => other.label(),
    };
    match u.batch {
        Some(b) => format!("{step} batch {b}"),
        None => step,
    }
}

/// The gate's window criterion: red when the unit cannot finish before the window
/// closes, naming both times (`window tue-night closes in 12m; control plane
/// expected 25m`). Its item is the window; an override accepts it for this gate.
pub fn criterion(w: &WindowLimit, u: &Unit, now: Timestamp) -> Criterion {
    let expected = expected_secs(w, u);
    let ok = w.left(now) >= expected;
    let detail = format!("{}; {} expected {}", w.phrase(now), unit_label(u), span(expected));
    Criterion {
        name: CRITERION.into(),
        ok,
        detail: if ok {
            detail
        } else {
            format!("{detail}: pass it with a typed reason, or stop here and resume in the next window")
        },
        items: if ok {
            Vec::new()
        } else {
            vec![Accepted {
                item: format!("window {}", w.name),
                level: (expected / 60) as u64,
            }]
        },
        accepted: None,
    }
}

/// The warning as the end nears: less time left than the work under way is expected
/// to need (`remaining`, seconds, None at a gate), or less than the warning margin.
pub fn warning(w: &WindowLimit, now: Timestamp, running: Option<(&str, i64)>) -> Option<String> {
    let left = w.left(now);
    let short = running.is_some_and(|(_, remaining)| left < remaining);
    if !short && left >= w.warn_before.as_secs() as i64 {
        return None;
    }
    let what = match running {
        Some((label, remaining)) => format!("; {label} expected {} more", span(remaining.max(0))),
        None => String::new(),
    };
    Some(format!(
        "{}{what}: stop at a safe point (the batch under way finishes, nothing is left cordoned)",
        w.phrase(now)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{GroupType, NodegroupStep};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn window() -> WindowLimit {
        WindowLimit::new("tue-night", at(12 * 60))
    }

    fn group(strategy: Strategy, batch_size: u32) -> Step {
        Step::Nodegroup(NodegroupStep {
            name: "apps".into(),
            group_type: GroupType::SelfManaged,
            strategy,
            batch_size,
            auto_continue: false,
            drainer: None,
            update_config: None,
            ami_type: None,
        })
    }

    #[test]
    fn a_control_plane_that_cannot_finish_is_red_naming_both_times() {
        let u = Unit {
            step: &Step::ControlPlane,
            batch: None,
            old_nodes: 0,
        };
        let c = criterion(&window(), &u, at(0));
        assert!(!c.ok);
        assert!(
            c.detail
                .starts_with("window tue-night closes in 12m; control plane expected 25m"),
            "{}",
            c.detail
        );
        assert_eq!(c.items[0].item, "window tue-night");
        // with an hour left it fits
        let mut w = window();
        w.closes = at(3600);
        assert!(criterion(&w, &u, at(0)).ok);
    }

    #[test]
    fn the_callers_figure_comes_first_and_is_shared_between_batches() {
        let mut w = window();
        let g = group(Strategy::Replace, 2);
        let u = Unit {
            step: &g,
            batch: Some(2),
            old_nodes: 6,
        };
        // the plan's: 2 nodes × 6m
        assert_eq!(expected_secs(&w, &u), 12 * 60);
        assert!(!criterion(&w, &u, at(60)).ok);
        // 3 batches took 15m on the cluster done before: 5m each
        w.expected
            .insert(StepId::Nodegroup("apps".into()), Duration::from_secs(15 * 60));
        assert_eq!(expected_secs(&w, &u), 5 * 60);
        assert!(criterion(&w, &u, at(60)).ok);
        // an EKS update is the whole group at once
        let eks = group(Strategy::EksUpdate, 1);
        let u = Unit {
            step: &eks,
            batch: None,
            old_nodes: 4,
        };
        w.expected.clear();
        assert_eq!(expected_secs(&w, &u), 24 * 60);
    }

    #[test]
    fn the_warning_comes_when_the_work_outlasts_the_window_or_the_margin_is_reached() {
        let mut w = window();
        w.warn_before = Duration::from_secs(5 * 60);
        assert_eq!(warning(&w, at(0), Some(("control plane", 10 * 60))), None);
        let m = warning(&w, at(0), Some(("control plane", 20 * 60))).unwrap();
        assert!(
            m.starts_with("window tue-night closes in 12m; control plane expected 20m more: stop at a safe point"),
            "{m}"
        );
        assert!(warning(&w, at(8 * 60), None).is_some());
        assert!(warning(&w, at(13 * 60), None).unwrap().contains("closed 1m ago"));
    }
}
