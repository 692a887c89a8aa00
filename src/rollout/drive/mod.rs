//! The drive: executes a plan step by step, with a gate before every step and
//! between batches, taking the lead's decisions as [`Command`]s and publishing where
//! it stands as a [`RolloutState`] (to the lead's screen, and to a ConfigMap that
//! shadow cockpits follow).
//!
//! It runs in its own task. Each turn it either judges the open gate against the
//! cluster's [`Health`] (sent by the cockpit's loop), or calls the current step's
//! reconciler once. Where it stands is derived from the journal when it starts, so
//! running the same command again after a crash resumes: done steps stay done,
//! passed gates stay passed (until an abort), and the reconcilers read the real
//! state before acting.

pub mod gate;
pub mod publish;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::cloud::{Cloud, CloudError};
use crate::model::rollout::{Command, GateView, GroupProgress, Phase, RolloutState, StepState, StepView};
use crate::rollout::journal::{Entry, Journal, JournalError, What};
use crate::rollout::lock::{Lock, LockError};
use crate::rollout::plan::{Plan, Step};
use crate::rollout::steps::{self, Progress, StepCtx, StepError, UPSHIFT, step_id};

pub use gate::{AlarmReading, Health};
pub use publish::Published;

/// The clock the drive reads (the simulator's virtual one in rehearsals).
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Decisions that pass a gate.
const PASSING: [&str; 3] = ["proceed", "override", "auto-proceed"];

#[derive(Clone, Debug)]
pub struct DriveOptions {
    /// Real time between two turns.
    pub poll: Duration,
    /// Publish to the ConfigMap `kube-system/upshift-rollout`.
    pub publish: bool,
    /// Real time between two reads of the plan's CloudWatch alarms.
    pub alarms_every: Duration,
    /// Real time between two renewals of the lease.
    pub renew_every: Duration,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            poll: Duration::from_millis(500),
            publish: true,
            alarms_every: Duration::from_secs(15),
            renew_every: Duration::from_secs(10),
        }
    }
}

/// Why the drive stopped before the rollout finished.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Lock(Box<LockError>),
}

impl From<LockError> for DriveError {
    fn from(e: LockError) -> Self {
        DriveError::Lock(Box::new(e))
    }
}

/// What a drive is made of.
pub struct Drive {
    pub plan: Plan,
    pub cloud: Arc<dyn Cloud>,
    /// A client that may write (cordon, evict, the ConfigMap).
    pub client: kube::Client,
    pub journal: Journal,
    /// The operator (`user@host`), on decisions and actions.
    pub who: String,
    pub now: Now,
    /// The lease, held; renewed while the drive runs, released when it finishes.
    pub lock: Option<Lock>,
    pub options: DriveOptions,
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

/// The running drive, as the cockpit's loop holds it.
pub struct DriveHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub state: watch::Receiver<RolloutState>,
    /// Every journal entry, once, as it is written (those already in the journal first).
    pub entries: mpsc::UnboundedReceiver<Entry>,
    /// The cockpit's loop sends the cluster's health here.
    pub health: watch::Sender<Health>,
    pub task: JoinHandle<Result<RolloutState, DriveError>>,
}

/// Where the drive stands, beyond what the state shows.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Confirm,
    Gate,
    Running,
    /// A drain held past the pod timeout (or a pod asked about at once).
    Held {
        node: String,
        pod: String,
        why: String,
        since: Timestamp,
    },
    /// A step failed: the lead retries, skips, forces or aborts.
    Failed {
        why: String,
        what_to_do: String,
        /// An EKS node group update refused by a budget: forcing is offered.
        can_force: bool,
    },
    Aborted,
    Done,
}

struct Engine {
    d: Drive,
    health: watch::Receiver<Health>,
    commands: mpsc::UnboundedReceiver<Command>,
    state_tx: watch::Sender<RolloutState>,
    entries_tx: mpsc::UnboundedSender<Entry>,
    publish_tx: Option<watch::Sender<Arc<Published>>>,
    sent: usize,
    state: RolloutState,
    mode: Mode,
    cur: usize,
    gate_id: String,
    gate_drains: bool,
    green_since: Option<Timestamp>,
    baseline: usize,
    alarms: AlarmReading,
    alarms_at: Option<Instant>,
    renewed: Instant,
    paused: bool,
    retry_at: Option<Instant>,
}

