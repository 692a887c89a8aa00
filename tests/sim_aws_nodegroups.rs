//! EKS managed node groups made, reconfigured and deleted through aws-sdk-eks
//! against the simulator, on the virtual clock: CREATING until the nodes join,
//! labels and taints applied to running nodes, a deletion that drains through the
//! eviction API (and loses what a budget holds past EKS's few minutes), and
//! `updateConfig.maxUnavailable` honoured by UpdateNodegroupVersion.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_eks::types::{
    LaunchTemplateSpecification, NodegroupScalingConfig, NodegroupUpdateConfig, Taint, TaintEffect,
    UpdateLabelsPayload, UpdateTaintsPayload,
};
use upshift::cloud::{AwsOptions, sdk_config};
use upshift::sim::Simulator;
use upshift::sim::world::{InstanceState, World};

const C: &str = "demo";

async fn eks(sim: &Simulator) -> aws_sdk_eks::Client {
    let conf = sdk_config(&AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    aws_sdk_eks::Client::new(&conf)
}

async fn status(c: &aws_sdk_eks::Client, ng: &str) -> String {
    match c.describe_nodegroup().cluster_name(C).nodegroup_name(ng).send().await {
        Ok(r) => r
            .nodegroup()
            .and_then(|n| n.status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        Err(e) => format!("error: {}", e.into_service_error()),
    }
}

/// Nodes of a managed group, by their label.
fn nodes_of(w: &World, ng: &str) -> Vec<k8s_openapi::api::core::v1::Node> {
    w.nodes
        .items()
        .values()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("eks.amazonaws.com/nodegroup"))
                .is_some_and(|v| v == ng)
        })
        .map(|n| (**n).clone())
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn a_created_group_is_creating_until_its_nodes_join_and_carries_its_labels_and_taints() {
    let sim = common::start("demo").await;
    let c = eks(&sim).await;
    let ng = c
        .create_nodegroup()
        .cluster_name(C)
        .nodegroup_name("blue")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-eu-west-1a")
        .subnets("subnet-eu-west-1b")
        .instance_types("m5.large")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(4)
                .desired_size(2)
                .build(),
        )
        .labels("role", "blue")
        .taints(
            Taint::builder()
                .key("dedicated")
                .value("blue")
                .effect(TaintEffect::NoSchedule)
                .build(),
        )
        .launch_template(
            LaunchTemplateSpecification::builder()
                .name("blue-lt")
                .version("4")
                .build(),
        )
        .update_config(NodegroupUpdateConfig::builder().max_unavailable(2).build())
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(ng.status().map(|s| s.as_str()), Some("CREATING"));
    assert_eq!(ng.version(), Some("1.34"));
    assert_eq!(ng.launch_template().and_then(|l| l.version()), Some("4"));
    assert_eq!(ng.update_config().and_then(|u| u.max_unavailable()), Some(2));
    let dup = c
        .create_nodegroup()
        .cluster_name(C)
        .nodegroup_name("blue")
        .node_role("r")
        .subnets("subnet-eu-west-1a")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_resource_in_use_exception(), "{dup:?}");
    assert!(
        nodes_of(&sim.world().lock(), "blue").is_empty(),
        "nothing has joined yet"
    );
    sim.advance(secs(60));
    assert_eq!(status(&c, "blue").await, "CREATING", "the nodes boot for 90 s");
    sim.advance(secs(40));
    assert_eq!(status(&c, "blue").await, "ACTIVE");
    let w = sim.world();
    let w = w.lock();
    let nodes = nodes_of(&w, "blue");
    assert_eq!(nodes.len(), 2);
    let zones: BTreeSet<String> = nodes
        .iter()
        .map(|n| n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone())
        .collect();
    assert_eq!(
        zones,
        BTreeSet::from(["eu-west-1a".to_string(), "eu-west-1b".to_string()])
    );
    for n in &nodes {
        assert_eq!(n.metadata.labels.as_ref().unwrap()["role"], "blue");
        let taints = n.spec.as_ref().unwrap().taints.clone().unwrap_or_default();
        assert!(
            taints.iter().any(|t| t.key == "dedicated" && t.effect == "NoSchedule"),
            "{taints:?}"
        );
    }
}

