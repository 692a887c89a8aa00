//! The `scale` subresource (autoscaling/v1 `Scale`) of Deployments and
//! StatefulSets, which `kubectl scale` reads and patches.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::{Value, json};

use super::resources::Which;
use super::status::{ApiError, ApiResult, json_response};
use super::{App, Target};
use crate::sim::world::{Stored, World};

/// A kind with replicas that can be scaled.
trait Scalable: Stored {
    const RESOURCE: &'static str;
    fn replicas(&self) -> i32;
    fn set_replicas(&mut self, n: i32);
    fn status_replicas(&self) -> i32;
    fn selector(&self) -> Option<&LabelSelector>;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
}

impl Scalable for Deployment {
    const RESOURCE: &'static str = "deployments.apps";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn set_replicas(&mut self, n: i32) {
        if let Some(s) = self.spec.as_mut() {
            s.replicas = Some(n);
        }
    }
    fn status_replicas(&self) -> i32 {
        self.status.as_ref().and_then(|s| s.replicas).unwrap_or(0)
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Scalable for StatefulSet {
    const RESOURCE: &'static str = "statefulsets.apps";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn set_replicas(&mut self, n: i32) {
        if let Some(s) = self.spec.as_mut() {
            s.replicas = Some(n);
        }
    }
    fn status_replicas(&self) -> i32 {
        self.status.as_ref().map(|s| s.replicas).unwrap_or(0)
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn scale_of<T: Scalable>(o: &T) -> Value {
    let selector = o
        .selector()
        .and_then(|s| s.match_labels.as_ref())
        .map(|l| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let m = o.meta();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.name,
            "namespace": m.namespace,
            "uid": m.uid,
            "resourceVersion": m.resource_version,
            "creationTimestamp": m.creation_timestamp,
        },
        "spec": {"replicas": o.replicas()},
        "status": {
            "replicas": o.status_replicas(),
            "selector": selector,
        },
    })
}

/// get, update or patch of a Deployment's or StatefulSet's scale.
pub fn serve(app: &App, t: &Target, verb: &str, body: Bytes) -> ApiResult<Response> {
    let mut w = app.world.lock();
    match t.res.which {
        Which::StatefulSet => scale::<StatefulSet>(&mut w, t, verb, body),
        _ => scale::<Deployment>(&mut w, t, verb, body),
    }
}

fn scale<T: Scalable>(w: &mut World, t: &Target, verb: &str, body: Bytes) -> ApiResult<Response> {
    let key = t.key();
    let Some(current) = w.get::<T>(&key) else {
        return Err(ApiError::not_found(T::RESOURCE, t.name.as_deref().unwrap_or("")));
    };
    let reply = |o: &T| json_response(StatusCode::OK, serde_json::to_vec(&scale_of(o)).unwrap_or_default());
    match verb {
        "get" => Ok(reply(&current)),
        "update" | "patch" => {
            if super::protobuf::is_protobuf(&body) {
                return Err(super::protobuf::unsupported("Scale"));
            }
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?;
            // a merge or strategic patch and a whole Scale both carry spec.replicas
            let replicas = doc
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::bad_request("spec.replicas: a non-negative integer is required"))?;
            let mut o: T = (*current).clone();
            if o.replicas() != replicas {
                o.set_replicas(replicas);
                let g = o.meta().generation.unwrap_or(1) + 1;
                o.meta_mut().generation = Some(g);
            }
            w.stamp();
            let stored = w.put(o);
            w.reconcile();
            Ok(reply(&stored))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("only get, update and patch are allowed on {}/scale", t.res.plural),
        )),
    }
}
