//! Benchmark: the simulated world's own costs at scale. It prints, for the `large`
//! scenario (5,000 nodes, about 150,000 pods):
//!
//! - the time to build the world and the memory it takes (resident set growth and
//!   the process's peak);
//! - the cost of one pod change: a pod's readiness flipped and the controllers'
//!   pass after it, averaged over many pods in namespaces without budgets (a
//!   budget recomputes its whole namespace, which would hide the rest);
//! - the same world with a Service in front of every Deployment (1,400 Services of
//!   100 pods in `large`): the time and memory to add them (their EndpointSlices and
//!   Endpoints built), and the cost of one pod change again, now that each rewrites
//!   the endpoints of the Service selecting the pod.
//!
//! `cargo bench --bench sim_world` runs it on `large`. Without `--bench` (as
//! `cargo test --all-targets` runs it) it runs on `demo`, to prove it still works.
//! `-- --no-services` stops before the Services (to compare the rest with a build
//! of the simulator from before them, e.g. by instructions with `perf stat`).
//! Not a test: figures depend on the machine; nothing here asserts a threshold.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use upshift::sim::clock::Clock;
use upshift::sim::scenario::Scenario;
use upshift::sim::world::{self, World};

/// A size line of /proc/self/status (`VmRSS:`, `VmHWM:`) in megabytes.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The pod with its Ready condition (and its containers' readiness) set to `ready`.
fn with_readiness(pod: &Pod, ready: bool) -> Pod {
    let mut p = pod.clone();
    let status = if ready { "True" } else { "False" };
    if let Some(s) = p.status.as_mut() {
        for c in s.conditions.iter_mut().flatten() {
            if c.type_ == "Ready" || c.type_ == "ContainersReady" {
                c.status = status.into();
            }
        }
        for c in s.container_statuses.iter_mut().flatten() {
            c.ready = ready;
        }
    }
    p
}

/// Running pods of controllers, in namespaces no PodDisruptionBudget covers.
fn sample(w: &World, n: usize) -> Vec<String> {
    let budgeted: std::collections::BTreeSet<String> = w
        .pdbs
        .items()
        .values()
        .filter_map(|p| p.metadata.namespace.clone())
        .collect();
    w.pods
        .items()
        .iter()
        .filter(|(_, p)| {
            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
            !budgeted.contains(ns)
                && ns != "kube-system"
                && p.metadata.owner_references.is_some()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .step_by(7)
        .take(n)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Flips each pod unready then ready again, each change followed by the
/// controllers' pass — and, with `alone`, by the write of its Service's Endpoints
/// that the Endpoints controller would make a virtual second later had nothing else
/// changed; returns microseconds per change.
fn flip(w: &mut World, keys: &[String], alone: bool) -> f64 {
    let start = Instant::now();
    let mut changes = 0u64;
    for ready in [false, true] {
        for k in keys {
            let Some(pod) = w.pods.get(k).cloned() else { continue };
            w.put(with_readiness(&pod, ready));
            w.reconcile();
            if alone {
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let app = pod.metadata.labels.as_ref().and_then(|l| l.get("app")).cloned();
                world::endpoints::endpoints_due(w, &format!("{ns}/{}", app.unwrap_or_default()));
            }
            changes += 1;
        }
    }
    // what is due later (the Endpoints controller's writes) counts too
    w.clock.advance(Duration::from_secs(2));
    w.tick();
    start.elapsed().as_secs_f64() * 1e6 / changes.max(1) as f64
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let name = if full { "large" } else { "demo" };
    let scenario = Scenario::load(name).expect("a built-in scenario");
    let rss_before = memory_mb("VmRSS:");
    let t = Instant::now();
    let mut w = world::build(&scenario, Clock::new(1.0)).expect("the world builds");
    let build_secs = t.elapsed().as_secs_f64();
    let rss_after = memory_mb("VmRSS:");
    println!(
        "{name}: {} nodes, {} pods; built in {build_secs:.2} s; resident +{:.0} MB (peak {:.0} MB)",
        w.nodes.len(),
        w.pods.len(),
        rss_after - rss_before,
        memory_mb("VmHWM:"),
    );
    let keys = sample(&w, if full { 20_000 } else { 40 });
    let per_change = flip(&mut w, &keys, false);
    println!(
        "pod readiness change, controllers included: {per_change:.1} µs each ({} pods, twice); resident {:.0} MB after",
        keys.len(),
        memory_mb("VmRSS:")
    );

    if std::env::args().any(|a| a == "--no-services") {
        // the world is dropped here, as the simulator's builds from before Services did
        return;
    }
    // a Service in front of every Deployment
    let deployments: Vec<(String, String)> = w
        .deployments
        .items()
        .values()
        .map(|d| {
            (
                d.metadata.namespace.clone().unwrap_or_default(),
                d.metadata.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let rss_before = memory_mb("VmRSS:");
    let t = Instant::now();
    for (ns, name) in &deployments {
        let mut svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .expect("a Service");
        w.stamp_new(&mut svc.metadata);
        if world::service::admit(&mut w, &mut svc, None).is_ok() {
            w.put(svc);
        }
    }
    w.reconcile();
    let add_secs = t.elapsed().as_secs_f64();
    println!(
        "{} Services added with {} EndpointSlices ({} endpoints) in {add_secs:.2} s; resident +{:.0} MB",
        w.services.len(),
        w.endpointslices.len(),
        w.endpointslices
            .items()
            .values()
            .map(|s| s.endpoints.len())
            .sum::<usize>(),
        memory_mb("VmRSS:") - rss_before,
    );
    let per_change = flip(&mut w, &keys, false);
    println!(
        "pod readiness change with Services, a burst (Endpoints written once a second): {per_change:.1} µs each ({} pods, twice)",
        keys.len()
    );
    let per_change = flip(&mut w, &keys, true);
    println!(
        "pod readiness change with Services, alone (its slice and its Service's Endpoints rewritten): {per_change:.1} µs each ({} pods, twice)",
        keys.len()
    );
    println!(
        "resident {:.0} MB after the changes (every table keeps its last changes for watches: 50,000, or 5,000 of EndpointSlices and Endpoints)",
        memory_mb("VmRSS:")
    );
    // the process ends here: dropping the world is not part of any figure
    std::mem::forget(w);
}
