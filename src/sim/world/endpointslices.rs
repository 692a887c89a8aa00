//! The EndpointSlice controller: for every Service with a selector, slices of at
//! most 100 endpoints, one per selected pod with an IP, with its ready, serving and
//! terminating conditions, node and zone. A pod change touches only the slices of
//! the Services selecting it (and asks for their Endpoints objects, see
//! `endpoints.rs`); a Service's own change rebuilds its slices and Endpoints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::kubelet::{is_terminal, node_name};
use super::service::{is_headless, labels, selector};
use super::{World, owner_ref};
use crate::sim::store::key_of;

/// Endpoints per slice, the controller's default (`--max-endpoints-per-slice`).
pub const MAX_PER_SLICE: usize = 100;
const CONTROLLER: &str = "endpointslice-controller.k8s.io";
pub(super) const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// A slice's ports as a comparable key.
pub(super) type PortKey = Vec<(Option<String>, Option<i32>, Option<String>)>;

/// A Service's slices and which one holds each pod's endpoint.
#[derive(Default)]
pub struct Slices {
    /// Slice name → its ports.
    pub(super) by_name: BTreeMap<String, PortKey>,
    /// Pod name → slice name.
    pod_slice: HashMap<String, String>,
}

pub(super) fn port_key(ports: &[EndpointPort]) -> PortKey {
    ports
        .iter()
        .map(|p| (p.name.clone(), p.port, p.protocol.clone()))
        .collect()
}

fn ports_of(key: &PortKey) -> Vec<EndpointPort> {
    key.iter()
        .map(|(name, port, protocol)| EndpointPort {
            name: name.clone(),
            port: *port,
            protocol: protocol.clone(),
            app_protocol: None,
        })
        .collect()
}

/// The port a Service port reaches on `pod` (a named target port is looked up in
/// the pod's containers); None when the pod has no such port.
fn find_port(pod: &Pod, target: Option<&IntOrString>, port: i32, protocol: &str) -> Option<i32> {
    match target {
        None => Some(port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
            .map(|p| p.container_port),
    }
}

fn endpoint_ports(svc: &Service, pod: &Pod) -> PortKey {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
    ports
        .iter()
        .filter_map(|p| {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let n = find_port(pod, p.target_port.as_ref(), p.port, &protocol)?;
            Some((Some(p.name.clone().unwrap_or_default()), Some(n), Some(protocol)))
        })
        .collect()
}

fn pod_ready_condition(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.pod_ip.as_deref().filter(|ip| !ip.is_empty())
}

/// The endpoint of `pod` in a slice of `svc`, as the EndpointSlice controller
/// writes it; None when the pod has no place in the slices (finished, no IP yet).
fn endpoint(w: &World, svc: &Service, pod: &Pod) -> Option<Endpoint> {
    if is_terminal(pod) {
        return None;
    }
    let ip = pod_ip(pod)?;
    let serving = pod_ready_condition(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let ready = publish || (serving && !terminating);
    let node = node_name(pod);
    let zone = node
        .and_then(|n| w.nodes.get(n))
        .and_then(|n| n.metadata.labels.as_ref()?.get("topology.kubernetes.io/zone").cloned());
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty() && spec.and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref());
    Some(Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name: node.map(str::to_string),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        zone,
        ..Default::default()
    })
}

fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| ![labels::SERVICE_NAME, labels::MANAGED_BY, labels::HEADLESS].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if is_headless(svc) {
        l.insert(labels::HEADLESS.into(), String::new());
    }
    l.insert(
        labels::SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    l.insert(labels::MANAGED_BY.into(), CONTROLLER.into());
    l
}

/// Work in progress on one Service's slices: slices read once, written once.
struct Edit<'a> {
    svc: &'a Service,
    ns: String,
    touched: BTreeMap<String, EndpointSlice>,
    removed: BTreeSet<String>,
}

impl Edit<'_> {
    fn slice(&mut self, w: &World, name: &str) -> Option<&mut EndpointSlice> {
        if !self.touched.contains_key(name) {
            let s = w.endpointslices.get(&key_of(Some(&self.ns), name))?;
            self.touched.insert(name.to_string(), (**s).clone());
        }
        self.touched.get_mut(name)
    }
}

