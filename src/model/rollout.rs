//! What a driven rollout looks like from the outside: the plan's steps and where each
//! stands, the gate being waited at with its criteria, what the lead may decide now,
//! and the journal's recent entries. The lead's drive publishes it to its own screen
//! and to a ConfigMap in the cluster; a read-only cockpit reads it back from there.
//! Pure data: nothing here can write anywhere.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The ConfigMap a driven rollout is published to (in `kube-system`).
pub const CONFIGMAP: &str = "upshift-rollout";
/// Its key holding [`RolloutState`] as JSON.
pub const STATE_KEY: &str = "state.json";
/// Its key holding the journal's recent entries, one JSON object per line.
pub const JOURNAL_KEY: &str = "journal.jsonl";

/// The rollout as the lead sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RolloutState {
    /// The EKS cluster's name.
    pub cluster: String,
    /// `1.30`
    pub from: String,
    /// `1.31`
    pub target: String,
    /// `production` or `pre-production`.
    pub environment: String,
    /// Who drives (`user@host`).
    pub lead: String,
    /// When the state last changed (the drive's clock).
    pub updated: Option<Timestamp>,
    pub phase: Phase,
    pub steps: Vec<StepView>,
    /// Index into `steps` of the step being gated or run.
    pub current: Option<usize>,
    /// The gate being waited at, if any (phase `Gate`), or the last one passed.
    pub gate: Option<GateView>,
    /// The last thing the drive told the lead ("proceed refused: the gate is red").
    pub notice: Option<String>,
}

/// Where the whole rollout stands, and so what the lead can do now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Phase {
    /// Reading the cluster and the journal before the first gate.
    #[default]
    Starting,
    /// A production cluster: its name must be typed before the first action.
    ConfirmCluster,
    /// Waiting at a gate: Enter when green, a typed reason to pass it red.
    Gate,
    /// A step is acting or waiting on the cloud.
    Running,
    /// A drain is held up past the pod timeout: keep waiting, skip the node, or
    /// delete the pod (typed confirmation).
    Held {
        node: String,
        /// `namespace/name`
        pod: String,
        /// The budget and its numbers, or why the pod is not evicted on its own.
        why: String,
        since: Option<Timestamp>,
    },
    /// A step failed: retry, skip the step (typed reason), force (managed node
    /// groups, typed confirmation) or abort.
    Failed {
        why: String,
        what_to_do: String,
        /// Whether forcing is offered (an EKS node group update refused by a budget).
        can_force: bool,
    },
    /// The lead paused: nothing new starts; what the cloud runs goes on.
    Paused,
    /// Abort asked: undoing what must not be left half done.
    Aborting,
    /// Stopped by the lead; the cluster was left consistent.
    Aborted { detail: String },
    /// Every step done.
    Done,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::ConfirmCluster => "confirm cluster",
            Phase::Gate => "at gate",
            Phase::Running => "running",
            Phase::Held { .. } => "drain held",
            Phase::Failed { .. } => "step failed",
            Phase::Paused => "paused",
            Phase::Aborting => "aborting",
            Phase::Aborted { .. } => "aborted",
            Phase::Done => "done",
        }
    }
}

/// One step of the plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepView {
    /// The journal's id: `control-plane`, `addon/coredns`, `nodegroup/apps`.
    pub id: String,
    /// `addon coredns → v1.11.3-eksbuild.1`
    pub label: String,
    pub state: StepState,
    /// One line: what it is doing or waiting for.
    pub what: String,
    /// More: the cloud's status, the pods left to move.
    pub detail: String,
    /// For node group steps.
    pub group: Option<GroupProgress>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    #[default]
    Pending,
    /// Its gate is open and waiting.
    Gate,
    Running,
    Done,
    Skipped,
    Failed,
    /// Stopped by an abort.
    Aborted,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Gate => "gate",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Skipped => "skipped",
            StepState::Failed => "failed",
            StepState::Aborted => "aborted",
        }
    }
}

