//! Custom resources, served as a real API server serves them once their
//! CustomResourceDefinitions are installed: Karpenter's NodePools and NodeClaims
//! (`karpenter.sh/v1`), EC2NodeClasses (`karpenter.k8s.aws/v1`), EKS Auto Mode's
//! NodeClass (`eks.amazonaws.com/v1`), and the CRDs themselves
//! (`apiextensions.k8s.io/v1`). Discovery lists a kind only while its CRD is
//! installed; tables use the CRD's printer columns; writes get the CRD's defaults
//! and validation; custom resources take no strategic merge patch (415).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use jiff::Timestamp;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::handlers;
use super::kinds::Fields;
use super::resources::{self, Resource, Which};
use super::status::{ApiError, ApiResult};
use super::table::{Column, TablePrint, human_duration};
use super::{App, Req, Target};
use crate::sim::world::World;
use crate::sim::world::karpenter::crds::{self, Crd};
use crate::sim::world::karpenter::{EC2NodeClass, NodeClaim, NodeClass, NodePool, spec};

/// The custom kinds the simulator can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Crd,
    NodePool,
    NodeClaim,
    Ec2NodeClass,
    NodeClass,
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const fn custom(crd: &'static Crd, which: Kind) -> Resource {
    Resource {
        group: crd.group,
        version: crd.version,
        plural: crd.plural,
        singular: crd.singular,
        kind: crd.kind,
        namespaced: false,
        short_names: crd.short_names,
        categories: crd.categories,
        verbs: RW,
        subresources: &["status"],
        which: Which::Custom(which),
    }
}

/// Resources served only while their CRD is installed (and the CRDs, always).
pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        verbs: &["get", "list", "watch"],
        subresources: &["status"],
        which: Which::Custom(Kind::Crd),
    },
    custom(&crds::NODEPOOLS, Kind::NodePool),
    custom(&crds::NODECLAIMS, Kind::NodeClaim),
    custom(&crds::EC2NODECLASSES, Kind::Ec2NodeClass),
    custom(&crds::NODECLASSES, Kind::NodeClass),
];

/// Whether `res` is served now.
pub fn served(w: &World, res: &Resource) -> bool {
    match res.which {
        Which::Custom(Kind::Crd) => true,
        Which::Custom(_) => w.karpenter.has_crd(&format!("{}.{}", res.plural, res.group)),
        _ => true,
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A custom resource whose CRD is not installed does not exist.
pub fn check_served(app: &App, t: &Target) -> ApiResult<()> {
    if served(&app.world.lock(), t.res) {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn groups(w: &World) -> Vec<&'static str> {
    let mut out = Vec::new();
    for r in RESOURCES.iter().filter(|r| served(w, r)) {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

fn group_doc(group: &str) -> Value {
    let gv = format!("{group}/v1");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"},
    })
}

/// `/apis`: the built-in groups, then the installed custom ones.
pub fn api_group_list(w: &World) -> Value {
    let mut doc = resources::api_group_list();
    if let Some(list) = doc["groups"].as_array_mut() {
        list.extend(groups(w).into_iter().map(group_doc));
    }
    doc
}

/// `/apis/{group}`.
pub fn api_group(w: &World, group: &str) -> Option<Value> {
    resources::api_group(group).or_else(|| {
        groups(w).contains(&group).then(|| {
            let mut g = group_doc(group);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        })
    })
}

/// `/apis/{group}/{version}`.
pub fn resource_list(w: &World, group: &str, version: &str) -> Option<Value> {
    if let Some(doc) = resources::resource_list(group, version) {
        return Some(doc);
    }
    let mut out = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && served(w, r))
    {
        let mut doc = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            doc["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            doc["categories"] = json!(r.categories);
        }
        out.push(doc);
        out.push(json!({
            "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["get", "patch", "update"],
        }));
    }
    (!out.is_empty()).then(|| {
        json!({
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": format!("{group}/{version}"), "resources": out,
        })
    })
}

/// Serves a request on a custom kind through the generic verbs.
pub async fn serve(app: &Arc<App>, r: &Req, t: &Target, verb: &str, body: Bytes, kind: Kind) -> ApiResult<Response> {
    use handlers::serve as s;
    match kind {
        Kind::Crd => {
            if !matches!(verb, "get" | "list" | "watch") {
                return Err(ApiError::method_not_allowed(format!(
                    "the simulator's CustomResourceDefinitions are fixed: {verb} is not supported on customresourcedefinitions"
                )));
            }
            s::<CustomResourceDefinition, CustomResourceDefinition>(app, r, t, verb, body).await
        }
        Kind::NodePool => s::<NodePool, NodePool>(app, r, t, verb, body).await,
        Kind::NodeClaim => s::<NodeClaim, NodeClaim>(app, r, t, verb, body).await,
        Kind::Ec2NodeClass => s::<EC2NodeClass, EC2NodeClass>(app, r, t, verb, body).await,
        Kind::NodeClass => s::<NodeClass, NodeClass>(app, r, t, verb, body).await,
    }
}

// ---- tables -----------------------------------------------------------------

/// One step of a printer column's JSON path: a field, and maybe a filter on a list.
struct Step {
    field: String,
    filter: Option<(String, String)>,
}

/// Parses the simple JSON paths CRD printer columns use: dotted fields (`\.` escapes
/// a dot inside a key) with an optional `[?(@.key=="value")]` filter.
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut cur = String::new();
    let mut chars = path.trim_start_matches('.').chars().peekable();
    let mut filter = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let cond = inner
                    .trim_start_matches("?(")
                    .trim_end_matches(')')
                    .trim_start_matches("@.");
                if let Some((k, v)) = cond.split_once("==") {
                    filter = Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
                }
            }
            '.' => {
                steps.push(Step {
                    field: std::mem::take(&mut cur),
                    filter: filter.take(),
                });
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || filter.is_some() {
        steps.push(Step { field: cur, filter });
    }
    steps
}

fn eval<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for s in parse_path(path) {
        cur = cur.get(&s.field)?;
        if let Some((k, want)) = &s.filter {
            cur = cur
                .as_array()?
                .iter()
                .find(|x| x.get(k).and_then(Value::as_str) == Some(want.as_str()))?;
        }
    }
    Some(cur)
}

