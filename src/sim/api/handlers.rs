//! The verbs of the Kubernetes API over any stored kind: get, list (selectors,
//! consistent paging), create, update, patch (four patch types), delete (graceful for
//! pods), the status subresource, eviction, and the self-subject reviews.
//!
//! About 700 lines, in one file on purpose: the verbs share the admission, concurrency
//! and paging helpers above them, and are read side by side against the apiserver's
//! rules. The seam, when it grows, is one file per verb.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use k8s_openapi::api::core::v1::{Namespace, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kinds::{Fields, Wire};
use super::patch::{self, PatchType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult, json_response, success};
use super::table::{self, IncludeObject};
use super::{App, Req, Target};
use crate::sim::store::{Items, object_key};
use crate::sim::world::admission::Admit;
use crate::sim::world::{EvictionVerdict, Stored, World};

/// A kind served over the API.
pub trait Served: Stored + Fields + Admit {}
impl<T: Stored + Fields + Admit> Served for T {}

pub async fn serve<S: Served, W: Wire<S>>(
    app: &Arc<App>,
    r: &Req,
    t: &Target,
    verb: &str,
    body: Bytes,
) -> ApiResult<Response> {
    match (verb, t.sub.as_deref()) {
        ("get", _) => get::<S, W>(app, r, t),
        ("list", _) => list::<S, W>(app, r, t),
        ("watch", _) => super::watch::watch::<S, W>(app.clone(), r, t),
        ("create", Some("eviction")) => evict(app, t, &body),
        ("create", None) => create::<S, W>(app, r, t, &body),
        ("update", _) => {
            let obj: W = parse(&body, W::KIND)?;
            let value = to_value(&obj)?;
            write::<S, W>(app, r, t, value, false)
        }
        ("patch", _) => patch::<S, W>(app, r, t, &body),
        ("delete", None) => delete::<S, W>(app, r, t, &body),
        ("deletecollection", None) => delete_collection::<S>(app, r, t),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb})"
        ))),
    }
}

fn to_value<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Parses a request body, naming the field at fault.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8], kind: &str) -> ApiResult<T> {
    if super::protobuf::is_protobuf(body) {
        return Err(super::protobuf::unsupported(kind));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_request(format!("error decoding {kind}: {path}: {}", e.inner()))
    })
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value, kind: &str) -> ApiResult<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_request(format!("error decoding {kind}: {path}: {}", e.inner()))
    })
}

fn object_response<S: Served, W: Wire<S>>(r: &Req, now: jiff::Timestamp, obj: &S, code: StatusCode) -> Response {
    let wire = W::to_wire(obj);
    let body = if r.wants_table() {
        let rv = obj.metadata().resource_version.clone().unwrap_or_default();
        let include = IncludeObject::from_query(r.query.include_object.as_deref());
        serde_json::to_vec(&table::render(&[&*wire], include, &rv, None, now))
    } else {
        serde_json::to_vec(&*wire)
    };
    json_response(code, body.unwrap_or_default())
}

fn not_found(t: &Target) -> ApiError {
    ApiError::not_found(t.res.plural, t.name.as_deref().unwrap_or_default())
        .with_details(json!({"name": t.name, "kind": t.res.plural, "group": t.res.group}))
}

fn get<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target) -> ApiResult<Response> {
    let w = app.world.lock();
    let obj = S::table(&w).get(&t.key()).cloned().ok_or_else(|| not_found(t))?;
    let now = w.now;
    drop(w);
    Ok(object_response::<S, W>(r, now, &obj, StatusCode::OK))
}

