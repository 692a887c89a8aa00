//! The read-only cockpit's eyes against the simulator: the model mirrors the cluster,
//! a node cordoned with kubectl shows as cordoned, unschedulable pods are counted with
//! the scheduler's reason, a crash-looping workload shows in pod errors, dropped and
//! expired watches recover without losing state, a restricted identity is told what
//! it cannot see, and the simulator's counts prove the viewer never wrote.

mod common;

use std::time::{Duration, Instant};

use common::Inspect;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use tokio::sync::mpsc;
use upshift::cluster::watch::Watches;
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::pod::ErrorKind;
use upshift::model::{Delta, Source, SourceState};
use upshift::sim::Simulator;

/// A cockpit's model fed by real watches on the simulator, without a screen.
struct Eyes {
    cockpit: Cockpit,
    rx: mpsc::Receiver<Delta>,
    _watches: Watches,
}

impl Eyes {
    async fn open(sim: &Simulator, context: &str) -> Eyes {
        let client = sim.client(context).await.expect("client");
        let connection = Connection {
            context: context.into(),
            ..Connection::default()
        };
        let (tx, rx) = mpsc::channel(256);
        let watches = ClusterReader::new(client).start(tx);
        Eyes {
            cockpit: Cockpit::new(connection, jiff::Timestamp::now()),
            rx,
            _watches: watches,
        }
    }

    /// Takes in changes until `check` holds; while nothing arrives, moves virtual time
    /// on by `step`. Fails the test after 30 real seconds.
    async fn until(&mut self, sim: &Simulator, step: Duration, what: &str, check: impl Fn(&Cockpit) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.cockpit.refresh();
            if check(&self.cockpit) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for: {what}\nsources: {:?}\nsignals: {:#?}",
                self.cockpit.model.sources,
                self.cockpit.signals
            );
            match tokio::time::timeout(Duration::from_millis(50), self.rx.recv()).await {
                Ok(Some(d)) => self.cockpit.take_in(d, &mut self.rx),
                Ok(None) => panic!("the watches stopped"),
                Err(_) => sim.advance(step),
            }
        }
    }

    async fn synced(&mut self, sim: &Simulator) {
        self.until(sim, Duration::ZERO, "every watch listed", |c| c.model.synced())
            .await;
    }
}

fn first_node_of(sim: &Simulator, group: &str) -> String {
    sim.nodes_labelled("eks.amazonaws.com/nodegroup", group)
        .into_iter()
        .find_map(|n| n.metadata.name)
        .expect("the group has a node")
}

async fn cordon_with_kubectl_or_client(sim: &Simulator, node: &str) {
    if let Some(bin) = common::kubectl_path() {
        let k = common::Kubectl::new(bin, sim);
        let out = k.ok(&["--context", "lead", "cordon", node]).await;
        assert!(out.contains("cordoned"), "{out}");
    } else {
        eprintln!("SKIPPED the kubectl part: kubectl is not installed; cordoning through kube::Client instead");
        let nodes: Api<Node> = Api::all(sim.client("lead").await.unwrap());
        nodes.cordon(node).await.unwrap();
    }
}

#[tokio::test]
async fn the_model_mirrors_the_cluster_and_the_viewer_never_writes() {
    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.synced(&sim).await;
    eyes.until(&sim, Duration::ZERO, "the server version", |c| {
        c.model.server_version.is_some()
    })
    .await;
    let (nodes, pods) = (sim.node_count(), sim.pod_count());
    let s = &eyes.cockpit.signals;
    assert_eq!(s.nodes.rows.len(), nodes);
    assert_eq!(s.nodes.total, nodes);
    assert_eq!(s.pods_total, pods);
    let groups: Vec<&str> = s.nodes.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["apps", "batch", "system"]);
    assert_eq!(s.nodes.target.as_deref(), Some("1.34"));
    assert_eq!(s.nodes.old, 0, "every node is on the control plane's minor");
    assert!(
        s.components.missing.is_empty(),
        "all four critical components found: {:?}",
        s.components
    );
    let names: Vec<String> = s.components.items.iter().map(|c| c.key()).collect();
    for want in [
        "kube-system/coredns",
        "kube-system/aws-node",
        "kube-system/kube-proxy",
        "ingress-nginx/ingress-nginx-controller",
        "kube-system/cluster-autoscaler",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} among {names:?}");
    }
    let blocking: Vec<String> = s.components.blocking_pdbs.iter().map(|p| p.key()).collect();
    assert_eq!(blocking, ["payments/ledger"]);
    assert_eq!(s.unscheduled.count, 0);
    assert!(s.blind.is_empty());

    let node = first_node_of(&sim, "apps");
    cordon_with_kubectl_or_client(&sim, &node).await;
    eyes.until(&sim, Duration::ZERO, "the node shows as cordoned", |c| {
        c.signals
            .nodes
            .rows
            .iter()
            .any(|r| r.name == node && r.cordoned && r.state() == "Cordoned")
    })
    .await;
    assert_eq!(eyes.cockpit.signals.nodes.cordoned, 1);
    let apps = eyes
        .cockpit
        .signals
        .nodes
        .groups
        .iter()
        .find(|g| g.name == "apps")
        .unwrap();
    assert_eq!(apps.cordoned, 1);
    assert!(
        eyes.cockpit
            .log
            .entries()
            .iter()
            .any(|e| e.reason == "NodeCordoned" && e.object == format!("Node/{node}")),
        "the log notes the cordon"
    );

    let counts = sim.request_counts();
    assert_eq!(counts.mutating("viewer"), 0, "the viewer wrote: {counts:?}");
    let viewer = counts.0.get("viewer").expect("the viewer made requests");
    assert!(viewer.get("list").is_some_and(|r| r.contains_key("pods")), "{viewer:?}");
    assert!(
        viewer.get("watch").is_some_and(|r| r.contains_key("nodes")),
        "{viewer:?}"
    );
}