/// A cell as the apiserver's CRD table converter makes it.
fn cell(type_: &str, v: Option<&Value>, now: Timestamp) -> Value {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match type_ {
        "string" => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
        "integer" => v.as_i64().map(|i| json!(i)).unwrap_or(Value::Null),
        "date" => match v.as_str().and_then(|s| s.parse::<Timestamp>().ok()) {
            Some(t) => json!(human_duration(now.duration_since(t))),
            None => json!("<invalid>"),
        },
        _ => v.clone(),
    }
}

fn name_column() -> Column {
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        description: "Name must be unique within a namespace.",
        priority: 0,
    }
}

fn columns_of(crd: &Crd) -> Vec<Column> {
    let mut out = vec![name_column()];
    out.extend(crd.columns.iter().map(|c| Column {
        name: c.name,
        kind: c.type_,
        format: "",
        description: "",
        priority: c.priority,
    }));
    out
}

fn cells_of<T: serde::Serialize>(crd: &Crd, obj: &T, now: Timestamp) -> Vec<Value> {
    let v = serde_json::to_value(obj).unwrap_or(Value::Null);
    let mut out = vec![v["metadata"]["name"].clone()];
    out.extend(crd.columns.iter().map(|c| cell(c.type_, eval(&v, c.json_path), now)));
    out
}

macro_rules! printed {
    ($ty:ty, $crd:expr) => {
        impl TablePrint for $ty {
            fn columns() -> Vec<Column> {
                columns_of(&$crd)
            }
            fn cells(&self, now: Timestamp) -> Vec<Value> {
                cells_of(&$crd, self, now)
            }
        }
    };
}

printed!(NodePool, crds::NODEPOOLS);
printed!(NodeClaim, crds::NODECLAIMS);
printed!(EC2NodeClass, crds::EC2NODECLASSES);
printed!(NodeClass, crds::NODECLASSES);

impl TablePrint for CustomResourceDefinition {
    fn columns() -> Vec<Column> {
        vec![
            name_column(),
            Column {
                name: "Created At",
                kind: "date",
                format: "",
                description: "",
                priority: 0,
            },
        ]
    }
    fn cells(&self, _now: Timestamp) -> Vec<Value> {
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(
                self.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            ),
        ]
    }
}

// ---- what the schemas do on writes -------------------------------------------

