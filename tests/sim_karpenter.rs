//! Karpenter's custom resources served by the simulator, through kube::Client and
//! kubectl: discovery only once installed, tables with the CRDs' columns, merge patch
//! and server-side apply (no strategic merge, as for any custom resource), the CRDs'
//! defaults and validation; provisioning for pending pods, NodeClaims that cannot
//! launch, limits; EKS Auto Mode's DescribeCluster and built-in NodePools.

mod common;
mod sim_karpenter_common;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use sim_karpenter_common as k;

async fn events(client: &kube::Client, reason: &str) -> Vec<Event> {
    Api::<Event>::all(client.clone())
        .list(&ListParams::default().fields(&format!("reason={reason}")))
        .await
        .unwrap()
        .items
}

fn message(e: &Event) -> String {
    e.message.clone().unwrap_or_default()
}

#[tokio::test]
async fn the_kinds_are_served_only_where_karpenter_is_installed() {
    let demo = common::start("demo").await;
    let client = demo.client("lead").await.unwrap();
    let err = k::api(&client, "NodePool")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
    let groups: Vec<String> = client
        .list_api_groups()
        .await
        .unwrap()
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(groups.contains(&"apiextensions.k8s.io".to_string()), "{groups:?}");
    assert!(!groups.iter().any(|g| g.starts_with("karpenter")), "{groups:?}");

    let sim = k::start("karpenter").await;
    let client = sim.client("viewer").await.unwrap();
    let groups: Vec<String> = client
        .list_api_groups()
        .await
        .unwrap()
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(groups.contains(&"karpenter.sh".into()) && groups.contains(&"karpenter.k8s.aws".into()));
    assert!(!groups.contains(&"eks.amazonaws.com".into()), "{groups:?}");
    let list = client.list_api_group_resources("karpenter.k8s.aws/v1").await.unwrap();
    let ec2 = list.resources.iter().find(|r| r.name == "ec2nodeclasses").unwrap();
    assert_eq!(
        ec2.short_names.as_deref(),
        Some(&["ec2nc".to_string(), "ec2ncs".to_string()][..])
    );
    assert_eq!(ec2.categories.as_deref(), Some(&["karpenter".to_string()][..]));
    assert!(!ec2.namespaced);
    assert!(list.resources.iter().any(|r| r.name == "ec2nodeclasses/status"));
    let pools = k::list(&client, "NodePool").await;
    let names: Vec<String> = pools.iter().map(k::name).collect();
    assert_eq!(names, vec!["critical", "general"]);
    assert_eq!(k::list(&client, "NodeClaim").await.len(), 20);
    assert_eq!(k::list(&client, "EC2NodeClass").await.len(), 2);
    // the controller runs as a Deployment, its image telling its version
    let controller = Api::<Deployment>::namespaced(client.clone(), "kube-system")
        .get("karpenter")
        .await
        .unwrap();
    let labels = controller.metadata.labels.clone().unwrap();
    assert_eq!(labels["app.kubernetes.io/name"], "karpenter");
    assert_eq!(labels["app.kubernetes.io/version"], "1.8.2");
    let image = controller.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert_eq!(image, "public.ecr.aws/karpenter/controller:1.8.2");
    // the viewer reads, and only reads
    let denied = k::api(&client, "NodePool")
        .patch(
            "general",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"weight": 2}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(denied, kube::Error::Api(ref s) if s.code == 403), "{denied:?}");
    assert_eq!(sim.request_counts().mutating("viewer"), 1);
}

