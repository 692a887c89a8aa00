//! The read-only cockpit on Karpenter's clusters, against the simulator: the
//! `karpenter` scenario's nodes grouped by NodePool beside the `system` node group;
//! after the control plane moves to 1.31, the `general` NodePool's nodes drift and are
//! disrupted (the pinned `critical` does not); a NodeClaim that cannot launch is
//! explained with the pods it was for; Auto Mode is recognised; the viewer's RBAC
//! covers the new watches, and a cluster without Karpenter stays as it was.

mod common;
#[path = "sim_karpenter_common/mod.rs"]
mod k;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::sync::mpsc;
use upshift::cluster::watch::Watches;
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::nodepools::PoolState;
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
        let (tx, rx) = mpsc::channel(256);
        let watches = ClusterReader::new(client).start(tx);
        Eyes {
            cockpit: Cockpit::new(
                Connection {
                    context: context.into(),
                    ..Connection::default()
                },
                jiff::Timestamp::now(),
            ),
            rx,
            _watches: watches,
        }
    }

    /// Takes in changes until `check` holds; while nothing arrives, moves virtual time
    /// on by `step`. Fails the test after 60 real seconds.
    async fn until(&mut self, sim: &Simulator, step: Duration, what: &str, check: impl Fn(&Cockpit) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.cockpit.refresh();
            if check(&self.cockpit) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for: {what}\nsources: {:?}\nnodepools: {:#?}\nunscheduled: {:#?}",
                self.cockpit.model.sources,
                self.cockpit.signals.nodepools,
                self.cockpit.signals.unscheduled,
            );
            match tokio::time::timeout(Duration::from_millis(50), self.rx.recv()).await {
                Ok(Some(d)) => self.cockpit.take_in(d, &mut self.rx),
                Ok(None) => panic!("the watches stopped"),
                Err(_) => sim.advance(step),
            }
        }
    }
}

fn pool<'a>(c: &'a Cockpit, name: &str) -> Option<&'a PoolState> {
    c.signals.nodepools.as_ref()?.pools.iter().find(|p| p.name == name)
}

