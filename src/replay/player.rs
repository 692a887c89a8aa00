//! The player behind `upshift replay`: the journal's entries and the timeline's
//! samples merged into moments in the cluster's time, a position that moves at a
//! chosen speed (or stands paused), and what the cockpit showed at the moment the
//! position has reached. Pure: no terminal, no file.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::availability::Availability;
use crate::model::journal::{Entry, StepId, StepState, What};
use crate::model::rollout::{GateView, Phase, StepView};
use crate::model::signals::{NodeHealth, NodeRow, NodeState, PodErrors, Signals, Unscheduled};
use crate::model::{RolloutState, Timestamp};
use crate::timeline::Sample;

/// The speeds offered, in cluster seconds per real second.
pub const SPEEDS: [u32; 10] = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];
/// The speed a replay starts at (an index into [`SPEEDS`]).
pub const START_SPEED: usize = 5;

/// One moment of the rollout: a journal entry, or a sample of what the cockpit saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    pub at: Timestamp,
    /// The journal's last entry at this moment.
    pub seq: u64,
    pub what: MomentKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MomentKind {
    /// `entries[i]`; `decision` when it is an operator's decision or an override's acceptance.
    Entry { index: usize, decision: bool },
    /// `samples[i]`
    Sample(usize),
}

/// What is shown at a moment.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub at: Option<Timestamp>,
    pub seq: u64,
    pub rollout: Option<RolloutState>,
    /// None without a timeline (or before its first sample).
    pub signals: Option<Signals>,
}

/// The timeline's samples folded up to one of them.
#[derive(Default)]
struct Folded {
    /// The last sample taken in.
    upto: Option<usize>,
    rollout: Option<RolloutState>,
    counts: NodeState,
    rows: BTreeMap<String, NodeRow>,
    health: NodeHealth,
    unscheduled: Unscheduled,
    errors: PodErrors,
    workloads: Availability,
}

impl Folded {
    fn take(&mut self, s: &Sample) {
        if let Some(r) = &s.rollout {
            self.rollout = Some(r.clone());
        }
        if let Some(c) = &s.counts {
            self.counts = c.clone();
        }
        for n in &s.nodes {
            self.rows.insert(n.name.clone(), n.clone());
        }
        for g in &s.gone {
            self.rows.remove(g);
        }
        if let Some(h) = &s.health {
            self.health = h.clone();
        }
        if let Some(u) = &s.unscheduled {
            self.unscheduled = u.clone();
        }
        if let Some(e) = &s.errors {
            self.errors = e.clone();
        }
        if let Some(w) = &s.workloads {
            self.workloads = w.clone();
        }
    }

    fn signals(&self) -> Signals {
        let mut rows: Vec<NodeRow> = self.rows.values().cloned().collect();
        rows.sort_by(|a, b| a.group.cmp(&b.group).then(a.name.cmp(&b.name)));
        Signals {
            synced: true,
            pods_total: rows.iter().map(|r| r.pods as usize).sum(),
            nodes: NodeState {
                rows,
                ..self.counts.clone()
            },
            health: self.health.clone(),
            unscheduled: self.unscheduled.clone(),
            errors: self.errors.clone(),
            availability: self.workloads.clone(),
            ..Signals::default()
        }
    }
}

/// A past rollout, played.
pub struct Player {
    entries: Vec<Entry>,
    samples: Vec<Sample>,
    moments: Vec<Moment>,
    index: usize,
    position: Option<Timestamp>,
    paused: bool,
    speed: usize,
    folded: Folded,
}

