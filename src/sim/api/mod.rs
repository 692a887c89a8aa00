//! The simulator's Kubernetes API server over HTTP: routing of the REST paths,
//! bearer-token identities (`lead` may do everything, `viewer` only reads), request
//! counting by identity and verb, and dispatch to the generic verbs per kind.

pub mod admin;
pub mod counts;
pub mod custom;
pub mod faults;
pub mod handlers;
pub mod kinds;
mod logs;
pub mod patch;
mod protobuf;
pub mod resources;
mod scale;
pub mod selector;
pub mod status;
pub mod table;
pub mod watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret};
use k8s_openapi::api::core::v1::{Endpoints, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1 as events_v1;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use parking_lot::Mutex;
use serde::Serialize;

use self::resources::{Resource, Which};
use self::status::{ApiError, ApiResult, json_response};
use super::world::World;

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
    /// May only get, list and watch.
    pub read_only: bool,
    /// Resources it may not read at all (as RBAC without a rule for them).
    pub hidden: &'static [&'static str],
    /// Resources it may read only inside a namespace, not cluster-wide.
    pub namespaced_only: &'static [&'static str],
}

impl Identity {
    pub fn may(&self, verb: &str) -> bool {
        !self.read_only || matches!(verb, "get" | "list" | "watch")
    }

    /// Whether RBAC lets it use `verb` on `resource` (in `namespace`, or cluster-wide).
    pub fn allows(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        let base = resource.split('/').next().unwrap_or(resource);
        self.may(verb) && !self.hidden.contains(&base) && (namespace.is_some() || !self.namespaced_only.contains(&base))
    }
}

/// Requests seen, by identity, then by verb (`get`, `list`, `watch`, `create`,
/// `update`, `patch`, `delete`, `deletecollection`), then by resource.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RequestCounts(pub BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>);

pub const MUTATING_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

impl RequestCounts {
    fn add(&mut self, who: &str, verb: &str, resource: &str) {
        *self
            .0
            .entry(who.into())
            .or_default()
            .entry(verb.into())
            .or_default()
            .entry(resource.into())
            .or_default() += 1;
    }

    /// Requests of `who` with `verb`, over all resources.
    pub fn count(&self, who: &str, verb: &str) -> u64 {
        self.0
            .get(who)
            .and_then(|v| v.get(verb))
            .map(|r| r.values().sum())
            .unwrap_or(0)
    }

    /// Requests of `who` that would change something (allowed or not), excluding
    /// access reviews, which only ask.
    pub fn mutating(&self, who: &str) -> u64 {
        let Some(verbs) = self.0.get(who) else { return 0 };
        MUTATING_VERBS
            .iter()
            .filter_map(|v| verbs.get(*v))
            .flat_map(|r| r.iter())
            .filter(|(res, _)| !res.starts_with("selfsubject"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The API server's shared state.
pub struct App {
    pub world: Arc<Mutex<World>>,
    pub tokens: HashMap<String, Identity>,
    pub counts: Mutex<RequestCounts>,
    /// Bumped to end every open watch (fault injection: dropped watches).
    pub drops: tokio::sync::watch::Sender<u64>,
    pub bookmark_interval: Duration,
    pub server_url: String,
    /// Requests seen by identity and user agent.
    pub agents: Mutex<counts::AgentCounts>,
    /// Faults injected on purpose (`/sim/faults`).
    pub faults: Mutex<faults::FaultState>,
}

/// The parts of a request the handlers need.
pub struct Req {
    pub identity: Identity,
    pub method: Method,
    pub accept: String,
    pub content_type: String,
    pub query: Query,
    /// The query string as sent, for subresources with options of their own.
    pub raw_query: String,
}

impl Req {
    pub fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }
}

/// A request aimed at a resource.
#[derive(Clone, Debug)]
pub struct Target {
    pub res: &'static Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    pub fn key(&self) -> String {
        super::store::key_of(self.namespace.as_deref(), self.name.as_deref().unwrap_or_default())
    }
}

/// Query parameters of the Kubernetes API.
#[derive(Default, Debug)]
pub struct Query {
    pub label_selector: String,
    pub field_selector: String,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub watch: bool,
    pub allow_bookmarks: bool,
    pub timeout_seconds: Option<u64>,
    pub send_initial_events: bool,
    pub include_object: Option<String>,
    pub dry_run: bool,
    pub grace_period: Option<i64>,
    pub propagation: Option<String>,
}

impl Query {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let flag = || v == "true" || v == "1";
            match k.as_ref() {
                "labelSelector" => q.label_selector = v.into_owned(),
                "fieldSelector" => q.field_selector = v.into_owned(),
                "limit" => {
                    let n: usize = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit: invalid value {v:?}: must be a non-negative integer"))
                    })?;
                    q.limit = (n > 0).then_some(n);
                }
                "continue" => q.continue_token = Some(v.into_owned()).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v.into_owned()),
                "watch" => q.watch = flag(),
                "allowWatchBookmarks" => q.allow_bookmarks = flag(),
                "timeoutSeconds" => q.timeout_seconds = v.parse().ok(),
                "sendInitialEvents" => q.send_initial_events = flag(),
                "includeObject" => q.include_object = Some(v.into_owned()),
                "dryRun" => q.dry_run = !v.is_empty(),
                "gracePeriodSeconds" => q.grace_period = v.parse().ok(),
                "propagationPolicy" => q.propagation = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }
}

