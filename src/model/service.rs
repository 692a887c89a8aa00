//! Services and their ready endpoints, from EndpointSlices: a Service with a
//! selector and no ready endpoint is down, whatever its pods say. The count of ready
//! endpoints per Service is kept change by change as slices arrive.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Change, Interner, Reflected};

/// The label an EndpointSlice names its Service by.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// A Service as the cockpit sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    pub namespace: Arc<str>,
    pub name: String,
    /// It selects pods (a Service without a selector has hand-made endpoints).
    pub selector: bool,
}

impl ServiceInfo {
    pub fn from_service(s: &Service, strings: &mut Interner) -> Option<ServiceInfo> {
        let spec = s.spec.as_ref();
        let external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
        Some(ServiceInfo {
            namespace: strings.get(s.metadata.namespace.as_deref().unwrap_or("")),
            name: s.metadata.name.clone().unwrap_or_default(),
            selector: !external && spec.and_then(|s| s.selector.as_ref()).is_some_and(|m| !m.is_empty()),
        })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One EndpointSlice: its Service (`namespace/name`) and its ready endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceInfo {
    pub service: Arc<str>,
    pub ready: u32,
}

impl SliceInfo {
    pub fn from_slice(s: &EndpointSlice, strings: &mut Interner) -> Option<SliceInfo> {
        let service = s.metadata.labels.as_ref()?.get(SERVICE_NAME)?;
        let ns = s.metadata.namespace.as_deref().unwrap_or("");
        let ready = s
            .endpoints
            .iter()
            // ready unset means ready (discovery.k8s.io/v1)
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .count();
        Some(SliceInfo {
            service: strings.get(&format!("{ns}/{service}")),
            ready: u32::try_from(ready).unwrap_or(u32::MAX),
        })
    }
}

/// Services, their slices, and ready endpoints per Service.
#[derive(Debug, Default)]
pub struct Services {
    pub services: Reflected<ServiceInfo>,
    pub slices: Reflected<SliceInfo>,
    /// Ready endpoints per Service (`namespace/name`), summed over its slices.
    pub ready: HashMap<Arc<str>, u32>,
}

impl Services {
    pub fn apply_slice(&mut self, change: Change<SliceInfo>) {
        let upserted = match &change {
            Change::Upsert(k, _) => Some(k.clone()),
            _ => None,
        };
        for (_, old) in self.slices.apply(change) {
            if let Some(n) = self.ready.get_mut(&old.service) {
                *n = n.saturating_sub(old.ready);
                if *n == 0 {
                    self.ready.remove(&old.service);
                }
            }
        }
        if let Some(s) = upserted.and_then(|k| self.slices.items.get(&k))
            && s.ready > 0
        {
            *self.ready.entry(s.service.clone()).or_default() += s.ready;
        }
    }

    /// Ready endpoints of the Service `namespace/name`.
    pub fn ready_endpoints(&self, key: &str) -> u32 {
        self.ready.get(key).copied().unwrap_or(0)
    }

    /// Services with a selector and no ready endpoint, sorted.
    pub fn down(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .services
            .items
            .iter()
            .filter(|(k, s)| s.selector && self.ready_endpoints(k) == 0)
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_endpoints_follow_slices_and_a_selector_service_without_any_is_down() {
        let mut s = Services::default();
        let svc = |n: &str, selector: bool| ServiceInfo {
            namespace: Arc::from("shop"),
            name: n.into(),
            selector,
        };
        s.services.apply(Change::Upsert("shop/web".into(), svc("web", true)));
        s.services.apply(Change::Upsert("shop/ext".into(), svc("ext", false)));
        let slice = |ready| SliceInfo {
            service: Arc::from("shop/web"),
            ready,
        };
        assert_eq!(s.down(), ["shop/web"]);
        s.apply_slice(Change::Upsert("shop/web-a".into(), slice(2)));
        s.apply_slice(Change::Upsert("shop/web-b".into(), slice(1)));
        assert_eq!(s.ready_endpoints("shop/web"), 3);
        assert!(s.down().is_empty());
        s.apply_slice(Change::Upsert("shop/web-a".into(), slice(0)));
        assert_eq!(s.ready_endpoints("shop/web"), 1);
        s.apply_slice(Change::Delete("shop/web-b".into()));
        assert_eq!(s.ready_endpoints("shop/web"), 0);
        assert_eq!(s.down(), ["shop/web"], "its pods are gone: down");
    }
}
