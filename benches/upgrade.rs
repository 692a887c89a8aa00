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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use upshift::cloud::{AwsCloud, AwsOptions, Cloud};
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::rollout::{Command, Phase};
use upshift::rollout::drive::{DriveHandle, DriveOptions, Setup, prepare};
use upshift::rollout::journal::{Entry, Journal, What};
use upshift::rollout::plan::{self, Environment, GroupType, Plan, ProposeOptions, Step, Strategy};
use upshift::rollout::steps::step_id;
use upshift::sim::scenario::{Scenario, WorkloadKind};
use upshift::sim::world::eks::{CONTROL_PLANE_UPDATE_SECS, STEP_SECS, TERMINATE_DELAY_SECS};
use upshift::sim::world::{World, addons, annotations};
use upshift::sim::{SimConfig, Simulator};

const LEAD: &str = "bench@upgrade";
const CLUSTER: &str = "fleet";
const TARGET: &str = "1.31";
/// Decisions that pass a gate.
const PASSING: [&str; 3] = ["proceed", "override", "auto-proceed"];
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
    let live = plan::discover(&lead, CLUSTER, Some((cloud.as_ref(), CLUSTER)), TARGET)
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
    let cockpit = Cockpit::new(
        Connection {
            context: "viewer".into(),
            cluster: CLUSTER.into(),
            server: sim.url(),
            user: "viewer".into(),
        },
        true,
        clock.now(),
    );

    let k8s_before = k8s_requests(sim);
    let writes_before = lead_writes(sim);
    let aws_before = aws_requests(&sim.world().lock());
    let rv_before = sim.world().lock().resource_version();
    let cpu_before = Cpu::read();
    let probe = Probe::start(sim);
    let started = Instant::now();
    let mut h = drive.start();
    tokio::spawn(upshift::app::feed_health(
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
                    .is_some_and(|(id, at)| *id == g.id && at.elapsed() < Duration::from_secs(1));
                if g.passable && !asked {
                    h.commands.send(Command::Proceed).expect("the drive listens");
                    proceeded = Some((g.id.clone(), Instant::now()));
                    red_since = None;
                } else if !red.is_empty() {
                    let now = clock.now();
                    match &red_since {
                        Some((id, t)) if *id == g.id && now.as_second() - t.as_second() >= RED_PATIENCE_SECS => {
                            let why = format!("{}: red for {RED_PATIENCE_SECS}s: {}", g.id, red.join(", "));
                            h.commands
                                .send(Command::Override {
                                    reason: format!("benchmark: {why}"),
                                })
                                .expect("the drive listens");
                            overrides.push(why);
                            proceeded = Some((g.id.clone(), Instant::now()));
                            red_since = None;
                        }
                        Some((id, _)) if *id == g.id => {}
                        _ => red_since = Some((g.id.clone(), now)),
                    }
                }
            }
            Phase::Failed { why, .. } if s.current_step().is_some_and(|v| v.id == "preflight") => {
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

// ---------------------------------------------------------------- CPU time and memory

/// A size line of /proc/self/status (`VmRSS:`, `VmHWM:`) in megabytes.
fn memory_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds of this process, and of its threads by name (`sim`, `upshift`, the
/// main thread's).
#[derive(Clone, Debug, Default)]
struct Cpu {
    process: f64,
    threads: BTreeMap<i64, (String, f64)>,
}

/// Linux's fixed unit of /proc times (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a /proc `stat` line, in seconds.
fn stat_seconds(stat: &str) -> Option<f64> {
    // the name is in parentheses and may hold spaces: count fields after it
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

impl Cpu {
    fn read() -> Cpu {
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| stat_seconds(&s))
            .unwrap_or(f64::NAN);
        let mut threads = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for t in dir.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
                    continue;
                };
                let p = t.path();
                let name = std::fs::read_to_string(p.join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                // schedstat's first field is the thread's CPU time in nanoseconds
                let secs = std::fs::read_to_string(p.join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                    .map(|ns| ns / 1e9)
                    .or_else(|| {
                        std::fs::read_to_string(p.join("stat"))
                            .ok()
                            .and_then(|s| stat_seconds(&s))
                    });
                if let Some(secs) = secs {
                    threads.insert(tid, (name, secs));
                }
            }
        }
        Cpu { process, threads }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            process: self.process - before.process,
            threads: self
                .threads
                .iter()
                .map(|(tid, (name, s))| {
                    let was = before.threads.get(tid).map_or(0.0, |(_, b)| *b);
                    (*tid, (name.clone(), s - was))
                })
                .collect(),
        }
    }

    /// Seconds of the threads whose name starts with `prefix`.
    fn of(&self, prefix: &str) -> f64 {
        self.threads
            .values()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, s)| s)
            .sum()
    }
}

