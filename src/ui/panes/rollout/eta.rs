//! How long the step under way has run, against how long it should: EKS's typical
//! time for a control plane update (roughly 10–25 minutes, from the EKS User Guide's
//! "Update existing cluster to new Kubernetes version"), and for a node group the time
//! per node measured so far times the nodes left. When the step began is read from
//! the journal's entries in the log, on the cluster's clock of the cockpit.

use crate::cockpit::Cockpit;
use crate::model::journal::{StepId, StepState};
use crate::model::rollout::{GroupProgress, StepView};

/// EKS's typical control plane update, in minutes (AWS documentation).
const CONTROL_PLANE_MINUTES: (i64, i64) = (10, 25);

/// `6m`, `1h05m`
fn short(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

/// When the step last began running, from the journal's entries in the log.
fn began(c: &Cockpit, s: &StepView) -> Option<i64> {
    let id = s.id.to_string();
    let running = format!("{id} {}", StepState::Running);
    c.log
        .entries()
        .iter()
        .filter(|e| e.object == id && e.reason == "Step" && e.message == running)
        .filter_map(|e| e.at)
        .map(|t| t.as_second())
        .next_back()
}

/// `running 6m of the 10–25m EKS usually takes`, or for a node group
/// `running 12m · 6m a node so far × 3 left ≈ 18m more`; None before it runs.
pub fn line(c: &Cockpit, s: &StepView, g: Option<&GroupProgress>) -> Option<String> {
    if s.state != StepState::Running {
        return None;
    }
    let elapsed = c.now.as_second() - began(c, s)?;
    let ran = format!("running {}", short(elapsed));
    match (&s.id, g) {
        (StepId::ControlPlane, _) => {
            let (lo, hi) = CONTROL_PLANE_MINUTES;
            let over = if elapsed > hi * 60 { ": longer than usual" } else { "" };
            Some(format!("{ran} of the {lo}–{hi}m EKS usually takes{over}"))
        }
        (StepId::Nodegroup(_), Some(g)) if g.new > 0 => {
            let per = elapsed / i64::from(g.new);
            Some(format!(
                "{ran} · {} a node so far × {} left ≈ {} more",
                short(per),
                g.old,
                short(per * i64::from(g.old))
            ))
        }
        (StepId::Nodegroup(_), _) => Some(format!("{ran} · no node replaced yet to measure by")),
        _ => Some(ran),
    }
}
