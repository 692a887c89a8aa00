//! One clock: the cluster's. A drive against a simulator running 60 times faster than
//! the wall clock, killed and resumed, measures the control plane's update, its journal and its state lines
//! in the simulator's time, read from the API server's `Date` answers; so does a
//! client made by `cluster::connect`. Its plan has no postflight step: the verdict
//! says nothing checked the cluster after it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use upshift::model::journal::{StepId, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Step;

const SPEED: f64 = 60.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_reads_the_servers_time_not_ours() {
    let sim = common::start_at("demo", SPEED).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    // the simulated cluster's clock runs ahead of ours
    sim.advance(Duration::from_secs(3 * 3600));
    let (client, connection) = upshift::cluster::connect(Some(&kc), Some("viewer")).await.unwrap();
    assert!(!connection.clock.known(), "known before any answer");
    client.apiserver_version().await.unwrap();
    assert!(connection.clock.known());
    let theirs = sim.world().lock().clock.now();
    let ours = connection.clock.now();
    let off = (ours.as_second() - theirs.as_second()).abs();
    assert!(off <= 5, "the server says {theirs}, the client reads {ours}");
    assert!((ours.as_second() - jiff::Timestamp::now().as_second()) > 3 * 3600 - 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_against_a_fast_simulator_measures_in_the_simulators_time() {
    let sim = common::start_at("demo", SPEED).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let p = common::drive::plan_for(&sim, "demo", None, |s| matches!(s, Step::ControlPlane)).await;
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(None)).unwrap();

    let d = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let (lines, wall) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // the first run is killed once the update is under way; the second resumes it
        let mut lines = Vec::new();
        for run in 0..2 {
            let mut child = common::bin::spawn_drive(&d, &s2);
            let mut stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            for line in stdout.lines().map_while(Result::ok) {
                assert!(started.elapsed() < Duration::from_secs(120), "not done: {lines:#?}");
                if line.starts_with("at gate") && line.contains("green, settled") {
                    let _ = writeln!(stdin, "proceed");
                }
                let stop = (run == 0 && line.contains("InProgress")) || line.starts_with("done");
                lines.push(format!("run {run}: {line}"));
                if stop {
                    break;
                }
            }
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
        (lines, started.elapsed())
    })
    .await
    .unwrap();
    assert!(lines.last().is_some_and(|l| l.starts_with("run 1: done")), "{lines:#?}");

    // after the resume, the update's age reads in the simulator's minutes, never
    // stuck at "for 0s"
    let minutes = lines
        .iter()
        .filter(|l| l.starts_with("run 1: "))
        .filter_map(|l| l.split("InProgress for ").nth(1))
        .filter_map(|rest| rest.split('m').next()?.parse::<u64>().ok())
        .max();
    assert!(
        minutes.is_some_and(|m| m >= 5),
        "ages never reached 5 minutes: {lines:#?}"
    );

    // the journal's step took the simulator's ~14 minutes, in far less wall time
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let at = |state: &str| {
        j.entries()
            .iter()
            .find(|e| matches!(&e.what, What::Step { step: StepId::ControlPlane, state: s } if s.as_str() == state))
            .map(|e| e.at)
            .unwrap_or_else(|| panic!("no {state} entry"))
    };
    let took = at("done").as_second() - at("running").as_second();
    // a plan without a postflight step still ends on a verdict: that nothing checked
    let verdicts: Vec<_> = j
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Verdict { problems } => Some(problems.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [vec![upshift::rollout::drive::NOT_CHECKED.to_string()]]);
    assert!(
        took >= 10 * 60 && (took as f64) < SPEED * wall.as_secs_f64() + 120.0,
        "the step took {took}s in the journal, {wall:?} of wall time"
    );
}
