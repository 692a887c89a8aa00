//! Fargate in the simulator, as a client sees it: each pod a profile selects runs on a
//! `fargate-ip-…` node of its own, labelled and tainted as EKS does, whose kubelet is
//! the control plane's at the pod's start; a restarted pod gets a new node with the
//! new kubelet and the old node goes; EKS refuses the next control-plane update while
//! a Fargate pod runs an older kubelet; the profiles are served by EKS's API.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use upshift::cloud::{AwsOptions, Cloud, sdk_config};
use upshift::sim::Simulator;

const FARGATE: &str = "eks.amazonaws.com/compute-type";

/// Fargate nodes by name: their kubelet version.
async fn fargate_nodes(client: &kube::Client) -> BTreeMap<String, String> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default().labels(&format!("{FARGATE}=fargate")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| {
            let v = n.status.unwrap().node_info.unwrap().kubelet_version;
            (n.metadata.name.unwrap(), v)
        })
        .collect()
}

async fn pods_in(client: &kube::Client, ns: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

/// Moves the control plane one minor on and waits for EKS to finish.
async fn upgrade(sim: &Simulator, cloud: &dyn Cloud, to: &str) {
    cloud
        .update_cluster_version("fargate", to)
        .await
        .expect("the update is accepted");
    sim.advance(Duration::from_secs(15 * 60));
    let info = cloud.describe_cluster("fargate").await.unwrap();
    assert_eq!(info.version, to);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fargate_pods_get_a_node_each_with_the_kubelet_of_their_start() {
    let sim = common::start("fargate").await;
    let client = sim.client("lead").await.unwrap();
    let nodes = fargate_nodes(&client).await;
    // checkout 3, ledger 2, and the one labelled pod of jobs
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(nodes.values().all(|v| v.starts_with("v1.30.")), "{nodes:?}");
    assert!(
        nodes
            .keys()
            .all(|n| n.starts_with("fargate-ip-") && n.ends_with(".eu-west-1.compute.internal"))
    );
    let all: Api<Node> = Api::all(client.clone());
    let one = all.get(nodes.keys().next().unwrap()).await.unwrap();
    let taint = &one.spec.unwrap().taints.unwrap()[0];
    assert_eq!(
        (taint.key.as_str(), taint.value.as_deref(), taint.effect.as_str()),
        (FARGATE, Some("fargate"), "NoSchedule")
    );
    for p in pods_in(&client, "payments").await {
        let spec = p.spec.unwrap();
        let node = spec.node_name.unwrap();
        assert!(nodes.contains_key(&node), "{node}");
        assert_eq!(spec.scheduler_name.as_deref(), Some("fargate-scheduler"));
        assert_eq!(
            p.metadata
                .labels
                .unwrap()
                .get("eks.amazonaws.com/fargate-profile")
                .map(String::as_str),
            Some("fp-payments")
        );
        assert!(p.metadata.annotations.unwrap().contains_key("CapacityProvisioned"));
    }
    // one pod a node, and no DaemonSet pod there
    let mut seen = std::collections::BTreeSet::new();
    for p in Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        let node = p.spec.unwrap().node_name.unwrap_or_default();
        if nodes.contains_key(&node) {
            assert!(seen.insert(node.clone()), "two pods on {node}");
            assert_ne!(
                p.metadata.namespace.as_deref(),
                Some("kube-system"),
                "{:?}",
                p.metadata.name
            );
        }
    }
    // jobs: only the labelled pod is on Fargate
    for p in pods_in(&client, "jobs").await {
        let on_fargate = nodes.contains_key(p.spec.unwrap().node_name.as_deref().unwrap_or_default());
        let labelled = p
            .metadata
            .labels
            .unwrap()
            .get("compute")
            .is_some_and(|v| v == "fargate");
        assert_eq!(on_fargate, labelled, "{:?}", p.metadata.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eks_refuses_the_next_update_until_old_fargate_pods_are_recycled() {
    let sim = common::start("fargate").await;
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(&sim).await;
    // pods on the control plane's minor: the update is accepted
    upgrade(&sim, &cloud, "1.31").await;
    let before = fargate_nodes(&client).await;
    assert!(before.values().all(|v| v.starts_with("v1.30.")), "{before:?}");

    // now they are a minor behind: EKS refuses 1.32, naming a pod
    let err = cloud
        .update_cluster_version("fargate", "1.32")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Kubelet version of Fargate pods must be updated to match cluster version 1.31")
            && err.contains("payments/checkout-"),
        "{err}"
    );

    // a rollout restart of every Fargate workload, as kubectl does it
    for (ns, name) in [("payments", "checkout"), ("payments", "ledger"), ("jobs", "reports")] {
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-12-01T12:00:00Z"}}}}});
        Api::<Deployment>::namespaced(client.clone(), ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    let after = common::eventually(&sim, Duration::from_secs(10), 200, "new Fargate pods on 1.31", || {
        let client = client.clone();
        async move {
            let nodes = fargate_nodes(&client).await;
            (nodes.len() == 6 && nodes.values().all(|v| v.starts_with("v1.31."))).then_some(nodes)
        }
    })
    .await;
    // new nodes, and the old ones went with their pods
    assert!(after.keys().all(|n| !before.contains_key(n)), "{after:?} {before:?}");
    let info = cloud
        .update_cluster_version("fargate", "1.32")
        .await
        .expect("accepted now");
    assert_eq!(info.status, "InProgress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_s_kubelet_may_start_older_and_eks_says_so_at_once() {
    let yaml = include_str!("../assets/scenarios/fargate.yaml").replace(
        "  - name: fp-jobs\n",
        "  - name: fp-jobs\n    kubeletVersion: \"1.29\"\n",
    );
    let sim = common::start_yaml(&yaml).await;
    let client = sim.client("lead").await.unwrap();
    let nodes = fargate_nodes(&client).await;
    assert_eq!(
        nodes.values().filter(|v| v.starts_with("v1.29.")).count(),
        1,
        "{nodes:?}"
    );
    let cloud = common::cloud::aws(&sim).await;
    let err = cloud
        .update_cluster_version("fargate", "1.31")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("jobs/reports-") && err.contains("kubelet 1.29"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eks_serves_the_profiles() {
    let sim = common::start("fargate").await;
    // static credentials and a region: the SDK looks up nothing beyond loopback
    let conf = sdk_config(&AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    let sdk = aws_sdk_eks::Client::new(&conf);
    let names = sdk
        .list_fargate_profiles()
        .cluster_name("fargate")
        .send()
        .await
        .unwrap();
    assert_eq!(names.fargate_profile_names(), ["fp-payments", "fp-jobs"]);
    let p = sdk
        .describe_fargate_profile()
        .cluster_name("fargate")
        .fargate_profile_name("fp-jobs")
        .send()
        .await
        .unwrap()
        .fargate_profile
        .unwrap();
    assert_eq!(p.status().map(|s| s.as_str()), Some("ACTIVE"));
    let sel = &p.selectors()[0];
    assert_eq!(sel.namespace(), Some("jobs"));
    assert_eq!(
        sel.labels().and_then(|l| l.get("compute")).map(String::as_str),
        Some("fargate")
    );
    let err = sdk
        .describe_fargate_profile()
        .cluster_name("fargate")
        .fargate_profile_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", err).contains("ResourceNotFoundException"), "{err:?}");
}