#[tokio::test]
async fn kubectl_lists_patches_and_is_refused_as_by_a_real_cluster() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = k::start("karpenter").await;
    let kc = common::Kubectl::new(bin, &sim);

    let pools = kc.ok(&["get", "nodepools"]).await;
    let head: Vec<&str> = pools.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "NODECLASS", "NODES", "READY", "AGE"], "{pools}");
    let general = pools.lines().find(|l| l.starts_with("general")).unwrap();
    let cells: Vec<&str> = general.split_whitespace().collect();
    assert_eq!(&cells[..4], ["general", "default", "14", "True"], "{pools}");

    let claims = kc.ok(&["get", "nodeclaims", "-o", "wide"]).await;
    let head: Vec<&str> = claims.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        [
            "NAME",
            "TYPE",
            "CAPACITY",
            "ZONE",
            "NODE",
            "READY",
            "AGE",
            "IMAGEID",
            "ID",
            "NODEPOOL",
            "NODECLASS",
            "DRIFTED"
        ],
        "{claims}"
    );
    assert_eq!(claims.lines().count(), 21);
    let row = claims.lines().find(|l| l.starts_with("critical-")).unwrap();
    assert!(
        row.contains("m5.large")
            && row.contains("on-demand")
            && row.contains("aws:///eu-west-1")
            && row.contains("pinned"),
        "{row}"
    );

    let classes = kc.ok(&["get", "ec2nc"]).await;
    assert!(
        classes.starts_with("NAME") && classes.contains("default") && classes.contains("True"),
        "{classes}"
    );
    let all = kc.ok(&["get", "karpenter"]).await;
    assert!(
        all.contains("nodepool.karpenter.sh/general") && all.contains("ec2nodeclass.karpenter.k8s.aws/pinned"),
        "{all}"
    );
    let crds = kc.ok(&["get", "crds"]).await;
    assert!(
        crds.contains("nodepools.karpenter.sh") && crds.contains("CREATED AT"),
        "{crds}"
    );

    let yaml = kc.ok(&["get", "nodepool", "general", "-o", "yaml"]).await;
    let v: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(v["apiVersion"], "karpenter.sh/v1");
    assert_eq!(v["kind"], "NodePool");
    assert_eq!(
        v["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmptyOrUnderutilized"
    );
    assert_eq!(v["spec"]["template"]["spec"]["expireAfter"], "720h");
    assert_eq!(v["status"]["nodes"], 14);

    // hold drift, as a lead would before the control plane moves
    let hold = r#"{"spec":{"disruption":{"budgets":[{"nodes":"0","reasons":["Drifted"]},{"nodes":"10%"}]}}}"#;
    let out = kc
        .ok(&["patch", "nodepool", "general", "--type", "merge", "-p", hold])
        .await;
    assert!(out.contains("nodepool.karpenter.sh/general patched"), "{out}");
    let client = sim.client("lead").await.unwrap();
    let np = k::api(&client, "NodePool").get("general").await.unwrap();
    assert_eq!(
        np.data["spec"]["disruption"]["budgets"][0],
        json!({"nodes": "0", "reasons": ["Drifted"]})
    );
    assert_eq!(np.metadata.generation, Some(2));

    // custom resources take no strategic merge patch
    let out = kc
        .run(&["patch", "nodepool", "general", "-p", r#"{"spec":{"weight":5}}"#])
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the body of the request was in an unknown format"),
        "{err}"
    );
    // the CRD's validation, with the field at fault
    let bad = r#"{"spec":{"disruption":{"budgets":[{"nodes":"ten"}]}}}"#;
    let out = kc
        .run(&["patch", "nodepool", "general", "--type", "merge", "-p", bad])
        .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("spec.disruption.budgets[0].nodes: Invalid value: \"ten\"")
            && err.contains("should match '^((100|[0-9]{1,2})%|[0-9]+)$'"),
        "{err}"
    );
    let out = kc
        .run(&[
            "--context",
            "viewer",
            "patch",
            "nodepool",
            "general",
            "--type",
            "merge",
            "-p",
            hold,
        ])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot patch resource \"nodepools\""));

    // the demo cluster has no Karpenter
    let demo = common::start("demo").await;
    let dk = common::Kubectl::new(common::kubectl_path().unwrap(), &demo);
    let out = dk.run(&["get", "nodepools"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("doesn't have a resource type \"nodepools\""),
        "{err}"
    );
}

