//! EKS Auto Mode: EKS runs Karpenter for the cluster, with two built-in NodePools
//! (`general-purpose` and `system`) on a built-in NodeClass (`default`,
//! `eks.amazonaws.com/v1`); nodes follow the control plane's minor and live at most
//! 21 days. The specs follow EKS's documentation (on-demand C, M and R instances of
//! generation 5 or newer; `system` tainted `CriticalAddonsOnly` and also on arm64;
//! `expireAfter: 336h`, `terminationGracePeriod: 24h0m0s`, budgets `nodes: 10%`).

use serde_json::{Value, json};

use crate::sim::world::World;

/// The built-in NodePools, in the order DescribeCluster lists them.
pub const BUILTIN_POOLS: &[&str] = &["general-purpose", "system"];

/// The built-in NodeClass every built-in NodePool uses.
pub const BUILTIN_CLASS: &str = "default";

/// The spec EKS gives a built-in NodePool.
pub fn builtin_pool(name: &str) -> Option<Value> {
    let arch: &[&str] = match name {
        "general-purpose" => &["amd64"],
        "system" => &["amd64", "arm64"],
        _ => return None,
    };
    let mut spec = json!({
        "disruption": {
            "budgets": [{"nodes": "10%"}],
            "consolidateAfter": "30s",
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
        },
        "template": {
            "metadata": {},
            "spec": {
                "expireAfter": "336h",
                "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": BUILTIN_CLASS},
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    {"key": "eks.amazonaws.com/instance-category", "operator": "In", "values": ["c", "m", "r"]},
                    {"key": "eks.amazonaws.com/instance-generation", "operator": "Gt", "values": ["4"]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": arch},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "terminationGracePeriod": "24h0m0s",
            },
        },
    });
    if name == "system" {
        spec["template"]["spec"]["taints"] = json!([{"key": "CriticalAddonsOnly", "effect": "NoSchedule"}]);
    }
    Some(spec)
}

/// The IAM role Auto Mode's nodes run with.
pub fn node_role_arn(w: &World) -> String {
    format!("arn:aws:iam::{}:role/AmazonEKSAutoNodeRole", w.cluster.account)
}

/// The built-in NodeClass's spec.
pub fn builtin_class(w: &World) -> Value {
    json!({
        "role": "AmazonEKSAutoNodeRole",
        "subnetSelectorTerms": [{"tags": {"kubernetes.io/role/internal-elb": "1"}}],
        "securityGroupSelectorTerms": [{"tags": {"aws:eks:cluster-name": w.cluster.name}}],
        "ephemeralStorage": {"size": "80Gi", "iops": 3000, "throughput": 125},
        "networkPolicy": "DefaultAllow",
        "networkPolicyEventLogs": "Disabled",
        "snatPolicy": "Random",
    })
}

/// What DescribeCluster adds for an Auto Mode cluster: `computeConfig`,
/// `storageConfig` and `kubernetesNetworkConfig.elasticLoadBalancing`.
pub fn describe(w: &World) -> Option<(Value, Value, Value)> {
    let pools = w.karpenter.config.auto_mode.as_ref()?;
    Some((
        json!({"enabled": true, "nodePools": pools, "nodeRoleArn": node_role_arn(w)}),
        json!({"blockStorage": {"enabled": true}}),
        json!({"enabled": true}),
    ))
}
