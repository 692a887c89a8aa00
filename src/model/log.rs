//! The live event log: the cluster's warning events and the cockpit's own notes,
//! newest last, in a ring buffer of bounded size.

use std::collections::VecDeque;

use k8s_openapi::api::core::v1::Event;

use super::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Level {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    /// When it happened (the cluster's clock for events; None for the cockpit's own notes
    /// until they are stamped on arrival).
    pub at: Option<Timestamp>,
    pub level: Level,
    /// `Node/ip-10-0-1-7`, `Pod/shop/web-7d9c-abcde`, or empty for the cockpit's notes.
    pub object: String,
    pub reason: String,
    pub message: String,
    /// How many times the cluster saw it (events are deduplicated with a count).
    pub count: u32,
}

impl LogEntry {
    /// A note from the cockpit itself.
    pub fn local(level: Level, reason: &str, message: String) -> LogEntry {
        LogEntry {
            at: None,
            level,
            object: String::new(),
            reason: reason.to_string(),
            message,
            count: 1,
        }
    }

    pub fn from_event(e: &Event) -> LogEntry {
        let o = &e.involved_object;
        let object = match (&o.kind, &o.namespace, &o.name) {
            (Some(k), Some(ns), Some(n)) if !ns.is_empty() => format!("{k}/{ns}/{n}"),
            (Some(k), _, Some(n)) => format!("{k}/{n}"),
            (None, _, Some(n)) => n.clone(),
            _ => String::new(),
        };
        let at = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
        LogEntry {
            at,
            level: if e.type_.as_deref() == Some("Warning") {
                Level::Warning
            } else {
                Level::Info
            },
            object,
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default().trim_end().to_string(),
            count: e.count.and_then(|c| u32::try_from(c).ok()).unwrap_or(1),
        }
    }
}

/// The most recent entries, oldest first.
#[derive(Debug)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    /// The time given to the cockpit's own notes (the latest the cockpit has seen).
    pub now: Option<Timestamp>,
    /// Entries ever pushed: lets a view tell that something new arrived.
    pub pushed: u64,
}

impl EventLog {
    pub fn new(capacity: usize) -> EventLog {
        EventLog {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            now: None,
            pushed: 0,
        }
    }

    /// Adds an entry in time order (events of an initial list arrive unordered).
    pub fn push(&mut self, mut entry: LogEntry) {
        if entry.at.is_none() {
            entry.at = self.now;
        }
        let pos = self.entries.iter().rposition(|e| e.at <= entry.at).map_or(0, |p| p + 1);
        if pos == 0 && self.entries.len() >= self.capacity {
            return; // older than everything kept
        }
        self.entries.insert(pos, entry);
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        self.pushed += 1;
    }

    pub fn entries(&self) -> &VecDeque<LogEntry> {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