// ---------------------------------------------------------------- the lower bound

/// A PodDisruptionBudget over a Deployment's pods, as the drains meet it.
struct Budget {
    namespace: String,
    /// The Deployment's name (the budget selects `app: NAME`).
    app: String,
    /// Disruptions it allows with every pod healthy.
    allowed: u32,
    /// Virtual seconds an evicted pod's replacement takes to be Ready.
    start: f64,
}

/// A node group as the simulator runs it.
struct Group {
    kind: GroupType,
    nodes: u32,
    zones: u32,
    boot: f64,
}

/// How an add-on's workload rolls out.
enum Roll {
    /// Pods at once (maxUnavailable), how many, seconds a pod takes to stop and to start.
    DaemonSet {
        pods: u32,
        at_once: u32,
        stop: f64,
        start: f64,
    },
    /// Replicas, new pods at once (maxSurge + maxUnavailable), start seconds.
    Deployment { replicas: u32, at_once: u32, start: f64 },
}

/// What the lower bound is computed from: read from the simulator's world before
/// the rollout, and the plan.
struct Facts {
    groups: BTreeMap<String, Group>,
    budgets: Vec<Budget>,
    addons: BTreeMap<String, Roll>,
    /// The longest a pod takes to stop once evicted.
    stop: f64,
    settle: f64,
}