enum Route {
    Version,
    Api,
    Apis,
    Group(String),
    Resources(String, String),
    Target(Target),
    Health,
}

/// Parses a Kubernetes API path.
fn route(path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => return Ok(Route::Health),
        ["api"] => return Ok(Route::Api),
        ["apis"] => return Ok(Route::Apis),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["api", v] => return Ok(Route::Resources(String::new(), v.to_string())),
        ["apis", g, v] => return Ok(Route::Resources(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    let namespaced_plural = |p: &str| resources::find(group, version, p).filter(|r| r.namespaced);
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced_plural(plural).is_some() => (
            Some(ns.to_string()),
            *plural,
            tail.first().copied(),
            tail.get(1).copied(),
        ),
        [plural, tail @ ..] => (None, *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return Err(not_found()),
    };
    if rest.len() > 5 {
        return Err(not_found());
    }
    let res = resources::find(group, version, plural).ok_or_else(not_found)?;
    if let Some(s) = sub
        && !res.subresources.contains(&s)
    {
        return Err(not_found());
    }
    Ok(Route::Target(Target {
        res,
        namespace,
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
    }))
}

fn verb_of(method: &Method, target: &Target, query: &Query) -> &'static str {
    match *method {
        Method::GET if target.name.is_some() => "get",
        Method::GET if query.watch => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if target.name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

fn identity_of(app: &App, req: &Request) -> Option<Identity> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = auth.strip_prefix("Bearer ")?.trim();
    app.tokens.get(token).cloned()
}

fn header_str(req: &Request, h: header::HeaderName) -> String {
    req.headers()
        .get(h)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn json_of<T: Serialize>(v: &T) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(v).unwrap_or_default())
}

/// The one handler behind every path.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let mut resp = if path.starts_with("/sim/") || path == "/sim" {
        admin::handle(app.clone(), req).await
    } else {
        match serve(app.clone(), req).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    };
    // the simulated cluster's own time, as a real API server tells its own
    let now = app.world.lock().clock.now();
    let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&now);
    if let Ok(v) = date.map_err(|e| e.to_string()).and_then(|d| d.parse().map_err(|_| d)) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

