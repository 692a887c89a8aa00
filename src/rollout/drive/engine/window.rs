//! The drive's side of a maintenance window, of a stop at a safe point and of a
//! handover: the window's criterion at each gate and its warning as the end nears
//! (what they say is `drive::window`'s), stopping once what is under way is done,
//! and leaving the lease to the operator the lead handed the drive to.

use jiff::Timestamp;

use super::super::window::{self, Unit};
use super::super::{DriveError, resume};
use super::Engine;
use crate::model::journal::{Decision, StepId, Subject, What};
use crate::model::rollout::{Criterion, Phase, WindowStatus};
use crate::model::{Health, Level};
use crate::rollout::journal::JournalError;
use crate::rollout::plan::Step;

/// The journal's reason on the note that the window's end is near.
pub const WINDOW_CLOSING: &str = "WindowClosing";

impl Engine {
    /// Shows the campaign strip and the window, and journals a drive outside its
    /// window with the lead's reason, once as it starts.
    pub(super) fn begin_window(&mut self) -> Result<(), DriveError> {
        self.state.campaign = self.d.options.campaign.clone();
        let Some(w) = self.d.options.window.clone() else {
            return Ok(());
        };
        self.state.window = Some(WindowStatus {
            name: w.name.clone(),
            closes: Some(w.closes),
            ..Default::default()
        });
        if let Some(reason) = w.outside_override.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            self.journal_decision(
                None,
                Decision::OutsideWindow,
                Some(w.name.clone()),
                Some(reason.to_string()),
            )?;
        }
        self.watch_window()?;
        Ok(())
    }

    /// `window tue-night closes in 12m`, when the drive has a window.
    pub(super) fn window_phrase(&self) -> Option<String> {
        let w = self.d.options.window.as_ref()?;
        Some(w.phrase((self.d.now)()))
    }

    /// The part of the current step the open (or last) gate starts.
    fn unit<'a>(&'a self, step: &'a Step, health: &Health) -> Unit<'a> {
        let progress = self.state.steps.get(self.cur).and_then(|s| s.group.as_ref());
        let seen = progress.map(|g| g.old).filter(|n| *n > 0);
        let old_nodes = match step {
            Step::Nodegroup(g) => seen.unwrap_or_else(|| health.group_counts(&g.name, &self.d.plan.target).0),
            _ => seen.unwrap_or(0),
        };
        let batch = self.gate_id.batch.filter(|_| self.gate_id.step == step.id());
        Unit { step, batch, old_nodes }
    }

    /// The open gate's window criterion: red when what it starts cannot finish
    /// before the window closes.
    pub(super) fn window_criterion(&self, health: &Health, now: Timestamp) -> Option<Criterion> {
        let w = self.d.options.window.as_ref()?;
        let step = self.d.plan.steps.get(self.cur)?;
        Some(window::criterion(w, &self.unit(step, health), now))
    }

    /// When the work under way began: its step's start, or the gate before its batch.
    fn unit_began(&self, id: &StepId) -> Option<Timestamp> {
        self.d.journal.entries().iter().rev().find_map(|e| match &e.what {
            What::Step { step, state } if step == id && *state == crate::model::journal::StepState::Running => {
                Some(e.at)
            }
            What::Decision {
                step: Some(Subject::Gate(g)),
                decision,
                ..
            } if g.step == *id && decision.passes_gate() => Some(e.at),
            _ => None,
        })
    }

    /// Each turn: whether the window's end is near (less time left than the work
    /// under way needs, or less than the margin). The lead is told on the screen and,
    /// once, in the journal.
    pub(super) fn watch_window(&mut self) -> Result<(), JournalError> {
        let Some(w) = self.d.options.window.clone() else {
            return Ok(());
        };
        let now = (self.d.now)();
        let running = matches!(self.phase, Phase::Running | Phase::Held { .. });
        let under_way = match self.d.plan.steps.get(self.cur) {
            Some(step) if running => {
                let health = self.io.health.borrow().clone();
                let unit = self.unit(step, &health);
                let expected = window::expected_secs(&w, &unit);
                let began = self.unit_began(&step.id()).unwrap_or(now);
                Some((
                    window::unit_label(&unit),
                    expected - (now.as_second() - began.as_second()),
                ))
            }
            _ => None,
        };
        let warning = if self.finished() {
            None
        } else {
            window::warning(&w, now, under_way.as_ref().map(|(l, r)| (l.as_str(), *r)))
        };
        if let Some(message) = &warning
            && !self.warned
        {
            self.warned = true;
            self.journal_event(Level::Warning, "", WINDOW_CLOSING, message.clone())?;
        }
        if let Some(s) = &mut self.state.window {
            s.warning = warning;
            s.stopping = self.stopping;
        }
        Ok(())
    }

    /// The lead asked to stop at the next safe point (journaled already).
    pub(super) fn stop_at_safe_point(&mut self) {
        self.stopping = true;
        if let Some(s) = &mut self.state.window {
            s.stopping = true;
        }
        self.state.notice = Some(
            "stopping at the next safe point: what is under way finishes (no node is left cordoned), then the drive stops at the next gate".into(),
        );
    }

    /// Whether the drive stops now: it was handed over, or a stop at a safe point was
    /// asked and it stands at a gate (the batch under way is done). A stop at a safe
    /// point gives the lease up: whoever drives in the next window resumes.
    pub(super) async fn stop_here(&mut self) -> Result<bool, DriveError> {
        if self.handed_over {
            return Ok(true);
        }
        if !self.stopping || !matches!(self.phase, Phase::Gate | Phase::ConfirmCluster) {
            return Ok(false);
        }
        let at = self
            .state
            .gate
            .as_ref()
            .map(|g| g.title.clone())
            .unwrap_or_else(|| "before the first step".into());
        let message =
            format!("stopped at a safe point, {at}: nothing is left half done; run the same command again to resume");
        self.journal_event(Level::Warning, "", resume::STOPPED, message.clone())?;
        self.state.notice = Some(message);
        self.publish();
        if let Some(lock) = self.d.lock.take() {
            lock.release().await?;
        }
        Ok(true)
    }

    /// Leaves the lease marked for `to` (the handover is journaled already); the
    /// drive stops after this turn.
    pub(super) async fn hand_over(&mut self, to: String) -> Result<(), DriveError> {
        if let Some(lock) = self.d.lock.take() {
            lock.hand_over(&to).await?;
        }
        self.handed_over = true;
        self.state.handed_to = Some(to.clone());
        self.state.notice = Some(format!(
            "handed over to {to}: this cockpit no longer drives; {to} resumes with the same `upshift drive` command, and anyone may follow with `upshift watch`"
        ));
        Ok(())
    }
}
