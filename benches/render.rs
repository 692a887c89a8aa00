//! Benchmark: how long the cockpit takes to draw a full frame of a large cluster
//! (5,000 nodes, 150,000 pods, a full event log) into an off-screen 200×60 terminal,
//! and how long `Signals::compute` takes on that model. A frame must stay well under
//! 10 ms: panes draw only their visible rows.
//!
//! `cargo bench --bench render` prints the figures. Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a short run on a small model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use upshift::cluster::Connection;
use upshift::cockpit::Cockpit;
use upshift::model::node::{Problem, Tri};
use upshift::model::pod::{ErrorKind, OwnerKind, PodPhase};
use upshift::model::{
    Change, Delta, Interner, Level, LogEntry, NodeInfo, PdbInfo, PodInfo, Source, SourceState, Timestamp,
};
use upshift::ui;

struct Size {
    nodes: usize,
    pods_per_node: usize,
    unscheduled: usize,
    frames: usize,
}

fn now() -> Timestamp {
    "2025-06-02T14:30:00Z".parse().expect("time")
}

fn node(i: usize, strings: &mut Interner) -> NodeInfo {
    let group = format!("apps-{:02}", i % 20);
    let old = i % 20 < 12;
    let kubelet = if old {
        "v1.30.9-eks-5e0fdde"
    } else {
        "v1.31.4-eks-0e1ae5b"
    };
    let ready = if i % 97 == 3 { Tri::Unknown } else { Tri::True };
    let mut problems = Vec::new();
    if ready != Tri::True {
        problems.push(Problem {
            condition: "Ready".into(),
            status: Tri::Unknown,
            reason: "NodeStatusUnknown".into(),
            message: "Kubelet stopped posting node status.".into(),
            since: Some(now() - jiff::SignedDuration::from_mins(5)),
        });
    }
    NodeInfo {
        name: format!(
            "ip-10-{}-{}-{}.eu-west-1.compute.internal",
            i / 65536,
            (i / 256) % 256,
            i % 256
        ),
        group: strings.get(&group),
        nodepool: None,
        zone: strings.get(["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3]),
        instance_type: strings.get("m6i.2xlarge"),
        kubelet: strings.get(kubelet),
        minor: strings.get(if old { "1.30" } else { "1.31" }),
        ready,
        ready_since: Some(now() - jiff::SignedDuration::from_hours(30)),
        unschedulable: i % 53 == 7,
        deleting: false,
        leaving_taint: i % 211 == 11,
        taints: Vec::new(),
        problems,
        created: Some(now() - jiff::SignedDuration::from_hours(1 + (i % 700) as i64)),
        cpu_millis: 7910,
        memory: 31 << 30,
        max_pods: 58,
        provider_id: Some(format!("aws:///eu-west-1a/i-0{i:016x}")),
    }
}

fn pod(i: usize, node: Option<&Arc<str>>, strings: &mut Interner) -> PodInfo {
    let ns = ["shop", "payments", "search", "batch", "kube-system"][i % 5];
    let workload = format!("svc-{}", i % 900);
    let owner = format!("{workload}-7c9d8b6f5");
    let (error, reason, restarts) = match i % 211 {
        0 => (
            Some(ErrorKind::CrashLoopBackOff),
            Some("back-off 5m0s restarting failed container"),
            14,
        ),
        1 => (Some(ErrorKind::ImagePullBackOff), Some("Back-off pulling image"), 0),
        2 => (
            Some(ErrorKind::OOMKilled),
            Some("back-off 2m40s restarting failed container"),
            6,
        ),
        _ => (None, None, (i % 3) as u32),
    };
    PodInfo {
        namespace: strings.get(ns),
        name: format!("{owner}-{:05x}", i % 0xfffff),
        node: node.cloned(),
        phase: if node.is_some() {
            PodPhase::Running
        } else {
            PodPhase::Pending
        },
        owner_kind: OwnerKind::ReplicaSet,
        owner: Some(strings.get(&owner)),
        ready: error.is_none() && node.is_some(),
        deleting: false,
        restarts,
        error,
        reason: reason.map(Box::from),
        unschedulable: node.is_none().then(|| {
            Box::from(
                "0/5000 nodes are available: 97 node(s) were unschedulable, 4903 Insufficient cpu. \
                 preemption: 0/5000 nodes are available: 5000 No preemption victims found for incoming pod.",
            )
        }),
        empty_dir: i.is_multiple_of(7),
        created: Some(now() - jiff::SignedDuration::from_mins(1 + (i % 5000) as i64)),
        volumes: None,
    }
}

fn cockpit(size: &Size) -> Cockpit {
    let connection = Connection {
        context: "arn:aws:eks:eu-west-1:123456789012:cluster/large".into(),
        cluster: "large".into(),
        server: "https://4F2A9C1B7D3E5F60718293A4B5C6D7E8.gr7.eu-west-1.eks.amazonaws.com".into(),
        user: "arn:aws:iam::123456789012:role/platform-oncall".into(),
        clock: Default::default(),
    };
    let mut c = Cockpit::new(connection, now() - jiff::SignedDuration::from_hours(2));
    c.now = now();
    c.log.now = Some(now());
    let mut strings = Interner::default();
    let nodes: Vec<NodeInfo> = (0..size.nodes).map(|i| node(i, &mut strings)).collect();
    let names: Vec<Arc<str>> = nodes.iter().map(|n| strings.get(&n.name)).collect();
    c.apply(Delta::ServerVersion("v1.31.4-eks-0e1ae5b".into()));
    c.apply(Delta::Nodes(
        nodes.into_iter().map(|n| Change::Upsert(n.name.clone(), n)).collect(),
    ));
    let total = size.nodes * size.pods_per_node;
    let mut pods = Vec::with_capacity(total + size.unscheduled);
    for i in 0..total {
        pods.push(pod(i, names.get(i % size.nodes.max(1)), &mut strings));
    }
    for i in 0..size.unscheduled {
        pods.push(pod(total + i, None, &mut strings));
    }
    c.apply(Delta::Pods(
        pods.into_iter().map(|p| Change::Upsert(p.key(), p)).collect(),
    ));
    c.apply(Delta::Pdbs(
        (0..200)
            .map(|i| PdbInfo {
                namespace: "shop".into(),
                name: format!("svc-{i}"),
                disruptions_allowed: i32::from(i % 10 != 0),
                current_healthy: 3,
                desired_healthy: 3,
                expected_pods: 3,
                selector: Vec::new(),
            })
            .map(|p| Change::Upsert(p.key(), p))
            .collect(),
    ));
    let entries = (0..upshift::cockpit::LOG_CAPACITY).map(|i| {
        let mut e = LogEntry::local(
            if i % 3 == 0 { Level::Info } else { Level::Warning },
            "BackOff",
            format!("Back-off restarting failed container app in pod svc-{i}"),
        );
        e.at = Some(now() - jiff::SignedDuration::from_secs((upshift::cockpit::LOG_CAPACITY - i) as i64));
        e.object = format!("Pod/shop/svc-{}-7c9d8b6f5-{i:05x}", i % 900);
        e.count = 1 + (i % 40) as u32;
        Change::Upsert(i.to_string(), e)
    });
    c.apply(Delta::Events(entries.collect()));
    for s in Source::ALL {
        c.apply(Delta::Source(s, SourceState::Synced));
    }
    c
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(u32::MAX);
    println!(
        "{what:<46} mean {:>8.3} ms   p50 {:>8.3} ms   p99 {:>8.3} ms   ({} frames)",
        mean.as_secs_f64() * 1e3,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.len()
    );
}

/// Draws `frames` frames of `w`×`h`, pressing `key` before each; returns each frame's time.
fn frames(c: &mut Cockpit, w: u16, h: u16, frames: usize, key: Option<KeyCode>) -> Vec<Duration> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut times = Vec::with_capacity(frames);
    for _ in 0..frames {
        if let Some(k) = key {
            ui::handle_key(c, KeyEvent::new(k, KeyModifiers::NONE));
        }
        c.refresh();
        let start = Instant::now();
        terminal
            .draw(|f| {
                ui::draw(f, c);
            })
            .expect("draw");
        times.push(start.elapsed());
    }
    times
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            nodes: 5_000,
            pods_per_node: 30,
            unscheduled: 500,
            frames: 300,
        }
    } else {
        Size {
            nodes: 500,
            pods_per_node: 30,
            unscheduled: 50,
            frames: 5,
        }
    };
    let built = Instant::now();
    let mut c = cockpit(&size);
    println!(
        "model: {} nodes, {} pods, {} log entries (built in {:.1} s){}",
        c.model.nodes.len(),
        c.model.pods.len(),
        c.log.len(),
        built.elapsed().as_secs_f64(),
        if full {
            ""
        } else {
            " — quick run; `cargo bench --bench render` for the figures"
        }
    );

    let mut compute = Vec::new();
    for _ in 0..size.frames.clamp(3, 20) {
        let start = Instant::now();
        let s = upshift::model::Signals::compute(&c.model);
        compute.push(start.elapsed());
        std::hint::black_box(s);
    }
    report("Signals::compute", compute);
    c.refresh();
    // ten minutes of samples for the sparklines
    for _ in 0..600 {
        c.series.sample(&c.signals);
    }

    report(
        "frame 200x60, nodes focused",
        frames(&mut c, 200, 60, size.frames, None),
    );
    report(
        "frame 200x60, scrolling the node list",
        frames(&mut c, 200, 60, size.frames, Some(KeyCode::Char('j'))),
    );
    report(
        "frame 80x24, scrolling the node list",
        frames(&mut c, 80, 24, size.frames, Some(KeyCode::PageDown)),
    );
    ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('6'), KeyModifiers::NONE));
    report(
        "frame 200x60, event log focused",
        frames(&mut c, 200, 60, size.frames, Some(KeyCode::Char('k'))),
    );
    ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('1'), KeyModifiers::NONE));
    ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
    for ch in "apps-07".chars() {
        ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE));
    }
    ui::handle_key(&mut c, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    report(
        "frame 200x60, node list filtered",
        frames(&mut c, 200, 60, size.frames, None),
    );
    ui::handle_key(&mut c, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    report(
        "frame 200x60, a node's detail open (all pods)",
        frames(&mut c, 200, 60, size.frames.min(50), None),
    );
}