/// Selectors of a list or watch, checked like the apiserver does.
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn parse<S: Served>(r: &Req, t: &Target) -> ApiResult<Self> {
        let labels = LabelSelector::parse(&r.query.label_selector)
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(&r.query.field_selector)
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
        // kinds with field selectors of their own answer in the older words
        let own_fields = matches!(
            (t.res.group, t.res.plural),
            ("", "pods" | "nodes" | "events" | "secrets" | "namespaces") | ("events.k8s.io", "events")
        );
        for f in fields.fields() {
            if !(f == "metadata.name" || f == "metadata.namespace" || S::FIELDS.contains(&f)) {
                return Err(ApiError::bad_request(if own_fields {
                    format!("field label not supported: {f}")
                } else {
                    format!("\"{f}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
                }));
            }
        }
        Ok(Selectors { labels, fields })
    }

    pub fn matches<S: Served>(&self, obj: &S) -> bool {
        let meta = obj.metadata();
        self.labels.matches(meta.labels.as_ref())
            && self.fields.matches(|f| match f {
                "metadata.name" => meta.name.clone(),
                "metadata.namespace" => meta.namespace.clone(),
                other => obj.field(other),
            })
    }
}

#[derive(Serialize, Deserialize)]
struct ContinueToken {
    rv: u64,
    start: String,
}

fn encode_continue(rv: u64, start: &str) -> String {
    let raw = serde_json::to_vec(&ContinueToken {
        rv,
        start: start.into(),
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| ApiError::bad_request("continue key is not valid: not base64"))?;
    serde_json::from_slice(&raw).map_err(|_| ApiError::bad_request("continue key is not valid"))
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn list<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target) -> ApiResult<Response> {
    let sel = Selectors::parse::<S>(r, t)?;
    let ns_prefix = t.namespace.as_ref().map(|ns| format!("{ns}/"));
    let limit = r.query.limit;
    let (items, rv, start, now): (Items<S>, u64, Option<String>, jiff::Timestamp) = {
        let mut w = app.world.lock();
        let now = w.now;
        match &r.query.continue_token {
            Some(token) => {
                let c = decode_continue(token)?;
                let Some(snap) = S::table(&w).snapshot(c.rv) else {
                    // as the API server does, offer a token that goes on from the same
                    // place in today's list (inconsistent with the pages before it)
                    let rv = w.resource_version();
                    S::table_mut(&mut w).keep_snapshot(rv);
                    return Err(ApiError::gone(EXPIRED_CONTINUE).with_continue(encode_continue(rv, &c.start)));
                };
                (snap, c.rv, Some(c.start), now)
            }
            None => {
                let rv = w.resource_version();
                let snap = if limit.is_some() {
                    S::table_mut(&mut w).keep_snapshot(rv)
                } else {
                    S::table(&w).items().clone()
                };
                (snap, rv, None, now)
            }
        }
    };
    let mut out: Vec<Arc<S>> = Vec::new();
    let mut next: Option<String> = None;
    {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let lower = match (&start, &ns_prefix) {
            (Some(s), _) => Excluded(s.clone()),
            (None, Some(p)) => Included(p.clone()),
            (None, None) => Unbounded,
        };
        let mut last_key: Option<&String> = None;
        for (k, obj) in items.range((lower, Unbounded)) {
            if let Some(p) = &ns_prefix
                && !k.starts_with(p.as_str())
            {
                break;
            }
            if !sel.matches(&**obj) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                next = last_key.cloned();
                break;
            }
            last_key = Some(k);
            out.push(obj.clone());
        }
    }
    let continue_token = next.map(|k| encode_continue(rv, &k));
    if r.wants_table() {
        let wires: Vec<std::borrow::Cow<'_, W>> = out.iter().map(|o| W::to_wire(o)).collect();
        let refs: Vec<&W> = wires.iter().map(|c| &**c).collect();
        let include = IncludeObject::from_query(r.query.include_object.as_deref());
        let body = serde_json::to_vec(&table::render(
            &refs,
            include,
            &rv.to_string(),
            continue_token.as_deref(),
            now,
        ))
        .unwrap_or_default();
        return Ok(json_response(StatusCode::OK, body));
    }
    Ok(list_body::<S, W>(out, rv, continue_token))
}

