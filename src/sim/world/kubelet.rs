//! The simulated kubelets: bound pods go ContainerCreating → Running after a virtual
//! delay, faulty containers crash-loop, fail to pull or get OOM-killed, and deleted
//! pods go away after their termination time. Also the pod indexes' upkeep.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodIP, PodStatus,
};

use super::annotations as ann;
use super::{Timer, Usage, World, controller_of, key, minor_of};
use crate::units::quantity;

/// Per-pod bookkeeping of the simulated kubelet, by pod key.
#[derive(Default)]
pub struct Kubelet {
    pods: HashMap<String, Runtime>,
}

struct Runtime {
    uid: String,
    start_scheduled: bool,
    gone_scheduled: bool,
}

/// The requests of a pod: sum over its containers.
pub fn requests(pod: &Pod) -> Usage {
    let mut u = Usage {
        pods: 1,
        ..Default::default()
    };
    if let Some(spec) = &pod.spec {
        for c in &spec.containers {
            if let Some(req) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) {
                if let Some(cpu) = req.get("cpu").and_then(|q| quantity::cpu_millis(&q.0)) {
                    u.cpu_millis += cpu;
                }
                if let Some(mem) = req.get("memory").and_then(|q| quantity::bytes(&q.0)) {
                    u.memory += mem;
                }
            }
        }
    }
    u
}

pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Ready condition true and not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    !is_terminating(pod)
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn counts_on_node(pod: &Pod) -> Option<&str> {
    if is_terminal(pod) { None } else { node_name(pod) }
}

/// Keeps the pod indexes right and tells the controllers what to look at.
pub fn pod_changed(w: &mut World, old: Option<&Arc<Pod>>, new: Option<&Arc<Pod>>) {
    let k = key(&**old.or(new).expect("a change has a side"));
    if let Some(o) = old {
        if let Some(node) = counts_on_node(o) {
            let r = requests(o);
            if let Some(u) = w.idx.node_usage.get_mut(node) {
                u.cpu_millis = u.cpu_millis.saturating_sub(r.cpu_millis);
                u.memory = u.memory.saturating_sub(r.memory);
                u.pods = u.pods.saturating_sub(1);
            }
            w.dirty.scheduler |= new.is_none_or(|n| counts_on_node(n).is_none());
        }
        if let Some(node) = node_name(o)
            && let Some(set) = w.idx.pods_by_node.get_mut(node)
        {
            set.remove(&k);
        }
        if let Some(owner) = controller_of(&o.metadata)
            && let Some(set) = w.idx.pods_by_owner.get_mut(&owner.uid)
        {
            set.remove(&k);
        }
        w.idx.unscheduled.remove(&k);
    }
    if let Some(n) = new {
        if let Some(node) = counts_on_node(n) {
            let r = requests(n);
            let u = w.idx.node_usage.entry(node.to_string()).or_default();
            u.cpu_millis += r.cpu_millis;
            u.memory += r.memory;
            u.pods += 1;
        }
        if let Some(node) = node_name(n) {
            w.idx
                .pods_by_node
                .entry(node.to_string())
                .or_default()
                .insert(k.clone());
        } else if !is_terminating(n) {
            w.idx.unscheduled.insert(k.clone());
            w.dirty.scheduler = true;
        }
        if let Some(owner) = controller_of(&n.metadata) {
            w.idx
                .pods_by_owner
                .entry(owner.uid.clone())
                .or_default()
                .insert(k.clone());
        }
        w.dirty.pods.insert(k.clone());
    }
    for side in [old, new].into_iter().flatten() {
        if let Some(owner) = controller_of(&side.metadata)
            && let Some((kind, okey)) = w.idx.owners.get(&owner.uid)
        {
            match *kind {
                "ReplicaSet" => w.dirty.replicasets.insert(okey.clone()),
                "DaemonSet" => w.dirty.daemonsets.insert(okey.clone()),
                "StatefulSet" => w.dirty.statefulsets.insert(okey.clone()),
                _ => false,
            };
        }
        if let Some(ns) = &side.metadata.namespace {
            w.dirty.pdb_namespaces.insert(ns.clone());
        }
    }
    if new.is_none() {
        w.kubelet.pods.remove(&k);
    }
    super::service::pod_changed(w, old, new);
    // a claim being deleted waits for the pods that mount it
    if new.is_none_or(|n| is_terminal(n))
        && let Some(o) = old
    {
        let ns = o.metadata.namespace.clone().unwrap_or_default();
        let claims: Vec<String> = super::volumes::claims_of(o)
            .map(|c| crate::sim::store::key_of(Some(&ns), c))
            .filter(|c| w.pvcs.get(c).is_some_and(|p| p.metadata.deletion_timestamp.is_some()))
            .collect();
        w.dirty.claims.extend(claims);
    }
}

