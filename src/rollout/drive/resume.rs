//! Where a rollout stands when its drive starts, read from the plan and the journal
//! alone: each step's last recorded state, each node group's auto-continue, whether
//! the lead paused, the cluster as it was when the rollout began (its baseline) and
//! what overrides accepted since, the verdict if one was given, the first step not
//! finished, and whether a production cluster's name must still be typed. Running the same command again
//! after a crash therefore opens where the rollout was. A pure function.

use jiff::Timestamp;

use super::gate::Acceptance;
use crate::model::baseline::Baseline;
use crate::model::journal::{Decision, Subject, What};
use crate::model::rollout::{GroupProgress, Phase, RolloutState, StepView};
use crate::rollout::journal::Journal;
use crate::rollout::plan::{Environment, Plan, Step};

/// The journal's reason on the note of the pod errors before a step.
pub const BASELINE: &str = "Baseline";
/// The journal's reason on the note that a drive stopped before the rollout ended
/// (a signal to the cockpit): the next drive resumes from there.
pub const STOPPED: &str = "DriveStopped";

/// Where a rollout stands, as its journal says.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    pub state: RolloutState,
    /// The newest of pause and resume was a pause.
    pub paused: bool,
    /// Pods in error when the rollout began (journals written before the baseline
    /// entry existed: before the step under way).
    pub baseline: usize,
    /// The cluster when the rollout began, once taken.
    pub start: Option<Baseline>,
    /// What overrides accepted, oldest first.
    pub accepted: Vec<Acceptance>,
    /// The first step neither done nor skipped (the number of steps when all are).
    pub cur: usize,
    /// A production cluster whose name was never typed, with a step left to do.
    pub confirm: bool,
}

/// The label a step is shown with.
pub fn label(step: &Step) -> String {
    match step {
        Step::Addon { name, version } => format!("addon {name} → {version}"),
        Step::Nodegroup(g) => format!(
            "nodegroup {} ({}, {}, batch {})",
            g.name,
            g.group_type.as_str(),
            g.strategy.as_str(),
            g.batch_size
        ),
        Step::ControlPlane => "control plane".into(),
        Step::Nodepool(p) => format!("nodepool {} (waves of {})", p.name, p.wave),
        other => other.label(),
    }
}

/// The newest baseline the journal noted.
fn recorded_baseline(journal: &Journal) -> Option<usize> {
    journal.entries().iter().rev().find_map(|e| match &e.what {
        What::Event { reason, message, .. } if reason == BASELINE => {
            message.split_whitespace().next().and_then(|n| n.parse().ok())
        }
        _ => None,
    })
}

/// The cluster when the rollout began, as journaled (the first such entry).
pub fn recorded_start(journal: &Journal) -> Option<Baseline> {
    journal.entries().iter().find_map(|e| match &e.what {
        What::Baseline { baseline } => Some(baseline.clone()),
        _ => None,
    })
}

