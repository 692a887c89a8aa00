//! StatefulSets in the simulator, through `kube::Client` and kubectl: stable pod
//! names and volume claims, ordered and parallel pod management, rolling updates
//! down to a partition and OnDelete, status and controller revisions; and the
//! available counts of every workload kind waiting for `minReadySeconds`. Zonal
//! volumes under a drained zone: tests/sim_volumes.rs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// One managed group of three nodes over three zones, and a default EBS class.
const SMALL: &str = r#"
name: sts
cluster: {name: sts, version: "1.31"}
nodeGroups:
  - {name: apps, kind: managed, instanceType: m5.xlarge, size: 3}
storageClasses:
  - {name: gp3, default: true}
"#;

async fn start(yaml: &str) -> Simulator {
    let scenario = Scenario::from_yaml(yaml, "test").expect("the scenario parses");
    let mut cfg = SimConfig::new(scenario);
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

fn statefulset(name: &str, replicas: i32, policy: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"sim.upshift.dev/start-seconds": "5"}},
                "spec": {"containers": [{"name": "db", "image": "db:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap()
}

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

fn ready_since(p: &Pod) -> Option<Timestamp> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

fn revision(p: &Pod) -> String {
    p.metadata.labels.as_ref().unwrap()["controller-revision-hash"].clone()
}

async fn status_of(client: &kube::Client, ns: &str, name: &str) -> k8s_openapi::api::apps::v1::StatefulSetStatus {
    Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
        .status
        .unwrap()
}

async fn settled(sim: &Simulator, client: &kube::Client, ns: &str, name: &str, n: i32) {
    common::eventually(sim, Duration::from_secs(2), 200, "the set ready", || {
        let client = client.clone();
        async move {
            let s = status_of(&client, ns, name).await;
            (s.ready_replicas == Some(n)
                && s.replicas == n
                && s.updated_replicas == Some(n)
                && s.current_revision == s.update_revision)
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn ordered_ready_creates_one_pod_at_a_time_each_with_its_own_zonal_volume() {
    let sim = start(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 5432}]}}))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let created = sets
        .create(&PostParams::default(), &statefulset("web", 3, "OrderedReady"))
        .await
        .unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.update_strategy.unwrap().rolling_update.unwrap().partition, Some(0));
    assert_eq!(spec.revision_history_limit, Some(10));
    let first = pods_of(&client, "default", "web").await;
    assert_eq!(first.keys().collect::<Vec<_>>(), ["web-0"], "one pod at a time");

    settled(&sim, &client, "default", "web", 3).await;
    let pods = pods_of(&client, "default", "web").await;
    assert_eq!(pods.keys().collect::<Vec<_>>(), ["web-0", "web-1", "web-2"]);
    for i in 1..3 {
        let created = pods[&format!("web-{i}")].metadata.creation_timestamp.clone().unwrap().0;
        let before_ready = ready_since(&pods[&format!("web-{}", i - 1)]).unwrap();
        assert!(
            created >= before_ready,
            "web-{i} was created before web-{} was Ready",
            i - 1
        );
    }
    let s = status_of(&client, "default", "web").await;
    assert_eq!(
        (
            s.replicas,
            s.ready_replicas,
            s.available_replicas,
            s.current_replicas,
            s.updated_replicas
        ),
        (3, Some(3), Some(3), Some(3), Some(3))
    );
    let rev = s.update_revision.clone().unwrap();
    assert!(rev.starts_with("web-"), "{rev}");
    assert_eq!(s.observed_generation, Some(1));
    let revisions = Api::<ControllerRevision>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(revisions.len(), 1);
    assert_eq!(
        (revisions[0].metadata.name.as_deref(), revisions[0].revision),
        (Some(rev.as_str()), 1)
    );

    // each pod: its identity, and a claim bound to a volume in its node's zone
    let nodes: BTreeMap<String, String> = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| {
            let zone = n.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
            (n.metadata.name.unwrap(), zone)
        })
        .collect();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for (i, (name, pod)) in pods.iter().enumerate() {
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], *name);
        assert_eq!(labels["apps.kubernetes.io/pod-index"], i.to_string());
        assert_eq!(labels["controller-revision-hash"], rev);
        let pspec = pod.spec.clone().unwrap();
        assert_eq!(
            (pspec.hostname.as_deref(), pspec.subdomain.as_deref()),
            (Some(name.as_str()), Some("web"))
        );
        let claim_name = format!("data-web-{i}");
        let vol = pspec.volumes.unwrap().into_iter().find(|v| v.name == "data").unwrap();
        assert_eq!(vol.persistent_volume_claim.unwrap().claim_name, claim_name);
        let pvc = claims.get(&claim_name).await.unwrap();
        assert_eq!(pvc.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
        assert_eq!(pvc.spec.as_ref().unwrap().storage_class_name.as_deref(), Some("gp3"));
        assert_eq!(pvc.metadata.labels.as_ref().unwrap()["app"], "web");
        let node = pspec.node_name.unwrap();
        assert_eq!(
            pvc.metadata.annotations.as_ref().unwrap()["volume.kubernetes.io/selected-node"],
            node
        );
        let pv = volumes
            .get(pvc.spec.as_ref().unwrap().volume_name.as_deref().unwrap())
            .await
            .unwrap();
        let term = &pv
            .spec
            .as_ref()
            .unwrap()
            .node_affinity
            .clone()
            .unwrap()
            .required
            .unwrap()
            .node_selector_terms[0];
        let expr = &term.match_expressions.as_ref().unwrap()[0];
        assert_eq!(
            (expr.key.as_str(), expr.operator.as_str()),
            ("topology.kubernetes.io/zone", "In")
        );
        assert_eq!(expr.values.as_ref().unwrap(), &vec![nodes[&node].clone()]);
        assert_eq!(
            pv.spec.as_ref().unwrap().claim_ref.as_ref().unwrap().name.as_deref(),
            Some(claim_name.as_str())
        );
    }
    // the headless Service publishes each pod under its hostname
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items;
    let mut hostnames: Vec<String> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter().filter_map(|e| e.hostname.clone()))
        .collect();
    hostnames.sort();
    assert_eq!(hostnames, ["web-0", "web-1", "web-2"]);
    assert!(
        slices[0]
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .contains_key("service.kubernetes.io/headless")
    );
    // the controller said what it did, as the real one does
    let events: Vec<String> = Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default().fields("involvedObject.kind=StatefulSet,involvedObject.name=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert!(
        events.contains(&"create Pod web-0 in StatefulSet web successful".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"create Claim data-web-2 Pod web-2 in StatefulSet web success".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn parallel_creates_every_pod_at_once_and_scaling_down_goes_from_the_highest_ordinal() {
    let sim = start(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &statefulset("cache", 3, "Parallel"))
        .await
        .unwrap();
    assert_eq!(pods_of(&client, "default", "cache").await.len(), 3, "all at once");

    sets.create(&PostParams::default(), &statefulset("db", 3, "OrderedReady"))
        .await
        .unwrap();
    settled(&sim, &client, "default", "db", 3).await;
    sets.patch_scale(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let terminating = |pods: &BTreeMap<String, Pod>| -> Vec<String> {
        pods.iter()
            .filter(|(_, p)| p.metadata.deletion_timestamp.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    };
    let pods = pods_of(&client, "default", "db").await;
    assert_eq!(terminating(&pods), ["db-2"], "the highest ordinal goes first, alone");
    common::eventually(&sim, Duration::from_secs(1), 200, "db-1 goes once db-2 is gone", || {
        let client = client.clone();
        async move {
            let pods = pods_of(&client, "default", "db").await;
            (!pods.contains_key("db-2") && terminating(&pods) == ["db-1"]).then_some(())
        }
    })
    .await;
    settled(&sim, &client, "default", "db", 1).await;
    // the claims stay for when the set grows again
    let claims: Vec<String> = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("app=db"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(claims, ["data-db-0", "data-db-1", "data-db-2"]);
}

#[tokio::test]
async fn rolling_updates_go_from_the_highest_ordinal_down_to_the_partition() {
    let sim = start(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &statefulset("db", 3, "OrderedReady"))
        .await
        .unwrap();
    settled(&sim, &client, "default", "db", 3).await;
    let old = status_of(&client, "default", "db").await.current_revision.unwrap();
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {
            "updateStrategy": {"rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "db", "image": "db:2"}]}}}})),
    )
    .await
    .unwrap();
    // watch the order in which pods are replaced
    let mut order: Vec<String> = Vec::new();
    for _ in 0..300 {
        let pods = pods_of(&client, "default", "db").await;
        for (n, p) in &pods {
            if p.metadata.deletion_timestamp.is_some() && !order.contains(n) {
                order.push(n.clone());
            }
        }
        let s = status_of(&client, "default", "db").await;
        if s.updated_replicas == Some(2) && s.ready_replicas == Some(3) {
            break;
        }
        sim.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(order, ["db-2", "db-1"], "highest ordinal first, down to the partition");
    let s = status_of(&client, "default", "db").await;
    let new = s.update_revision.clone().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        s.current_revision.as_deref(),
        Some(old.as_str()),
        "not complete below the partition"
    );
    assert_eq!((s.current_replicas, s.updated_replicas), (Some(1), Some(2)));
    let pods = pods_of(&client, "default", "db").await;
    assert_eq!(revision(&pods["db-0"]), old);
    assert_eq!(revision(&pods["db-2"]), new);
    assert_eq!(
        pods["db-2"].spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("db:2")
    );

    // a pod below the partition that goes comes back at the current revision
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete("db-0", &DeleteParams::default())
        .await
        .unwrap();
    common::eventually(&sim, Duration::from_secs(1), 200, "db-0 back", || {
        let client = client.clone();
        async move {
            let pods = pods_of(&client, "default", "db").await;
            pods.get("db-0")
                .filter(|p| p.metadata.deletion_timestamp.is_none() && ready_since(p).is_some())
                .map(revision)
        }
    })
    .await;
    assert_eq!(revision(&pods_of(&client, "default", "db").await["db-0"]), old);

    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
    )
    .await
    .unwrap();
    settled(&sim, &client, "default", "db", 3).await;
    let s = status_of(&client, "default", "db").await;
    assert_eq!(s.current_revision.as_deref(), Some(new.as_str()));
    assert_eq!(s.current_replicas, Some(3));
    let revisions: BTreeMap<String, i64> = Api::<ControllerRevision>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.metadata.name.unwrap(), r.revision))
        .collect();
    assert_eq!(revisions, BTreeMap::from([(old, 1), (new, 2)]));
}

#[tokio::test]
async fn on_delete_replaces_a_pod_only_when_it_is_deleted_and_it_keeps_its_volume() {
    let sim = start(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let mut set = statefulset("db", 3, "Parallel");
    set.spec.as_mut().unwrap().update_strategy = Some(serde_json::from_value(json!({"type": "OnDelete"})).unwrap());
    sets.create(&PostParams::default(), &set).await.unwrap();
    settled(&sim, &client, "default", "db", 3).await;
    let before = pods_of(&client, "default", "db").await;
    let old = revision(&before["db-1"]);
    let volume_before = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default")
        .get("data-db-1")
        .await
        .unwrap()
        .spec
        .unwrap()
        .volume_name;
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "db:2"}]}}}})),
    )
    .await
    .unwrap();
    sim.advance(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pods = pods_of(&client, "default", "db").await;
    assert!(
        pods.values().all(|p| revision(p) == old),
        "OnDelete replaces nothing by itself"
    );
    let s = status_of(&client, "default", "db").await;
    assert_ne!(s.update_revision.as_deref(), Some(old.as_str()));
    assert_eq!(s.updated_replicas, Some(0));

    let evicted = Api::<Pod>::namespaced(client.clone(), "default")
        .evict("db-1", &EvictParams::default())
        .await;
    assert!(evicted.is_ok(), "{evicted:?}");
    let back = common::eventually(&sim, Duration::from_secs(1), 200, "db-1 back, new revision", || {
        let client = client.clone();
        let old = old.clone();
        async move {
            let pods = pods_of(&client, "default", "db").await;
            pods.get("db-1")
                .filter(|p| revision(p) != old && ready_since(p).is_some())
                .cloned()
        }
    })
    .await;
    assert_ne!(
        back.metadata.uid, before["db-1"].metadata.uid,
        "a new pod under the old name"
    );
    assert_eq!(back.spec.as_ref().unwrap().containers[0].image.as_deref(), Some("db:2"));
    let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default")
        .get("data-db-1")
        .await
        .unwrap();
    assert_eq!(pvc.spec.unwrap().volume_name, volume_before, "the same volume");
    assert_eq!(revision(&pods_of(&client, "default", "db").await["db-0"]), old);
}

