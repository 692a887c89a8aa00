//! EKS over REST-JSON: clusters, node groups, updates, add-ons and insights of the
//! simulated cluster, with errors as EKS sends them (`x-amzn-ErrorType` and a
//! `message`).

use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use super::{AwsApp, epoch};
use crate::sim::world::eks::{self as cloud, AwsError, Update, UpdateTarget};
use crate::sim::world::{NodeGroupKind, World, addons, insights, minor_of};

fn respond(status: u16, body: &Value, error: Option<&str>, request_id: &str) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id);
    if let Some(code) = error {
        b = b.header("x-amzn-errortype", code);
    }
    b.body(Body::from(body.to_string())).unwrap_or_default()
}

fn error(e: &AwsError, request_id: &str) -> Response<Body> {
    let (code, status) = if e.code == "ThrottlingException" {
        ("ThrottlingException", 429)
    } else {
        (e.code, e.status)
    };
    respond(status, &json!({ "message": e.message }), Some(code), request_id)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Serves one EKS request.
pub fn handle(app: &AwsApp, method: &Method, path: &str, query: &str, body: &[u8]) -> Response<Body> {
    let mut w = app.world.lock();
    w.stamp();
    let rid = super::request_id(&mut w);
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    &AwsError::new("BadRequestException", 400, format!("malformed JSON body: {e}")),
                    &rid,
                );
            }
        }
    };
    let op = operation(method, &seg);
    if let Err(e) = cloud::admit(&mut w, op) {
        return error(&e, &rid);
    }
    let result = route(app, &mut w, op, &seg, query, &input);
    w.reconcile();
    match result {
        Ok(v) => respond(200, &v, None, &rid),
        Err(e) => error(&e, &rid),
    }
}

fn operation(method: &Method, seg: &[&str]) -> &'static str {
    match (method.as_str(), seg) {
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-version"]) => "UpdateNodegroupVersion",
        ("POST", ["clusters", _, "updates"]) => "UpdateClusterVersion",
        ("GET", ["clusters", _, "updates"]) => "ListUpdates",
        ("GET", ["clusters", _, "updates", _]) => "DescribeUpdate",
        ("GET", ["clusters", _, "addons"]) => "ListAddons",
        ("GET", ["clusters", _, "addons", _]) => "DescribeAddon",
        ("POST", ["clusters", _, "addons", _, "update"]) => "UpdateAddon",
        ("GET", ["addons", "supported-versions"]) => "DescribeAddonVersions",
        ("POST", ["clusters", _, "insights"]) => "ListInsights",
        ("GET", ["clusters", _, "insights", _]) => "DescribeInsight",
        _ => "Unknown",
    }
}

