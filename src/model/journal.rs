//! The journal's entries and the words they decide by: an operator's [`Decision`],
//! what upshift did (an action, written before it is taken, and its result), how a
//! step's [`StepState`] changed, and what was notable in the cluster or the cloud.
//! Steps are named by [`StepId`] (`control-plane`, `addon/coredns`, `nodegroup/apps`)
//! and gates by [`GateId`] (`gate/<step>`, `gate/<step>#<batch>`).
//!
//! One entry is one JSON line of the journal file (`rollout::journal` reads and
//! appends them) and of the ConfigMap shadows read (`model::rollout`). Plain data: the
//! format on disk is defined here and nowhere else, and it is the format journals
//! have always had (`tests/journal_compat.rs` reads one written before these types).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Level, Timestamp};

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum What {
    /// An operator's decision (or upshift's own `auto-proceed`).
    Decision {
        /// The step or the gate it is about; None for the whole rollout (pause,
        /// resume, the cluster's name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Subject>,
        decision: Decision,
        /// Required for overrides and skips: the typed reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// What the decision is about, when not the whole step: a node's name or a
        /// pod's `namespace/name`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// About to act (written before the request is sent).
    Action {
        step: StepId,
        action: String,
        target: String,
    },
    /// How an action ended.
    Result {
        step: StepId,
        action: String,
        target: String,
        ok: bool,
        detail: String,
    },
    /// A step changed state.
    Step { step: StepId, state: StepState },
    /// Something notable in the cluster or the cloud.
    Event {
        level: Level,
        object: String,
        reason: String,
        message: String,
    },
    /// Whose rollout the journal records: its first entry (journals written before
    /// headers existed get one when a drive first resumes them). A drive refuses a
    /// journal whose header names another cluster, plan or target.
    Header(Header),
    /// A drive process began writing: its random id, also held in the lease.
    Drive { id: String },
    /// The cluster when the rollout began: what gates and the verdict compare against.
    Baseline { baseline: super::baseline::Baseline },
    /// What an override accepted at a gate: the red items named then, nothing more.
    Accept {
        gate: GateId,
        items: Vec<Accepted>,
        reason: String,
    },
    /// The rollout's verdict: every open problem, named (none: plainly done).
    Verdict { problems: Vec<String> },
}

/// What a journal belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The EKS cluster's ARN.
    pub cluster: String,
    /// The UID of the cluster's `kube-system` namespace: it changes when a cluster
    /// of the same name is created anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_system_uid: Option<String>,
    /// `sha256:` and the digest of the plan's cluster, minors and steps.
    pub plan: String,
    /// The minor the plan upgrades to.
    pub target: String,
}

impl Header {
    /// What differs between the rollout a journal holds (`self`) and the one about to
    /// be driven (`now`), one phrase each; empty when they are the same rollout. The
    /// `kube-system` UID is compared when both sides know it.
    pub fn differences(&self, now: &Header) -> Vec<String> {
        let mut out = Vec::new();
        if self.cluster != now.cluster {
            out.push(format!(
                "cluster {} (the journal) is not {} (now)",
                self.cluster, now.cluster
            ));
        }
        if let (Some(a), Some(b)) = (&self.kube_system_uid, &now.kube_system_uid)
            && a != b
        {
            out.push(format!(
                "the kube-system namespace's UID {a} (the journal) is not {b} (now): the cluster was created anew"
            ));
        }
        if self.target != now.target {
            out.push(format!(
                "target {} (the journal) is not {} (now)",
                self.target, now.target
            ));
        }
        if self.plan != now.plan {
            out.push(format!(
                "plan digest {} (the journal) is not {} (now): the plan's cluster, minors or steps changed",
                self.plan, now.plan
            ));
        }
        out
    }
}

/// A red item of a gate as an override accepted it: the item and how bad it was.
/// A later gate takes it as accepted while it is no worse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// `Deployment shop/recommendations down`, `pod errors above baseline`, …
    pub item: String,
    /// How bad: pods in error above the baseline, nodes NotReady, 1 for a yes/no item.
    pub level: u64,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3, ... with no gaps.
    pub seq: u64,
    pub at: Timestamp,
    /// The operator (`user@host`) or `upshift` for what the tool did on its own.
    pub who: String,
    #[serde(flatten)]
    pub what: What,
}

