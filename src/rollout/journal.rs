//! The rollout's journal: an append-only JSONL file of every operator decision,
//! every action (written *before* it is taken) and its result, and notable cluster
//! events. Each entry is flushed to disk (fsync) before `append` returns, so a
//! killed cockpit loses nothing it had recorded; an action with no result after a
//! crash is "in doubt", and its step must look at the real state before acting again.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{Level, Timestamp};

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum What {
    /// An operator's decision: proceed, override a red gate, pause, resume, abort,
    /// skip; for a held drain: keep-waiting, skip-node, delete-pod.
    Decision {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        decision: String,
        /// Required for overrides: the typed reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// What the decision is about, when not the whole step: a node's name or a
        /// pod's `namespace/name`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// About to act (written before the request is sent).
    Action {
        step: String,
        action: String,
        target: String,
    },
    /// How an action ended.
    Result {
        step: String,
        action: String,
        target: String,
        ok: bool,
        detail: String,
    },
    /// A step changed state: started, done, failed, skipped.
    Step { step: String, state: String },
    /// Something notable in the cluster or the cloud.
    Event {
        level: Level,
        object: String,
        reason: String,
        message: String,
    },
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3, ... with no gaps.
    pub seq: u64,
    pub at: Timestamp,
    /// The operator (`user@host`) or `upshift` for what the tool did on its own.
    pub who: String,
    #[serde(flatten)]
    pub what: What,
}

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
}

/// An open journal, positioned at its end.
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
    /// A torn last line (from a crash in the middle of a write) was cut off on open.
    pub repaired_tail: bool,
}

impl Journal {
    /// Opens the journal at `path`, creating it if missing, and reads what it holds.
    /// A last line cut short by a crash is removed; damage anywhere else is an error.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let io = |source| JournalError::Io {
            path: shown.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut good_len: u64 = 0;
        let mut repaired_tail = false;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            number += 1;
            if !line.ends_with('\n') {
                // the last line, cut short by a crash in the middle of a write: drop it
                repaired_tail = true;
                break;
            }
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
        })
    }

    /// Appends an entry and flushes it to disk before returning it.
    pub fn append(&mut self, who: &str, at: Timestamp, what: What) -> Result<&Entry, JournalError> {
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

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Actions recorded as started but with no result: after a crash, their steps
    /// must read the real state before doing anything again.
    pub fn in_doubt(&self) -> Vec<&Entry> {
        let finished: BTreeSet<(&str, &str, &str)> = self
            .entries
            .iter()
            .filter_map(|e| match &e.what {
                What::Result {
                    step, action, target, ..
                } => Some((step.as_str(), action.as_str(), target.as_str())),
                _ => None,
            })
            .collect();
        self.entries
            .iter()
            .filter(|e| match &e.what {
                What::Action { step, action, target } => {
                    !finished.contains(&(step.as_str(), action.as_str(), target.as_str()))
                }
                _ => false,
            })
            .collect()
    }

    /// Whether an action on a target finished well: it is not to be taken again.
    pub fn done(&self, step: &str, action: &str, target: &str) -> bool {
        self.entries.iter().any(|e| {
            matches!(&e.what, What::Result { step: s, action: a, target: t, ok: true, .. }
                if s == step && a == action && t == target)
        })
    }

    /// The operator's decisions about `step`, oldest first: (when, decision, target).
    pub fn decisions<'a>(&'a self, step: &'a str) -> impl Iterator<Item = (Timestamp, &'a str, Option<&'a str>)> + 'a {
        self.entries.iter().filter_map(move |e| match &e.what {
            What::Decision {
                step: Some(s),
                decision,
                target,
                ..
            } if s == step => Some((e.at, decision.as_str(), target.as_deref())),
            _ => None,
        })
    }

    /// Records `step`'s state unless it is already the last one recorded for it.
    pub fn set_step_state(&mut self, who: &str, at: Timestamp, step: &str, state: &str) -> Result<(), JournalError> {
        let last = self.entries.iter().rev().find_map(|e| match &e.what {
            What::Step { step: s, state } if s == step => Some(state.as_str()),
            _ => None,
        });
        if last != Some(state) {
            self.append(
                who,
                at,
                What::Step {
                    step: step.into(),
                    state: state.into(),
                },
            )?;
        }
        Ok(())
    }

    /// The last state recorded for each step, in the order steps first appeared.
    pub fn step_states(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for e in &self.entries {
            if let What::Step { step, state } = &e.what {
                match out.iter_mut().find(|(s, _)| s == step) {
                    Some(slot) => slot.1 = state.clone(),
                    None => out.push((step.clone(), state.clone())),
                }
            }
        }
        out
    }
}