#[tokio::test]
async fn unschedulable_pods_are_counted_with_the_schedulers_reason() {
    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.synced(&sim).await;
    let deployments: Api<Deployment> = Api::namespaced(sim.client("lead").await.unwrap(), "shop");
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 400}})),
        )
        .await
        .unwrap();
    eyes.until(&sim, Duration::from_secs(2), "pods that fit nowhere", |c| {
        let u = &c.signals.unscheduled;
        u.count >= 100 && u.reasons.iter().any(|(r, n)| r == "Insufficient cpu" && *n > 0)
    })
    .await;
    let u = &eyes.cockpit.signals.unscheduled;
    assert!(u.pods.iter().all(|(k, _)| k.starts_with("shop/web-")), "{:?}", u.pods);
    assert!(u.pods[0].1.contains("nodes are available"), "{:?}", u.pods[0]);
    assert!(u.oldest.is_some());

    // back to a size that fits: the count falls to zero
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 16}})),
        )
        .await
        .unwrap();
    eyes.until(&sim, Duration::from_secs(5), "no unscheduled pods", |c| {
        c.signals.unscheduled.count == 0
    })
    .await;
}

#[tokio::test]
async fn a_crash_looping_workload_shows_in_pod_errors() {
    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.synced(&sim).await;
    assert_eq!(eyes.cockpit.signals.errors.pods, 0, "the demo starts healthy");
    let deployments: Api<Deployment> = Api::namespaced(sim.client("lead").await.unwrap(), "shop");
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "sim.upshift.dev/fault": "CrashLoopBackOff"
    }}}}});
    deployments
        .patch("cart", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    eyes.until(&sim, Duration::from_secs(5), "cart crash-looping with restarts", |c| {
        c.signals
            .errors
            .top
            .iter()
            .any(|o| o.workload == "shop/cart" && o.kind == ErrorKind::CrashLoopBackOff && o.restarts > 0)
    })
    .await;
    let e = eyes.cockpit.signals.errors.clone();
    assert!(e.by_kind.get("CrashLoopBackOff").copied().unwrap_or(0) > 0, "{e:?}");
    assert!(e.restarts > 0);
    assert_eq!(e.top[0].workload, "shop/cart", "the worst offender first: {:?}", e.top);
    // the restart series sees activity once sampled
    eyes.cockpit.tick(jiff::Timestamp::now());
    sim.advance(Duration::from_secs(120));
    eyes.until(&sim, Duration::from_secs(30), "more restarts", |c| {
        c.signals.errors.restarts > e.restarts
    })
    .await;
    eyes.cockpit.tick(jiff::Timestamp::now());
    assert!(eyes.cockpit.series.restarts.latest().unwrap_or(0) > 0);
}

#[tokio::test]
async fn dropped_and_expired_watches_recover_without_losing_state() {
    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.synced(&sim).await;
    let lead = sim.client("lead").await.unwrap();

    // a dropped connection: the watch resumes from its resourceVersion
    sim.drop_watches();
    let node = first_node_of(&sim, "system");
    Api::<Node>::all(lead.clone()).cordon(&node).await.unwrap();
    eyes.until(&sim, Duration::ZERO, "the cordon after a dropped watch", |c| {
        c.signals.nodes.rows.iter().any(|r| r.name == node && r.cordoned)
    })
    .await;

    // history expired while disconnected: 410 Gone, a relist, and deletions seen
    let victim = {
        let key = sim
            .pod_keys()
            .into_iter()
            .find(|k| k.starts_with("monitoring/"))
            .unwrap();
        let (ns, name) = key.split_once('/').unwrap();
        (ns.to_string(), name.to_string())
    };
    let pods: Api<Pod> = Api::namespaced(lead.clone(), &victim.0);
    pods.delete(&victim.1, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    sim.compact();
    sim.drop_watches();
    let key = format!("{}/{}", victim.0, victim.1);
    eyes.until(&sim, Duration::ZERO, "the relisted model equals the cluster", |c| {
        let keys = sim.pod_keys();
        !c.model.pods.items.contains_key(&key)
            && c.model.pods.len() == keys.len()
            && keys.iter().all(|k| c.model.pods.items.contains_key(k.as_str()))
    })
    .await;
    assert!(eyes.cockpit.model.synced());
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}

#[tokio::test]
async fn a_restricted_identity_is_told_what_it_cannot_see() {
    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "restricted").await;
    eyes.until(&sim, Duration::ZERO, "nodes listed, pods and events refused", |c| {
        c.model.synced()
            && c.model.sources.get(&Source::Nodes) == Some(&SourceState::Synced)
            && matches!(c.model.sources.get(&Source::Pods), Some(SourceState::Forbidden(_)))
            && matches!(c.model.sources.get(&Source::Events), Some(SourceState::Forbidden(_)))
    })
    .await;
    let s = &eyes.cockpit.signals;
    let blind: Vec<&str> = s.blind.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(blind, ["pods", "events"]);
    assert!(s.blind[0].1.contains("forbidden"), "{:?}", s.blind);
    assert_eq!(s.nodes.total, sim.node_count(), "nodes are still seen");
    assert!(
        eyes.cockpit
            .log
            .entries()
            .iter()
            .any(|e| e.reason == "CannotSee" && e.message.contains("pods")),
        "the log says what cannot be seen"
    );
}
