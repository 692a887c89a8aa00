//! From journal entries to a [`Report`]: one pass over the entries, in order.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Exception, FailureLine, GateLine, HandoverLine, HeldDrain, Loaded, Numbers, Outcome, Report, StepLine,
    TimelineLine, clock, duration,
};
use crate::model::journal::{Decision, Entry, StepId, StepState, Subject, What};
use crate::model::{Level, Timestamp};

/// Kubernetes-side actions the drain journals, by the words the steps write.
const CORDON: &str = "cordon";
const EVICT: &str = "evict";
const DELETE_POD: &str = "delete-pod";
const TERMINATE: &str = "terminate-instance";
const UPDATE_CLUSTER: &str = "update-cluster-version";
/// The event reasons the report reads.
const DRAIN_HELD: &str = "DrainHeld";
const STEP_FAILED: &str = "StepFailed";
/// A verdict's open problem, one event each, as the postflight journals them.
const OPEN_PROBLEM: &str = "OpenProblem";
/// EKS control plane updates typically take 10 to 25 minutes (Amazon EKS user guide,
/// "Update existing cluster to new Kubernetes version"); longer is worth a look.
const CONTROL_PLANE_TYPICAL_MAX_SECONDS: i64 = 25 * 60;
/// Who the journal names for what upshift did on its own.
const UPSHIFT: &str = "upshift";

impl Report {
    /// The report of the journal `journal` (its path, as shown) read into `loaded`.
    pub fn from_entries(journal: &str, loaded: &Loaded) -> Report {
        let entries = &loaded.entries;
        let mut b = Builder::default();
        for e in entries {
            b.take(e);
        }
        let mut notes = Vec::new();
        if loaded.torn_tail {
            notes.push(
                "the journal's last line is cut short: a drive is still writing it, or stopped in the middle of a write"
                    .to_string(),
            );
        }
        if !loaded.unknown.is_empty() {
            notes.push(format!(
                "{} entr{} of a kind this upshift does not know (a newer version wrote them) left out: line{} {}",
                loaded.unknown.len(),
                if loaded.unknown.len() == 1 { "y" } else { "ies" },
                if loaded.unknown.len() == 1 { "" } else { "s" },
                join_numbers(&loaded.unknown)
            ));
        }
        b.finish(journal, entries, notes)
    }
}