/// A JSON list, serialized in chunks as the client reads it.
fn list_body<S: Served, W: Wire<S>>(items: Vec<Arc<S>>, rv: u64, continue_token: Option<String>) -> Response {
    let api_version = W::API_VERSION;
    let kind = format!("{}List", W::KIND);
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    let head = format!(
        "{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\",\"metadata\":{},\"items\":[",
        meta
    );
    const CHUNK: usize = 256;
    let chunks = items.len().div_ceil(CHUNK);
    let items = Arc::new(items);
    let body_iter = std::iter::once(Bytes::from(head))
        .chain((0..chunks).map({
            let items = items.clone();
            move |c| {
                let mut buf = Vec::with_capacity(CHUNK * 2048);
                for (i, obj) in items[c * CHUNK..((c + 1) * CHUNK).min(items.len())].iter().enumerate() {
                    if c > 0 || i > 0 {
                        buf.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut buf, &*W::to_wire(obj));
                }
                Bytes::from(buf)
            }
        }))
        .chain(std::iter::once(Bytes::from_static(b"]}")))
        .map(Ok::<_, std::convert::Infallible>);
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(body_iter)));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// What the API server fills in on create, per kind.
fn admit_create<S: Served>(w: &mut World, obj: &mut S) {
    let v = serde_json::to_value(&*obj).unwrap_or(Value::Null);
    let mut v = v;
    match S::KIND {
        "Pod" => {
            let spec = &mut v["spec"];
            for (k, d) in [
                ("schedulerName", json!("default-scheduler")),
                ("restartPolicy", json!("Always")),
                ("terminationGracePeriodSeconds", json!(30)),
                ("dnsPolicy", json!("ClusterFirst")),
                ("serviceAccountName", json!("default")),
                ("priority", json!(0)),
                ("enableServiceLinks", json!(true)),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = d;
                }
            }
            if spec.get("tolerations").is_none() {
                spec["tolerations"] = json!([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                ]);
            }
            v["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "StatefulSet" => {
            v["metadata"]["generation"] = json!(1);
            v["status"] = json!({"replicas": 0, "availableReplicas": 0});
        }
        "Namespace" => {
            v["status"] = json!({"phase": "Active"});
            if v["spec"].is_null() {
                v["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        "Deployment" | "ReplicaSet" | "DaemonSet" | "PodDisruptionBudget" => {
            v["metadata"]["generation"] = json!(1);
            v["status"] = json!({});
        }
        _ => {}
    }
    if let Ok(o) = serde_json::from_value::<S>(v) {
        *obj = o;
    }
    let _ = w;
}

fn check_namespace(w: &World, t: &Target, meta: &mut ObjectMeta) -> ApiResult<()> {
    if !t.res.namespaced {
        meta.namespace = None;
        return Ok(());
    }
    let ns = t.namespace.clone().unwrap_or_default();
    if let Some(body_ns) = &meta.namespace
        && !body_ns.is_empty()
        && *body_ns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    meta.namespace = Some(ns.clone());
    if w.namespaces.get(&ns).is_none() {
        return Err(ApiError::not_found("namespaces", &ns));
    }
    if w.namespaces
        .get(&ns)
        .is_some_and(|n| n.metadata.deletion_timestamp.is_some())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("unable to create new content in namespace {ns} because it is being terminated"),
        ));
    }
    Ok(())
}

fn create<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target, body: &[u8]) -> ApiResult<Response> {
    let wire: W = parse(body, W::KIND)?;
    if W::KIND == "ConfigMap"
        && let Ok(v) = serde_json::from_slice::<Value>(body)
    {
        config_map_size(&v)?;
    }
    create_value::<S, W>(app, r, t, wire.into_stored(), StatusCode::CREATED)
}

