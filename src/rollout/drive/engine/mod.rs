//! The drive's task: one loop over the lead's commands and a turn every poll. It
//! keeps where the rollout stands (its [`Phase`], a pause, the current step and the
//! open gate), journals every decision before acting on it, calls the current step
//! once a turn, and publishes the state when it changed. What a command comes to is
//! decided in `decide`; what a gate sees, in `gate`; calling the step, in `step`.

mod step;
mod window;

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use super::decide::{self, Situation, Then, Verdict};
use super::gate::{self, AlarmReading};
use super::{Drive, DriveError, publish, resume};
use crate::model::baseline::Baseline;
use crate::model::journal::{Decision, Entry, GateId, StepId, StepState, Subject, What};
use crate::model::rollout::{Command, GateView, GroupProgress, Phase, Published, RolloutState};
use crate::model::{Health, Level};
use crate::rollout::journal::JournalError;
use crate::rollout::lock::LockError;
use crate::rollout::plan::{GroupType, Step};
use crate::rollout::steps::{self, StepCtx, StepError, UPSHIFT};

/// The verdict's open problem when the plan has no postflight step.
pub const NOT_CHECKED: &str =
    "not checked after the rollout: the plan has no postflight step (add `- postflight` as its last step)";

/// The drive's ends of the channels to the cockpit and the publisher.
pub(super) struct Channels {
    pub health: watch::Receiver<Health>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub state_tx: watch::Sender<RolloutState>,
    pub entries_tx: mpsc::UnboundedSender<Entry>,
    pub publish_tx: Option<watch::Sender<Arc<Published>>>,
}

pub(super) struct Engine {
    d: Drive,
    io: Channels,
    /// Journal entries already sent to the cockpit.
    sent: usize,
    /// What is published (its phase is [`Engine::published_phase`]).
    state: RolloutState,
    /// Where the drive stands; a pause is `paused`, not a phase.
    phase: Phase,
    paused: bool,
    /// Index of the current step in the plan.
    cur: usize,
    /// The gate last opened.
    gate_id: GateId,
    /// The open gate also looks at the budgets that would block a drain.
    gate_drains: bool,
    green_since: Option<Timestamp>,
    /// Pods in error when the rollout began.
    baseline: usize,
    /// The cluster when the rollout began: taken at the first gate with a synced view.
    start: Option<Baseline>,
    /// What overrides accepted, with who and why.
    accepted: Vec<gate::Acceptance>,
    /// The open gate is before this managed node group's update.
    gate_managed: Option<String>,
    alarms: AlarmReading,
    alarms_at: Option<Instant>,
    renewed: Instant,
    /// A transient cloud error: not before then.
    retry_at: Option<Instant>,
    /// What a `nodepool` step's gate also judges, and when it was read.
    extra: Vec<crate::model::rollout::Criterion>,
    extra_at: Option<Instant>,
    /// The lead asked to stop at the next safe point.
    stopping: bool,
    /// The lead handed the drive over: it stops now.
    handed_over: bool,
    /// The window's end was journaled as near.
    warned: bool,
}

impl Drive {
    /// What a step's reconciler is called with.
    fn step_ctx<'a>(&'a mut self, now: &'a (dyn Fn() -> Timestamp + Send + Sync)) -> StepCtx<'a> {
        StepCtx {
            cloud: self.cloud.as_ref(),
            cluster: &self.plan.cluster.name,
            target: &self.plan.target,
            journal: &mut self.journal,
            who: &self.who,
            now,
            client: Some(self.client.clone()),
            group: GroupProgress::default(),
            drain: self.plan.drain.clone(),
        }
    }
}

impl Engine {
    pub(super) fn new(d: Drive, io: Channels) -> Engine {
        Engine {
            d,
            io,
            sent: 0,
            state: RolloutState::default(),
            phase: Phase::Starting,
            paused: false,
            cur: 0,
            gate_id: GateId::default(),
            gate_drains: false,
            green_since: None,
            baseline: 0,
            start: None,
            accepted: Vec::new(),
            gate_managed: None,
            alarms: AlarmReading::default(),
            alarms_at: None,
            renewed: Instant::now(),
            retry_at: None,
            extra: Vec::new(),
            extra_at: None,
            stopping: false,
            handed_over: false,
            warned: false,
        }
    }