fn join_numbers(n: &[usize]) -> String {
    let shown: Vec<String> = n.iter().take(10).map(|n| n.to_string()).collect();
    let more = n.len().saturating_sub(10);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[derive(Default)]
struct Builder {
    cluster: Option<String>,
    target: Option<String>,
    operators: Vec<String>,
    steps: Vec<StepLine>,
    gates: Vec<GateLine>,
    exceptions: Vec<Exception>,
    handovers: Vec<HandoverLine>,
    drains: Vec<HeldDrain>,
    failures: Vec<FailureLine>,
    numbers: Numbers,
    cordoned: BTreeSet<String>,
    /// Actions journaled with no result yet: (step, action, target).
    open_actions: BTreeMap<(String, String, String), u64>,
    aborted: Option<(String, Option<String>)>,
    problems: Vec<String>,
    /// A verdict was journaled: the rollout ended.
    verdict: bool,
    /// When the last step ended, for how long the next gate stood open.
    last_end: Option<Timestamp>,
    /// The last result journaled in each step: a gate between batches opens when
    /// the batch before it is done.
    last_result: BTreeMap<String, Timestamp>,
    timeline: Vec<TimelineLine>,
    /// Drive processes that wrote the journal: more than one means it was resumed.
    drives: usize,
    /// What overrides accepted, by name, at which gate.
    accepted: Vec<String>,
}

impl Builder {
    fn step_mut(&mut self, id: &StepId) -> &mut StepLine {
        let name = id.to_string();
        if let Some(i) = self.steps.iter().position(|s| s.step == name) {
            return &mut self.steps[i];
        }
        self.steps.push(StepLine {
            step: name,
            state: StepState::Pending.as_str().into(),
            started: None,
            ended: None,
            seconds: None,
            failures: 0,
            retries: 0,
            driven_by: Vec::new(),
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn line(&mut self, e: &Entry, text: String, notable: bool) {
        self.timeline.push(TimelineLine {
            seq: e.seq,
            at: e.at,
            who: e.who.clone(),
            text,
            notable,
        });
    }

    fn take(&mut self, e: &Entry) {
        match &e.what {
            What::Decision {
                step,
                decision,
                reason,
                target,
            } => self.decision(e, step.as_ref(), *decision, reason.as_deref(), target.as_deref()),
            What::Action { step, action, target } => {
                self.numbers.actions += 1;
                self.open_actions
                    .insert((step.to_string(), action.clone(), target.clone()), e.seq);
                match action.as_str() {
                    CORDON => {
                        self.cordoned.insert(target.clone());
                    }
                    UPDATE_CLUSTER => self.target = Some(target.clone()),
                    _ => {}
                }
                if ![CORDON, EVICT, DELETE_POD].contains(&action.as_str()) {
                    self.line(e, format!("{step}: {action} {target}"), false);
                }
            }
            What::Result {
                step,
                action,
                target,
                ok,
                detail,
            } => {
                self.open_actions
                    .remove(&(step.to_string(), action.clone(), target.clone()));
                self.last_result.insert(step.to_string(), e.at);
                if !ok {
                    self.numbers.failed_actions += 1;
                }
                match (action.as_str(), ok) {
                    (EVICT, true) => {
                        self.numbers.pods_evicted += 1;
                        self.release(target, format!("evicted at {}", clock(e.at)), e.at);
                    }
                    (DELETE_POD, true) => self.numbers.pods_deleted += 1,
                    (TERMINATE, true) => self.numbers.instances_terminated += 1,
                    _ => {}
                }
                let quiet = [CORDON, EVICT, DELETE_POD].contains(&action.as_str()) && *ok;
                if !quiet {
                    let how = if *ok { "ok" } else { "FAILED" };
                    let detail = if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    };
                    self.line(e, format!("{step}: {action} {target} {how}{detail}"), !ok);
                }
            }
            What::Step { step, state } => {
                let at = e.at;
                let s = self.step_mut(step);
                s.state = state.as_str().into();
                if e.who != UPSHIFT && !s.driven_by.contains(&e.who) {
                    s.driven_by.push(e.who.clone());
                }
                match state {
                    StepState::Running if s.started.is_none() => s.started = Some(at),
                    StepState::Done | StepState::Skipped | StepState::Aborted => {
                        s.ended = Some(at);
                        s.seconds = s.started.map(|b| at.duration_since(b).as_secs());
                    }
                    _ => {}
                }
                if matches!(state, StepState::Done | StepState::Skipped) {
                    self.last_end = Some(at);
                }
                let notable = matches!(state, StepState::Failed | StepState::Skipped | StepState::Aborted);
                self.line(e, format!("{step} {state}"), notable);
            }
            What::Event {
                level,
                object,
                reason,
                message,
            } => self.event(e, *level, object, reason, message),
            What::Header(h) => {
                // the ARN's last part is the cluster's name
                let name = h.cluster.rsplit('/').next().unwrap_or(&h.cluster).to_string();
                self.cluster.get_or_insert(name);
                self.target.get_or_insert_with(|| h.target.clone());
                self.line(
                    e,
                    format!("journal of {} for {}, plan {}", h.cluster, h.target, h.plan),
                    false,
                );
            }
            What::Drive { id } => {
                self.drives += 1;
                self.line(e, format!("drive {id} began writing"), false);
            }
            What::Baseline { baseline } => self.line(
                e,
                format!(
                    "baseline: {} pods in error, {} workloads not fully available, {} Services without endpoints",
                    baseline.pod_errors,
                    baseline.unavailable.len(),
                    baseline.services_down.len()
                ),
                false,
            ),
            What::Accept { gate, items, reason } => {
                let named: Vec<&str> = items.iter().map(|i| i.item.as_str()).collect();
                self.accepted
                    .push(format!("{gate}: {} accepted by {}: {reason}", named.join(", "), e.who));
                self.line(e, format!("accepted at {gate}: {}: {reason}", named.join(", ")), true);
            }
            What::Verdict { problems } => {
                self.verdict = true;
                self.problems = problems.clone();
                let text = if problems.is_empty() {
                    "verdict: done, no open problem".to_string()
                } else {
                    format!(
                        "verdict: {}: {}",
                        crate::model::rollout::open_problems(problems.len()),
                        problems.join("; ")
                    )
                };
                self.line(e, text, !problems.is_empty());
            }
        }
    }

    fn decision(
        &mut self,
        e: &Entry,
        subject: Option<&Subject>,
        decision: Decision,
        reason: Option<&str>,
        target: Option<&str>,
    ) {
        if !self.operators.contains(&e.who) && e.who != UPSHIFT {
            self.operators.push(e.who.clone());
        }
        if decision == Decision::ConfirmCluster {
            self.cluster = target.map(str::to_string);
        }
        if decision == Decision::Handover {
            self.handovers.push(HandoverLine {
                at: e.at,
                from: e.who.clone(),
                to: target.unwrap_or_default().to_string(),
            });
        }
        // a gate passed by hand of a step under way: one more who drove it
        if let Some(Subject::Gate(g)) = subject
            && decision.passes_gate()
            && e.who != UPSHIFT
            && let Some(s) = self.steps.iter_mut().find(|s| s.step == g.step.to_string())
            && !s.driven_by.contains(&e.who)
        {
            s.driven_by.push(e.who.clone());
        }
        if decision == Decision::Abort {
            self.aborted = Some((e.who.clone(), reason.map(str::to_string)));
        }
        if decision == Decision::Resume {
            // a resume after an abort starts the rollout again
            self.aborted = None;
        }
        if decision == Decision::Retry
            && let Some(Subject::Step(id)) = subject
        {
            self.step_mut(id).retries += 1;
        }
        if let Some(Subject::Gate(g)) = subject
            && decision.passes_gate()
        {
            let opened = match g.batch {
                Some(_) => self.last_result.get(&g.step.to_string()).copied().or(self.last_end),
                None => self.last_end,
            };
            self.gates.push(GateLine {
                gate: g.to_string(),
                at: e.at,
                decision: decision.as_str().into(),
                who: e.who.clone(),
                reason: reason.map(str::to_string),
                waited_seconds: opened.map(|t| e.at.duration_since(t).as_secs()),
            });
        }
        if decision.is_warning() {
            self.exceptions.push(Exception {
                at: e.at,
                who: e.who.clone(),
                decision: decision.as_str().into(),
                subject: subject.map_or_else(|| "the rollout".into(), ToString::to_string),
                target: target.map(str::to_string),
                reason: reason.map(str::to_string),
            });
        }
        match decision {
            Decision::DeletePod | Decision::SkipNode | Decision::KeepWaiting => {
                if let Some(t) = target {
                    let how = match reason {
                        Some(r) => format!("{} by {}: {r}", decision.as_str(), e.who),
                        None => format!("{} by {}", decision.as_str(), e.who),
                    };
                    if decision != Decision::KeepWaiting {
                        self.release(t, how, e.at);
                    }
                }
            }
            _ => {}
        }
        let about = subject.map_or_else(String::new, |s| format!(" {s}"));
        let on = target.map_or_else(String::new, |t| format!(" ({t})"));
        let why = reason.map_or_else(String::new, |r| format!(": {r}"));
        self.line(
            e,
            format!("{}{about}{on}{why}", decision.as_str()),
            decision.is_warning(),
        );
    }

    fn event(&mut self, e: &Entry, level: Level, object: &str, reason: &str, message: &str) {
        match reason {
            DRAIN_HELD => {
                let pod = object.strip_prefix("Pod/").unwrap_or(object).to_string();
                let step = self
                    .steps
                    .iter()
                    .rev()
                    .find(|s| s.started.is_some() && s.ended.is_none())
                    .map_or_else(String::new, |s| s.step.clone());
                self.drains.push(HeldDrain {
                    step,
                    pod,
                    since: e.at,
                    message: message.to_string(),
                    released: "still held".into(),
                });
            }
            STEP_FAILED => {
                if let Some(id) = StepId::parse(object) {
                    self.step_mut(&id).failures += 1;
                }
                self.failures.push(FailureLine {
                    at: e.at,
                    step: object.to_string(),
                    message: message.to_string(),
                });
            }
            OPEN_PROBLEM => self.problems.push(message.to_string()),
            _ => {}
        }
        let notable = level >= Level::Warning;
        let object = if object.is_empty() {
            String::new()
        } else {
            format!("{object} ")
        };
        self.line(e, format!("{object}{reason}: {message}"), notable);
    }

    /// A held drain's pod (or node) let go.
    fn release(&mut self, target: &str, how: String, at: Timestamp) {
        for d in self.drains.iter_mut().filter(|d| d.released == "still held") {
            if d.pod == target || d.message.contains(target) {
                d.released = format!("{how} (held {})", duration(at.duration_since(d.since).as_secs()));
            }
        }
    }

    fn finish(mut self, journal: &str, entries: &[Entry], notes: Vec<String>) -> Report {
        self.numbers.nodes_cordoned = self.cordoned.len();
        self.numbers.in_doubt = self.open_actions.len();
        // the verdict ends a rollout (postflight's, or the drive's for a plan without one)
        let postflight_done = self.verdict
            || self
                .steps
                .iter()
                .any(|s| s.step == StepId::Postflight.to_string() && s.state == StepState::Done.as_str());
        let outcome = if let Some((who, reason)) = self.aborted.clone() {
            Outcome::Aborted { who, reason }
        } else if postflight_done && self.problems.is_empty() {
            Outcome::Done
        } else if postflight_done {
            Outcome::DoneWithProblems {
                problems: self.problems.clone(),
            }
        } else {
            let cur = self
                .steps
                .iter()
                .rev()
                .find(|s| s.state != StepState::Done.as_str() && s.state != StepState::Skipped.as_str())
                .or(self.steps.last());
            match cur {
                Some(s) => Outcome::InProgress {
                    step: s.step.clone(),
                    state: s.state.clone(),
                },
                None => Outcome::InProgress {
                    step: "none begun".into(),
                    state: StepState::Pending.as_str().into(),
                },
            }
        };
        let anomalies = self.anomalies();
        Report {
            journal: journal.to_string(),
            cluster: self.cluster,
            target: self.target,
            operators: self.operators,
            started: entries.first().map(|e| e.at),
            last_entry: entries.last().map(|e| e.at),
            outcome,
            steps: self.steps,
            gates: self.gates,
            exceptions: self.exceptions,
            handovers: self.handovers,
            drains: self.drains,
            failures: self.failures,
            numbers: self.numbers,
            anomalies,
            notes,
            timeline: self.timeline,
        }
    }

    fn anomalies(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in self.gates.iter().filter(|g| g.decision == Decision::Override.as_str()) {
            out.push(format!(
                "{} was passed while red, by {}: {}",
                g.gate,
                g.who,
                g.reason.as_deref().unwrap_or("no reason journaled")
            ));
        }
        for s in &self.steps {
            if s.state == StepState::Skipped.as_str() {
                out.push(format!(
                    "{} was skipped: the cluster may not be where the plan meant it to be",
                    s.step
                ));
            }
            if s.step == StepId::ControlPlane.to_string()
                && let Some(secs) = s.seconds
                && secs > CONTROL_PLANE_TYPICAL_MAX_SECONDS
            {
                out.push(format!(
                    "the control plane took {}, longer than EKS's typical 10 to 25 minutes",
                    duration(secs)
                ));
            }
            if s.failures > 0 && s.state == StepState::Done.as_str() {
                out.push(format!(
                    "{} failed {} time{} before it was done ({} retr{})",
                    s.step,
                    s.failures,
                    if s.failures == 1 { "" } else { "s" },
                    s.retries,
                    if s.retries == 1 { "y" } else { "ies" }
                ));
            }
        }
        for d in self.drains.iter().filter(|d| d.released == "still held") {
            out.push(format!("the drain of {} is still held by {}", d.step, d.pod));
        }
        for a in &self.accepted {
            out.push(format!("accepted while red at {a}"));
        }
        if self.drives > 1 {
            out.push(format!(
                "{} drive processes wrote this journal: the rollout was resumed {} time{}",
                self.drives,
                self.drives - 1,
                if self.drives == 2 { "" } else { "s" }
            ));
        }
        if self.numbers.in_doubt > 0 {
            out.push(format!(
                "{} action{} journaled with no result: the drive stopped before it knew how {} ended",
                self.numbers.in_doubt,
                if self.numbers.in_doubt == 1 { "" } else { "s" },
                if self.numbers.in_doubt == 1 { "it" } else { "they" }
            ));
        }
        out
    }
}
