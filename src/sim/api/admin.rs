//! The simulator's own endpoints under `/sim/`, beside the Kubernetes API: request
//! counts (to prove a client never wrote; by identity, or by identity and user
//! agent), the virtual clock, and fault injection (the API's faults, expire watch
//! history, drop open watches, make a node NotReady, end an instance, publish an AMI
//! release that Karpenter's `@latest` aliases drift to).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::App;
use super::status::{ApiError, json_response};
use crate::sim::scenario::api_faults::ApiFaults;
use crate::sim::world;

/// The faults in force and what was injected so far.
fn faults_doc(app: &App) -> serde_json::Value {
    let f = app.faults.lock();
    let mut doc = serde_json::to_value(f.config()).unwrap_or_else(|_| json!({}));
    doc["injected"] = json!(f.injected);
    doc
}

/// The body of `POST /sim/faults`: the faults to set (empty: none).
fn parse_faults(body: &[u8]) -> Result<ApiFaults, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ApiFaults::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let f: ApiFaults = serde_path_to_error::deserialize(de)
        .map_err(|e| format!("/sim/faults: {}: {} (see docs/simulator.md)", e.path(), e.inner()))?;
    f.check()
        .map_err(|(path, message)| format!("/sim/faults: {path}: {message} (see docs/simulator.md)"))?;
    Ok(f)
}

fn ok(v: serde_json::Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default())
}

pub async fn handle(app: Arc<App>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let segs: Vec<&str> = path.trim_start_matches("/sim/").split('/').collect();
    match (req.method().clone(), segs.as_slice()) {
        (Method::GET, ["requests"]) if param("by").as_deref() == Some("agent") => ok(json!(*app.agents.lock())),
        (Method::GET, ["requests"]) => ok(json!(*app.counts.lock())),
        (Method::GET, ["faults"]) => ok(faults_doc(&app)),
        (Method::POST, ["faults"]) => {
            let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
                Ok(b) => b,
                Err(e) => return ApiError::bad_request(format!("reading the body: {e}")).into_response(),
            };
            match parse_faults(&body) {
                Ok(f) => {
                    app.faults.lock().set(f);
                    ok(faults_doc(&app))
                }
                Err(message) => ApiError::bad_request(message).into_response(),
            }
        }
        (Method::POST, ["compact"]) => {
            let mut w = app.world.lock();
            w.compact();
            ok(json!({"compactedTo": w.resource_version()}))
        }
        (Method::POST, ["drop-watches"]) => {
            app.drops.send_modify(|n| *n += 1);
            ok(json!({"dropped": true}))
        }
        (Method::GET, ["clock"]) => {
            let w = app.world.lock();
            ok(json!({"now": w.clock.now().to_string(), "speed": w.clock.speed()}))
        }
        (Method::POST, ["clock"]) => {
            let mut w = app.world.lock();
            if let Some(s) = param("speed").and_then(|s| s.parse::<f64>().ok()) {
                w.clock.set_speed(s);
            }
            if let Some(a) = param("advance").and_then(|s| s.parse::<f64>().ok())
                && a.is_finite()
                && a > 0.0
            {
                w.clock.advance(Duration::from_secs_f64(a));
            }
            w.tick();
            ok(json!({"now": w.clock.now().to_string(), "speed": w.clock.speed()}))
        }
        (Method::POST, ["nodes", node, "ready"]) => {
            let ready = param("value").is_none_or(|v| v != "false");
            let mut w = app.world.lock();
            w.stamp();
            let (reason, msg) = if ready {
                ("KubeletReady", "kubelet is posting ready status")
            } else {
                (
                    "KubeletNotReady",
                    "PLEG is not healthy: pleg was last seen active 3m0s ago",
                )
            };
            if world::set_node_ready(&mut w, node, ready, reason, msg) {
                w.reconcile();
                ok(json!({"node": node, "ready": ready}))
            } else {
                ApiError::not_found("nodes", node).into_response()
            }
        }
        (Method::POST, ["amis", "release"]) => {
            let family = param("family").unwrap_or_else(|| "al2023".into());
            let Some(release) = param("release") else {
                return ApiError::bad_request("give ?release=vYYYYMMDD (and &family=al2023|al2|bottlerocket|eks-auto)")
                    .into_response();
            };
            let mut w = app.world.lock();
            match w.karpenter.release_ami(&family, &release) {
                Ok(releases) => ok(json!({"family": family, "latest": release, "releases": releases})),
                Err(e) => ApiError::bad_request(e).into_response(),
            }
        }
        (Method::POST, ["instances", id, "terminate"]) => {
            let replace = param("replace").is_none_or(|v| v != "false");
            let mut w = app.world.lock();
            w.stamp();
            if world::terminate_instance(&mut w, id, replace) {
                w.reconcile();
                ok(json!({"instance": id, "terminating": true}))
            } else {
                ApiError::new(StatusCode::NOT_FOUND, "NotFound", format!("instance {id} not found")).into_response()
            }
        }
        (Method::GET, ["aws-faults"]) => ok(app.world.lock().aws.faults.to_json()),
        (Method::POST, ["aws-faults"]) => aws_faults(&app, req).await,
        (Method::GET, ["lifecycle-actions"]) => {
            // what a hook's notification target would receive: the tokens to complete with
            let w = app.world.lock();
            let actions: Vec<serde_json::Value> = w
                .aws
                .lifecycle
                .actions
                .iter()
                .map(|a| {
                    json!({
                        "AutoScalingGroupName": a.asg, "LifecycleHookName": a.hook,
                        "EC2InstanceId": a.instance, "LifecycleActionToken": a.token,
                        "LifecycleTransition": a.transition.as_str(),
                        "heartbeatDeadline": a.deadline.to_string(), "globalDeadline": a.global_deadline.to_string(),
                    })
                })
                .collect();
            ok(json!(actions))
        }
        (Method::GET, ["pods-lost"]) => {
            let w = app.world.lock();
            let lost = &w.aws.lifecycle.pods_lost;
            ok(json!({"count": lost.count, "recent": lost.recent}))
        }
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no simulator endpoint {} {path}; see docs/simulator.md", req.method()),
        )
        .into_response(),
    }
}

