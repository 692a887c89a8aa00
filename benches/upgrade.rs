//! Benchmark: a whole upgrade of the `fleet` cluster (1,006 nodes, about 5,000 pods)
//! from 1.30 to 1.31 by upshift's drive, against the in-process simulator. The
//! bench is the lead: it proceeds at every step's gate once it is green and
//! settled, and the node groups go from batch to batch on their own
//! (auto-continue). It prints:
//!
//! - the rollout's virtual duration (the simulator's clock, from the first gate
//!   passed to Done, read from the journal), step by step;
//! - the lower bound the simulator's own timing and the plan allow, step by step,
//!   and the ratio of the two; for the self-managed groups, where the batches'
//!   time went (drains, replacements booting, after the last replacement joined);
//! - the real wall time, and the real CPU time of the simulator's threads and of
//!   upshift's (the drive, its health feed, their clients) apart: the two run in
//!   separate runtimes whose threads are named `sim` and `upshift`.
//!
//! `cargo bench --bench upgrade` runs the full fleet. Without `--bench` (as
//! `cargo test --all-targets` runs it) it runs the same shape 25 times smaller,
//! the drive polling every 100 ms.
//! `UPSHIFT_BENCH_SPEED` (virtual seconds per real second, default 600) and
//! `UPSHIFT_BENCH_POLL_MS` (the drive's poll, default the drive's own) change the
//! run; see docs/drive.md, "Upgrade benchmark".

#[path = "upgrade/bound.rs"]
mod bound;
#[path = "upgrade/cpu.rs"]
mod cpu;
#[path = "upgrade/report.rs"]
mod report;

use bound::*;
use cpu::*;
use report::*;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use upshift::cloud::{AwsCloud, AwsOptions, Cloud};
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::journal::{Entry, GateId, StepId, StepState, Subject, What};
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, GroupType, Plan, ProposeOptions, Step, Strategy};
use upshift::sim::scenario::{Scenario, WorkloadKind};
use upshift::sim::world::eks::{CONTROL_PLANE_UPDATE_SECS, STEP_SECS, TERMINATE_DELAY_SECS};
use upshift::sim::world::{World, addons, annotations};
use upshift::sim::{SimConfig, Simulator};

const LEAD: &str = "bench@upgrade";
const CLUSTER: &str = "fleet";
const TARGET: &str = "1.31";
/// Decisions that pass a gate.
/// A gate red for this long (virtual seconds) is passed with a reason, and counted.
const RED_PATIENCE_SECS: i64 = 900;
/// The node label of self-managed groups' nodes.
const SELF_MANAGED_LABEL: &str = "alpha.eksctl.io/nodegroup-name";

/// How big a run is.
struct Size {
    /// The drive's poll unless `UPSHIFT_BENCH_POLL_MS` says otherwise.
    poll: Duration,
    /// Node group sizes and Deployment replicas are divided by this (the system
    /// group and the small system Deployments stay as they are).
    shrink: u32,
    batch: u32,
    /// Virtual seconds the rollout may take before the bench gives up (the real time
    /// allowed follows from the speed, with a floor).
    limit_virtual: f64,
}

fn env_f64(name: &str) -> Option<f64> {
    let v = std::env::var(name).ok()?;
    Some(v.parse().unwrap_or_else(|_| panic!("{name}={v:?}: expected a number")))
}

/// The fleet, `shrink` times smaller.
fn fleet(shrink: u32) -> Scenario {
    let mut s = Scenario::load(CLUSTER).expect("the built-in fleet scenario");
    if shrink > 1 {
        for g in s.node_groups.iter_mut().filter(|g| g.size > 10) {
            g.size = (g.size / shrink).max(2);
        }
        for w in s
            .workloads
            .iter_mut()
            .filter(|w| w.kind == WorkloadKind::Deployment && w.replicas > 10)
        {
            w.replicas = (w.replicas / shrink).max(2);
        }
    }
    s
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        // blocking threads stay, so that their CPU time is still there to read
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            poll: DriveOptions::default().poll,
            shrink: 1,
            batch: 50,
            limit_virtual: 200_000.0,
        }
    } else {
        Size {
            // a tenth of a second: the small run stays short in CI
            poll: Duration::from_millis(100),
            shrink: 25,
            batch: 5,
            limit_virtual: 40_000.0,
        }
    };
    let speed = env_f64("UPSHIFT_BENCH_SPEED").unwrap_or(upshift::sim::clock::MAX_SPEED);
    let poll = env_f64("UPSHIFT_BENCH_POLL_MS")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .unwrap_or(size.poll);
    let scenario = fleet(size.shrink);

    // the simulator and upshift in runtimes of their own, so that their CPU is told apart
    let sim_rt = runtime("sim");
    let up_rt = runtime("upshift");
    let t0 = Instant::now();
    let sim = sim_rt.block_on(async {
        let mut cfg = SimConfig::new(scenario);
        cfg.speed = speed;
        Simulator::start(cfg).await.expect("the simulator starts")
    });
    let rss_built = memory_mb("VmRSS:");
    let nodes = sim.world().lock().nodes.items().len();
    let pods = sim.world().lock().pods.items().len();
    println!(
        "upgrade: scenario fleet{} built and serving after {:.1} s: {nodes} nodes, {pods} pods; speed {speed}x, drive poll {} ms ({:.0} virtual s)",
        if size.shrink > 1 {
            format!(" (1/{})", size.shrink)
        } else {
            String::new()
        },
        t0.elapsed().as_secs_f64(),
        poll.as_millis(),
        poll.as_secs_f64() * speed,
    );
    let limit = Duration::from_secs_f64((size.limit_virtual / speed).max(120.0));
    let run = up_rt.block_on(rollout(&sim, &size, poll, limit));
    report(&sim, &run, speed, poll);
    println!(
        "upgrade: memory: {:.0} MB resident once the simulator was built, {:.0} MB at the most; the simulator recorded {} changes during the rollout",
        rss_built,
        memory_mb("VmHWM:"),
        run.changes
    );
    // the drive's side first, then the simulator
    drop(up_rt);
    sim_rt.block_on(async move { drop(sim) });
}

