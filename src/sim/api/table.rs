//! Server-side tables (`meta.k8s.io/v1 Table`), which kubectl asks for on `get`: the
//! columns and cell values of the real API server's printers for each kind served.
//!
//! Over 600 lines with its tests: one small printer per kind, kept in one file so the
//! columns of all kinds can be checked against kubectl's at a glance. The seam, when
//! it grows, is one file per API group.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, PodSpec, Secret};
use k8s_openapi::api::events::v1 as events_v1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

mod apps;
mod network;
mod storage;

/// One column of a table.
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

const fn col(name: &'static str, kind: &'static str, priority: i32) -> Column {
    Column {
        name,
        kind,
        format: "",
        description: "",
        priority,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};
const AGE: Column = Column {
    name: "Age",
    kind: "string",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    priority: 0,
};

/// A kind's printer.
pub trait TablePrint {
    fn columns() -> Vec<Column>;
    fn cells(&self, now: Timestamp) -> Vec<Value>;
}

/// `?includeObject=`: what each row carries besides its cells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn from_query(v: Option<&str>) -> Self {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A table of `items`.
pub fn render<T>(
    items: &[&T],
    include: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
    now: Timestamp,
) -> Value
where
    T: TablePrint + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
{
    let columns: Vec<Value> = T::columns()
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": o.cells(now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.metadata()});
                }
                IncludeObject::Object => row["object"] = serde_json::to_value(o).unwrap_or(Value::Null),
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": resource_version});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

/// Ages as kubectl shows them ("45s", "3m12s", "5h3m", "3d4h", "2y10d").
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let days = hours / 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

fn age(t: Option<&Time>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t.0)),
        None => "<unknown>".into(),
    }
}

fn name(meta: &ObjectMeta) -> Value {
    json!(meta.name.clone().unwrap_or_default())
}

fn selector_string(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let vals = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({vals})", e.key),
            "NotIn" => format!("{} notin ({vals})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn containers_and_images(spec: Option<&PodSpec>) -> (String, String) {
    let cs = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    (
        cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(","),
        cs.iter()
            .map(|c| c.image.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
    )
}

impl TablePrint for Node {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Status", "string", 0),
            col("Roles", "string", 0),
            AGE,
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let status = self.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| match c.status.as_str() {
                "True" => "Ready",
                "False" => "NotReady",
                _ => "Unknown",
            })
            .unwrap_or("Unknown");
        let mut st = ready.to_string();
        if self.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            st.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = self
            .metadata
            .labels
            .iter()
            .flatten()
            .filter_map(|(k, v)| {
                k.strip_prefix("node-role.kubernetes.io/")
                    .map(str::to_string)
                    .or_else(|| (k == "kubernetes.io/role").then(|| v.clone()))
            })
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        let addr = |t: &str| {
            status
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == t))
                .map(|a| a.address.clone())
                .unwrap_or_else(|| "<none>".into())
        };
        let info = status.and_then(|s| s.node_info.as_ref());
        let info_str = |f: fn(&k8s_openapi::api::core::v1::NodeSystemInfo) -> &String| {
            info.map(|i| f(i).clone()).unwrap_or_else(|| "<unknown>".into())
        };
        vec![
            name(&self.metadata),
            json!(st),
            json!(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(info_str(|i| &i.kubelet_version)),
            json!(addr("InternalIP")),
            json!(addr("ExternalIP")),
            json!(info_str(|i| &i.os_image)),
            json!(info_str(|i| &i.kernel_version)),
            json!(info_str(|i| &i.container_runtime_version)),
        ]
    }
}