fn annotation_secs(
    meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    key: &str,
    default: f64,
) -> f64 {
    meta.and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An IntOrString of `total`, rounded up or down as the controllers do.
fn scaled(v: Option<&IntOrString>, total: u32, default_pct: u32, up: bool) -> u32 {
    let pct = |p: u32| {
        if up { (p * total).div_ceil(100) } else { p * total / 100 }
    };
    match v {
        Some(IntOrString::Int(i)) => (*i).max(0) as u32,
        Some(IntOrString::String(s)) => pct(s.trim_end_matches('%').parse().unwrap_or(default_pct)),
        None => pct(default_pct),
    }
}

impl Facts {
    fn read(w: &World, plan: &Plan) -> Facts {
        use upshift::sim::world::eks::managed_group;
        let groups = w
            .groups
            .iter()
            .map(|g| {
                let kind = if managed_group(w, &g.name).is_some() {
                    GroupType::Managed
                } else {
                    GroupType::SelfManaged
                };
                let group = Group {
                    kind,
                    nodes: g.alive() as u32,
                    zones: g.zones.len().max(1) as u32,
                    boot: g.boot_seconds,
                };
                (g.name.clone(), group)
            })
            .collect();
        let mut stop: f64 = 0.0;
        let mut starts = BTreeMap::new();
        for (key, d) in w.deployments.items().iter() {
            let tpl = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
            starts.insert(key.clone(), annotation_secs(tpl, annotations::START_SECONDS, 3.0));
            stop = stop.max(annotation_secs(tpl, annotations::TERMINATION_SECONDS, 2.0));
        }
        let budgets = w
            .pdbs
            .items()
            .values()
            .filter_map(|p| {
                let namespace = p.metadata.namespace.clone()?;
                let app = p
                    .spec
                    .as_ref()?
                    .selector
                    .as_ref()?
                    .match_labels
                    .as_ref()?
                    .get("app")?
                    .clone();
                let allowed = p.status.as_ref()?.disruptions_allowed.max(1) as u32;
                let start = starts.get(&format!("{namespace}/{app}")).copied().unwrap_or(3.0);
                Some(Budget {
                    namespace,
                    app,
                    allowed,
                    start,
                })
            })
            .collect();
        let mut rolls = BTreeMap::new();
        for step in &plan.steps {
            let Step::Addon { name, .. } = step else { continue };
            let Some(spec) = addons::table().addons.iter().find(|a| &a.name == name) else {
                continue;
            };
            let key = format!("{}/{}", spec.workload.namespace, spec.workload.name);
            let roll = if spec.workload.kind == "DaemonSet" {
                w.daemonsets.get(&key).map(|d| {
                    let pods = d
                        .status
                        .as_ref()
                        .map_or(0, |s| s.desired_number_scheduled.max(0) as u32);
                    let spec = d.spec.as_ref();
                    let tpl = spec.and_then(|s| s.template.metadata.as_ref());
                    let max = spec
                        .and_then(|s| s.update_strategy.as_ref())
                        .and_then(|s| s.rolling_update.as_ref())
                        .and_then(|r| r.max_unavailable.as_ref());
                    Roll::DaemonSet {
                        pods,
                        at_once: scaled(max, pods, 0, true).max(1),
                        stop: annotation_secs(tpl, annotations::TERMINATION_SECONDS, 2.0),
                        start: annotation_secs(tpl, annotations::START_SECONDS, 3.0),
                    }
                })
            } else {
                w.deployments.get(&key).map(|d| {
                    let spec = d.spec.as_ref();
                    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
                    let rolling = spec
                        .and_then(|s| s.strategy.as_ref())
                        .and_then(|s| s.rolling_update.as_ref());
                    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), replicas, 25, true);
                    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), replicas, 25, false);
                    Roll::Deployment {
                        replicas,
                        at_once: (surge + unavailable).max(1),
                        start: starts.get(&key).copied().unwrap_or(3.0),
                    }
                })
            };
            if let Some(r) = roll {
                rolls.insert(name.clone(), r);
            }
        }
        Facts {
            groups,
            budgets,
            addons: rolls,
            stop,
            settle: plan.gates.settle_seconds as f64,
        }
    }
}

/// The virtual seconds a step needs at least, by the simulator's timing, with why.
fn step_bound(f: &Facts, step: &Step, batches: &[Batch]) -> (f64, String) {
    match step {
        Step::Preflight | Step::Postflight => (0.0, "read-only".into()),
        Step::ControlPlane => (
            CONTROL_PLANE_UPDATE_SECS,
            format!("EKS control plane update, {CONTROL_PLANE_UPDATE_SECS:.0} s"),
        ),
        Step::Addon { name, .. } => match f.addons.get(name) {
            Some(Roll::DaemonSet {
                pods,
                at_once,
                stop,
                start,
            }) => {
                let waves = pods.div_ceil(*at_once);
                (
                    f64::from(waves) * (stop + start),
                    format!("{waves} waves of {at_once} pods × ({stop:.0} s stop + {start:.0} s start)"),
                )
            }
            Some(Roll::Deployment {
                replicas,
                at_once,
                start,
            }) => {
                let waves = replicas.div_ceil(*at_once);
                (
                    f64::from(waves) * start,
                    format!("{waves} waves of {at_once} new pods × {start:.0} s start"),
                )
            }
            None => (0.0, "workload not found".into()),
        },
        Step::Nodegroup(g) => {
            let Some(group) = f.groups.get(&g.name) else {
                return (0.0, "group not found".into());
            };
            match (group.kind, g.strategy) {
                (GroupType::Managed, _) => {
                    // EKS surges 2 per zone, then drains one old node at a time: its
                    // pods go at a pass of its reconciler, the node is seen empty at
                    // the next, terminated TERMINATE_DELAY later, and the next node
                    // is taken at the pass after; replaced nodes must boot first
                    let n = group.nodes;
                    let surge = (2 * group.zones).min(n);
                    let per_node = TERMINATE_DELAY_SECS as f64 + 2.0 * STEP_SECS;
                    let replaced = n.saturating_sub(surge);
                    let secs = group.boot * f64::from(1 + replaced) + f64::from(n) * per_node;
                    (
                        secs,
                        format!(
                            "surge of {surge} boots ({:.0} s), then {n} nodes × {per_node:.0} s (drain, {TERMINATE_DELAY_SECS} s before termination){}",
                            group.boot,
                            if replaced > 0 {
                                format!(", {replaced} replacements boot")
                            } else {
                                String::new()
                            }
                        ),
                    )
                }
                (GroupType::SelfManaged, Strategy::Replace) => {
                    let drains: f64 = batches.iter().map(|b| b.drain_bound).sum();
                    let n = batches.len();
                    let secs = drains + n as f64 * group.boot + n.saturating_sub(1) as f64 * f.settle;
                    (
                        secs,
                        format!(
                            "{n} batches: drains {drains:.0} s (budgets' waves), {n} × {:.0} s boot, {} gates × {:.0} s settle",
                            group.boot,
                            n.saturating_sub(1),
                            f.settle
                        ),
                    )
                }
                _ => (0.0, "not modelled".into()),
            }
        }
    }
}

