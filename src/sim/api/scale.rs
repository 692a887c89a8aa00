//! The `deployments/scale` subresource (autoscaling/v1 `Scale`), which `kubectl
//! scale` reads and patches.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use super::status::{ApiError, ApiResult, json_response};
use super::{App, Target};

fn scale_of(d: &Deployment) -> Value {
    let selector = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|l| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": d.metadata.name,
            "namespace": d.metadata.namespace,
            "uid": d.metadata.uid,
            "resourceVersion": d.metadata.resource_version,
            "creationTimestamp": d.metadata.creation_timestamp,
        },
        "spec": {"replicas": d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)},
        "status": {
            "replicas": d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// get, update or patch of a Deployment's scale.
pub fn serve(app: &App, t: &Target, verb: &str, body: Bytes) -> ApiResult<Response> {
    let key = t.key();
    let mut w = app.world.lock();
    let Some(current) = w.get::<Deployment>(&key) else {
        return Err(ApiError::not_found("deployments.apps", t.name.as_deref().unwrap_or("")));
    };
    let reply = |d: &Deployment| json_response(StatusCode::OK, serde_json::to_vec(&scale_of(d)).unwrap_or_default());
    match verb {
        "get" => Ok(reply(&current)),
        "update" | "patch" => {
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?;
            // a merge or strategic patch and a whole Scale both carry spec.replicas
            let replicas = doc
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::bad_request("spec.replicas: a non-negative integer is required"))?;
            let mut d: Deployment = (*current).clone();
            if let Some(spec) = d.spec.as_mut()
                && spec.replicas != Some(replicas)
            {
                spec.replicas = Some(replicas);
                d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
            }
            w.stamp();
            let stored = w.put(d);
            w.reconcile();
            Ok(reply(&stored))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only get, update and patch are allowed on deployments/scale",
        )),
    }
}