impl Drive {
    /// Starts the drive in its own task (and the ConfigMap publisher in another).
    pub fn start(self) -> DriveHandle {
        let (cmd_tx, commands) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(RolloutState::default());
        let (entries_tx, entries) = mpsc::unbounded_channel();
        let (health_tx, health) = watch::channel(Health::default());
        let publish_tx = self.options.publish.then(|| {
            let (tx, rx) = watch::channel(Arc::new(Published::default()));
            let client = self.client.clone();
            let errors = entries_tx.clone();
            let who = self.who.clone();
            let now = self.now.clone();
            tokio::spawn(publish::run(client, rx, move |msg| {
                // shown in the lead's log; not journaled (it is about the shadows' view)
                let _ = errors.send(Entry {
                    seq: 0,
                    at: now(),
                    who: who.clone(),
                    what: What::Event {
                        level: crate::model::Level::Warning,
                        object: format!(
                            "ConfigMap/{}/{}",
                            crate::rollout::lock::NAMESPACE,
                            crate::model::rollout::CONFIGMAP
                        ),
                        reason: "PublishFailed".into(),
                        message: msg,
                    },
                });
            }));
            tx
        });
        let engine = Engine {
            d: self,
            health,
            commands,
            state_tx,
            entries_tx,
            publish_tx,
            sent: 0,
            state: RolloutState::default(),
            mode: Mode::Gate,
            cur: 0,
            gate_id: String::new(),
            gate_drains: false,
            green_since: None,
            baseline: 0,
            alarms: AlarmReading::default(),
            alarms_at: None,
            renewed: Instant::now(),
            paused: false,
            retry_at: None,
        };
        let task = tokio::spawn(engine.run());
        DriveHandle {
            commands: cmd_tx,
            state,
            entries,
            health: health_tx,
            task,
        }
    }
}

/// The label a step is shown with.
fn label(step: &Step) -> String {
    match step {
        Step::Addon { name, version } => format!("addon {name} → {version}"),
        Step::Nodegroup(g) => format!(
            "nodegroup {} ({}, {}, batch {})",
            g.name,
            g.group_type.as_str(),
            g.strategy.as_str(),
            g.batch_size
        ),
        Step::ControlPlane => "control plane".into(),
        other => other.label(),
    }
}