#[tokio::test]
async fn update_config_relabels_running_nodes_and_succeeds_as_a_config_update() {
    let sim = common::start("demo").await;
    let c = eks(&sim).await;
    let u = c
        .update_nodegroup_config()
        .cluster_name(C)
        .nodegroup_name("apps")
        .labels(
            UpdateLabelsPayload::builder()
                .add_or_update_labels("tier", "front")
                .remove_labels("role")
                .build(),
        )
        .taints(
            UpdateTaintsPayload::builder()
                .add_or_update_taints(
                    Taint::builder()
                        .key("maintenance")
                        .value("soon")
                        .effect(TaintEffect::PreferNoSchedule)
                        .build(),
                )
                .build(),
        )
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(6)
                .max_size(12)
                .desired_size(7)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(u.r#type().map(|t| t.as_str()), Some("ConfigUpdate"));
    assert_eq!(u.status().map(|s| s.as_str()), Some("InProgress"));
    let ids = c
        .list_updates()
        .name(C)
        .nodegroup_name("apps")
        .send()
        .await
        .unwrap()
        .update_ids
        .unwrap_or_default();
    assert!(ids.contains(&u.id().unwrap().to_string()));
    {
        let w = sim.world();
        let w = w.lock();
        for n in nodes_of(&w, "apps") {
            let l = n.metadata.labels.as_ref().unwrap();
            assert_eq!(l.get("tier").map(String::as_str), Some("front"));
            assert!(!l.contains_key("role"));
            let t = n.spec.as_ref().unwrap().taints.clone().unwrap_or_default();
            assert!(
                t.iter()
                    .any(|t| t.key == "maintenance" && t.effect == "PreferNoSchedule"),
                "{t:?}"
            );
        }
    }
    // a second update while this one runs is refused
    let busy = c
        .update_nodegroup_config()
        .cluster_name(C)
        .nodegroup_name("apps")
        .update_config(NodegroupUpdateConfig::builder().max_unavailable(2).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(busy.is_resource_in_use_exception(), "{busy:?}");
    sim.advance(secs(10));
    let u = c
        .describe_update()
        .name(C)
        .update_id(u.id().unwrap())
        .nodegroup_name("apps")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(u.status().map(|s| s.as_str()), Some("Successful"));
    sim.advance(secs(120));
    assert_eq!(
        nodes_of(&sim.world().lock(), "apps").len(),
        7,
        "the desired size grew by one"
    );
    let bad = c
        .update_nodegroup_config()
        .cluster_name(C)
        .nodegroup_name("apps")
        .update_config(
            NodegroupUpdateConfig::builder()
                .max_unavailable(2)
                .max_unavailable_percentage(10)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_invalid_parameter_exception(), "{bad:?}");
}

#[tokio::test]
async fn a_deleted_group_drains_through_evictions_and_loses_what_a_budget_holds_past_the_deadline() {
    let sim = common::start("demo").await;
    let c = eks(&sim).await;
    let before: Vec<String> = nodes_of(&sim.world().lock(), "system")
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(before.len(), 3);
    let ng = c
        .delete_nodegroup()
        .cluster_name(C)
        .nodegroup_name("system")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(ng.status().map(|s| s.as_str()), Some("DELETING"));
    sim.advance(secs(30));
    {
        let w = sim.world();
        let w = w.lock();
        for n in nodes_of(&w, "system") {
            assert_eq!(n.spec.as_ref().unwrap().unschedulable, Some(true), "cordoned");
        }
        // coredns (2 replicas, maxUnavailable 1, pinned to this group) lost one pod to
        // an eviction; its replacement has nowhere to go, so the other is held
        let coredns: Vec<String> = w
            .pods
            .items()
            .keys()
            .filter(|k| k.starts_with("kube-system/coredns-"))
            .cloned()
            .collect();
        assert!(coredns.len() >= 2, "{coredns:?}");
    }
    assert_eq!(status(&c, "system").await, "DELETING");
    assert_eq!(sim.pods_lost().0, 0, "nothing is lost while EKS drains");
    // past the drain's few minutes the instances go, and the held pod with them
    for _ in 0..60 {
        if status(&c, "system").await.contains("ResourceNotFound") {
            break;
        }
        sim.advance(secs(15));
    }
    assert!(status(&c, "system").await.contains("ResourceNotFound"));
    let names = c
        .list_nodegroups()
        .cluster_name(C)
        .send()
        .await
        .unwrap()
        .nodegroups
        .unwrap_or_default();
    assert_eq!(names, ["apps"]);
    let (lost, recent) = sim.pods_lost();
    assert!(
        recent.iter().any(|p| p.starts_with("kube-system/coredns-")),
        "the budget-held coredns pod died with its node: {lost} {recent:?}"
    );
    let w = sim.world();
    let w = w.lock();
    assert!(before.iter().all(|n| w.nodes.get(n).is_none()), "every node is gone");
}

/// The most old nodes of `ng` drained at once while its version update runs.
async fn widest_drain(sim: &Simulator, c: &aws_sdk_eks::Client, ng: &str) -> usize {
    let old: BTreeSet<String> = nodes_of(&sim.world().lock(), ng)
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    c.update_nodegroup_version()
        .cluster_name(C)
        .nodegroup_name(ng)
        .send()
        .await
        .unwrap();
    let mut widest = 0;
    for _ in 0..120 {
        sim.advance(secs(5));
        let w = sim.world();
        let w = w.lock();
        // old nodes cordoned whose instance is still in service: those being drained
        let g = w.groups.iter().find(|g| g.name == ng).unwrap();
        let cordoned = g
            .instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminating && old.contains(&i.node_name))
            .filter(|i| w.nodes.get(&i.node_name).and_then(|n| n.spec.as_ref()?.unschedulable) == Some(true))
            .count();
        widest = widest.max(cordoned);
    }
    widest
}

#[tokio::test]
async fn update_nodegroup_version_replaces_max_unavailable_nodes_at_a_time() {
    let sim = common::start("demo").await;
    let c = eks(&sim).await;
    c.update_nodegroup_config()
        .cluster_name(C)
        .nodegroup_name("apps")
        .update_config(NodegroupUpdateConfig::builder().max_unavailable(3).build())
        .send()
        .await
        .unwrap();
    let u = c
        .update_cluster_version()
        .name(C)
        .version("1.35")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    sim.advance(secs(15 * 60));
    let done = c
        .describe_update()
        .name(C)
        .update_id(u.id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.update.unwrap().status().map(|s| s.as_str()), Some("Successful"));
    let ng = c
        .describe_nodegroup()
        .cluster_name(C)
        .nodegroup_name("apps")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ng.nodegroup.unwrap().update_config().and_then(|u| u.max_unavailable()),
        Some(3)
    );
    assert_eq!(
        widest_drain(&sim, &c, "apps").await,
        3,
        "three old nodes drained at once"
    );
    assert_eq!(
        widest_drain(&sim, &c, "system").await,
        1,
        "the default replaces one at a time"
    );
}