/// `POST /sim/aws-faults` with `{"seed": 7, "rules": [{"operation": "DescribeUpdate",
/// "throttle": 0.3, "serverError": 0.05}], "throttleNext": 0}`: replaces the AWS
/// fault rates (the counts of faults injected stay).
async fn aws_faults(app: &App, req: Request) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        seed: Option<u64>,
        #[serde(default)]
        rules: Vec<crate::sim::scenario::aws::AwsFaultRule>,
        #[serde(default)]
        throttle_next: Option<u32>,
    }
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", m).into_response();
    let bytes = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(e) => return bad(format!("cannot read the body: {e}")),
    };
    let body: Body = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return bad(format!(
                "the body is not AWS fault rates ({{\"seed\": N, \"rules\": [{{\"operation\": \"DescribeUpdate\", \"throttle\": 0.3, \"serverError\": 0.05}}]}}): {e}"
            ));
        }
    };
    let spec = crate::sim::scenario::aws::AwsFaultsSpec {
        seed: body.seed,
        rules: body.rules,
    };
    for (i, r) in spec.rules.iter().enumerate() {
        if !(0.0..=1.0).contains(&r.throttle) || !(0.0..=1.0).contains(&r.server_error) {
            return bad(format!("rules[{i}]: rates are between 0 and 1"));
        }
    }
    let mut w = app.world.lock();
    let seed = w.aws.faults.seed;
    w.aws.faults.set(&spec, seed);
    if let Some(n) = body.throttle_next {
        w.aws.faults.throttle_next = n;
    }
    ok(w.aws.faults.to_json())
}