fn step_state(s: &str) -> StepState {
    match s {
        "done" => StepState::Done,
        "skipped" => StepState::Skipped,
        "running" => StepState::Running,
        "failed" => StepState::Failed,
        "aborted" => StepState::Aborted,
        _ => StepState::Pending,
    }
}

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
    async fn run(mut self) -> Result<RolloutState, DriveError> {
        let result = self.drive().await;
        if let Err(e) = &result {
            // say it on the lead's screen: the drive no longer acts
            self.state.notice = Some(format!("the drive stopped: {e}"));
            let _ = self.entries_tx.send(Entry {
                seq: 0,
                at: (self.d.now)(),
                who: self.d.who.clone(),
                what: What::Event {
                    level: crate::model::Level::Error,
                    object: String::new(),
                    reason: "DriveStopped".into(),
                    message: format!(
                        "the drive stopped: {e}. Nothing more is done; run the same command again to resume"
                    ),
                },
            });
            self.state_tx.send_replace(self.state.clone());
        }
        result
    }

    async fn drive(&mut self) -> Result<RolloutState, DriveError> {
        self.begin()?;
        self.publish();
        let mut tick = tokio::time::interval(self.d.options.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.command(c).await?,
                    // the cockpit is gone: stop here; running the command again resumes
                    None => break,
                },
                _ = tick.tick() => self.turn().await?,
            }
            self.publish();
            if matches!(self.mode, Mode::Done | Mode::Aborted) {
                break;
            }
        }
        if matches!(self.mode, Mode::Done | Mode::Aborted)
            && let Some(lock) = self.d.lock.take()
        {
            lock.release().await?;
        }
        // let the publisher write the last state
        drop(self.publish_tx.take());
        Ok(self.state.clone())
    }

    fn journal_decision(
        &mut self,
        step: Option<String>,
        decision: &str,
        target: Option<String>,
        reason: Option<String>,
    ) -> Result<(), JournalError> {
        let who = if decision == "auto-proceed" {
            UPSHIFT.to_string()
        } else {
            self.d.who.clone()
        };
        let at = (self.d.now)();
        self.d.journal.append(
            &who,
            at,
            What::Decision {
                step,
                decision: decision.into(),
                target,
                reason,
            },
        )?;
        Ok(())
    }

    fn journal_event(
        &mut self,
        level: crate::model::Level,
        object: &str,
        reason: &str,
        message: String,
    ) -> Result<(), JournalError> {
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

    fn journal_step(&mut self, step: &str, state: &str) -> Result<(), JournalError> {
        let at = (self.d.now)();
        self.d.journal.set_step_state(&self.d.who, at, step, state)
    }

    /// The index of the newest abort decision, if any.
    fn last_abort(&self) -> usize {
        self.d
            .journal
            .entries()
            .iter()
            .rposition(|e| matches!(&e.what, What::Decision { decision, .. } if decision == "abort"))
            .map_or(0, |i| i + 1)
    }

    /// The decision that passed gate `id` since the last abort, if any: (who, decision, reason).
    fn gate_decision(&self, id: &str) -> Option<(String, String, Option<String>)> {
        let from = self.last_abort();
        self.d.journal.entries()[from..]
            .iter()
            .rev()
            .find_map(|e| match &e.what {
                What::Decision {
                    step: Some(s),
                    decision,
                    reason,
                    ..
                } if s == id && PASSING.contains(&decision.as_str()) => {
                    Some((e.who.clone(), decision.clone(), reason.clone()))
                }
                _ => None,
            })
    }

    fn latest_decision(&self, step: Option<&str>, among: &[&str]) -> Option<String> {
        self.d.journal.entries().iter().rev().find_map(|e| match &e.what {
            What::Decision { step: s, decision, .. } if s.as_deref() == step && among.contains(&decision.as_str()) => {
                Some(decision.clone())
            }
            _ => None,
        })
    }

    /// Reads the journal: which steps are done, whether the rollout was paused,
    /// the baseline; then opens the first gate (or asks for the cluster's name).
    fn begin(&mut self) -> Result<(), DriveError> {
        let plan = &self.d.plan;
        self.state = RolloutState {
            cluster: plan.cluster.name.clone(),
            from: plan.from.clone(),
            target: plan.target.clone(),
            environment: plan.cluster.environment.as_str().into(),
            lead: self.d.who.clone(),
            updated: Some((self.d.now)()),
            phase: Phase::Starting,
            steps: plan
                .steps
                .iter()
                .map(|s| StepView {
                    id: step_id(s),
                    label: label(s),
                    group: match s {
                        Step::Nodegroup(g) => Some(GroupProgress {
                            auto_continue: g.auto_continue,
                            ..Default::default()
                        }),
                        _ => None,
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let states = self.d.journal.step_states();
        let autos: Vec<Option<String>> = self
            .state
            .steps
            .iter()
            .map(|v| self.latest_decision(Some(&v.id), &["auto-continue", "manual"]))
            .collect();
        for (v, auto) in self.state.steps.iter_mut().zip(autos) {
            if let Some((_, st)) = states.iter().find(|(s, _)| *s == v.id) {
                v.state = step_state(st);
            }
            if let (Some(g), Some(d)) = (&mut v.group, auto) {
                g.auto_continue = d == "auto-continue";
            }
        }
        self.paused = self.latest_decision(None, &["pause", "resume"]).as_deref() == Some("pause");
        self.baseline = self.recorded_baseline().unwrap_or(0);
        self.cur = self
            .state
            .steps
            .iter()
            .position(|s| !matches!(s.state, StepState::Done | StepState::Skipped))
            .unwrap_or(self.state.steps.len());
        let production = plan.cluster.environment == crate::rollout::plan::Environment::Production;
        let confirmed = self.latest_decision(None, &["confirm-cluster"]).is_some();
        if production && !confirmed && self.cur < self.state.steps.len() {
            self.mode = Mode::Confirm;
            self.state.current = Some(self.cur);
        } else {
            self.enter_step()?;
        }
        Ok(())
    }

    fn recorded_baseline(&self) -> Option<usize> {
        self.d.journal.entries().iter().rev().find_map(|e| match &e.what {
            What::Event { reason, message, .. } if reason == "Baseline" => {
                message.split_whitespace().next().and_then(|n| n.parse().ok())
            }
            _ => None,
        })
    }

    /// Opens the current step: at its gate, or running if its gate was passed.
    fn enter_step(&mut self) -> Result<(), DriveError> {
        if self.cur >= self.state.steps.len() {
            self.mode = Mode::Done;
            self.state.current = None;
            self.state.gate = None;
            return Ok(());
        }
        self.state.current = Some(self.cur);
        let id = self.state.steps[self.cur].id.clone();
        let gid = format!("gate/{id}");
        let started = matches!(self.state.steps[self.cur].state, StepState::Running | StepState::Failed);
        if started && self.gate_decision(&gid).is_some() {
            self.mode = Mode::Running;
            self.state.steps[self.cur].state = StepState::Running;
        } else {
            let title = format!("before {}", self.state.steps[self.cur].label);
            let drains = matches!(self.d.plan.steps[self.cur], Step::Nodegroup(_));
            self.open_gate(gid, title, drains);
        }
        Ok(())
    }

    fn open_gate(&mut self, id: String, title: String, drains: bool) {
        self.mode = Mode::Gate;
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

    /// Judges the open gate against the latest health.
    fn judge_gate(&mut self) {
        let health = self.health.borrow().clone();
        let now = (self.d.now)();
        let criteria = gate::criteria(&gate::GateInput {
            health: &health,
            gates: &self.d.plan.gates,
            baseline: self.baseline,
            alarms: &self.alarms,
            drains: self.gate_drains,
        });
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
        if !self.d.plan.gates.alarms.is_empty()
            && self.mode == Mode::Gate
            && self
                .alarms_at
                .is_none_or(|t| t.elapsed() >= self.d.options.alarms_every)
        {
            self.read_alarms().await;
        }
        match self.mode {
            Mode::Gate => {
                self.judge_gate();
                let passable = self.state.gate.as_ref().is_some_and(|g| g.passable);
                if self.gate_decision(&self.gate_id).is_some() {
                    self.after_gate().await?;
                } else if passable && !self.paused && self.gate_id.contains('#') && self.auto_continue() {
                    self.journal_decision(Some(self.gate_id.clone()), "auto-proceed", None, None)?;
                    self.after_gate().await?;
                }
            }
            Mode::Running | Mode::Held { .. } if !self.paused && self.retry_at.is_none_or(|t| Instant::now() >= t) => {
                self.run_step().await?;
            }
            _ => {}
        }
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
        self.mode = Mode::Running;
        if !self.gate_id.contains('#') {
            let id = self.state.steps[self.cur].id.clone();
            self.baseline = self.health.borrow().pod_errors;
            let message = format!("{} pods in error before {id}", self.baseline);
            self.journal_event(crate::model::Level::Info, &id, "Baseline", message)?;
            self.journal_step(&id, "running")?;
            self.state.steps[self.cur].state = StepState::Running;
        }
        self.run_step().await
    }

    /// Calls the current step once and takes in where it stands.
    async fn run_step(&mut self) -> Result<(), DriveError> {
        let step = self.d.plan.steps[self.cur].clone();
        let id = step_id(&step);
        let result = match &step {
            Step::Preflight => self.preflight().await,
            Step::Postflight => self.postflight().await,
            _ => {
                let now = self.d.now.clone();
                let now_fn = move || now();
                let mut ctx = self.d.step_ctx(&now_fn);
                let r = steps::reconcile(&mut ctx, &step).await;
                let mut group = ctx.group;
                if let Step::Nodegroup(g) = &step {
                    if group.old + group.new == 0 {
                        let (old, new) = self.health.borrow().group_counts(&g.name, &self.d.plan.target);
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
        };
        self.retry_at = None;
        match result {
            Ok(Progress::Waiting { what, detail }) => {
                self.mode = Mode::Running;
                self.set_what(what, detail);
            }
            Ok(Progress::Done { what }) => {
                self.journal_step(&id, "done")?;
                let v = &mut self.state.steps[self.cur];
                v.state = StepState::Done;
                v.what = what;
                v.detail.clear();
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
                if ask_now || waited >= timeout {
                    self.set_what(what, why.clone());
                    self.mode = Mode::Held { node, pod, why, since };
                } else {
                    self.mode = Mode::Running;
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
                let gid = steps::gate_id(&id, batch);
                if self.gate_decision(&gid).is_none() {
                    let title = format!("before batch {batch} of {of} of {}", self.state.steps[self.cur].label);
                    self.set_what(format!("batch {} of {of} done", batch - 1), String::new());
                    self.open_gate(gid, title, true);
                }
            }
            Err(e) => self.step_failed(&id, e)?,
        }
        Ok(())
    }

    fn set_what(&mut self, what: String, detail: String) {
        let v = &mut self.state.steps[self.cur];
        v.what = what;
        v.detail = detail;
    }

    fn step_failed(&mut self, id: &str, e: StepError) -> Result<(), DriveError> {
        let (why, what_to_do, can_force) = match e {
            StepError::Journal(e) => return Err(e.into()),
            StepError::Cloud(e) if e.is_transient() => {
                self.retry_at = Some(Instant::now() + Duration::from_secs(5));
                self.state.notice = Some(format!("{e}; trying again in 5s"));
                return Ok(());
            }
            StepError::Failed { why, what_to_do } => (why, what_to_do, false),
            StepError::EvictionRefused { why, what_to_do } => (why, what_to_do, true),
            StepError::Unsupported { step, why } => (
                format!("step {step}: {why}"),
                "do this step by hand, then skip it with a reason (o)".to_string(),
                false,
            ),
            StepError::Cloud(e @ CloudError::AccessDenied { .. }) => (
                e.to_string(),
                "grant the lead's IAM role this action (docs/iam.md), then retry (r)".to_string(),
                false,
            ),
            StepError::Cloud(e) => (
                e.to_string(),
                "check the cloud's view, then retry (r)".to_string(),
                false,
            ),
        };
        // a failure is journaled once, not on every turn that sees it again
        if !matches!(&self.mode, Mode::Failed { why: w, .. } if *w == why) {
            self.journal_event(
                crate::model::Level::Error,
                id,
                "StepFailed",
                format!("{why}. {what_to_do}"),
            )?;
        }
        self.journal_step(id, "failed")?;
        self.state.steps[self.cur].state = StepState::Failed;
        self.mode = Mode::Failed {
            why,
            what_to_do,
            can_force,
        };
        Ok(())
    }

    async fn preflight(&mut self) -> Result<Progress, StepError> {
        use crate::preflight::{self, Severity};
        let failed = |why: String| StepError::Failed {
            why,
            what_to_do: "retry (r), or skip the preflight with a reason (o)".into(),
        };
        let snapshot = preflight::gather::gather(&self.d.client)
            .await
            .map_err(|e| failed(format!("reading the cluster for the preflight: {e}")))?;
        let eks = preflight::eks::gather(self.d.cloud.as_ref(), &self.d.plan.cluster.name, &self.d.plan.target)
            .await
            .ok();
        let tables = preflight::tables::Tables::load(None).map_err(|e| failed(e.to_string()))?;
        let (findings, _) = preflight::run(&snapshot, &self.d.plan.target, &tables, 1, eks.as_ref());
        let blockers: Vec<_> = findings.iter().filter(|f| f.severity == Severity::Blocker).collect();
        let warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
        if blockers.is_empty() {
            Ok(Progress::Done {
                what: format!(
                    "no blockers, {warnings} warning(s) (upshift preflight --target {} shows them)",
                    self.d.plan.target
                ),
            })
        } else {
            Err(StepError::Failed {
                why: format!(
                    "preflight found {} blocker(s): {}",
                    blockers.len(),
                    blockers.iter().map(|f| f.title.as_str()).collect::<Vec<_>>().join("; ")
                ),
                what_to_do: format!(
                    "see `upshift preflight --target {}`; fix them and retry (r), or skip with a reason (o)",
                    self.d.plan.target
                ),
            })
        }
    }

    async fn postflight(&mut self) -> Result<Progress, StepError> {
        let target = self.d.plan.target.clone();
        let cluster = self.d.cloud.describe_cluster(&self.d.plan.cluster.name).await?;
        if crate::model::minor_of(&cluster.version).as_deref() != Some(target.as_str()) {
            return Err(StepError::Failed {
                why: format!("the control plane is on {}, not {target}", cluster.version),
                what_to_do: "retry the control plane step".into(),
            });
        }
        let skipped: usize = self
            .state
            .steps
            .iter()
            .filter_map(|s| s.group.as_ref())
            .map(|g| g.skipped.len())
            .sum();
        let h = self.health.borrow().clone();
        let old: u32 = h.groups.keys().map(|g| h.group_counts(g, &target).0).sum();
        if old as usize > skipped {
            return Ok(Progress::Waiting {
                what: format!("{old} node(s) still on an older kubelet"),
                detail: "waiting for the old nodes to leave".into(),
            });
        }
        if !h.components_down.is_empty() {
            return Ok(Progress::Waiting {
                what: "critical components not all available".into(),
                detail: h.components_down.join(", "),
            });
        }
        Ok(Progress::Done {
            what: format!(
                "control plane and every node on {target}{}",
                if skipped > 0 {
                    format!(" but {skipped} skipped node(s)")
                } else {
                    String::new()
                }
            ),
        })
    }

    /// Takes a command from the lead.
    async fn command(&mut self, c: Command) -> Result<(), DriveError> {
        self.state.notice = None;
        let id = self.state.steps.get(self.cur).map(|s| s.id.clone());
        match c {
            Command::Proceed => match self.mode {
                Mode::Gate => {
                    self.judge_gate();
                    if self.state.gate.as_ref().is_some_and(|g| g.passable) {
                        self.journal_decision(Some(self.gate_id.clone()), "proceed", None, None)?;
                        self.after_gate().await?;
                    } else {
                        let red: Vec<String> = self
                            .state
                            .gate
                            .iter()
                            .flat_map(|g| g.criteria.iter())
                            .filter(|c| !c.ok)
                            .map(|c| c.name.clone())
                            .collect();
                        self.state.notice = Some(if red.is_empty() {
                            "the gate is green but not settled yet: wait for the settle time, or pass it with a reason (o)".into()
                        } else {
                            format!(
                                "the gate is red ({}): pass it anyway with a typed reason (o)",
                                red.join(", ")
                            )
                        });
                    }
                }
                Mode::Confirm => self.state.notice = Some("type the cluster's name first".into()),
                _ => self.state.notice = Some("there is no gate to pass now".into()),
            },
            Command::Override { reason } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    self.state.notice = Some("an override needs a reason".into());
                    return Ok(());
                }
                match self.mode {
                    Mode::Gate => {
                        self.journal_decision(Some(self.gate_id.clone()), "override", None, Some(reason))?;
                        self.after_gate().await?;
                    }
                    Mode::Failed { .. } => {
                        let id = id.unwrap_or_default();
                        self.journal_decision(Some(id.clone()), "skip", None, Some(reason))?;
                        self.journal_step(&id, "skipped")?;
                        self.state.steps[self.cur].state = StepState::Skipped;
                        self.cur += 1;
                        self.enter_step()?;
                    }
                    _ => self.state.notice = Some("nothing to override now".into()),
                }
            }
            Command::ConfirmCluster { name } => {
                if self.mode != Mode::Confirm {
                    return Ok(());
                }
                if name.trim() == self.d.plan.cluster.name {
                    self.journal_decision(None, "confirm-cluster", Some(name.trim().into()), None)?;
                    self.enter_step()?;
                } else {
                    self.state.notice = Some(format!(
                        "{:?} is not this cluster's name: type it exactly to begin",
                        name.trim()
                    ));
                }
            }
            Command::Pause => {
                if !self.paused && !matches!(self.mode, Mode::Done | Mode::Aborted) {
                    self.journal_decision(None, "pause", None, None)?;
                    self.paused = true;
                }
            }
            Command::Resume => {
                if self.paused {
                    self.journal_decision(None, "resume", None, None)?;
                    self.paused = false;
                }
            }
            Command::Abort => self.abort().await?,
            Command::Retry => {
                if matches!(self.mode, Mode::Failed { .. }) {
                    self.journal_decision(id, "retry", None, None)?;
                    self.mode = Mode::Running;
                    self.state.steps[self.cur].state = StepState::Running;
                    self.run_step().await?;
                } else {
                    self.state.notice = Some("no failed step to retry".into());
                }
            }
            Command::Force { confirm } => {
                let group = match &self.d.plan.steps.get(self.cur) {
                    Some(Step::Nodegroup(g)) => Some(g.name.clone()),
                    _ => None,
                };
                let can = matches!(self.mode, Mode::Failed { can_force: true, .. });
                match group {
                    Some(g) if can && confirm.trim() == g => {
                        self.journal_decision(id, "force", Some(g), None)?;
                        self.mode = Mode::Running;
                        self.state.steps[self.cur].state = StepState::Running;
                        self.run_step().await?;
                    }
                    Some(g) if can => {
                        self.state.notice = Some(format!("type the node group's name ({g}) to force its update"))
                    }
                    _ => {
                        self.state.notice =
                            Some("forcing is offered only when a budget refused an EKS node group update".into())
                    }
                }
            }
            Command::KeepWaiting | Command::SkipNode | Command::DeletePod { .. } => {
                let Mode::Held { node, pod, .. } = self.mode.clone() else {
                    self.state.notice = Some("no drain is held now".into());
                    return Ok(());
                };
                match c {
                    Command::KeepWaiting => self.journal_decision(id, "keep-waiting", Some(pod), None)?,
                    Command::SkipNode => self.journal_decision(id, "skip-node", Some(node), None)?,
                    Command::DeletePod { confirm } => {
                        let short = pod.rsplit('/').next().unwrap_or(&pod).to_string();
                        let typed = confirm.trim();
                        if typed != short && typed != pod {
                            self.state.notice = Some(format!("type the pod's name ({short}) to delete it"));
                            return Ok(());
                        }
                        self.journal_decision(id, "delete-pod", Some(pod), None)?;
                    }
                    _ => unreachable!("matched above"),
                }
                self.mode = Mode::Running;
                self.run_step().await?;
            }
            Command::AutoContinue(on) => {
                if let Some(g) = self.state.steps.get_mut(self.cur).and_then(|s| s.group.as_mut()) {
                    g.auto_continue = on;
                    let decision = if on { "auto-continue" } else { "manual" };
                    self.journal_decision(id, decision, None, None)?;
                } else {
                    self.state.notice = Some("auto-continue applies to node group steps".into());
                }
            }
        }
        Ok(())
    }

    /// Stops, leaving the cluster consistent: what the current step started and
    /// must not be left half done is undone.
    async fn abort(&mut self) -> Result<(), DriveError> {
        if matches!(self.mode, Mode::Done | Mode::Aborted) {
            return Ok(());
        }
        let id = self.state.steps.get(self.cur).map(|s| s.id.clone());
        self.journal_decision(id.clone(), "abort", None, None)?;
        self.state.phase = Phase::Aborting;
        self.publish();
        let mut lines = Vec::new();
        if let Some(step @ Step::Nodegroup(_)) = self.d.plan.steps.get(self.cur).cloned() {
            let now = self.d.now.clone();
            let now_fn = move || now();
            let mut ctx = self.d.step_ctx(&now_fn);
            if let Step::Nodegroup(g) = &step {
                match steps::abort(&mut ctx, g).await {
                    Ok(l) => lines.extend(l),
                    Err(StepError::Journal(e)) => return Err(e.into()),
                    Err(e) => lines.push(format!("could not undo everything: {e}")),
                }
            }
        }
        if let Some(id) = &id {
            let was_running = matches!(self.state.steps[self.cur].state, StepState::Running | StepState::Failed);
            if was_running {
                self.journal_step(id, "aborted")?;
                self.state.steps[self.cur].state = StepState::Aborted;
            } else {
                self.state.steps[self.cur].state = StepState::Pending;
            }
        }
        if lines.is_empty() {
            lines.push("nothing was left half done".into());
        }
        self.mode = Mode::Aborted;
        self.state.phase = Phase::Aborted {
            detail: lines.join("; "),
        };
        Ok(())
    }

    /// Sends the state to the screen, the ConfigMap, and new journal entries to the log.
    fn publish(&mut self) {
        self.state.phase = match &self.mode {
            _ if self.paused && !matches!(self.mode, Mode::Done | Mode::Aborted) => Phase::Paused,
            Mode::Confirm => Phase::ConfirmCluster,
            Mode::Gate => Phase::Gate,
            Mode::Running => Phase::Running,
            Mode::Held { node, pod, why, since } => Phase::Held {
                node: node.clone(),
                pod: pod.clone(),
                why: why.clone(),
                since: Some(*since),
            },
            Mode::Failed {
                why,
                what_to_do,
                can_force,
            } => Phase::Failed {
                why: why.clone(),
                what_to_do: what_to_do.clone(),
                can_force: *can_force,
            },
            Mode::Aborted => match &self.state.phase {
                p @ Phase::Aborted { .. } => p.clone(),
                _ => Phase::Aborted { detail: String::new() },
            },
            Mode::Done => Phase::Done,
        };
        let entries = self.d.journal.entries();
        let new_entries = entries.len() > self.sent;
        for e in &entries[self.sent..] {
            let _ = self.entries_tx.send(e.clone());
        }
        self.sent = entries.len();
        let changed = {
            let mut probe = self.state.clone();
            probe.updated = self.state_tx.borrow().updated;
            probe != *self.state_tx.borrow()
        };
        if changed {
            self.state.updated = Some((self.d.now)());
            self.state_tx.send_replace(self.state.clone());
        }
        if (changed || new_entries)
            && let Some(tx) = &self.publish_tx
        {
            let from = entries.len().saturating_sub(publish::RECENT);
            tx.send_replace(Arc::new(Published {
                state: self.state.clone(),
                recent: entries[from..].to_vec(),
            }));
        }
    }
}

/// Everything a drive is prepared from.
pub struct Setup {
    pub plan: Plan,
    /// A client that may write, for the plan's context.
    pub client: kube::Client,
    pub cloud: Arc<dyn Cloud>,
    pub journal: std::path::PathBuf,
    /// The operator, `user@host`.
    pub who: String,
    /// The rollout's clock (journal, gates' settle time, drain timeouts).
    pub now: Now,
    /// The lease's clock: always the wall clock outside tests.
    pub lease_now: crate::rollout::lock::Now,
    /// Take an expired lease over from another cockpit.
    pub take_over: bool,
    pub options: DriveOptions,
}

/// Why a drive could not start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("reading the cluster to check the plan: {0}")]
    Discover(#[from] crate::rollout::plan::DiscoverError),
    #[error("{0}")]
    Plan(#[from] crate::rollout::plan::PlanError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Lock(#[from] LockError),
}

/// How long the lease holds without renewal.
pub const LEASE: Duration = Duration::from_secs(60);

/// Checks the plan against the live cluster, opens the journal (resuming what it
/// holds) and takes the lease: a drive ready to start.
pub async fn prepare(s: Setup) -> Result<Drive, PrepareError> {
    let name = s.plan.cluster.name.clone();
    let live =
        crate::rollout::plan::discover(&s.client, &name, Some((s.cloud.as_ref(), &name)), &s.plan.target).await?;
    s.plan.validate(&live)?;
    let journal = Journal::open(&s.journal)?;
    let lock = Lock::acquire(
        s.client.clone(),
        crate::rollout::lock::NAMESPACE,
        crate::rollout::lock::NAME,
        &s.who,
        LEASE,
        s.take_over,
        s.lease_now,
    )
    .await?;
    Ok(Drive {
        plan: s.plan,
        cloud: s.cloud,
        client: s.client,
        journal,
        who: s.who,
        now: s.now,
        lock: Some(lock),
        options: s.options,
    })
}
