//! The stage logic on states built by hand.

use std::path::Path;

use super::*;
use crate::campaign::state::{ClusterState, Progress};

const FILE: &str = r#"
name: winter-1.35
target: "1.35"
timezone: Europe/Berlin
windows:
  - name: tue-night
    start: 2026-12-08T22:00
    duration: 4h
  - name: weekly-thursday
    weekly: { days: [thu], start: "22:00", duration: 3h }
stages:
  - name: pre-production
    soak: 24h
    drivers: [dana, lee]
    clusters:
      - name: staging-eu
  - name: production
    windows: [tue-night, weekly-thursday]
    drivers: [lee]
    accept:
      - cluster: staging-eu
        problems: ["shop/recommendations"]
        reason: "a known app bug, fixed in 4.2"
        by: lee
    clusters:
      - name: prod-eu
      - name: prod-us
"#;

fn campaign() -> Campaign {
    Campaign::from_yaml(FILE, Path::new("winter.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("time")
}

fn done(at: &str, problems: &[&str]) -> ClusterState {
    ClusterState {
        progress: if problems.is_empty() {
            Progress::Done
        } else {
            Progress::DoneWithProblems {
                problems: problems.iter().map(|p| p.to_string()).collect(),
            }
        },
        finished: Some(t(at)),
        steps: vec![
            (StepId::ControlPlane, SignedDuration::from_mins(12)),
            (StepId::Nodegroup("apps".into()), SignedDuration::from_mins(40)),
        ],
        ..ClusterState::not_started()
    }
}

fn states(list: &[(&str, ClusterState)]) -> States {
    list.iter().map(|(n, s)| (n.to_string(), s.clone())).collect()
}

#[test]
fn the_first_cluster_of_the_first_stage_is_due_first_any_time_of_its_windows() {
    let c = campaign();
    match due(&c, &States::new(), t("2026-12-03T21:30:00Z")) {
        Due::Drive {
            stage,
            cluster,
            resume,
            window,
            drivers,
        } => {
            assert_eq!(
                (stage.as_str(), cluster.as_str(), resume),
                ("pre-production", "staging-eu", false)
            );
            assert_eq!(window.open().map(|o| o.name.as_str()), Some("weekly-thursday"));
            assert_eq!(drivers, ["dana", "lee"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn production_waits_for_the_soak_and_names_its_end() {
    let c = campaign();
    let s = states(&[("staging-eu", done("2026-12-08T12:00:00Z", &[]))]);
    match due(&c, &s, t("2026-12-08T21:30:00Z")) {
        Due::Blocked {
            stage,
            reasons,
            soak_until,
        } => {
            assert_eq!(stage, "production");
            assert_eq!(soak_until, Some(t("2026-12-09T12:00:00Z")));
            assert!(reasons[0].contains("2026-12-09 13:00 CET"), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
    // soaked: prod-eu is due, outside a window until Thursday's
    match due(&c, &s, t("2026-12-09T13:00:00Z")) {
        Due::Drive { cluster, window, .. } => {
            assert_eq!(cluster, "prod-eu");
            match window {
                WindowNow::Closed { next: Some(o) } => {
                    assert_eq!(
                        (o.name.as_str(), o.opens),
                        ("weekly-thursday", t("2026-12-10T21:00:00Z"))
                    )
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_problem_left_open_blocks_until_accepted_by_name() {
    let mut c = campaign();
    let now = t("2026-12-10T21:30:00Z");
    let s = states(&[(
        "staging-eu",
        done("2026-12-08T12:00:00Z", &["Deployment shop/recommendations down"]),
    )]);
    // accepted by the file: production may go
    assert!(matches!(due(&c, &s, now), Due::Drive { ref cluster, .. } if cluster == "prod-eu"));
    // another problem than the one accepted blocks, naming it and what to do
    let s2 = states(&[("staging-eu", done("2026-12-08T12:00:00Z", &["1 node NotReady"]))]);
    match due(&c, &s2, now) {
        Due::Blocked { reasons, .. } => {
            assert_eq!(reasons.len(), 1);
            assert!(
                reasons[0].contains("staging-eu") && reasons[0].contains("1 node NotReady"),
                "{reasons:?}"
            );
            assert!(reasons[0].contains("accept"), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
    // without the accept entry the first blocks too
    c.stages[1].accept.clear();
    assert!(matches!(due(&c, &s, now), Due::Blocked { .. }));
}

#[test]
fn a_running_cluster_is_resumed_before_anything_else() {
    let c = campaign();
    let running = ClusterState {
        progress: Progress::Running {
            step: 3,
            of: Some(9),
            at: None,
        },
        ..ClusterState::not_started()
    };
    let s = states(&[("staging-eu", done("2026-12-08T12:00:00Z", &[])), ("prod-us", running)]);
    match due(&c, &s, t("2026-12-08T12:30:00Z")) {
        Due::Drive { cluster, resume, .. } => assert_eq!((cluster.as_str(), resume), ("prod-us", true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_aborted_cluster_blocks_its_stage_and_all_done_is_done() {
    let c = campaign();
    let s = states(&[(
        "staging-eu",
        ClusterState {
            progress: Progress::Aborted {
                detail: "by lee: window ends".into(),
            },
            ..ClusterState::not_started()
        },
    )]);
    match due(&c, &s, t("2026-12-08T12:30:00Z")) {
        Due::Blocked { stage, reasons, .. } => {
            assert_eq!(stage, "pre-production");
            assert!(reasons[0].contains("aborted"), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
    let all = states(&[
        ("staging-eu", done("2026-12-08T12:00:00Z", &[])),
        ("prod-eu", done("2026-12-10T23:00:00Z", &[])),
        ("prod-us", done("2026-12-10T23:50:00Z", &[])),
    ]);
    assert_eq!(due(&c, &all, t("2026-12-11T00:00:00Z")), Due::Done);
}

#[test]
fn the_strip_and_expected_durations_come_from_the_states() {
    let c = campaign();
    let mut longer = done("2026-12-10T23:00:00Z", &[]);
    longer.steps[0].1 = SignedDuration::from_mins(15);
    let s = states(&[("staging-eu", done("2026-12-08T12:00:00Z", &[])), ("prod-eu", longer)]);
    let strip = strip(&c, &s, "prod-us", t("2026-12-10T23:30:00Z"));
    assert_eq!(strip.name, "winter-1.35");
    assert_eq!(strip.target, "1.35");
    assert_eq!(strip.stages.len(), 2);
    assert_eq!(strip.stages[1].clusters[0].state, "done");
    assert_eq!(strip.stages[1].clusters[1].state, "not started");
    let w = strip.window.expect("Thursday's window is open");
    assert_eq!(
        (w.name.as_str(), w.closes),
        ("weekly-thursday", Some(t("2026-12-11T00:00:00Z")))
    );
    assert_eq!(
        strip.next_window.map(|w| w.opens),
        Some(Some(t("2026-12-17T21:00:00Z")))
    );
    assert_eq!(strip.soak_until, None, "the soak is over");
    let e = expected_durations(&c, &s);
    assert_eq!(e[&StepId::ControlPlane], Duration::from_secs(15 * 60));
    assert_eq!(e[&StepId::Nodegroup("apps".into())], Duration::from_secs(40 * 60));
}

#[test]
fn a_problem_accepted_by_a_stage_between_stays_accepted_later() {
    let yaml = "name: c\ntarget: \"1.35\"\nstages:\n  - name: dev\n    clusters: [{name: d}]\n  - name: staging\n    accept: [{cluster: d, reason: known, by: lee}]\n    clusters: [{name: s}]\n  - name: prod\n    clusters: [{name: p}]\n";
    let c = Campaign::from_yaml(yaml, Path::new("c.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let s = states(&[
        ("d", done("2026-12-08T12:00:00Z", &["1 node NotReady"])),
        (
            "s",
            done("2026-12-08T13:00:00Z", &["Service shop/web has no endpoints"]),
        ),
    ]);
    match due(&c, &s, t("2026-12-09T00:00:00Z")) {
        Due::Blocked { stage, reasons, .. } => {
            assert_eq!(stage, "prod");
            // dev's problem was accepted by staging; staging's own is not
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(reasons[0].contains("cluster s "), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
}
