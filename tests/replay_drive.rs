//! A headless drive of a small plan against the simulator records a timeline beside
//! its journal; the replay's last moment shows the same state line, steps and
//! verdict as the live drive printed, and the signals the drive's cockpit saw.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use upshift::cloud::CloudRead;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replays_last_moment_is_the_live_drives_end() {
    let sim = common::start_at("demo", 300.0).await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(&sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "demo",
        Some((&cloud as &dyn CloudRead, "demo")),
        "1.35",
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.35".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.gates.settle_seconds = 20;
    p.steps.retain(|s| matches!(s, Step::ControlPlane));
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
    let mut child = common::bin::spawn_drive(dir.path(), &sim);
    let lines = tokio::task::spawn_blocking(move || {
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "the drive did not finish: {lines:?}");
            if let Some(status) = child.try_wait().unwrap() {
                while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                    lines.push(l);
                }
                assert!(status.success(), "{status}: {lines:?}");
                return lines;
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                if line.starts_with("at gate") && line.contains("green, settled") {
                    let _ = writeln!(stdin, "proceed");
                }
                lines.push(line);
            }
        }
    })
    .await
    .unwrap();
    let verdict: Vec<&String> = lines.iter().filter(|l| l.starts_with("verdict: ")).collect();
    assert!(!verdict.is_empty(), "the live drive printed its verdict: {lines:?}");
    let last_state = lines.iter().rev().find(|l| !l.starts_with("verdict: ")).unwrap();

    let journal = dir.path().join("journal.jsonl");
    let timeline = upshift::timeline::path_for(&journal);
    let read = upshift::timeline::read(&timeline)
        .unwrap()
        .expect("a timeline beside the journal");
    assert_eq!(read.skipped, 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&timeline).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let mut l = upshift::replay::load(&journal).unwrap();
    assert!(l.player.has_timeline());
    let steps = l.player.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    l.player.seek(usize::MAX);
    let frame = l.player.frame();
    let r = frame.rollout.expect("the rollout at the end");
    assert_eq!(&upshift::headless::drive::state_line(&r), last_state);
    let replayed = upshift::headless::drive::verdict_lines(&r);
    assert_eq!(replayed.iter().collect::<Vec<_>>(), verdict);
    let signals = frame.signals.expect("the signals at the end");
    let nodes = common::Inspect::node_count(&sim);
    assert_eq!(signals.nodes.rows.len(), nodes, "every node of the cluster");
    // the control plane went to 1.35 while the replayed nodes stayed on 1.34
    assert!(signals.nodes.rows.iter().all(|n| n.minor == "1.34"));

    // the replay's screen at the end says what the live drive said
    let mut c = upshift::replay::cockpit(&mut l);
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).unwrap();
    term.draw(|f| {
        upshift::ui::draw(f, &c);
    })
    .unwrap();
    let screen = term.backend().to_string();
    assert!(screen.contains("REPLAY"), "{screen}");
    assert!(screen.contains(" end "), "{screen}");
    assert!(screen.contains("phase done · 1/1 steps"), "{screen}");
    c.view.message = None;
}
