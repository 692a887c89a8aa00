//! The four patch types of the Kubernetes API applied to an object as JSON: JSON patch
//! (RFC 6902), merge patch (RFC 7386), strategic merge patch with the merge keys of
//! the built-in kinds the simulator serves, and server-side apply (applied here as a
//! strategic merge, without field ownership).

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    /// From a request's Content-Type; None for an unsupported one (a 415).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("the patch is not valid {kind}: {message}")]
    Malformed { kind: &'static str, message: String },
    #[error("the JSON patch could not be applied: {0}")]
    Json(String),
    #[error("{path}: {message}")]
    Strategic { path: String, message: String },
}

/// Applies `patch` (the raw request body) to `target` in place.
pub fn apply(kind: PatchType, target: &mut Value, patch: &[u8]) -> Result<(), PatchError> {
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
                kind: "JSON patch",
                message: e.to_string(),
            })?;
            json_patch::patch(target, &p).map_err(|e| PatchError::Json(e.to_string()))
        }
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
                kind: "merge patch",
                message: e.to_string(),
            })?;
            json_patch::merge(target, &p);
            Ok(())
        }
        PatchType::StrategicMerge => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| PatchError::Malformed {
                kind: "strategic merge patch",
                message: e.to_string(),
            })?;
            merge_value(target, &p, "")
        }
        PatchType::Apply => {
            // YAML is a superset of JSON
            let p: Value = serde_norway::from_slice(patch).map_err(|e| PatchError::Malformed {
                kind: "apply configuration",
                message: e.to_string(),
            })?;
            merge_value(target, &p, "")
        }
    }
}

/// How a list field merges, by field name (and its parent, where needed).
#[derive(Debug, PartialEq, Eq)]
enum ListMerge {
    Replace,
    ByKey(&'static str),
    Set,
}

fn list_merge(path: &str, field: &str) -> ListMerge {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            ListMerge::ByKey("name")
        }
        "ports" if path.contains("ontainers") => ListMerge::ByKey("containerPort"),
        "volumeMounts" => ListMerge::ByKey("mountPath"),
        "volumeDevices" => ListMerge::ByKey("devicePath"),
        "hostAliases" => ListMerge::ByKey("ip"),
        "conditions" => ListMerge::ByKey("type"),
        "addresses" if path.ends_with("status") => ListMerge::ByKey("type"),
        "ownerReferences" => ListMerge::ByKey("uid"),
        "finalizers" => ListMerge::Set,
        _ => ListMerge::Replace,
    }
}

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// A copy of `v` with every patch directive removed.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
        other => other.clone(),
    }
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