#[tokio::test]
async fn server_side_apply_creates_a_nodepool_with_the_crds_defaults() {
    let sim = k::start("karpenter").await;
    let client = sim.client("lead").await.unwrap();
    let pools = k::api(&client, "NodePool");
    let body = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "spot"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}],
        }}},
        "status": {"nodes": 99},
    });
    let created = pools
        .patch("spot", &PatchParams::apply("test").force(), &Patch::Apply(&body))
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["disruption"]["budgets"], json!([{"nodes": "10%"}]));
    assert_eq!(created.data["spec"]["template"]["spec"]["expireAfter"], "720h");
    assert_ne!(
        created.data["status"]["nodes"], 99,
        "status comes from the controller, not the body"
    );
    k::step(&sim, 10);
    let np = pools.get("spot").await.unwrap();
    assert_eq!(k::condition(&np, "Ready").as_deref(), Some("True"));
    assert!(
        np.metadata
            .annotations
            .unwrap()
            .contains_key("karpenter.sh/nodepool-hash")
    );
    // a NodeClaim's spec cannot change
    let claim = k::list(&client, "NodeClaim").await.remove(0);
    let err = k::api(&client, "NodeClaim")
        .patch(
            &k::name(&claim),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"expireAfter": "1h"}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("spec is immutable")),
        "{err:?}"
    );
}

#[tokio::test]
async fn pending_pods_get_a_nodeclaim_that_launches_registers_and_initializes() {
    let sim = k::start("karpenter").await;
    let client = sim.client("lead").await.unwrap();
    let before: Vec<String> = k::list(&client, "NodeClaim").await.iter().map(k::name).collect();
    // more cart replicas than the general NodePool's nodes hold
    Api::<Deployment>::namespaced(client.clone(), "shop")
        .patch(
            "cart",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 60}})),
        )
        .await
        .unwrap();
    k::step(&sim, 10);
    let pending = Api::<Pod>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("app=cart").fields("status.phase=Pending"))
        .await
        .unwrap()
        .items;
    assert!(!pending.is_empty());
    let new: Vec<_> = k::list(&client, "NodeClaim")
        .await
        .into_iter()
        .filter(|c| !before.contains(&k::name(c)))
        .collect();
    assert!(!new.is_empty(), "a NodeClaim for the pending pods");
    let claim = k::name(&new[0]);
    assert_eq!(k::pool_of(&new[0]), "general");
    assert!(claim.starts_with("general-"));
    assert_eq!(new[0].data["spec"]["nodeClassRef"]["name"], "default");
    assert_eq!(new[0].metadata.owner_references.as_ref().unwrap()[0].kind, "NodePool");
    let nominated = events(&client, "Nominated").await;
    assert!(
        nominated
            .iter()
            .any(|e| message(e) == format!("Pod should schedule on: nodeclaim/{claim}"))
    );
    // Launched at once, Registered when the instance's kubelet joins, then Initialized and Ready
    let claims = k::api(&client, "NodeClaim");
    let c = claims.get(&claim).await.unwrap();
    assert_eq!(k::condition(&c, "Launched").as_deref(), Some("True"));
    assert_ne!(k::condition(&c, "Registered").as_deref(), Some("True"));
    assert!(
        c.data["status"]["providerID"]
            .as_str()
            .unwrap()
            .starts_with("aws:///eu-west-1")
    );
    k::step(&sim, 70);
    let c = claims.get(&claim).await.unwrap();
    for cond in ["Launched", "Registered", "Initialized", "Ready"] {
        assert_eq!(
            k::condition(&c, cond).as_deref(),
            Some("True"),
            "{cond}: {:?}",
            c.data["status"]
        );
    }
    let node = Api::<Node>::all(client.clone())
        .get(&k::node_of(&c).unwrap())
        .await
        .unwrap();
    let labels: &BTreeMap<String, String> = node.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["karpenter.sh/nodepool"], "general");
    assert_eq!(labels["karpenter.sh/capacity-type"], "on-demand");
    assert_eq!(labels["karpenter.k8s.aws/ec2nodeclass"], "default");
    assert_eq!(labels["karpenter.sh/initialized"], "true");
    assert!(["m5.large", "m5.xlarge"].contains(&labels["node.kubernetes.io/instance-type"].as_str()));
    assert!(labels["topology.kubernetes.io/zone"].starts_with("eu-west-1"));
    assert_eq!(
        node.spec.as_ref().unwrap().provider_id.as_deref(),
        c.data["status"]["providerID"].as_str()
    );
    assert_eq!(
        node.metadata.finalizers.as_deref(),
        Some(&["karpenter.sh/termination".to_string()][..])
    );
    assert_eq!(node.metadata.owner_references.as_ref().unwrap()[0].name, claim);
    // the pods run there
    k::step(&sim, 30);
    let pending = Api::<Pod>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("app=cart").fields("status.phase=Pending"))
        .await
        .unwrap()
        .items;
    assert!(pending.is_empty(), "{} cart pods still pending", pending.len());
    let np = k::api(&client, "NodePool").get("general").await.unwrap();
    assert!(np.data["status"]["nodes"].as_u64().unwrap() > 14);
}

