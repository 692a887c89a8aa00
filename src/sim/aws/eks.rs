//! EKS over REST-JSON: clusters, node groups, updates, add-ons and insights of the
//! simulated cluster, with errors as EKS sends them (`x-amzn-ErrorType` and a
//! `message`).

use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use super::{AwsApp, epoch};
use crate::sim::world::eks::{self as cloud, AwsError, Update, UpdateTarget};
use crate::sim::world::{NodeGroupKind, World, addons, insights, minor_of, nodegroups, versions};

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
    let (code, status) = match e.code {
        "ThrottlingException" => ("ThrottlingException", 429),
        // EKS names its 500s ServerException
        "InternalFailure" => ("ServerException", 500),
        _ => (e.code, e.status),
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
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["cluster-versions"]) => "DescribeClusterVersions",
        ("POST", ["clusters", _, "node-groups"]) => "CreateNodegroup",
        ("DELETE", ["clusters", _, "node-groups", _]) => "DeleteNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
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
        ("GET", ["clusters", _, "fargate-profiles"]) => "ListFargateProfiles",
        ("GET", ["clusters", _, "fargate-profiles", _]) => "DescribeFargateProfile",
        _ => "Unknown",
    }
}

fn route(app: &AwsApp, w: &mut World, op: &str, seg: &[&str], query: &str, input: &Value) -> Result<Value, AwsError> {
    if seg.first() == Some(&"clusters") && seg.len() > 1 {
        let name = seg.get(1).copied().unwrap_or_default();
        if name != w.cluster.name {
            return Err(AwsError::not_found(format!("No cluster found for name: {name}.")));
        }
    }
    match op {
        "ListClusters" => Ok(json!({ "clusters": [w.cluster.name] })),
        "DescribeClusterVersions" => Ok(cluster_versions(w, query)),
        "CreateNodegroup" => {
            let gi = nodegroups::create(w, create_request(input)?)?;
            Ok(json!({ "nodegroup": nodegroup(w, gi) }))
        }
        "DeleteNodegroup" => {
            let gi = nodegroups::delete(w, seg[3])?;
            Ok(json!({ "nodegroup": nodegroup(w, gi) }))
        }
        "UpdateNodegroupConfig" => {
            let u = nodegroups::update_config(w, seg[3], config_request(input)?)?;
            Ok(json!({ "update": update(&u) }))
        }
        "DescribeCluster" => Ok(json!({ "cluster": cluster(app, w) })),
        "ListFargateProfiles" => Ok(super::eks_fargate::list(w)),
        "DescribeFargateProfile" => super::eks_fargate::describe(w, seg[3]),
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
            let filter = input.get("filter");
            let wanted = |k: &str| -> Vec<String> {
                filter
                    .and_then(|f| f.get(k))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            };
            let (categories, versions, statuses) =
                (wanted("categories"), wanted("kubernetesVersions"), wanted("statuses"));
            let list: Vec<Value> = insights::all(w)
                .iter()
                .filter(|i| categories.is_empty() || categories.iter().any(|c| c == i.category))
                .filter(|i| versions.is_empty() || versions.contains(&i.kubernetes_version))
                .filter(|i| statuses.is_empty() || statuses.iter().any(|s| s == i.status))
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
    let mut c = cluster_base(app, w);
    // EKS Auto Mode: compute, block storage and load balancing run by EKS
    if let Some((compute, storage, elb)) = crate::sim::world::karpenter::automode::describe(w) {
        c["computeConfig"] = compute;
        c["storageConfig"] = storage;
        c["kubernetesNetworkConfig"]["elasticLoadBalancing"] = elb;
    }
    c
}

fn cluster_base(app: &AwsApp, w: &World) -> Value {
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
        "upgradePolicy": { "supportType": w.aws.support_type.as_str() },
    })
}

fn nodegroup(w: &World, gi: usize) -> Value {
    let g = &w.groups[gi];
    let m = &g.managed;
    let created = m.created.or(w.aws.created).unwrap_or(w.now);
    let modified = m.modified.unwrap_or(created);
    let version = cloud::nodegroup_version(w, gi);
    let taints: Vec<Value> = g
        .taints
        .iter()
        .map(|t| json!({ "key": t.key, "value": t.value, "effect": nodegroups::eks_effect(&t.effect) }))
        .collect();
    let subnets: Vec<String> = if m.subnets.is_empty() {
        g.zones.iter().map(|z| format!("subnet-{z}")).collect()
    } else {
        m.subnets.clone()
    };
    let update_config = match (m.max_unavailable, m.max_unavailable_percentage) {
        (_, Some(p)) => json!({ "maxUnavailablePercentage": p }),
        (n, None) => json!({ "maxUnavailable": n.unwrap_or(1) }),
    };
    let mut v = json!({
        "nodegroupName": g.name,
        "nodegroupArn": arn(w, &format!("nodegroup/{}/{}/{:08x}", w.cluster.name, g.name, crate::sim::world::fnv(g.name.as_bytes()))),
        "clusterName": w.cluster.name,
        "version": version,
        "releaseVersion": m.release_version.clone().unwrap_or_else(|| cloud::release_version(&version)),
        "createdAt": epoch(created),
        "modifiedAt": epoch(modified),
        "status": cloud::nodegroup_status(w, &g.name),
        "capacityType": m.capacity_type.as_deref().unwrap_or("ON_DEMAND"),
        "scalingConfig": { "minSize": g.min, "maxSize": g.max, "desiredSize": g.desired },
        "instanceTypes": [g.instance_type],
        "subnets": subnets,
        "amiType": m.ami_type.as_deref().unwrap_or("AL2023_x86_64_STANDARD"),
        "nodeRole": format!("arn:aws:iam::{}:role/{}-node-role", w.cluster.account, w.cluster.name),
        "labels": g.labels,
        "taints": taints,
        "resources": { "autoScalingGroups": [{ "name": g.asg_name }] },
        "diskSize": m.disk_size.unwrap_or(20),
        "health": { "issues": [] },
        "updateConfig": update_config,
        "tags": {},
    });
    if let Some((id, name, version)) = &m.launch_template {
        v["launchTemplate"] = json!({ "id": id, "name": name, "version": version });
    }
    v
}

