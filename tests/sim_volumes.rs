//! Zonal volumes in the simulator, through `kube::Client`: a StatefulSet pod whose
//! EBS volume is in a zone whose nodes are drained stays Pending with the real
//! scheduler's message (worded as the control plane's version words it) and a
//! FailedScheduling event, and goes back to its zone once a node there has room.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};
use serde_json::json;
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

async fn pods_of(client: &kube::Client, ns: &str, app: &str) -> BTreeMap<String, Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| (p.metadata.name.clone().unwrap(), p))
        .collect()
}

/// The pod of `set` whose volume is in `zone`, its node, and the nodes of that zone.
async fn pod_in_zone(client: &kube::Client, ns: &str, app: &str) -> (String, String, Vec<String>) {
    let pods = pods_of(client, ns, app).await;
    let (name, pod) = pods.iter().next().unwrap();
    let node = pod.spec.clone().unwrap().node_name.unwrap();
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let zone_of = |n: &Node| n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
    let zone = zone_of(
        nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node.as_str()))
            .unwrap(),
    );
    let in_zone = nodes
        .iter()
        .filter(|n| zone_of(n) == zone)
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    (name.clone(), zone, in_zone)
}

async fn cordon(client: &kube::Client, node: &str, on: bool) {
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": on}})),
        )
        .await
        .unwrap();
}

/// Drains the zone of the first postgres pod and returns the Pending pod's
/// scheduling message and its FailedScheduling event once it is recreated.
async fn drain_a_zone(sim: &Simulator) -> (String, String, String, Vec<String>) {
    let client = sim.client("lead").await.unwrap();
    let (pod, _zone, zone_nodes) = pod_in_zone(&client, "data", "postgres").await;
    assert_eq!(zone_nodes.len(), 2, "an apps node and a data node per zone");
    for n in &zone_nodes {
        cordon(&client, n, true).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "data");
    let uid = pods.get(&pod).await.unwrap().metadata.uid;
    pods.evict(&pod, &EvictParams::default()).await.unwrap();
    let message = common::eventually(sim, Duration::from_secs(2), 200, "the pod back and Pending", || {
        let pods = pods.clone();
        let pod = pod.clone();
        let uid = uid.clone();
        async move {
            let p = pods.get_opt(&pod).await.unwrap()?;
            if p.metadata.uid == uid {
                return None;
            }
            p.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .and_then(|c| c.message)
        }
    })
    .await;
    let events: Vec<String> = Api::<Event>::namespaced(client.clone(), "data")
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod},reason=FailedScheduling")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    let event = events.last().cloned().unwrap_or_default();
    (pod, message, event, zone_nodes)
}

#[tokio::test]
async fn a_pod_whose_volume_zone_is_drained_stays_pending_with_the_schedulers_reason() {
    let sim = common::start("stateful").await;
    let (pod, message, event, zone_nodes) = drain_a_zone(&sim).await;
    assert_eq!(
        message,
        "0/6 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 2 node(s) had volume node affinity conflict, 2 node(s) were unschedulable. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling."
    );
    assert_eq!(event, message, "a FailedScheduling event says the same");
    // room again in the zone: the pod goes back to its volume
    let client = sim.client("lead").await.unwrap();
    for n in &zone_nodes {
        cordon(&client, n, false).await;
    }
    let node = common::eventually(&sim, Duration::from_secs(2), 100, "the pod Running in its zone", || {
        let client = client.clone();
        let pod = pod.clone();
        async move {
            let p = Api::<Pod>::namespaced(client, "data").get(&pod).await.unwrap();
            let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
            running.then(|| p.spec?.node_name).flatten()
        }
    })
    .await;
    assert!(zone_nodes.contains(&node), "{node} is in the volume's zone");
}

#[tokio::test]
async fn from_1_33_the_scheduler_words_the_conflict_as_node_affinity_of_the_volume() {
    let mut scenario = Scenario::load("stateful").unwrap();
    scenario.cluster.version = upshift::sim::scenario::MinorVersion::parse("1.33").unwrap();
    for g in &mut scenario.node_groups {
        g.kubelet_version = None;
    }
    let sim = Simulator::start(SimConfig::new(scenario)).await.unwrap();
    let (_, message, _, _) = drain_a_zone(&sim).await;
    assert!(
        message.contains("2 node(s) didn't match PersistentVolume's node affinity"),
        "{message}"
    );
}