fn merge_value(target: &mut Value, patch: &Value, path: &str) -> Result<(), PatchError> {
    let Value::Object(pm) = patch else {
        *target = clean(patch);
        return Ok(());
    };
    match directive(patch) {
        Some("replace") => {
            *target = clean(patch);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(PatchError::Strategic {
                path: path.into(),
                message: format!("unknown patch directive $patch: {other:?}"),
            });
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else { return Ok(()) };
    for (k, pv) in pm {
        if is_directive(k) {
            continue;
        }
        let child = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match pv {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(_) if directive(pv) == Some("delete") => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Null);
                merge_value(slot, pv, &child)?;
            }
            Value::Array(items) => {
                let slot = tm.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                merge_list(slot, items, list_merge(path, k), &child)?;
            }
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
    // deletions from primitive lists apply after the lists' own merge
    for (k, pv) in pm {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let drop: Vec<&Value> = pv.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(items)) = tm.get_mut(field) {
                items.retain(|i| !drop.contains(&i));
            }
        }
    }
    if let Some(Value::Array(keep)) = pm.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        tm.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(target: &mut Value, items: &[Value], how: ListMerge, path: &str) -> Result<(), PatchError> {
    if items.iter().any(|i| directive(i) == Some("replace")) {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| directive(i) != Some("replace"))
                .map(clean)
                .collect(),
        );
        return Ok(());
    }
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(current) = target else { return Ok(()) };
    match how {
        ListMerge::Replace => *current = items.iter().map(clean).collect(),
        ListMerge::Set => {
            for i in items {
                if !current.contains(i) {
                    current.push(clean(i));
                }
            }
        }
        ListMerge::ByKey(key) => {
            for item in items {
                let Some(id) = item.get(key) else {
                    return Err(PatchError::Strategic {
                        path: path.into(),
                        message: format!("an item of this list has no merge key {key:?}"),
                    });
                };
                let pos = current.iter().position(|c| c.get(key) == Some(id));
                match (directive(item), pos) {
                    (Some("delete"), Some(p)) => {
                        current.remove(p);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(p)) => merge_value(&mut current[p], item, path)?,
                    (_, None) => current.push(clean(item)),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: PatchType, target: Value, patch: Value) -> Value {
        let mut t = target;
        apply(kind, &mut t, &serde_json::to_vec(&patch).unwrap()).unwrap();
        t
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::StrategicMerge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn kubectl_cordon() {
        let node = json!({"metadata": {"name": "n"}, "spec": {"providerID": "aws:///x"}});
        let out = run(
            PatchType::StrategicMerge,
            node,
            json!({"spec": {"unschedulable": true}}),
        );
        assert_eq!(out["spec"], json!({"providerID": "aws:///x", "unschedulable": true}));
    }

    #[test]
    fn kubectl_set_image_keeps_other_containers_and_fields() {
        let d = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}}}});
        let out = run(
            PatchType::StrategicMerge,
            d,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}),
        );
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(
            cs[0],
            json!({"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}]})
        );
        assert_eq!(cs[1]["image"], "proxy:1");
        assert_eq!(out["spec"]["replicas"], 3);
    }

    #[test]
    fn labels_merge_and_null_deletes() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out = run(
            PatchType::StrategicMerge,
            o.clone(),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        let out = run(PatchType::Merge, o, json!({"metadata": {"labels": {"a": null}}}));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    }

    #[test]
    fn directives() {
        let p = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}], "tolerations": [{"key": "x"}]}});
        let out = run(
            PatchType::StrategicMerge,
            p.clone(),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "$patch": "delete"}],
                "tolerations": [{"key": "y"}]
            }}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "b", "image": "1"}]));
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "y"}]),
            "no merge strategy: replaced"
        );
        assert!(!out.to_string().contains('$'), "no directive is stored: {out}");
        let out = run(
            PatchType::StrategicMerge,
            p,
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "2"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "c", "image": "2"}]));
    }

    #[test]
    fn conditions_merge_by_type_and_finalizers_as_a_set() {
        let s = json!({"metadata": {"finalizers": ["a"]}, "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}]}});
        let out = run(
            PatchType::StrategicMerge,
            s,
            json!({
                "metadata": {"finalizers": ["a", "b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                "status": {"conditions": [{"type": "Ready", "status": "False"}]}
            }),
        );
        assert_eq!(
            out["status"]["conditions"][0],
            json!({"type": "Ready", "status": "False"})
        );
        assert_eq!(out["status"]["conditions"][1]["type"], "DiskPressure");
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn json_patch_and_a_failing_test_op() {
        let o = json!({"spec": {"unschedulable": true}});
        let out = run(
            PatchType::Json,
            o.clone(),
            json!([{"op": "replace", "path": "/spec/unschedulable", "value": false}]),
        );
        assert_eq!(out["spec"]["unschedulable"], false);
        let mut t = o;
        let bad = serde_json::to_vec(&json!([{"op": "test", "path": "/spec/unschedulable", "value": false}])).unwrap();
        assert!(matches!(apply(PatchType::Json, &mut t, &bad), Err(PatchError::Json(_))));
        assert!(apply(PatchType::Merge, &mut t, b"{not json").is_err());
    }

    #[test]
    fn apply_accepts_yaml() {
        let out = {
            let mut t = json!({"data": {"a": "1"}});
            apply(PatchType::Apply, &mut t, b"data:\n  b: \"2\"\n").unwrap();
            t
        };
        assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
    }
}
