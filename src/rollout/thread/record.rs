//! The record of what the thread delivered, beside the journal: one JSON line per
//! delivery (with its receipt: a Slack thread to resume in) and per first failure of
//! an event at a sink. Read back on a resume; written 0600 (it names the thread).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::notify::sink::Receipt;
use crate::notify::{EventId, Outcome, Resume, SinkName};

#[derive(Debug, thiserror::Error)]
#[error("notification record {path}: {source}")]
pub struct RecordError {
    path: String,
    source: std::io::Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
enum Line {
    Delivered {
        at: Timestamp,
        sink: String,
        event: String,
        receipt: Receipt,
    },
    Failed {
        at: Timestamp,
        sink: String,
        event: String,
        error: String,
    },
    GaveUp {
        at: Timestamp,
        sink: String,
        event: String,
        error: String,
    },
}

impl Line {
    fn key(&self) -> (&'static str, &str, &str) {
        match self {
            Line::Delivered { sink, event, .. } => ("delivered", sink, event),
            Line::Failed { sink, event, .. } => ("failed", sink, event),
            Line::GaveUp { sink, event, .. } => ("gave-up", sink, event),
        }
    }
}

/// The open record.
pub struct Record {
    path: String,
    file: File,
    lines: Vec<Line>,
    seen: HashSet<(&'static str, String, String)>,
}

impl Record {
    /// Opens (or creates) the record; lines it cannot read (a torn last line) are left
    /// out, which at worst sends one message again.
    pub fn open(path: &Path) -> Result<Record, RecordError> {
        let shown = path.display().to_string();
        let err = |source| RecordError {
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
        let file = opts.open(path).map_err(err)?;
        let mut lines = Vec::new();
        for l in BufReader::new(&file).lines() {
            let l = l.map_err(err)?;
            if let Ok(line) = serde_json::from_str::<Line>(&l) {
                lines.push(line);
            }
        }
        let seen = lines
            .iter()
            .map(|l| {
                let (k, s, e) = l.key();
                (k, s.to_string(), e.to_string())
            })
            .collect();
        Ok(Record {
            path: shown,
            file,
            lines,
            seen,
        })
    }

    /// What a resumed notifier must know: what each sink delivered, and its thread.
    pub fn resume(&self) -> Resume {
        let mut r = Resume::default();
        for l in &self.lines {
            if let Line::Delivered {
                sink, event, receipt, ..
            } = l
            {
                r.delivered(&SinkName::new(sink.clone()), &EventId::new(event.clone()), receipt);
            }
        }
        r
    }

    /// Records an outcome worth keeping; true when it is the first of its kind for its
    /// sink and event (a failure is shown once, however many attempts follow).
    pub fn add(&mut self, o: &Outcome, at: Timestamp) -> Result<bool, RecordError> {
        let line = match o {
            Outcome::Delivered {
                event_id,
                sink,
                receipt,
            } => Line::Delivered {
                at,
                sink: sink.as_str().into(),
                event: event_id.as_str().into(),
                receipt: receipt.clone(),
            },
            Outcome::Failed {
                event_id, sink, error, ..
            } => Line::Failed {
                at,
                sink: sink.as_str().into(),
                event: event_id.as_str().into(),
                error: error.clone(),
            },
            Outcome::GaveUp {
                event_id, sink, error, ..
            } => Line::GaveUp {
                at,
                sink: sink.as_str().into(),
                event: event_id.as_str().into(),
                error: error.clone(),
            },
            Outcome::ThreadNotUpdated { .. } | Outcome::Dropped { .. } => return Ok(true),
        };
        let (k, s, e) = line.key();
        if !self.seen.insert((k, s.to_string(), e.to_string())) {
            return Ok(false);
        }
        let err = |source| RecordError {
            path: self.path.clone(),
            source,
        };
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        self.file.write_all(text.as_bytes()).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        self.lines.push(line);
        Ok(true)
    }

    /// Events delivered to `sink`, for tests and the report.
    pub fn delivered(&self, sink: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Delivered { sink: s, event, .. } if s == sink => Some(event.clone()),
                _ => None,
            })
            .collect()
    }
}