    pub(super) async fn run(mut self) -> Result<RolloutState, DriveError> {
        let result = self.drive().await;
        if let Err(e) = &result {
            // say it on the lead's screen: the drive no longer acts
            self.state.notice = Some(format!("the drive stopped: {e}"));
            let _ = self.io.entries_tx.send(Entry {
                seq: 0,
                at: (self.d.now)(),
                who: self.d.who.clone(),
                what: What::Event {
                    level: Level::Error,
                    object: String::new(),
                    reason: "DriveStopped".into(),
                    message: format!(
                        "the drive stopped: {e}. Nothing more is done; run the same command again to resume"
                    ),
                },
            });
            self.io.state_tx.send_replace(self.state.clone());
        }
        result
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Aborted { .. })
    }

    async fn drive(&mut self) -> Result<RolloutState, DriveError> {
        self.begin()?;
        self.begin_window()?;
        self.publish();
        let mut tick = tokio::time::interval(self.d.options.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = self.io.commands.recv() => match cmd {
                    Some(Command::Stop { reason }) => {
                        let message = format!("{reason}: the drive stopped here; run the same command again to resume");
                        self.journal_event(Level::Warning, "", resume::STOPPED, message)?;
                        break;
                    }
                    Some(c) => self.command(c).await?,
                    // the cockpit is gone: stop here; running the command again resumes
                    None => break,
                },
                _ = tick.tick() => self.turn().await?,
            }
            self.publish();
            if self.finished() || self.stop_here().await? {
                break;
            }
        }
        if self.phase == Phase::Done {
            let mut lines = Vec::new();
            self.restore_budgets(&mut lines).await?;
            if !lines.is_empty() {
                self.state.notice = Some(lines.join("; "));
                self.publish();
            }
        }
        if self.finished()
            && let Some(lock) = self.d.lock.take()
        {
            lock.release().await?;
        }
        // let the publisher write the last state
        drop(self.io.publish_tx.take());
        Ok(self.state.clone())
    }

    fn journal_decision(
        &mut self,
        about: Option<Subject>,
        decision: Decision,
        target: Option<String>,
        reason: Option<String>,
    ) -> Result<(), JournalError> {
        let who = if decision == Decision::AutoProceed {
            UPSHIFT.to_string()
        } else {
            self.d.who.clone()
        };
        let at = (self.d.now)();
        self.d.journal.append(
            &who,
            at,
            What::Decision {
                step: about,
                decision,
                target,
                reason,
            },
        )?;
        Ok(())
    }

    fn journal_event(&mut self, level: Level, object: &str, reason: &str, message: String) -> Result<(), JournalError> {
        let at = (self.d.now)();
        self.d.journal.append(
            &self.d.who,
            at,
            What::Event {
                level,
                object: object.into(),
                reason: reason.into(),
                message,
            },
        )?;
        Ok(())
    }

    fn journal_step(&mut self, step: &StepId, state: StepState) -> Result<(), JournalError> {
        let at = (self.d.now)();
        self.d.journal.set_step_state(&self.d.who, at, step, state)
    }

    /// The decision that passed gate `id` since the last abort, if any: (who, decision, reason).
    fn gate_decision(&self, id: &GateId) -> Option<(String, Decision, Option<String>)> {
        let e = self.d.journal.gate_decision(id)?;
        match &e.what {
            What::Decision { decision, reason, .. } => Some((e.who.clone(), *decision, reason.clone())),
            _ => None,
        }
    }

    /// Where the rollout stands, for `decide`; `window` is the window's phrase now.
    fn situation<'a>(&'a self, window: Option<&'a str>) -> Situation<'a> {
        let step = self.state.steps.get(self.cur);
        Situation {
            who: &self.d.who,
            window,
            stopping: self.stopping,
            phase: &self.phase,
            paused: self.paused,
            cluster: &self.d.plan.cluster.name,
            step: step.map(|s| &s.id),
            gate: self.state.gate.as_ref().map(|g| (&self.gate_id, g)),
            group: step.is_some_and(|s| s.group.is_some()),
        }
    }

    /// Reads the journal (`resume`), then opens the first gate, or asks for the
    /// cluster's name.
    fn begin(&mut self) -> Result<(), DriveError> {
        let r = resume::resume(&self.d.plan, &self.d.journal, &self.d.who, (self.d.now)());
        self.state = r.state;
        self.paused = r.paused;
        self.baseline = r.baseline;
        self.start = r.start;
        self.accepted = r.accepted;
        self.cur = r.cur;
        if r.confirm {
            self.phase = Phase::ConfirmCluster;
            self.state.current = Some(self.cur);
        } else {
            self.enter_step()?;
        }
        Ok(())
    }

    /// Opens the current step: at its gate, or running if its gate was passed.
    fn enter_step(&mut self) -> Result<(), DriveError> {
        if self.cur >= self.state.steps.len() {
            self.phase = Phase::Done;
            self.state.current = None;
            self.state.gate = None;
            return self.verdict_without_postflight();
        }
        self.state.current = Some(self.cur);
        let id = self.state.steps[self.cur].id.clone();
        let gid = GateId::before(id);
        let started = matches!(self.state.steps[self.cur].state, StepState::Running | StepState::Failed);
        if started && self.gate_decision(&gid).is_some() {
            self.phase = Phase::Running;
            self.state.steps[self.cur].state = StepState::Running;
        } else {
            let title = format!("before {}", self.state.steps[self.cur].label);
            let drains = matches!(self.d.plan.steps[self.cur], Step::Nodegroup(_) | Step::Nodepool(_));
            self.open_gate(gid, title, drains);
        }
        Ok(())
    }

    /// A plan without a postflight step still ends on a verdict, once: that nothing
    /// checked the cluster after the rollout is its open problem.
    fn verdict_without_postflight(&mut self) -> Result<(), DriveError> {
        let checked = self.d.plan.steps.iter().any(|s| matches!(s, Step::Postflight));
        let journaled = self
            .d
            .journal
            .entries()
            .iter()
            .any(|e| matches!(e.what, What::Verdict { .. }));
        if checked || journaled {
            return Ok(());
        }
        self.state.problems.push(NOT_CHECKED.to_string());
        let problems = self.state.problems.clone();
        self.d
            .journal
            .append(&self.d.who, (self.d.now)(), What::Verdict { problems })?;
        Ok(())
    }

    fn open_gate(&mut self, id: GateId, title: String, drains: bool) {
        self.gate_managed = match &self.d.plan.steps[self.cur] {
            Step::Nodegroup(g) if g.group_type == GroupType::Managed && id.batch.is_none() => Some(g.name.clone()),
            _ => None,
        };
        self.phase = Phase::Gate;
        self.extra.clear();
        self.extra_at = None;
        self.gate_id = id.clone();
        self.gate_drains = drains;
        self.green_since = None;
        self.state.steps[self.cur].state = match self.state.steps[self.cur].state {
            StepState::Pending | StepState::Aborted => StepState::Gate,
            s => s,
        };
        self.state.gate = Some(GateView {
            id,
            title,
            settle_seconds: self.d.plan.gates.settle_seconds,
            ..Default::default()
        });
        self.judge_gate();
    }

    /// Takes the cluster as it is as the rollout's baseline, once: at the first gate
    /// the cockpit's view is synced. Journaled, so that a resume uses the same one.
    fn take_start(&mut self) -> Result<(), JournalError> {
        if self.start.is_some() {
            return Ok(());
        }
        let health = self.io.health.borrow().clone();
        if !health.synced {
            return Ok(());
        }
        let baseline = Baseline::take(&health);
        let at = (self.d.now)();
        self.d.journal.append(
            &self.d.who,
            at,
            What::Baseline {
                baseline: baseline.clone(),
            },
        )?;
        self.baseline = baseline.pod_errors;
        self.start = Some(baseline);
        Ok(())
    }

    /// Journals what an override at gate `gate` accepts: the red items it names now.
    fn accept(&mut self, gate: GateId, reason: String) -> Result<(), JournalError> {
        let items: Vec<_> = self
            .state
            .gate
            .iter()
            .flat_map(|g| g.criteria.iter())
            .filter(|c| !c.ok)
            .flat_map(|c| {
                if c.items.is_empty() {
                    vec![crate::model::journal::Accepted {
                        item: c.name.clone(),
                        level: 1,
                    }]
                } else {
                    c.items.clone()
                }
            })
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let at = (self.d.now)();
        self.d.journal.append(
            &self.d.who,
            at,
            What::Accept {
                gate,
                items: items.clone(),
                reason: reason.clone(),
            },
        )?;
        self.accepted.extend(items.into_iter().map(|item| gate::Acceptance {
            item,
            who: self.d.who.clone(),
            reason: reason.clone(),
        }));
        Ok(())
    }

    /// Judges the open gate against the latest health.
    fn judge_gate(&mut self) {
        let health = self.io.health.borrow().clone();
        let now = (self.d.now)();
        let criteria = gate::criteria(&gate::GateInput {
            health: &health,
            gates: &self.d.plan.gates,
            baseline: self.baseline,
            alarms: &self.alarms,
            drains: self.gate_drains,
            start: self.start.as_ref(),
            accepted: &self.accepted,
            now,
            managed_group: self.gate_managed.as_deref(),
        });
        let zonal = self.zonal_criterion(&health);
        let window = self.window_criterion(&health, now);
        let criteria: Vec<_> = criteria
            .into_iter()
            .chain(zonal)
            .chain(self.extra.iter().cloned())
            .chain(window)
            .collect();
        self.green_since = gate::green_since(&criteria, self.green_since, now);
        let passable = gate::settled(self.green_since, self.d.plan.gates.settle_seconds, now);
        let decision = self.gate_decision(&self.gate_id).map(|(who, d, reason)| match reason {
            Some(r) => format!("{d} by {who}: {r}"),
            None => format!("{d} by {who}"),
        });
        if let Some(g) = &mut self.state.gate {
            g.criteria = criteria;
            g.green_since = self.green_since;
            g.passable = passable;
            g.decision = decision;
        }
    }

    /// One turn: renew the lease, read alarms, judge the gate or run the step.
    async fn turn(&mut self) -> Result<(), DriveError> {
        if let Some(lock) = &self.d.lock
            && self.renewed.elapsed() >= self.d.options.renew_every
        {
            match lock.renew().await {
                Ok(()) => self.renewed = Instant::now(),
                // someone else drives now: stop at once
                Err(e @ LockError::Lost { .. }) => return Err(e.into()),
                // the API server did not answer: the lease holds a while yet
                Err(e) => self.state.notice = Some(format!("{e}; retrying")),
            }
        }
        if !self.finished() && self.phase != Phase::Aborting {
            self.keep_alive().await?;
        }
        let at_gate = self.phase == Phase::Gate;
        if !self.d.plan.gates.alarms.is_empty()
            && at_gate
            && self
                .alarms_at
                .is_none_or(|t| t.elapsed() >= self.d.options.alarms_every)
        {
            self.read_alarms().await;
        }
        match self.phase {
            Phase::Gate => {
                self.take_start()?;
                self.nodepool_criteria().await;
                self.judge_gate();
                if self.gate_decision(&self.gate_id).is_some() {
                    self.after_gate().await?;
                } else if decide::auto_proceed(&self.situation(None), self.auto_continue()) {
                    self.journal_decision(Some(self.gate_id.clone().into()), Decision::AutoProceed, None, None)?;
                    self.after_gate().await?;
                }
            }
            Phase::Running | Phase::Held { .. }
                if !self.paused && self.retry_at.is_none_or(|t| Instant::now() >= t) =>
            {
                self.run_step().await?;
            }
            _ => {}
        }
        self.watch_window()?;
        Ok(())
    }

    fn auto_continue(&self) -> bool {
        self.state.steps[self.cur]
            .group
            .as_ref()
            .is_some_and(|g| g.auto_continue)
    }

    async fn read_alarms(&mut self) {
        self.alarms_at = Some(Instant::now());
        self.alarms = match self.d.cloud.describe_alarms(None).await {
            Ok(list) => AlarmReading {
                states: list.into_iter().map(|a| (a.name, a.state)).collect(),
                error: None,
            },
            Err(e) => AlarmReading {
                states: Default::default(),
                error: Some(e.to_string()),
            },
        };
    }

    /// The gate was passed: a step begins (its baseline taken), or its next batch.
    async fn after_gate(&mut self) -> Result<(), DriveError> {
        if let Some(g) = &mut self.state.gate {
            g.passable = true;
        }
        self.judge_gate();
        self.phase = Phase::Running;
        if self.gate_id.batch.is_none() {
            // the baseline is the rollout's, taken once: a step's start never becomes the new normal
            let id = self.state.steps[self.cur].id.clone();
            self.journal_step(&id, StepState::Running)?;
            self.state.steps[self.cur].state = StepState::Running;
        }
        self.run_step().await
    }

    /// Takes a command from the lead: what it comes to is `decide`'s; a decision is
    /// journaled before anything follows from it.
    async fn command(&mut self, c: Command) -> Result<(), DriveError> {
        self.state.notice = None;
        if matches!(c, Command::Proceed | Command::Override { .. }) && self.phase == Phase::Gate {
            self.take_start()?;
            self.judge_gate();
        }
        let window = self.window_phrase();
        match decide::command(&self.situation(window.as_deref()), c) {
            Verdict::Nothing => {}
            Verdict::Refuse(why) => self.state.notice = Some(why),
            Verdict::Decide {
                about,
                decision,
                target,
                reason,
                then,
            } => {
                let accepts = match (&about, decision, &reason) {
                    (Some(Subject::Gate(g)), Decision::Override, Some(r)) => Some((g.clone(), r.clone())),
                    _ => None,
                };
                self.journal_decision(about, decision, target, reason)?;
                if let Some((gate, reason)) = accepts {
                    self.accept(gate, reason)?;
                }
                match then {
                    Then::PassGate => self.after_gate().await?,
                    Then::SkipStep => {
                        let id = self.state.steps[self.cur].id.clone();
                        self.journal_step(&id, StepState::Skipped)?;
                        self.state.steps[self.cur].state = StepState::Skipped;
                        self.cur += 1;
                        self.enter_step()?;
                    }
                    Then::Begin => self.enter_step()?,
                    Then::Pause => self.paused = true,
                    Then::Resume => self.paused = false,
                    Then::RunStep => {
                        self.phase = Phase::Running;
                        self.state.steps[self.cur].state = StepState::Running;
                        self.run_step().await?;
                    }
                    Then::Abort => self.abort().await?,
                    Then::AutoContinue(on) => {
                        if let Some(g) = self.state.steps.get_mut(self.cur).and_then(|s| s.group.as_mut()) {
                            g.auto_continue = on;
                        }
                    }
                    Then::StopAtSafePoint => self.stop_at_safe_point(),
                    Then::Handover(to) => self.hand_over(to).await?,
                }
            }
        }
        Ok(())
    }

    /// Stops, leaving the cluster consistent: what the current step started and
    /// must not be left half done is undone. The abort is journaled already.
    async fn abort(&mut self) -> Result<(), DriveError> {
        self.phase = Phase::Aborting;
        self.publish();
        let mut lines = Vec::new();
        if let Some(Step::Nodegroup(g)) = self.d.plan.steps.get(self.cur).cloned() {
            let now = self.d.now.clone();
            let now_fn = move || now();
            let mut ctx = self.d.step_ctx(&now_fn);
            match steps::abort(&mut ctx, &g).await {
                Ok(l) => lines.extend(l),
                Err(StepError::Journal(e)) => return Err(e.into()),
                Err(e) => lines.push(format!("could not undo everything: {e}")),
            }
        }
        if self.restore_budgets(&mut lines).await? {
            // drift is no longer held: a drive run again holds it again before going on
            if let Some(h) = self.state.steps.iter().position(|s| s.id == StepId::DriftHold)
                && h < self.cur
            {
                self.journal_step(&StepId::DriftHold, StepState::Aborted)?;
                self.state.steps[h].state = StepState::Aborted;
            }
        }
        if let Some(v) = self.state.steps.get(self.cur) {
            let id = v.id.clone();
            if matches!(v.state, StepState::Running | StepState::Failed) {
                self.journal_step(&id, StepState::Aborted)?;
                self.state.steps[self.cur].state = StepState::Aborted;
            } else {
                self.state.steps[self.cur].state = StepState::Pending;
            }
        }
        if lines.is_empty() {
            lines.push("nothing was left half done".into());
        }
        self.phase = Phase::Aborted {
            detail: lines.join("; "),
        };
        Ok(())
    }

    /// The phase shown: the drive's own, or paused while a pause holds it.
    fn published_phase(&self) -> Phase {
        let holds = !matches!(self.phase, Phase::Done | Phase::Aborted { .. } | Phase::Aborting);
        if self.paused && holds {
            Phase::Paused
        } else {
            self.phase.clone()
        }
    }

    /// Sends the state to the screen, the ConfigMap, and new journal entries to the log.
    fn publish(&mut self) {
        self.state.phase = self.published_phase();
        if let Some(strip) = &mut self.state.campaign {
            strip.follow(&self.state.phase, self.state.problems.len());
        }
        let entries = self.d.journal.entries();
        let new_entries = entries.len() > self.sent;
        for e in &entries[self.sent..] {
            let _ = self.io.entries_tx.send(e.clone());
        }
        self.sent = entries.len();
        if new_entries {
            self.state.budgets_to_restore = steps::nodepool::held_budgets(&self.d.journal);
        }
        let entries = self.d.journal.entries();
        let changed = {
            let mut probe = self.state.clone();
            probe.updated = self.io.state_tx.borrow().updated;
            probe != *self.io.state_tx.borrow()
        };
        if changed {
            self.state.updated = Some((self.d.now)());
            self.io.state_tx.send_replace(self.state.clone());
        }
        if (changed || new_entries)
            && let Some(tx) = &self.io.publish_tx
        {
            let from = entries.len().saturating_sub(publish::RECENT);
            tx.send_replace(Arc::new(Published {
                state: self.state.clone(),
                recent: entries[from..].to_vec(),
            }));
        }
    }
}