/// What the simulator reads of a `CreateNodegroup` body.
fn create_request(input: &Value) -> Result<nodegroups::CreateRequest, AwsError> {
    let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let texts = |k: &str| -> Vec<String> {
        input
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let scaling = input.get("scalingConfig");
    let num = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_u64).map(|n| n as u32);
    let update = input.get("updateConfig");
    Ok(nodegroups::CreateRequest {
        name: text("nodegroupName").unwrap_or_default(),
        version: text("version"),
        release_version: text("releaseVersion"),
        ami_type: text("amiType"),
        instance_types: texts("instanceTypes"),
        min: num(scaling, "minSize"),
        max: num(scaling, "maxSize"),
        desired: num(scaling, "desiredSize"),
        subnets: texts("subnets"),
        labels: labels(input.get("labels")),
        taints: taints(input.get("taints"))?,
        launch_template: input.get("launchTemplate").filter(|v| !v.is_null()).map(|lt| {
            let f = |k: &str| lt.get(k).and_then(Value::as_str).map(str::to_string);
            (f("id"), f("name"), f("version"))
        }),
        max_unavailable: num(update, "maxUnavailable"),
        max_unavailable_percentage: num(update, "maxUnavailablePercentage"),
        capacity_type: text("capacityType"),
        disk_size: input.get("diskSize").and_then(Value::as_u64).map(|n| n as u32),
        node_role: text("nodeRole"),
    })
}

fn labels(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn taints(v: Option<&Value>) -> Result<Vec<k8s_openapi::api::core::v1::Taint>, AwsError> {
    let mut out = Vec::new();
    for t in v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
        let effect = nodegroups::k8s_effect(effect).ok_or_else(|| {
            AwsError::invalid(format!(
                "Taint effect {effect:?} is not valid: use NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE"
            ))
        })?;
        out.push(k8s_openapi::api::core::v1::Taint {
            key: t.get("key").and_then(Value::as_str).unwrap_or_default().to_string(),
            value: t.get("value").and_then(Value::as_str).map(str::to_string),
            effect: effect.to_string(),
            time_added: None,
        });
    }
    Ok(out)
}

/// What the simulator reads of an `UpdateNodegroupConfig` body.
fn config_request(input: &Value) -> Result<nodegroups::ConfigRequest, AwsError> {
    let scaling = input.get("scalingConfig");
    let num = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_u64).map(|n| n as u32);
    let update = input.get("updateConfig");
    let l = input.get("labels");
    let t = input.get("taints");
    Ok(nodegroups::ConfigRequest {
        min: num(scaling, "minSize"),
        max: num(scaling, "maxSize"),
        desired: num(scaling, "desiredSize"),
        labels_add: labels(l.and_then(|l| l.get("addOrUpdateLabels"))),
        labels_remove: l
            .and_then(|l| l.get("removeLabels"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        taints_add: taints(t.and_then(|t| t.get("addOrUpdateTaints")))?,
        taints_remove: taints(t.and_then(|t| t.get("removeTaints")))?,
        max_unavailable: num(update, "maxUnavailable"),
        max_unavailable_percentage: num(update, "maxUnavailablePercentage"),
    })
}

/// `DescribeClusterVersions`: the calendar as it stands at the world's time.
fn cluster_versions(w: &World, query: &str) -> Value {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let all = |k: &str| -> Vec<String> { params.iter().filter(|(q, _)| q == k).map(|(_, v)| v.clone()).collect() };
    let flag = |k: &str| params.iter().any(|(q, v)| q == k && v == "true");
    let wanted = all("clusterVersions");
    let version_status = all("versionStatus");
    let status = all("status");
    let default = versions::default_minor(w.now);
    let list: Vec<Value> = versions::calendar()
        .into_iter()
        .filter_map(|v| {
            let support = v.support_at(w.now);
            if support == versions::Support::Unreleased {
                return None;
            }
            if support == versions::Support::Unsupported && !flag("includeAll") && wanted.is_empty() {
                return None;
            }
            if !wanted.is_empty() && !wanted.iter().any(|x| x == v.minor) {
                return None;
            }
            if !version_status.is_empty() && !version_status.iter().any(|x| x == support.version_status()) {
                return None;
            }
            if !status.is_empty() && !status.iter().any(|x| x == support.status()) {
                return None;
            }
            let is_default = default == Some(v.minor);
            if flag("defaultOnly") && !is_default {
                return None;
            }
            let patch = crate::sim::world::eks_version(v.minor);
            let patch = patch
                .trim_start_matches('v')
                .split('-')
                .next()
                .unwrap_or(v.minor)
                .to_string();
            Some(json!({
                "clusterVersion": v.minor,
                "clusterType": "eks",
                "defaultPlatformVersion": "eks.1",
                "defaultVersion": is_default,
                "releaseDate": epoch(v.release),
                "endOfStandardSupportDate": epoch(v.end_of_standard),
                "endOfExtendedSupportDate": epoch(v.end_of_extended),
                "status": support.status(),
                "versionStatus": support.version_status(),
                "kubernetesPatchVersion": patch,
            }))
        })
        .collect();
    json!({ "clusterVersions": list })
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
