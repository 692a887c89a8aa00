//! How large the replay timeline grows: drives an upgrade of a built-in scenario in
//! the simulator (in-process, on its virtual clock) with a lead's cockpit that
//! records the timeline as `upshift drive` does, and prints its size per hour of
//! the cluster's time. Gates are passed as soon as they may be (a red one after a
//! virtual minute, with a reason), held drains skip the node, failed steps are
//! skipped: the point is the timeline, not the rollout.
//!
//!   cargo run --release --example timeline_size -- demo 60 2
//!   cargo run --release --example timeline_size -- large 30 1
//!
//! Arguments: the scenario, the simulator's speed, the most virtual hours to run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use upshift::cloud::{AwsCloud, AwsOptions, Cloud};
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::Health;
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveOptions, Setup, prepare};
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};
use upshift::timeline::Recorder;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("demo", String::as_str).to_string();
    let speed: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let hours: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(run(name, speed, hours));
}

async fn run(name: String, speed: f64, hours: f64) {
    let scenario = Scenario::builtin(&name).expect("a built-in scenario");
    let cluster = scenario.cluster.name.clone();
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = speed;
    let t0 = std::time::Instant::now();
    let sim = Simulator::start(cfg).await.expect("the simulator starts");
    let nodes = sim.world().lock().nodes.items().len();
    println!(
        "timeline: scenario {name} ({nodes} nodes) serving after {:.0} s at {speed}x",
        t0.elapsed().as_secs_f64()
    );
    let lead = sim.client("lead").await.expect("the lead's client");
    let cloud: Arc<dyn Cloud> = Arc::new(
        AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
            .await
            .expect("the simulator's AWS endpoint"),
    );
    let live = plan::discover(
        &ClusterReader::new(lead.clone()),
        &cluster,
        Some((cloud.as_ref(), &cluster)),
        "1.31",
    )
    .await
    .expect("discovery");
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.31".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.gates.settle_seconds = 30;
    p.drain.pod_timeout_seconds = 300;
    p.steps.retain(|s| !matches!(s, Step::Preflight));
    for s in &mut p.steps {
        if let Step::Nodegroup(g) = s {
            g.auto_continue = true;
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("journal.jsonl");
    let clock = sim.world().lock().clock.clone();
    let now = {
        let clock = clock.clone();
        Arc::new(move || clock.now())
    };
    let drive = prepare(Setup {
        plan: p,
        client: lead,
        cloud,
        journal: journal.clone(),
        who: "ana@laptop".into(),
        now,
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: DriveOptions::default(),
    })
    .await
    .expect("the drive is prepared");
    let mut h = drive.start();
    let connection = Connection {
        context: "viewer".into(),
        cluster: cluster.clone(),
        server: sim.url(),
        user: "viewer".into(),
        clock: Default::default(),
    };
    let controls = upshift::cockpit::lead::Controls::new(h.commands.clone());
    let mut cockpit = Cockpit::lead(connection, controls, clock.now());
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = ClusterReader::new(sim.client("viewer").await.expect("viewer")).start(tx);
    let path = upshift::timeline::path_for(&journal);
    let mut rec = Recorder::open(&path).expect("the timeline");
    let start = clock.now();
    let until = start + jiff::SignedDuration::from_secs_f64(hours * 3600.0);
    let mut every = tokio::time::interval(Duration::from_millis(200));
    let mut seq = 0;
    let mut red_since = None;
    let mut acted_on = String::new();
    loop {
        tokio::select! {
            Some(d) = rx.recv() => cockpit.take_in(d, &mut rx),
            Some(e) = h.entries.recv() => {
                seq = seq.max(e.seq);
                cockpit.refresh();
                rec.observe(e.at, seq, &cockpit.signals, cockpit.rollout.as_ref(), true).expect("written");
            }
            _ = h.state.changed() => {
                let s = h.state.borrow_and_update().clone();
                cockpit.set_rollout(s);
            }
            _ = every.tick() => {
                let now = clock.now();
                cockpit.tick(now);
                h.health.send_replace(Health::from_signals(&cockpit.signals));
                rec.observe(now, seq, &cockpit.signals, cockpit.rollout.as_ref(), false).expect("written");
                let Some(s) = cockpit.rollout.clone() else { continue };
                if s.finished() || now > until {
                    break;
                }
                let key = format!("{:?} {:?}", s.phase.name(), s.gate.as_ref().map(|g| g.id.to_string()));
                match &s.phase {
                    Phase::Gate => {
                        let g = s.gate.clone().expect("a gate");
                        if g.passable {
                            let _ = h.commands.send(Command::Proceed);
                        } else if g.criteria.iter().any(|c| !c.ok) {
                            let since = *red_since.get_or_insert(now);
                            if now.duration_since(since).as_secs() > 60 {
                                let _ = h.commands.send(Command::Override { reason: "measuring the timeline".into() });
                                red_since = None;
                            }
                        }
                    }
                    Phase::Held { .. } if key != acted_on => {
                        let _ = h.commands.send(Command::SkipNode);
                        acted_on = key;
                    }
                    Phase::Failed { .. } if key != acted_on => {
                        let _ = h.commands.send(Command::Override { reason: "measuring the timeline".into() });
                        acted_on = key;
                    }
                    _ => red_since = None,
                }
            }
        }
    }
    let virtual_secs = clock.now().duration_since(start).as_secs_f64();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let journal_bytes = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
    let phase = cockpit.rollout.as_ref().map_or("?", |r| r.phase.name());
    println!(
        "timeline: {name}: {:.0} virtual minutes ({phase}), {} lines, {bytes} bytes: {:.0} KB per hour of the cluster's time (journal {journal_bytes} bytes)",
        virtual_secs / 60.0,
        rec.lines,
        bytes as f64 / 1024.0 / (virtual_secs / 3600.0),
    );
}
