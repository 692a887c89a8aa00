//! EKS's Fargate profile calls over REST-JSON (`ListFargateProfiles`,
//! `DescribeFargateProfile`): the profiles of the scenario, as EKS describes them.

use serde_json::{Value, json};

use super::epoch;
use crate::sim::world::World;
use crate::sim::world::eks::AwsError;

/// `GET /clusters/{name}/fargate-profiles`: every profile's name, in one page.
pub fn list(w: &World) -> Value {
    let names: Vec<&str> = w.fargate.profiles.iter().map(|p| p.spec.name.as_str()).collect();
    json!({ "fargateProfileNames": names })
}

/// `GET /clusters/{name}/fargate-profiles/{profile}`.
pub fn describe(w: &World, name: &str) -> Result<Value, AwsError> {
    let p = w
        .fargate
        .profiles
        .iter()
        .find(|p| p.spec.name == name)
        .ok_or_else(|| AwsError::not_found(format!("No Fargate Profile found with name: {name}.")))?;
    let c = &w.cluster;
    let selectors: Vec<Value> = p
        .spec
        .selectors
        .iter()
        .map(|s| json!({ "namespace": s.namespace, "labels": s.labels }))
        .collect();
    Ok(json!({ "fargateProfile": {
        "fargateProfileName": p.spec.name,
        "fargateProfileArn": format!(
            "arn:aws:eks:{}:{}:fargateprofile/{}/{}/{:08x}",
            c.region, c.account, c.name, p.spec.name, crate::sim::world::fnv(p.spec.name.as_bytes())
        ),
        "clusterName": c.name,
        "createdAt": epoch(p.created),
        "podExecutionRoleArn": format!("arn:aws:iam::{}:role/{}-fargate-pod-execution", c.account, c.name),
        "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "selectors": selectors,
        "status": "ACTIVE",
        "tags": {},
    }}))
}
