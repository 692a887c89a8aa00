//! The cockpit's state: what it is connected to, the cluster model, the signals
//! computed from it, their time series, the event log and the view (focus,
//! selection, filter, overlays). `apply` and `tick` are its only ways to change
//! from the outside world; keys change its view through the screen's `update`.

pub mod eta;
pub mod lead;
pub mod order;
pub mod pod_detail;
pub mod view;

use tokio::sync::mpsc;

use crate::cluster::Connection;
use crate::model::journal::{Entry, What};
use crate::model::node::NodeInfo;
use crate::model::rollout::{Command, Published};
use crate::model::{
    ClusterModel, Delta, EventLog, Level, LogEntry, RolloutState, SeriesSet, Signals, Source, SourceState, Timestamp,
};
use lead::{Controls, DriveStopped};
use view::{Pane, View};

/// How many batches are taken in at once before the loop looks at keys and the clock again.
const MAX_BATCHES_PER_TURN: usize = 64;

/// How many entries the event log keeps.
pub const LOG_CAPACITY: usize = 5_000;

pub struct Cockpit {
    pub connection: Connection,
    /// The lead's hold on the drive; None in a read-only cockpit, which has no way
    /// to send a decision (and shows a READ-ONLY badge).
    controls: Option<Controls>,
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
    /// The node group the node list was last put first (the current step's).
    first_group: Option<String>,
    /// A read-only cockpit's view of the cluster's clock, from the published state.
    cluster_clock: crate::units::time::ClusterClock,
    /// Whether the API server's clock was known when the cockpit began measuring.
    server_clock_known: bool,
    /// The containers and logs of the pod whose detail was opened last.
    pub pod_detail: Option<pod_detail::PodFetch>,
    /// A replay's header: the moment shown, the speed, what is missing. None live.
    pub replay: Option<String>,
    /// EKS's support calendar for the cluster's minors, read once from the cloud by
    /// whoever built the cockpit. None without a cloud: the header then says nothing.
    pub support: Option<crate::model::support::SupportCalendar>,
}

impl Cockpit {
    /// A read-only cockpit: it watches, and follows a rollout a lead publishes.
    pub fn new(connection: Connection, now: Timestamp) -> Cockpit {
        Cockpit::with(connection, None, now)
    }

    /// The lead's cockpit: its decisions go to the drive through `controls`.
    pub fn lead(connection: Connection, controls: Controls, now: Timestamp) -> Cockpit {
        Cockpit::with(connection, Some(controls), now)
    }

    fn with(connection: Connection, controls: Option<Controls>, now: Timestamp) -> Cockpit {
        let connection_clock_known = connection.clock.known();
        let mut log = EventLog::new(LOG_CAPACITY);
        log.now = Some(now);
        Cockpit {
            connection,
            controls,
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
            first_group: None,
            cluster_clock: crate::units::time::ClusterClock::default(),
            server_clock_known: connection_clock_known,
            pod_detail: None,
            replay: None,
            support: None,
        }
    }

    /// Whether this cockpit cannot decide anything: it holds no controls.
    pub fn read_only(&self) -> bool {
        self.controls.is_none()
    }

    /// The lead handed the drive to `to`: this cockpit gives its controls up and,
    /// read-only from now on, follows the rollout the new lead publishes, as a shadow
    /// does. Nothing it holds can decide anything any more.
    pub fn hand_over_seat(&mut self, to: &str) {
        if self.controls.take().is_some() {
            let message =
                format!("handed over to {to}: this cockpit is read-only now and follows the rollout as a shadow does");
            self.view.message = Some(message.clone());
            self.log.push(LogEntry::local(Level::Info, "HandedOver", message));
            self.dirty = true;
        }
    }

    /// Sends the lead's decision to the drive. A read-only cockpit has nowhere to send
    /// it, and a stopped drive takes nothing: either way the footer and the log say
    /// so, and nothing is sent.
    pub fn decide(&mut self, command: Command) -> Result<(), NotSent> {
        let result = match &self.controls {
            None => Err(NotSent::ReadOnly),
            Some(c) => c.send(command).map_err(NotSent::Stopped),
        };
        if let Err(e) = &result {
            self.view.message = Some(e.to_string());
            self.log.push(LogEntry::local(Level::Warning, "NotSent", e.to_string()));
            self.dirty = true;
        }
        result
    }

    /// Takes in `first` and every batch already waiting behind it (up to a bound), so
    /// that a burst of changes costs one redraw.
    pub fn take_in(&mut self, first: Delta, rx: &mut mpsc::Receiver<Delta>) {
        self.apply(first);
        for _ in 1..MAX_BATCHES_PER_TURN {
            match rx.try_recv() {
                Ok(d) => self.apply(d),
                Err(_) => break,
            }
        }
    }

