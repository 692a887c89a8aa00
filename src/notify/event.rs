//! What a rollout tells its communication thread: one [`Event`] per thing the team
//! should hear about, each with a stable id (so a resumed drive knows what was already
//! delivered) and a severity (which decides what is echoed to the channel and what may
//! be dropped when a sink falls behind). Pure data; the sinks render it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A stable name for one event. Derived from the journal entry that caused it, so that
/// the same history produces the same ids after a resume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// The event caused by journal entry `seq`: `j42`.
    pub fn from_journal(seq: u64) -> EventId {
        EventId(format!("j{seq}"))
    }

    /// A second event from the same journal entry, told apart by `part`: `j42.hold`.
    pub fn from_journal_part(seq: u64, part: &str) -> EventId {
        EventId(format!("j{seq}.{part}"))
    }

    /// Any other stable name.
    pub fn new(id: impl Into<String>) -> EventId {
        EventId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How loud an event is. Failures (and the verdict) may be echoed to the channel and
/// are never dropped from a sink's queue; info events are dropped first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    Failure,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Failure => "failure",
        }
    }
}

/// One thing that happened in a rollout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    /// When it happened (the drive's clock).
    pub at: Timestamp,
    #[serde(flatten)]
    pub what: What,
}

/// A step of the plan, as the journal and the screen name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `control-plane`, `addon/coredns`, `nodegroup/apps`
    pub id: String,
    /// `addon coredns → v1.11.3-eksbuild.1`
    pub label: String,
}

/// One criterion of a gate as it stood when the decision was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// "unscheduled pods", "nodes Ready", ...
    pub name: String,
    pub ok: bool,
    /// "0 (limit 0)", "3 above the baseline of 6 (limit 0): shop/recommendations…"
    pub detail: String,
}

/// How a gate was passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateDecision {
    /// The operator proceeded at a green gate.
    Proceed,
    /// The operator passed a red gate with a typed reason.
    Override,
    /// The drive went on by itself (auto-continue between batches while green).
    AutoProceed,
}

/// What is being waited on for longer than the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldKind {
    /// A drain held up by a pod that will not leave (a budget, no controller).
    DrainHeld,
    /// A step making no progress (a node not joining, an update not moving).
    Stalled,
}