/// What the bench read and measured.
struct Run {
    plan: Plan,
    facts: Facts,
    journal: Vec<Entry>,
    /// Real time from the drive's start to Done.
    wall: Duration,
    cpu: Cpu,
    /// Gates passed red by the bench, with the red criteria.
    overrides: Vec<String>,
    /// Kubernetes requests by identity during the rollout; AWS requests.
    k8s: BTreeMap<String, u64>,
    /// The drive's Kubernetes writes during the rollout, by verb and resource.
    writes: BTreeMap<String, u64>,
    /// The size of the ConfigMap the rollout is published to, at the end.
    published_bytes: usize,
    aws: u64,
    /// Share of the probes that found the simulator's world locked.
    busy: f64,
    /// Changes the simulator recorded (resourceVersions spent) during the rollout.
    changes: u64,
}

async fn rollout(sim: &Simulator, size: &Size, poll: Duration, limit: Duration) -> Run {
    let lead = sim.client("lead").await.expect("the lead's client");
    let cloud: Arc<dyn Cloud> = Arc::new(
        AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
            .await
            .expect("the simulator's AWS endpoint"),
    );
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(lead.clone()),
        CLUSTER,
        Some((cloud.as_ref(), CLUSTER)),
        TARGET,
    )
    .await
    .expect("discovery");
    let mut plan = plan::propose(
        &live,
        &ProposeOptions {
            target: TARGET.into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: size.batch,
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    for step in &mut plan.steps {
        if let Step::Nodegroup(g) = step {
            g.auto_continue = true;
        }
    }
    println!("upgrade: {}", plan.summary().trim_end().replace('\n', "\n         "));
    let facts = Facts::read(&sim.world().lock(), &plan);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let journal = dir.path().join("journal.jsonl");
    let clock = sim.world().lock().clock.clone();
    let now = {
        let clock = clock.clone();
        Arc::new(move || clock.now())
    };
    let drive = prepare(Setup {
        plan: plan.clone(),
        client: lead,
        cloud,
        journal: journal.clone(),
        who: LEAD.into(),
        now,
        lease_now: Arc::new(Timestamp::now),
        take_over: false,
        options: DriveOptions {
            poll,
            ..Default::default()
        },
    })
    .await
    .expect("the drive is prepared");
    // the health feed as a headless drive runs it, through a read-only identity so
    // that its requests are counted apart from the drive's
    let viewer = sim.client("viewer").await.expect("the viewer's client");
    let k8s_before = k8s_requests(sim);
    let writes_before = lead_writes(sim);
    let aws_before = aws_requests(&sim.world().lock());
    let rv_before = sim.world().lock().resource_version();
    let cpu_before = Cpu::read();
    let probe = Probe::start(sim);
    let started = Instant::now();
    let mut h = drive.start();
    let cockpit = Cockpit::lead(
        Connection {
            context: "viewer".into(),
            cluster: CLUSTER.into(),
            server: sim.url(),
            user: "viewer".into(),
            clock: Default::default(),
        },
        upshift::cockpit::lead::Controls::new(h.commands.clone()),
        clock.now(),
    );
    tokio::spawn(upshift::headless::drive::feed_health(
        ClusterReader::new(viewer),
        cockpit,
        h.health.clone(),
    ));
    let overrides = act_as_lead(&mut h, &clock, limit).await;
    let wall = started.elapsed();
    let cpu = Cpu::read().since(&cpu_before);
    let busy = probe.stop();
    let k8s_after = k8s_requests(sim);
    let k8s = k8s_after
        .iter()
        .map(|(who, n)| (who.clone(), n - k8s_before.get(who).copied().unwrap_or(0)))
        .collect();
    let aws = aws_requests(&sim.world().lock()) - aws_before;
    let changes = sim.world().lock().resource_version() - rv_before;
    let writes = lead_writes(sim)
        .into_iter()
        .map(|(what, n)| (what.clone(), n - writes_before.get(&what).copied().unwrap_or(0)))
        .collect();
    let published_bytes = sim
        .world()
        .lock()
        .configmaps
        .get(&format!("kube-system/{}", upshift::model::rollout::CONFIGMAP))
        .map_or(0, |c| serde_json::to_vec(&**c).map_or(0, |v| v.len()));
    h.task.await.expect("the drive's task").expect("the drive ends well");
    let journal = Journal::open(&journal)
        .expect("the journal reads back")
        .entries()
        .to_vec();
    Run {
        plan,
        facts,
        journal,
        wall,
        cpu,
        overrides,
        k8s,
        writes,
        published_bytes,
        aws,
        busy,
        changes,
    }
}

/// Samples, every 2 ms of real time, whether the simulator's world is locked: while
/// it is, virtual time runs on but no request is answered and no due timer fires
/// (they fire once it is free, stamped with their due times).
struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Probe {
    fn start(sim: &Simulator) -> Probe {
        let world = sim.world();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("probe".into())
            .spawn(move || {
                let (mut samples, mut busy) = (0u64, 0u64);
                while !flag.load(Ordering::Relaxed) {
                    samples += 1;
                    if world.try_lock().is_none() {
                        busy += 1;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                (samples, busy)
            })
            .expect("the probe thread");
        Probe { stop, thread }
    }

    /// The share of samples that found the world locked.
    fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, busy) = self.thread.join().expect("the probe thread ends");
        busy as f64 / samples.max(1) as f64
    }
}

fn k8s_requests(sim: &Simulator) -> BTreeMap<String, u64> {
    sim.request_counts()
        .0
        .iter()
        .map(|(who, verbs)| (who.clone(), verbs.values().flat_map(|r| r.values()).sum()))
        .collect()
}

/// The lead's writes by `verb resource`.
fn lead_writes(sim: &Simulator) -> BTreeMap<String, u64> {
    let counts = sim.request_counts();
    let mut out = BTreeMap::new();
    if let Some(verbs) = counts.0.get("lead") {
        for verb in upshift::sim::api::MUTATING_VERBS {
            for (resource, n) in verbs.get(*verb).into_iter().flatten() {
                out.insert(format!("{verb} {resource}"), *n);
            }
        }
    }
    out
}

fn aws_requests(w: &World) -> u64 {
    w.aws.requests.values().sum()
}

/// The lead: proceeds at a gate once it is green and settled; passes with a reason
/// the preflight's blockers (EKS's insight that kube-proxy 1.30 does not run on
/// 1.31: its add-on step comes after the nodes) and a gate red for
/// [`RED_PATIENCE_SECS`]; stops the bench at anything else.
async fn act_as_lead(h: &mut DriveHandle, clock: &upshift::sim::clock::Clock, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut overrides = Vec::new();
    // the gate last proceeded at, and when: asked again if the drive is still there
    let mut proceeded: Option<(String, Instant)> = None;
    let mut red_since: Option<(String, Timestamp)> = None;
    let mut skipped_preflight = false;
    loop {
        let s = h.state.borrow_and_update().clone();
        match &s.phase {
            Phase::Done => return overrides,
            Phase::Gate => {
                let g = s.gate.clone().expect("a gate in phase Gate");
                let red: Vec<String> = g.criteria.iter().filter(|c| !c.ok).map(|c| c.name.clone()).collect();
                let asked = proceeded
                    .as_ref()
                    .is_some_and(|(id, at)| *id == g.id.to_string() && at.elapsed() < Duration::from_secs(1));
                if g.passable && !asked {
                    h.commands.send(Command::Proceed).expect("the drive listens");
                    proceeded = Some((g.id.to_string(), Instant::now()));
                    red_since = None;
                } else if !red.is_empty() {
                    let now = clock.now();
                    match &red_since {
                        Some((id, t))
                            if *id == g.id.to_string() && now.as_second() - t.as_second() >= RED_PATIENCE_SECS =>
                        {
                            let why = format!("{}: red for {RED_PATIENCE_SECS}s: {}", g.id, red.join(", "));
                            h.commands
                                .send(Command::Override {
                                    reason: format!("benchmark: {why}"),
                                })
                                .expect("the drive listens");
                            overrides.push(why);
                            proceeded = Some((g.id.to_string(), Instant::now()));
                            red_since = None;
                        }
                        Some((id, _)) if *id == g.id.to_string() => {}
                        _ => red_since = Some((g.id.to_string(), now)),
                    }
                }
            }
            Phase::Failed { why, .. } if s.current_step().is_some_and(|v| v.id == StepId::Preflight) => {
                if !skipped_preflight {
                    h.commands
                        .send(Command::Override {
                            reason: "benchmark: kube-proxy is updated after the nodes, as planned".into(),
                        })
                        .expect("the drive listens");
                    overrides.push(format!("preflight skipped: {why}"));
                    skipped_preflight = true;
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!(
                "the drive stopped at {other:?} in {:?}",
                s.current_step().map(|v| (&v.id, &v.what, &v.detail))
            ),
        }
        assert!(
            started.elapsed() < limit,
            "the rollout did not finish in {} s of real time: {:?} at {:?}",
            limit.as_secs(),
            s.phase,
            s.current_step().map(|v| (&v.id, &v.what))
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), h.state.changed()).await;
    }
}
