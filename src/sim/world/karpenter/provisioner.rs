//! The provisioner: pods the scheduler could not place are packed, first onto
//! NodeClaims already launching, then into new NodeClaims of the first NodePool (by
//! weight) whose requirements, taints and limits admit them, on the cheapest offering
//! that holds them with the DaemonSets' overhead. Pods no NodePool admits stay Pending
//! with Karpenter's FailedScheduling event saying why.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Taint};

use super::catalog::{InstanceType, ON_DEMAND, SPOT};
use super::lifecycle::{self, Offering, auto_mode_pool, offering_labels};
use super::objects::NodePool;
use super::requirements;
use super::spec::{ClaimSpec, PoolSpec};
use super::{is_true, keys, nodeclass};
use crate::sim::world::kubelet::{is_terminating, requests};
use crate::sim::world::scheduler::tolerates;
use crate::sim::world::{Usage, World, controller_of};
use crate::units::quantity;

/// A NodePool as the provisioner sees it in one pass.
pub(crate) struct PoolView {
    pub pool: Arc<NodePool>,
    pub name: String,
    pub spec: PoolSpec,
    /// The offerings its requirements allow, cheapest first.
    pub offerings: Vec<Offering>,
    pub overhead: Usage,
    /// Capacity its NodeClaims hold (cpu millis, memory bytes, nodes).
    pub used: (u64, u64, u64),
}

fn add(a: Usage, b: Usage) -> Usage {
    Usage {
        cpu_millis: a.cpu_millis + b.cpu_millis,
        memory: a.memory + b.memory,
        pods: a.pods + b.pods,
    }
}

fn fits(t: &InstanceType, u: Usage) -> bool {
    u.cpu_millis <= t.cpu_millis && u.memory <= t.memory && u.pods <= t.pods
}

/// The resources DaemonSets will take on a node with these labels and taints.
pub(crate) fn daemon_overhead(w: &World, labels: &BTreeMap<String, String>, taints: &[Taint]) -> Usage {
    let mut u = Usage::default();
    for ds in w.daemonsets.items().values() {
        let Some(spec) = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
            continue;
        };
        if spec
            .node_selector
            .as_ref()
            .is_some_and(|sel| sel.iter().any(|(k, v)| labels.get(k) != Some(v)))
        {
            continue;
        }
        let tol = spec.tolerations.as_deref().unwrap_or_default();
        if taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .any(|t| !tolerates(tol, t))
        {
            continue;
        }
        let pod = Pod {
            spec: Some(spec.clone()),
            ..Default::default()
        };
        u = add(u, requests(&pod));
    }
    u
}

/// The offerings a pool's requirements allow: every known type in every zone, on
/// demand (and spot where the pool allows it), cheapest first.
pub(crate) fn offerings(w: &World, pool: &NodePool, spec: &PoolSpec) -> Vec<Offering> {
    let reqs = &spec.template.spec.requirements;
    let spot_allowed = reqs
        .iter()
        .any(|r| r.key == keys::CAPACITY_TYPE && r.allows(Some(SPOT)));
    let mut out = Vec::new();
    for t in InstanceType::all() {
        for zone in nodeclass::zones(w) {
            for ct in [ON_DEMAND, SPOT] {
                if ct == SPOT && !spot_allowed {
                    continue;
                }
                let o = Offering {
                    instance_type: t.clone(),
                    zone: zone.clone(),
                    capacity_type: ct.into(),
                };
                let labels = offering_labels(w, pool, spec, &o);
                if requirements::satisfied(reqs, &labels) {
                    out.push(o);
                }
            }
        }
    }
    let price = |o: &Offering| o.instance_type.price * if o.capacity_type == SPOT { 0.35 } else { 1.0 };
    out.sort_by(|a, b| price(a).total_cmp(&price(b)));
    out
}