fn create_value<S: Served, W: Wire<S>>(
    app: &App,
    r: &Req,
    t: &Target,
    mut obj: S,
    code: StatusCode,
) -> ApiResult<Response> {
    let mut w = app.world.lock();
    w.stamp();
    let meta = obj.metadata_mut();
    check_namespace(&w, t, meta)?;
    if meta.name.as_deref().unwrap_or_default().is_empty() && meta.generate_name.is_none() {
        return Err(ApiError::invalid(
            W::KIND,
            "",
            "metadata.name: Required value: name or generateName is required",
        ));
    }
    check_name(W::KIND, meta.name.as_deref().unwrap_or_default())?;
    if let Some(name) = &meta.name
        && S::table(&w)
            .get(&crate::sim::store::key_of(meta.namespace.as_deref(), name))
            .is_some()
    {
        return Err(ApiError::already_exists(t.res.plural, name));
    }
    meta.resource_version = None;
    w.stamp_new(obj.metadata_mut());
    admit_create(&mut w, &mut obj);
    let name = obj.metadata().name.clone().unwrap_or_default();
    <S as crate::sim::world::admission::Admit>::admit(&mut w, &mut obj, None)
        .map_err(|m| ApiError::invalid(W::KIND, &name, m))?;
    obj.admit(None).map_err(|m| {
        let name = obj.metadata().name.clone().unwrap_or_default();
        super::custom::invalid(t.res, &name, m)
    })?;
    let now = w.now;
    if r.query.dry_run {
        return Ok(object_response::<S, W>(r, now, &obj, code));
    }
    let stored = w.put(obj);
    w.reconcile();
    let stored = S::table(&w).get(&object_key(&*stored)).cloned().unwrap_or(stored);
    drop(w);
    Ok(object_response::<S, W>(r, now, &stored, code))
}

/// The API server refuses a ConfigMap whose keys and values (data and binaryData)
/// add up to more than 1 MiB, naming no field (k8s.io/kubernetes,
/// pkg/apis/core/validation: ValidateConfigMap).
fn config_map_size(v: &Value) -> ApiResult<()> {
    const MAX: usize = 1024 * 1024;
    let mut size = 0;
    for key in ["data", "binaryData"] {
        if let Some(m) = v[key].as_object() {
            for (k, val) in m {
                let len = match (key, val.as_str()) {
                    ("binaryData", Some(b64)) => b64.len() / 4 * 3,
                    (_, Some(s)) => s.len(),
                    _ => 0,
                };
                size += k.len() + len;
            }
        }
    }
    if size > MAX {
        let name = v["metadata"]["name"].as_str().unwrap_or_default();
        let cause = format!("Too long: may not be more than {MAX} bytes");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("ConfigMap \"{name}\" is invalid: []: {cause}"),
        )
        .with_details(json!({"name": name, "kind": "ConfigMap", "causes": [{"reason": "FieldValueTooLong", "message": cause, "field": "[]"}]})));
    }
    Ok(())
}