async fn serve(app: Arc<App>, req: Request) -> ApiResult<Response> {
    let identity = identity_of(&app, &req).ok_or_else(ApiError::unauthorized)?;
    let agent = counts::agent_of(req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()));
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let query = Query::parse(&raw_query)?;
    let path = req.uri().path().to_string();
    let route = route(&path)?;
    let target = match route {
        Route::Target(t) => t,
        other => {
            app.counts.lock().add(&identity.name, "get", "discovery");
            app.agents.lock().add(&identity.name, &agent, "get", "discovery");
            let fault = app.faults.lock().decide("get", "discovery");
            if let Some(d) = fault.delay {
                tokio::time::sleep(d).await;
            }
            if let Some(code) = fault.error {
                return Err(faults::error_for(code));
            }
            return Ok(match other {
                Route::Version => {
                    let minor = app.world.lock().cluster.version.clone();
                    json_of(&version_info(&minor))
                }
                Route::Health => (StatusCode::OK, "ok").into_response(),
                Route::Api => json_of(&resources::api_versions(&app.server_url)),
                Route::Apis => json_of(&custom::api_group_list(&app.world.lock())),
                Route::Group(g) => match custom::api_group(&app.world.lock(), &g) {
                    Some(doc) => json_of(&doc),
                    None => {
                        return Err(ApiError::new(
                            StatusCode::NOT_FOUND,
                            "NotFound",
                            "the server could not find the requested resource",
                        ));
                    }
                },
                Route::Resources(g, v) => match custom::resource_list(&app.world.lock(), &g, &v) {
                    Some(doc) => json_of(&doc),
                    None => {
                        return Err(ApiError::new(
                            StatusCode::NOT_FOUND,
                            "NotFound",
                            "the server could not find the requested resource",
                        ));
                    }
                },
                Route::Target(_) => unreachable_target(),
            });
        }
    };
    custom::check_served(&app, &target)?;
    let verb = verb_of(req.method(), &target, &query);
    let resource_name = match &target.sub {
        Some(s) => format!("{}/{s}", target.res.plural),
        None => target.res.plural.to_string(),
    };
    app.counts.lock().add(&identity.name, verb, &resource_name);
    app.agents.lock().add(&identity.name, &agent, verb, &resource_name);
    let fault = app.faults.lock().decide(verb, &resource_name);
    if let Some(d) = fault.delay {
        tokio::time::sleep(d).await;
    }
    if let Some(code) = fault.error {
        return Err(faults::error_for(code));
    }
    let review = matches!(target.res.which, Which::AccessReview | Which::SelfReview);
    if !review && !identity.allows(verb, &resource_name, target.namespace.as_deref()) {
        return Err(ApiError::forbidden(
            &identity.name,
            verb,
            &resource_name,
            target.name.as_deref(),
            target.res.group,
            target.namespace.as_deref(),
        ));
    }
    if target.res.namespaced && target.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let (accept, content_type) = (header_str(&req, header::ACCEPT), header_str(&req, header::CONTENT_TYPE));
    let r = Req {
        accept,
        content_type,
        method: req.method().clone(),
        identity,
        query,
        raw_query,
    };
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let resp = dispatch(app.clone(), r, target, verb, body).await;
    if fault.drop_reply
        && let Ok(ok) = &resp
        && ok.status().is_success()
    {
        app.faults.lock().dropped();
        let mut ok = resp?;
        ok.extensions_mut().insert(faults::DropReply);
        return Ok(ok);
    }
    resp
}