/// What an operator decided. Each is journaled under the step or gate it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Pass a gate that is green for its settle time.
    Proceed,
    /// Pass a gate that is not green, with a typed reason.
    Override,
    /// upshift passed a green gate between two batches on its own (auto-continue).
    AutoProceed,
    /// Leave a failed step as it is and go on, with a typed reason.
    Skip,
    /// The production cluster's name was typed: the rollout may begin.
    ConfirmCluster,
    /// Nothing new starts until a resume.
    Pause,
    Resume,
    /// Stop, leaving the cluster consistent; gates passed before are closed again.
    Abort,
    /// Try a failed step again.
    Retry,
    /// Start a managed node group's update again past its PodDisruptionBudgets.
    Force,
    /// A held drain: wait another pod timeout (the target is the pod).
    KeepWaiting,
    /// A held drain: leave the node on the old minor and go on (the target is the node).
    SkipNode,
    /// A held drain: delete the holding pod (the target is the pod).
    DeletePod,
    /// Go on between batches while the gate is green.
    AutoContinue,
    /// Ask at every gate between batches again.
    Manual,
    /// Hand the drive to another operator (the target is who takes it): the drive
    /// stops here and the lease waits for them.
    Handover,
    /// Finish what is under way (the batch being replaced), then stop with the
    /// rollout resumable; the reason names the maintenance window.
    StopAtSafePoint,
    /// Drive outside the maintenance window, with a typed reason.
    OutsideWindow,
}

impl Decision {
    pub const ALL: [Decision; 18] = [
        Decision::Proceed,
        Decision::Override,
        Decision::AutoProceed,
        Decision::Skip,
        Decision::ConfirmCluster,
        Decision::Pause,
        Decision::Resume,
        Decision::Abort,
        Decision::Retry,
        Decision::Force,
        Decision::KeepWaiting,
        Decision::SkipNode,
        Decision::DeletePod,
        Decision::AutoContinue,
        Decision::Manual,
        Decision::Handover,
        Decision::StopAtSafePoint,
        Decision::OutsideWindow,
    ];