impl Player {
    /// A player over a journal's entries and its timeline's samples (none: the
    /// journal alone), standing at the first moment, playing.
    pub fn new(entries: Vec<Entry>, samples: Vec<Sample>) -> Player {
        let mut moments: Vec<Moment> = entries
            .iter()
            .enumerate()
            .map(|(index, e)| Moment {
                at: e.at,
                seq: e.seq,
                what: MomentKind::Entry {
                    index,
                    decision: matches!(e.what, What::Decision { .. } | What::Accept { .. }),
                },
            })
            .chain(samples.iter().enumerate().filter_map(|(i, s)| {
                Some(Moment {
                    at: s.at?,
                    seq: s.seq,
                    what: MomentKind::Sample(i),
                })
            }))
            .collect();
        // in time; at one instant the journal's entry before what was seen after it
        moments.sort_by_key(|m| (m.at, m.seq, matches!(m.what, MomentKind::Sample(_))));
        let mut seq = 0;
        for m in &mut moments {
            seq = seq.max(m.seq);
            m.seq = seq;
        }
        let position = moments.first().map(|m| m.at);
        Player {
            entries,
            samples,
            moments,
            index: 0,
            position,
            paused: false,
            speed: START_SPEED,
            folded: Folded::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.moments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.moments.is_empty()
    }

    /// Whether a timeline was recorded with the journal.
    pub fn has_timeline(&self) -> bool {
        !self.samples.is_empty()
    }

    /// The moment shown (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn moment(&self) -> Option<&Moment> {
        self.moments.get(self.index)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn at_end(&self) -> bool {
        self.index + 1 >= self.moments.len()
    }

    /// Cluster seconds per real second.
    pub fn speed(&self) -> u32 {
        SPEEDS[self.speed]
    }

    pub fn faster(&mut self) {
        self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
    }

    pub fn slower(&mut self) {
        self.speed = self.speed.saturating_sub(1);
    }

    /// Pauses, or plays on (from the start again once at the end).
    pub fn toggle_pause(&mut self) {
        if self.paused && self.at_end() {
            self.seek(0);
        }
        self.paused = !self.paused;
    }

    /// Shows moment `index` (clamped to the last).
    pub fn seek(&mut self, index: usize) {
        self.index = index.min(self.moments.len().saturating_sub(1));
        self.position = self.moment().map(|m| m.at);
    }

    /// Moves the position on by `real` time at the current speed, unless paused; stops
    /// (paused) at the last moment. Returns whether the moment shown changed.
    pub fn advance(&mut self, real: Duration) -> bool {
        let Some(position) = self.position else { return false };
        if self.paused {
            return false;
        }
        let ms = (real.as_secs_f64() * f64::from(self.speed()) * 1000.0) as i64;
        let position = position + jiff::SignedDuration::from_millis(ms);
        self.position = Some(position);
        let before = self.index;
        while self.index + 1 < self.moments.len() && self.moments[self.index + 1].at <= position {
            self.index += 1;
        }
        if self.at_end() {
            self.paused = true;
        }
        self.index != before
    }

    /// Steps to the next operator decision after the moment shown and pauses there:
    /// the decision in the event log, the gate as the lead saw it when deciding.
    /// None (nothing moves) when there is none.
    pub fn next_decision(&mut self) -> Option<usize> {
        let next = (self.index + 1..self.moments.len())
            .find(|&i| matches!(self.moments[i].what, MomentKind::Entry { decision: true, .. }))?;
        self.seek(next);
        self.paused = true;
        Some(next)
    }

    /// The plan's steps in order: as the last recorded rollout lists them, else in
    /// the order the journal first names them.
    pub fn steps(&self) -> Vec<StepId> {
        if let Some(r) = self.samples.iter().rev().find_map(|s| s.rollout.as_ref())
            && !r.steps.is_empty()
        {
            return r.steps.iter().map(|s| s.id.clone()).collect();
        }
        let mut out: Vec<StepId> = Vec::new();
        for e in &self.entries {
            if let What::Step { step, .. } = &e.what
                && !out.contains(step)
            {
                out.push(step.clone());
            }
        }
        out
    }

    /// Jumps to where step `n` (1-based, in [`Player::steps`]) started, and pauses.
    /// Err says why not: no such step, or it never started.
    pub fn jump_to_step(&mut self, n: usize) -> Result<usize, String> {
        let steps = self.steps();
        let Some(id) = n.checked_sub(1).and_then(|i| steps.get(i)) else {
            return Err(format!("no step {n}: the rollout has {} steps", steps.len()));
        };
        let found = self.moments.iter().position(|m| match m.what {
            MomentKind::Entry { index, .. } => {
                matches!(&self.entries[index].what, What::Step { step, .. } if step == id)
            }
            MomentKind::Sample(_) => false,
        });
        let Some(i) = found else {
            return Err(format!("step {n} ({id}) never started"));
        };
        self.seek(i);
        self.paused = true;
        Ok(i)
    }

    /// What the cockpit showed at the moment shown.
    pub fn frame(&mut self) -> Frame {
        let Some(m) = self.moments.get(self.index).cloned() else {
            return Frame::default();
        };
        let sample = self.moments[..=self.index].iter().rev().find_map(|m| match m.what {
            MomentKind::Sample(i) => Some(i),
            MomentKind::Entry { .. } => None,
        });
        if sample.is_none() || sample < self.folded.upto {
            self.folded = Folded::default();
        }
        if let Some(to) = sample {
            let from = self.folded.upto.map_or(0, |u| u + 1);
            for s in &self.samples[from..=to] {
                self.folded.take(s);
            }
            self.folded.upto = Some(to);
        }
        let rollout = self
            .folded
            .rollout
            .clone()
            .or_else(|| from_journal(self.entries.iter().filter(|e| e.seq <= m.seq)));
        Frame {
            at: Some(m.at),
            seq: m.seq,
            rollout,
            signals: sample.map(|_| self.folded.signals()),
        }
    }
}

/// Where the rollout stood, from its journal alone: the steps it named and their
/// states, the last gate decided, and how it ended.
pub fn from_journal<'a>(entries: impl Iterator<Item = &'a Entry>) -> Option<RolloutState> {
    let mut r = RolloutState {
        phase: Phase::Running,
        ..RolloutState::default()
    };
    let mut any = false;
    for e in entries {
        any = true;
        r.updated = Some(e.at);
        match &e.what {
            What::Header(h) => {
                r.cluster = h.cluster.clone();
                r.target = h.target.clone();
            }
            What::Drive { .. } => r.lead = e.who.clone(),
            What::Step { step, state } => {
                let i = match r.steps.iter().position(|s| &s.id == step) {
                    Some(i) => i,
                    None => {
                        r.steps.push(StepView {
                            id: step.clone(),
                            label: step.to_string(),
                            ..StepView::default()
                        });
                        r.steps.len() - 1
                    }
                };
                r.steps[i].state = *state;
                r.current = Some(i);
                if *state == StepState::Failed {
                    r.phase = Phase::Failed {
                        why: format!("{step} failed"),
                        what_to_do: String::new(),
                        can_force: false,
                    };
                } else if !matches!(r.phase, Phase::Done | Phase::Aborted { .. }) {
                    r.phase = Phase::Running;
                }
            }
            What::Decision {
                step, decision, reason, ..
            } => {
                use crate::model::journal::{Decision, Subject};
                let mut said = format!("{decision} by {}", e.who);
                if let Some(why) = reason {
                    said.push_str(&format!(": {why}"));
                }
                if let Some(Subject::Gate(g)) = step {
                    r.gate = Some(GateView {
                        id: g.clone(),
                        title: g.to_string(),
                        decision: Some(said),
                        ..GateView::default()
                    });
                }
                match decision {
                    Decision::Abort => {
                        r.phase = Phase::Aborted {
                            detail: format!("aborted by {}", e.who),
                        }
                    }
                    Decision::Pause => r.phase = Phase::Paused,
                    Decision::Resume => r.phase = Phase::Running,
                    _ => {}
                }
            }
            What::Verdict { problems } => {
                r.phase = Phase::Done;
                r.problems = problems.clone();
            }
            _ => {}
        }
    }
    any.then_some(r)
}
