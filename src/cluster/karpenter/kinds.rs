//! Karpenter's kinds as kube's dynamic API names them: the `karpenter.sh/v1`
//! NodePool and NodeClaim, the `karpenter.k8s.aws/v1` EC2NodeClass and EKS Auto
//! Mode's `eks.amazonaws.com/v1` NodeClass, and the labels and values upshift reads
//! off them. Plain names and pure readers; the lists go through
//! [`ClusterReader::list_dynamic`](crate::cluster::ClusterReader::list_dynamic).

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// The label Karpenter puts on a NodeClaim's node: its NodePool.
pub const NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
/// The disruption reason upshift holds and releases.
pub const DRIFTED: &str = "Drifted";

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

pub fn nodepools() -> ApiResource {
    resource("karpenter.sh", "NodePool", "nodepools")
}

pub fn nodeclaims() -> ApiResource {
    resource("karpenter.sh", "NodeClaim", "nodeclaims")
}

pub fn ec2nodeclasses() -> ApiResource {
    resource("karpenter.k8s.aws", "EC2NodeClass", "ec2nodeclasses")
}

/// A NodePool's `spec.disruption.budgets` (Null when it has none).
pub fn budgets(pool: &DynamicObject) -> Value {
    pool.data
        .pointer("/spec/disruption/budgets")
        .cloned()
        .unwrap_or(Value::Null)
}

/// A NodePool's node class: (group, kind, name) from `spec.template.spec.nodeClassRef`.
pub fn node_class_ref(pool: &DynamicObject) -> Option<(String, String, String)> {
    let r = pool.data.pointer("/spec/template/spec/nodeClassRef")?;
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Some((s("group"), s("kind"), s("name")))
}

/// Whether an EC2NodeClass pins its AMI, and how: None when one of its
/// `amiSelectorTerms` is an `…@latest` alias (it follows the control plane), else
/// the terms in a few words (`alias: al2023@v20251120`, `id: ami-0abc…`).
pub fn pinned_ami(class: &DynamicObject) -> Option<String> {
    let terms = class
        .data
        .pointer("/spec/amiSelectorTerms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let follows = terms.iter().any(|t| {
        t.get("alias")
            .and_then(Value::as_str)
            .is_some_and(|a| a.ends_with("@latest"))
    });
    if follows {
        return None;
    }
    let words: Vec<String> = terms
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| {
            o.iter().map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                )
            })
        })
        .collect();
    Some(if words.is_empty() {
        "no amiSelectorTerms".into()
    } else {
        words.join(", ")
    })
}

/// A custom object's condition status ("True", "False", "Unknown"), if set.
pub fn condition<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a str> {
    o.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get("status")?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(terms: Value) -> DynamicObject {
        let mut o = DynamicObject::new("c", &ec2nodeclasses());
        o.data = serde_json::json!({"spec": {"amiSelectorTerms": terms}});
        o
    }

    #[test]
    fn an_alias_at_latest_follows_and_anything_else_pins() {
        assert_eq!(
            pinned_ami(&class(serde_json::json!([{"alias": "al2023@latest"}]))),
            None
        );
        assert_eq!(
            pinned_ami(&class(serde_json::json!([{"alias": "al2023@v20251120"}]))).as_deref(),
            Some("alias: al2023@v20251120")
        );
        assert_eq!(
            pinned_ami(&class(serde_json::json!([{"id": "ami-0abc"}]))).as_deref(),
            Some("id: ami-0abc")
        );
    }
}
