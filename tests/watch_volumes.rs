//! The read-only cockpit against the simulated `stateful` cluster: its watches on
//! PersistentVolumeClaims and PersistentVolumes follow the claims' zones, and when a
//! zone's nodes are cordoned and postgres' pod there is evicted, the pod waits with
//! a WHY naming its claim, the zone and what to do; uncordoned, it runs again.

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};
use serde_json::json;
use tokio::sync::mpsc;
use upshift::cluster::watch::Watches;
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;
use upshift::model::{Delta, Source, SourceState};
use upshift::sim::Simulator;

/// Takes in the watches' changes until `check` holds, moving virtual time on by `step`
/// while nothing arrives. Fails after 30 real seconds.
async fn until(
    c: &mut Cockpit,
    rx: &mut mpsc::Receiver<Delta>,
    sim: &Simulator,
    what: &str,
    check: impl Fn(&Cockpit) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        c.refresh();
        if check(c) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for: {what}\nsources: {:?}\nunscheduled: {:#?}",
            c.model.sources,
            c.signals.unscheduled
        );
        match tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            Ok(Some(d)) => c.take_in(d, rx),
            Ok(None) => panic!("the watches stopped"),
            Err(_) => sim.advance(Duration::from_secs(5)),
        }
    }
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

#[tokio::test]
async fn a_pod_held_by_its_volumes_zone_is_explained_from_the_watches() {
    let sim = common::start("stateful").await;
    let lead = sim.client("lead").await.unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let _watches: Watches = ClusterReader::new(sim.client("viewer").await.unwrap()).start(tx);
    let mut c = Cockpit::new(
        Connection {
            context: "viewer".into(),
            ..Connection::default()
        },
        jiff::Timestamp::now(),
    );
    until(
        &mut c,
        &mut rx,
        &sim,
        "claims and volumes listed, every volume bound",
        |c| {
            c.model.sources.get(&Source::PersistentVolumes) == Some(&SourceState::Synced)
                && c.model.sources.get(&Source::PersistentVolumeClaims) == Some(&SourceState::Synced)
                && c.signals.zonal.len() == 6
        },
    )
    .await;

    // postgres-0's zone: every node there cordoned, then the pod evicted
    let pods: Api<Pod> = Api::namespaced(lead.clone(), "data");
    let node = pods.get("postgres-0").await.unwrap().spec.unwrap().node_name.unwrap();
    let zone = c.model.nodes.items[&node].zone.to_string();
    let in_zone: Vec<String> = Api::<Node>::all(lead.clone())
        .list(&ListParams::default().labels(&format!("topology.kubernetes.io/zone={zone}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(in_zone.len(), 2, "an apps and a data node per zone");
    for n in &in_zone {
        cordon(&lead, n, true).await;
    }
    pods.evict("postgres-0", &EvictParams::default()).await.unwrap();
    let want = format!("volume data-postgres-0 in {zone}: no schedulable node in that zone (2 cordoned");
    until(&mut c, &mut rx, &sim, "postgres-0 explained by its zone", |c| {
        c.signals
            .unscheduled
            .pods
            .iter()
            .any(|(p, why)| p == "data/postgres-0" && why.starts_with(&want))
    })
    .await;

    // its zone takes pods again: it runs, and nothing waits
    for n in &in_zone {
        cordon(&lead, n, false).await;
    }
    until(&mut c, &mut rx, &sim, "postgres-0 scheduled again", |c| {
        c.signals.unscheduled.count == 0
            && c.model
                .pods
                .items
                .get("data/postgres-0")
                .is_some_and(|p| p.node.is_some())
    })
    .await;
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}
