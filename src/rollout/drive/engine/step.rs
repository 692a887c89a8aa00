//! Calling the current step and taking in where it stands: waiting (what it does),
//! done (the next step opens), held (the lead is asked after the pod timeout), at a
//! gate between batches, or failed (what the lead can do about it).

use std::time::Instant;

use jiff::Timestamp;

use super::super::DriveError;
use super::super::decide::{self, Failure};
use super::super::{gate, zones};
use super::Engine;
use crate::cloud::MaxUnavailable;
use crate::cluster::ClusterReader;
use crate::model::journal::{GateId, StepId, StepState, What};
use crate::model::rollout::Criterion;
use crate::model::rollout::Phase;
use crate::model::{Health, Level};
use crate::rollout::plan::{Step, Strategy};
use crate::rollout::steps::{self, Progress, StepError};

/// The journal's reason on the note that a drain waits for the lead (as the drain's own).
const DRAIN_HELD: &str = "DrainHeld";
/// How often a `nodepool` step's gate reads the NodePool again.
const NODEPOOL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

fn secs_between(a: Timestamp, b: Timestamp) -> i64 {
    b.as_second() - a.as_second()
}

fn minutes(secs: i64) -> String {
    if secs < 120 {
        format!("{secs}s")
    } else {
        format!("{}m", secs / 60)
    }
}

impl Engine {
    /// Calls the current step once.
    async fn call_step(&mut self, step: &Step) -> Result<Progress, StepError> {
        let plan = &self.d.plan;
        match step {
            Step::Preflight => {
                let reader = ClusterReader::new(self.d.client.clone());
                let refreshes = steps::preflight::refreshes(plan);
                let ami_moves = steps::preflight::ami_moves(plan);
                let now = self.d.now.clone();
                let now_fn = move || now();
                let mut ctx = self.d.step_ctx(&now_fn);
                steps::preflight::reconcile_journaled(&reader, &mut ctx, &refreshes, &ami_moves).await
            }
            Step::Postflight => {
                let skipped: Vec<String> = self
                    .state
                    .steps
                    .iter()
                    .filter_map(|s| s.group.as_ref())
                    .flat_map(|g| g.skipped.iter().cloned())
                    .collect();
                let skipped_groups: Vec<String> = self
                    .state
                    .steps
                    .iter()
                    .filter(|s| s.state == StepState::Skipped)
                    .filter_map(|s| match &s.id {
                        StepId::Nodegroup(g) => Some(g.clone()),
                        _ => None,
                    })
                    .collect();
                let health = self.io.health.borrow().clone();
                let start = self.start.clone().unwrap_or_default();
                let reader = ClusterReader::new(self.d.client.clone());
                let (progress, problems) = steps::postflight::reconcile(
                    self.d.cloud.as_ref(),
                    &reader,
                    &plan.cluster.name,
                    steps::postflight::VerdictInput {
                        target: &plan.target,
                        health: &health,
                        start: &start,
                        skipped: &skipped,
                        skipped_groups: &skipped_groups,
                        components: &[],
                    },
                )
                .await?;
                if progress.is_done() {
                    self.state.problems = problems;
                }
                Ok(progress)
            }
            _ => {
                let now = self.d.now.clone();
                let now_fn = move || now();
                let mut ctx = self.d.step_ctx(&now_fn);
                let r = steps::reconcile(&mut ctx, step).await;
                let mut group = ctx.group;
                if let Step::Nodepool(_) = step
                    && let Some(v) = &mut self.state.steps[self.cur].group
                {
                    group.auto_continue = v.auto_continue;
                    *v = group;
                } else if let Step::Nodegroup(g) = step {
                    if group.old + group.new == 0 {
                        let (old, new) = self.io.health.borrow().group_counts(&g.name, &self.d.plan.target);
                        group.old = old;
                        group.new = new;
                    }
                    if let Some(v) = &mut self.state.steps[self.cur].group {
                        group.auto_continue = v.auto_continue;
                        *v = group;
                    }
                }
                r
            }
        }
    }

