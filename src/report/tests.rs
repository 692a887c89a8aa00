use super::read::parse;
use super::*;

const FIXTURE: &str = include_str!("../../tests/fixtures/journal-v0.1-main.jsonl");

fn report(text: &str) -> Report {
    Report::from_entries("j.jsonl", &parse(text.as_bytes(), "j.jsonl").unwrap())
}

fn line(seq: u64, secs: u32, rest: &str) -> String {
    format!(
        r#"{{"seq":{seq},"at":"2026-12-01T05:{:02}:{:02}Z","who":"ana@laptop",{rest}}}"#,
        secs / 60,
        secs % 60
    )
}

#[test]
fn the_old_journal_reads_as_an_aborted_rollout_with_its_exceptions() {
    let r = report(FIXTURE);
    assert_eq!(r.cluster.as_deref(), Some("demo"));
    assert_eq!(r.target.as_deref(), Some("1.31"));
    assert_eq!(r.operators, vec!["ana@laptop".to_string()]);
    assert!(
        matches!(&r.outcome, Outcome::Aborted { who, .. } if who == "ana@laptop"),
        "{:?}",
        r.outcome
    );
    let kinds: Vec<&str> = r.exceptions.iter().map(|x| x.decision.as_str()).collect();
    for k in ["skip", "override", "delete-pod", "skip-node", "force", "abort"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let skip = r.exceptions.iter().find(|x| x.decision == "skip").unwrap();
    assert_eq!(skip.reason.as_deref(), Some("rehearsal: the insight was reviewed"));
    assert_eq!(r.numbers.nodes_cordoned, 3);
    assert_eq!(r.numbers.instances_terminated, 2);
    let preflight = r.steps.iter().find(|s| s.step == "preflight").unwrap();
    assert_eq!(
        (preflight.state.as_str(), preflight.failures, preflight.retries),
        ("skipped", 2, 1)
    );
    assert!(
        r.anomalies.iter().any(|a| a.contains("passed while red")),
        "{:?}",
        r.anomalies
    );
    assert!(r.notes.is_empty());
}

#[test]
fn a_clean_rollout_is_done_and_counts_its_work() {
    let text = [
        line(1, 0, r#""type":"decision","decision":"confirm-cluster","target":"prod-eu""#),
        line(2, 10, r#""type":"decision","step":"gate/control-plane","decision":"proceed""#),
        line(3, 11, r#""type":"step","step":"control-plane","state":"running""#),
        line(4, 12, r#""type":"action","step":"control-plane","action":"update-cluster-version","target":"1.35""#),
        line(5, 13, r#""type":"result","step":"control-plane","action":"update-cluster-version","target":"1.35","ok":true,"detail":"update 1 InProgress""#),
        line(6, 900, r#""type":"step","step":"control-plane","state":"done""#),
        line(7, 960, r#""type":"decision","step":"gate/postflight","decision":"proceed""#),
        line(8, 961, r#""type":"step","step":"postflight","state":"running""#),
        line(9, 970, r#""type":"step","step":"postflight","state":"done""#),
    ]
    .join("\n")
        + "\n";
    let r = report(&text);
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.target.as_deref(), Some("1.35"));
    let cp = &r.steps[0];
    assert_eq!((cp.step.as_str(), cp.seconds), ("control-plane", Some(889)));
    assert_eq!(r.gates.len(), 2);
    assert_eq!(r.gates[1].waited_seconds, Some(60));
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    assert_eq!(r.numbers.actions, 1);
    assert_eq!(r.numbers.in_doubt, 0);
    assert!(markdown::render(&r).starts_with("# Rollout of prod-eu to 1.35: done\n"));
}

#[test]
fn a_held_drain_names_what_released_it_and_open_problems_are_listed() {
    let text = [
        line(1, 0, r#""type":"step","step":"nodegroup/apps","state":"running""#),
        line(2, 5, r#""type":"event","level":"Warning","object":"Pod/shop/cart-0","reason":"DrainHeld","message":"PodDisruptionBudget shop/cart allows no disruption""#),
        line(3, 250, r#""type":"decision","step":"nodegroup/apps","decision":"delete-pod","reason":"owner agreed","target":"shop/cart-0""#),
        line(4, 251, r#""type":"action","step":"nodegroup/apps","action":"delete-pod","target":"shop/cart-0""#),
        line(5, 300, r#""type":"step","step":"nodegroup/apps","state":"done""#),
        line(6, 310, r#""type":"step","step":"postflight","state":"running""#),
        line(7, 311, r#""type":"event","level":"Error","object":"postflight","reason":"OpenProblem","message":"shop/recommendations has 0 of 6 available""#),
        line(8, 312, r#""type":"step","step":"postflight","state":"done""#),
    ]
    .join("\n")
        + "\n";
    let r = report(&text);
    assert_eq!(r.drains.len(), 1);
    assert_eq!(r.drains[0].step, "nodegroup/apps");
    assert!(
        r.drains[0]
            .released
            .starts_with("delete-pod by ana@laptop: owner agreed (held 4m 5s)"),
        "{}",
        r.drains[0].released
    );
    assert_eq!(
        r.outcome,
        Outcome::DoneWithProblems {
            problems: vec!["shop/recommendations has 0 of 6 available".into()]
        }
    );
    assert_eq!(r.numbers.in_doubt, 1, "the delete-pod action has no result");
    let md = markdown::render(&r);
    assert!(
        md.contains("## Open problems\n\n- shop/recommendations has 0 of 6 available"),
        "{md}"
    );
}

#[test]
fn a_journal_being_written_reports_where_it_is() {
    let text = format!(
        "{}\n{}\n{{\"seq\":3,\"at\"",
        line(1, 0, r#""type":"step","step":"control-plane","state":"running""#),
        line(
            2,
            1,
            r#""type":"action","step":"control-plane","action":"update-cluster-version","target":"1.35""#
        ),
    );
    let r = report(&text);
    assert_eq!(
        r.outcome,
        Outcome::InProgress {
            step: "control-plane".into(),
            state: "running".into()
        }
    );
    assert_eq!(r.notes.len(), 1);
    assert!(text::render(&r).contains("in progress: control-plane running"));
}

#[test]
fn the_fixture_reads_the_same_as_reviewed() {
    insta::assert_snapshot!("report_fixture_markdown", markdown::render(&report(FIXTURE)));
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration(12), "12s");
    assert_eq!(duration(250), "4m 10s");
    assert_eq!(duration(3900), "1h 5m");
    assert_eq!(duration(-3), "0s");
}