/// The STATUS column of a pod, by the apiserver's rules.
pub fn pod_status(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let mut reason = status
        .and_then(|s| s.reason.clone().or_else(|| s.phase.clone()))
        .unwrap_or_else(|| "Pending".into());
    let mut initializing = false;
    let inits = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let init_total = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c.len())
        .unwrap_or(0);
    for (i, c) in inits.iter().enumerate() {
        let state = c.state.as_ref();
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            if t.exit_code == 0 {
                continue;
            }
            reason = match &t.reason {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(w) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
            .filter(|r| r != "PodInitializing")
        {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        let cs = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
        for c in cs.iter().rev() {
            let state = c.state.as_ref();
            if let Some(r) = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                reason = match &t.reason {
                    Some(r) if !r.is_empty() => r.clone(),
                    _ if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            reason = if ready { "Running".into() } else { "NotReady".into() };
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

impl TablePrint for Pod {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            AGE,
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let status = self.status.as_ref();
        let cs = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
        let total = self.spec.as_ref().map(|s| s.containers.len()).unwrap_or(0);
        let ready = cs.iter().filter(|c| c.ready).count();
        let restarts: i32 = cs.iter().map(|c| c.restart_count).sum();
        let last = cs
            .iter()
            .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(|t| t.0)
            .max();
        let restarts = match last {
            Some(t) => format!("{restarts} ({} ago)", human_duration(now.duration_since(t))),
            None => restarts.to_string(),
        };
        let gates = self
            .spec
            .as_ref()
            .and_then(|s| s.readiness_gates.as_ref())
            .map(|g| g.len())
            .unwrap_or(0);
        let none = || "<none>".to_string();
        vec![
            name(&self.metadata),
            json!(format!("{ready}/{total}")),
            json!(pod_status(self)),
            json!(restarts),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(status.and_then(|s| s.pod_ip.clone()).unwrap_or_else(none)),
            json!(
                self.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_else(none)
            ),
            json!(status.and_then(|s| s.nominated_node_name.clone()).unwrap_or_else(none)),
            json!(if gates == 0 { none() } else { format!("0/{gates}") }),
        ]
    }
}

impl TablePrint for Namespace {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Status", "string", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            name(&self.metadata),
            json!(self.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

impl TablePrint for ConfigMap {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Data", "integer", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let n = self.data.as_ref().map(BTreeMap::len).unwrap_or(0)
            + self.binary_data.as_ref().map(BTreeMap::len).unwrap_or(0);
        vec![
            name(&self.metadata),
            json!(n),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

impl TablePrint for Secret {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Type", "string", 0), col("Data", "integer", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let n = self.data.as_ref().map(BTreeMap::len).unwrap_or(0)
            + self.string_data.as_ref().map(BTreeMap::len).unwrap_or(0);
        vec![
            name(&self.metadata),
            json!(self.type_.clone().unwrap_or_else(|| "Opaque".into())),
            json!(n),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

fn event_columns() -> Vec<Column> {
    vec![
        col("Last Seen", "string", 0),
        col("Type", "string", 0),
        col("Reason", "string", 0),
        col("Object", "string", 0),
        col("Subobject", "string", 1),
        col("Source", "string", 1),
        col("Message", "string", 0),
        col("First Seen", "string", 1),
        col("Count", "string", 1),
        Column { priority: 1, ..NAME },
    ]
}

impl TablePrint for Event {
    fn columns() -> Vec<Column> {
        event_columns()
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let first = self
            .first_timestamp
            .as_ref()
            .or(self.metadata.creation_timestamp.as_ref())
            .map(|t| t.0);
        let last = self
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(self.event_time.as_ref().map(|t| t.0))
            .or(first);
        let count = self.count.unwrap_or(1);
        let first_age = first
            .map(|t| human_duration(now.duration_since(t)))
            .unwrap_or_else(|| "<unknown>".into());
        let last_age = last
            .map(|t| human_duration(now.duration_since(t)))
            .unwrap_or_else(|| "<unknown>".into());
        let last_seen = if count > 1 {
            format!("{last_age} (x{count} over {first_age})")
        } else {
            last_age
        };
        let o = &self.involved_object;
        let source = self
            .source
            .as_ref()
            .map(|s| match (&s.component, &s.host) {
                (Some(c), Some(h)) => format!("{c}, {h}"),
                (Some(c), None) => c.clone(),
                _ => String::new(),
            })
            .filter(|s| !s.is_empty())
            .or_else(|| self.reporting_component.clone())
            .unwrap_or_default();
        vec![
            json!(last_seen),
            json!(self.type_.clone().unwrap_or_default()),
            json!(self.reason.clone().unwrap_or_default()),
            json!(format!(
                "{}/{}",
                o.kind.clone().unwrap_or_default().to_lowercase(),
                o.name.clone().unwrap_or_default()
            )),
            json!(o.field_path.clone().unwrap_or_default()),
            json!(source),
            json!(self.message.clone().unwrap_or_default().trim()),
            json!(first_age),
            json!(count.to_string()),
            name(&self.metadata),
        ]
    }
}

impl TablePrint for events_v1::Event {
    fn columns() -> Vec<Column> {
        event_columns()
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let core: Event = <events_v1::Event as crate::sim::api::kinds::Wire<Event>>::into_stored(self.clone());
        core.cells(now)
    }
}

fn int_or_na(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".into(),
    }
}

impl TablePrint for PodDisruptionBudget {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Min Available", "string", 0),
            col("Max Unavailable", "string", 0),
            col("Allowed Disruptions", "integer", 0),
            AGE,
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        vec![
            name(&self.metadata),
            json!(int_or_na(spec.and_then(|s| s.min_available.as_ref()))),
            json!(int_or_na(spec.and_then(|s| s.max_unavailable.as_ref()))),
            json!(self.status.as_ref().map(|s| s.disruptions_allowed).unwrap_or(0)),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

impl TablePrint for Deployment {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Ready", "string", 0),
            col("Up-to-date", "string", 0),
            col("Available", "string", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let st = self.status.as_ref();
        let (containers, images) = containers_and_images(spec.and_then(|s| s.template.spec.as_ref()));
        vec![
            name(&self.metadata),
            json!(format!(
                "{}/{}",
                st.and_then(|s| s.ready_replicas).unwrap_or(0),
                spec.and_then(|s| s.replicas).unwrap_or(1)
            )),
            json!(st.and_then(|s| s.updated_replicas).unwrap_or(0)),
            json!(st.and_then(|s| s.available_replicas).unwrap_or(0)),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(containers),
            json!(images),
            json!(spec.map(|s| selector_string(&s.selector)).unwrap_or_default()),
        ]
    }
}

impl TablePrint for ReplicaSet {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let st = self.status.as_ref();
        let (containers, images) = containers_and_images(spec.and_then(|s| s.template.as_ref()?.spec.as_ref()));
        vec![
            name(&self.metadata),
            json!(spec.and_then(|s| s.replicas).unwrap_or(1)),
            json!(st.map(|s| s.replicas).unwrap_or(0)),
            json!(st.and_then(|s| s.ready_replicas).unwrap_or(0)),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(containers),
            json!(images),
            json!(spec.map(|s| selector_string(&s.selector)).unwrap_or_default()),
        ]
    }
}

impl TablePrint for DaemonSet {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Node Selector", "string", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let st = self.status.as_ref();
        let pod_spec = spec.and_then(|s| s.template.spec.as_ref());
        let (containers, images) = containers_and_images(pod_spec);
        let node_selector = pod_spec
            .and_then(|s| s.node_selector.as_ref())
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into());
        vec![
            name(&self.metadata),
            json!(st.map(|s| s.desired_number_scheduled).unwrap_or(0)),
            json!(st.map(|s| s.current_number_scheduled).unwrap_or(0)),
            json!(st.map(|s| s.number_ready).unwrap_or(0)),
            json!(st.and_then(|s| s.updated_number_scheduled).unwrap_or(0)),
            json!(st.and_then(|s| s.number_available).unwrap_or(0)),
            json!(node_selector),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(containers),
            json!(images),
            json!(spec.map(|s| selector_string(&s.selector)).unwrap_or_default()),
        ]
    }
}

impl TablePrint for Lease {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Holder", "string", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            name(&self.metadata),
            json!(
                self.spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.clone())
                    .unwrap_or_default()
            ),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(secs: i64) -> String {
        human_duration(SignedDuration::from_secs(secs))
    }

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(d(-5), "<invalid>");
        assert_eq!(d(59), "59s");
        assert_eq!(d(119), "119s");
        assert_eq!(d(120), "2m");
        assert_eq!(d(192), "3m12s");
        assert_eq!(d(605), "10m");
        assert_eq!(d(3 * 3600), "3h");
        assert_eq!(d(5 * 3600 + 180), "5h3m");
        assert_eq!(d(30 * 3600), "30h");
        assert_eq!(d(2 * 86400), "2d");
        assert_eq!(d(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(d(400 * 86400), "400d");
        assert_eq!(d(800 * 86400), "2y70d");
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn pod_status_column() {
        let running = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
        );
        assert_eq!(pod_status(&running), "Running");
        let creating = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}}),
        );
        assert_eq!(pod_status(&creating), "ContainerCreating");
        let crash = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T00:00:00Z"}}}]}}),
        );
        assert_eq!(pod_status(&crash), "CrashLoopBackOff");
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let cells = crash.cells(now);
        assert_eq!(cells[1], json!("0/1"));
        assert_eq!(cells[3], json!("4 (5m ago)"));
        let pull = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
        );
        assert_eq!(pod_status(&pull), "ImagePullBackOff");
        let oom = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 1, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}),
        );
        assert_eq!(pod_status(&oom), "OOMKilled");
        let mut gone = running.clone();
        gone.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(pod_status(&gone), "Terminating");
        assert_eq!(pod_status(&pod(json!({"metadata": {"name": "p"}}))), "Pending");
    }

    #[test]
    fn node_status_and_roles() {
        let n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": {"kubeletVersion": "v1.30.6", "architecture": "", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "", "osImage": "", "systemUUID": ""}}
        }))
        .unwrap();
        let cells = n.cells(Timestamp::now());
        assert_eq!(cells[1], json!("NotReady,SchedulingDisabled"));
        assert_eq!(cells[2], json!("worker"));
        assert_eq!(cells[3], json!("<unknown>"));
        assert_eq!(cells[4], json!("v1.30.6"));
    }

    #[test]
    fn pdb_columns_say_na_for_the_unset_one() {
        let p: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2}})).unwrap();
        let cells = p.cells(Timestamp::now());
        assert_eq!(&cells[1..4], &[json!("2"), json!("N/A"), json!(0)]);
    }

    #[test]
    fn table_shape_and_include_object() {
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": "shop", "namespace": null}, "status": {"phase": "Active"}}),
        )
        .unwrap();
        let t = render(&[&ns], IncludeObject::Metadata, "42", Some("tok"), Timestamp::now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42", "continue": "tok"}));
        let col = t["columnDefinitions"][0].as_object().unwrap();
        let mut keys: Vec<&String> = col.keys().collect();
        keys.sort();
        assert_eq!(keys, vec!["description", "format", "name", "priority", "type"]);
        assert_eq!(t["rows"][0]["cells"], json!(["shop", "Active", "<unknown>"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "shop");
        let t = render(&[&ns], IncludeObject::Object, "1", None, Timestamp::now());
        assert_eq!(t["rows"][0]["object"]["kind"], "Namespace");
        assert!(t["metadata"].get("continue").is_none());
        let t = render(&[&ns], IncludeObject::None, "1", None, Timestamp::now());
        assert!(t["rows"][0].get("object").is_none());
    }
}
