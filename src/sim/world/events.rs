//! The event recorder: what the simulated scheduler, kubelets and controllers say
//! about objects, as core/v1 Events with counts, deduplicated like client-go's recorder.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::World;
use crate::sim::store::{Object, key_of};

/// Recent events by (object uid, reason, message), so repeats bump a count.
#[derive(Default)]
pub struct Recorder {
    recent: HashMap<(String, String, String), String>,
}

impl Recorder {
    pub fn forget(&mut self, event_key: &str) {
        self.recent.retain(|_, v| v != event_key);
    }
}

/// A reference to `obj` for an event's involvedObject.
pub fn reference<T: Object>(obj: &T) -> ObjectReference {
    let m = obj.metadata();
    ObjectReference {
        api_version: Some(T::API_VERSION.into()),
        kind: Some(T::KIND.into()),
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        field_path: None,
    }
}

impl World {
    /// Records an event about `involved`, or bumps the count of the same recent one.
    pub fn record_event(
        &mut self,
        involved: ObjectReference,
        type_: &str,
        reason: &str,
        message: &str,
        component: &str,
        host: Option<&str>,
    ) {
        let ns = involved.namespace.clone().unwrap_or_else(|| "default".into());
        let dedup = (
            involved.uid.clone().unwrap_or_default(),
            reason.to_string(),
            message.to_string(),
        );
        let now = self.time();
        if let Some(existing) = self.recorder.recent.get(&dedup).cloned()
            && let Some(ev) = self.events.get(&existing).cloned()
        {
            let mut ev = (*ev).clone();
            ev.count = Some(ev.count.unwrap_or(1) + 1);
            ev.last_timestamp = Some(now);
            self.put(ev);
            return;
        }
        let name = format!(
            "{}.{:x}",
            involved.name.as_deref().unwrap_or("unknown"),
            self.now.as_nanosecond() as u64 ^ u64::from(self.rng_u32())
        );
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: Some(self.uid()),
                creation_timestamp: Some(now.clone()),
                ..Default::default()
            },
            involved_object: involved,
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            message: Some(message.into()),
            source: Some(EventSource {
                component: Some(component.into()),
                host: host.map(str::to_string),
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            reporting_component: Some(component.into()),
            reporting_instance: Some(host.unwrap_or(component).into()),
            ..Default::default()
        };
        self.put(ev);
        self.recorder.recent.insert(dedup, key_of(Some(&ns), &name));
    }

    pub fn pod_event(&mut self, pod: &Pod, type_: &str, reason: &str, message: &str, component: &str) {
        let host = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        self.record_event(reference(pod), type_, reason, message, component, host.as_deref());
    }

    pub fn node_event(&mut self, node: &Node, type_: &str, reason: &str, message: &str, component: &str) {
        let mut r = reference(node);
        // events about nodes live in "default" and name the node by its name as uid, like the kubelet does
        r.uid = node.metadata.name.clone();
        self.record_event(r, type_, reason, message, component, node.metadata.name.as_deref());
    }

    fn rng_u32(&mut self) -> u32 {
        use rand::Rng;
        self.rng.random()
    }
}