#[tokio::test]
async fn available_counts_wait_for_min_ready_seconds() {
    let sim = start(SMALL).await;
    let client = sim.client("lead").await.unwrap();
    let template = |app: &str| {
        json!({"metadata": {"labels": {"app": app}, "annotations": {"sim.upshift.dev/start-seconds": "5"}},
               "spec": {"containers": [{"name": "c", "image": "c:1"}]}})
    };
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "slow"}, "spec": {
        "replicas": 2, "minReadySeconds": 60, "selector": {"matchLabels": {"app": "slow"}}, "template": template("slow")}}))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "minReadySeconds": 60, "selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}}))
    .unwrap();
    Api::<DaemonSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &ds)
        .await
        .unwrap();
    let mut set = statefulset("ordered", 2, "OrderedReady");
    set.spec.as_mut().unwrap().min_ready_seconds = Some(60);
    Api::<StatefulSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    sim.advance(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dep = Api::<Deployment>::namespaced(client.clone(), "default")
        .get("slow")
        .await
        .unwrap();
    let st = dep.status.unwrap();
    assert_eq!((st.ready_replicas, st.available_replicas), (Some(2), Some(0)));
    assert_eq!(st.unavailable_replicas, Some(2));
    let avail = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(
        avail.status, "False",
        "below minimum availability while nothing is available"
    );
    let dst = Api::<DaemonSet>::namespaced(client.clone(), "default")
        .get("agent")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!((dst.number_ready, dst.number_available), (3, Some(0)));
    assert_eq!(dst.number_unavailable, Some(3));
    let sst = status_of(&client, "default", "ordered").await;
    assert_eq!((sst.ready_replicas, sst.available_replicas), (Some(1), Some(0)));
    assert!(
        !pods_of(&client, "default", "ordered").await.contains_key("ordered-1"),
        "waits for ordered-0 to be available"
    );

    sim.advance(Duration::from_secs(61));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = Api::<Deployment>::namespaced(client.clone(), "default")
        .get("slow")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(st.available_replicas, Some(2));
    let dst = Api::<DaemonSet>::namespaced(client.clone(), "default")
        .get("agent")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(dst.number_available, Some(3));
    assert!(pods_of(&client, "default", "ordered").await.contains_key("ordered-1"));
}

