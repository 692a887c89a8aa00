//! Services as the API server keeps them: cluster IPs and node ports allocated on
//! create and kept on update, the defaults it fills in, the `default/kubernetes`
//! Service every cluster has, and the index from pod labels to the Services that
//! select them (so a pod change wakes only its own Services' endpoints).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, Pod, Service, ServicePort, ServiceSpec,
    ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::World;

/// The Service CIDR EKS picks for a VPC in 10.0.0.0/8: 172.20.0.0/16.
const SERVICE_NET: [u8; 2] = [172, 20];
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Labels the endpoint controllers set (discovery.k8s.io/v1 and core/v1 names).
pub mod labels {
    pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
    pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
    pub const HEADLESS: &str = "service.kubernetes.io/headless";
    pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
}

/// What the Services part of the world keeps besides the tables.
#[derive(Default)]
pub struct NetState {
    /// Allocated cluster IPs (the last two octets) and node ports.
    ips: HashSet<u16>,
    node_ports: HashSet<u16>,
    /// namespace → label key → label value → names of the Services whose selector's
    /// first label is that pair: a pod can only be selected by Services found here.
    by_label: HashMap<String, HashMap<String, HashMap<String, BTreeSet<String>>>>,
    /// Per Service (namespace/name): its EndpointSlices and which slice holds each pod.
    pub(crate) slices: HashMap<String, super::endpointslices::Slices>,
}

/// A field of a Service that the API server refuses, with the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

fn service_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("ClusterIP")
}

/// Whether the Service has no cluster IP (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The selector of a Service, when it has one the endpoint controllers act on.
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if service_type(spec) == "ExternalName" {
        return None;
    }
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

fn ip_string(n: u16) -> String {
    format!("{}.{}.{}.{}", SERVICE_NET[0], SERVICE_NET[1], n >> 8, n & 0xff)
}

fn ip_number(ip: &str) -> Option<u16> {
    let parts: Vec<u8> = ip.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    match parts.as_slice() {
        [a, b, c, d] if [*a, *b] == SERVICE_NET => Some(u16::from(*c) << 8 | u16::from(*d)),
        _ => None,
    }
}

impl NetState {
    /// A free cluster IP, chosen by the Service's name so a scenario always gets the same.
    fn allocate_ip(&mut self, ns: &str, name: &str) -> String {
        // as on EKS: the API server's own Service is .1 and DNS is .10
        let wanted = match (ns, name) {
            ("default", "kubernetes") => Some(1),
            ("kube-system", "kube-dns") => Some(10),
            _ => None,
        };
        let mut n = wanted.unwrap_or_else(|| {
            let h = super::fnv(format!("{ns}/{name}").as_bytes());
            (h % 65_000) as u16 + 256
        });
        while self.ips.contains(&n) || n < 2 && wanted.is_none() || n == 0xffff {
            n = n.wrapping_add(1).max(256);
        }
        self.ips.insert(n);
        ip_string(n)
    }

    fn allocate_node_port(&mut self, ns: &str, name: &str, port: i32) -> i32 {
        let span = (NODE_PORTS.end() - NODE_PORTS.start()) as u32 + 1;
        let h = super::fnv(format!("{ns}/{name}:{port}").as_bytes());
        let mut p = NODE_PORTS.start() + (h % span) as u16;
        while self.node_ports.contains(&p) {
            p = if p == *NODE_PORTS.end() {
                *NODE_PORTS.start()
            } else {
                p + 1
            };
        }
        self.node_ports.insert(p);
        i32::from(p)
    }

    fn index(&mut self, svc: &Service, add: bool) {
        let (Some(ns), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
            return;
        };
        let Some((k, v)) = selector(svc).and_then(|s| s.iter().next()) else {
            return;
        };
        let by_key = self.by_label.entry(ns.clone()).or_default();
        let names = by_key.entry(k.clone()).or_default().entry(v.clone()).or_default();
        if add {
            names.insert(name.clone());
        } else {
            names.remove(name);
        }
    }
}