    /// The word the journal writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Proceed => "proceed",
            Decision::Override => "override",
            Decision::AutoProceed => "auto-proceed",
            Decision::Skip => "skip",
            Decision::ConfirmCluster => "confirm-cluster",
            Decision::Pause => "pause",
            Decision::Resume => "resume",
            Decision::Abort => "abort",
            Decision::Retry => "retry",
            Decision::Force => "force",
            Decision::KeepWaiting => "keep-waiting",
            Decision::SkipNode => "skip-node",
            Decision::DeletePod => "delete-pod",
            Decision::AutoContinue => "auto-continue",
            Decision::Manual => "manual",
            Decision::Handover => "handover",
            Decision::StopAtSafePoint => "stop-at-safe-point",
            Decision::OutsideWindow => "outside-window",
        }
    }

    /// Whether it lets a gate pass.
    pub fn passes_gate(self) -> bool {
        match self {
            Decision::Proceed | Decision::Override | Decision::AutoProceed => true,
            Decision::Skip
            | Decision::ConfirmCluster
            | Decision::Pause
            | Decision::Resume
            | Decision::Abort
            | Decision::Retry
            | Decision::Force
            | Decision::KeepWaiting
            | Decision::SkipNode
            | Decision::DeletePod
            | Decision::AutoContinue
            | Decision::Manual
            | Decision::Handover
            | Decision::StopAtSafePoint
            | Decision::OutsideWindow => false,
        }
    }

    /// Whether it goes past what the tool would do on its own (a red gate, a failed
    /// step, budgets, a pod's or a node's fate): the log shows it as a warning.
    pub fn is_warning(self) -> bool {
        match self {
            Decision::Override
            | Decision::Skip
            | Decision::Abort
            | Decision::Force
            | Decision::DeletePod
            | Decision::SkipNode
            | Decision::OutsideWindow => true,
            Decision::Proceed
            | Decision::AutoProceed
            | Decision::ConfirmCluster
            | Decision::Pause
            | Decision::Resume
            | Decision::Retry
            | Decision::KeepWaiting
            | Decision::AutoContinue
            | Decision::Manual
            | Decision::Handover
            | Decision::StopAtSafePoint => false,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step of the plan stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Not begun.
    #[default]
    Pending,
    /// Its gate is open and waiting (shown, never journaled).
    Gate,
    Running,
    Done,
    Skipped,
    Failed,
    /// Stopped by an abort.
    Aborted,
}

impl StepState {
    pub const ALL: [StepState; 7] = [
        StepState::Pending,
        StepState::Gate,
        StepState::Running,
        StepState::Done,
        StepState::Skipped,
        StepState::Failed,
        StepState::Aborted,
    ];

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

    /// Done or skipped: nothing more happens to it.
    pub fn finished(self) -> bool {
        matches!(self, StepState::Done | StepState::Skipped)
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of the plan as the journal names it: `preflight`, `drift-hold`,
/// `control-plane`, `addon/<name>`, `nodegroup/<name>`, `nodepool/<name>`, `postflight`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    /// The first step of every plan (and what a state written without ids reads as).
    #[default]
    Preflight,
    ControlPlane,
    Addon(String),
    Nodegroup(String),
    /// Restarting the workloads whose pods run on Fargate (their kubelet is the one
    /// they started with).
    Fargate,
    Postflight,
    /// Karpenter's drift held on every planned NodePool (their `Drifted` budgets at 0).
    DriftHold,
    /// A Karpenter NodePool's drift released wave by wave.
    Nodepool(String),
}

impl StepId {
    /// Reads `control-plane`, `addon/coredns`, `nodegroup/apps`, …; None otherwise.
    pub fn parse(s: &str) -> Option<StepId> {
        Some(match s {
            "preflight" => StepId::Preflight,
            "control-plane" => StepId::ControlPlane,
            "postflight" => StepId::Postflight,
            "fargate" => StepId::Fargate,
            "drift-hold" => StepId::DriftHold,
            _ => match s.split_once('/') {
                Some(("addon", name)) if !name.is_empty() => StepId::Addon(name.to_string()),
                Some(("nodegroup", name)) if !name.is_empty() => StepId::Nodegroup(name.to_string()),
                Some(("nodepool", name)) if !name.is_empty() => StepId::Nodepool(name.to_string()),
                _ => return None,
            },
        })
    }

    /// The node group of a node group step.
    pub fn nodegroup(&self) -> Option<&str> {
        match self {
            StepId::Nodegroup(name) => Some(name),
            StepId::Preflight
            | StepId::ControlPlane
            | StepId::Addon(_)
            | StepId::Fargate
            | StepId::Postflight
            | StepId::DriftHold
            | StepId::Nodepool(_) => None,
        }
    }

    /// The NodePool of a nodepool step.
    pub fn nodepool(&self) -> Option<&str> {
        match self {
            StepId::Nodepool(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepId::Preflight => f.write_str("preflight"),
            StepId::ControlPlane => f.write_str("control-plane"),
            StepId::Addon(name) => write!(f, "addon/{name}"),
            StepId::Nodegroup(name) => write!(f, "nodegroup/{name}"),
            StepId::Fargate => f.write_str("fargate"),
            StepId::Postflight => f.write_str("postflight"),
            StepId::DriftHold => f.write_str("drift-hold"),
            StepId::Nodepool(name) => write!(f, "nodepool/{name}"),
        }
    }
}

/// A text that names no step, gate or subject of a decision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {text:?} is not one upshift writes ({expected})")]
pub struct UnknownId {
    pub what: &'static str,
    pub text: String,
    pub expected: &'static str,
}

const STEP_IDS: &str =
    "preflight, drift-hold, control-plane, addon/NAME, fargate, nodegroup/NAME, nodepool/NAME, postflight";
const GATE_IDS: &str = "gate/STEP or gate/STEP#BATCH";

impl FromStr for StepId {
    type Err = UnknownId;

    fn from_str(s: &str) -> Result<StepId, UnknownId> {
        StepId::parse(s).ok_or_else(|| UnknownId {
            what: "step",
            text: s.to_string(),
            expected: STEP_IDS,
        })
    }
}

/// A gate: the one before a step (`gate/nodegroup/apps`), or the one before a node
/// group's batch (`gate/nodegroup/apps#2`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GateId {
    pub step: StepId,
    /// The batch it opens, counted from 1; None for the gate before the step.
    pub batch: Option<u32>,
}

impl GateId {
    /// The gate before `step`.
    pub fn before(step: StepId) -> GateId {
        GateId { step, batch: None }
    }

    /// The gate before batch `batch` of `step`.
    pub fn batch(step: StepId, batch: u32) -> GateId {
        GateId {
            step,
            batch: Some(batch),
        }
    }

    /// Reads `gate/STEP` and `gate/STEP#BATCH`; None otherwise.
    pub fn parse(s: &str) -> Option<GateId> {
        let rest = s.strip_prefix("gate/")?;
        match rest.rsplit_once('#') {
            Some((step, batch)) => Some(GateId::batch(StepId::parse(step)?, batch.parse().ok()?)),
            None => Some(GateId::before(StepId::parse(rest)?)),
        }
    }
}

impl fmt::Display for GateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.batch {
            Some(b) => write!(f, "gate/{}#{b}", self.step),
            None => write!(f, "gate/{}", self.step),
        }
    }
}

