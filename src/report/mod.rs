//! `upshift report`: a rollout told from its journal, for the team's thread and its
//! postmortem. [`Report::from_entries`] reads the journal's entries into what a reader
//! asks first — where it ended, who drove, each step's and gate's times, every
//! override, skip and forced action with its reason, drains held and what released
//! them, failures and retries, the numbers, and what deserves a second look — and
//! `markdown`/`text` lay it out (JSON is the same structure, serialised). It works on
//! a journal still being written and on one from an older upshift.

mod build;
pub mod markdown;
pub mod read;
pub mod text;

use serde::Serialize;

use crate::model::Timestamp;

pub use read::{Loaded, ReadError, read};

/// Where the rollout stands at the journal's last entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every step finished and nothing was left open.
    Done,
    /// Every step finished; these problems were named at the end.
    DoneWithProblems { problems: Vec<String> },
    Aborted {
        who: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Not finished: the step it is at and how that step stands.
    InProgress { step: String, state: String },
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepLine {
    pub step: String,
    /// The last state journaled.
    pub state: String,
    pub started: Option<Timestamp>,
    /// When it became done, skipped, failed for the last time, or aborted.
    pub ended: Option<Timestamp>,
    pub seconds: Option<i64>,
    pub failures: u32,
    pub retries: u32,
    /// Who drove it (the operators on its entries), in order: more than one when the
    /// drive was handed over in its middle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub driven_by: Vec<String>,
}

/// The lead handed the drive to another operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoverLine {
    pub at: Timestamp,
    pub from: String,
    pub to: String,
}

/// A gate passed (or an operator's decision at one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateLine {
    pub gate: String,
    pub at: Timestamp,
    pub decision: String,
    pub who: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// From the previous step's end (or the rollout's start) to the decision: how long
    /// the gate stood open, as far as the journal shows.
    pub waited_seconds: Option<i64>,
}

/// A decision that went past what upshift would do on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    pub at: Timestamp,
    pub who: String,
    /// `override`, `skip`, `force`, `delete-pod`, `skip-node`, `abort`
    pub decision: String,
    /// The step or gate.
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A drain held by a pod, and what let it go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldDrain {
    pub step: String,
    /// `namespace/name`
    pub pod: String,
    pub since: Timestamp,
    pub message: String,
    /// "evicted at 05:12:03 after 4m 10s", "deleted by ana@laptop: reason", "still held"
    pub released: String,
}

/// A step's failure as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureLine {
    pub at: Timestamp,
    pub step: String,
    pub message: String,
}

/// What the rollout did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Numbers {
    pub nodes_cordoned: usize,
    pub pods_evicted: usize,
    pub pods_deleted: usize,
    pub instances_terminated: usize,
    /// Every action journaled (Kubernetes and AWS).
    pub actions: usize,
    pub failed_actions: usize,
    /// Actions with no result journaled: the drive stopped before it knew how they ended.
    pub in_doubt: usize,
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineLine {
    pub seq: u64,
    pub at: Timestamp,
    pub who: String,
    pub text: String,
    /// Worth a reader's attention (a failure, an override, a warning).
    pub notable: bool,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub journal: String,
    pub cluster: Option<String>,
    /// The Kubernetes minor the control plane was taken to.
    pub target: Option<String>,
    /// Everyone who decided something, in order of first appearance.
    pub operators: Vec<String>,
    pub started: Option<Timestamp>,
    pub last_entry: Option<Timestamp>,
    pub outcome: Outcome,
    pub steps: Vec<StepLine>,
    pub gates: Vec<GateLine>,
    pub exceptions: Vec<Exception>,
    /// Every handover of the drive, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handovers: Vec<HandoverLine>,
    pub drains: Vec<HeldDrain>,
    pub failures: Vec<FailureLine>,
    pub numbers: Numbers,
    /// What deserves a second look.
    pub anomalies: Vec<String>,
    /// About the journal itself: a torn last line, entries of unknown kinds.
    pub notes: Vec<String>,
    pub timeline: Vec<TimelineLine>,
}

/// `1h 4m`, `4m 10s`, `12s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m {sec}s"),
        _ => format!("{h}h {m}m"),
    }
}

/// `04:50:07` (UTC): the timeline's clock.
pub fn clock(t: Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests;