pub(crate) fn pool_views(w: &World) -> Vec<PoolView> {
    let mut views = Vec::new();
    for p in w.karpenter.nodepools.items().values() {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(spec) = PoolSpec::parse(&p.spec) else { continue };
        if spec.replicas.is_some() {
            continue;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        let mut labels = spec.template.metadata.labels.clone();
        labels.insert(keys::NODEPOOL.into(), name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        let overhead = daemon_overhead(w, &labels, &spec.template.spec.taints);
        let mut used = (0, 0, 0);
        for c in super::nodepool::claims_of(w, &name) {
            if let Some(o) = lifecycle::claim_offering(&c) {
                used.0 += o.instance_type.cpu_millis;
                used.1 += o.instance_type.memory;
                used.2 += 1;
            }
        }
        views.push(PoolView {
            offerings: offerings(w, p, &spec),
            pool: p.clone(),
            name,
            spec,
            overhead,
            used,
        });
    }
    views.sort_by(|a, b| {
        b.spec
            .weight
            .unwrap_or(0)
            .cmp(&a.spec.weight.unwrap_or(0))
            .then(a.name.cmp(&b.name))
    });
    views
}

/// Why `pod` cannot run on nodes of `pool` at all (taints, labels), if it cannot.
pub(crate) fn incompatible(pod: &Pod, v: &PoolView) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let tol = spec.tolerations.as_deref().unwrap_or_default();
    for t in &v.spec.template.spec.taints {
        if (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(tol, t) {
            return Some(format!(
                "incompatible with nodepool \"{}\", did not tolerate {}={}:{}",
                v.name,
                t.key,
                t.value.as_deref().unwrap_or(""),
                t.effect
            ));
        }
    }
    let labels = &v.spec.template.metadata.labels;
    for (k, val) in spec.node_selector.iter().flatten() {
        let ok = if k == keys::NODEPOOL {
            *val == v.name
        } else if let Some(l) = labels.get(k) {
            l == val
        } else if let Some(r) = v.spec.template.spec.requirements.iter().find(|r| r.key == *k) {
            r.allows(Some(val))
                && v.offerings
                    .iter()
                    .any(|o| offering_value(v, o, k).is_none_or(|x| x == *val))
        } else {
            v.offerings
                .iter()
                .any(|o| offering_value(v, o, k).is_some_and(|x| x == *val))
        };
        if !ok {
            let known = labels.contains_key(k)
                || k == keys::NODEPOOL
                || v.spec.template.spec.requirements.iter().any(|r| r.key == *k)
                || v.offerings.first().is_some_and(|o| offering_value(v, o, k).is_some());
            return Some(if known {
                format!(
                    "incompatible with nodepool \"{}\", incompatible requirements, key {k}, {k} In [{val}] not in {k} {}",
                    v.name,
                    describe_key(v, k)
                )
            } else {
                format!(
                    "incompatible with nodepool \"{}\", incompatible requirements, label \"{k}\" does not have known values",
                    v.name
                )
            });
        }
    }
    None
}

fn describe_key(v: &PoolView, k: &str) -> String {
    if let Some(l) = v.spec.template.metadata.labels.get(k) {
        return format!("In [{l}]");
    }
    if k == keys::NODEPOOL {
        return format!("In [{}]", v.name);
    }
    let mut values: Vec<String> = v.offerings.iter().filter_map(|o| offering_value(v, o, k)).collect();
    values.sort();
    values.dedup();
    format!("In [{}]", values.join(" "))
}

fn offering_value(v: &PoolView, o: &Offering, key: &str) -> Option<String> {
    let prefix = lifecycle::label_prefix(auto_mode_pool(&v.pool.spec));
    let mut labels = o.instance_type.labels(prefix);
    labels.insert(keys::ZONE.into(), o.zone.clone());
    labels.insert(keys::CAPACITY_TYPE.into(), o.capacity_type.clone());
    labels.remove(key)
}

/// Whether `pod`'s node selector accepts `o` (the keys the offering decides).
fn selects(pod: &Pod, v: &PoolView, o: &Offering) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| {
            sel.iter()
                .all(|(k, val)| offering_value(v, o, k).is_none_or(|x| x == *val))
        })
}

/// Room left under a pool's limits, as a filter on offerings; None when the pool has
/// no room for another node at all.
fn within_limits(v: &PoolView, extra: (u64, u64, u64), o: &Offering) -> bool {
    let (cpu, mem, nodes) = (v.used.0 + extra.0, v.used.1 + extra.1, v.used.2 + extra.2);
    v.spec
        .limit("cpu")
        .is_none_or(|l| cpu + o.instance_type.cpu_millis <= l)
        && v.spec.limit("memory").is_none_or(|l| mem + o.instance_type.memory <= l)
        && v.spec.limit("nodes").is_none_or(|l| nodes < l)
}

/// A NodeClaim being packed in this pass.
struct Bin {
    pool: usize,
    candidates: Vec<Offering>,
    total: Usage,
    pods: Vec<String>,
}

/// An in-flight NodeClaim and the room left on it.
pub(crate) struct InFlight {
    name: String,
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
    room: Usage,
}

