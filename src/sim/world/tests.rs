//! Controller behaviour on a small hand-built world, stepping virtual time.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

use super::nodes::{self, NodeGroupKind, NodeGroupState};
use super::{ClusterState, EvictionVerdict, World};
use crate::sim::clock::Clock;

fn world(nodes_n: u32) -> World {
    let clock = Clock::starting_at(Timestamp::from_second(1_800_000_000).unwrap(), 1.0);
    let mut w = World::new(
        clock,
        ClusterState {
            name: "t".into(),
            region: "eu-west-1".into(),
            account: "1".into(),
            version: "1.30".into(),
        },
        7,
    );
    w.groups.push(NodeGroupState::new(
        "apps".into(),
        NodeGroupKind::Managed,
        "m5.xlarge".into(),
        vec!["eu-west-1a".into(), "eu-west-1b".into()],
        nodes_n,
        nodes_n,
        nodes_n * 2,
        "1.30".into(),
        (4000, 16 << 30, 58),
        BTreeMap::new(),
        vec![],
        60.0,
    ));
    for _ in 0..nodes_n {
        nodes::launch(&mut w, 0, true);
    }
    for ns in ["default", "kube-system"] {
        w.put(
            serde_json::from_value::<k8s_openapi::api::core::v1::Namespace>(json!({"metadata": {"name": ns}})).unwrap(),
        );
    }
    w
}

fn step(w: &mut World, secs: u64) {
    w.clock.advance(Duration::from_secs(secs));
    w.tick();
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    let mut d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"sim.upshift.dev/start-seconds": "5"}},
                "spec": {"containers": [{"name": "c", "image": image, "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
            }
        }
    }))
    .unwrap();
    d.metadata.uid = Some(format!("uid-{name}"));
    d
}

fn running(w: &World, app: &str) -> Vec<std::sync::Arc<Pod>> {
    w.pods
        .in_namespace("default")
        .map(|(_, p)| p.clone())
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some(app)
        })
        .filter(|p| super::kubelet::is_ready(p))
        .collect()
}

fn image_of(p: &Pod) -> String {
    p.spec.as_ref().unwrap().containers[0].image.clone().unwrap()
}

#[test]
fn a_rolling_update_replaces_every_pod_without_dropping_below_availability() {
    let mut w = world(3);
    w.put(deployment("web", 4, "web:1"));
    w.reconcile();
    for _ in 0..5 {
        step(&mut w, 3);
    }
    assert_eq!(running(&w, "web").len(), 4);
    let mut d = (*w.deployments.get("default/web").unwrap().clone()).clone();
    d.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].image = Some("web:2".into());
    d.metadata.generation = Some(2);
    w.put(d);
    w.reconcile();
    let mut min_ready = usize::MAX;
    for _ in 0..60 {
        step(&mut w, 2);
        min_ready = min_ready.min(running(&w, "web").len());
    }
    let pods = running(&w, "web");
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(|p| image_of(p) == "web:2"), "all pods on the new image");
    // maxUnavailable 25% of 4 = 1: at least 3 ready all along
    assert!(min_ready >= 3, "availability dropped to {min_ready}");
    let status = w.deployments.get("default/web").unwrap().status.clone().unwrap();
    assert_eq!(status.updated_replicas, Some(4));
    assert_eq!(status.ready_replicas, Some(4));
    assert_eq!(w.replicasets.len(), 2, "old ReplicaSet kept, scaled to zero");
}

#[test]
fn a_daemonset_runs_one_pod_per_node_and_rolls_to_a_new_image() {
    let mut w = world(4);
    let mut ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "kube-system", "uid": "uid-agent", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}
        }
    }))
    .unwrap();
    w.put(ds.clone());
    w.reconcile();
    step(&mut w, 10);
    let on_nodes = |w: &World, image: &str| {
        w.pods
            .in_namespace("kube-system")
            .filter(|(_, p)| super::kubelet::is_ready(p) && image_of(p) == image)
            .count()
    };
    assert_eq!(on_nodes(&w, "agent:1"), 4);
    ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].image = Some("agent:2".into());
    w.put(ds);
    w.reconcile();
    for _ in 0..40 {
        step(&mut w, 3);
    }
    assert_eq!(on_nodes(&w, "agent:2"), 4);
    assert_eq!(on_nodes(&w, "agent:1"), 0);
}

