//! Extra objects a scenario seeds as they are (ConfigMaps such as Helm release
//! records, Deployments or budgets carrying annotations and managedFields from an
//! older API version), so that preflight checks meet real evidence.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::World;

/// The kinds a scenario may seed, with the apiVersion the simulator stores them in.
pub const KINDS: &[(&str, &str)] = &[
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("Deployment", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("PodDisruptionBudget", "policy/v1"),
    ("Service", "v1"),
    ("StatefulSet", "apps/v1"),
    ("StorageClass", "storage.k8s.io/v1"),
];

/// A seeded object, decoded into its typed form.
pub enum Seeded {
    ConfigMap(ConfigMap),
    Secret(Secret),
    Deployment(Deployment),
    DaemonSet(DaemonSet),
    Pdb(PodDisruptionBudget),
    Service(Service),
    StatefulSet(StatefulSet),
    StorageClass(StorageClass),
}

impl Seeded {
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Seeded::ConfigMap(o) => &mut o.metadata,
            Seeded::Secret(o) => &mut o.metadata,
            Seeded::Deployment(o) => &mut o.metadata,
            Seeded::DaemonSet(o) => &mut o.metadata,
            Seeded::Pdb(o) => &mut o.metadata,
            Seeded::Service(o) => &mut o.metadata,
            Seeded::StatefulSet(o) => &mut o.metadata,
            Seeded::StorageClass(o) => &mut o.metadata,
        }
    }
}

/// Decodes one seeded object; the error says what is wrong with it.
pub fn decode(obj: &Value) -> Result<Seeded, String> {
    let kind = obj.get("kind").and_then(Value::as_str).ok_or("has no kind")?;
    let stored = KINDS.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v).ok_or_else(|| {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        format!(
            "kind {kind:?} cannot be seeded; the kinds that can: {}",
            known.join(", ")
        )
    })?;
    // the object is stored in the served version, whatever version the seed names:
    // older versions live on only in annotations and managedFields, as in a real cluster
    let mut obj = obj.clone();
    obj["apiVersion"] = Value::String(stored.to_string());
    if obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("has no metadata.name".into());
    }
    let typed = |e: serde_json::Error| format!("is not a valid {kind}: {e}");
    Ok(match kind {
        "ConfigMap" => Seeded::ConfigMap(serde_json::from_value(obj).map_err(typed)?),
        "Secret" => Seeded::Secret(serde_json::from_value(obj).map_err(typed)?),
        "Deployment" => Seeded::Deployment(serde_json::from_value(obj).map_err(typed)?),
        "DaemonSet" => Seeded::DaemonSet(serde_json::from_value(obj).map_err(typed)?),
        "Service" => Seeded::Service(serde_json::from_value(obj).map_err(typed)?),
        "StatefulSet" => Seeded::StatefulSet(serde_json::from_value(obj).map_err(typed)?),
        "StorageClass" => Seeded::StorageClass(serde_json::from_value(obj).map_err(typed)?),
        _ => Seeded::Pdb(serde_json::from_value(obj).map_err(typed)?),
    })
}

/// Puts a scenario's seeded objects into the world, creating their namespaces.
pub fn add(w: &mut World, objects: &[Value]) -> Result<(), String> {
    for (i, obj) in objects.iter().enumerate() {
        let mut seeded = decode(obj).map_err(|e| format!("objects[{i}] {e}"))?;
        let cluster_scoped = matches!(seeded, Seeded::StorageClass(_));
        let meta = seeded.meta_mut();
        let ns = if cluster_scoped {
            meta.namespace = None;
            "default".to_string()
        } else {
            meta.namespace.get_or_insert_with(|| "default".to_string()).clone()
        };
        let managed = meta.managed_fields.take();
        w.stamp_new(meta);
        meta.managed_fields = managed;
        if w.namespaces.get(&ns).is_none() {
            let mut m = ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    ns.clone(),
                )])),
                ..Default::default()
            };
            w.stamp_new(&mut m);
            w.put(Namespace {
                metadata: m,
                ..Default::default()
            });
        }
        match seeded {
            Seeded::ConfigMap(o) => {
                w.put(o);
            }
            Seeded::Secret(o) => {
                w.put(o);
            }
            Seeded::Deployment(o) => {
                w.put(o);
            }
            Seeded::DaemonSet(o) => {
                w.put(o);
            }
            Seeded::Pdb(o) => {
                w.put(o);
            }
            Seeded::Service(mut o) => {
                use super::admission::Admit;
                Service::admit(w, &mut o, None).map_err(|e| format!("objects[{i}] is not a valid Service: {e}"))?;
                w.put(o);
            }
            Seeded::StatefulSet(mut o) => {
                use super::admission::Admit;
                StatefulSet::admit(w, &mut o, None)
                    .map_err(|e| format!("objects[{i}] is not a valid StatefulSet: {e}"))?;
                o.metadata.generation = Some(1);
                w.put(o);
            }
            Seeded::StorageClass(mut o) => {
                super::volumes::admit_class(&mut o);
                w.put(o);
            }
        }
    }
    Ok(())
}