/// `user@host`, for the journal and the lock.
pub fn operator_identity() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_second(1_750_000_000 + s as i64).unwrap()
    }

    fn action(target: &str) -> What {
        What::Action {
            step: "nodegroup/apps".into(),
            action: "drain".into(),
            target: target.into(),
        }
    }

    fn result(target: &str, ok: bool) -> What {
        What::Result {
            step: "nodegroup/apps".into(),
            action: "drain".into(),
            target: target.into(),
            ok,
            detail: String::new(),
        }
    }

    #[test]
    fn entries_survive_reopening_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(
                "ana@host",
                at(0),
                What::Decision {
                    step: None,
                    decision: "start".into(),
                    reason: None,
                    target: None,
                },
            )
            .unwrap();
            j.append("upshift", at(1), action("node-a")).unwrap();
            j.append("upshift", at(2), result("node-a", true)).unwrap();
            j.append("upshift", at(3), action("node-b")).unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        assert!(!j.repaired_tail);
        assert_eq!(j.entries().len(), 4);
        assert!(j.done("nodegroup/apps", "drain", "node-a"));
        assert!(!j.done("nodegroup/apps", "drain", "node-b"));
        let doubt = j.in_doubt();
        assert_eq!(doubt.len(), 1);
        assert!(matches!(&doubt[0].what, What::Action { target, .. } if target == "node-b"));
        let e = j.append("upshift", at(4), result("node-b", false)).unwrap();
        assert_eq!(e.seq, 5);
        assert!(j.in_doubt().is_empty());
        // the file is JSON lines with the type tag, for jq and for people
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(text.lines().next().unwrap().contains("\"type\":\"decision\""), "{text}");
    }

    #[test]
    fn a_line_torn_by_a_crash_is_cut_off_and_nothing_before_it_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append("upshift", at(1), action("node-a")).unwrap();
            j.append("upshift", at(2), result("node-a", true)).unwrap();
        }
        // a crash in the middle of the third write
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":3,"at":"2025-06-15T15:06:43Z","who":"ups"#)
            .unwrap();
        drop(f);
        let mut j = Journal::open(&path).unwrap();
        assert!(j.repaired_tail);
        assert_eq!(j.entries().len(), 2);
        assert_eq!(j.append("upshift", at(3), action("node-b")).unwrap().seq, 3);
        let again = Journal::open(&path).unwrap();
        assert_eq!(again.entries().len(), 3);
        assert!(!again.repaired_tail);
    }

    #[test]
    fn damage_before_the_end_is_refused_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append("upshift", at(1), action("node-a")).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}garbage\n{text}")).unwrap();
        let err = Journal::open(&path).err().expect("refused").to_string();
        assert!(err.contains("line 2") && err.contains("move it aside"), "{err}");
        // entries out of order are refused too
        std::fs::write(&path, format!("{text}{text}")).unwrap();
        let err = Journal::open(&path).err().expect("refused").to_string();
        assert!(err.contains("line 2") && err.contains("entry 1 follows 1"), "{err}");
    }

    #[test]
    fn decisions_written_before_they_had_a_target_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"seq":1,"at":"2025-06-15T15:06:40Z","who":"ana@host","type":"decision","step":"gate/control-plane","decision":"proceed"}"#,
                "\n"
            ),
        )
        .unwrap();
        let mut j = Journal::open(&path).unwrap();
        assert!(matches!(&j.entries()[0].what, What::Decision { target: None, .. }));
        j.append(
            "ana@host",
            at(1),
            What::Decision {
                step: Some("nodegroup/batch".into()),
                decision: "skip-node".into(),
                reason: None,
                target: Some("ip-10-0-0-1".into()),
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.lines().next().unwrap().contains("target"), "{text}");
        assert!(
            text.lines().nth(1).unwrap().contains(r#""target":"ip-10-0-0-1""#),
            "{text}"
        );
        let again = Journal::open(&path).unwrap();
        let seen: Vec<_> = again.decisions("nodegroup/batch").map(|(_, d, t)| (d, t)).collect();
        assert_eq!(seen, [("skip-node", Some("ip-10-0-0-1"))]);
    }

    #[test]
    fn step_states_keep_the_last_state_in_first_seen_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
        for (step, state) in [
            ("control-plane", "started"),
            ("addon/coredns", "started"),
            ("control-plane", "done"),
        ] {
            j.append(
                "upshift",
                at(0),
                What::Step {
                    step: step.into(),
                    state: state.into(),
                },
            )
            .unwrap();
        }
        assert_eq!(
            j.step_states(),
            [
                ("control-plane".to_string(), "done".to_string()),
                ("addon/coredns".to_string(), "started".to_string())
            ]
        );
        assert!(operator_identity().contains('@'));
    }
}