#[tokio::test]
async fn kubectl_shows_statefulsets_claims_volumes_and_classes() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("stateful").await;
    let k = common::Kubectl::new(bin, &sim);
    let out = k.ok(&["get", "statefulsets", "-n", "data"]).await;
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "READY", "AGE"], "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("postgres") && l.contains(" 3/3 ")),
        "{out}"
    );
    let wide = k.ok(&["get", "sts", "-n", "data", "-o", "wide"]).await;
    assert!(wide.contains("CONTAINERS") && wide.contains("postgres:16.4"), "{wide}");

    let out = k.ok(&["get", "pvc", "-n", "data"]).await;
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("data-postgres-0"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        (row[1], row[3], row[4], row[5], row[6]),
        ("Bound", "50Gi", "RWO", "gp3", "<unset>"),
        "{out}"
    );
    assert!(row[2].starts_with("pvc-"));
    let out = k.ok(&["get", "pv"]).await;
    assert!(
        out.lines().next().unwrap().contains("RECLAIM POLICY") && out.contains("data/data-postgres-0"),
        "{out}"
    );
    let out = k.ok(&["get", "storageclass"]).await;
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            "gp3",
            "(default)",
            "ebs.csi.aws.com",
            "Delete",
            "WaitForFirstConsumer",
            "true"
        ],
        "{out}"
    );
    let out = k.ok(&["get", "controllerrevisions", "-n", "data"]).await;
    assert!(out.contains("statefulset.apps/postgres"), "{out}");

    let out = k.ok(&["describe", "statefulset", "postgres", "-n", "data"]).await;
    for want in [
        "Replicas:",
        "3 desired | 3 total",
        "Pods Status:",
        "3 Running",
        "Volume Claims:",
        "50Gi",
        "Update Strategy:",
        "RollingUpdate",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    let yaml = k.ok(&["get", "sts", "postgres", "-n", "data", "-o", "yaml"]).await;
    for want in [
        "kind: StatefulSet",
        "podManagementPolicy: OrderedReady",
        "updateRevision: postgres-",
        "volumeClaimTemplates:",
    ] {
        assert!(yaml.contains(want), "{want} in {yaml}");
    }
    let out = k.ok(&["describe", "storageclass", "gp3"]).await;
    for want in [
        "IsDefaultClass:",
        "Yes",
        "Provisioner:",
        "ebs.csi.aws.com",
        "VolumeBindingMode:",
        "WaitForFirstConsumer",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    let out = k
        .ok(&["rollout", "history", "statefulset/postgres", "-n", "data"])
        .await;
    assert!(out.lines().any(|l| l.trim_start().starts_with('1')), "{out}");
    let out = k.ok(&["describe", "pv"]).await;
    assert!(out.contains("topology.kubernetes.io/zone in [eu-west-1"), "{out}");
    let out = k.ok(&["describe", "pvc", "data-postgres-0", "-n", "data"]).await;
    assert!(
        out.contains("Used By:") && out.contains("postgres-0") && out.contains("Bound"),
        "{out}"
    );

    let out = k
        .ok(&["scale", "statefulset", "redis", "-n", "data", "--replicas", "2"])
        .await;
    assert!(out.contains("scaled"), "{out}");
    let out = k.ok(&["get", "pods", "-n", "data", "-l", "app=redis"]).await;
    assert!(out.contains("redis-2") && out.contains("Terminating"), "{out}");
    let out = k
        .ok(&[
            "rollout",
            "status",
            "statefulset/postgres",
            "-n",
            "data",
            "--timeout=10s",
        ])
        .await;
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
}
