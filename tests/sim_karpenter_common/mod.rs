//! Helpers for the Karpenter tests: a simulator from a scenario's YAML, Karpenter's
//! custom resources through kube's dynamic API, virtual time in steps, and a small
//! cluster whose NodePool's nodes are full (so every drifted node needs a replacement).
#![allow(dead_code)]

use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// Starts a simulator on a scenario written as YAML.
pub async fn start_yaml(yaml: &str) -> Simulator {
    let scenario = Scenario::from_yaml(yaml, "test scenario").expect("the test scenario is valid");
    let mut cfg = SimConfig::new(scenario);
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// Starts a simulator on a built-in scenario.
pub async fn start(name: &str) -> Simulator {
    let mut cfg = SimConfig::new(Scenario::load(name).expect("built-in scenario"));
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The dynamic API of a Karpenter kind: "NodePool", "NodeClaim", "EC2NodeClass", "NodeClass".
pub fn api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let (group, plural) = match kind {
        "NodePool" => ("karpenter.sh", "nodepools"),
        "NodeClaim" => ("karpenter.sh", "nodeclaims"),
        "EC2NodeClass" => ("karpenter.k8s.aws", "ec2nodeclasses"),
        "NodeClass" => ("eks.amazonaws.com", "nodeclasses"),
        other => panic!("not a Karpenter kind: {other}"),
    };
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::all_with(client.clone(), &ar)
}

pub async fn list(client: &kube::Client, kind: &str) -> Vec<DynamicObject> {
    api(client, kind)
        .list(&ListParams::default())
        .await
        .expect("the list succeeds")
        .items
}

/// The status of a condition of a custom object ("True", "False", "Unknown"), if set.
pub fn condition(o: &DynamicObject, type_: &str) -> Option<String> {
    o.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

pub fn condition_reason(o: &DynamicObject, type_: &str) -> Option<String> {
    o.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["reason"].as_str())
        .map(str::to_string)
}

pub fn label<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

pub fn pool_of(o: &DynamicObject) -> &str {
    label(o, "karpenter.sh/nodepool").unwrap_or_default()
}

pub fn name(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

pub fn node_of(o: &DynamicObject) -> Option<String> {
    o.data["status"]["nodeName"].as_str().map(str::to_string)
}

pub fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Advances virtual time by `secs` (the world's timers fire in order).
pub fn step(sim: &Simulator, secs: u64) {
    sim.advance(Duration::from_secs(secs));
}

/// Starts the control plane's update to `minor` and lets it finish (14 virtual minutes).
pub fn update_control_plane(sim: &Simulator, minor: &str) {
    {
        let world = sim.world();
        let mut w = world.lock();
        w.stamp();
        upshift::sim::world::eks::update_cluster_version(&mut w, minor).expect("the update starts");
    }
    step(sim, 15 * 60);
}

/// Karpenter's view of a NodePool's disruption: the initialized NodeClaims it counts
/// (not yet terminating their instance) and those of them disrupting (deleting, or
/// tainted for disruption).
pub fn disrupting(claims: &[DynamicObject], pool: &str) -> (u32, u32) {
    let mut total = 0;
    let mut busy = 0;
    for c in claims.iter().filter(|c| pool_of(c) == pool) {
        if condition(c, "Initialized").as_deref() != Some("True")
            || condition(c, "InstanceTerminating").as_deref() == Some("True")
        {
            continue;
        }
        total += 1;
        if c.metadata.deletion_timestamp.is_some() || condition(c, "DisruptionReason").as_deref() == Some("True") {
            busy += 1;
        }
    }
    (total, busy)
}

/// A cluster with one NodePool `apps` of ten m5.large nodes, each full (four pods of
/// 500m), on an `al2023@latest` EC2NodeClass; `budgets` is the NodePool's budget list
/// as YAML flow (e.g. `[{nodes: "3"}]`).
pub fn full_pool(budgets: &str, extra_pool: &str, extra_workloads: &str) -> String {
    format!(
        r#"name: full
cluster: {{name: full, version: "1.30"}}
nodeGroups:
  - name: system
    kind: managed
    instanceType: m5.large
    size: 1
    taints: [{{key: CriticalAddonsOnly, value: "true", effect: NoSchedule}}]
karpenter:
  version: "1.1.1"
  ec2NodeClasses:
    - {{name: default, ami: al2023@latest}}
    - {{name: pinned, amiId: {{kubernetesVersion: "1.30", release: v20251120}}}}
    - {{name: dated, ami: al2023@v20251120}}
  nodePools:
    - name: apps
      nodeClass: default
      nodes: 10
      instanceType: m5.large
      nodeAgeDays: 1
      requirements: [{{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}}]
      budgets: {budgets}
{extra_pool}
workloads:
  - {{name: web, kind: Deployment, replicas: 40, image: "web:1", requests: {{cpu: 500m, memory: 512Mi}}, nodePool: apps, startSeconds: 3}}
{extra_workloads}
"#
    )
}

/// Samples a NodePool's disruption every 5 virtual seconds for `secs`, checking each
/// sample with `check(total, disrupting)`; returns the most disrupting at once and
/// whether every node ended up replaced (none drifted, none left from before).
pub async fn watch_drift<F: FnMut(u32, u32)>(
    sim: &Simulator,
    client: &kube::Client,
    pool: &str,
    secs: u64,
    mut check: F,
) -> u32 {
    let mut most = 0;
    for _ in 0..secs / 5 {
        step(sim, 5);
        let claims = list(client, "NodeClaim").await;
        let (total, busy) = disrupting(&claims, pool);
        check(total, busy);
        most = most.max(busy);
    }
    most
}

/// How many of a pool's NodeClaims are drifted now.
pub async fn drifted(client: &kube::Client, pool: &str) -> usize {
    list(client, "NodeClaim")
        .await
        .iter()
        .filter(|c| pool_of(c) == pool && condition(c, "Drifted").as_deref() == Some("True"))
        .count()
}