/// Names are DNS subdomains (namespaces: DNS labels), as the API server validates
/// them on create (k8s.io/apimachinery, util/validation).
fn check_name(kind: &str, name: &str) -> ApiResult<()> {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let (ok, what, regex, max) = if kind == "Namespace" {
        (label(name), "RFC 1123 label", "[a-z0-9]([-a-z0-9]*[a-z0-9])?", 63)
    } else {
        (
            name.len() <= 253 && name.split('.').all(label),
            "RFC 1123 subdomain",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
            253,
        )
    };
    if ok || name.is_empty() {
        return Ok(());
    }
    let cause = if name.len() > max {
        format!("Invalid value: \"{name}\": must be no more than {max} characters")
    } else {
        let example = if kind == "Namespace" {
            "my-name', or '123-abc"
        } else {
            "example.com"
        };
        format!(
            "Invalid value: \"{name}\": a lowercase {what} must consist of lower case alphanumeric characters, '-'{} and must start and end with an alphanumeric character (e.g. '{example}', regex used for validation is '{regex}')",
            if kind == "Namespace" { "," } else { " or '.'," }
        )
    };
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: metadata.name: {cause}"),
    )
    .with_details(json!({"name": name, "kind": kind, "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "metadata.name"}]})))
}

/// Whether a kind has a status subresource (the main resource then ignores status).
fn has_status(t: &Target) -> bool {
    t.res.subresources.contains(&"status")
}

/// Replaces an object with `new` (the body of a PUT, or a patched object), with the
/// apiserver's rules: optimistic concurrency, immutable metadata, status subresource,
/// generation bumps, and removal once a deleted object's finalizers are gone.
fn write<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target, mut new: Value, upsert: bool) -> ApiResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    if let Some(body_name) = new["metadata"]["name"].as_str()
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    new["metadata"]["name"] = json!(name);
    if W::KIND == "ConfigMap" {
        config_map_size(&new)?;
    }
    let mut w = app.world.lock();
    w.stamp();
    let Some(current) = S::table(&w).get(&t.key()).cloned() else {
        if upsert {
            drop(w);
            let obj: W = from_value(new, W::KIND)?;
            return create_value::<S, W>(app, r, t, obj.into_stored(), StatusCode::CREATED);
        }
        return Err(not_found(t));
    };
    let cur = to_value(&*W::to_wire(&current))?;
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != cur["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict(t.res.plural, &name));
    }
    let mut out = if t.sub.as_deref() == Some("status") {
        let mut o = cur.clone();
        o["status"] = new["status"].take();
        o
    } else {
        if has_status(t) {
            new["status"] = cur["status"].clone();
        }
        new
    };
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "generation",
    ] {
        out["metadata"][k] = cur["metadata"][k].clone();
    }
    if cur["metadata"]["generation"].is_number() && out.get("spec") != cur.get("spec") {
        out["metadata"]["generation"] = json!(cur["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
    }
    strip_nulls(&mut out["metadata"]);
    let wire: W = from_value(out, W::KIND)?;
    let mut obj = wire.into_stored();
    if t.sub.as_deref() != Some("status") {
        <S as crate::sim::world::admission::Admit>::admit(&mut w, &mut obj, Some(&current))
            .map_err(|m| ApiError::invalid(W::KIND, &name, m))?;
    }
    obj.admit(Some(&*current))
        .map_err(|m| super::custom::invalid(t.res, &name, m))?;
    let now = w.now;
    if r.query.dry_run {
        return Ok(object_response::<S, W>(r, now, &obj, StatusCode::OK));
    }
    let finished = obj.metadata().deletion_timestamp.is_some()
        && obj.metadata().finalizers.as_ref().is_none_or(|f| f.is_empty())
        && S::KIND != "Pod";
    let stored = if finished {
        let gone = w.remove::<S>(&t.key());
        gone.unwrap_or(current)
    } else {
        w.put(obj)
    };
    w.reconcile();
    drop(w);
    Ok(object_response::<S, W>(r, now, &stored, StatusCode::OK))
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
    }
}