pub(crate) fn in_flight(w: &World) -> Vec<InFlight> {
    let mut out = Vec::new();
    for c in w.karpenter.nodeclaims.items().values() {
        if c.metadata.deletion_timestamp.is_some() || is_true(c.status.as_ref(), "Initialized") {
            continue;
        }
        let Some(o) = lifecycle::claim_offering(c) else {
            continue;
        };
        let labels = c.metadata.labels.clone().unwrap_or_default();
        let taints = ClaimSpec::parse(&c.spec).map(|s| s.template.taints).unwrap_or_default();
        let overhead = daemon_overhead(w, &labels, &taints);
        out.push(InFlight {
            name: c.metadata.name.clone().unwrap_or_default(),
            room: Usage {
                cpu_millis: o.instance_type.cpu_millis.saturating_sub(overhead.cpu_millis),
                memory: o.instance_type.memory.saturating_sub(overhead.memory),
                pods: o.instance_type.pods.saturating_sub(overhead.pods),
            },
            labels,
            taints,
        });
    }
    out
}

/// Pods the scheduler marked unschedulable that Karpenter should find capacity for.
pub(crate) fn provisionable(w: &World) -> Vec<Arc<Pod>> {
    let mut pods: Vec<Arc<Pod>> = w
        .idx
        .unscheduled
        .iter()
        .filter_map(|k| w.pods.get(k).cloned())
        .filter(|p| !is_terminating(p))
        .filter(|p| controller_of(&p.metadata).is_none_or(|o| o.kind != "DaemonSet"))
        .filter(|p| {
            p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
                })
            })
        })
        .collect();
    pods.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .then(a.metadata.name.cmp(&b.metadata.name))
    });
    pods
}

fn fits_in_flight(pod: &Pod, f: &InFlight, req: Usage) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    let tol = spec.tolerations.as_deref().unwrap_or_default();
    spec.node_selector
        .iter()
        .flatten()
        .all(|(k, v)| f.labels.get(k) == Some(v))
        && f.taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .all(|t| tolerates(tol, t))
        && req.cpu_millis <= f.room.cpu_millis
        && req.memory <= f.room.memory
        && req.pods <= f.room.pods
}

fn resources_json(u: Usage) -> String {
    format!(
        "{{\"cpu\":\"{}\",\"memory\":\"{}\",\"pods\":\"{}\"}}",
        quantity::format_cpu(u.cpu_millis),
        quantity::format_bytes(u.memory),
        u.pods
    )
}

/// Where pods go: onto in-flight NodeClaims, into new NodeClaims (bins), or nowhere.
pub(crate) struct Packing {
    pub nominations: Vec<(Arc<Pod>, String)>,
    bins: Vec<Bin>,
    pub failures: Vec<(Arc<Pod>, String)>,
}

/// Packs `pods` onto in-flight NodeClaims first, then into new NodeClaims of the first
/// pool (by weight, then name) that admits each.
pub(crate) fn pack(w: &World, views: &[PoolView], pods: &[Arc<Pod>], flights: &mut [InFlight]) -> Packing {
    let mut bins: Vec<Bin> = Vec::new();
    let mut nominations: Vec<(Arc<Pod>, String)> = Vec::new();
    let mut failures: Vec<(Arc<Pod>, String)> = Vec::new();
    for pod in pods {
        let req = requests(pod);
        if let Some(f) = flights.iter_mut().find(|f| fits_in_flight(pod, f, req)) {
            f.room.cpu_millis -= req.cpu_millis;
            f.room.memory -= req.memory;
            f.room.pods -= req.pods;
            nominations.push((pod.clone(), f.name.clone()));
            continue;
        }
        let key = crate::sim::world::key(&**pod);
        // onto a NodeClaim packed in this pass
        let mut placed = false;
        for b in bins.iter_mut() {
            let v = &views[b.pool];
            if incompatible(pod, v).is_some() {
                continue;
            }
            let total = add(b.total, req);
            let next: Vec<Offering> = b
                .candidates
                .iter()
                .filter(|o| selects(pod, v, o) && fits(&o.instance_type, add(total, v.overhead)))
                .cloned()
                .collect();
            if !next.is_empty() {
                b.candidates = next;
                b.total = total;
                b.pods.push(key.clone());
                placed = true;
                break;
            }
        }
        if placed {
            continue;
        }
        // a new NodeClaim of the first pool that admits it
        let mut errors = Vec::new();
        for (i, v) in views.iter().enumerate() {
            if let Some(e) = incompatible(pod, v) {
                errors.push(e);
                continue;
            }
            let class = &v.spec.template.spec.node_class_ref;
            if let Some(m) = nodeclass::not_ready(w, &class.kind, &class.name) {
                errors.push(format!(
                    "incompatible with nodepool \"{}\", node class not ready: {m}",
                    v.name
                ));
                continue;
            }
            let pending_in_pool = bins.iter().filter(|b| b.pool == i).fold((0, 0, 0), |acc, b| {
                let big = b.candidates.last().map(|o| &o.instance_type);
                (
                    acc.0 + big.map(|t| t.cpu_millis).unwrap_or(0),
                    acc.1 + big.map(|t| t.memory).unwrap_or(0),
                    acc.2 + 1,
                )
            });
            if v.spec.limit("nodes").is_some_and(|l| v.used.2 + pending_in_pool.2 >= l) {
                errors.push(format!(
                    "node limits have been exhausted for nodepool (NodePool={})",
                    v.name
                ));
                continue;
            }
            let ice = &w.karpenter.ice;
            let sized: Vec<Offering> = v
                .offerings
                .iter()
                .filter(|o| !ice.iter().any(|(k, _)| *k == o.key()))
                .filter(|o| selects(pod, v, o))
                .filter(|o| fits(&o.instance_type, add(req, v.overhead)))
                .cloned()
                .collect();
            if sized.is_empty() {
                errors.push(format!(
                    "incompatible with nodepool \"{}\", daemonset overhead={}, no instance type satisfied resources {} and requirements {}",
                    v.name,
                    resources_json(v.overhead),
                    resources_json(req),
                    requirements::describe(&v.spec.template.spec.requirements)
                ));
                continue;
            }
            let limited: Vec<Offering> = sized
                .into_iter()
                .filter(|o| within_limits(v, pending_in_pool, o))
                .collect();
            if limited.is_empty() {
                errors.push(format!(
                    "all available instance types exceed limits for nodepool (NodePool={})",
                    v.name
                ));
                continue;
            }
            bins.push(Bin {
                pool: i,
                candidates: limited,
                total: req,
                pods: vec![key.clone()],
            });
            placed = true;
            break;
        }
        if !placed {
            if errors.is_empty() {
                errors.push("no nodepool admits it".into());
            }
            failures.push((pod.clone(), errors.join("; ")));
        }
    }
    Packing {
        nominations,
        bins,
        failures,
    }
}

