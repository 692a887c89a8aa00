//! The NodePool controller: the template hash annotation that static drift compares,
//! and the status `kubectl get nodepools` shows (nodes, resources, readiness from the
//! node class); NodeClaims whose NodePool is gone are deleted, as the garbage
//! collector does through their owner reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::objects::{NodeClaim, NodePool, str_at};
use super::{keys, nodeclass, set_condition, set_ready_from};
use crate::sim::world::{World, fnv};
use crate::units::quantity;

/// A stable hash of the template fields that drift nodes when they change
/// (requirements are compared on their own: a wider requirement drifts nothing).
pub fn pool_hash(spec: &Value) -> String {
    let mut t = spec.get("template").cloned().unwrap_or(Value::Null);
    if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
        s.remove("requirements");
    }
    let s = serde_json::to_string(&t).unwrap_or_default();
    (u64::from(fnv(s.as_bytes())) << 32 | u64::from(fnv(format!("{s}?").as_bytes()))).to_string()
}

/// The NodeClaims of a pool (by the `karpenter.sh/nodepool` label).
pub fn claims_of(w: &World, pool: &str) -> Vec<Arc<NodeClaim>> {
    w.karpenter
        .nodeclaims
        .items()
        .values()
        .filter(|c| {
            c.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(keys::NODEPOOL))
                .map(String::as_str)
                == Some(pool)
        })
        .cloned()
        .collect()
}

pub fn reconcile(w: &mut World) {
    let pools: Vec<Arc<NodePool>> = w.karpenter.nodepools.items().values().cloned().collect();
    for p in &pools {
        reconcile_one(w, p);
    }
    // owner references: a NodePool's NodeClaims go with it
    let orphans: Vec<Arc<NodeClaim>> = w
        .karpenter
        .nodeclaims
        .items()
        .values()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| {
            c.metadata.owner_references.iter().flatten().any(|o| {
                o.kind == "NodePool"
                    && w.karpenter
                        .nodepools
                        .get(&o.name)
                        .is_none_or(|p| p.metadata.uid.as_deref() != Some(&o.uid))
            })
        })
        .cloned()
        .collect();
    for c in orphans {
        super::termination::delete_claim(w, &c);
    }
}

fn reconcile_one(w: &mut World, p: &NodePool) {
    let name = p.metadata.name.clone().unwrap_or_default();
    let generation = p.metadata.generation;
    let now = w.now;
    let claims = claims_of(w, &name);
    let mut cpu = 0u64;
    let mut memory = 0u64;
    let mut pods = 0u64;
    let mut nodes = 0u64;
    for c in &claims {
        let Some(status) = c.status.as_ref() else { continue };
        if str_at(status, "nodeName").is_none() {
            continue;
        }
        nodes += 1;
        let cap = status.get("capacity");
        let get = |k: &str| {
            cap.and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .unwrap_or("0")
                .to_string()
        };
        cpu += quantity::cpu_millis(&get("cpu")).unwrap_or(0);
        memory += quantity::bytes(&get("memory")).unwrap_or(0);
        pods += get("pods").parse::<u64>().unwrap_or(0);
    }
    let mut status = p.status.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    status["nodes"] = json!(nodes);
    status["resources"] = json!(BTreeMap::from([
        ("cpu", quantity::format_cpu(cpu)),
        ("memory", quantity::format_bytes(memory)),
        ("pods", pods.to_string()),
        ("ephemeral-storage", format!("{}Gi", nodes * 20)),
        ("nodes", nodes.to_string()),
    ]));
    set_condition(
        &mut status,
        "ValidationSucceeded",
        "True",
        "ValidationSucceeded",
        "",
        now,
        generation,
    );
    let kind = str_at(&p.spec, "template.spec.nodeClassRef.kind")
        .unwrap_or("EC2NodeClass")
        .to_string();
    let class = str_at(&p.spec, "template.spec.nodeClassRef.name")
        .unwrap_or_default()
        .to_string();
    match nodeclass::not_ready(w, &kind, &class) {
        None => set_condition(
            &mut status,
            "NodeClassReady",
            "True",
            "NodeClassReady",
            "",
            now,
            generation,
        ),
        Some(m) => set_condition(
            &mut status,
            "NodeClassReady",
            "False",
            "NodeClassNotReady",
            &m,
            now,
            generation,
        ),
    }
    set_ready_from(&mut status, &["ValidationSucceeded", "NodeClassReady"], now, generation);
    let mut next = p.clone();
    next.status = Some(status);
    let ann = next.metadata.annotations.get_or_insert_with(Default::default);
    ann.insert(keys::NODEPOOL_HASH.into(), pool_hash(&p.spec));
    ann.insert(
        keys::NODEPOOL_HASH_VERSION.into(),
        keys::NODEPOOL_HASH_VERSION_VALUE.into(),
    );
    if next != *p {
        w.put(next);
    }
}