#[tokio::test]
async fn nodepools_beside_node_groups_then_drift_and_disruption_after_the_control_plane() {
    let sim = k::start("karpenter").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.until(&sim, Duration::ZERO, "the NodePools and their nodes", |c| {
        c.model.synced()
            && c.model.sources.get(&Source::NodePools) == Some(&SourceState::Synced)
            && c.model.sources.get(&Source::NodeClaims) == Some(&SourceState::Synced)
            && pool(c, "general").is_some_and(|p| p.nodes == 14)
            && pool(c, "critical").is_some_and(|p| p.nodes == 6)
    })
    .await;
    let c = &eyes.cockpit;
    let k = c.signals.nodepools.as_ref().unwrap();
    assert!(!k.auto_mode);
    assert!(k.pools.iter().all(|p| p.drifted == 0 && p.disrupting == 0), "{k:#?}");
    assert!(
        c.signals
            .nodes
            .groups
            .iter()
            .any(|g| g.name == "system" && g.total == 2)
    );
    assert!(
        c.signals.blind.is_empty(),
        "the viewer sees everything: {:?}",
        c.signals.blind
    );

    // the control plane to 1.31: al2023@latest resolves anew, general drifts, critical (pinned) does not
    k::update_control_plane(&sim, "1.31");
    eyes.until(
        &sim,
        Duration::from_secs(10),
        "general's nodes drifted and one disrupted",
        |c| pool(c, "general").is_some_and(|p| p.drifted >= 10 && p.disrupting >= 1),
    )
    .await;
    let critical = pool(&eyes.cockpit, "critical").unwrap();
    assert_eq!(critical.drifted, 0, "a pinned AMI does not drift: {critical:?}");
    // the replacements: launched as NodeClaims, then new nodes on 1.31
    eyes.until(&sim, Duration::from_secs(10), "a replacement joined on 1.31", |c| {
        pool(c, "general").is_some_and(|p| p.new >= 1 && p.old < p.nodes)
    })
    .await;
    // the viewer wrote nothing
    let counts = sim.request_counts();
    let writes: Vec<_> = counts
        .0
        .get("viewer")
        .into_iter()
        .flatten()
        .filter(|(verb, _)| !matches!(verb.as_str(), "get" | "list" | "watch"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

const NO_CAPACITY: &str = r#"name: no-capacity
cluster: {name: no-capacity, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
karpenter:
  version: "1.8.2"
  ec2NodeClasses:
    - {name: default, ami: al2023@latest}
  unavailableOfferings:
    - {instanceType: m5.large}
  nodePools:
    - name: apps
      nodeClass: default
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}]
workloads:
  - {name: web, kind: Deployment, replicas: 0, image: "web:1", requests: {cpu: 1500m, memory: 1Gi}, nodePool: apps}
"#;

#[tokio::test]
async fn a_nodeclaim_that_cannot_launch_is_explained_with_its_pods() {
    let sim = k::start_yaml(NO_CAPACITY).await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.until(&sim, Duration::ZERO, "the NodePool", |c| {
        c.model.synced() && pool(c, "apps").is_some()
    })
    .await;
    let lead = sim.client("lead").await.unwrap();
    Api::<Deployment>::namespaced(lead, "default")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    eyes.until(&sim, Duration::from_secs(5), "a failed launch with its pods", |c| {
        c.signals
            .nodepools
            .as_ref()
            .is_some_and(|k| k.failures.iter().any(|f| f.nodepool == "apps" && !f.pods.is_empty()))
    })
    .await;
    let c = &eyes.cockpit;
    let k = c.signals.nodepools.as_ref().unwrap();
    let f = k.failures.iter().find(|f| !f.pods.is_empty()).unwrap();
    assert_eq!(f.reason, "InsufficientCapacityError");
    assert!(
        f.message.contains("insufficient capacity") && f.message.contains("m5.large"),
        "{f:?}"
    );
    assert!(f.pods.iter().all(|p| p.starts_with("default/web-")), "{f:?}");
    assert!(pool(c, "apps").unwrap().failed >= 1);
    // the pods' own line says which NodeClaim they wait for and why it failed
    assert!(
        c.signals
            .unscheduled
            .pods
            .iter()
            .any(|(pod, why)| pod.starts_with("default/web-") && why.contains("failed to launch")),
        "{:?}",
        c.signals.unscheduled.pods
    );
}

#[tokio::test]
async fn auto_mode_is_recognised_and_a_cluster_without_karpenter_has_no_nodepool_view() {
    let sim = k::start("automode").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.until(&sim, Duration::ZERO, "Auto Mode's NodePools", |c| {
        c.model.synced()
            && c.signals.nodepools.as_ref().is_some_and(|k| k.auto_mode)
            && pool(c, "general-purpose").is_some_and(|p| p.nodes == 8)
            && pool(c, "system").is_some_and(|p| p.nodes == 2)
    })
    .await;
    drop(eyes);
    sim.shutdown().await;

    let sim = common::start("demo").await;
    let mut eyes = Eyes::open(&sim, "viewer").await;
    eyes.until(&sim, Duration::ZERO, "the demo synced", |c| c.model.synced())
        .await;
    // give the absent kinds' watches time to answer
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(d) = eyes.rx.try_recv() {
        eyes.cockpit.take_in(d, &mut eyes.rx);
    }
    eyes.cockpit.refresh();
    let c = &eyes.cockpit;
    assert!(c.signals.nodepools.is_none());
    assert!(
        !c.model.sources.contains_key(&Source::NodePools),
        "{:?}",
        c.model.sources
    );
    assert!(!c.model.sources.contains_key(&Source::NodeClaims));
    assert!(c.signals.blind.is_empty() && c.model.synced());
}