/// Creates the NodeClaims a packing needs, each on the cheapest offering that holds
/// its pods (zones taken in turn); returns each new NodeClaim's name and pods.
pub(crate) fn create(w: &mut World, views: &[PoolView], packing: Packing) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for b in packing.bins {
        let v = &views[b.pool];
        let need = add(b.total, v.overhead);
        let price = |o: &Offering| o.instance_type.price * if o.capacity_type == SPOT { 0.35 } else { 1.0 };
        let cheapest = b
            .candidates
            .iter()
            .filter(|o| fits(&o.instance_type, need))
            .map(price)
            .fold(f64::INFINITY, f64::min);
        let best: Vec<&Offering> = b
            .candidates
            .iter()
            .filter(|o| fits(&o.instance_type, need) && price(o) <= cheapest)
            .collect();
        let cursor = w.karpenter.zone_cursor.entry(v.name.clone()).or_default();
        let Some(offering) = best.get(*cursor % best.len().max(1)).map(|o| (*o).clone()) else {
            continue;
        };
        *cursor += 1;
        let requests = Usage {
            cpu_millis: b.total.cpu_millis,
            memory: b.total.memory,
            pods: b.pods.len() as u32,
        };
        if let Some(claim) = lifecycle::create_claim(w, &v.pool, &offering, requests) {
            out.push((claim.metadata.name.clone().unwrap_or_default(), b.pods));
        }
    }
    out
}

pub fn reconcile(w: &mut World) {
    if w.karpenter.nodepools.is_empty() {
        return;
    }
    let pending = provisionable(w);
    if pending.is_empty() {
        w.karpenter.nominated.clear();
        return;
    }
    let views = pool_views(w);
    let mut flights = in_flight(w);
    let mut packing = pack(w, &views, &pending, &mut flights);
    let failures = std::mem::take(&mut packing.failures);
    let mut nominations = std::mem::take(&mut packing.nominations);
    for (pod, message) in failures {
        w.karpenter_event(
            &*pod,
            "Warning",
            "FailedScheduling",
            &format!("Failed to schedule pod, {message}"),
            300,
        );
    }
    for (claim, pods) in create(w, &views, packing) {
        for k in pods {
            if let Some(p) = w.pods.get(&k).cloned() {
                nominations.push((p, claim.clone()));
            }
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (pod, claim) in nominations {
        let key = crate::sim::world::key(&*pod);
        if w.karpenter.nominated.get(&key) != Some(&claim) {
            w.karpenter_event(
                &*pod,
                "Normal",
                "Nominated",
                &format!("Pod should schedule on: nodeclaim/{claim}"),
                0,
            );
        }
        seen.insert(key, claim);
    }
    w.karpenter.nominated = seen;
}
