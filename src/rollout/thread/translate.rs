//! From journal entries to the thread's events: what the team hears of each entry.
//! Pure: the same journal gives the same events with the same ids (`j<seq>`), which is
//! what lets a resumed drive send its whole history again and skip what was delivered.

use std::collections::HashMap;

use crate::model::journal::{Decision, Entry, StepId, StepState, Subject, What as Journaled};
use crate::model::rollout::{Criterion, GateView, Phase};
use crate::model::{Level, Timestamp};
use crate::notify::event::{Criterion as SentCriterion, GateDecision, HoldKind, Step as SentStep, Verdict, What};
use crate::notify::{Event, EventId};
use crate::rollout::plan::Plan;

/// The journal's reason for a verdict's open problem (one entry each).
pub const OPEN_PROBLEM: &str = "OpenProblem";
const DRAIN_HELD: &str = "DrainHeld";
const STEP_FAILED: &str = "StepFailed";

/// What the drive's screen showed when an entry was written: the open gate's criteria
/// and a failed step's advice, which the journal does not repeat.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub gate: Option<GateView>,
    pub phase: Phase,
}

/// Turns entries into events, remembering what later events need (when each step
/// started, the last skip's reason, the open problems named).
pub struct Translator {
    labels: HashMap<StepId, String>,
    started: HashMap<StepId, Timestamp>,
    skip_reason: HashMap<StepId, (String, String)>,
    problems: Vec<String>,
    finished: bool,
}

impl Translator {
    pub fn new(plan: &Plan) -> Translator {
        let labels = plan.steps.iter().map(|s| (s.id(), s.label())).collect();
        Translator {
            labels,
            started: HashMap::new(),
            skip_reason: HashMap::new(),
            problems: Vec::new(),
            finished: false,
        }
    }

    /// The first event of a thread: who drives what, where, from → to.
    pub fn started(plan: &Plan, who: &str, at: Timestamp, plan_digest: &str) -> Event {
        Event::new(
            EventId::new("start"),
            at,
            What::RolloutStarted {
                who: who.to_string(),
                cluster: plan.cluster.name.clone(),
                environment: plan.cluster.environment.as_str().to_string(),
                from: plan.from.clone(),
                to: plan.target.clone(),
                plan_digest: plan_digest.to_string(),
            },
        )
    }

    fn step(&self, id: &StepId) -> SentStep {
        SentStep {
            id: id.to_string(),
            label: self.labels.get(id).cloned().unwrap_or_else(|| id.to_string()),
        }
    }