/// Serves a request to one resource.
async fn dispatch(app: Arc<App>, r: Req, target: Target, verb: &str, body: bytes::Bytes) -> ApiResult<Response> {
    use handlers::serve as s;
    if target.sub.as_deref() == Some("scale") {
        return scale::serve(&app, &target, verb, body);
    }
    if target.sub.as_deref() == Some("log") {
        if verb != "get" {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({verb})"
            )));
        }
        return logs::serve(&app, &r.raw_query, &target);
    }
    match target.res.which {
        Which::Namespace => s::<Namespace, Namespace>(&app, &r, &target, verb, body).await,
        Which::Node => s::<Node, Node>(&app, &r, &target, verb, body).await,
        Which::Pod => s::<Pod, Pod>(&app, &r, &target, verb, body).await,
        Which::Event => s::<Event, Event>(&app, &r, &target, verb, body).await,
        Which::EventV1 => s::<Event, events_v1::Event>(&app, &r, &target, verb, body).await,
        Which::Pdb => s::<PodDisruptionBudget, PodDisruptionBudget>(&app, &r, &target, verb, body).await,
        Which::Deployment => s::<Deployment, Deployment>(&app, &r, &target, verb, body).await,
        Which::ReplicaSet => s::<ReplicaSet, ReplicaSet>(&app, &r, &target, verb, body).await,
        Which::DaemonSet => s::<DaemonSet, DaemonSet>(&app, &r, &target, verb, body).await,
        Which::ConfigMap => s::<ConfigMap, ConfigMap>(&app, &r, &target, verb, body).await,
        Which::Secret => s::<Secret, Secret>(&app, &r, &target, verb, body).await,
        Which::Lease => s::<Lease, Lease>(&app, &r, &target, verb, body).await,
        Which::Service => s::<Service, Service>(&app, &r, &target, verb, body).await,
        Which::Endpoints => s::<Endpoints, Endpoints>(&app, &r, &target, verb, body).await,
        Which::EndpointSlice => s::<EndpointSlice, EndpointSlice>(&app, &r, &target, verb, body).await,
        Which::StatefulSet => s::<StatefulSet, StatefulSet>(&app, &r, &target, verb, body).await,
        Which::ControllerRevision => s::<ControllerRevision, ControllerRevision>(&app, &r, &target, verb, body).await,
        Which::Pvc => s::<PersistentVolumeClaim, PersistentVolumeClaim>(&app, &r, &target, verb, body).await,
        Which::Pv => s::<PersistentVolume, PersistentVolume>(&app, &r, &target, verb, body).await,
        Which::StorageClass => s::<StorageClass, StorageClass>(&app, &r, &target, verb, body).await,
        Which::AccessReview => handlers::access_review(&r, verb, body),
        Which::SelfReview => handlers::self_review(&r, verb),
        Which::Custom(kind) => custom::serve(&app, &r, &target, verb, body, kind).await,
    }
}

fn unreachable_target() -> Response {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "routing error").into_response()
}

/// `/version` for a control plane on `minor`.
pub fn version_info(minor: &str) -> serde_json::Value {
    let git = super::world::eks_version(minor);
    let (major, min) = match crate::units::Minor::parse(minor) {
        Some(m) => (m.major.to_string(), m.minor.to_string()),
        None => ("1".to_string(), minor.to_string()),
    };
    serde_json::json!({
        "major": major,
        "minor": format!("{min}+"),
        "gitVersion": git,
        "gitCommit": format!("{:040x}", u128::from(super::world::fnv(git.as_bytes()))),
        "gitTreeState": "clean",
        "buildDate": "2026-10-01T00:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// A streaming body from a channel of chunks.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match route(path) {
            Ok(Route::Target(t)) => t,
            _ => panic!("{path} is not a resource path"),
        }
    }

    #[test]
    fn routes_kubernetes_paths() {
        let t = target("/api/v1/namespaces/shop/pods/web-1/eviction");
        assert_eq!(
            (
                t.res.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("pods", Some("shop"), Some("web-1"), Some("eviction"))
        );
        let t = target("/api/v1/namespaces/shop");
        assert_eq!(
            (t.res.plural, t.namespace, t.name.as_deref()),
            ("namespaces", None, Some("shop"))
        );
        let t = target("/api/v1/pods");
        assert_eq!((t.res.plural, t.namespace, t.name), ("pods", None, None));
        let t = target("/apis/policy/v1/namespaces/a/poddisruptionbudgets");
        assert_eq!(t.res.kind, "PodDisruptionBudget");
        let t = target("/api/v1/nodes/n1/status");
        assert_eq!(t.sub.as_deref(), Some("status"));
        assert!(route("/api/v1/nodes/n1/eviction").is_err());
        assert!(route("/apis/batch/v1/jobs").is_err());
        assert!(matches!(route("/version"), Ok(Route::Version)));
    }

    #[test]
    fn counts_mutations_per_identity() {
        let mut c = RequestCounts::default();
        c.add("viewer", "list", "pods");
        c.add("viewer", "create", "selfsubjectaccessreviews");
        c.add("lead", "patch", "nodes");
        c.add("lead", "create", "pods/eviction");
        assert_eq!(c.mutating("viewer"), 0);
        assert_eq!(c.mutating("lead"), 2);
        assert_eq!(c.count("viewer", "list"), 1);
    }
}
