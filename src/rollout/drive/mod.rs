//! The drive: executes a plan step by step, with a gate before every step and
//! between batches, taking the lead's decisions as [`Command`]s and publishing where
//! it stands as a [`RolloutState`] (to the lead's screen, and to a ConfigMap that
//! shadow cockpits follow).
//!
//! It runs in its own task (`engine`). Each turn it either judges the open gate
//! against the cluster's [`Health`] (sent by the cockpit's loop; `gate`), or calls
//! the current step's reconciler once. What a command comes to is a pure function
//! (`decide`). Where it stands is derived from the journal when it starts (`resume`),
//! so running the same command again after a crash resumes: done steps stay done,
//! passed gates stay passed (until an abort), and the reconcilers read the real state
//! before acting. `publish` writes the state to the cluster for the shadows.

pub mod decide;
mod engine;
pub mod gate;
pub mod publish;
pub mod resume;
pub mod window;
pub mod zones;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::cloud::Cloud;
use crate::cluster::ClusterReader;
use crate::model::Health;
use crate::model::journal::{Entry, What};
use crate::model::rollout::{CONFIGMAP, Command, NAMESPACE, Published, RolloutState};
use crate::rollout::journal::{Journal, JournalError};
use crate::rollout::lock::{Lock, LockError};
use crate::rollout::plan::Plan;
use crate::units::Now;

pub use engine::NOT_CHECKED;
pub use gate::AlarmReading;
pub use window::WindowLimit;

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
    /// The maintenance window the steps must finish in, if any.
    pub window: Option<window::WindowLimit>,
    /// The campaign strip published with the rollout (`upshift campaign drive`).
    pub campaign: Option<crate::model::campaign::CampaignStrip>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            poll: Duration::from_millis(500),
            publish: true,
            alarms_every: Duration::from_secs(15),
            renew_every: Duration::from_secs(10),
            window: None,
            campaign: None,
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
                        object: format!("ConfigMap/{NAMESPACE}/{CONFIGMAP}"),
                        reason: "PublishFailed".into(),
                        message: msg,
                    },
                });
            }));
            tx
        });
        let engine = engine::Engine::new(
            self,
            engine::Channels {
                health,
                commands,
                state_tx,
                entries_tx,
                publish_tx,
            },
        );
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
    pub lease_now: Now,
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
    #[error("reading the cluster from EKS to check the journal: {0}")]
    Cloud(#[from] crate::cloud::CloudError),
}

impl PrepareError {
    /// The drive was refused for what the operator named (another rollout's journal,
    /// a cockpit that holds the cluster or the journal), rather than failing to run.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PrepareError::Journal(JournalError::OtherRollout { .. } | JournalError::Locked { .. })
                | PrepareError::Lock(
                    LockError::Held { .. }
                        | LockError::Expired { .. }
                        | LockError::OtherDrive { .. }
                        | LockError::HandedOver { .. }
                )
        )
    }
}

/// How long the lease holds without renewal.
pub const LEASE: Duration = Duration::from_secs(60);

/// Checks the plan against the live cluster, opens the journal (resuming what it
/// holds) and takes the lease: a drive ready to start.
pub async fn prepare(s: Setup) -> Result<Drive, PrepareError> {
    let name = s.plan.cluster.name.clone();
    let reader = ClusterReader::new(s.client.clone());
    let live = crate::rollout::plan::discover(&reader, &name, Some((s.cloud.as_ref(), &name)), &s.plan.target).await?;
    s.plan.validate(&live)?;
    let header = crate::rollout::identity::header(s.cloud.as_ref(), &s.client, &s.plan).await?;
    let existed = s.journal.exists();
    let mut journal = Journal::open_exclusive(&s.journal)?;
    let claim = journal.check(&header)?;
    let drive_id = crate::rollout::identity::drive_id();
    let lock = Lock::acquire_for(
        s.client.clone(),
        crate::rollout::lock::NAMESPACE,
        crate::rollout::lock::NAME,
        &s.who,
        Some(&drive_id),
        LEASE,
        s.take_over,
        s.lease_now,
    )
    .await;
    let lock = match lock {
        Ok(lock) => lock,
        Err(e) => {
            if !existed && journal.entries().is_empty() {
                // refused: leave no empty journal behind
                drop(journal);
                let _ = std::fs::remove_file(&s.journal);
            }
            return Err(e.into());
        }
    };
    let at = (s.now)();
    journal.claim(&header, &s.who, at)?;
    if journal.repaired_tail {
        let message = format!(
            "the journal's last line ({} bytes) was cut short by a crash in the middle of a write and was dropped; every entry before it is kept",
            journal.dropped_bytes
        );
        journal.append(
            &s.who,
            at,
            What::Event {
                level: crate::model::Level::Warning,
                object: s.journal.display().to_string(),
                reason: "JournalRepaired".into(),
                message,
            },
        )?;
    }
    let adopted = claim == crate::rollout::journal::Claim::Adopted;
    if adopted {
        journal.defer(
            &s.who,
            at,
            What::Event {
                level: crate::model::Level::Warning,
                object: s.journal.display().to_string(),
                reason: "JournalAdopted".into(),
                message: format!(
                    "the journal had no header (written by an older upshift): it is taken as the record of this rollout ({}, target {}), and its header is added now",
                    header.cluster, header.target
                ),
            },
        );
    }
    let id = What::Drive { id: drive_id };
    if adopted {
        journal.defer(&s.who, at, id);
    } else {
        journal.append(&s.who, at, id)?;
    }
    let mut drive = Drive {
        plan: s.plan,
        cloud: s.cloud,
        client: s.client,
        journal,
        who: s.who,
        now: s.now,
        lock: Some(lock),
        options: s.options,
    };
    resolve_in_doubt(&mut drive).await?;
    Ok(drive)
}

/// Reads back every action a killed drive journaled without its answer, and journals
/// what was found as its result (see [`crate::rollout::steps::doubt`]).
async fn resolve_in_doubt(d: &mut Drive) -> Result<(), JournalError> {
    if d.journal.in_doubt().is_empty() {
        return Ok(());
    }
    let now = d.now.clone();
    let mut ctx = crate::rollout::steps::StepCtx {
        cloud: d.cloud.as_ref(),
        client: Some(d.client.clone()),
        cluster: &d.plan.cluster.name,
        target: &d.plan.target,
        drain: d.plan.drain.clone(),
        journal: &mut d.journal,
        who: &d.who,
        now: now.as_ref(),
        group: Default::default(),
    };
    match crate::rollout::steps::doubt::resolve(&mut ctx).await {
        Ok(lines) => {
            for line in lines {
                tracing::info!("{line}");
            }
            Ok(())
        }
        Err(crate::rollout::steps::StepError::Journal(e)) => Err(e),
        Err(e) => {
            tracing::warn!("resolving the actions in doubt: {e}");
            Ok(())
        }
    }
}