// ---------------------------------------------------------------- reading the journal

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    b.duration_since(a).as_secs_f64()
}

/// When the gate `id` was passed.
fn passed(journal: &[Entry], id: &str) -> Option<Timestamp> {
    journal.iter().find_map(|e| match &e.what {
        What::Decision {
            step: Some(s),
            decision,
            ..
        } if s == id && PASSING.contains(&decision.as_str()) => Some(e.at),
        _ => None,
    })
}

/// When step `id` ended (done or skipped).
fn ended(journal: &[Entry], id: &str) -> Option<Timestamp> {
    journal.iter().rev().find_map(|e| match &e.what {
        What::Step { step, state } if step == id && (state == "done" || state == "skipped") => Some(e.at),
        _ => None,
    })
}

/// One batch of a self-managed group replaced by upshift.
struct Batch {
    start: Timestamp,
    /// The last of its nodes' instances terminated.
    terminated: Option<Timestamp>,
    /// The last of their replacements joined Ready.
    joined: Option<Timestamp>,
    /// The next batch's gate passed, or the step's end.
    next: Option<Timestamp>,
    /// What the budgets force: (waves - 1) × the slowest start + a pod's stop.
    drain_bound: f64,
}

fn batches(run: &Run, w: &World, group: &str) -> Vec<Batch> {
    let step = format!("nodegroup/{group}");
    let j = &run.journal;
    let starts: Vec<Timestamp> = j
        .iter()
        .filter_map(|e| match &e.what {
            What::Action { step: s, action, .. } if *s == step && action == "start-batch" => Some(e.at),
            _ => None,
        })
        .collect();
    let end = ended(j, &step);
    // when each replacement joined: the group's nodes created during the step
    let mut joins: Vec<Timestamp> = w
        .nodes
        .items()
        .values()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SELF_MANAGED_LABEL))
                .is_some_and(|g| g == group)
        })
        .filter_map(|n| n.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .filter(|t| starts.first().is_some_and(|s| t >= s))
        .collect();
    joins.sort();
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let until = starts.get(i + 1).copied().or(end);
        let within = |t: Timestamp| t >= start && until.is_none_or(|u| t <= u);
        let terminated = j
            .iter()
            .filter(|e| matches!(&e.what, What::Action { step: s, action, .. } if *s == step && action == "terminate-instance"))
            .map(|e| e.at)
            .filter(|t| within(*t))
            .max();
        let joined = joins.iter().copied().filter(|t| within(*t)).max();
        let next = passed(j, &format!("gate/{step}#{}", i + 2)).or(end);
        // evictions that went through in this batch, per budget: waves of `allowed`
        let evicted: Vec<&str> = j
            .iter()
            .filter(|e| within(e.at))
            .filter_map(|e| match &e.what {
                What::Result {
                    step: s,
                    action,
                    target,
                    ok: true,
                    ..
                } if *s == step && action == "evict" => Some(target.as_str()),
                _ => None,
            })
            .collect();
        let forced = run
            .facts
            .budgets
            .iter()
            .map(|b| {
                let prefix = format!("{}/{}-", b.namespace, b.app);
                let pods = evicted.iter().filter(|k| k.starts_with(&prefix)).count() as u32;
                f64::from(pods.div_ceil(b.allowed).saturating_sub(1)) * b.start
            })
            .fold(0.0, f64::max);
        out.push(Batch {
            start,
            terminated,
            joined,
            next,
            drain_bound: forced + run.facts.stop,
        });
    }
    out
}