/// How the rollout ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every step done and every service back at its availability from before.
    Done,
    /// Every step done, but something is not back: each problem named.
    DoneWithProblems { problems: Vec<String> },
    /// Stopped by the operator; the cluster was left consistent.
    Aborted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum What {
    /// The drive started (or the first event of a thread): who, where, from → to.
    RolloutStarted {
        who: String,
        cluster: String,
        /// `production`, `pre-production`
        environment: String,
        from: String,
        to: String,
        /// The plan file's digest, so the thread names exactly what was run.
        plan_digest: String,
    },
    /// A gate was passed.
    GateDecided {
        /// "before addon coredns"
        gate: String,
        criteria: Vec<Criterion>,
        decision: GateDecision,
        who: String,
        /// The typed reason (always present for an override).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    StepStarted {
        step: Step,
    },
    StepDone {
        step: Step,
        /// How long it took, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_seconds: Option<u64>,
    },
    StepFailed {
        step: Step,
        why: String,
        what_to_do: String,
    },
    StepSkipped {
        step: Step,
        who: String,
        reason: String,
    },
    /// A hold or stall that has lasted longer than the threshold.
    Held {
        hold: HoldKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Step>,
        node: String,
        /// `namespace/name`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        /// The budget holding the pod, with its numbers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<String>,
        since: Timestamp,
    },
    Paused {
        who: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Resumed {
        who: String,
    },
    Aborted {
        who: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Another operator took the drive over (the lead's terminal died, a shift change).
    TookOver {
        from: String,
        to: String,
    },
    /// The final verdict.
    Finished {
        verdict: Verdict,
    },
}

/// One labelled line under an event's headline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub label: &'static str,
    pub value: String,
}

fn detail(label: &'static str, value: impl Into<String>) -> Detail {
    Detail {
        label,
        value: value.into(),
    }
}

impl What {
    /// The kebab-case name used in payloads (`gate-decided`).
    pub fn kind(&self) -> &'static str {
        match self {
            What::RolloutStarted { .. } => "rollout-started",
            What::GateDecided { .. } => "gate-decided",
            What::StepStarted { .. } => "step-started",
            What::StepDone { .. } => "step-done",
            What::StepFailed { .. } => "step-failed",
            What::StepSkipped { .. } => "step-skipped",
            What::Held { .. } => "held",
            What::Paused { .. } => "paused",
            What::Resumed { .. } => "resumed",
            What::Aborted { .. } => "aborted",
            What::TookOver { .. } => "took-over",
            What::Finished { .. } => "finished",
        }
    }
}

impl Event {
    pub fn new(id: EventId, at: Timestamp, what: What) -> Event {
        Event { id, at, what }
    }

    pub fn severity(&self) -> Severity {
        match &self.what {
            What::RolloutStarted { .. }
            | What::StepStarted { .. }
            | What::StepDone { .. }
            | What::Paused { .. }
            | What::Resumed { .. } => Severity::Info,
            What::GateDecided { decision, .. } => match decision {
                GateDecision::Override => Severity::Warning,
                GateDecision::Proceed | GateDecision::AutoProceed => Severity::Info,
            },
            What::StepSkipped { .. } | What::Held { .. } | What::TookOver { .. } => Severity::Warning,
            What::StepFailed { .. } | What::Aborted { .. } => Severity::Failure,
            What::Finished { verdict } => match verdict {
                Verdict::Done => Severity::Info,
                Verdict::DoneWithProblems { .. } => Severity::Warning,
                Verdict::Aborted { .. } => Severity::Failure,
            },
        }
    }

    /// The final verdict: never dropped, echoed to the channel where failures are.
    pub fn is_verdict(&self) -> bool {
        matches!(self.what, What::Finished { .. })
    }

    /// One plain line saying what happened (no markup; sinks escape it).
    pub fn headline(&self) -> String {
        match &self.what {
            What::RolloutStarted {
                who, cluster, from, to, ..
            } => format!("Upgrade of {cluster} from {from} to {to} started by {who}"),
            What::GateDecided {
                gate,
                criteria,
                decision,
                who,
                reason,
            } => {
                let red = criteria.iter().filter(|c| !c.ok).count();
                match decision {
                    GateDecision::Proceed => format!("Gate {gate}: proceed by {who}"),
                    GateDecision::AutoProceed => format!("Gate {gate}: went on by itself (green)"),
                    GateDecision::Override => {
                        let reason = reason.as_deref().unwrap_or("no reason given");
                        format!("Gate {gate} passed with {red} red by {who}: {reason}")
                    }
                }
            }
            What::StepStarted { step } => format!("Step {} started", step.label),
            What::StepDone { step, took_seconds } => match took_seconds {
                Some(s) => format!("Step {} done in {}", step.label, duration_text(*s)),
                None => format!("Step {} done", step.label),
            },
            What::StepFailed { step, why, .. } => format!("Step {} failed: {why}", step.label),
            What::StepSkipped { step, who, reason } => format!("Step {} skipped by {who}: {reason}", step.label),
            What::Held {
                hold,
                node,
                pod,
                budget,
                since,
                step,
            } => {
                let waited = held_for(*since, self.at);
                match hold {
                    HoldKind::DrainHeld => {
                        let by = match (pod, budget) {
                            (Some(p), Some(b)) => format!(": pod {p} held by {b}"),
                            (Some(p), None) => format!(": pod {p} will not leave"),
                            (None, Some(b)) => format!(": held by {b}"),
                            (None, None) => String::new(),
                        };
                        format!("Drain of {node} held for {waited}{by}")
                    }
                    HoldKind::Stalled => match step {
                        Some(s) => format!("Step {} stalled for {waited} on {node}", s.label),
                        None => format!("Stalled for {waited} on {node}"),
                    },
                }
            }
            What::Paused { who, reason } => match reason {
                Some(r) => format!("Paused by {who}: {r}"),
                None => format!("Paused by {who}"),
            },
            What::Resumed { who } => format!("Resumed by {who}"),
            What::Aborted { who, reason } => match reason {
                Some(r) => format!("Abort asked by {who}: {r}"),
                None => format!("Abort asked by {who}"),
            },
            What::TookOver { from, to } => format!("{to} took the drive over from {from}"),
            What::Finished { verdict } => match verdict {
                Verdict::Done => "Upgrade done: every service is back at its availability from before".to_string(),
                Verdict::DoneWithProblems { problems } => {
                    let n = problems.len();
                    let s = if n == 1 { "" } else { "s" };
                    format!("Upgrade done with {n} open problem{s}")
                }
                Verdict::Aborted { reason } => match reason {
                    Some(r) => format!("Upgrade aborted: {r}"),
                    None => "Upgrade aborted".to_string(),
                },
            },
        }
    }

    /// The labelled lines under the headline, in order (plain text).
    pub fn details(&self) -> Vec<Detail> {
        match &self.what {
            What::RolloutStarted {
                environment,
                plan_digest,
                ..
            } => vec![detail("environment", environment), detail("plan", plan_digest)],
            What::GateDecided { criteria, .. } => criteria
                .iter()
                .map(|c| {
                    let mark = if c.ok { "ok" } else { "RED" };
                    detail("criterion", format!("{mark} {}: {}", c.name, c.detail))
                })
                .collect(),
            What::StepStarted { step } | What::StepDone { step, .. } => vec![detail("step", &step.id)],
            What::StepFailed { step, what_to_do, .. } => {
                vec![detail("step", &step.id), detail("what to do", what_to_do)]
            }
            What::StepSkipped { step, .. } => vec![detail("step", &step.id)],
            What::Held {
                step,
                node,
                pod,
                budget,
                since,
                ..
            } => {
                let mut d = Vec::new();
                if let Some(s) = step {
                    d.push(detail("step", &s.id));
                }
                d.push(detail("node", node));
                if let Some(p) = pod {
                    d.push(detail("pod", p));
                }
                if let Some(b) = budget {
                    d.push(detail("budget", b));
                }
                d.push(detail("since", since.to_string()));
                d
            }
            What::Paused { .. } | What::Resumed { .. } | What::Aborted { .. } | What::TookOver { .. } => Vec::new(),
            What::Finished { verdict } => match verdict {
                Verdict::DoneWithProblems { problems } => problems.iter().map(|p| detail("open problem", p)).collect(),
                Verdict::Done | Verdict::Aborted { .. } => Vec::new(),
            },
        }
    }
}

/// `4m 12s`, `1h 03m`, `45s`
pub fn duration_text(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

fn held_for(since: Timestamp, at: Timestamp) -> String {
    let d: SignedDuration = at.duration_since(since);
    duration_text(u64::try_from(d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn step() -> Step {
        Step {
            id: "nodegroup/apps".into(),
            label: "node group apps".into(),
        }
    }

    #[test]
    fn ids_come_from_the_journal_sequence() {
        assert_eq!(EventId::from_journal(42).as_str(), "j42");
        assert_eq!(EventId::from_journal_part(42, "hold").as_str(), "j42.hold");
    }

    #[test]
    fn severities_follow_what_happened() {
        let ev = |what| Event::new(EventId::new("x"), at(0), what);
        let gate = |decision| What::GateDecided {
            gate: "before apps".into(),
            criteria: vec![],
            decision,
            who: "ana".into(),
            reason: None,
        };
        assert_eq!(ev(gate(GateDecision::Proceed)).severity(), Severity::Info);
        assert_eq!(ev(gate(GateDecision::Override)).severity(), Severity::Warning);
        let failed = What::StepFailed {
            step: step(),
            why: "x".into(),
            what_to_do: "y".into(),
        };
        assert_eq!(ev(failed).severity(), Severity::Failure);
        let done = ev(What::Finished { verdict: Verdict::Done });
        assert_eq!(done.severity(), Severity::Info);
        assert!(done.is_verdict());
        let aborted = What::Finished {
            verdict: Verdict::Aborted { reason: None },
        };
        assert_eq!(ev(aborted).severity(), Severity::Failure);
    }

    #[test]
    fn headlines_name_what_and_who() {
        let held = Event::new(
            EventId::new("j9"),
            at(754),
            What::Held {
                hold: HoldKind::DrainHeld,
                step: Some(step()),
                node: "ip-10-0-1-5".into(),
                pod: Some("payments/ledger-0".into()),
                budget: Some("PodDisruptionBudget payments/ledger".into()),
                since: at(0),
            },
        );
        assert_eq!(
            held.headline(),
            "Drain of ip-10-0-1-5 held for 12m 34s: pod payments/ledger-0 held by PodDisruptionBudget payments/ledger"
        );
        let verdict = Event::new(
            EventId::new("j10"),
            at(0),
            What::Finished {
                verdict: Verdict::DoneWithProblems {
                    problems: vec!["payments/ledger 1/2 ready".into(), "shop/cart crash-looping".into()],
                },
            },
        );
        assert_eq!(verdict.headline(), "Upgrade done with 2 open problems");
        let problems: Vec<String> = verdict.details().into_iter().map(|d| d.value).collect();
        assert_eq!(problems, ["payments/ledger 1/2 ready", "shop/cart crash-looping"]);
    }

    #[test]
    fn events_serialize_with_a_type_tag_and_camel_case_fields() {
        let e = Event::new(
            EventId::from_journal(3),
            at(0),
            What::StepFailed {
                step: step(),
                why: "update failed".into(),
                what_to_do: "retry or abort".into(),
            },
        );
        let v = serde_json::to_value(&e).expect("serializes");
        assert_eq!(v["type"], "step-failed");
        assert_eq!(v["whatToDo"], "retry or abort");
        assert_eq!(v["id"], "j3");
        let back: Event = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, e);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(45), "45s");
        assert_eq!(duration_text(252), "4m 12s");
        assert_eq!(duration_text(3780), "1h 03m");
    }
}
