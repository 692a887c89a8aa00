//! The timeline a drive records beside its journal: what the lead's cockpit saw while
//! the rollout ran — the node state counts, node health, unscheduled pods, pod errors,
//! every node's state, the workloads down or degraded, and where the rollout stood —
//! so that `upshift replay` can show each moment as it was. One JSON line per sample,
//! each holding only what changed since the line before (a node's row when that node
//! changed); at most one sample per [`EVERY`] of the cluster's time, plus one at each
//! journal entry. Appended and flushed line by line, written 0600; a torn last line
//! (a crash mid-write) is ignored on read.

pub mod read;
pub mod record;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::availability::Availability;
use crate::model::signals::{NodeHealth, NodeRow, NodeState, PodErrors, Unscheduled};
use crate::model::{RolloutState, Timestamp};

pub use read::{Timeline, read};
pub use record::Recorder;

/// The least cluster time between two samples that no journal entry asked for.
pub const EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// Where the timeline of `journal` is kept: beside it, `<journal>.timeline.jsonl`.
pub fn path_for(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".timeline.jsonl");
    journal.with_file_name(name)
}

/// One line of the timeline: the moment, the journal's last entry then, and what
/// changed since the line before (absent: as before).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// The cluster's time (the drive's clock).
    pub at: Option<Timestamp>,
    /// The sequence number of the journal's last entry at that moment.
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutState>,
    /// Node state counts, overall and per group (the rows are in `nodes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<NodeState>,
    /// Nodes whose row changed (or that joined).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeRow>,
    /// Nodes that left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<NodeHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unscheduled: Option<Unscheduled>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<PodErrors>,
    /// Workloads down or degraded, Services without endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workloads: Option<Availability>,
}

impl Sample {
    /// Whether it says anything beyond its moment.
    pub fn changes(&self) -> bool {
        self.rollout.is_some()
            || self.counts.is_some()
            || !self.nodes.is_empty()
            || !self.gone.is_empty()
            || self.health.is_some()
            || self.unscheduled.is_some()
            || self.errors.is_some()
            || self.workloads.is_some()
    }
}
