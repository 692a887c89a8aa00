//! The rollout's journal: an append-only JSONL file of every operator decision,
//! every action (written *before* it is taken) and its result, and notable cluster
//! events. Each entry is flushed to disk (fsync) before `append` returns, so a
//! killed cockpit loses nothing it had recorded; an action with no result after a
//! crash is "in doubt", and its step must look at the real state before acting again.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::model::Timestamp;
use crate::model::journal::{Decision, Entry, GateId, Header, StepId, StepState, Subject, What};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "journal {path}, line {line}: not a journal entry ({message}); the file is damaged before its end: keep a copy and move it aside to start a new journal"
    )]
    Corrupt { path: String, line: usize, message: String },
    #[error("journal {path}, line {line}: entry {found} follows {expected_prev}; entries are missing or reordered")]
    Gap {
        path: String,
        line: usize,
        found: u64,
        expected_prev: u64,
    },
    #[error(
        "journal {path} records another rollout: {}; give this drive its own journal with --journal (or run the plan the journal was written for)",
        differs.join("; ")
    )]
    OtherRollout { path: String, differs: Vec<String> },
    #[error(
        "journal {path} is held by another drive running on this machine: watch it with `upshift watch`, or stop that drive (q, or its process) and run this command again to take over"
    )]
    Locked { path: String },
}

/// How a journal came to belong to the rollout being driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It was empty: its header is written now.
    New,
    /// Its header names this rollout.
    Same,
    /// It had entries but no header (written before headers existed): it is taken as
    /// this rollout's, and the header is added now.
    Adopted,
}

/// The longest journal line read: an entry is a few hundred bytes; a longer line is
/// damage, refused with its number rather than read into memory.
pub const MAX_LINE: usize = 1024 * 1024;

/// An open journal, positioned at its end.
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
    /// A torn last line (from a crash in the middle of a write) was cut off on open.
    pub repaired_tail: bool,
    /// How many bytes that torn line had.
    pub dropped_bytes: u64,
    /// Entries to write just before the next one (see [`Journal::defer`]).
    deferred: Vec<(String, Timestamp, What)>,
}

