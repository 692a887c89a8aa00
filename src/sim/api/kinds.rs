//! What differs between the kinds the API serves: the fields each accepts in a field
//! selector, and the wire form of each (identity, except events.k8s.io/v1 Events,
//! which are core Events seen through the newer schema, as the real apiserver does).

use std::borrow::Cow;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret};
use k8s_openapi::api::core::v1::{Endpoints, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1 as events_v1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

use super::table::TablePrint;
use crate::sim::store::Object;

/// Fields a kind supports in field selectors, beyond `metadata.name` and `metadata.namespace`.
pub trait Fields {
    const FIELDS: &'static [&'static str] = &[];
    fn field(&self, _name: &str) -> Option<String> {
        None
    }
    /// What the kind's schema does to a written object (`old` is the stored one on an
    /// update): custom resources get their CRD's defaults and validation here; an
    /// error is the apiserver's Invalid message (`spec.x: Invalid value: …`).
    fn admit(&mut self, _old: Option<&Self>) -> Result<(), Vec<String>> {
        Ok(())
    }
}

impl Fields for Namespace {
    const FIELDS: &'static [&'static str] = &["status.phase"];
    fn field(&self, name: &str) -> Option<String> {
        match name {
            "status.phase" => self.status.as_ref()?.phase.clone(),
            _ => None,
        }
    }
}

impl Fields for Node {
    const FIELDS: &'static [&'static str] = &["spec.unschedulable"];
    fn field(&self, name: &str) -> Option<String> {
        match name {
            "spec.unschedulable" => Some(
                self.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
                    .to_string(),
            ),
            _ => None,
        }
    }
}

impl Fields for Pod {
    const FIELDS: &'static [&'static str] = &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ];
    fn field(&self, name: &str) -> Option<String> {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        match name {
            "spec.nodeName" => spec?.node_name.clone(),
            "spec.restartPolicy" => spec?.restart_policy.clone(),
            "spec.schedulerName" => spec?.scheduler_name.clone(),
            "spec.serviceAccountName" => spec?.service_account_name.clone(),
            "spec.hostNetwork" => Some(spec?.host_network.unwrap_or(false).to_string()),
            "status.phase" => status?.phase.clone(),
            "status.podIP" => status?.pod_ip.clone(),
            "status.nominatedNodeName" => status?.nominated_node_name.clone(),
            _ => None,
        }
    }
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

impl Fields for Event {
    const FIELDS: &'static [&'static str] = EVENT_FIELDS;
    fn field(&self, name: &str) -> Option<String> {
        let o = &self.involved_object;
        match name {
            "involvedObject.kind" => o.kind.clone(),
            "involvedObject.namespace" => o.namespace.clone(),
            "involvedObject.name" => o.name.clone(),
            "involvedObject.uid" => o.uid.clone(),
            "involvedObject.apiVersion" => o.api_version.clone(),
            "involvedObject.resourceVersion" => o.resource_version.clone(),
            "involvedObject.fieldPath" => o.field_path.clone(),
            "reason" => self.reason.clone(),
            "reportingComponent" => self.reporting_component.clone(),
            "source" => self.source.as_ref()?.component.clone(),
            "type" => self.type_.clone(),
            _ => None,
        }
    }
}

impl Fields for ReplicaSet {
    const FIELDS: &'static [&'static str] = &["status.replicas"];
    fn field(&self, name: &str) -> Option<String> {
        match name {
            "status.replicas" => Some(self.status.as_ref().map(|s| s.replicas).unwrap_or(0).to_string()),
            _ => None,
        }
    }
}

impl Fields for Deployment {}
impl Fields for DaemonSet {}
impl Fields for PodDisruptionBudget {}
impl Fields for ConfigMap {}

impl Fields for Secret {
    const FIELDS: &'static [&'static str] = &["type"];
    fn field(&self, name: &str) -> Option<String> {
        match name {
            "type" => Some(self.type_.clone().unwrap_or_else(|| "Opaque".into())),
            _ => None,
        }
    }
}
impl Fields for Lease {}
impl Fields for Endpoints {}
impl Fields for EndpointSlice {}
impl Fields for StatefulSet {}
impl Fields for ControllerRevision {}
impl Fields for PersistentVolume {}
impl Fields for StorageClass {}

impl Fields for Service {
    const FIELDS: &'static [&'static str] = &["spec.clusterIP", "spec.type"];
    fn field(&self, name: &str) -> Option<String> {
        let spec = self.spec.as_ref()?;
        match name {
            "spec.clusterIP" => spec.cluster_ip.clone(),
            "spec.type" => spec.type_.clone(),
            _ => None,
        }
    }
}

impl Fields for PersistentVolumeClaim {}

/// The form in which a stored kind `S` travels over one API path.
pub trait Wire<S>: Object + TablePrint {
    /// The wire form is the stored form (watch events can reuse cached JSON).
    const IDENTITY: bool;
    fn to_wire(s: &S) -> Cow<'_, Self>;
    fn into_stored(self) -> S;
}

impl<T: Object + TablePrint> Wire<T> for T {
    const IDENTITY: bool = true;
    fn to_wire(s: &T) -> Cow<'_, T> {
        Cow::Borrowed(s)
    }
    fn into_stored(self) -> T {
        self
    }
}

impl Wire<Event> for events_v1::Event {
    const IDENTITY: bool = false;
    fn to_wire(e: &Event) -> Cow<'_, Self> {
        let first = e
            .first_timestamp
            .as_ref()
            .or(e.metadata.creation_timestamp.as_ref())
            .map(|t| t.0);
        let last = e.last_timestamp.as_ref().map(|t| t.0).or(first);
        let count = e.count.unwrap_or(1);
        Cow::Owned(events_v1::Event {
            metadata: e.metadata.clone(),
            action: e.action.clone(),
            deprecated_count: e.count,
            deprecated_first_timestamp: e.first_timestamp.clone(),
            deprecated_last_timestamp: e.last_timestamp.clone(),
            deprecated_source: e.source.clone(),
            event_time: e.event_time.clone().or_else(|| first.map(MicroTime)),
            note: e.message.clone(),
            reason: e.reason.clone(),
            regarding: Some(e.involved_object.clone()),
            related: e.related.clone(),
            reporting_controller: e
                .reporting_component
                .clone()
                .or_else(|| e.source.as_ref().and_then(|s| s.component.clone())),
            reporting_instance: e.reporting_instance.clone(),
            series: (count > 1).then(|| events_v1::EventSeries {
                count,
                last_observed_time: MicroTime(last.unwrap_or_default()),
            }),
            type_: e.type_.clone(),
        })
    }
    fn into_stored(self) -> Event {
        let time = self.event_time.as_ref().map(|t| Time(t.0));
        Event {
            metadata: self.metadata,
            action: self.action,
            count: self.series.as_ref().map(|s| s.count).or(self.deprecated_count),
            event_time: self.event_time,
            first_timestamp: self.deprecated_first_timestamp.or(time.clone()),
            last_timestamp: self
                .series
                .as_ref()
                .map(|s| Time(s.last_observed_time.0))
                .or(self.deprecated_last_timestamp)
                .or(time),
            involved_object: self.regarding.unwrap_or_default(),
            message: self.note,
            reason: self.reason,
            related: self.related,
            reporting_component: self.reporting_controller,
            reporting_instance: self.reporting_instance,
            series: None,
            source: self.deprecated_source,
            type_: self.type_,
        }
    }
}