pub(super) fn trigger_time(w: &World) -> String {
    w.now.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

/// Rebuilds every slice of a Service (created, changed, deleted), and its Endpoints.
fn sync_service(w: &mut World, key: &str) {
    let old = w.net.slices.remove(key).unwrap_or_default();
    let Some(svc) = w.services.get(key).cloned() else {
        for name in old.by_name.keys() {
            let (ns, _) = key.split_once('/').unwrap_or_default();
            w.remove::<EndpointSlice>(&key_of(Some(ns), name));
        }
        let managed = w.endpoints.get(key).is_some_and(|e| {
            e.metadata
                .labels
                .as_ref()
                .is_none_or(|l| !l.contains_key(labels::SKIP_MIRROR))
        });
        if managed {
            w.remove::<Endpoints>(key);
        }
        return;
    };
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let Some(sel) = selector(&svc).cloned() else {
        // a Service without a selector: its endpoints are whatever someone wrote
        for name in old.by_name.keys() {
            w.remove::<EndpointSlice>(&key_of(Some(&ns), name));
        }
        return;
    };
    let pods: Vec<Arc<Pod>> = w
        .pods
        .in_namespace(&ns)
        .map(|(_, p)| p)
        .filter(|p| {
            let l = p.metadata.labels.as_ref();
            sel.iter().all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
        })
        .cloned()
        .collect();
    let mut groups: BTreeMap<PortKey, Vec<Endpoint>> = BTreeMap::new();
    for p in &pods {
        if let Some(ep) = endpoint(w, &svc, p) {
            groups.entry(endpoint_ports(&svc, p)).or_default().push(ep);
        }
    }
    // reuse the old slices' names where their ports fit, as the controller does
    let mut free: Vec<(String, PortKey)> = old.by_name.into_iter().collect();
    let mut state = Slices::default();
    let mut write: Vec<EndpointSlice> = Vec::new();
    for (ports, eps) in groups {
        for chunk in eps.chunks(MAX_PER_SLICE) {
            let reuse = free.iter().position(|(_, p)| *p == ports).map(|i| free.remove(i).0);
            let mut slice = match reuse.as_ref().and_then(|n| w.endpointslices.get(&key_of(Some(&ns), n))) {
                Some(s) => (**s).clone(),
                None => new_slice(w, &svc, &ports),
            };
            slice.endpoints = chunk.to_vec();
            slice.ports = Some(ports_of(&ports));
            slice.metadata.labels = Some(slice_labels(&svc));
            let name = slice.metadata.name.clone().unwrap_or_default();
            for ep in chunk {
                if let Some(pod) = ep.target_ref.as_ref().and_then(|r| r.name.clone()) {
                    state.pod_slice.insert(pod, name.clone());
                }
            }
            state.by_name.insert(name, ports.clone());
            write.push(slice);
        }
    }
    if state.by_name.is_empty() {
        // a Service with no endpoints keeps one empty slice
        let reuse = free.iter().position(|(_, p)| p.is_empty()).map(|i| free.remove(i).0);
        let mut slice = match reuse.as_ref().and_then(|n| w.endpointslices.get(&key_of(Some(&ns), n))) {
            Some(s) => (**s).clone(),
            None => new_slice(w, &svc, &Vec::new()),
        };
        slice.endpoints = Vec::new();
        slice.ports = Some(Vec::new());
        slice.metadata.labels = Some(slice_labels(&svc));
        state
            .by_name
            .insert(slice.metadata.name.clone().unwrap_or_default(), Vec::new());
        write.push(slice);
    }
    for (name, _) in free {
        w.remove::<EndpointSlice>(&key_of(Some(&ns), &name));
    }
    w.net.slices.insert(key.to_string(), state);
    for s in write {
        put_if_changed(w, s);
    }
    super::endpoints::write(w, &svc);
}

fn new_slice(w: &mut World, svc: &Service, ports: &PortKey) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut meta = ObjectMeta {
        generate_name: Some(format!("{name}-")),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(slice_labels(svc)),
        owner_references: Some(vec![owner_ref(svc)]),
        generation: Some(1),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    EndpointSlice {
        metadata: meta,
        address_type: "IPv4".into(),
        endpoints: Vec::new(),
        ports: Some(ports_of(ports)),
    }
}

fn put_if_changed(w: &mut World, mut s: EndpointSlice) {
    let key = super::key(&s);
    let same = w.endpointslices.get(&key).is_some_and(|old| {
        old.endpoints == s.endpoints && old.ports == s.ports && old.metadata.labels == s.metadata.labels
    });
    if same {
        return;
    }
    if w.endpointslices.get(&key).is_some() {
        s.metadata.generation = Some(s.metadata.generation.unwrap_or(1) + 1);
    }
    let t = trigger_time(w);
    s.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(TRIGGER_TIME.into(), t);
    w.put(s);
}

/// Updates the endpoints of the given pods in one Service's slices.
fn sync_pods(w: &mut World, svc_key: &str, pods: &[String]) {
    let Some(svc) = w.services.get(svc_key).cloned() else {
        return;
    };
    let Some(sel) = selector(&svc).cloned() else { return };
    if !w.net.slices.contains_key(svc_key) {
        return sync_service(w, svc_key);
    }
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let mut state = w.net.slices.remove(svc_key).unwrap_or_default();
    let mut edit = Edit {
        svc: &svc,
        ns: ns.clone(),
        touched: BTreeMap::new(),
        removed: BTreeSet::new(),
    };
    for pod_key in pods {
        let pod = w.pods.get(pod_key).cloned();
        let pod_name = pod_key.rsplit('/').next().unwrap_or_default().to_string();
        let selected = pod.as_ref().is_some_and(|p| {
            let l = p.metadata.labels.as_ref();
            sel.iter().all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
        });
        let want = pod
            .as_ref()
            .filter(|_| selected)
            .and_then(|p| endpoint(w, edit.svc, p).map(|ep| (endpoint_ports(edit.svc, p), ep)));
        let current = state.pod_slice.get(&pod_name).cloned();
        // the same slice still fits: replace the endpoint in place
        if let (Some(cur), Some((ports, ep))) = (&current, &want)
            && state.by_name.get(cur) == Some(ports)
        {
            if let Some(slice) = edit.slice(w, cur) {
                match slice
                    .endpoints
                    .iter_mut()
                    .find(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) == Some(&pod_name))
                {
                    Some(e) => {
                        if e != ep {
                            *e = ep.clone();
                        }
                    }
                    None => slice.endpoints.push(ep.clone()),
                }
            }
            continue;
        }
        if let Some(cur) = current {
            state.pod_slice.remove(&pod_name);
            if let Some(slice) = edit.slice(w, &cur) {
                slice
                    .endpoints
                    .retain(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) != Some(&pod_name));
            }
        }
        let Some((ports, ep)) = want else { continue };
        // the fullest slice with these ports and room, else a new one
        let mut best: Option<(usize, String)> = None;
        for (name, p) in &state.by_name {
            if *p != ports || edit.removed.contains(name) {
                continue;
            }
            let len = match edit.touched.get(name) {
                Some(s) => s.endpoints.len(),
                None => w
                    .endpointslices
                    .get(&key_of(Some(&ns), name))
                    .map(|s| s.endpoints.len())
                    .unwrap_or(MAX_PER_SLICE),
            };
            if len < MAX_PER_SLICE && best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, name.clone()));
            }
        }
        let target = match best {
            Some((_, name)) => name,
            None => {
                let s = new_slice(w, edit.svc, &ports);
                let name = s.metadata.name.clone().unwrap_or_default();
                state.by_name.insert(name.clone(), ports.clone());
                edit.touched.insert(name.clone(), s);
                name
            }
        };
        if let Some(slice) = edit.slice(w, &target) {
            slice.endpoints.push(ep);
        }
        state.pod_slice.insert(pod_name, target);
    }
    // empty slices go, unless none would be left: then one empty slice stays
    let names: Vec<String> = state.by_name.keys().cloned().collect();
    let count_of = |edit: &Edit<'_>, n: &str| -> usize {
        edit.touched
            .get(n)
            .map(|s| s.endpoints.len())
            .or_else(|| w.endpointslices.get(&key_of(Some(&ns), n)).map(|s| s.endpoints.len()))
            .unwrap_or(0)
    };
    let empty: Vec<String> = names.iter().filter(|n| count_of(&edit, n) == 0).cloned().collect();
    let keep_one = empty.len() == names.len();
    for (i, n) in empty.iter().enumerate() {
        if keep_one && i == 0 {
            if let Some(p) = state.by_name.get_mut(n) {
                p.clear();
            }
            if let Some(s) = edit.slice(w, n) {
                s.ports = Some(Vec::new());
            }
            continue;
        }
        state.by_name.remove(n);
        edit.touched.remove(n);
        edit.removed.insert(n.clone());
    }
    let Edit { touched, removed, .. } = edit;
    for name in removed {
        w.remove::<EndpointSlice>(&key_of(Some(&ns), &name));
    }
    w.net.slices.insert(svc_key.to_string(), state);
    for (_, s) in touched {
        put_if_changed(w, s);
    }
    super::endpoints::later(w, svc_key);
}

/// Runs the controller over what changed: whole Services first, then pods.
pub fn reconcile(w: &mut World) {
    let services = std::mem::take(&mut w.dirty.services);
    for key in &services {
        sync_service(w, key);
    }
    let pods = std::mem::take(&mut w.dirty.endpoints);
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (svc, pod) in pods {
        if !services.contains(&svc) {
            by_service.entry(svc).or_default().push(pod);
        }
    }
    for (svc, pods) in by_service {
        sync_pods(w, &svc, &pods);
    }
}
