//! Where each cluster of a campaign stands. What was read of a cluster ([`Observed`]:
//! its published rollout, its control plane's version, its journal) is judged by a
//! pure function into a [`ClusterState`]; reading is separate ([`read`], the live
//! one, in `live.rs`), so that the stage logic is tested on states built by hand or
//! from fixture journals, without clusters.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::model::journal::{Decision, Entry, StepId, StepState, What};
use crate::model::rollout::{Phase, RolloutState};

/// What was read of one cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The control plane's version (`v1.34.2-eks-…`), when the cluster answered.
    pub version: Option<String>,
    /// The rollout the cluster's ConfigMap kube-system/upshift-rollout holds.
    pub published: Option<RolloutState>,
    /// The journal's entries, when the file exists.
    pub journal: Vec<Entry>,
    /// How many steps the cluster's plan has, when its plan file was read.
    pub plan_steps: Option<usize>,
    /// What could not be read, and why: `context staging-eu: connection refused`.
    pub unreadable: Vec<String>,
}

/// Where a cluster's rollout stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Progress {
    NotStarted,
    /// `step` (1-based) of `of` (when known), named by `at`.
    Running {
        step: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    Done,
    DoneWithProblems {
        problems: Vec<String>,
    },
    Aborted {
        detail: String,
    },
}

impl Progress {
    /// `not started`, `running`, `done`, `done with problems`, `aborted`.
    pub fn word(&self) -> &'static str {
        match self {
            Progress::NotStarted => "not started",
            Progress::Running { .. } => "running",
            Progress::Done => "done",
            Progress::DoneWithProblems { .. } => "done with problems",
            Progress::Aborted { .. } => "aborted",
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self, Progress::Done | Progress::DoneWithProblems { .. })
    }

    /// The open problems of a finished rollout.
    pub fn problems(&self) -> &[String] {
        match self {
            Progress::DoneWithProblems { problems } => problems,
            _ => &[],
        }
    }

    /// The state and what it means in a few words: `running (step 3 of 9: control-plane)`.
    pub fn describe(&self) -> String {
        match self {
            Progress::Running { step, of, at } => {
                let of = of.map(|n| format!(" of {n}")).unwrap_or_default();
                let at = at.as_ref().map(|a| format!(": {a}")).unwrap_or_default();
                format!("running (step {step}{of}{at})")
            }
            Progress::DoneWithProblems { problems } => format!("done with problems: {}", problems.join("; ")),
            Progress::Aborted { detail } if !detail.is_empty() => format!("aborted: {detail}"),
            other => other.word().to_string(),
        }
    }
}

/// One cluster as the campaign sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    #[serde(flatten)]
    pub progress: Progress,
    /// The control plane's version, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the rollout finished (its verdict), or was aborted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// How long each step ran, running to done, in the order they ran.
    #[serde(skip)]
    pub steps: Vec<(StepId, SignedDuration)>,
    /// Who drove it (the journal's operators, in order of first decision).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<String>,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

impl ClusterState {
    /// A cluster nobody has touched.
    pub fn not_started() -> ClusterState {
        ClusterState {
            progress: Progress::NotStarted,
            version: None,
            finished: None,
            steps: Vec::new(),
            drivers: Vec::new(),
            unreadable: Vec::new(),
        }
    }
}

/// Where the journal says the rollout is.
fn from_journal(entries: &[Entry], plan_steps: Option<usize>) -> Option<(Progress, Option<Timestamp>)> {
    if entries.is_empty() {
        return None;
    }
    // what happened since the last abort that was not followed by more driving
    let mut progress = None;
    let mut finished = None;
    let mut states: Vec<(StepId, StepState)> = Vec::new();
    for e in entries {
        match &e.what {
            What::Verdict { problems } => {
                progress = Some(if problems.is_empty() {
                    Progress::Done
                } else {
                    Progress::DoneWithProblems {
                        problems: problems.clone(),
                    }
                });
                finished = Some(e.at);
            }
            What::Decision {
                decision: Decision::Abort,
                reason,
                ..
            } => {
                progress = Some(Progress::Aborted {
                    detail: match reason {
                        Some(r) => format!("by {}: {r}", e.who),
                        None => format!("by {}", e.who),
                    },
                });
                finished = Some(e.at);
            }
            What::Step { step, state } => {
                match states.iter_mut().find(|(s, _)| s == step) {
                    Some(s) => s.1 = *state,
                    None => states.push((step.clone(), *state)),
                }
                // a step that runs again after an abort or a verdict: the rollout goes on
                if *state == StepState::Running
                    && progress
                        .as_ref()
                        .is_some_and(|p| !matches!(p, Progress::Running { .. }))
                {
                    progress = None;
                    finished = None;
                }
                if let Some(Progress::Aborted { .. }) = progress {
                    finished = Some(e.at);
                }
            }
            _ => {}
        }
    }
    let progress = progress.unwrap_or_else(|| {
        let done = states
            .iter()
            .filter(|(_, s)| matches!(s, StepState::Done | StepState::Skipped))
            .count();
        let at = states
            .iter()
            .find(|(_, s)| !matches!(s, StepState::Done | StepState::Skipped))
            .map(|(id, s)| format!("{id} {s}"));
        Progress::Running {
            step: done + 1,
            of: plan_steps,
            at,
        }
    });
    Some((progress, finished))
}

