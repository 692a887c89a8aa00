//! Benchmark: the availability aggregates at 150,000 pods. Model sync time: an empty
//! model given every pod, as the cockpit had it before availability, against the same
//! with every Deployment, ReplicaSet, StatefulSet, DaemonSet, Service and
//! EndpointSlice applied first (both timed whole, the tables' own share printed too).
//! Then how long the signals take per frame (`Signals::compute`, availability
//! included, and `Availability::compute` alone): 3,600 Deployments with three
//! ReplicaSets and a StatefulSet each, 900 DaemonSets, 7,200 Services and 14,400
//! EndpointSlices, some down and some degraded.
//!
//! `cargo bench --bench availability` prints the figures. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a short run on a small model.

use std::time::{Duration, Instant};

use upshift::model::availability::Availability;
use upshift::model::pod::{ErrorKind, OwnerKind, PodPhase};
use upshift::model::service::{ServiceInfo, SliceInfo};
use upshift::model::workload::{Kind, WorkloadInfo};
use upshift::model::{Change, ClusterModel, Delta, EventLog, Interner, PodInfo, Signals, Timestamp};

struct Size {
    pods: usize,
    deployments: usize,
    rounds: usize,
}

fn now() -> Timestamp {
    "2025-06-02T14:30:00Z".parse().expect("time")
}

const NS: [&str; 5] = ["shop", "payments", "search", "batch", "monitoring"];

fn pod(i: usize, size: &Size, strings: &mut Interner) -> PodInfo {
    let d = i % size.deployments;
    let ns = NS[d % NS.len()];
    let owner = format!("svc-{d}-7c9d8b6f5");
    let error = match i % 211 {
        0 => Some(ErrorKind::CrashLoopBackOff),
        1 => Some(ErrorKind::ImagePullBackOff),
        _ => None,
    };
    let node = (i % 997 != 5).then(|| strings.get(&format!("ip-10-0-{}-{}", i / 30 / 256 % 256, i / 30 % 256)));
    PodInfo {
        namespace: strings.get(ns),
        name: format!("{owner}-{i:06x}"),
        phase: if node.is_some() {
            PodPhase::Running
        } else {
            PodPhase::Pending
        },
        node,
        owner_kind: if i % 5_000 == 7 {
            OwnerKind::None
        } else {
            OwnerKind::ReplicaSet
        },
        owner: Some(strings.get(&owner)),
        ready: error.is_none(),
        deleting: false,
        restarts: 0,
        error,
        reason: error.map(|_| Box::from("back-off 5m0s restarting failed container")),
        unschedulable: None,
        empty_dir: false,
        created: Some(now()),
        volumes: None,
    }
}

fn workload(
    kind: Kind,
    ns: &str,
    name: &str,
    desired: u32,
    available: u32,
    owner: Option<&str>,
    strings: &mut Interner,
) -> WorkloadInfo {
    WorkloadInfo {
        kind,
        namespace: strings.get(ns),
        name: name.to_string(),
        desired,
        ready: available,
        available,
        owner: owner.map(|o| strings.get(o)),
        labels: vec![("app".into(), name.into())],
        component: None,
    }
}

/// The workload, Service and EndpointSlice deltas: every 50th Deployment down, every
/// 20th degraded; one Service per Deployment and one per StatefulSet, two slices each.
fn tables(size: &Size, strings: &mut Interner) -> Vec<Delta> {
    let mut deployments = Vec::new();
    let mut sets = Vec::new();
    let mut statefulsets = Vec::new();
    let mut daemonsets = Vec::new();
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for d in 0..size.deployments {
        let ns = NS[d % NS.len()];
        let name = format!("svc-{d}");
        let available = if d % 50 == 0 {
            0
        } else if d % 20 == 0 {
            2
        } else {
            4
        };
        let w = workload(Kind::Deployment, ns, &name, 4, available, None, strings);
        deployments.push(Change::Upsert(format!("{ns}/{name}"), w));
        for r in 0..3 {
            let rs = format!("{name}-{}", ["7c9d8b6f5", "6b8c7a5e4", "5a7b6c4d3"][r]);
            let w = workload(
                Kind::ReplicaSet,
                ns,
                &rs,
                if r == 0 { 4 } else { 0 },
                0,
                Some(&name),
                strings,
            );
            sets.push(Change::Upsert(format!("{ns}/{rs}"), w));
        }
        let s = workload(Kind::StatefulSet, ns, &format!("db-{d}"), 3, 3, None, strings);
        statefulsets.push(Change::Upsert(format!("{ns}/db-{d}"), s));
        for svc in [name.clone(), format!("db-{d}")] {
            services.push(Change::Upsert(
                format!("{ns}/{svc}"),
                ServiceInfo {
                    namespace: strings.get(ns),
                    name: svc.clone(),
                    selector: true,
                },
            ));
            for part in 0..2 {
                slices.push(Change::Upsert(
                    format!("{ns}/{svc}-{part}"),
                    SliceInfo {
                        service: strings.get(&format!("{ns}/{svc}")),
                        ready: if available == 0 && svc == name { 0 } else { 2 },
                    },
                ));
            }
        }
    }
    for i in 0..size.deployments / 4 {
        let w = workload(
            Kind::DaemonSet,
            "kube-system",
            &format!("agent-{i}"),
            5_000,
            5_000,
            None,
            strings,
        );
        daemonsets.push(Change::Upsert(format!("kube-system/agent-{i}"), w));
    }
    vec![
        Delta::Workloads(Kind::Deployment, deployments),
        Delta::Workloads(Kind::ReplicaSet, sets),
        Delta::Workloads(Kind::StatefulSet, statefulsets),
        Delta::Workloads(Kind::DaemonSet, daemonsets),
        Delta::Services(services),
        Delta::EndpointSlices(slices),
    ]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = mean(&times);
    let p99 = times[((times.len() - 1) as f64 * 0.99).round() as usize];
    println!(
        "{what:<52} mean {:>9.3} ms   p99 {:>9.3} ms   ({} runs)",
        mean.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times.len()
    );
}

