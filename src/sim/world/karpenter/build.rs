//! A scenario's Karpenter at start: the CRDs, EC2NodeClasses (or Auto Mode's
//! NodeClass), NodePools (Auto Mode's built-ins included), and the nodes each
//! NodePool runs, launched days ago through NodeClaims as Karpenter would have; plus
//! self-managed Karpenter's controller Deployment with its real image and version.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::lifecycle::{self, Offering};
use super::objects::{EC2NodeClass, NodeClass, NodePool};
use super::spec::PoolSpec;
use super::{Unavailable, automode, crds, keys, nodeclass, nodepool, provisioner};
use crate::sim::scenario::{ResolvedScenario, Scenario, WorkloadSpec};
use crate::sim::world::World;

/// The scenario with self-managed Karpenter's controller among its workloads.
pub fn with_controller(mut s: Scenario) -> Result<Scenario, String> {
    let Some(k) = &s.karpenter else { return Ok(s) };
    let Some(version) = &k.version else { return Ok(s) };
    let group = k
        .node_group
        .clone()
        .or_else(|| s.node_groups.first().map(|g| g.name.clone()));
    let spec = json!({
        "name": "karpenter",
        "namespace": k.namespace,
        "kind": "Deployment",
        "replicas": 2,
        "image": format!("public.ecr.aws/karpenter/controller:{version}"),
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "labels": {
            "app.kubernetes.io/instance": "karpenter",
            "app.kubernetes.io/version": version,
            "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": format!("karpenter-{version}"),
        },
        "nodeGroup": group,
        "component": "autoscaling",
        "pdb": {"maxUnavailable": 1},
        "priorityClass": "system-cluster-critical",
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    });
    let wl: WorkloadSpec =
        serde_json::from_value(spec).map_err(|e| format!("the Karpenter controller's workload: {e}"))?;
    s.workloads.push(wl);
    Ok(s)
}

fn meta(w: &mut World, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    let mut m = ObjectMeta {
        name: Some(name.to_string()),
        labels: (!labels.is_empty()).then_some(labels),
        ..Default::default()
    };
    w.stamp_new(&mut m);
    m.generation = Some(1);
    m
}

