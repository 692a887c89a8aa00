//! What makes a cockpit the lead's: the drive's channels. [`Controls`] is the one
//! thing that can send the drive a decision; a cockpit built without it is
//! read-only, whatever its screen shows. [`DriveFeed`] is what the cockpit's loop
//! reads from the drive (where it stands, its journal entries) and hands to it (the
//! cluster's health).

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::model::Health;
use crate::model::journal::Entry;
use crate::model::rollout::{Command, RolloutState};

/// How often a drive is told the cluster's health, at most.
pub const HEALTH_EVERY: Duration = Duration::from_millis(200);

/// Where the lead's decisions go.
#[derive(Clone, Debug)]
pub struct Controls {
    commands: mpsc::UnboundedSender<Command>,
}

/// The drive has stopped: a decision could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the drive has stopped: nothing was sent; run the same command again to resume")]
pub struct DriveStopped;

impl Controls {
    pub fn new(commands: mpsc::UnboundedSender<Command>) -> Controls {
        Controls { commands }
    }

    /// Hands a decision to the drive.
    pub fn send(&self, command: Command) -> Result<(), DriveStopped> {
        self.commands.send(command).map_err(|_| DriveStopped)
    }
}

/// What the loop reads from a running drive, and the health it hands to it.
pub struct DriveFeed {
    /// Where the rollout stands, as the drive publishes it.
    pub state: watch::Receiver<RolloutState>,
    /// Every journal entry, once, as it is written.
    pub entries: mpsc::UnboundedReceiver<Entry>,
    /// The cluster's health as the cockpit sees it, for the drive's gates.
    pub health: watch::Sender<Health>,
    /// Where to record what the cockpit sees, for `upshift replay` (beside the journal).
    pub timeline: Option<std::path::PathBuf>,
}
