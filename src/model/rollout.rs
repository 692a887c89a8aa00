//! What a driven rollout looks like from the outside: the plan's steps and where each
//! stands, the gate being waited at with its criteria, what the lead may decide now,
//! and the journal's recent entries. The lead's drive publishes it to its own screen
//! and to a ConfigMap in the cluster; a read-only cockpit reads it back from there.
//! The ConfigMap's shape is defined here, both ways. Pure data: nothing here can
//! write anywhere.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::journal::{Entry, GateId, StepId, StepState};

/// The namespace of the ConfigMap a driven rollout is published to.
pub const NAMESPACE: &str = "kube-system";
/// The ConfigMap a driven rollout is published to (in [`NAMESPACE`]).
pub const CONFIGMAP: &str = "upshift-rollout";
/// Its key holding [`RolloutState`] as JSON.
pub const STATE_KEY: &str = "state.json";
/// Its key holding the journal's recent entries, one JSON object per line.
pub const JOURNAL_KEY: &str = "journal.jsonl";

/// `1 open problem`, `3 open problems`.
pub fn open_problems(n: usize) -> String {
    if n == 1 {
        "1 open problem".to_string()
    } else {
        format!("{n} open problems")
    }
}

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
    /// The verdict's open problems, each named (empty: plainly done).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Karpenter NodePools whose disruption budgets upshift changed and has not
    /// restored yet: what they were, and the command that puts them back by hand.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets_to_restore: Vec<HeldBudgets>,
    /// The campaign this rollout is part of, when `upshift campaign drive` runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<super::campaign::CampaignStrip>,
    /// The maintenance window the drive runs in, when it was given one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowStatus>,
    /// Who the lead handed the drive to: this drive stopped for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handed_to: Option<String>,
}

/// The maintenance window a drive runs in, as the lead and the shadows see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WindowStatus {
    /// The window's name (`tue-night`).
    pub name: String,
    /// When it closes, on the cluster's clock.
    pub closes: Option<Timestamp>,
    /// The end is near: "window tue-night closes in 8m; nodegroup/apps expected 12m more".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The lead asked to stop at the next safe point.
    pub stopping: bool,
}

/// A NodePool's disruption budgets as upshift found them, to restore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeldBudgets {
    pub nodepool: String,
    /// `spec.disruption.budgets` as found, as JSON (`null`: it had none).
    pub budgets: String,
    /// `kubectl patch nodepools.karpenter.sh NAME --type merge -p '…'`
    pub undo: String,
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
    pub id: StepId,
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
    pub id: GateId,
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
    /// What makes it red, one by one: what an override accepts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<super::journal::Accepted>,
    /// Green only because an override accepted what it saw: "accepted by ana@laptop: reason".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
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
    /// Finish the batch under way (never leave a node cordoned), then stop with the
    /// rollout resumable: the maintenance window is ending.
    StopAtSafePoint,
    /// Hand the drive to another operator (at a gate or paused): journaled with both
    /// names, then this drive stops and the lease waits for `to`.
    Handover {
        to: String,
    },
    /// The cockpit is closing (a signal): the drive journals why and stops where it
    /// is; running the same command again resumes. No decision about the rollout.
    Stop {
        reason: String,
    },
}

/// The most bytes of journal lines the ConfigMap carries: the API server refuses a
/// ConfigMap over 1 MiB in all, and the state needs room beside them. Entries with
/// long details are dropped oldest first until the rest fits.
pub const JOURNAL_BYTES: usize = 768 * 1024;

/// A rollout as published to its ConfigMap and read back from it: the state and the
/// journal's recent entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Published {
    pub state: RolloutState,
    /// The newest entries, oldest first.
    pub recent: Vec<Entry>,
}

impl Published {
    /// The ConfigMap that carries it: the state as JSON, the entries as JSON lines.
    pub fn to_config_map(&self) -> ConfigMap {
        // the newest lines that fit, oldest first
        let mut lines = Vec::new();
        let mut size = 0;
        for line in self.recent.iter().rev().filter_map(|e| serde_json::to_string(e).ok()) {
            size += line.len() + 1;
            if size > JOURNAL_BYTES {
                break;
            }
            lines.push(line);
        }
        lines.reverse();
        let journal = lines.join("\n");
        let mut data = BTreeMap::new();
        data.insert(
            STATE_KEY.to_string(),
            serde_json::to_string(&self.state).unwrap_or_default(),
        );
        data.insert(JOURNAL_KEY.to_string(), journal);
        ConfigMap {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(CONFIGMAP.into()),
                namespace: Some(NAMESPACE.into()),
                labels: Some([("app.kubernetes.io/managed-by".to_string(), "upshift".to_string())].into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }
    }

    /// Reads a publication back from its ConfigMap (None when it holds no state).
    pub fn from_config_map(cm: &ConfigMap) -> Option<Published> {
        let data = cm.data.as_ref()?;
        let state: RolloutState = serde_json::from_str(data.get(STATE_KEY)?).ok()?;
        let recent = data
            .get(JOURNAL_KEY)
            .map(|j| j.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default();
        Some(Published { state, recent })
    }
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
                id: StepId::Nodegroup("batch".into()),
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

    #[test]
    fn a_publication_reads_back() {
        use crate::model::journal::What;
        let p = Published {
            state: RolloutState {
                cluster: "demo".into(),
                target: "1.31".into(),
                ..Default::default()
            },
            recent: vec![Entry {
                seq: 1,
                at: jiff::Timestamp::UNIX_EPOCH,
                who: "ana@laptop".into(),
                what: What::Step {
                    step: StepId::ControlPlane,
                    state: StepState::Running,
                },
            }],
        };
        let cm = p.to_config_map();
        assert_eq!(cm.metadata.name.as_deref(), Some(CONFIGMAP));
        assert_eq!(cm.metadata.namespace.as_deref(), Some(NAMESPACE));
        let back = Published::from_config_map(&cm).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_journal_of_long_entries_keeps_its_newest_under_the_size_limit() {
        use crate::model::journal::What;
        let recent: Vec<Entry> = (1..=200u64)
            .map(|seq| Entry {
                seq,
                at: jiff::Timestamp::UNIX_EPOCH,
                who: "ana@laptop".into(),
                what: What::Event {
                    level: crate::model::Level::Warning,
                    object: format!("Pod/shop/web-{seq}"),
                    reason: "EvictionRefused".into(),
                    message: "x".repeat(8 * 1024),
                },
            })
            .collect();
        let cm = Published {
            state: RolloutState::default(),
            recent: recent.clone(),
        }
        .to_config_map();
        let size: usize = cm.data.as_ref().unwrap().iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(size < 1024 * 1024, "{size}");
        let back = Published::from_config_map(&cm).unwrap();
        assert!(
            back.recent.len() > 10 && back.recent.len() < recent.len(),
            "{}",
            back.recent.len()
        );
        assert_eq!(back.recent.last(), recent.last());
        assert!(back.recent.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    }
}