const SMALL: &str = r#"name: small
cluster: {name: small, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
karpenter:
  version: "1.1.1"
  ec2NodeClasses:
    - {name: default, ami: al2023@latest}
    - {name: broken, ami: al2023@v20990101}
  unavailableOfferings:
    - {instanceType: m5.large}
  nodePools:
    - name: apps
      nodeClass: default
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}]
      limits: {cpu: "8"}
    - name: nowhere
      nodeClass: broken
      labels: {team: nowhere}
workloads:
  - {name: web, kind: Deployment, replicas: 0, image: "web:1", requests: {cpu: 1500m, memory: 1Gi}, nodePool: apps}
  - {name: lost, kind: Deployment, replicas: 0, image: "lost:1", nodeSelector: {team: nowhere}}
"#;

#[tokio::test]
async fn a_nodeclaim_that_cannot_launch_says_why_and_its_pods_wait() {
    let sim = k::start_yaml(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    // m5.large has no capacity: its NodeClaims fail, the next one takes m5.xlarge
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    k::step(&sim, 30);
    let ice = events(&client, "InsufficientCapacityError").await;
    assert!(
        ice.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some("NodeClaim")
                && message(e).contains("insufficient capacity")
                && message(e).contains("m5.large")
        }),
        "{:?}",
        ice.iter().map(message).collect::<Vec<_>>()
    );
    k::step(&sim, 90);
    let claims = k::list(&client, "NodeClaim").await;
    assert!(
        claims
            .iter()
            .all(|c| k::label(c, "node.kubernetes.io/instance-type") == Some("m5.xlarge")),
        "{:?}",
        claims.iter().map(k::name).collect::<Vec<_>>()
    );
    let pods = Api::<Pod>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("app=web").fields("status.phase=Running"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 1);

    // limits: cpu 8 holds two m5.xlarge; what does not fit stays Pending, and says why
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 8}})),
        )
        .await
        .unwrap();
    k::step(&sim, 120);
    let claims = k::list(&client, "NodeClaim").await;
    assert_eq!(claims.len(), 2, "the limit of 8 CPUs allows two 4-CPU nodes");
    let failed = events(&client, "FailedScheduling").await;
    assert!(
        failed
            .iter()
            .any(|e| message(e).contains("all available instance types exceed limits for nodepool (NodePool=apps)")),
        "{:?}",
        failed.iter().map(message).collect::<Vec<_>>()
    );

    // a node class whose AMI selector matches nothing: not Ready, nothing launches
    let class = k::api(&client, "EC2NodeClass").get("broken").await.unwrap();
    assert_eq!(k::condition(&class, "Ready").as_deref(), Some("False"));
    assert_eq!(k::condition_reason(&class, "AMIsReady").as_deref(), Some("AMINotFound"));
    let np = k::api(&client, "NodePool").get("nowhere").await.unwrap();
    assert_eq!(k::condition(&np, "NodeClassReady").as_deref(), Some("False"));
    deployments
        .patch(
            "lost",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    k::step(&sim, 60);
    assert!(
        k::list(&client, "NodeClaim")
            .await
            .iter()
            .all(|c| k::pool_of(c) != "nowhere")
    );
    let lost = Api::<Pod>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("app=lost"))
        .await
        .unwrap()
        .items;
    assert_eq!(lost[0].status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    let failed = events(&client, "FailedScheduling").await;
    assert!(
        failed.iter().any(|e| {
            e.involved_object.name == lost[0].metadata.name
                && e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("karpenter")
                && message(e).contains("nodepool \"nowhere\", node class not ready: AMISelector did not match any AMIs")
        }),
        "{:?}",
        failed.iter().map(message).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn auto_mode_describes_its_compute_and_runs_the_built_in_nodepools() {
    let sim = k::start("automode").await;
    let conf = upshift::cloud::sdk_config(&upshift::cloud::AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    let eks = aws_sdk_eks::Client::new(&conf);
    let out = eks.describe_cluster().name("automode").send().await.unwrap();
    let c = out.cluster().unwrap();
    let compute = c.compute_config().unwrap();
    assert_eq!(compute.enabled(), Some(true));
    assert_eq!(compute.node_pools(), ["general-purpose", "system"]);
    assert_eq!(
        compute.node_role_arn(),
        Some("arn:aws:iam::123456789012:role/AmazonEKSAutoNodeRole")
    );
    assert_eq!(
        c.storage_config()
            .and_then(|s| s.block_storage())
            .and_then(|b| b.enabled()),
        Some(true)
    );
    assert_eq!(
        c.kubernetes_network_config()
            .and_then(|n| n.elastic_load_balancing())
            .and_then(|e| e.enabled()),
        Some(true)
    );
    // a cluster without Auto Mode says nothing of it
    let demo = common::start("demo").await;
    let conf =
        upshift::cloud::sdk_config(&upshift::cloud::AwsOptions::local(&demo.aws_url(), &demo.aws_region())).await;
    let out = aws_sdk_eks::Client::new(&conf)
        .describe_cluster()
        .name("demo")
        .send()
        .await
        .unwrap();
    assert!(out.cluster().unwrap().compute_config().is_none());

    let client = sim.client("viewer").await.unwrap();
    let pools = k::list(&client, "NodePool").await;
    let names: Vec<String> = pools.iter().map(k::name).collect();
    assert_eq!(names, ["general-purpose", "system"]);
    for p in &pools {
        assert_eq!(
            p.data["spec"]["template"]["spec"]["nodeClassRef"]["group"],
            "eks.amazonaws.com"
        );
        assert_eq!(p.data["spec"]["template"]["spec"]["expireAfter"], "336h");
        assert_eq!(k::label(p, "app.kubernetes.io/managed-by"), Some("eks"));
    }
    let classes = k::list(&client, "NodeClass").await;
    assert_eq!(classes.len(), 1);
    assert_eq!(k::name(&classes[0]), "default");
    assert_eq!(k::condition(&classes[0], "Ready").as_deref(), Some("True"));
    let err = k::api(&client, "EC2NodeClass")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "no EC2NodeClasses in Auto Mode"
    );
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels("eks.amazonaws.com/compute-type=auto"))
        .await
        .unwrap()
        .items;
    assert_eq!(nodes.len(), 10);
    assert!(
        nodes
            .iter()
            .all(|n| n.metadata.name.as_deref().unwrap().starts_with("i-0"))
    );
    assert!(
        nodes
            .iter()
            .all(|n| n.metadata.labels.as_ref().unwrap()["eks.amazonaws.com/nodeclass"] == "default")
    );
}

#[tokio::test]
async fn auto_mode_nodes_live_at_most_21_days_whatever_expire_after_says() {
    let yaml = r#"name: old
cluster: {name: old, version: "1.30", autoMode: true}
nodeGroups: []
karpenter:
  nodePools:
    - name: long
      nodes: 2
      instanceType: m6i.large
      nodeAgeDays: 20.9
      expireAfter: 720h
workloads:
  - {name: web, kind: Deployment, replicas: 2, image: "web:1", requests: {cpu: 200m, memory: 256Mi}, nodePool: long}
"#;
    let sim = k::start_yaml(yaml).await;
    let client = sim.client("lead").await.unwrap();
    let before: Vec<String> = k::list(&client, "NodeClaim").await.iter().map(k::name).collect();
    assert_eq!(before.len(), 2);
    // 20.9 days old: 2.4 hours to go
    k::step(&sim, 2 * 3600);
    let now: Vec<String> = k::list(&client, "NodeClaim").await.iter().map(k::name).collect();
    assert_eq!(now, before);
    k::step(&sim, 3600);
    let after = k::list(&client, "NodeClaim").await;
    assert!(!after.is_empty(), "the pods got new nodes");
    assert!(
        after.iter().all(|c| !before.contains(&k::name(c))),
        "expired after 21 days, not 30"
    );
}