// ---------------------------------------------------------------- the report

fn fmt_secs(s: f64) -> String {
    if s.is_nan() { "-".into() } else { format!("{s:.0}") }
}

fn report(sim: &Simulator, run: &Run, speed: f64, poll: Duration) {
    let w = sim.world();
    let w = w.lock();
    let j = &run.journal;
    let first = j
        .iter()
        .find(|e| matches!(&e.what, What::Decision { step: Some(_), decision, .. } if PASSING.contains(&decision.as_str())))
        .map(|e| e.at)
        .expect("a gate was passed");
    let last_id = run.plan.steps.last().map(step_id).expect("a plan with steps");
    let done = ended(j, &last_id).expect("the last step ended");
    let total = secs(first, done);

    println!(
        "upgrade: {:<34} {:>7} {:>7}  {:>7} {:>7}  lower bound counts",
        "step", "gate s", "bound", "run s", "bound"
    );
    let mut bound_total = 0.0;
    let mut gates = (0.0, 0.0);
    let mut previous_end: Option<Timestamp> = None;
    let mut replaced: Vec<(String, Vec<Batch>)> = Vec::new();
    for (i, step) in run.plan.steps.iter().enumerate() {
        let id = step_id(step);
        let gate_at = passed(j, &format!("gate/{id}"));
        let end = ended(j, &id);
        let gate = match (previous_end, gate_at) {
            (Some(p), Some(g)) => secs(p, g),
            _ => f64::NAN,
        };
        // every gate after the first holds green for the plan's settle time
        let gate_bound = if i == 0 { 0.0 } else { run.facts.settle };
        let ran = match (gate_at, end) {
            (Some(g), Some(e)) => secs(g, e),
            _ => f64::NAN,
        };
        let bs = match step {
            Step::Nodegroup(g) if g.strategy == Strategy::Replace => batches(run, &w, &g.name),
            _ => Vec::new(),
        };
        let (run_bound, why) = step_bound(&run.facts, step, &bs);
        bound_total += gate_bound + run_bound;
        if i > 0 {
            gates.0 += gate;
            gates.1 += gate_bound;
        }
        let skipped = j
            .iter()
            .any(|e| matches!(&e.what, What::Step { step, state } if *step == id && state == "skipped"));
        println!(
            "upgrade: {:<34} {:>7} {:>7}  {:>7} {:>7}  {}",
            step.label(),
            if i == 0 { "-".into() } else { fmt_secs(gate) },
            fmt_secs(gate_bound),
            fmt_secs(ran),
            fmt_secs(run_bound),
            if skipped {
                format!("{why} (skipped by the lead)")
            } else {
                why
            }
        );
        if let Step::Nodegroup(g) = step
            && !bs.is_empty()
        {
            replaced.push((g.name.clone(), bs));
        }
        previous_end = end;
    }
    println!(
        "upgrade: virtual duration {} s ({:.2} h), first gate passed to Done; lower bound {} s; ratio {:.2} (goal: at most 1.20)",
        fmt_secs(total),
        total / 3600.0,
        fmt_secs(bound_total),
        total / bound_total
    );
    println!(
        "upgrade: at the gates between steps {} s (bound {} s: the plan's {} s settle each)",
        fmt_secs(gates.0),
        fmt_secs(gates.1),
        fmt_secs(run.facts.settle)
    );

    // where the replaced groups' batches spent their time
    let (mut drain, mut drain_b, mut boot, mut boot_b, mut after, mut after_b, mut n) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
    for (name, bs) in &replaced {
        let boot_secs = run.facts.groups.get(name).map_or(0.0, |g| g.boot);
        for (i, b) in bs.iter().enumerate() {
            let (Some(t), Some(jn), Some(next)) = (b.terminated, b.joined, b.next) else {
                continue;
            };
            n += 1;
            drain += secs(b.start, t);
            drain_b += b.drain_bound;
            boot += secs(t, jn);
            boot_b += boot_secs;
            after += secs(jn, next);
            if i + 1 < bs.len() {
                after_b += run.facts.settle;
            }
        }
    }
    if n > 0 {
        println!(
            "upgrade: {n} batches replaced by upshift: start to last instance terminated {} s (bound {}: budgets' waves and a pod's stop), to last replacement Ready {} s (bound {}: boot), to the next batch or the step's end {} s (bound {}: settle)",
            fmt_secs(drain),
            fmt_secs(drain_b),
            fmt_secs(boot),
            fmt_secs(boot_b),
            fmt_secs(after),
            fmt_secs(after_b),
        );
    }
    // the simulator's own lateness: replacements join at its tick after their boot time
    let mut late = Vec::new();
    for g in &w.groups {
        for inst in &g.instances {
            if inst.launched < first {
                continue;
            }
            if let Some(node) = w.nodes.get(&inst.node_name)
                && let Some(t) = node.metadata.creation_timestamp.as_ref()
            {
                late.push(secs(inst.launched, t.0) - g.boot_seconds);
            }
        }
    }
    if !late.is_empty() {
        let mean = late.iter().sum::<f64>() / late.len() as f64;
        println!(
            "upgrade: the {} instances launched during the rollout joined {:.1} s after their boot time on average",
            late.len(),
            mean,
        );
    }
    println!(
        "upgrade: the drive turns every {} ms of real time: {:.0} virtual s at {speed}x",
        poll.as_millis(),
        poll.as_secs_f64() * speed
    );
    if !run.overrides.is_empty() {
        println!(
            "upgrade: passed by the lead with a reason: {}",
            run.overrides.join("; ")
        );
    }
    let wall = run.wall.as_secs_f64();
    println!(
        "upgrade: the simulator's world was locked at {:.0}% of the probes: about {:.1} s of real time, {:.0} virtual s at {speed}x, in which it answered no request",
        run.busy * 100.0,
        run.busy * wall,
        run.busy * wall * speed,
    );
    let (simulator, ours) = (run.cpu.of("sim"), run.cpu.of("upshift"));
    println!(
        "upgrade: real time {wall:.1} s from the drive's start to Done; CPU {:.1} s for the process ({:.1} of 2 cores): simulator threads {simulator:.1} s, upshift threads {ours:.1} s (drive, health feed, their clients), the rest {:.1} s",
        run.cpu.process,
        run.cpu.process / wall,
        run.cpu.process - simulator - ours,
    );
    println!(
        "upgrade: requests during the rollout: the drive {} Kubernetes and {} AWS; the health feed {} Kubernetes",
        run.k8s.get("lead").copied().unwrap_or(0),
        run.aws,
        run.k8s.get("viewer").copied().unwrap_or(0),
    );
    let mut writes: Vec<(&String, &u64)> = run.writes.iter().filter(|(_, n)| **n > 0).collect();
    writes.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "upgrade: the drive's writes: {}; the published ConfigMap is {:.0} KB",
        writes
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        run.published_bytes as f64 / 1024.0
    );
}