    /// Whether the verdict was sent: nothing follows it.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The events `e` comes to, given what the screen showed when it was written.
    pub fn events(&mut self, e: &Entry, seen: &Seen) -> Vec<Event> {
        let id = EventId::from_journal(e.seq);
        let mut out = Vec::new();
        match &e.what {
            Journaled::Decision {
                step, decision, reason, ..
            } => match (decision, step) {
                (d, Some(Subject::Gate(g))) if d.passes_gate() => {
                    let criteria = seen
                        .gate
                        .as_ref()
                        .filter(|v| v.id == *g)
                        .map(|v| v.criteria.iter().map(sent).collect())
                        .unwrap_or_default();
                    let title = seen
                        .gate
                        .as_ref()
                        .filter(|v| v.id == *g)
                        .map_or_else(|| format!("before {}", self.step(&g.step).label), |v| v.title.clone());
                    let decision = match d {
                        Decision::Override => GateDecision::Override,
                        Decision::AutoProceed => GateDecision::AutoProceed,
                        _ => GateDecision::Proceed,
                    };
                    out.push(Event::new(
                        id,
                        e.at,
                        What::GateDecided {
                            gate: title,
                            criteria,
                            decision,
                            who: e.who.clone(),
                            reason: reason.clone(),
                        },
                    ));
                }
                (Decision::Skip, Some(Subject::Step(s))) => {
                    self.skip_reason
                        .insert(s.clone(), (e.who.clone(), reason.clone().unwrap_or_default()));
                }
                (Decision::Pause, _) => out.push(Event::new(
                    id,
                    e.at,
                    What::Paused {
                        who: e.who.clone(),
                        reason: reason.clone(),
                    },
                )),
                (Decision::Resume, _) => out.push(Event::new(id, e.at, What::Resumed { who: e.who.clone() })),
                (Decision::Abort, _) => {
                    out.push(Event::new(
                        id,
                        e.at,
                        What::Aborted {
                            who: e.who.clone(),
                            reason: reason.clone(),
                        },
                    ));
                    self.finished = true;
                    out.push(Event::new(
                        EventId::from_journal_part(e.seq, "verdict"),
                        e.at,
                        What::Finished {
                            verdict: Verdict::Aborted { reason: reason.clone() },
                        },
                    ));
                }
                _ => {}
            },
            Journaled::Step { step, state } => match state {
                StepState::Running if !self.started.contains_key(step) => {
                    self.started.insert(step.clone(), e.at);
                    out.push(Event::new(id, e.at, What::StepStarted { step: self.step(step) }));
                }
                StepState::Done => {
                    let took = self
                        .started
                        .get(step)
                        .map(|t| e.at.duration_since(*t).as_secs().max(0) as u64);
                    out.push(Event::new(
                        id,
                        e.at,
                        What::StepDone {
                            step: self.step(step),
                            took_seconds: took,
                        },
                    ));
                    if *step == StepId::Postflight && !self.finished {
                        self.finished = true;
                        let verdict = if self.problems.is_empty() {
                            Verdict::Done
                        } else {
                            Verdict::DoneWithProblems {
                                problems: self.problems.clone(),
                            }
                        };
                        out.push(Event::new(
                            EventId::from_journal_part(e.seq, "verdict"),
                            e.at,
                            What::Finished { verdict },
                        ));
                    }
                }
                StepState::Skipped => {
                    let (who, reason) = self
                        .skip_reason
                        .remove(step)
                        .unwrap_or_else(|| (e.who.clone(), String::new()));
                    out.push(Event::new(
                        id,
                        e.at,
                        What::StepSkipped {
                            step: self.step(step),
                            who,
                            reason,
                        },
                    ));
                }
                StepState::Pending | StepState::Gate | StepState::Running | StepState::Failed | StepState::Aborted => {}
            },
            Journaled::Event {
                level,
                object,
                reason,
                message,
            } => match reason.as_str() {
                STEP_FAILED => {
                    let step = StepId::parse(object).unwrap_or_default();
                    let what_to_do = match &seen.phase {
                        Phase::Failed { what_to_do, .. } => what_to_do.clone(),
                        _ => String::new(),
                    };
                    let why = match message.strip_suffix(&format!(". {what_to_do}")) {
                        Some(w) if !what_to_do.is_empty() => w.to_string(),
                        _ => message.clone(),
                    };
                    out.push(Event::new(
                        id,
                        e.at,
                        What::StepFailed {
                            step: self.step(&step),
                            why,
                            what_to_do,
                        },
                    ));
                }
                DRAIN_HELD => {
                    let (node, budget) = match &seen.phase {
                        Phase::Held { node, why, .. } => (node.clone(), Some(why.clone())),
                        _ => (String::new(), Some(message.clone())),
                    };
                    let step = self
                        .started
                        .keys()
                        .max_by_key(|k| self.started[*k])
                        .map(|s| self.step(s));
                    out.push(Event::new(
                        id,
                        e.at,
                        What::Held {
                            hold: HoldKind::DrainHeld,
                            step,
                            node,
                            pod: Some(object.strip_prefix("Pod/").unwrap_or(object).to_string()),
                            budget,
                            since: e.at,
                        },
                    ));
                }
                OPEN_PROBLEM if *level >= Level::Warning => self.problems.push(message.clone()),
                _ => {}
            },
            Journaled::Verdict { problems } => self.problems = problems.clone(),
            Journaled::Action { .. }
            | Journaled::Result { .. }
            | Journaled::Header(_)
            | Journaled::Drive { .. }
            | Journaled::Baseline { .. }
            | Journaled::Accept { .. } => {}
        }
        out
    }
}

fn sent(c: &Criterion) -> SentCriterion {
    SentCriterion {
        name: c.name.clone(),
        ok: c.ok,
        detail: c.detail.clone(),
    }
}