fn patch<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target, body: &[u8]) -> ApiResult<Response> {
    let kind = PatchType::from_content_type(&r.content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {:?})", r.content_type),
        )
    })?;
    if kind == PatchType::StrategicMerge && matches!(t.res.which, super::resources::Which::Custom(_)) {
        // custom resources have no merge keys: the apiserver refuses strategic merge
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    let current = {
        let w = app.world.lock();
        S::table(&w).get(&t.key()).cloned()
    };
    let Some(current) = current else {
        if kind == PatchType::Apply {
            let mut v = json!({});
            patch::apply(kind, &mut v, body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            return write::<S, W>(app, r, t, v, true);
        }
        return Err(not_found(t));
    };
    let mut v = to_value(&*W::to_wire(&current))?;
    let before_rv = v["metadata"]["resourceVersion"].clone();
    patch::apply(kind, &mut v, body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e.to_string()))?;
    // a patch that does not name a resourceVersion applies to the current one
    if v["metadata"]["resourceVersion"].is_null() {
        v["metadata"]["resourceVersion"] = before_rv;
    }
    write::<S, W>(app, r, t, v, false)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    preconditions: Option<Preconditions>,
    dry_run: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

fn delete<S: Served, W: Wire<S>>(app: &App, r: &Req, t: &Target, body: &[u8]) -> ApiResult<Response> {
    let opts: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        parse(body, "DeleteOptions")?
    };
    let grace = opts.grace_period_seconds.or(r.query.grace_period);
    let mut w = app.world.lock();
    w.stamp();
    let key = t.key();
    let current = S::table(&w).get(&key).cloned().ok_or_else(|| not_found(t))?;
    let name = t.name.clone().unwrap_or_default();
    if let Some(p) = &opts.preconditions {
        // as the API server's delete checks them (k8s.io/apiserver, registry/rest
        // BeforeDelete): the object's Kind, not its resource, names it
        let meta = current.metadata();
        let failed = |what: &str, want: &str, have: &str, then: &str| {
            ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the {what} in the precondition ({want}) does not match the {what} in record ({have}). The object might have been {then}",
                    S::KIND
                ),
            )
            .with_details(json!({"name": name, "kind": S::KIND}))
        };
        if let Some(u) = p.uid.as_ref().filter(|u| Some(*u) != meta.uid.as_ref()) {
            let have = meta.uid.clone().unwrap_or_default();
            return Err(failed("UID", u, &have, "deleted and then recreated"));
        }
        if let Some(v) = p
            .resource_version
            .as_ref()
            .filter(|v| Some(*v) != meta.resource_version.as_ref())
        {
            let have = meta.resource_version.clone().unwrap_or_default();
            return Err(failed("ResourceVersion", v, &have, "modified"));
        }
    }
    let now = w.now;
    if r.query.dry_run || opts.dry_run.is_some_and(|d| !d.is_empty()) {
        return Ok(object_response::<S, W>(r, now, &current, StatusCode::OK));
    }
    let _ = opts.propagation_policy;
    let last: Arc<S> = match S::KIND {
        "Pod" => {
            let gone = crate::sim::world::delete_pod(&mut w, &key, grace);
            let pod: Option<Arc<S>> = gone.and_then(|p| {
                let v = serde_json::to_value(&*p).ok()?;
                serde_json::from_value::<S>(v).ok().map(Arc::new)
            });
            pod.unwrap_or(current)
        }
        "Namespace" => {
            let mut ns: Namespace = from_value(to_value(&*current)?, "Namespace")?;
            ns.metadata.deletion_timestamp = Some(Time(now));
            ns.status = Some(NamespaceStatus {
                phase: Some("Terminating".into()),
                ..Default::default()
            });
            crate::sim::world::delete_namespace(&mut w, &key);
            let v = to_value(&ns)?;
            Arc::new(from_value::<S>(v, "Namespace")?)
        }
        _ => {
            if current.metadata().finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
                let mut o = (*current).clone();
                if o.metadata().deletion_timestamp.is_none() {
                    o.metadata_mut().deletion_timestamp = Some(Time(now));
                }
                w.put(o)
            } else {
                w.remove::<S>(&key).unwrap_or(current)
            }
        }
    };
    w.reconcile();
    drop(w);
    Ok(object_response::<S, W>(r, now, &last, StatusCode::OK))
}

fn delete_collection<S: Served>(app: &App, r: &Req, t: &Target) -> ApiResult<Response> {
    let sel = Selectors::parse::<S>(r, t)?;
    let mut w = app.world.lock();
    w.stamp();
    let keys: Vec<String> = match &t.namespace {
        Some(ns) => S::table(&w)
            .in_namespace(ns)
            .filter(|(_, o)| sel.matches(&***o))
            .map(|(k, _)| k.clone())
            .collect(),
        None => S::table(&w)
            .items()
            .iter()
            .filter(|(_, o)| sel.matches(&***o))
            .map(|(k, _)| k.clone())
            .collect(),
    };
    for k in keys {
        if S::KIND == "Pod" {
            crate::sim::world::delete_pod(&mut w, &k, r.query.grace_period);
        } else if let Some(o) = S::table(&w)
            .get(&k)
            .filter(|o| o.metadata().finalizers.as_ref().is_some_and(|f| !f.is_empty()))
            .cloned()
        {
            // finalizers hold the object: it only gets its deletion timestamp
            if o.metadata().deletion_timestamp.is_none() {
                let mut o = (*o).clone();
                o.metadata_mut().deletion_timestamp = Some(w.time());
                w.put(o);
            }
        } else {
            w.remove::<S>(&k);
        }
    }
    w.reconcile();
    Ok(success(StatusCode::OK))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Eviction {
    metadata: Option<ObjectMeta>,
    delete_options: Option<DeleteOptions>,
}

fn evict(app: &App, t: &Target, body: &[u8]) -> ApiResult<Response> {
    let ev: Eviction = parse(body, "Eviction")?;
    let name = t.name.clone().unwrap_or_default();
    if let Some(n) = ev.metadata.as_ref().and_then(|m| m.name.as_deref())
        && n != name
    {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let grace = ev.delete_options.and_then(|o| o.grace_period_seconds);
    let mut w = app.world.lock();
    w.stamp();
    let verdict = w.evict(&t.key(), grace);
    w.reconcile();
    drop(w);
    match verdict {
        EvictionVerdict::Evicted => Ok(success(StatusCode::CREATED)),
        EvictionVerdict::NotFound => Err(ApiError::not_found("pods", &name)),
        EvictionVerdict::Blocked { cause, .. } => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        )
        .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}))),
        // the API server gives this one no reason
        EvictionVerdict::MultiplePdbs => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )),
    }
}