    /// Takes in a batch of changes from the watches.
    pub fn apply(&mut self, delta: Delta) {
        if let Delta::Rollout(followed) = delta {
            // the lead shows its own drive's state, not what it published
            if self.read_only() {
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
        self.model.now = self.now;
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
    fn follow(&mut self, followed: Option<Published>) {
        match followed {
            Some(f) => {
                if self.rollout.is_none() {
                    self.log.push(LogEntry::local(
                        Level::Info,
                        "Following",
                        format!("following the rollout driven by {}", f.state.lead),
                    ));
                }
                if let Some(at) = f.state.updated
                    && self.cluster_clock.observe(at, std::time::Instant::now())
                {
                    // the first time the cluster's clock is known: what is new is what
                    // came after it, and the screen measures against it at once
                    self.model.started = at;
                    self.signals_at = u64::MAX;
                    self.now = at;
                    self.log.now = Some(at);
                }
                self.set_rollout(f.state);
                self.note_journal(&f.recent);
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
        if self.rollout.is_none() && !self.read_only() {
            self.view.focus = Pane::Rollout;
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

    /// The newest journal entry shown in the log.
    pub fn journal_seq(&self) -> u64 {
        self.journal_seq
    }

    /// Empties the event log, so that a replay going back in time shows the journal
    /// only up to the moment it went back to.
    pub fn restart_log(&mut self) {
        self.log = EventLog::new(LOG_CAPACITY);
        self.log.now = Some(self.now);
        self.journal_seq = 0;
        self.dirty = true;
    }

    /// Recomputes the signals if the model moved since they were computed.
    pub fn refresh(&mut self) {
        let group = self
            .rollout
            .as_ref()
            .filter(|r| !r.finished())
            .and_then(RolloutState::current_step)
            .and_then(|s| s.id.nodegroup())
            .map(str::to_string);
        let fresh = self.signals_at != self.model.generation;
        if fresh {
            self.signals = Signals::compute(&self.model);
            self.signals_at = self.model.generation;
        }
        if fresh || group != self.first_group {
            order::nodes(&mut self.signals.nodes.rows, group.as_deref());
            self.first_group = group;
        }
    }

    /// Once a second: a new sample of every series. A read-only cockpit that follows a
    /// rollout measures against the cluster's clock, not `now`.
    pub fn tick(&mut self, now: Timestamp) {
        self.tick_at(now, std::time::Instant::now());
    }

    /// [`Cockpit::tick`], at a given instant of this machine's monotonic clock.
    pub fn tick_at(&mut self, now: Timestamp, local: std::time::Instant) {
        let now = match self.cluster_clock.now(local) {
            Some(cluster) if self.read_only() => cluster,
            _ => now,
        };
        if !self.server_clock_known && self.connection.clock.known() {
            // the API server's clock came to be known after the cockpit began: what
            // is new is what came after it, measured on it
            self.server_clock_known = true;
            if self.cluster_clock.now(local).is_none() {
                self.model.started = now;
                self.signals_at = u64::MAX;
            }
        }
        self.now = now;
        self.log.now = Some(now);
        self.refresh();
        self.series.sample(&self.signals);
        self.dirty = true;
    }
}

/// Why a decision was not sent to the drive.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    #[error("{}", READ_ONLY)]
    ReadOnly,
    #[error(transparent)]
    Stopped(DriveStopped),
}

/// What a read-only cockpit says to a key that would decide something.
pub const READ_ONLY: &str = "read-only: the lead decides";

/// How a journal entry reads in the event log.
pub fn journal_log_entry(e: &Entry) -> LogEntry {
    let (level, object, reason, message) = match &e.what {
        What::Decision {
            step,
            decision,
            target,
            reason,
        } => {
            let level = if decision.is_warning() {
                Level::Warning
            } else {
                Level::Info
            };
            let mut m = format!("{} decided {decision}", e.who);
            if let Some(t) = target {
                m.push_str(&format!(" {t}"));
            }
            if let Some(r) = reason {
                m.push_str(&format!(": {r}"));
            }
            let object = step.as_ref().map(ToString::to_string).unwrap_or_default();
            (level, object, "Decision", m)
        }
        What::Action { step, action, target } => {
            (Level::Info, step.to_string(), "Action", format!("{action} {target}"))
        }
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
            (level, step.to_string(), "Result", m)
        }
        What::Step { step, state } => (Level::Info, step.to_string(), "Step", format!("{step} {state}")),
        What::Event {
            level,
            object,
            reason,
            message,
        } => (*level, object.clone(), reason.as_str(), message.clone()),
        What::Header(h) => (
            Level::Info,
            h.cluster.clone(),
            "Journal",
            format!("journal of the rollout to {} (plan {})", h.target, h.plan),
        ),
        What::Drive { id } => (
            Level::Info,
            String::new(),
            "Drive",
            format!("{} drives (drive {id})", e.who),
        ),
        What::Baseline { baseline } => (
            Level::Info,
            String::new(),
            "Baseline",
            format!(
                "the cluster before the rollout: {} pods in error, {} workloads not fully available, {} Services without endpoints",
                baseline.pod_errors,
                baseline.unavailable.len(),
                baseline.services_down.len()
            ),
        ),
        What::Accept { gate, items, reason } => (
            Level::Warning,
            gate.to_string(),
            "Accepted",
            format!(
                "{} accepted {}: {reason}",
                e.who,
                items.iter().map(|i| i.item.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
        What::Verdict { problems } if problems.is_empty() => (
            Level::Info,
            String::new(),
            "Verdict",
            "done: no open problem".to_string(),
        ),
        What::Verdict { problems } => (
            Level::Warning,
            String::new(),
            "Verdict",
            format!(
                "done with {}: {}",
                crate::model::rollout::open_problems(problems.len()),
                problems.join("; ")
            ),
        ),
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