    /// Calls the current step once and takes in where it stands.
    pub(super) async fn run_step(&mut self) -> Result<(), DriveError> {
        let step = self.d.plan.steps[self.cur].clone();
        let id = step.id();
        let result = self.call_step(&step).await;
        self.retry_at = None;
        match result {
            Ok(Progress::Waiting { what, detail }) => {
                self.phase = Phase::Running;
                self.set_what(what, detail);
            }
            Ok(Progress::Done { what }) => {
                if id == StepId::Postflight {
                    let at = (self.d.now)();
                    let problems = self.state.problems.clone();
                    self.d.journal.append(&self.d.who, at, What::Verdict { problems })?;
                }
                self.journal_step(&id, StepState::Done)?;
                let v = &mut self.state.steps[self.cur];
                v.state = StepState::Done;
                v.what = what;
                v.detail.clear();
                if self.cur + 1 == self.state.steps.len() {
                    // the last step: what a hold still changes is put back before "done"
                    let mut lines = Vec::new();
                    if self.restore_budgets(&mut lines).await? {
                        self.state.notice = Some(lines.join("; "));
                    }
                }
                self.cur += 1;
                self.enter_step()?;
            }
            Ok(Progress::Held {
                what,
                node,
                pod,
                why,
                since,
                ask_now,
            }) => {
                let waited = secs_between(since, (self.d.now)());
                let timeout = self.d.plan.drain.pod_timeout_seconds as i64;
                if decide::asks_the_lead(ask_now, waited, timeout) {
                    if !ask_now {
                        // past the pod timeout: the journal says so once per hold (a
                        // pod the drain would not evict was noted by the drain itself)
                        self.note_held(&id, &node, &pod, &why, since)?;
                    }
                    self.set_what(what, why.clone());
                    self.phase = Phase::Held {
                        node,
                        pod,
                        why,
                        since: Some(since),
                    };
                } else {
                    self.phase = Phase::Running;
                    self.set_what(
                        format!(
                            "{what} (for {} of the {} pod timeout)",
                            minutes(waited),
                            minutes(timeout)
                        ),
                        why,
                    );
                }
            }
            Ok(Progress::Gate { batch, of }) => {
                let gid = GateId::batch(id, batch);
                if self.gate_decision(&gid).is_none() {
                    let unit = if matches!(step, Step::Nodepool(_)) {
                        "wave"
                    } else {
                        "batch"
                    };
                    let title = format!("before {unit} {batch} of {of} of {}", self.state.steps[self.cur].label);
                    self.set_what(format!("{unit} {} of {of} done", batch - 1), String::new());
                    self.open_gate(gid, title, true);
                }
            }
            Err(e) => self.step_failed(&id, e)?,
        }
        Ok(())
    }

    /// Heartbeats for instances the current step holds in a lifecycle hook, whatever
    /// the phase (at a gate, paused, held, failed): they must not time out while the
    /// lead decides. Costs nothing while no heartbeat is due.
    pub(super) async fn keep_alive(&mut self) -> Result<(), DriveError> {
        let Some(Step::Nodegroup(g)) = self.d.plan.steps.get(self.cur).cloned() else {
            return Ok(());
        };
        let now = self.d.now.clone();
        let now_fn = move || now();
        let mut ctx = self.d.step_ctx(&now_fn);
        match steps::keep_alive(&mut ctx, &g).await {
            Ok(()) => {}
            Err(StepError::Journal(e)) => return Err(e.into()),
            Err(e) => self.state.notice = Some(format!("keeping held instances waiting: {e}; retrying")),
        }
        Ok(())
    }

    /// Journals that `pod` on `node` holds the drain of step `id` for the lead, unless
    /// a `DrainHeld` about it was journaled since the hold began (`since`).
    fn note_held(&mut self, id: &StepId, node: &str, pod: &str, why: &str, since: Timestamp) -> Result<(), DriveError> {
        let object = format!("Pod/{pod}");
        let noted = self.d.journal.entries().iter().any(|e| {
            e.at >= since
                && matches!(&e.what, What::Event { object: o, reason, .. } if *o == object && reason == DRAIN_HELD)
        });
        if !noted {
            let message =
                format!("{id}: node {node}: {why}; held past the pod timeout, it stays until the operator decides");
            self.journal_event(Level::Warning, &object, DRAIN_HELD, message)?;
        }
        Ok(())
    }

