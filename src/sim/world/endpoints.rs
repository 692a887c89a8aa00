//! The Endpoints controller: the legacy `v1` Endpoints object of each Service with a
//! selector, written from its EndpointSlices: ready addresses, then not-ready ones
//! (terminating pods left out), grouped by ports, truncated at 1,000. It follows the
//! slices within a virtual second, once for all the pod changes of that second: it
//! lists every address of the Service, so a rewrite per pod change would cost the
//! Service's size each time.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::World;
use super::endpointslices::{PortKey, TRIGGER_TIME, port_key, trigger_time};
use super::recheck::{self, Controller};
use super::service::{is_headless, labels, selector};
use crate::sim::store::key_of;

/// How long pod changes gather before the Endpoints object is rewritten (virtual s).
const EVERY_SECS: i64 = 1;
/// Addresses the Endpoints controller keeps before truncating.
const MAX_ENDPOINTS: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// A Service's slices changed: its Endpoints object is rewritten a second from now.
pub(super) fn later(w: &mut World, svc_key: &str) {
    let due = w
        .now
        .checked_add(jiff::SignedDuration::from_secs(EVERY_SECS))
        .unwrap_or(w.now);
    recheck::at(w, Controller::Endpoints, svc_key, due);
}

/// The Endpoints object of a Service is due: written from its slices as they are.
pub fn endpoints_due(w: &mut World, svc_key: &str) {
    if let Some(svc) = w.services.get(svc_key).cloned()
        && selector(&svc).is_some()
    {
        write(w, &svc);
    }
}

/// The legacy `v1` Endpoints of a Service, from its slices: ready addresses, then
/// not-ready ones (terminating pods left out), grouped by ports.
pub(super) fn write(w: &mut World, svc: &Service) {
    let key = super::key(svc);
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let names: Vec<String> = w
        .net
        .slices
        .get(&key)
        .map(|s| s.by_name.keys().cloned().collect())
        .unwrap_or_default();
    let mut subsets: BTreeMap<PortKey, (Vec<EndpointAddress>, Vec<EndpointAddress>)> = BTreeMap::new();
    let mut total = 0usize;
    let mut truncated = false;
    for name in names {
        let Some(slice) = w.endpointslices.get(&key_of(Some(&ns), &name)) else {
            continue;
        };
        let ports = port_key(slice.ports.as_deref().unwrap_or_default());
        for ep in &slice.endpoints {
            let c = ep.conditions.as_ref();
            let ready = c.and_then(|c| c.ready).unwrap_or(false);
            let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            if !ready && terminating && !publish {
                continue;
            }
            if total >= MAX_ENDPOINTS {
                truncated = true;
                break;
            }
            total += 1;
            let addr = EndpointAddress {
                ip: ep.addresses.first().cloned().unwrap_or_default(),
                hostname: ep.hostname.clone(),
                node_name: ep.node_name.clone(),
                target_ref: ep.target_ref.clone(),
            };
            let entry = subsets.entry(ports.clone()).or_default();
            if ready || publish {
                entry.0.push(addr);
            } else {
                entry.1.push(addr);
            }
        }
    }
    let subsets: Vec<EndpointSubset> = subsets
        .into_iter()
        .filter(|(_, (r, n))| !r.is_empty() || !n.is_empty())
        .map(|(ports, (mut ready, mut not_ready))| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then(|| {
                    ports
                        .iter()
                        .map(|(name, port, protocol)| CorePort {
                            name: name.clone().filter(|n| !n.is_empty()),
                            port: port.unwrap_or_default(),
                            protocol: protocol.clone(),
                            app_protocol: None,
                        })
                        .collect()
                }),
            }
        })
        .collect();
    let mut lbls: BTreeMap<String, String> = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        lbls.insert(labels::HEADLESS.into(), String::new());
    }
    let current = w.endpoints.get(&key).cloned();
    let subsets = (!subsets.is_empty()).then_some(subsets);
    if let Some(cur) = &current
        && cur.subsets == subsets
        && cur.metadata.labels.clone().unwrap_or_default() == lbls
    {
        return;
    }
    let mut meta = match &current {
        Some(c) => c.metadata.clone(),
        None => {
            let mut m = ObjectMeta {
                name: svc.metadata.name.clone(),
                namespace: Some(ns),
                ..Default::default()
            };
            w.stamp_new(&mut m);
            m
        }
    };
    meta.labels = (!lbls.is_empty()).then_some(lbls);
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(TRIGGER_TIME.into(), trigger_time(w));
    if truncated {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    w.put(Endpoints {
        metadata: meta,
        subsets,
    });
}
