//! How long the step under way has run, against how long it should: EKS's typical
//! time for a control plane update (roughly 10–25 minutes, from the EKS User Guide's
//! "Update existing cluster to new Kubernetes version"), for an add-on a few minutes,
//! and for a node group the time per node measured so far times the nodes left.
//! Pure: the caller says when the step began and what time it is, both on the
//! cluster's clock (the journal's times, the published state's). The cockpit's
//! rollout pane and `drive --headless` say the same words.

use crate::model::journal::{StepId, StepState};
use crate::model::rollout::StepView;
use crate::model::{LogEntry, Timestamp};

/// EKS's typical control plane update, in minutes (AWS documentation).
const CONTROL_PLANE_MINUTES: (i64, i64) = (10, 25);

/// A managed add-on's update, in minutes: EKS rolls the add-on's Deployment or
/// DaemonSet, which takes a few minutes on most clusters (an estimate, not an AWS
/// figure; a large DaemonSet can take longer).
const ADDON_MINUTES: (i64, i64) = (1, 5);

/// `6m`, `1h05m`; to the minute only when `coarse`.
fn short(secs: i64, coarse: bool) -> String {
    let s = secs.max(0);
    if s < 120 && !coarse {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

/// When step `id` last began running, from the journal's entries as the event log
/// keeps them (`Step` entries reading `ID running`).
pub fn began<'a>(entries: impl DoubleEndedIterator<Item = &'a LogEntry>, id: &StepId) -> Option<Timestamp> {
    let id = id.to_string();
    let running = format!("{id} {}", StepState::Running);
    entries
        .filter(|e| e.object == id && e.reason == "Step" && e.message == running)
        .filter_map(|e| e.at)
        .next_back()
}

/// `running 6m of the 10–25m EKS usually takes`, `running 2m of the 1–5m an add-on
/// usually takes`, or for a node group `running 12m · 6m a node so far × 3 left ≈ 18m
/// more`; None unless it runs. `coarse` counts whole minutes (for lines printed once
/// each time they change).
pub fn line(s: &StepView, began: Timestamp, now: Timestamp, coarse: bool) -> Option<String> {
    if s.state != StepState::Running {
        return None;
    }
    let elapsed = now.as_second() - began.as_second();
    let ran = format!("running {}", short(elapsed, coarse));
    let typical = |(lo, hi): (i64, i64), who: &str| {
        let over = if elapsed > hi * 60 { ": longer than usual" } else { "" };
        format!("{ran} of the {lo}–{hi}m {who} usually takes{over}")
    };
    match (&s.id, &s.group) {
        (StepId::ControlPlane, _) => Some(typical(CONTROL_PLANE_MINUTES, "EKS")),
        (StepId::Addon(_), _) => Some(typical(ADDON_MINUTES, "an add-on")),
        (StepId::Nodegroup(_), Some(g)) if g.new > 0 => {
            let per = elapsed / i64::from(g.new);
            Some(format!(
                "{ran} · {} a node so far × {} left ≈ {} more",
                short(per, coarse),
                g.old,
                short(per * i64::from(g.old), coarse)
            ))
        }
        (StepId::Nodegroup(_), _) => Some(format!("{ran} · no node replaced yet to measure by")),
        _ => Some(ran),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::GroupProgress;

    fn step(id: StepId, group: Option<GroupProgress>) -> StepView {
        StepView {
            id,
            label: String::new(),
            state: StepState::Running,
            what: String::new(),
            detail: String::new(),
            group,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn each_kind_of_step_is_measured_against_what_it_should_take() {
        let t0 = at("2025-06-02T14:00:00Z");
        let cp = step(StepId::ControlPlane, None);
        assert_eq!(
            line(&cp, t0, at("2025-06-02T14:06:30Z"), false).as_deref(),
            Some("running 6m of the 10–25m EKS usually takes")
        );
        let addon = step(StepId::Addon("coredns".into()), None);
        assert_eq!(
            line(&addon, t0, at("2025-06-02T14:01:30Z"), false).as_deref(),
            Some("running 90s of the 1–5m an add-on usually takes")
        );
        assert_eq!(
            line(&addon, t0, at("2025-06-02T14:01:30Z"), true).as_deref(),
            Some("running 1m of the 1–5m an add-on usually takes")
        );
        assert_eq!(
            line(&addon, t0, at("2025-06-02T14:07:00Z"), false).as_deref(),
            Some("running 7m of the 1–5m an add-on usually takes: longer than usual")
        );
        let group = GroupProgress {
            old: 3,
            new: 2,
            ..GroupProgress::default()
        };
        let ng = step(StepId::Nodegroup("apps".into()), Some(group));
        assert_eq!(
            line(&ng, t0, at("2025-06-02T14:12:00Z"), false).as_deref(),
            Some("running 12m · 6m a node so far × 3 left ≈ 18m more")
        );
        let mut done = addon.clone();
        done.state = StepState::Done;
        assert_eq!(line(&done, t0, at("2025-06-02T14:01:30Z"), false), None);
    }
}