/// Installs the scenario's Karpenter and Auto Mode into a world being built, with the
/// nodes each NodePool runs at start (`started` is the scenario's present).
pub fn install(w: &mut World, s: &ResolvedScenario, started: Timestamp) -> Result<(), String> {
    let auto = s.cluster.auto_mode;
    let k = s.karpenter.clone();
    if k.is_none() && !auto {
        return Ok(());
    }
    let self_managed = k.as_ref().is_some_and(|k| k.version.is_some());
    w.karpenter.config.version = k.as_ref().and_then(|k| k.version.clone());
    if let Some(k) = &k {
        w.karpenter.config.boot_seconds = f64::from(k.boot_seconds);
        w.karpenter.config.unavailable = k
            .unavailable_offerings
            .iter()
            .map(|u| Unavailable {
                instance_type: u.instance_type.clone(),
                zone: u.zone.clone(),
                capacity_type: u.capacity_type.clone(),
            })
            .collect();
    }
    let installed_at = w.time();
    let mut kinds: Vec<&crds::Crd> = Vec::new();
    if self_managed || auto {
        kinds.extend([&crds::NODEPOOLS, &crds::NODECLAIMS]);
    }
    if self_managed {
        kinds.push(&crds::EC2NODECLASSES);
    }
    if auto {
        kinds.push(&crds::NODECLASSES);
    }
    for crd in kinds {
        let mut obj = crds::object(crd, installed_at.clone());
        w.stamp_new(&mut obj.metadata);
        obj.metadata.generation = Some(1);
        w.put(obj);
    }
    let managed_by_eks = BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), "eks".to_string())]);
    let mut pools: Vec<(String, serde_json::Value, u32, f64, Option<String>, u32)> = Vec::new();
    if auto {
        w.karpenter.config.auto_mode = Some(automode::BUILTIN_POOLS.iter().map(|s| s.to_string()).collect());
        let m = meta(w, automode::BUILTIN_CLASS, managed_by_eks.clone());
        let spec = automode::builtin_class(w);
        w.put(NodeClass {
            metadata: m,
            spec,
            status: None,
        });
        for b in automode::BUILTIN_POOLS {
            let listed = k.as_ref().is_some_and(|k| k.node_pools.iter().any(|p| p.name == *b));
            if !listed && let Some(spec) = automode::builtin_pool(b) {
                let mut spec = spec;
                super::spec::default_pool(&mut spec);
                pools.push((b.to_string(), spec, 0, 0.0, None, 0));
            }
        }
    }
    if let Some(k) = &k {
        for c in &k.ec2_node_classes {
            let m = meta(w, &c.name, BTreeMap::new());
            let spec = c.spec(&s.cluster.name);
            w.put(EC2NodeClass {
                metadata: m,
                spec,
                status: None,
            });
        }
        for p in &k.node_pools {
            pools.push((
                p.name.clone(),
                p.spec(auto),
                p.nodes,
                p.node_age_days,
                p.instance_type.clone(),
                p.do_not_disrupt_nodes,
            ));
        }
    }
    for (name, spec, ..) in &pools {
        let labels = if auto && automode::builtin_pool(name).is_some() {
            managed_by_eks.clone()
        } else {
            BTreeMap::new()
        };
        let m = meta(w, name, labels);
        w.put(NodePool {
            metadata: m,
            spec: spec.clone(),
            status: None,
        });
    }
    nodeclass::reconcile(w);
    nodepool::reconcile(w);
    let before = w.now;
    for (name, _, nodes, age_days, instance_type, do_not_disrupt) in pools {
        if nodes == 0 {
            continue;
        }
        let Some(pool) = w.karpenter.nodepools.get(&name).cloned() else {
            continue;
        };
        let spec = PoolSpec::parse(&pool.spec).ok_or_else(|| format!("NodePool {name}: its spec does not decode"))?;
        let offerings = provisioner::offerings(w, &pool, &spec);
        let choice: Vec<Offering> = match &instance_type {
            Some(t) => offerings
                .iter()
                .filter(|o| o.instance_type.name == t.as_str() && o.capacity_type == "on-demand")
                .cloned()
                .collect(),
            None => {
                let first = offerings
                    .iter()
                    .find(|o| o.instance_type.cpu_millis >= 4000)
                    .or(offerings.first())
                    .map(|o| o.instance_type.name);
                offerings
                    .iter()
                    .filter(|o| Some(o.instance_type.name) == first && o.capacity_type == "on-demand")
                    .cloned()
                    .collect()
            }
        };
        if choice.is_empty() {
            return Err(format!(
                "NodePool {name}: its requirements allow no on-demand {} to run its {nodes} nodes at start",
                instance_type.as_deref().unwrap_or("instance type")
            ));
        }
        let age = SignedDuration::from_secs_f64(age_days * 86_400.0);
        w.now = started.checked_sub(age).unwrap_or(started);
        for i in 0..nodes {
            let o = &choice[i as usize % choice.len()];
            let req = crate::sim::world::Usage::default();
            let claim = lifecycle::create_claim(w, &pool, o, req)
                .ok_or_else(|| format!("NodePool {name}: cannot make its NodeClaims"))?;
            let node = lifecycle::launch_now(w, &claim).ok_or_else(|| {
                format!(
                    "NodePool {name}: node class {:?} cannot launch (is its AMI published for Kubernetes {}?)",
                    spec.template.spec.node_class_ref.name, w.cluster.version
                )
            })?;
            if i < do_not_disrupt
                && let Some(n) = w.nodes.get(&node).cloned()
            {
                let mut n = (*n).clone();
                n.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(keys::DO_NOT_DISRUPT.into(), "true".into());
                w.put(n);
            }
        }
    }
    w.now = before;
    nodepool::reconcile(w);
    Ok(())
}
