//! Benchmark: how long a change in the cluster takes to reach the cockpit's screen
//! while the simulator churns pod events. The simulator (`large` scenario) runs
//! in-process; a task modifies 200 pods a second; the cockpit's model is fed by its
//! real watches through the viewer identity and drawn every 50 ms, exactly as the
//! loop in `app.rs` does, into an off-screen 200×60 terminal. Each probe cordons or
//! uncordons a node and measures until the first frame drawn after the model shows it.
//!
//! `cargo bench --bench latency` prints the figures. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a short run on the `demo` scenario.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Modifies `rate` pods a second (an annotation bump: one MODIFIED event each).
fn churn(sim: &Simulator, rate: u32) -> tokio::task::JoinHandle<()> {
    let world = sim.world();
    tokio::spawn(async move {
        let keys: Vec<String> = world.lock().pods.items().keys().take(5_000).cloned().collect();
        let mut every = tokio::time::interval(Duration::from_millis(10));
        let per_tick = (rate / 100).max(1) as usize;
        let mut n = 0usize;
        loop {
            every.tick().await;
            let mut w = world.lock();
            for _ in 0..per_tick {
                let key = &keys[n % keys.len()];
                n += 1;
                if let Some(p) = w.get::<Pod>(key) {
                    let mut p: Pod = (*p).clone();
                    p.metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert("bench.upshift.dev/churn".into(), n.to_string());
                    w.put(p);
                }
            }
        }
    })
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (scenario, probes) = if full { ("large", 20) } else { ("demo", 3) };
    let t0 = Instant::now();
    let sim = Simulator::start(SimConfig::new(Scenario::load(scenario).expect("built-in scenario")))
        .await
        .expect("simulator starts");
    println!(
        "latency: scenario {scenario} serving after {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (tx, mut rx) = mpsc::channel(256);
    let reader = ClusterReader::new(sim.client("viewer").await.expect("viewer client"));
    let _watches = reader.start(tx);
    let mut cockpit = Cockpit::new(Connection::default(), jiff::Timestamp::now());
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
    let t0 = Instant::now();
    while !cockpit.model.synced() {
        let d = rx.recv().await.expect("watches run");
        cockpit.take_in(d, &mut rx);
    }
    println!("latency: model complete after {:.1} s", t0.elapsed().as_secs_f64());
    let _churn = churn(&sim, 200);
    let nodes: Api<Node> = Api::all(sim.client("lead").await.expect("lead client"));
    cockpit.refresh();
    let names: Vec<String> = cockpit.signals.nodes.rows.iter().map(|r| r.name.clone()).collect();
    let mut frame = tokio::time::interval(upshift::app::FRAME);
    let mut seen = Vec::new();
    let mut events = 0u64;
    let started = Instant::now();
    let writes_before = sim.world().lock().resource_version();
    for i in 0..probes {
        let node = &names[i % names.len()];
        tokio::time::sleep(Duration::from_millis(200)).await;
        let want = cockpit.model.nodes.items.get(node).is_none_or(|n| !n.unschedulable);
        let asked = Instant::now();
        if want {
            nodes.cordon(node).await.expect("cordon");
        } else {
            nodes.uncordon(node).await.expect("uncordon");
        }
        loop {
            tokio::select! {
                Some(d) = rx.recv() => {
                    events += 1;
                    cockpit.take_in(d, &mut rx);
                }
                _ = frame.tick() => {
                    cockpit.refresh();
                    terminal
                        .draw(|f| {
                            upshift::ui::draw(f, &cockpit);
                        })
                        .expect("draw");
                    let shown = cockpit.signals.nodes.rows.iter().any(|r| &r.name == node && r.cordoned == want);
                    if shown {
                        seen.push(asked.elapsed().as_secs_f64() * 1000.0);
                        break;
                    }
                }
            }
            assert!(
                asked.elapsed() < Duration::from_secs(30),
                "the change never reached the screen"
            );
        }
    }
    seen.sort_by(f64::total_cmp);
    let writes = sim.world().lock().resource_version() - writes_before;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "latency: cluster change → frame, {} probes while the simulator wrote {:.0} changes/s ({} writes in {:.1} s; {} batches taken in): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (goal: under 250 ms)",
        seen.len(),
        writes as f64 / secs,
        writes,
        secs,
        events,
        percentile(&seen, 0.5),
        percentile(&seen, 0.9),
        seen.last().copied().unwrap_or(f64::NAN),
    );
}