/// Where the published state says the rollout is.
fn from_published(state: &RolloutState) -> (Progress, Option<Timestamp>) {
    let finished = state.finished().then_some(state.updated).flatten();
    let progress = match &state.phase {
        Phase::Done if state.problems.is_empty() => Progress::Done,
        Phase::Done => Progress::DoneWithProblems {
            problems: state.problems.clone(),
        },
        Phase::Aborted { detail } => Progress::Aborted { detail: detail.clone() },
        _ => {
            let (done, of) = state.progress();
            Progress::Running {
                step: (done + 1).min(of.max(1)),
                of: Some(of),
                at: state.current_step().map(|s| format!("{} {}", s.id, state.phase.name())),
            }
        }
    };
    (progress, finished)
}

/// How long each step ran: from its last `running` to the `done` after it.
pub fn step_durations(entries: &[Entry]) -> Vec<(StepId, SignedDuration)> {
    let mut started: Vec<(StepId, Timestamp)> = Vec::new();
    let mut out: Vec<(StepId, SignedDuration)> = Vec::new();
    for e in entries {
        if let What::Step { step, state } = &e.what {
            match state {
                StepState::Running => {
                    started.retain(|(s, _)| s != step);
                    started.push((step.clone(), e.at));
                }
                StepState::Done => {
                    if let Some(i) = started.iter().position(|(s, _)| s == step) {
                        let (_, t0) = started.remove(i);
                        out.retain(|(s, _)| s != step);
                        out.push((step.clone(), e.at.duration_since(t0)));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Who made decisions in the journal, in order of their first.
fn drivers(entries: &[Entry]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        if matches!(e.what, What::Decision { .. }) && e.who != "upshift" && !out.contains(&e.who) {
            out.push(e.who.clone());
        }
    }
    out
}

/// Judges what was read of a cluster for a campaign to `target`. The journal is
/// believed over the published state unless the state is newer (the journal of a
/// drive run on another machine); a published rollout to another target is
/// another campaign's and is left aside.
pub fn judge(observed: &Observed, target: &str) -> ClusterState {
    let mut unreadable = observed.unreadable.clone();
    let published = observed.published.as_ref().filter(|p| {
        let same = p.target == target;
        if !same {
            unreadable.push(format!(
                "the published rollout goes to {} (not {target}): another campaign's, left aside",
                p.target
            ));
        }
        same
    });
    // a journal whose header names another target is another campaign's (last year's, say)
    let other = observed.journal.iter().find_map(|e| match &e.what {
        What::Header(h) if h.target != target => Some(h.target.clone()),
        _ => None,
    });
    let entries: &[Entry] = match other {
        Some(t) => {
            unreadable.push(format!(
                "the journal records a rollout to {t} (not {target}): another campaign's, left aside; give this campaign's drive its own journal"
            ));
            &[]
        }
        None => &observed.journal,
    };
    let journal = from_journal(entries, observed.plan_steps);
    let last_entry = entries.last().map(|e| e.at);
    let published_newer = published.is_some_and(|p| p.updated.is_some_and(|u| last_entry.is_none_or(|l| u > l)));
    let judged = if published_newer {
        published.map(from_published)
    } else {
        journal.or_else(|| published.map(from_published))
    };
    let (mut progress, finished) = judged.unwrap_or((Progress::NotStarted, None));
    // the journal knows the step, the published state how many there are
    if let (Progress::Running { of: of @ None, .. }, Some(p)) = (&mut progress, published) {
        *of = Some(p.steps.len()).filter(|n| *n > 0);
    }
    ClusterState {
        progress,
        version: observed.version.clone(),
        finished,
        steps: step_durations(entries),
        drivers: drivers(entries),
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, at: &str, what: What) -> Entry {
        Entry {
            seq,
            at: at.parse().expect("time"),
            who: "dana@laptop".into(),
            what,
        }
    }

    fn step(step: StepId, state: StepState) -> What {
        What::Step { step, state }
    }

    fn done_journal(problems: &[&str]) -> Vec<Entry> {
        vec![
            entry(1, "2026-12-08T21:00:00Z", step(StepId::Preflight, StepState::Running)),
            entry(2, "2026-12-08T21:02:00Z", step(StepId::Preflight, StepState::Done)),
            entry(
                3,
                "2026-12-08T21:05:00Z",
                step(StepId::ControlPlane, StepState::Running),
            ),
            entry(4, "2026-12-08T21:17:00Z", step(StepId::ControlPlane, StepState::Done)),
            entry(
                5,
                "2026-12-08T21:20:00Z",
                What::Verdict {
                    problems: problems.iter().map(|p| p.to_string()).collect(),
                },
            ),
        ]
    }

    #[test]
    fn a_journal_with_a_verdict_is_done_with_its_problems_and_step_times() {
        let s = judge(
            &Observed {
                journal: done_journal(&[]),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress, Progress::Done);
        assert_eq!(s.finished, Some("2026-12-08T21:20:00Z".parse().expect("time")));
        assert_eq!(
            s.steps,
            vec![
                (StepId::Preflight, SignedDuration::from_mins(2)),
                (StepId::ControlPlane, SignedDuration::from_mins(12)),
            ]
        );
        let s = judge(
            &Observed {
                journal: done_journal(&["Deployment shop/recommendations down"]),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress.word(), "done with problems");
        assert_eq!(s.progress.problems(), ["Deployment shop/recommendations down"]);
    }

    #[test]
    fn a_journal_mid_way_is_running_at_its_step() {
        let mut j = done_journal(&[]);
        j.truncate(3);
        let s = judge(
            &Observed {
                journal: j,
                plan_steps: Some(9),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(
            s.progress,
            Progress::Running {
                step: 2,
                of: Some(9),
                at: Some("control-plane running".into())
            }
        );
        assert_eq!(s.progress.describe(), "running (step 2 of 9: control-plane running)");
    }

    #[test]
    fn a_running_journal_takes_the_step_count_from_an_older_published_state() {
        let mut j = done_journal(&[]);
        j.truncate(3);
        let published = RolloutState {
            target: "1.35".into(),
            phase: Phase::Running,
            steps: vec![Default::default(); 7],
            updated: Some("2026-12-08T21:04:00Z".parse().expect("time")),
            ..Default::default()
        };
        let s = judge(
            &Observed {
                journal: j,
                published: Some(published),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress.describe(), "running (step 2 of 7: control-plane running)");
    }

    #[test]
    fn a_journal_to_another_target_is_left_aside() {
        let mut j = done_journal(&[]);
        j.insert(
            0,
            entry(
                0,
                "2026-06-01T21:00:00Z",
                What::Header(crate::model::journal::Header {
                    cluster: "arn:aws:eks:eu-west-1:1:cluster/staging-eu".into(),
                    kube_system_uid: None,
                    plan: "sha256:00".into(),
                    target: "1.34".into(),
                }),
            ),
        );
        let s = judge(
            &Observed {
                journal: j.clone(),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress, Progress::NotStarted);
        assert!(s.unreadable[0].contains("rollout to 1.34"), "{:?}", s.unreadable);
        assert!(s.steps.is_empty());
        assert_eq!(
            judge(
                &Observed {
                    journal: j,
                    ..Default::default()
                },
                "1.34"
            )
            .progress,
            Progress::Done
        );
    }

    #[test]
    fn an_abort_is_aborted_until_a_step_runs_again() {
        let mut j = done_journal(&[]);
        j.truncate(3);
        j.push(entry(
            4,
            "2026-12-08T21:06:00Z",
            What::Decision {
                step: None,
                decision: Decision::Abort,
                reason: Some("window ends".into()),
                target: None,
            },
        ));
        j.push(entry(
            5,
            "2026-12-08T21:07:00Z",
            step(StepId::ControlPlane, StepState::Aborted),
        ));
        let s = judge(
            &Observed {
                journal: j.clone(),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress.describe(), "aborted: by dana@laptop: window ends");
        assert_eq!(s.finished, Some("2026-12-08T21:07:00Z".parse().expect("time")));
        j.push(entry(
            6,
            "2026-12-09T21:00:00Z",
            step(StepId::ControlPlane, StepState::Running),
        ));
        let s = judge(
            &Observed {
                journal: j,
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress.word(), "running");
        assert_eq!(s.finished, None);
    }

    #[test]
    fn a_published_state_stands_without_a_journal_and_another_target_is_left_aside() {
        let published = RolloutState {
            target: "1.35".into(),
            phase: Phase::Done,
            problems: vec!["1 node NotReady".into()],
            updated: Some("2026-12-08T22:00:00Z".parse().expect("time")),
            ..Default::default()
        };
        let s = judge(
            &Observed {
                published: Some(published.clone()),
                version: Some("v1.35.1-eks".into()),
                ..Default::default()
            },
            "1.35",
        );
        assert_eq!(s.progress.problems(), ["1 node NotReady"]);
        assert_eq!(s.version.as_deref(), Some("v1.35.1-eks"));
        let s = judge(
            &Observed {
                published: Some(published),
                ..Default::default()
            },
            "1.36",
        );
        assert_eq!(s.progress, Progress::NotStarted);
        assert_eq!(s.unreadable.len(), 1, "{:?}", s.unreadable);
    }
}