fn annotation<'a>(pod: &'a Pod, name: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(name).map(String::as_str)
}

fn seconds(pod: &Pod, name: &str, default: f64) -> f64 {
    annotation(pod, name)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(default)
}

/// The fault this pod suffers on its node, if any.
fn fault(w: &World, pod: &Pod) -> Option<String> {
    let kind = annotation(pod, ann::FAULT)?;
    if let Some(version) = annotation(pod, ann::FAULT_ON_KUBELET) {
        let node = node_name(pod).and_then(|n| w.nodes.get(n))?;
        let kubelet = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| minor_of(&i.kubelet_version))?;
        if kubelet != version {
            return None;
        }
    }
    let fraction = seconds(pod, ann::FAULT_FRACTION, 1.0);
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let share = f64::from(super::fnv(uid.as_bytes()) % 10_000) / 10_000.0;
    (share < fraction).then(|| kind.to_string())
}

/// Looks at every pod that changed: starts newly bound ones, finishes deleted ones.
pub fn sync(w: &mut World) {
    let dirty = std::mem::take(&mut w.dirty.pods);
    for k in dirty {
        let Some(pod) = w.pods.get(&k).cloned() else {
            continue;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let rt = w.kubelet.pods.entry(k.clone()).or_insert_with(|| Runtime {
            uid: uid.clone(),
            start_scheduled: false,
            gone_scheduled: false,
        });
        if rt.uid != uid {
            *rt = Runtime {
                uid: uid.clone(),
                start_scheduled: false,
                gone_scheduled: false,
            };
        }
        if is_terminating(&pod) {
            if rt.gone_scheduled {
                continue;
            }
            rt.gone_scheduled = true;
            let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as f64;
            let node_up = node_name(&pod).is_some_and(|n| w.nodes.get(n).is_some());
            if grace == 0.0 || !node_up || is_terminal(&pod) {
                w.remove::<Pod>(&k);
            } else {
                let stop = seconds(&pod, ann::TERMINATION_SECONDS, 2.0).min(grace);
                w.schedule(stop, Timer::PodGone { key: k, uid });
            }
            continue;
        }
        if node_name(&pod).is_some() && phase(&pod) == "Pending" && !rt.start_scheduled {
            rt.start_scheduled = true;
            let delay = seconds(&pod, ann::START_SECONDS, 3.0);
            let mut p = (*pod).clone();
            set_waiting(&mut p, "ContainerCreating", None);
            w.put(p);
            w.schedule(delay, Timer::PodStart { key: k, uid });
        }
    }
}

fn live(w: &World, key: &str, uid: &str) -> Option<Arc<Pod>> {
    let pod = w.pods.get(key)?;
    (pod.metadata.uid.as_deref() == Some(uid) && !is_terminating(pod)).then(|| pod.clone())
}

fn condition(type_: &str, ok: bool, now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        last_transition_time: Some(now.clone()),
        reason: (!ok && matches!(type_, "Ready" | "ContainersReady")).then(|| "ContainersNotReady".to_string()),
        ..Default::default()
    }
}

fn set_conditions(w: &World, status: &mut PodStatus, ready: bool) {
    let now = w.time();
    let mut conds = vec![
        condition("PodReadyToStartContainers", true, &now),
        condition("Initialized", true, &now),
        condition("Ready", ready, &now),
        condition("ContainersReady", ready, &now),
        condition("PodScheduled", true, &now),
    ];
    // keep transition times of conditions that did not change
    if let Some(old) = &status.conditions {
        for c in &mut conds {
            if let Some(o) = old.iter().find(|o| o.type_ == c.type_ && o.status == c.status) {
                c.last_transition_time = o.last_transition_time.clone();
            }
        }
    }
    status.conditions = Some(conds);
}