/// `SelfSubjectAccessReview`: answers truthfully what the caller may do.
pub fn access_review(r: &Req, verb: &str, body: Bytes) -> ApiResult<Response> {
    if verb != "create" {
        return Err(ApiError::method_not_allowed(
            "only create is allowed on selfsubjectaccessreviews",
        ));
    }
    let mut review: Value = if super::protobuf::is_protobuf(&body) {
        super::protobuf::access_review(&body)?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("error decoding SelfSubjectAccessReview: {e}")))?
    };
    let attrs = &review["spec"]["resourceAttributes"];
    let asked = attrs["verb"]
        .as_str()
        .or_else(|| review["spec"]["nonResourceAttributes"]["verb"].as_str())
        .unwrap_or_default()
        .to_string();
    let resource = attrs["resource"].as_str().unwrap_or_default();
    let namespace = attrs["namespace"].as_str().filter(|n| !n.is_empty());
    let allowed = asked != "*" && r.identity.allows(&asked, resource, namespace)
        || (asked == "*" && !r.identity.read_only && r.identity.hidden.is_empty());
    let reason = if allowed {
        format!("user \"{}\" may {asked}", r.identity.name)
    } else {
        format!("user \"{}\" may not {asked} {resource}", r.identity.name)
    };
    review["status"] = json!({"allowed": allowed, "reason": reason});
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    Ok(json_response(
        StatusCode::CREATED,
        serde_json::to_vec(&review).unwrap_or_default(),
    ))
}

/// `SelfSubjectReview`: who the caller is (`kubectl auth whoami`).
pub fn self_review(r: &Req, verb: &str) -> ApiResult<Response> {
    if verb != "create" {
        return Err(ApiError::method_not_allowed(
            "only create is allowed on selfsubjectreviews",
        ));
    }
    let body = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": r.identity.name, "groups": r.identity.groups}},
    });
    Ok(json_response(
        StatusCode::CREATED,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_the_api_server_checks_them() {
        assert!(check_name("ConfigMap", "upshift-rollout").is_ok());
        assert!(check_name("Node", "ip-10-0-1-11.ec2.internal").is_ok());
        let e = check_name("ConfigMap", "Bad_Name").unwrap_err();
        assert_eq!(e.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.message.starts_with(
                "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
            ),
            "{}",
            e.message
        );
        assert!(check_name("Namespace", "a.b").is_err(), "namespaces are labels");
        assert!(check_name("Namespace", &"a".repeat(64)).is_err());
    }

    #[test]
    fn a_config_map_over_one_mebibyte_is_refused() {
        let fits = json!({"metadata": {"name": "m"}, "data": {"k": "x".repeat(1024 * 1024 - 1)}});
        assert!(config_map_size(&fits).is_ok());
        let over = json!({"metadata": {"name": "m"}, "data": {"k": "x".repeat(1024 * 1024)}});
        let e = config_map_size(&over).unwrap_err();
        assert_eq!(e.reason, "Invalid");
        assert_eq!(
            e.message,
            "ConfigMap \"m\" is invalid: []: Too long: may not be more than 1048576 bytes"
        );
        assert_eq!(e.details.unwrap()["causes"][0]["reason"], "FieldValueTooLong");
    }
}