/// On create: status is not taken from the body (the status subresource owns it) and
/// generation starts at 1.
fn created<T>(old: Option<&T>, status: &mut Option<Value>, generation: &mut Option<i64>) {
    if old.is_none() {
        *status = None;
        *generation = Some(1);
    }
}

impl Fields for CustomResourceDefinition {}

impl Fields for NodePool {
    fn admit(&mut self, old: Option<&Self>) -> Result<(), Vec<String>> {
        created(old, &mut self.status, &mut self.metadata.generation);
        if old.is_some_and(|o| o.spec == self.spec) {
            return Ok(());
        }
        spec::default_pool(&mut self.spec);
        spec::validate_pool(&self.spec, old.map(|o| &o.spec)).map_err(|e| e.0)
    }
}

impl Fields for NodeClaim {
    fn admit(&mut self, old: Option<&Self>) -> Result<(), Vec<String>> {
        created(old, &mut self.status, &mut self.metadata.generation);
        if old.is_some_and(|o| o.spec == self.spec) {
            return Ok(());
        }
        spec::default_claim(&mut self.spec);
        spec::validate_claim(&self.spec, old.map(|o| &o.spec)).map_err(|e| e.0)
    }
}

impl Fields for EC2NodeClass {
    fn admit(&mut self, old: Option<&Self>) -> Result<(), Vec<String>> {
        created(old, &mut self.status, &mut self.metadata.generation);
        if old.is_some_and(|o| o.spec == self.spec) {
            return Ok(());
        }
        spec::default_ec2_class(&mut self.spec);
        spec::validate_ec2_class(&self.spec).map_err(|e| e.0)
    }
}

impl Fields for NodeClass {
    fn admit(&mut self, old: Option<&Self>) -> Result<(), Vec<String>> {
        created(old, &mut self.status, &mut self.metadata.generation);
        if self.spec.is_object() {
            Ok(())
        } else {
            Err(vec!["spec: Required value".into()])
        }
    }
}

/// The apiserver's `422 Invalid` for a refused write: one cause per `field: message`
/// (the kind named with its group for a custom resource, `NodePool.karpenter.sh`).
pub fn invalid(res: &Resource, name: &str, errors: Vec<String>) -> ApiError {
    let kind = if matches!(res.which, Which::Custom(_)) {
        format!("{}.{}", res.kind, res.group)
    } else {
        res.kind.to_string()
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| {
            let (field, message) = e.split_once(": ").unwrap_or(("", e));
            let reason = if message.starts_with("Required value") {
                "FieldValueRequired"
            } else if message.starts_with("Unsupported value") {
                "FieldValueNotSupported"
            } else if message.starts_with("Too many") {
                "FieldValueTooMany"
            } else {
                "FieldValueInvalid"
            };
            json!({"reason": reason, "message": message, "field": field})
        })
        .collect();
    let joined = spec::Invalid(errors).to_string();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: {joined}"),
    )
    .with_details(json!({"name": name, "group": res.group, "kind": res.kind, "causes": causes}))
}

// Custom resources are validated by their `Fields::admit`; the world-aware admission
// of built-in kinds has nothing to add for them.
impl crate::sim::world::admission::Admit for CustomResourceDefinition {}
impl crate::sim::world::admission::Admit for NodePool {}
impl crate::sim::world::admission::Admit for NodeClaim {}
impl crate::sim::world::admission::Admit for EC2NodeClass {}
impl crate::sim::world::admission::Admit for NodeClass {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_paths_read_labels_and_conditions() {
        let v = json!({
            "metadata": {"name": "n", "labels": {"node.kubernetes.io/instance-type": "m5.large"}},
            "status": {"nodes": 3, "conditions": [{"type": "Launched", "status": "True"}, {"type": "Ready", "status": "False"}]}
        });
        assert_eq!(
            eval(&v, ".metadata.labels.node\\.kubernetes\\.io/instance-type"),
            Some(&json!("m5.large"))
        );
        assert_eq!(
            eval(&v, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("False"))
        );
        let now: Timestamp = "2026-12-01T00:10:00Z".parse().unwrap();
        assert_eq!(cell("string", eval(&v, ".status.nodes"), now), json!("3"));
        assert_eq!(cell("string", eval(&v, ".spec.weight"), now), Value::Null);
        assert_eq!(cell("date", Some(&json!("2026-12-01T00:00:00Z")), now), json!("10m"));
        assert_eq!(cell("integer", Some(&json!(5)), now), json!(5));
    }
}