#[test]
fn evictions_respect_a_budget_and_replacements_restore_it() {
    let mut w = world(3);
    w.put(deployment("api", 3, "api:1"));
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "default", "generation": 1},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "api"}}}
    }))
    .unwrap();
    w.put(pdb);
    w.reconcile();
    for _ in 0..5 {
        step(&mut w, 3);
    }
    let status = w.pdbs.get("default/api").unwrap().status.clone().unwrap();
    assert_eq!(
        (
            status.current_healthy,
            status.desired_healthy,
            status.disruptions_allowed,
            status.expected_pods
        ),
        (3, 2, 1, 3)
    );
    let pods: Vec<String> = running(&w, "api").iter().map(|p| super::key(&**p)).collect();
    assert_eq!(w.evict(&pods[0], None), EvictionVerdict::Evicted);
    match w.evict(&pods[1], None) {
        EvictionVerdict::Blocked { pdb, cause } => {
            assert_eq!(pdb, "api");
            assert_eq!(
                cause,
                "The disruption budget api needs 2 healthy pods and has 2 currently"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    for _ in 0..10 {
        step(&mut w, 3);
    }
    assert_eq!(running(&w, "api").len(), 3);
    assert_eq!(w.evict(&pods[1], None), EvictionVerdict::Evicted);
    assert_eq!(w.evict("default/nope", None), EvictionVerdict::NotFound);
}

#[test]
fn a_terminated_instance_takes_its_node_and_pods_and_is_replaced() {
    let mut w = world(2);
    w.put(deployment("web", 4, "web:1"));
    w.reconcile();
    step(&mut w, 10);
    let inst = w.groups[0].instances[0].clone();
    let on_it = w.idx.pods_by_node.get(&inst.node_name).map(|s| s.len()).unwrap_or(0);
    assert!(on_it > 0);
    assert!(nodes::terminate(&mut w, &inst.id, true));
    w.reconcile();
    let ready = w.nodes.get(&inst.node_name).map(|n| super::scheduler::node_ready(n));
    assert_eq!(ready, Some(false), "NotReady at once");
    for _ in 0..30 {
        step(&mut w, 5);
    }
    assert!(w.nodes.get(&inst.node_name).is_none(), "the node is gone");
    assert_eq!(w.nodes.len(), 2, "a replacement joined");
    assert_eq!(running(&w, "web").len(), 4, "its pods run elsewhere");
}

#[test]
fn timers_fire_in_virtual_time_order() {
    let mut w = world(1);
    w.put(deployment("one", 1, "x:1"));
    w.reconcile();
    let p = w.pods.in_namespace("default").next().map(|(_, p)| p.clone()).unwrap();
    assert_eq!(super::kubelet::phase(&p), "Pending");
    step(&mut w, 2);
    assert!(running(&w, "one").is_empty(), "start takes 5 virtual seconds");
    step(&mut w, 4);
    assert_eq!(running(&w, "one").len(), 1);
    assert!(w.next_due().is_none());
}

fn faulty(name: &str, fault: &str, on_kubelet: Option<&str>) -> Deployment {
    let mut d = deployment(name, 2, "x:1");
    let ann = d
        .spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .annotations
        .as_mut()
        .unwrap();
    ann.insert(super::annotations::FAULT.into(), fault.into());
    if let Some(v) = on_kubelet {
        ann.insert(super::annotations::FAULT_ON_KUBELET.into(), v.into());
    }
    d
}

fn container(w: &World, app: &str) -> Vec<k8s_openapi::api::core::v1::ContainerStatus> {
    w.pods
        .in_namespace("default")
        .map(|(_, p)| p.clone())
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some(app)
        })
        .map(|p| p.status.clone().unwrap().container_statuses.unwrap()[0].clone())
        .collect()
}

#[test]
fn crash_looping_containers_restart_with_growing_back_off() {
    let mut w = world(2);
    w.put(faulty("crashy", "CrashLoopBackOff", None));
    w.reconcile();
    let mut restarts_seen = Vec::new();
    for _ in 0..120 {
        step(&mut w, 1);
        restarts_seen.push(container(&w, "crashy")[0].restart_count);
    }
    let cs = container(&w, "crashy");
    assert_eq!(cs.len(), 2);
    // 5 s start, 3 s run, then back-offs of 10, 20, 40 s: four restarts within 2 minutes
    assert!(
        (3..=5).contains(&cs[0].restart_count),
        "restarts {}",
        cs[0].restart_count
    );
    let gaps: Vec<usize> = restarts_seen
        .windows(2)
        .enumerate()
        .filter(|(_, p)| p[1] > p[0])
        .map(|(i, _)| i)
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] - g[0] > 10),
        "each restart waits longer: {gaps:?}"
    );
    let last = cs[0].last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(running(&w, "crashy").len() < 2 || cs.iter().any(|c| !c.ready));
    let backoffs = w
        .events
        .items()
        .values()
        .filter(|e| e.reason.as_deref() == Some("BackOff"))
        .count();
    assert!(backoffs >= 1);
}

#[test]
fn image_pull_and_oom_faults() {
    let mut w = world(2);
    w.put(faulty("nopull", "ImagePullBackOff", None));
    w.put(faulty("oom", "OOMKilled", None));
    w.reconcile();
    for _ in 0..30 {
        step(&mut w, 1);
    }
    for c in container(&w, "nopull") {
        assert_eq!(
            c.state.unwrap().waiting.unwrap().reason.as_deref(),
            Some("ImagePullBackOff")
        );
        assert!(!c.ready);
    }
    let pulls: Vec<_> = w
        .pods
        .in_namespace("default")
        .filter(|(k, _)| k.contains("nopull"))
        .collect();
    assert!(pulls.iter().all(|(_, p)| super::kubelet::phase(p) == "Pending"));
    for c in container(&w, "oom") {
        let t = c.last_state.unwrap().terminated.unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
        assert!(c.restart_count >= 1);
    }
}

#[test]
fn a_fault_tied_to_a_kubelet_version_strikes_only_there() {
    let mut w = world(2);
    w.put(faulty("picky", "CrashLoopBackOff", Some("1.31")));
    w.reconcile();
    for _ in 0..40 {
        step(&mut w, 1);
    }
    assert_eq!(running(&w, "picky").len(), 2, "fine on 1.30 nodes");
    assert!(container(&w, "picky").iter().all(|c| c.restart_count == 0));
    // new instances boot on 1.31; the old ones go
    w.groups[0].version = "1.31".into();
    let old: Vec<String> = w.groups[0].instances.iter().map(|i| i.id.clone()).collect();
    for id in old {
        nodes::terminate(&mut w, &id, true);
    }
    w.reconcile();
    for _ in 0..120 {
        step(&mut w, 2);
    }
    assert!(w.nodes.items().values().all(|n| {
        n.status
            .as_ref()
            .unwrap()
            .node_info
            .as_ref()
            .unwrap()
            .kubelet_version
            .starts_with("v1.31")
    }));
    assert!(
        container(&w, "picky").iter().all(|c| c.restart_count >= 1),
        "crash-looping on 1.31"
    );
}