/// Fills what the API server sets on a Service (type, IPs, port defaults, node
/// ports, traffic policies) and refuses what it refuses. `old` is the stored
/// Service on an update: its allocations are kept.
pub fn admit(w: &mut World, svc: &mut Service, old: Option<&Service>) -> Result<(), Invalid> {
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let spec = svc.spec.get_or_insert_with(Default::default);
    let kind = service_type(spec).to_string();
    if !matches!(
        kind.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        return Err(Invalid(format!(
            "spec.type: Unsupported value: \"{kind}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        )));
    }
    spec.type_ = Some(kind.clone());
    let old_spec = old.and_then(|o| o.spec.as_ref());
    let ports = spec.ports.get_or_insert_with(Vec::new);
    let headless = spec.cluster_ip.as_deref() == Some("None")
        || old_spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None") && spec.cluster_ip.is_none();
    if ports.is_empty() && !headless && kind != "ExternalName" {
        return Err(Invalid("spec.ports: Required value".into()));
    }
    for (i, p) in ports.iter_mut().enumerate() {
        if !(1..=65535).contains(&p.port) {
            return Err(Invalid(format!(
                "spec.ports[{i}].port: Invalid value: {}: must be between 1 and 65535, inclusive",
                p.port
            )));
        }
        p.protocol.get_or_insert_with(|| "TCP".into());
        p.target_port.get_or_insert(IntOrString::Int(p.port));
    }
    if ports.len() > 1 {
        for (i, p) in ports.iter().enumerate() {
            if p.name.as_deref().unwrap_or_default().is_empty() {
                return Err(Invalid(format!("spec.ports[{i}].name: Required value")));
            }
        }
    }
    if kind == "ExternalName" {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        return Ok(());
    }
    // cluster IP: kept from the stored object, refused if changed, else allocated
    let kept = old_spec.and_then(|s| s.cluster_ip.clone());
    match (&kept, spec.cluster_ip.as_deref()) {
        (Some(k), Some(asked)) if !asked.is_empty() && asked != k => {
            return Err(Invalid(format!(
                "spec.clusterIPs[0]: Invalid value: []string{{\"{asked}\"}}: may not change once set"
            )));
        }
        (Some(k), _) => spec.cluster_ip = Some(k.clone()),
        (None, Some("None")) => {}
        (None, Some(asked)) if !asked.is_empty() => {
            let n = ip_number(asked).ok_or_else(|| {
                Invalid(format!(
                    "spec.clusterIPs[0]: Invalid value: \"{asked}\": failed to allocate IP {asked}: the provided IP ({asked}) is not in the valid range. The range of valid IPs is 172.20.0.0/16"
                ))
            })?;
            if w.net.ips.contains(&n) {
                return Err(Invalid(format!(
                    "spec.clusterIPs: Invalid value: []string{{\"{asked}\"}}: failed to allocate IP {asked}: provided IP is already allocated"
                )));
            }
            w.net.ips.insert(n);
        }
        (None, _) => spec.cluster_ip = Some(w.net.allocate_ip(&ns, &name)),
    }
    spec.cluster_ips = spec.cluster_ip.clone().map(|ip| vec![ip]);
    spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
    spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
    spec.session_affinity.get_or_insert_with(|| "None".into());
    spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
    if kind == "NodePort" || kind == "LoadBalancer" {
        spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
        if kind == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
        let old_ports: Vec<ServicePort> = old_spec.and_then(|s| s.ports.clone()).unwrap_or_default();
        let ports = spec.ports.get_or_insert_with(Vec::new);
        for p in ports.iter_mut() {
            if p.node_port.is_some_and(|n| n > 0) {
                continue;
            }
            let same = old_ports
                .iter()
                .find(|o| o.port == p.port && o.protocol == p.protocol)
                .and_then(|o| o.node_port);
            p.node_port = Some(match same {
                Some(n) => n,
                None => w.net.allocate_node_port(&ns, &name, p.port),
            });
        }
    }
    if svc.status.is_none() {
        svc.status = Some(ServiceStatus {
            load_balancer: Some(Default::default()),
            ..Default::default()
        });
    }
    Ok(())
}

/// Keeps the selector index and the allocations right, and wakes the endpoint
/// controllers for a Service that changed.
pub fn service_changed(w: &mut World, old: Option<&Arc<Service>>, new: Option<&Arc<Service>>) {
    if let Some(o) = old {
        w.net.index(o, false);
    }
    if let Some(n) = new {
        w.net.index(n, true);
        // allocations of Services stored without admission (a seeded world) count too
        if let Some(ip) = n
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.as_deref())
            .and_then(ip_number)
        {
            w.net.ips.insert(ip);
        }
        for p in n.spec.as_ref().and_then(|s| s.ports.as_ref()).into_iter().flatten() {
            if let Some(np) = p.node_port.and_then(|n| u16::try_from(n).ok()) {
                w.net.node_ports.insert(np);
            }
        }
    }
    match (old, new) {
        (Some(o), None) => {
            if let Some(ip) = o
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.as_deref())
                .and_then(ip_number)
            {
                w.net.ips.remove(&ip);
            }
            for p in o.spec.as_ref().and_then(|s| s.ports.as_ref()).into_iter().flatten() {
                if let Some(np) = p.node_port.and_then(|n| u16::try_from(n).ok()) {
                    w.net.node_ports.remove(&np);
                }
            }
            w.dirty.services.insert(super::key(&**o));
        }
        (_, Some(n)) => {
            let endpoints_matter = |s: &Service| {
                (
                    s.spec.as_ref().map(|s| {
                        (
                            s.selector.clone(),
                            s.ports.clone(),
                            s.publish_not_ready_addresses,
                            s.cluster_ip.clone(),
                            s.type_.clone(),
                        )
                    }),
                    s.metadata.labels.clone(),
                )
            };
            if old.is_none_or(|o| endpoints_matter(o) != endpoints_matter(n)) {
                w.dirty.services.insert(super::key(&**n));
            }
        }
        (None, None) => {}
    }
}

/// Marks the Services selecting a pod (before or after its change) for the endpoint
/// controllers. Costs nothing when no Service has a selector.
pub fn pod_changed(w: &mut World, old: Option<&Arc<Pod>>, new: Option<&Arc<Pod>>) {
    if w.net.by_label.is_empty() {
        return;
    }
    let Some(any) = old.or(new) else { return };
    let ns = any.metadata.namespace.as_deref().unwrap_or_default();
    let Some(by_key) = w.net.by_label.get(ns) else { return };
    let mut hits: BTreeSet<&String> = BTreeSet::new();
    for side in [old, new].into_iter().flatten() {
        for (k, v) in side.metadata.labels.iter().flatten() {
            if let Some(names) = by_key.get(k).and_then(|vals| vals.get(v)) {
                hits.extend(names.iter());
            }
        }
    }
    if hits.is_empty() {
        return;
    }
    let pod_key = super::key(&**any);
    let mut marks = Vec::new();
    for name in hits {
        let svc_key = format!("{ns}/{name}");
        let Some(svc) = w.services.get(&svc_key) else { continue };
        let Some(sel) = selector(svc) else { continue };
        let matches = |p: &Pod| {
            let l = p.metadata.labels.as_ref();
            sel.iter().all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
        };
        if old.is_some_and(|p| matches(p)) || new.is_some_and(|p| matches(p)) {
            marks.push((svc_key, pod_key.clone()));
        }
    }
    w.dirty.endpoints.extend(marks);
}

/// The Service the API server keeps for itself, `default/kubernetes`, with the
/// control plane's two addresses as its endpoints.
pub fn seed_default(w: &mut World) {
    let mut meta = ObjectMeta {
        name: Some("kubernetes".into()),
        namespace: Some("default".into()),
        labels: Some(BTreeMap::from([
            ("component".to_string(), "apiserver".to_string()),
            ("provider".to_string(), "kubernetes".to_string()),
        ])),
        ..Default::default()
    };
    w.stamp_new(&mut meta);
    let mut svc = Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(443)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    };
    if admit(w, &mut svc, None).is_err() {
        return;
    }
    w.put(svc);
    // the control plane's two addresses in the cluster's VPC
    let addresses = ["10.0.200.11", "10.0.201.217"];
    let (pname, pnum, pproto) = (Some("https".to_string()), 443, Some("TCP".to_string()));
    let mut emeta = ObjectMeta {
        name: Some("kubernetes".into()),
        namespace: Some("default".into()),
        labels: Some(BTreeMap::from([(labels::SKIP_MIRROR.to_string(), "true".to_string())])),
        ..Default::default()
    };
    w.stamp_new(&mut emeta);
    w.put(Endpoints {
        metadata: emeta,
        subsets: Some(vec![EndpointSubset {
            addresses: Some(
                addresses
                    .iter()
                    .map(|ip| EndpointAddress {
                        ip: ip.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            not_ready_addresses: None,
            ports: Some(vec![CorePort {
                name: pname.clone(),
                port: pnum,
                protocol: pproto.clone(),
                app_protocol: None,
            }]),
        }]),
    });
    let mut smeta = ObjectMeta {
        name: Some("kubernetes".into()),
        namespace: Some("default".into()),
        labels: Some(BTreeMap::from([(
            labels::SERVICE_NAME.to_string(),
            "kubernetes".to_string(),
        )])),
        generation: Some(1),
        ..Default::default()
    };
    w.stamp_new(&mut smeta);
    w.put(EndpointSlice {
        metadata: smeta,
        address_type: "IPv4".into(),
        endpoints: addresses
            .iter()
            .map(|ip| Endpoint {
                addresses: vec![ip.to_string()],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: pname,
            port: Some(pnum),
            protocol: pproto,
            app_protocol: None,
        }]),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ips_are_in_the_service_range_and_never_reused_while_held() {
        let mut s = NetState::default();
        let a = s.allocate_ip("shop", "web");
        let b = s.allocate_ip("shop", "web");
        assert_ne!(a, b, "a second Service of the same name gets another address");
        assert!(a.starts_with("172.20."), "{a}");
        assert_eq!(s.allocate_ip("default", "kubernetes"), "172.20.0.1");
        assert_eq!(s.allocate_ip("kube-system", "kube-dns"), "172.20.0.10");
        assert_eq!(ip_number("172.20.1.2"), Some(258));
        assert_eq!(ip_number("10.0.0.1"), None);
        let p = s.allocate_node_port("shop", "web", 80);
        assert!((30000..=32767).contains(&p));
        assert_ne!(s.allocate_node_port("shop", "web", 80), p);
    }
}
