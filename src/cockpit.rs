//! The cockpit's state: what it is connected to, the cluster model, the signals
//! computed from it, their time series, the event log and the view (focus,
//! selection, filter, overlays). `apply` and `tick` are its only ways to change
//! from the outside world; keys change it through `ui::keymap`.

use crate::cluster::Connection;
use crate::model::node::NodeInfo;
use crate::model::rollout::Followed;
use crate::model::{
    ClusterModel, Delta, EventLog, Level, LogEntry, RolloutState, SeriesSet, Signals, Source, SourceState, Timestamp,
};
use crate::rollout::journal::{Entry, What};
use crate::ui::View;

/// How many entries the event log keeps.
pub const LOG_CAPACITY: usize = 5_000;

pub struct Cockpit {
    pub connection: Connection,
    /// Built without any handle that can write: shown as a READ-ONLY badge.
    pub read_only: bool,
    pub model: ClusterModel,
    pub signals: Signals,
    pub series: SeriesSet,
    pub log: EventLog,
    pub view: View,
    /// The rollout being driven: the lead's own, or the one a read-only cockpit
    /// follows through the cluster's ConfigMap. None when nothing is driven.
    pub rollout: Option<RolloutState>,
    /// The time ages are measured against (the latest of the wall clock and the cluster's).
    pub now: Timestamp,
    /// The newest journal entry shown in the log.
    journal_seq: u64,
    /// Something changed since the last frame.
    pub dirty: bool,
    signals_at: u64,
}

impl Cockpit {
    pub fn new(connection: Connection, read_only: bool, now: Timestamp) -> Cockpit {
        let mut log = EventLog::new(LOG_CAPACITY);
        log.now = Some(now);
        Cockpit {
            connection,
            read_only,
            model: ClusterModel::new(now),
            signals: Signals::default(),
            series: SeriesSet::new(SeriesSet::DEFAULT_CAPACITY),
            log,
            view: View::default(),
            rollout: None,
            journal_seq: 0,
            now,
            dirty: true,
            signals_at: u64::MAX,
        }
    }

    /// Takes in a batch of changes from the watches.
    pub fn apply(&mut self, delta: Delta) {
        if let Delta::Rollout(followed) = delta {
            // the lead shows its own drive's state, not what it published
            if self.read_only {
                self.follow(followed.map(|f| *f));
            }
            return;
        }
        if let Delta::Nodes(changes) = &delta
            && self.model.sources.get(&Source::Nodes) == Some(&SourceState::Synced)
        {
            for c in changes {
                self.note_node_change(c);
            }
        }
        self.model.apply(delta, &mut self.log);
        self.dirty = true;
    }

