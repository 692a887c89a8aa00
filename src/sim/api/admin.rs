//! The simulator's own endpoints under `/sim/`, beside the Kubernetes API: request
//! counts (to prove a client never wrote), the virtual clock, and fault injection
//! (expire watch history, drop open watches, make a node NotReady, end an instance).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::App;
use super::status::{ApiError, json_response};
use crate::sim::world;

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
        (Method::GET, ["requests"]) => ok(json!(*app.counts.lock())),
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
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no simulator endpoint {} {path}; see docs/simulator.md", req.method()),
        )
        .into_response(),
    }
}