/// Every item an override accepted, with who and why, oldest first.
pub fn acceptances(journal: &Journal) -> Vec<Acceptance> {
    journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Accept { items, reason, .. } => Some(items.iter().map(|i| Acceptance {
                item: i.clone(),
                who: e.who.clone(),
                reason: reason.clone(),
            })),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The newest verdict's open problems.
fn recorded_verdict(journal: &Journal) -> Vec<String> {
    journal
        .entries()
        .iter()
        .rev()
        .find_map(|e| match &e.what {
            What::Verdict { problems } => Some(problems.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Where the rollout of `plan` stands after what `journal` holds; `who` drives now.
pub fn resume(plan: &Plan, journal: &Journal, who: &str, now: Timestamp) -> Resumed {
    let mut state = RolloutState {
        cluster: plan.cluster.name.clone(),
        from: plan.from.clone(),
        target: plan.target.clone(),
        environment: plan.cluster.environment.as_str().into(),
        lead: who.to_string(),
        updated: Some(now),
        phase: Phase::Starting,
        steps: plan
            .steps
            .iter()
            .map(|s| StepView {
                id: s.id(),
                label: label(s),
                group: match s {
                    Step::Nodegroup(g) => Some(GroupProgress {
                        auto_continue: g.auto_continue,
                        ..Default::default()
                    }),
                    Step::Nodepool(p) => Some(GroupProgress {
                        auto_continue: p.auto_continue,
                        ..Default::default()
                    }),
                    _ => None,
                },
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let states = journal.step_states();
    for v in &mut state.steps {
        if let Some((_, st)) = states.iter().find(|(s, _)| *s == v.id) {
            v.state = *st;
        }
        let about = Subject::Step(v.id.clone());
        let auto = journal.latest_decision(Some(&about), &[Decision::AutoContinue, Decision::Manual]);
        if let (Some(g), Some(d)) = (&mut v.group, auto) {
            g.auto_continue = d == Decision::AutoContinue;
        }
    }
    let cur = state
        .steps
        .iter()
        .position(|s| !s.state.finished())
        .unwrap_or(state.steps.len());
    state.problems = recorded_verdict(journal);
    let start = recorded_start(journal);
    let production = plan.cluster.environment == Environment::Production;
    let confirmed = journal.latest_decision(None, &[Decision::ConfirmCluster]).is_some();
    Resumed {
        paused: journal.latest_decision(None, &[Decision::Pause, Decision::Resume]) == Some(Decision::Pause),
        baseline: start
            .as_ref()
            .map(|b| b.pod_errors)
            .or_else(|| recorded_baseline(journal))
            .unwrap_or(0),
        start,
        accepted: acceptances(journal),
        confirm: production && !confirmed && cur < state.steps.len(),
        cur,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;
    use crate::model::journal::{StepId, StepState};
    use crate::rollout::plan::{ClusterRef, Drain, Gates, GroupType, NodegroupStep, Strategy};

    fn plan(environment: Environment) -> Plan {
        Plan {
            cluster: ClusterRef {
                name: "prod-eu".into(),
                region: None,
                context: None,
                environment,
            },
            from: "1.30".into(),
            target: "1.31".into(),
            gates: Gates::default(),
            drain: Drain::default(),
            steps: vec![
                Step::Preflight,
                Step::ControlPlane,
                Step::Nodegroup(NodegroupStep {
                    name: "apps".into(),
                    group_type: GroupType::SelfManaged,
                    strategy: Strategy::Replace,
                    batch_size: 2,
                    auto_continue: false,
                    drainer: None,
                    update_config: None,
                    ami_type: None,
                }),
            ],
            notify: None,
            origin: None,
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_750_000_000 + s).unwrap()
    }

    fn decide(j: &mut Journal, about: Option<Subject>, decision: Decision) {
        let what = What::Decision {
            step: about,
            decision,
            reason: None,
            target: None,
        };
        j.append("ana@laptop", at(0), what).unwrap();
    }

    #[test]
    fn a_new_journal_starts_at_the_first_step_and_asks_for_a_production_clusters_name() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
        let r = resume(&plan(Environment::Production), &j, "ana@laptop", at(5));
        assert_eq!((r.cur, r.confirm, r.paused, r.baseline), (0, true, false, 0));
        assert_eq!(r.state.lead, "ana@laptop");
        assert_eq!(r.state.updated, Some(at(5)));
        assert_eq!(
            r.state.steps[2].label,
            "nodegroup apps (self-managed, replace, batch 2)"
        );
        assert!(r.state.steps.iter().all(|s| s.state == StepState::Pending));
        let r = resume(&plan(Environment::PreProduction), &j, "ana@laptop", at(5));
        assert!(!r.confirm, "pre-production asks for nothing");
    }

    #[test]
    fn the_journal_says_what_is_done_paused_confirmed_and_the_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.jsonl")).unwrap();
        let apps = StepId::Nodegroup("apps".into());
        decide(&mut j, None, Decision::ConfirmCluster);
        j.set_step_state("ana@laptop", at(1), &StepId::Preflight, StepState::Skipped)
            .unwrap();
        j.set_step_state("ana@laptop", at(2), &StepId::ControlPlane, StepState::Done)
            .unwrap();
        let note = What::Event {
            level: Level::Info,
            object: apps.to_string(),
            reason: BASELINE.into(),
            message: "7 pods in error before nodegroup/apps".into(),
        };
        j.append("ana@laptop", at(3), note).unwrap();
        j.set_step_state("ana@laptop", at(3), &apps, StepState::Running)
            .unwrap();
        decide(&mut j, Some(apps.clone().into()), Decision::AutoContinue);
        decide(&mut j, None, Decision::Pause);
        let r = resume(&plan(Environment::Production), &j, "ben@desk", at(9));
        assert_eq!((r.cur, r.confirm, r.paused, r.baseline), (2, false, true, 7));
        let states: Vec<StepState> = r.state.steps.iter().map(|s| s.state).collect();
        assert_eq!(states, [StepState::Skipped, StepState::Done, StepState::Running]);
        assert_eq!(r.state.steps[2].group.as_ref().map(|g| g.auto_continue), Some(true));
        assert_eq!(r.state.lead, "ben@desk", "whoever drives now");
        decide(&mut j, Some(apps.clone().into()), Decision::Manual);
        decide(&mut j, None, Decision::Resume);
        j.set_step_state("ana@laptop", at(4), &apps, StepState::Done).unwrap();
        let r = resume(&plan(Environment::Production), &j, "ben@desk", at(9));
        assert_eq!((r.cur, r.confirm, r.paused), (3, false, false), "every step finished");
        assert_eq!(r.state.steps[2].group.as_ref().map(|g| g.auto_continue), Some(false));
    }
}