impl Journal {
    /// Opens the journal at `path`, creating it if missing, and reads what it holds.
    /// A last line cut short by a crash is removed; damage anywhere else is an error.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, false)
    }

    /// Opens the journal as its one writer: the file stays locked (`flock`) while the
    /// journal is open, and a journal another process holds is refused.
    pub fn open_exclusive(path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, true)
    }

    fn open_with(path: &Path, exclusive: bool) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let io = |source| JournalError::Io {
            path: shown.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            // journals name people and their reasons: readable by their owner only
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        if exclusive {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(JournalError::Locked { path: shown });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut good_len: u64 = 0;
        let mut repaired_tail = false;
        let mut dropped_bytes = 0;
        let mut reader = BufReader::new(&mut file);
        let mut bytes = Vec::new();
        let mut number = 0;
        loop {
            bytes.clear();
            // one line, at most MAX_LINE bytes of it (and the newline)
            let n = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut bytes)
                .map_err(io)?;
            if n == 0 {
                break;
            }
            number += 1;
            if !bytes.ends_with(b"\n") {
                if n > MAX_LINE {
                    return Err(JournalError::Corrupt {
                        path: shown,
                        line: number,
                        message: format!("a line longer than {MAX_LINE} bytes"),
                    });
                }
                // the last line, cut short by a crash in the middle of a write: drop it
                repaired_tail = true;
                dropped_bytes = n as u64;
                break;
            }
            let Ok(line) = std::str::from_utf8(&bytes) else {
                return Err(JournalError::Corrupt {
                    path: shown,
                    line: number,
                    message: "bytes that are not text (UTF-8)".into(),
                });
            };
            match serde_json::from_str::<Entry>(line.trim_end()) {
                Ok(e) => {
                    let prev = entries.last().map_or(0, |p| p.seq);
                    if e.seq != prev + 1 {
                        return Err(JournalError::Gap {
                            path: shown,
                            line: number,
                            found: e.seq,
                            expected_prev: prev,
                        });
                    }
                    entries.push(e);
                    good_len += n as u64;
                }
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: shown,
                        line: number,
                        message: e.to_string(),
                    });
                }
            }
        }
        drop(reader);
        if repaired_tail {
            file.set_len(good_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            entries,
            repaired_tail,
            dropped_bytes,
            deferred: Vec::new(),
        })
    }

    /// Keeps an entry to be written just before the next one appended: what a drive
    /// says about itself (its header on a journal adopted from an older upshift, its
    /// id) is then written only when it writes something of its own, so that merely
    /// opening an old rollout to look at it leaves the file as it was.
    pub fn defer(&mut self, who: &str, at: Timestamp, what: What) {
        self.deferred.push((who.to_string(), at, what));
    }

    /// Appends an entry (after the deferred ones) and flushes it to disk before
    /// returning it.
    pub fn append(&mut self, who: &str, at: Timestamp, what: What) -> Result<&Entry, JournalError> {
        for (w, t, d) in std::mem::take(&mut self.deferred) {
            self.write(&w, t, d)?;
        }
        self.write(who, at, what)
    }

    fn write(&mut self, who: &str, at: Timestamp, what: What) -> Result<&Entry, JournalError> {
        let entry = Entry {
            seq: self.entries.last().map_or(1, |e| e.seq + 1),
            at,
            who: who.to_string(),
            what,
        };
        let mut line = serde_json::to_string(&entry).map_err(|e| JournalError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        let io = |source| JournalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        // one write of the whole line, then to the disk
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// The rollout the journal belongs to, from its first header.
    pub fn header(&self) -> Option<&Header> {
        self.entries.iter().find_map(|e| match &e.what {
            What::Header(h) => Some(h),
            _ => None,
        })
    }

    /// Makes the journal the record of the rollout `header` names, or refuses it
    /// naming what differs. A journal without a header is adopted (see [`Claim`]):
    /// its header is deferred to the first entry the drive writes.
    pub fn claim(&mut self, header: &Header, who: &str, at: Timestamp) -> Result<Claim, JournalError> {
        let claim = self.check(header)?;
        match claim {
            Claim::New => {
                self.append(who, at, What::Header(header.clone()))?;
            }
            Claim::Adopted => self.defer(who, at, What::Header(header.clone())),
            Claim::Same => {}
        }
        Ok(claim)
    }

    /// What [`Journal::claim`] would do, writing nothing.
    pub fn check(&self, header: &Header) -> Result<Claim, JournalError> {
        Ok(match self.header() {
            Some(h) => {
                let differs = h.differences(header);
                if !differs.is_empty() {
                    return Err(JournalError::OtherRollout {
                        path: self.path.display().to_string(),
                        differs,
                    });
                }
                Claim::Same
            }
            None if self.entries.is_empty() => Claim::New,
            None => Claim::Adopted,
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Actions recorded as started but with no result: after a crash, their steps
    /// must read the real state before doing anything again.
    pub fn in_doubt(&self) -> Vec<&Entry> {
        let finished: BTreeSet<(&StepId, &str, &str)> = self
            .entries
            .iter()
            .filter_map(|e| match &e.what {
                What::Result {
                    step, action, target, ..
                } => Some((step, action.as_str(), target.as_str())),
                _ => None,
            })
            .collect();
        self.entries
            .iter()
            .filter(|e| match &e.what {
                What::Action { step, action, target } => !finished.contains(&(step, action.as_str(), target.as_str())),
                _ => false,
            })
            .collect()
    }

    /// Whether an action on a target finished well: it is not to be taken again.
    pub fn done(&self, step: &StepId, action: &str, target: &str) -> bool {
        self.entries.iter().any(|e| {
            matches!(&e.what, What::Result { step: s, action: a, target: t, ok: true, .. }
                if s == step && a == action && t == target)
        })
    }

    /// The operator's decisions about `step` (not its gates), oldest first: (when,
    /// decision, target).
    pub fn decisions<'a>(
        &'a self,
        step: &'a StepId,
    ) -> impl Iterator<Item = (Timestamp, Decision, Option<&'a str>)> + 'a {
        self.entries.iter().filter_map(move |e| match &e.what {
            What::Decision {
                step: Some(Subject::Step(s)),
                decision,
                target,
                ..
            } if s == step => Some((e.at, *decision, target.as_deref())),
            _ => None,
        })
    }

    /// Whether the operator decided `decision` about `step` after its failure was
    /// journaled: `step`'s last recorded state is `failed`, and the decision's entry
    /// comes after that state's. The order is the journal's own sequence, never a
    /// comparison of this machine's clock with the cloud's.
    pub fn decided_after_failure(&self, step: &StepId, decision: Decision) -> bool {
        let Some(failed) = self.entries.iter().rev().find_map(|e| match &e.what {
            What::Step { step: s, state } if s == step => Some((e.seq, *state)),
            _ => None,
        }) else {
            return false;
        };
        let (failed_at, StepState::Failed) = failed else {
            return false;
        };
        self.entries.iter().rev().take_while(|e| e.seq > failed_at).any(|e| {
            matches!(&e.what, What::Decision { step: Some(Subject::Step(s)), decision: d, .. }
                if s == step && *d == decision)
        })
    }

    /// The newest of the decisions `among` about `about` (None: the whole rollout).
    pub fn latest_decision(&self, about: Option<&Subject>, among: &[Decision]) -> Option<Decision> {
        self.entries.iter().rev().find_map(|e| match &e.what {
            What::Decision { step, decision, .. } if step.as_ref() == about && among.contains(decision) => {
                Some(*decision)
            }
            _ => None,
        })
    }

    /// The entries since the newest abort (all of them when there was none): an abort
    /// closes the gates passed before it.
    pub fn since_last_abort(&self) -> &[Entry] {
        let from = self
            .entries
            .iter()
            .rposition(|e| {
                matches!(
                    &e.what,
                    What::Decision {
                        decision: Decision::Abort,
                        ..
                    }
                )
            })
            .map_or(0, |i| i + 1);
        &self.entries[from..]
    }

    /// The decision that passed `gate` since the newest abort, if any.
    pub fn gate_decision(&self, gate: &GateId) -> Option<&Entry> {
        self.since_last_abort().iter().rev().find(|e| {
            matches!(&e.what, What::Decision { step: Some(Subject::Gate(g)), decision, .. }
                if g == gate && decision.passes_gate())
        })
    }

    /// Records `step`'s state unless it is already the last one recorded for it.
    pub fn set_step_state(
        &mut self,
        who: &str,
        at: Timestamp,
        step: &StepId,
        state: StepState,
    ) -> Result<(), JournalError> {
        let last = self.entries.iter().rev().find_map(|e| match &e.what {
            What::Step { step: s, state } if s == step => Some(*state),
            _ => None,
        });
        if last != Some(state) {
            self.append(
                who,
                at,
                What::Step {
                    step: step.clone(),
                    state,
                },
            )?;
        }
        Ok(())
    }

    /// The last state recorded for each step, in the order steps first appeared.
    pub fn step_states(&self) -> Vec<(StepId, StepState)> {
        let mut out: Vec<(StepId, StepState)> = Vec::new();
        for e in &self.entries {
            if let What::Step { step, state } = &e.what {
                match out.iter_mut().find(|(s, _)| s == step) {
                    Some(slot) => slot.1 = *state,
                    None => out.push((step.clone(), *state)),
                }
            }
        }
        out
    }
}

/// `user@host`, for the journal and the lock (`rollout::identity::operator` also
/// asks the system and the cluster when `$USER` is unset).
pub fn operator_identity() -> String {
    let user = env_user().unwrap_or_else(|| "someone".into());
    format!("{user}@{}", host_name())
}

/// `$USER`, or `$USERNAME`, when set and not empty.
pub fn env_user() -> Option<String> {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
}

/// This machine's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
