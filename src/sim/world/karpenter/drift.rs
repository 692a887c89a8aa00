//! Drift detection: a launched NodeClaim is `Drifted` when its NodePool's template
//! hash changed (NodePoolDrifted), its labels no longer meet the NodePool's
//! requirements (RequirementsDrifted), its EC2NodeClass's hash changed
//! (NodeClassDrift), or its image is not among the AMIs its node class resolves to
//! now (AMIDrift: an alias after a control-plane update or a new release, a changed
//! selector). The condition goes away when none holds any more.

use std::collections::HashMap;
use std::sync::Arc;

use super::objects::{NodeClaim, str_at};
use super::requirements::Requirement;
use super::{clear_condition, is_true, keys, nodeclass, set_condition};
use crate::sim::world::World;

fn annotation<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, k: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(k).map(String::as_str)
}

fn hash_changed(
    owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    claim: &NodeClaim,
    hash: &str,
    version: &str,
) -> bool {
    match (
        annotation(owner, hash),
        annotation(owner, version),
        annotation(&claim.metadata, hash),
        annotation(&claim.metadata, version),
    ) {
        (Some(a), Some(av), Some(b), Some(bv)) => av == bv && a != b,
        _ => false,
    }
}

/// The requirements of each NodePool, read once per pass.
type Requirements = HashMap<String, Vec<Requirement>>;

fn requirements(w: &World) -> Requirements {
    w.karpenter
        .nodepools
        .items()
        .iter()
        .filter_map(|(name, p)| {
            let reqs = p.spec.pointer("/template/spec/requirements")?.clone();
            Some((name.clone(), serde_json::from_value(reqs).ok()?))
        })
        .collect()
}

/// Why a NodeClaim has drifted, if it has.
fn reason(w: &World, reqs: &Requirements, c: &NodeClaim) -> Option<&'static str> {
    let labels = c.metadata.labels.as_ref()?;
    let pool_name = labels.get(keys::NODEPOOL)?;
    let pool = w.karpenter.nodepools.get(pool_name)?;
    if hash_changed(&pool.metadata, c, keys::NODEPOOL_HASH, keys::NODEPOOL_HASH_VERSION) {
        return Some("NodePoolDrifted");
    }
    for r in reqs.get(pool_name).into_iter().flatten() {
        let value = labels.get(&r.key).map(String::as_str);
        // keys the NodeClaim carries no label for are judged only when absence decides
        if value.is_some() && !r.allows(value) {
            return Some("RequirementsDrifted");
        }
    }
    let kind = str_at(&c.spec, "nodeClassRef.kind")?;
    let class = str_at(&c.spec, "nodeClassRef.name")?;
    if kind == "EC2NodeClass"
        && let Some(nc) = w.karpenter.ec2nodeclasses.get(class)
        && hash_changed(
            &nc.metadata,
            c,
            keys::EC2NODECLASS_HASH,
            keys::EC2NODECLASS_HASH_VERSION,
        )
    {
        return Some("NodeClassDrift");
    }
    let image = c.status.as_ref().and_then(|s| str_at(s, "imageID"))?;
    let amis = nodeclass::amis(w, kind, class);
    if !amis.is_empty() && !amis.iter().any(|a| a.id == image) {
        return Some("AMIDrift");
    }
    None
}

pub fn reconcile(w: &mut World) {
    let claims: Vec<Arc<NodeClaim>> = w.karpenter.nodeclaims.items().values().cloned().collect();
    let reqs = requirements(w);
    let now = w.now;
    for c in claims {
        if c.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = c.status.as_ref();
        let current = super::condition(status, "Drifted");
        let has = current.is_some();
        let why = if is_true(status, "Launched") {
            reason(w, &reqs, &c)
        } else {
            None
        };
        // nothing to write when the condition already says so
        let same = match (why, current) {
            (None, None) => true,
            (Some(r), Some(cond)) => cond["status"] == "True" && cond["reason"] == r,
            _ => false,
        };
        if same {
            continue;
        }
        let mut next = (*c).clone();
        let st = next.status.get_or_insert_with(|| serde_json::json!({}));
        match why {
            Some(r) => set_condition(st, "Drifted", "True", r, r, now, c.metadata.generation),
            None if has => clear_condition(st, "Drifted"),
            None => continue,
        }
        if next != *c {
            w.put(next);
        }
    }
}
