//! Reads what the Karpenter check needs, through a [`ClusterReader`]: NodePools and
//! NodeClaims (`karpenter.sh/v1`), EC2NodeClasses (`karpenter.k8s.aws/v1`), and from
//! the snapshot already read, Karpenter's controller image and the pods that carry
//! `karpenter.sh/do-not-disrupt`. Absent CRDs mean no Karpenter; a refusal is noted.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::{KarpenterFacts, NodeClassFacts};
use crate::cloud::ClusterInfo;
use crate::cluster::ClusterReader;
use crate::model::Interner;
use crate::model::karpenter::{NODEPOOL_LABEL, NodeClaimInfo, NodePoolInfo};
use crate::preflight::gather::Snapshot;
use crate::units::Timestamp;

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

/// The version in Karpenter's controller image (`public.ecr.aws/karpenter/controller:1.8.2@sha256:…`).
pub fn controller_version(image: &str) -> Option<String> {
    let (path, tag) = image.split('@').next()?.rsplit_once(':')?;
    (path.ends_with("karpenter/controller") && !tag.contains('/')).then(|| tag.trim_start_matches('v').to_string())
}

/// `amiSelectorTerms[].alias` of an EC2NodeClass.
fn aliases(spec: &Value) -> Vec<String> {
    spec.get("amiSelectorTerms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("alias").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or_default()
}

/// Reads Karpenter's objects; None when the cluster shows no Karpenter at all (no
/// CRDs, no controller, no Auto Mode).
pub async fn gather(
    reader: &ClusterReader,
    snapshot: &Snapshot,
    eks: Option<&ClusterInfo>,
    now: Timestamp,
    window_secs: i64,
) -> Option<KarpenterFacts> {
    let mut f = KarpenterFacts {
        now,
        window_secs,
        ..KarpenterFacts::default()
    };
    f.version = snapshot.workloads.iter().find_map(|w| {
        w.images
            .iter()
            .find_map(|i| controller_version(i))
            .map(|v| (format!("{} {}", w.kind, w.key()), v))
    });
    if let Some(c) = eks.filter(|c| c.auto_mode) {
        f.auto_mode = Some(format!(
            "EKS DescribeCluster: computeConfig.enabled, built-in NodePools {}",
            if c.auto_mode_pools.is_empty() {
                "none".to_string()
            } else {
                c.auto_mode_pools.join(", ")
            }
        ));
    }
    let mut note = |what: &str, e: &kube::Error| -> bool {
        match e {
            kube::Error::Api(s) if s.code == 404 => false,
            kube::Error::Api(s) if s.code == 403 || s.code == 401 => {
                f.unreadable
                    .push((what.to_string(), format!("forbidden: {}", s.message)));
                true
            }
            other => {
                f.unreadable.push((what.to_string(), other.to_string()));
                true
            }
        }
    };
    let mut served = false;
    match reader
        .list_dynamic(&resource("karpenter.sh", "NodePool", "nodepools"))
        .await
    {
        Ok(list) => {
            served = true;
            f.nodepools = list.iter().map(|o| NodePoolInfo::from_json(&json(o))).collect();
        }
        Err(e) => served |= note("nodepools.karpenter.sh", &e),
    }
    let mut strings = Interner::default();
    match reader
        .list_dynamic(&resource("karpenter.sh", "NodeClaim", "nodeclaims"))
        .await
    {
        Ok(list) => {
            served = true;
            f.claims = list
                .iter()
                .map(|o| NodeClaimInfo::from_json(&json(o), &mut strings))
                .collect();
        }
        Err(e) => served |= note("nodeclaims.karpenter.sh", &e),
    }
    match reader
        .list_dynamic(&resource("karpenter.k8s.aws", "EC2NodeClass", "ec2nodeclasses"))
        .await
    {
        Ok(list) => {
            served = true;
            f.nodeclasses = list
                .iter()
                .map(|o| NodeClassFacts {
                    name: o.metadata.name.clone().unwrap_or_default(),
                    aliases: aliases(o.data.get("spec").unwrap_or(&Value::Null)),
                })
                .collect();
        }
        Err(e) => served |= note("ec2nodeclasses.karpenter.k8s.aws", &e),
    }
    if f.auto_mode.is_none() && f.nodepools.iter().any(|p| p.node_class.is_auto_mode()) {
        f.auto_mode = Some("NodePools on EKS Auto Mode's NodeClass (eks.amazonaws.com)".into());
    }
    // the pods Karpenter must not disrupt, on nodes Karpenter manages
    let karpenter_nodes: std::collections::HashSet<&str> = f
        .claims
        .iter()
        .filter_map(|c| c.node.as_deref())
        .chain(
            snapshot
                .nodes
                .iter()
                .filter(|n| n.labels.contains_key(NODEPOOL_LABEL))
                .map(|n| n.name.as_str()),
        )
        .collect();
    f.do_not_disrupt = snapshot
        .pods
        .iter()
        .filter(|p| p.do_not_disrupt && !p.finished())
        .filter_map(|p| {
            let node = p.node.as_deref()?;
            karpenter_nodes.contains(node).then(|| (p.key(), node.to_string()))
        })
        .collect();
    let nothing = !served && f.version.is_none() && f.auto_mode.is_none();
    (!nothing).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_image_gives_the_version() {
        assert_eq!(
            controller_version("public.ecr.aws/karpenter/controller:1.8.2@sha256:abc").as_deref(),
            Some("1.8.2")
        );
        assert_eq!(
            controller_version("public.ecr.aws/karpenter/controller:v0.37.0").as_deref(),
            Some("0.37.0")
        );
        assert_eq!(controller_version("shop/web:4.2.0"), None);
        assert_eq!(controller_version("localhost:5000/karpenter/controller"), None);
    }

    #[test]
    fn aliases_come_from_the_ami_selector_terms() {
        let spec = serde_json::json!({"amiSelectorTerms": [{"alias": "al2023@latest"}, {"id": "ami-1"}]});
        assert_eq!(aliases(&spec), vec!["al2023@latest".to_string()]);
        assert!(aliases(&Value::Null).is_empty());
    }
}