fn route(app: &AwsApp, w: &mut World, op: &str, seg: &[&str], query: &str, input: &Value) -> Result<Value, AwsError> {
    if seg.first() == Some(&"clusters") {
        let name = seg.get(1).copied().unwrap_or_default();
        if name != w.cluster.name {
            return Err(AwsError::not_found(format!("No cluster found for name: {name}.")));
        }
    }
    match op {
        "DescribeCluster" => Ok(json!({ "cluster": cluster(app, w) })),
        "ListNodegroups" => {
            let names: Vec<String> = w
                .groups
                .iter()
                .filter(|g| g.kind == NodeGroupKind::Managed)
                .map(|g| g.name.clone())
                .collect();
            Ok(json!({ "nodegroups": names }))
        }
        "DescribeNodegroup" => {
            let ng = seg[3];
            let gi = cloud::managed_group(w, ng)
                .ok_or_else(|| AwsError::not_found(format!("No node group found for name: {ng}.")))?;
            Ok(json!({ "nodegroup": nodegroup(w, gi) }))
        }
        "UpdateNodegroupVersion" => {
            let version = input.get("version").and_then(Value::as_str);
            let force = input.get("force").and_then(Value::as_bool).unwrap_or(false);
            if input.get("launchTemplate").is_some_and(|v| !v.is_null()) && version.is_some() {
                return Err(AwsError::invalid(
                    "You cannot specify both a version and a launch template for a node group update",
                ));
            }
            let u = cloud::update_nodegroup_version(w, seg[3], version, force)?;
            Ok(json!({ "update": update(&u) }))
        }
        "UpdateClusterVersion" => {
            let version = input
                .get("version")
                .and_then(Value::as_str)
                .ok_or_else(|| AwsError::invalid("version is required"))?;
            let u = cloud::update_cluster_version(w, version)?;
            Ok(json!({ "update": update(&u) }))
        }
        "ListUpdates" => {
            let target = match (query_param(query, "nodegroupName"), query_param(query, "addonName")) {
                (Some(ng), _) => UpdateTarget::Nodegroup(ng),
                (_, Some(a)) => UpdateTarget::Addon(a),
                _ => UpdateTarget::Cluster,
            };
            let ids: Vec<String> = w
                .aws
                .updates
                .iter()
                .filter(|u| u.target == target)
                .map(|u| u.id.clone())
                .collect();
            Ok(json!({ "updateIds": ids }))
        }
        "DescribeUpdate" => {
            let id = seg[3];
            let u = w
                .aws
                .updates
                .iter()
                .find(|u| u.id == id)
                .ok_or_else(|| AwsError::not_found(format!("No update found for ID: {id}.")))?;
            Ok(json!({ "update": update(u) }))
        }
        "ListAddons" => {
            let names: Vec<String> = w.aws.addons.iter().map(|a| a.name.clone()).collect();
            Ok(json!({ "addons": names }))
        }
        "DescribeAddon" => {
            let name = seg[3];
            let a = addons::find(w, name)
                .ok_or_else(|| AwsError::not_found(format!("No addon: {name} found in cluster: {}", w.cluster.name)))?;
            Ok(json!({ "addon": addon(w, a) }))
        }
        "UpdateAddon" => {
            let version = input.get("addonVersion").and_then(Value::as_str);
            let resolve = input.get("resolveConflicts").and_then(Value::as_str);
            let u = addons::update(w, seg[3], version, resolve)?;
            Ok(json!({ "update": update(&u) }))
        }
        "DescribeAddonVersions" => Ok(addon_versions(
            query_param(query, "addonName").as_deref(),
            query_param(query, "kubernetesVersion").as_deref(),
        )),
        "ListInsights" => {
            let list: Vec<Value> = insights::all(w)
                .iter()
                .map(|i| {
                    json!({
                        "id": i.id, "name": i.name, "category": i.category,
                        "kubernetesVersion": i.kubernetes_version,
                        "lastRefreshTime": epoch(w.now), "lastTransitionTime": epoch(w.now),
                        "description": i.description,
                        "insightStatus": { "status": i.status, "reason": i.reason },
                    })
                })
                .collect();
            Ok(json!({ "insights": list }))
        }
        "DescribeInsight" => {
            let id = seg[3];
            let all = insights::all(w);
            let i = all
                .iter()
                .find(|i| i.id == id)
                .ok_or_else(|| AwsError::not_found(format!("No insight found for ID: {id}.")))?;
            let resources: Vec<Value> = i
                .resources
                .iter()
                .map(|(name, status)| {
                    json!({
                        "insightStatus": { "status": status, "reason": i.reason },
                        "kubernetesResourceUri": name,
                    })
                })
                .collect();
            Ok(json!({ "insight": {
                "id": i.id, "name": i.name, "category": i.category,
                "kubernetesVersion": i.kubernetes_version,
                "lastRefreshTime": epoch(w.now), "lastTransitionTime": epoch(w.now),
                "description": i.description,
                "insightStatus": { "status": i.status, "reason": i.reason },
                "recommendation": i.recommendation,
                "additionalInfo": {},
                "resources": resources,
                "categorySpecificSummary": { "deprecationDetails": [] },
            }}))
        }
        _ => Err(AwsError::new(
            "UnknownOperationException",
            404,
            "The simulator does not serve this EKS operation",
        )),
    }
}

fn arn(w: &World, what: &str) -> String {
    format!("arn:aws:eks:{}:{}:{what}", w.cluster.region, w.cluster.account)
}

fn cluster(app: &AwsApp, w: &World) -> Value {
    let created = w.aws.created.unwrap_or(w.now);
    json!({
        "name": w.cluster.name,
        "arn": arn(w, &format!("cluster/{}", w.cluster.name)),
        "createdAt": epoch(created),
        "version": minor_of(&w.cluster.version),
        "endpoint": app.k8s_url,
        "roleArn": format!("arn:aws:iam::{}:role/{}-cluster-role", w.cluster.account, w.cluster.name),
        "resourcesVpcConfig": {
            "subnetIds": [], "securityGroupIds": [], "vpcId": "vpc-0sim",
            "endpointPublicAccess": false, "endpointPrivateAccess": true,
        },
        "kubernetesNetworkConfig": { "serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4" },
        "status": if w.aws.cluster_updating { "UPDATING" } else { "ACTIVE" },
        "certificateAuthority": { "data": base64::engine::general_purpose::STANDARD.encode(&app.ca_pem) },
        "platformVersion": "eks.1",
        "tags": {},
        "health": { "issues": [] },
    })
}