/// The runtime's id of a container's run: a new one at each restart.
fn container_id(pod: &Pod, container: &str, restarts: i32) -> String {
    // FNV-1a over the pod's uid, the container's name and the run, then mixed
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    for b in uid.bytes().chain([b'/']).chain(container.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= restarts as u64;
    let mut words = [0u64; 4];
    for w in &mut words {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *w = z ^ (z >> 31);
    }
    // 64 hex digits like containerd's ids, written without the formatting machinery
    // (every pod of a scenario gets one at build)
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(13 + 64);
    id.push_str("containerd://");
    for w in words {
        for shift in (0..16).rev() {
            id.push(HEX[((w >> (shift * 4)) & 0xf) as usize] as char);
        }
    }
    id
}

/// Builds container statuses for every container of `pod` in state `state`.
fn statuses(pod: &Pod, state: ContainerState, ready: bool) -> Vec<ContainerStatus> {
    let old = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    let spec = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    spec.iter()
        .map(|c| {
            let prev = old.and_then(|o| o.iter().find(|s| s.name == c.name));
            let running = state.running.is_some();
            ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: if running {
                    format!(
                        "{}@sha256:{:08x}",
                        c.image.as_deref().unwrap_or_default(),
                        super::fnv(c.name.as_bytes())
                    )
                } else {
                    String::new()
                },
                container_id: running.then(|| container_id(pod, &c.name, prev.map(|p| p.restart_count).unwrap_or(0))),
                ready,
                started: Some(running),
                restart_count: prev.map(|p| p.restart_count).unwrap_or(0),
                last_state: prev.and_then(|p| p.last_state.clone()),
                state: Some(state.clone()),
                ..Default::default()
            }
        })
        .collect()
}

fn set_waiting(pod: &mut Pod, reason: &str, message: Option<String>) {
    let state = ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message,
        }),
        ..Default::default()
    };
    let cs = statuses(pod, state, false);
    let status = pod.status.get_or_insert_with(Default::default);
    status.phase.get_or_insert_with(|| "Pending".into());
    status.container_statuses = Some(cs);
}

/// The pod's containers start, or fail to pull their image.
pub fn start(w: &mut World, key: &str, uid: &str) {
    let Some(pod) = live(w, key, uid) else { return };
    let fault = fault(w, &pod);
    let mut p = (*pod).clone();
    let image = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let node = node_name(&p).unwrap_or_default().to_string();
    let host_ip = w.nodes.get(&node).and_then(|n| {
        n.status
            .as_ref()?
            .addresses
            .as_ref()?
            .first()
            .map(|a| a.address.clone())
    });
    {
        let status = p.status.get_or_insert_with(Default::default);
        status.host_ip.clone_from(&host_ip);
        if status.pod_ip.is_none() {
            let ip = w.pod_ip();
            status.pod_ips = Some(vec![PodIP { ip: ip.clone() }]);
            status.pod_ip = Some(ip);
        }
        status.start_time.get_or_insert_with(|| w.time());
        status.qos_class.get_or_insert_with(|| "Burstable".into());
    }
    if fault.as_deref() == Some("ImagePullBackOff") {
        set_waiting(
            &mut p,
            "ImagePullBackOff",
            Some(format!("Back-off pulling image \"{image}\"")),
        );
        let mut status = p.status.take().unwrap_or_default();
        set_conditions(w, &mut status, false);
        p.status = Some(status);
        w.put(p);
        let pod = w.pods.get(key).cloned();
        if let Some(pod) = pod {
            w.pod_event(&pod, "Warning", "Failed", &format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"), "kubelet");
            w.pod_event(
                &pod,
                "Warning",
                "BackOff",
                &format!("Back-off pulling image \"{image}\""),
                "kubelet",
            );
        }
        return;
    }
    let state = ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(w.time()),
        }),
        ..Default::default()
    };
    let cs = statuses(&p, state, true);
    let mut status = p.status.take().unwrap_or_default();
    status.phase = Some("Running".into());
    status.container_statuses = Some(cs);
    set_conditions(w, &mut status, true);
    p.status = Some(status);
    w.put(p);
    if let Some(pod) = w.pods.get(key).cloned() {
        w.pod_event(&pod, "Normal", "Started", "Started container", "kubelet");
    }
    match fault.as_deref() {
        Some("CrashLoopBackOff") => w.schedule(
            3.0,
            Timer::ContainerExit {
                key: key.into(),
                uid: uid.into(),
            },
        ),
        Some("OOMKilled") => w.schedule(
            8.0,
            Timer::ContainerExit {
                key: key.into(),
                uid: uid.into(),
            },
        ),
        _ => {}
    }
}