    /// Notes in the log what happened to a node: joined, NotReady, cordoned, removed.
    fn note_node_change(&mut self, change: &crate::model::Change<NodeInfo>) {
        use crate::model::Change;
        let entries = match change {
            Change::Upsert(key, new) => match self.model.nodes.items.get(key) {
                None => vec![(
                    Level::Info,
                    "NodeJoined",
                    format!("joined group {} on kubelet {}", new.group, new.kubelet),
                )],
                Some(old) => node_transitions(old, new),
            },
            Change::Delete(key) => match self.model.nodes.items.get(key) {
                Some(old) => vec![(Level::Info, "NodeRemoved", format!("left group {}", old.group))],
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        let name = match change {
            Change::Upsert(k, _) | Change::Delete(k) => k.clone(),
            _ => return,
        };
        for (level, reason, message) in entries {
            let mut e = LogEntry::local(level, reason, message);
            e.object = format!("Node/{name}");
            self.log.push(e);
        }
    }

    /// A read-only cockpit takes in the rollout a lead published.
    fn follow(&mut self, followed: Option<Followed>) {
        match followed {
            Some(f) => {
                if self.rollout.is_none() {
                    self.log.push(LogEntry::local(
                        Level::Info,
                        "Following",
                        format!("following the rollout driven by {}", f.state.lead),
                    ));
                }
                self.set_rollout(f.state);
                self.note_journal(&f.journal);
            }
            None => {
                if let Some(r) = self.rollout.take() {
                    self.log.push(LogEntry::local(
                        Level::Info,
                        "Following",
                        format!("the rollout driven by {} is no longer published", r.lead),
                    ));
                }
            }
        }
        self.dirty = true;
    }

    /// Takes in where the driven rollout stands: its target becomes the minor nodes
    /// are judged old or new against; the lead's screen opens on the rollout.
    pub fn set_rollout(&mut self, state: RolloutState) {
        if self.rollout.is_none() && !self.read_only {
            self.view.focus = crate::ui::Pane::Rollout;
        }
        if !state.target.is_empty() && self.model.rollout_target.as_deref() != Some(state.target.as_str()) {
            self.model.rollout_target = Some(state.target.clone());
            self.model.generation += 1;
        }
        self.rollout = Some(state);
        self.dirty = true;
    }

    /// Shows journal entries in the event log, each once (by sequence number;
    /// entries without one are notes that are not journaled and always shown).
    pub fn note_journal(&mut self, entries: &[Entry]) {
        for e in entries {
            if e.seq != 0 && e.seq <= self.journal_seq {
                continue;
            }
            self.journal_seq = self.journal_seq.max(e.seq);
            self.log.push(journal_log_entry(e));
        }
        self.dirty = true;
    }

    /// Recomputes the signals if the model moved since they were computed.
    pub fn refresh(&mut self) {
        if self.signals_at != self.model.generation {
            self.signals = Signals::compute(&self.model);
            self.signals_at = self.model.generation;
        }
    }

    /// Once a second: a new sample of every series.
    pub fn tick(&mut self, now: Timestamp) {
        self.now = now;
        self.log.now = Some(now);
        self.refresh();
        self.series.sample(&self.signals);
        self.dirty = true;
    }
}

/// How a journal entry reads in the event log.
pub fn journal_log_entry(e: &Entry) -> LogEntry {
    let (level, object, reason, message) = match &e.what {
        What::Decision {
            step,
            decision,
            target,
            reason,
        } => {
            let level = match decision.as_str() {
                "override" | "skip" | "abort" | "force" | "delete-pod" | "skip-node" => Level::Warning,
                _ => Level::Info,
            };
            let mut m = format!("{} decided {decision}", e.who);
            if let Some(t) = target {
                m.push_str(&format!(" {t}"));
            }
            if let Some(r) = reason {
                m.push_str(&format!(": {r}"));
            }
            (level, step.clone().unwrap_or_default(), "Decision", m)
        }
        What::Action { step, action, target } => (Level::Info, step.clone(), "Action", format!("{action} {target}")),
        What::Result {
            step,
            action,
            target,
            ok,
            detail,
        } => {
            let (level, word) = if *ok {
                (Level::Info, "done")
            } else {
                (Level::Warning, "failed")
            };
            let mut m = format!("{action} {target} {word}");
            if !detail.is_empty() {
                m.push_str(&format!(": {detail}"));
            }
            (level, step.clone(), "Result", m)
        }
        What::Step { step, state } => (Level::Info, step.clone(), "Step", format!("{step} {state}")),
        What::Event {
            level,
            object,
            reason,
            message,
        } => (*level, object.clone(), reason.as_str(), message.clone()),
    };
    LogEntry {
        at: Some(e.at),
        level,
        object,
        reason: reason.to_string(),
        message,
        count: 1,
    }
}

fn node_transitions(old: &NodeInfo, new: &NodeInfo) -> Vec<(Level, &'static str, String)> {
    use crate::model::node::Tri;
    let mut out = Vec::new();
    if old.ready == Tri::True && new.ready != Tri::True {
        let why = new
            .problems
            .iter()
            .find(|p| p.condition == "Ready")
            .map(|p| format!(": {} {}", p.reason, p.message))
            .unwrap_or_default();
        out.push((Level::Warning, "NodeNotReady", format!("NotReady{why}")));
    } else if old.ready != Tri::True && new.ready == Tri::True {
        out.push((Level::Info, "NodeReady", "Ready".to_string()));
    }
    if !old.unschedulable && new.unschedulable {
        out.push((Level::Info, "NodeCordoned", "cordoned".to_string()));
    } else if old.unschedulable && !new.unschedulable {
        out.push((Level::Info, "NodeUncordoned", "uncordoned".to_string()));
    }
    if !old.terminating() && new.terminating() {
        out.push((Level::Info, "NodeTerminating", "being removed".to_string()));
    }
    if old.kubelet != new.kubelet {
        out.push((
            Level::Info,
            "KubeletVersion",
            format!("kubelet {} → {}", old.kubelet, new.kubelet),
        ));
    }
    out
}