impl FromStr for GateId {
    type Err = UnknownId;

    fn from_str(s: &str) -> Result<GateId, UnknownId> {
        GateId::parse(s).ok_or_else(|| UnknownId {
            what: "gate",
            text: s.to_string(),
            expected: GATE_IDS,
        })
    }
}

/// What a decision is about: a step (a retry, a held drain's choices) or a gate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Step(StepId),
    Gate(GateId),
}

impl Subject {
    pub fn parse(s: &str) -> Option<Subject> {
        if s.starts_with("gate/") {
            GateId::parse(s).map(Subject::Gate)
        } else {
            StepId::parse(s).map(Subject::Step)
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Step(s) => s.fmt(f),
            Subject::Gate(g) => g.fmt(f),
        }
    }
}

impl From<StepId> for Subject {
    fn from(s: StepId) -> Subject {
        Subject::Step(s)
    }
}

impl From<GateId> for Subject {
    fn from(g: GateId) -> Subject {
        Subject::Gate(g)
    }
}

impl FromStr for Subject {
    type Err = UnknownId;

    fn from_str(s: &str) -> Result<Subject, UnknownId> {
        Subject::parse(s).ok_or_else(|| UnknownId {
            what: "step or gate",
            text: s.to_string(),
            expected: "a step (preflight, control-plane, addon/NAME, nodegroup/NAME, postflight) or its gate (gate/STEP, gate/STEP#BATCH)",
        })
    }
}

/// Each id is written as its text, and read back strictly.
macro_rules! as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

as_text!(StepId);
as_text!(GateId);
as_text!(Subject);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_as_they_are_written() {
        for text in [
            "preflight",
            "control-plane",
            "addon/coredns",
            "addon/vpc-cni",
            "nodegroup/apps",
            "postflight",
        ] {
            let id: StepId = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        }
        for text in ["gate/control-plane", "gate/nodegroup/batch#2", "gate/addon/coredns"] {
            let g: GateId = text.parse().unwrap();
            assert_eq!(g.to_string(), text);
            assert_eq!(Subject::parse(text), Some(Subject::Gate(g)));
        }
        assert_eq!(
            GateId::parse("gate/nodegroup/batch#3"),
            Some(GateId::batch(StepId::Nodegroup("batch".into()), 3))
        );
        assert_eq!(StepId::Nodegroup("apps".into()).nodegroup(), Some("apps"));
        assert_eq!(StepId::ControlPlane.nodegroup(), None);
    }

    #[test]
    fn unknown_ids_are_refused_naming_what_is_expected() {
        for bad in [
            "",
            "controlplane",
            "addon/",
            "nodegroup",
            "gate/",
            "gate/nodegroup/a#x",
            "widget/a",
        ] {
            assert!(Subject::parse(bad).is_none(), "{bad}");
        }
        let e = "widget/a".parse::<StepId>().unwrap_err().to_string();
        assert!(e.contains("\"widget/a\"") && e.contains("nodegroup/NAME"), "{e}");
        let e = serde_json::from_str::<StepId>("\"widget/a\"").unwrap_err().to_string();
        assert!(e.contains("widget/a"), "{e}");
    }

    #[test]
    fn decision_words_are_the_journals() {
        let words: Vec<String> = Decision::ALL
            .iter()
            .map(|d| serde_json::to_string(d).unwrap().trim_matches('"').to_string())
            .collect();
        let as_str: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(words, as_str);
        assert_eq!(
            as_str,
            [
                "proceed",
                "override",
                "auto-proceed",
                "skip",
                "confirm-cluster",
                "pause",
                "resume",
                "abort",
                "retry",
                "force",
                "keep-waiting",
                "skip-node",
                "delete-pod",
                "auto-continue",
                "manual",
                "handover",
                "stop-at-safe-point",
                "outside-window"
            ]
        );
        let passing: Vec<Decision> = Decision::ALL.into_iter().filter(|d| d.passes_gate()).collect();
        assert_eq!(passing, [Decision::Proceed, Decision::Override, Decision::AutoProceed]);
        assert!(serde_json::from_str::<Decision>("\"start\"").is_err());
    }

    #[test]
    fn step_state_words_are_the_journals() {
        for s in StepState::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert!(StepState::Skipped.finished() && StepState::Done.finished());
        assert!(!StepState::Failed.finished());
    }
}
