//! Writing the timeline: [`Recorder::observe`] is called by the lead's cockpit loop
//! with what it shows; it writes a line when enough of the cluster's time has passed
//! and something changed, or at once for a journal entry. A write that fails stops
//! the recording (and says so once); it never stops the drive.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{EVERY, Sample};
use crate::model::availability::Availability;
use crate::model::signals::{NodeHealth, NodeRow, NodeState, PodErrors, Signals, Unscheduled};
use crate::model::{RolloutState, Timestamp};

#[derive(Debug, thiserror::Error)]
#[error("timeline {path}: {source} (the rollout goes on; replay will show the journal alone from here)")]
pub struct TimelineError {
    pub path: String,
    pub source: std::io::Error,
}

/// The open timeline and what its lines have said so far.
pub struct Recorder {
    path: String,
    file: File,
    last_at: Option<Timestamp>,
    rollout: Option<RolloutState>,
    counts: Option<NodeState>,
    rows: BTreeMap<String, NodeRow>,
    health: Option<NodeHealth>,
    unscheduled: Option<Unscheduled>,
    errors: Option<PodErrors>,
    workloads: Option<Availability>,
    /// Bytes written by this recorder.
    pub written: u64,
    /// Lines written by this recorder.
    pub lines: u64,
}

impl Recorder {
    /// Opens (or creates, 0600) the timeline at `path` for appending. A torn last
    /// line left by a crash is closed first, so the next line starts whole.
    pub fn open(path: &Path) -> Result<Recorder, TimelineError> {
        let shown = path.display().to_string();
        let err = |source| TimelineError {
            path: shown.clone(),
            source,
        };
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(err)?;
            file.read_exact(&mut last).map_err(err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(err)?;
            }
        }
        Ok(Recorder {
            path: shown,
            file,
            last_at: None,
            rollout: None,
            counts: None,
            rows: BTreeMap::new(),
            health: None,
            unscheduled: None,
            errors: None,
            workloads: None,
            written: 0,
            lines: 0,
        })
    }

    /// Takes in what the cockpit shows at `at` (the cluster's time), with `seq` the
    /// journal's last entry. Writes a line when `entry` (a journal entry was just
    /// written) or when [`EVERY`] has passed since the last line and something
    /// changed. Signals of a cockpit still listing are not recorded. Returns whether
    /// a line was written.
    pub fn observe(
        &mut self,
        at: Timestamp,
        seq: u64,
        signals: &Signals,
        rollout: Option<&RolloutState>,
        entry: bool,
    ) -> Result<bool, TimelineError> {
        if !entry && self.last_at.is_some_and(|t| at < t + EVERY) {
            return Ok(false);
        }
        let mut s = Sample {
            at: Some(at),
            seq,
            ..Sample::default()
        };
        if let Some(r) = rollout
            && self.rollout.as_ref() != Some(r)
        {
            self.rollout = Some(r.clone());
            s.rollout = Some(r.clone());
        }
        if signals.synced {
            self.signals(signals, &mut s);
        }
        if !entry && !s.changes() {
            return Ok(false);
        }
        self.write(&s)?;
        self.last_at = Some(at);
        Ok(true)
    }

    /// What changed in the signals since the last line, into `s`.
    fn signals(&mut self, signals: &Signals, s: &mut Sample) {
        let counts = NodeState {
            target: signals.nodes.target.clone(),
            all: signals.nodes.all.clone(),
            groups: signals.nodes.groups.clone(),
            rows: Vec::new(),
        };
        s.counts = changed(&mut self.counts, &counts);
        let mut seen = std::collections::HashSet::with_capacity(signals.nodes.rows.len());
        for row in &signals.nodes.rows {
            seen.insert(row.name.as_str());
            if self.rows.get(&row.name) != Some(row) {
                self.rows.insert(row.name.clone(), row.clone());
                s.nodes.push(row.clone());
            }
        }
        s.gone = self
            .rows
            .keys()
            .filter(|k| !seen.contains(k.as_str()))
            .cloned()
            .collect();
        for name in &s.gone {
            self.rows.remove(name);
        }
        s.health = changed(&mut self.health, &signals.health);
        s.unscheduled = changed(&mut self.unscheduled, &signals.unscheduled);
        s.errors = changed(&mut self.errors, &signals.errors);
        s.workloads = changed(&mut self.workloads, &signals.availability);
    }

    fn write(&mut self, s: &Sample) -> Result<(), TimelineError> {
        let mut line = serde_json::to_vec(s).map_err(|e| TimelineError {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|source| TimelineError {
            path: self.path.clone(),
            source,
        })?;
        self.written += line.len() as u64;
        self.lines += 1;
        Ok(())
    }
}

/// `now` when it differs from what `last` holds (and keeps it), else None.
fn changed<T: Clone + PartialEq>(last: &mut Option<T>, now: &T) -> Option<T> {
    if last.as_ref() == Some(now) {
        return None;
    }
    *last = Some(now.clone());
    Some(now.clone())
}
