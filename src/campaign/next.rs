//! What is due next in a campaign (pure): the cluster to drive and in which window,
//! or what blocks the next stage (its predecessor not done, its soak, problems left
//! open and not accepted), or nothing: the campaign is done. Also the strip a
//! cockpit shows, and how long each step is expected to take from the clusters
//! already done.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::file::{Campaign, Stage};
use super::state::{ClusterState, Progress};
use super::window::{Opening, WindowNow, window_now};
use crate::model::campaign::{CampaignStrip, StripCluster, StripStage, StripWindow};
use crate::model::journal::StepId;

/// What is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Drive this cluster (resume it, when it is running).
    Drive {
        stage: String,
        cluster: String,
        /// Whether a rollout is already running there.
        resume: bool,
        /// The stage's window now (open with its close, or the next one).
        window: WindowNow,
        /// Who may drive it (empty: anyone).
        drivers: Vec<String>,
    },
    /// Nothing may start now, for these reasons.
    Blocked {
        /// The stage waiting.
        stage: String,
        reasons: Vec<String>,
        /// When the soak ends, when a soak is what blocks.
        soak_until: Option<Timestamp>,
    },
    /// Every cluster is done.
    Done,
}

/// The states of a campaign's clusters, by the cluster's name.
pub type States = BTreeMap<String, ClusterState>;

fn state<'a>(states: &'a States, name: &str) -> Option<&'a ClusterState> {
    states.get(name)
}

fn progress<'a>(states: &'a States, name: &str) -> &'a Progress {
    static NOT_STARTED: Progress = Progress::NotStarted;
    state(states, name).map_or(&NOT_STARTED, |s| &s.progress)
}

/// When a stage's soak ends: its last cluster's finish plus the soak (None while a
/// cluster of it is not finished, or no finish time is known).
pub fn soak_end(stage: &Stage, states: &States) -> Option<Timestamp> {
    let mut last: Option<Timestamp> = None;
    for c in &stage.clusters {
        let s = state(states, &c.name)?;
        if !s.progress.finished() {
            return None;
        }
        let f = s.finished?;
        last = Some(last.map_or(f, |l| l.max(f)));
    }
    last.and_then(|l| l.checked_add(stage.soak).ok())
}

/// The problems of earlier stages that neither `stage` nor a stage between has
/// accepted: (cluster, problem).
pub fn unaccepted<'a>(campaign: &'a Campaign, stage_index: usize, states: &'a States) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for (e, earlier) in campaign.stages[..stage_index].iter().enumerate() {
        let accepting = &campaign.stages[e + 1..=stage_index];
        for c in &earlier.clusters {
            for p in progress(states, &c.name).problems() {
                let accepted = accepting.iter().flat_map(|s| &s.accept).any(|a| {
                    a.cluster == c.name && (a.problems.is_empty() || a.problems.iter().any(|q| p.contains(q.as_str())))
                });
                if !accepted {
                    out.push((c.name.as_str(), p.as_str()));
                }
            }
        }
    }
    out
}

/// What is due at `now`.
pub fn due(campaign: &Campaign, states: &States, now: Timestamp) -> Due {
    // a running cluster is resumed first, wherever it is
    for (i, c) in campaign.clusters() {
        if matches!(progress(states, &c.name), Progress::Running { .. }) {
            let stage = &campaign.stages[i];
            return Due::Drive {
                stage: stage.name.clone(),
                cluster: c.name.clone(),
                resume: true,
                window: window_now(campaign, stage, now),
                drivers: stage.drivers.clone(),
            };
        }
    }
    for (i, stage) in campaign.stages.iter().enumerate() {
        if stage.clusters.iter().all(|c| progress(states, &c.name).finished()) {
            continue;
        }
        let mut reasons = Vec::new();
        let mut soak_until = None;
        if let Some(prev) = i.checked_sub(1).map(|p| &campaign.stages[p]) {
            match soak_end(prev, states) {
                Some(end) if end > now => {
                    reasons.push(format!(
                        "stage {} soaks {} after its last cluster finished: {} may start at {}",
                        prev.name,
                        super::file::show_duration(prev.soak),
                        stage.name,
                        campaign.show(end)
                    ));
                    soak_until = Some(end);
                }
                Some(_) => {}
                None if prev.soak > SignedDuration::ZERO => reasons.push(format!(
                    "stage {}'s finish time is not known (a cluster's journal is missing?): its soak cannot be measured",
                    prev.name
                )),
                None => {}
            }
            for (cluster, problem) in unaccepted(campaign, i, states) {
                reasons.push(format!(
                    "cluster {cluster} finished with an open problem: {problem}; accept it by name under stage {}'s `accept:` (cluster: {cluster}, reason, by) or fix it",
                    stage.name
                ));
            }
        }
        for c in &stage.clusters {
            if let Progress::Aborted { detail } = progress(states, &c.name) {
                reasons.push(format!(
                    "cluster {}'s rollout was aborted ({detail}): drive it again, or take it out of the campaign",
                    c.name
                ));
            }
        }
        if !reasons.is_empty() {
            return Due::Blocked {
                stage: stage.name.clone(),
                reasons,
                soak_until,
            };
        }
        let next = stage
            .clusters
            .iter()
            .find(|c| matches!(progress(states, &c.name), Progress::NotStarted));
        return match next {
            Some(c) => Due::Drive {
                stage: stage.name.clone(),
                cluster: c.name.clone(),
                resume: false,
                window: window_now(campaign, stage, now),
                drivers: stage.drivers.clone(),
            },
            None => Due::Blocked {
                stage: stage.name.clone(),
                reasons: vec![format!("stage {} has no cluster left to start", stage.name)],
                soak_until: None,
            },
        };
    }
    Due::Done
}