/// A node group's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupProgress {
    /// Nodes on the old minor, on the target, in the group.
    pub old: u32,
    pub new: u32,
    /// 1-based batch being replaced (0 before the first), of `batches`.
    pub batch: u32,
    pub batches: u32,
    /// Nodes being drained now.
    pub draining: Vec<String>,
    /// "pod payments/ledger-… held by PodDisruptionBudget payments/ledger (…)"
    pub holding: Option<String>,
    /// Nodes the lead chose to skip (left on the old minor).
    pub skipped: Vec<String>,
    /// Go on between batches without asking while the gate is green.
    pub auto_continue: bool,
}

/// A gate: what must hold before a step or between two batches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GateView {
    /// `gate/addon/coredns`, `gate/nodegroup/batch#3`: the id decisions are journaled under.
    pub id: String,
    /// "before addon coredns", "before batch 3 of 4 of nodegroup batch"
    pub title: String,
    pub criteria: Vec<Criterion>,
    /// Since when every criterion has been green (None while one is red).
    pub green_since: Option<Timestamp>,
    pub settle_seconds: u64,
    /// Every criterion green for the settle time: Enter proceeds.
    pub passable: bool,
    /// The lead's decision, once taken: "proceed by ana@laptop", "override by ana@laptop: reason".
    pub decision: Option<String>,
}

/// One criterion of a gate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Criterion {
    /// "unscheduled pods", "pod errors above baseline", "nodes Ready",
    /// "critical components", "CloudWatch alarms", "drain blockers"
    pub name: String,
    pub ok: bool,
    /// "0 (limit 0)", "3 above the baseline of 6 (limit 0): shop/recommendations…"
    pub detail: String,
}

/// What the lead asks of the drive. The read-only cockpit has no way to send one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Enter at a green gate.
    Proceed,
    /// Pass a red gate, or skip a failed step: the reason is journaled.
    Override {
        reason: String,
    },
    /// Type the production cluster's name before the first action.
    ConfirmCluster {
        name: String,
    },
    Pause,
    Resume,
    /// Stop, leaving the cluster consistent.
    Abort,
    /// Try a failed step again.
    Retry,
    /// Start a managed node group's update again, forced past its budgets: the
    /// confirmation is the node group's name, typed.
    Force {
        confirm: String,
    },
    /// A held drain: wait another pod timeout.
    KeepWaiting,
    /// A held drain: leave this node on the old minor, uncordoned, and go on.
    SkipNode,
    /// A held drain: delete the holding pod anyway; the confirmation is the pod's name, typed.
    DeletePod {
        confirm: String,
    },
    /// Let the current node group go on between batches while its gate is green.
    AutoContinue(bool),
}

/// A rollout as read back from its ConfigMap: the state and the journal's recent entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Followed {
    pub state: RolloutState,
    pub journal: Vec<crate::rollout::journal::Entry>,
}

impl RolloutState {
    /// The step being gated or run.
    pub fn current_step(&self) -> Option<&StepView> {
        self.current.and_then(|i| self.steps.get(i))
    }

    /// Steps done or skipped, of all.
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .steps
            .iter()
            .filter(|s| matches!(s.state, StepState::Done | StepState::Skipped))
            .count();
        (done, self.steps.len())
    }

    /// Whether nothing more will happen.
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Aborted { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let s = RolloutState {
            cluster: "demo".into(),
            from: "1.30".into(),
            target: "1.31".into(),
            phase: Phase::Held {
                node: "ip-1".into(),
                pod: "payments/ledger-1".into(),
                why: "budget".into(),
                since: None,
            },
            steps: vec![StepView {
                id: "nodegroup/batch".into(),
                state: StepState::Running,
                group: Some(GroupProgress {
                    old: 2,
                    new: 1,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            current: Some(0),
            ..Default::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"kind\":\"held\""), "{text}");
        let back: RolloutState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.progress(), (0, 1));
    }
}
