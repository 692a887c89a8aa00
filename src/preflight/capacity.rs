//! Capacity: for each node group, can the rest of the cluster take the pods of the
//! largest batch that will be drained at once? Pod requests are placed, largest
//! first, on the free allocatable of the other Ready, schedulable nodes they may run
//! on (taints and node selectors), as the scheduler would. Pods whose volumes are
//! pinned to a zone can only go to that zone: `zones.rs` judges them per zone.

use std::collections::{BTreeMap, HashMap};

use super::gather::{NodeFacts, PodFacts, Snapshot};
use super::{Check, CheckRun, Finding, Severity};

mod zones;

/// The room left on each Ready, schedulable node that `keep` keeps, after what is
/// `used` on it.
fn room<'a>(
    nodes: &'a [NodeFacts],
    used: &HashMap<&str, Use>,
    keep: impl Fn(&NodeFacts) -> bool,
) -> Vec<(&'a NodeFacts, Use)> {
    nodes
        .iter()
        .filter(|n| n.ready && !n.unschedulable && keep(n))
        .map(|n| {
            let u = used.get(n.name.as_str()).copied().unwrap_or_default();
            let left = Use {
                cpu: n.cpu_millis.saturating_sub(u.cpu),
                mem: n.memory.saturating_sub(u.mem),
                pods: n.max_pods.saturating_sub(u.pods),
            };
            (n, left)
        })
        .collect()
}

/// Places `p` on the first node with room for it that it may run on, taking the
/// room; false when none has.
fn take_room(free: &mut [(&NodeFacts, Use)], p: &PodFacts) -> bool {
    let slot = free
        .iter_mut()
        .find(|(n, f)| f.cpu >= p.cpu_millis && f.mem >= p.memory && f.pods >= 1 && p.fits_on(n));
    match slot {
        Some((_, f)) => {
            f.cpu -= p.cpu_millis;
            f.mem -= p.memory;
            f.pods -= 1;
            true
        }
        None => false,
    }
}

#[derive(Clone, Copy, Default)]
struct Use {
    cpu: u64,
    mem: u64,
    pods: u32,
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
}

pub fn check(s: &Snapshot, batch: usize) -> (Vec<Finding>, CheckRun) {
    let batch = batch.max(1);
    let mut used: HashMap<&str, Use> = HashMap::with_capacity(s.nodes.len());
    let mut on_node: HashMap<&str, Vec<&PodFacts>> = HashMap::with_capacity(s.nodes.len());
    for p in s.pods.iter().filter(|p| !p.finished()) {
        let Some(n) = p.node.as_deref() else { continue };
        let u = used.entry(n).or_default();
        u.cpu += p.cpu_millis;
        u.mem += p.memory;
        u.pods += 1;
        // pods held to their volume's zone are judged per zone below
        if !p.is_daemon() && !p.is_mirror() && zones::zone_of(s, p).is_none() {
            on_node.entry(n).or_default().push(p);
        }
    }
    let mut groups: BTreeMap<&str, Vec<&NodeFacts>> = BTreeMap::new();
    for n in &s.nodes {
        groups.entry(&n.group).or_default().push(n);
    }
    let mut findings = Vec::new();
    let mut examined = Vec::new();
    for (group, nodes) in &groups {
        // the batch: the nodes whose movable pods ask for the most
        let mut ranked: Vec<&NodeFacts> = nodes.clone();
        let demand = |n: &NodeFacts| {
            on_node
                .get(n.name.as_str())
                .map_or(0, |ps| ps.iter().map(|p| p.cpu_millis).sum::<u64>())
        };
        ranked.sort_by_key(|n| std::cmp::Reverse(demand(n)));
        let drained: Vec<&str> = ranked.iter().take(batch).map(|n| n.name.as_str()).collect();
        let mut moving: Vec<&PodFacts> = drained
            .iter()
            .flat_map(|n| on_node.get(n).cloned().unwrap_or_default())
            .collect();
        moving.sort_by_key(|p| std::cmp::Reverse((p.cpu_millis, p.memory)));
        let mut free = room(&s.nodes, &used, |n| !drained.contains(&n.name.as_str()));
        let mut stuck: Vec<&PodFacts> = Vec::new();
        for p in &moving {
            if !take_room(&mut free, p) {
                stuck.push(p);
            }
        }
        let need_cpu: u64 = moving.iter().map(|p| p.cpu_millis).sum();
        let need_mem: u64 = moving.iter().map(|p| p.memory).sum();
        examined.push(format!("{group}: {} pods from {} node(s)", moving.len(), drained.len()));
        if stuck.is_empty() {
            continue;
        }
        let managed = nodes
            .iter()
            .any(|n| n.labels.contains_key("eks.amazonaws.com/nodegroup"));
        let mut zones: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (n, f) in &free {
            let z = zones.entry(n.zone.as_str()).or_default();
            z.0 += f.cpu;
            z.1 += f.mem;
        }
        let mut evidence = vec![format!(
            "the batch ({}) moves {} pods asking {} CPU and {}",
            drained.join(", "),
            moving.len(),
            format_args!("{:.1}", need_cpu as f64 / 1000.0),
            gib(need_mem)
        )];
        evidence.extend(zones.iter().map(|(z, (c, m))| {
            format!(
                "free elsewhere in {}: {:.1} CPU, {}",
                if z.is_empty() { "?" } else { z },
                *c as f64 / 1000.0,
                gib(*m)
            )
        }));
        findings.push(Finding {
            check: Check::Capacity,
            severity: Severity::Warning,
            confidence: None,
            title: format!(
                "Draining {} node(s) of group {group} leaves {} of {} pods with nowhere to run",
                drained.len(),
                stuck.len(),
                moving.len()
            ),
            resources: stuck.iter().take(10).map(|p| format!("Pod {}", p.key())).collect(),
            why: if managed {
                "The rest of the cluster lacks room (or allowed nodes) for them; an EKS managed update surges new nodes first, which must join before the drain or these pods stay Pending.".into()
            } else {
                "The rest of the cluster lacks room (or allowed nodes) for them: they would stay Pending until replacement nodes join.".into()
            },
            action: format!(
                "Add capacity to the nodes they may run on before the window (scale group {group} up by at least {} node(s)), or drain with replacements first.",
                drained.len()
            ),
            evidence,
        });
    }
    let (zonal, zones_examined) = zones::check(s, batch, &used);
    findings.extend(zonal);
    let mut examined_text = format!("a batch of {batch} node(s) per group — {}", examined.join("; "));
    if !zones_examined.is_empty() {
        examined_text.push_str(&format!(
            "; per zone, pods on zonal volumes — {}",
            zones_examined.join("; ")
        ));
    }
    let volumes_unread = s
        .unreadable
        .iter()
        .any(|(w, _)| w == "persistentvolumes" || w == "persistentvolumeclaims");
    let run = CheckRun {
        check: Check::Capacity,
        examined: examined_text,
        complete: !volumes_unread && !s.unreadable.iter().any(|(w, _)| w == "pods" || w == "nodes"),
    };
    (findings, run)
}
