//! Where a rollout stands, folded from its events: what the Slack thread's parent
//! message shows and what every payload names as its rollout. Every event sent is
//! folded in, even one already delivered before a resume or dropped from a full queue,
//! so the parent message always tells the current state.

use jiff::Timestamp;
use serde::Serialize;

use super::event::{Event, Verdict, What};

/// The rollout's state as far as its thread is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// No event yet.
    #[default]
    NotStarted,
    Running,
    Paused,
    /// A drain held or a step stalled past the threshold.
    Held,
    /// A step failed; the operator decides.
    StepFailed,
    Aborting,
    Done,
    DoneWithProblems,
    Aborted,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::NotStarted => "not started",
            Stage::Running => "running",
            Stage::Paused => "paused",
            Stage::Held => "held",
            Stage::StepFailed => "step failed",
            Stage::Aborting => "aborting",
            Stage::Done => "done",
            Stage::DoneWithProblems => "done with open problems",
            Stage::Aborted => "aborted",
        }
    }

    pub fn finished(self) -> bool {
        matches!(self, Stage::Done | Stage::DoneWithProblems | Stage::Aborted)
    }
}

/// The rollout, summed up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub cluster: Option<String>,
    pub environment: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub plan_digest: Option<String>,
    /// Who drives now (changes on a take-over).
    pub driver: Option<String>,
    pub stage: Stage,
    /// The label of the step being run or waited on.
    pub current_step: Option<String>,
    pub steps_done: u32,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    /// The last event's headline and time.
    pub last: Option<String>,
    pub last_at: Option<Timestamp>,
    /// The verdict's open problems.
    pub open_problems: Vec<String>,
}

impl Summary {
    /// Folds one event in.
    pub fn apply(&mut self, e: &Event) {
        match &e.what {
            What::RolloutStarted {
                who,
                cluster,
                environment,
                from,
                to,
                plan_digest,
            } => {
                self.cluster = Some(cluster.clone());
                self.environment = Some(environment.clone());
                self.from = Some(from.clone());
                self.to = Some(to.clone());
                self.plan_digest = Some(plan_digest.clone());
                self.driver = Some(who.clone());
                self.started.get_or_insert(e.at);
                self.stage = Stage::Running;
            }
            What::GateDecided { .. } => self.set_running(),
            What::StepStarted { step } => {
                self.current_step = Some(step.label.clone());
                self.set_running();
            }
            What::StepDone { step, .. } | What::StepSkipped { step, .. } => {
                self.steps_done += 1;
                if self.current_step.as_deref() == Some(step.label.as_str()) {
                    self.current_step = None;
                }
                self.set_running();
            }
            What::StepFailed { step, .. } => {
                self.current_step = Some(step.label.clone());
                if !self.stage.finished() {
                    self.stage = Stage::StepFailed;
                }
            }
            What::Held { .. } => {
                if !self.stage.finished() {
                    self.stage = Stage::Held;
                }
            }
            What::Paused { .. } => {
                if !self.stage.finished() {
                    self.stage = Stage::Paused;
                }
            }
            What::Resumed { .. } => self.set_running(),
            What::Aborted { .. } => {
                if !self.stage.finished() {
                    self.stage = Stage::Aborting;
                }
            }
            What::TookOver { to, .. } => self.driver = Some(to.clone()),
            What::Finished { verdict } => {
                self.finished = Some(e.at);
                self.current_step = None;
                match verdict {
                    Verdict::Done => {
                        self.stage = Stage::Done;
                        self.open_problems.clear();
                    }
                    Verdict::DoneWithProblems { problems } => {
                        self.stage = Stage::DoneWithProblems;
                        self.open_problems = problems.clone();
                    }
                    Verdict::Aborted { .. } => self.stage = Stage::Aborted,
                }
            }
        }
        if self.started.is_none() {
            self.started = Some(e.at);
        }
        self.last = Some(e.headline());
        self.last_at = Some(e.at);
    }

    fn set_running(&mut self) {
        if !self.stage.finished() {
            self.stage = Stage::Running;
        }
    }

    /// "Upgrade of demo: 1.30 → 1.31" (plain text).
    pub fn title(&self) -> String {
        let cluster = self.cluster.as_deref().unwrap_or("cluster");
        match (&self.from, &self.to) {
            (Some(from), Some(to)) => format!("Upgrade of {cluster}: {from} → {to}"),
            _ => format!("Upgrade of {cluster}"),
        }
    }

    /// "running: step node group apps" (plain text).
    pub fn status(&self) -> String {
        match (&self.current_step, self.stage.finished()) {
            (Some(step), false) => format!("{}: step {step}", self.stage.as_str()),
            _ => self.stage.as_str().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::{EventId, Step};

    fn ev(n: i64, what: What) -> Event {
        Event::new(
            EventId::new(format!("j{n}")),
            Timestamp::from_second(1_800_000_000 + n).expect("valid"),
            what,
        )
    }

    fn step(label: &str) -> Step {
        Step {
            id: label.into(),
            label: label.into(),
        }
    }

    #[test]
    fn folds_a_rollout_into_its_current_state() {
        let mut s = Summary::default();
        s.apply(&ev(
            1,
            What::RolloutStarted {
                who: "ana@laptop".into(),
                cluster: "demo".into(),
                environment: "production".into(),
                from: "1.30".into(),
                to: "1.31".into(),
                plan_digest: "sha256:ab".into(),
            },
        ));
        assert_eq!(s.title(), "Upgrade of demo: 1.30 → 1.31");
        s.apply(&ev(
            2,
            What::StepStarted {
                step: step("control plane"),
            },
        ));
        assert_eq!(s.status(), "running: step control plane");
        s.apply(&ev(
            3,
            What::TookOver {
                from: "ana@laptop".into(),
                to: "bo@desk".into(),
            },
        ));
        assert_eq!(s.driver.as_deref(), Some("bo@desk"));
        s.apply(&ev(
            4,
            What::StepDone {
                step: step("control plane"),
                took_seconds: Some(900),
            },
        ));
        assert_eq!(s.steps_done, 1);
        assert_eq!(s.current_step, None);
        s.apply(&ev(
            5,
            What::Finished {
                verdict: Verdict::DoneWithProblems {
                    problems: vec!["shop/cart 1/3 ready".into()],
                },
            },
        ));
        assert_eq!(s.stage, Stage::DoneWithProblems);
        assert_eq!(s.open_problems, ["shop/cart 1/3 ready"]);
        // Nothing after the verdict reopens the rollout.
        s.apply(&ev(6, What::Resumed { who: "bo@desk".into() }));
        assert_eq!(s.stage, Stage::DoneWithProblems);
    }
}