/// How long one model sync took: the availability tables (zero without them), and
/// the whole (tables and pods).
struct Synced {
    tables: Duration,
    whole: Duration,
}

/// A model given every pod in batches of 1,024 (and, with `with_tables`, every
/// workload, Service and EndpointSlice first), timed from the empty model. The deltas
/// are built before the clock starts: what is timed is the model taking them in.
fn sync(size: &Size, with_tables: bool) -> (ClusterModel, Synced) {
    let mut strings = Interner::default();
    let mut m = ClusterModel::new(now());
    let mut log = EventLog::new(10);
    let tables = if with_tables {
        tables(size, &mut strings)
    } else {
        Vec::new()
    };
    let pods: Vec<Vec<Change<PodInfo>>> = (0..size.pods)
        .map(|i| pod(i, size, &mut strings))
        .map(|p| Change::Upsert(p.key(), p))
        .collect::<Vec<_>>()
        .chunks(1024)
        .map(<[_]>::to_vec)
        .collect();
    let start = Instant::now();
    for d in tables {
        m.apply(d, &mut log);
    }
    let tables = start.elapsed();
    for batch in pods {
        m.apply(Delta::Pods(batch), &mut log);
    }
    let whole = start.elapsed();
    (m, Synced { tables, whole })
}

fn mean(times: &[Duration]) -> Duration {
    times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(u32::MAX)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            pods: 150_000,
            deployments: 3_600,
            rounds: 5,
        }
    } else {
        Size {
            pods: 3_000,
            deployments: 100,
            rounds: 2,
        }
    };
    println!(
        "{} pods, {} Deployments (+3 ReplicaSets, a StatefulSet and 2 Services each), {} DaemonSets{}",
        size.pods,
        size.deployments,
        size.deployments / 4,
        if full {
            ""
        } else {
            " — quick run; `cargo bench --bench availability` for the figures"
        }
    );
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut tables = Vec::new();
    let mut model = None;
    for _ in 0..size.rounds {
        without.push(sync(&size, false).1.whole);
        let (m, t) = sync(&size, true);
        with.push(t.whole);
        tables.push(t.tables);
        model = Some(m);
    }
    let change = (mean(&with).as_secs_f64() / mean(&without).as_secs_f64() - 1.0) * 100.0;
    report("model sync: every pod (no availability tables)", without);
    report("model sync: workload and Service tables, then every pod", with);
    report("  of which the workload and Service tables", tables);
    println!("model sync with the availability tables: {change:+.1}% against without (goal: within 10%)");
    let Some(m) = model else { return };
    let mut signals = Vec::new();
    let mut availability = Vec::new();
    let mut last = Signals::default();
    for _ in 0..size.rounds * 4 {
        let start = Instant::now();
        last = Signals::compute(&m);
        signals.push(start.elapsed());
        let start = Instant::now();
        let a = Availability::compute(&m);
        availability.push(start.elapsed());
        assert_eq!(a.down, last.availability.down);
    }
    report("Signals::compute per frame (availability included)", signals);
    report("Availability::compute per frame", availability);
    let a = &last.availability;
    println!(
        "availability: {} workloads, {} down, {} degraded, {} Services ({} down), {} pods with no controller",
        a.workloads,
        a.down,
        a.degraded,
        a.services,
        a.services_down.len(),
        a.ownerless.len()
    );
    assert!(
        a.down > 0 && a.degraded > 0,
        "the model has workloads down and degraded"
    );
}