fn nodegroup(w: &World, gi: usize) -> Value {
    let g = &w.groups[gi];
    let created = w.aws.created.unwrap_or(w.now);
    let version = cloud::nodegroup_version(w, gi);
    let taints: Vec<Value> = g
        .taints
        .iter()
        .map(|t| {
            let effect = match t.effect.as_str() {
                "NoSchedule" => "NO_SCHEDULE",
                "NoExecute" => "NO_EXECUTE",
                _ => "PREFER_NO_SCHEDULE",
            };
            json!({ "key": t.key, "value": t.value, "effect": effect })
        })
        .collect();
    json!({
        "nodegroupName": g.name,
        "nodegroupArn": arn(w, &format!("nodegroup/{}/{}/{:08x}", w.cluster.name, g.name, crate::sim::world::fnv(g.name.as_bytes()))),
        "clusterName": w.cluster.name,
        "version": version,
        "releaseVersion": cloud::release_version(&version),
        "createdAt": epoch(created),
        "modifiedAt": epoch(created),
        "status": cloud::nodegroup_status(w, &g.name),
        "capacityType": "ON_DEMAND",
        "scalingConfig": { "minSize": g.min, "maxSize": g.max, "desiredSize": g.desired },
        "instanceTypes": [g.instance_type],
        "subnets": g.zones.iter().map(|z| format!("subnet-{z}")).collect::<Vec<_>>(),
        "amiType": "AL2023_x86_64_STANDARD",
        "nodeRole": format!("arn:aws:iam::{}:role/{}-node-role", w.cluster.account, w.cluster.name),
        "labels": g.labels,
        "taints": taints,
        "resources": { "autoScalingGroups": [{ "name": g.asg_name }] },
        "diskSize": 20,
        "health": { "issues": [] },
        "updateConfig": { "maxUnavailable": 1 },
        "tags": {},
    })
}

fn update(u: &Update) -> Value {
    let params: Vec<Value> = u.params.iter().map(|(k, v)| json!({ "type": k, "value": v })).collect();
    let errors: Vec<Value> = u
        .errors
        .iter()
        .map(|e| json!({ "errorCode": e.code, "errorMessage": e.message, "resourceIds": e.resource_ids }))
        .collect();
    json!({
        "id": u.id,
        "status": u.status.as_str(),
        "type": u.kind,
        "params": params,
        "createdAt": epoch(u.created),
        "errors": errors,
    })
}

fn addon(w: &World, a: &addons::Addon) -> Value {
    json!({
        "addonName": a.name,
        "clusterName": w.cluster.name,
        "status": addons::status(a),
        "addonVersion": a.version,
        "health": { "issues": [] },
        "addonArn": arn(w, &format!("addon/{}/{}/{:08x}", w.cluster.name, a.name, crate::sim::world::fnv(a.name.as_bytes()))),
        "createdAt": epoch(a.created),
        "modifiedAt": epoch(a.modified),
        "tags": {},
    })
}

fn addon_versions(name: Option<&str>, minor: Option<&str>) -> Value {
    let list: Vec<Value> = addons::table()
        .addons
        .iter()
        .filter(|a| name.is_none_or(|n| n == a.name))
        .map(|a| {
            let versions: Vec<Value> = a
                .versions
                .iter()
                .filter(|v| minor.is_none_or(|m| v.cluster_versions.iter().any(|c| c == m)))
                .map(|v| {
                    let compat: Vec<Value> = v
                        .cluster_versions
                        .iter()
                        .filter(|c| minor.is_none_or(|m| m == *c))
                        .map(|c| {
                            json!({
                                "clusterVersion": c,
                                "platformVersions": ["*"],
                                "defaultVersion": v.default_for.contains(c),
                            })
                        })
                        .collect();
                    json!({
                        "addonVersion": v.version,
                        "architecture": ["amd64", "arm64"],
                        "compatibilities": compat,
                        "requiresConfiguration": false,
                    })
                })
                .collect();
            json!({
                "addonName": a.name,
                "type": a.type_,
                "addonVersions": versions,
                "publisher": "eks",
                "owner": "aws",
            })
        })
        .collect();
    json!({ "addons": list })
}