fn strip_window(o: &Opening) -> StripWindow {
    StripWindow {
        name: o.name.clone(),
        opens: Some(o.opens),
        closes: Some(o.closes),
    }
}

/// The campaign strip for a cockpit driving `driving` at `now`.
pub fn strip(campaign: &Campaign, states: &States, driving: &str, now: Timestamp) -> CampaignStrip {
    let stages = campaign
        .stages
        .iter()
        .map(|s| StripStage {
            name: s.name.clone(),
            clusters: s
                .clusters
                .iter()
                .map(|c| StripCluster {
                    name: c.name.clone(),
                    state: progress(states, &c.name).word().to_string(),
                })
                .collect(),
        })
        .collect();
    let stage_index = campaign
        .stages
        .iter()
        .position(|s| s.clusters.iter().any(|c| c.name == driving));
    let (window, next_window) = match stage_index.map(|i| window_now(campaign, &campaign.stages[i], now)) {
        Some(WindowNow::Open(o)) => {
            let next = super::window::next_after(campaign, &campaign.stages[stage_index.unwrap_or(0)], o.closes);
            (Some(strip_window(&o)), next.as_ref().map(strip_window))
        }
        Some(WindowNow::Closed { next }) => (None, next.as_ref().map(strip_window)),
        Some(WindowNow::Anytime) | None => (None, None),
    };
    let soak_until = stage_index
        .and_then(|i| i.checked_sub(1))
        .and_then(|p| soak_end(&campaign.stages[p], states))
        .filter(|end| *end > now);
    CampaignStrip {
        name: campaign.name.clone(),
        target: campaign.target.to_string(),
        stages,
        driving: driving.to_string(),
        window,
        next_window,
        soak_until,
    }
}

/// How long each step is expected to take: the longest it took on the clusters
/// already finished (node group steps by their group's name, as on every cluster).
pub fn expected_durations(campaign: &Campaign, states: &States) -> BTreeMap<StepId, Duration> {
    let mut out: BTreeMap<StepId, Duration> = BTreeMap::new();
    for (_, c) in campaign.clusters() {
        let Some(s) = state(states, &c.name).filter(|s| s.progress.finished()) else {
            continue;
        };
        for (id, d) in &s.steps {
            let d = Duration::try_from(*d).unwrap_or_default();
            let e = out.entry(id.clone()).or_default();
            *e = (*e).max(d);
        }
    }
    out
}

/// `Due` as a serializable summary, for status's JSON.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DueView {
    Drive {
        stage: String,
        cluster: String,
        resume: bool,
    },
    Blocked {
        stage: String,
        reasons: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        soak_until: Option<Timestamp>,
    },
    Done,
}

impl From<&Due> for DueView {
    fn from(d: &Due) -> DueView {
        match d {
            Due::Drive {
                stage, cluster, resume, ..
            } => DueView::Drive {
                stage: stage.clone(),
                cluster: cluster.clone(),
                resume: *resume,
            },
            Due::Blocked {
                stage,
                reasons,
                soak_until,
            } => DueView::Blocked {
                stage: stage.clone(),
                reasons: reasons.clone(),
                soak_until: *soak_until,
            },
            Due::Done => DueView::Done,
        }
    }
}

#[cfg(test)]
mod tests;