/// Makes a bound pod Running and Ready on the spot (building a scenario's world),
/// unless a fault would strike it, which the kubelet must then play out. Returns
/// whether it runs.
pub fn run_in_place(w: &mut World, pod: &mut Pod) -> bool {
    if fault(w, pod).is_some() {
        return false;
    }
    let host_ip = node_name(pod).and_then(|n| w.nodes.get(n)).and_then(|n| {
        n.status
            .as_ref()?
            .addresses
            .as_ref()?
            .first()
            .map(|a| a.address.clone())
    });
    let ip = w.pod_ip();
    let state = ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(w.time()),
        }),
        ..Default::default()
    };
    let cs = statuses(pod, state, true);
    let mut status = PodStatus {
        phase: Some("Running".into()),
        host_ip,
        pod_ips: Some(vec![PodIP { ip: ip.clone() }]),
        pod_ip: Some(ip),
        start_time: Some(w.time()),
        qos_class: Some("Burstable".into()),
        container_statuses: Some(cs),
        ..Default::default()
    };
    set_conditions(w, &mut status, true);
    pod.status = Some(status);
    true
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

/// A faulty container dies; the kubelet backs off before restarting it.
pub fn container_exit(w: &mut World, key: &str, uid: &str) {
    let Some(pod) = live(w, key, uid) else { return };
    let fault = fault(w, &pod).unwrap_or_else(|| "CrashLoopBackOff".into());
    let oom = fault == "OOMKilled";
    let mut p = (*pod).clone();
    let now = w.time();
    let n = restarts(&p) + 1;
    let backoff = (10.0 * 2f64.powi(n - 1)).min(300.0);
    let pod_name = p.metadata.name.clone().unwrap_or_default();
    let mut container = String::new();
    if let Some(cs) = p.status.as_mut().and_then(|s| s.container_statuses.as_mut()) {
        for c in cs.iter_mut() {
            container.clone_from(&c.name);
            let started = c
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.clone());
            c.restart_count = n;
            c.ready = false;
            c.started = Some(false);
            c.last_state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: if oom { 137 } else { 1 },
                    reason: Some(if oom { "OOMKilled" } else { "Error" }.into()),
                    started_at: started,
                    finished_at: Some(now.clone()),
                    container_id: c.container_id.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            c.state = Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("CrashLoopBackOff".into()),
                    message: Some(format!(
                        "back-off {}s restarting failed container={} pod={}",
                        backoff as u64, c.name, pod_name
                    )),
                }),
                ..Default::default()
            });
        }
    }
    let mut status = p.status.take().unwrap_or_default();
    set_conditions(w, &mut status, false);
    p.status = Some(status);
    w.put(p);
    if let Some(pod) = w.pods.get(key).cloned() {
        w.pod_event(
            &pod,
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container {container} in pod {pod_name}"),
            "kubelet",
        );
    }
    w.schedule(
        backoff,
        Timer::PodStart {
            key: key.into(),
            uid: uid.into(),
        },
    );
}

/// A terminating pod's containers have stopped: the pod object goes away.
pub fn gone(w: &mut World, key: &str, uid: &str) {
    let matches = w.pods.get(key).is_some_and(|p| p.metadata.uid.as_deref() == Some(uid));
    if matches {
        w.remove::<Pod>(key);
    }
}