    /// At a gate of a `nodepool` step: what the NodePool adds to the criteria (its
    /// drifted nodes a budget holds, a pinned AMI before the first wave), read again
    /// every few seconds.
    pub(super) async fn nodepool_criteria(&mut self) {
        let Some(Step::Nodepool(p)) = self.d.plan.steps.get(self.cur) else {
            return;
        };
        if self.extra_at.is_some_and(|t| t.elapsed() < NODEPOOL_EVERY) {
            return;
        }
        self.extra_at = Some(Instant::now());
        self.extra = steps::nodepool::gate_criteria(
            &self.d.client,
            &self.d.journal,
            p,
            &self.d.plan.target,
            self.gate_id.batch,
        )
        .await;
    }

    /// At the rollout's end or its abort: every NodePool's budgets put back as found.
    /// Returns whether there were any to put back.
    pub(super) async fn restore_budgets(&mut self, lines: &mut Vec<String>) -> Result<bool, DriveError> {
        if self
            .d
            .journal
            .entries()
            .iter()
            .all(|e| !matches!(&e.what, What::Event { reason, .. } if reason == steps::nodepool::BUDGETS_SAVED))
        {
            return Ok(false);
        }
        let id = self
            .state
            .steps
            .get(self.cur)
            .map(|s| s.id.clone())
            .unwrap_or(StepId::DriftHold);
        let now = self.d.now.clone();
        let now_fn = move || now();
        let mut ctx = self.d.step_ctx(&now_fn);
        let before = lines.len();
        match steps::nodepool::restore_all(&mut ctx, &id).await {
            Ok(l) => lines.extend(l),
            Err(StepError::Journal(e)) => return Err(e.into()),
            Err(e) => lines.push(format!("could not restore the NodePools' budgets: {e}")),
        }
        Ok(lines.len() > before)
    }

    /// At a node group's gate: whether the group's next batch empties a zone of room
    /// for pods on zonal volumes (None when it moves none, or before the view is synced).
    pub(super) fn zonal_criterion(&self, health: &Health) -> Option<Criterion> {
        let Some(Step::Nodegroup(g)) = self.d.plan.steps.get(self.cur) else {
            return None;
        };
        if !self.gate_drains || !health.synced {
            return None;
        }
        // EKS takes down maxUnavailable nodes at once (1 unless the plan sets it)
        let size = match (g.strategy, &g.update_config) {
            (Strategy::EksUpdate, Some(MaxUnavailable::Count(n))) => u32::try_from(*n).unwrap_or(1),
            (Strategy::EksUpdate, _) => 1,
            _ => g.batch_size,
        };
        let batch = zones::ZonalBatch {
            group: &g.name,
            target: &self.d.plan.target,
            size,
        };
        let mut c = zones::criterion(health, &batch)?;
        gate::apply_acceptances(std::slice::from_mut(&mut c), &self.accepted);
        Some(c)
    }

    fn set_what(&mut self, what: String, detail: String) {
        let v = &mut self.state.steps[self.cur];
        v.what = what;
        v.detail = detail;
    }

    fn step_failed(&mut self, id: &StepId, e: StepError) -> Result<(), DriveError> {
        let (why, what_to_do, can_force) = match decide::failure(e) {
            Failure::Stop(e) => return Err(e.into()),
            Failure::Later(notice) => {
                self.retry_at = Some(Instant::now() + decide::RETRY_AFTER);
                self.state.notice = Some(notice);
                return Ok(());
            }
            Failure::Lead {
                why,
                what_to_do,
                can_force,
            } => (why, what_to_do, can_force),
        };
        // a failure is journaled once, not on every turn that sees it again
        if !matches!(&self.phase, Phase::Failed { why: w, .. } if *w == why) {
            self.journal_event(
                Level::Error,
                &id.to_string(),
                "StepFailed",
                format!("{why}. {what_to_do}"),
            )?;
        }
        self.journal_step(id, StepState::Failed)?;
        self.state.steps[self.cur].state = StepState::Failed;
        // what it was doing is over: the phase says why it failed
        self.set_what(String::new(), String::new());
        self.phase = Phase::Failed {
            why,
            what_to_do,
            can_force,
        };
        Ok(())
    }
}
