//! The simulator driven through `kube::Client`, the client upshift itself uses:
//! list/watch/patch/evict, optimistic concurrency, expired watches, the read-only
//! identity, graceful deletion, and the scheduler and controllers at work.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn lists_page_through_one_consistent_snapshot_and_selectors_filter() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let pods: Api<Pod> = Api::all(client.clone());
    let total = sim.world().lock().pods.len();
    assert!(total > 100, "demo has about 150 pods, got {total}");

    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(20);
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let page = pods.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 20);
        let rv = page.metadata.resource_version.clone();
        first_rv.get_or_insert(rv.clone());
        assert_eq!(Some(rv), first_rv.clone(), "every page is of the same snapshot");
        seen.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        // a change in the middle of paging must not show up in later pages
        if pages == 1 {
            let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
            cms.create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "mid-list"}})).unwrap(),
            )
            .await
            .unwrap();
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert!(pages >= total / 20);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no pod listed twice");

    // label selector
    let ledger = Api::<Pod>::namespaced(client.clone(), "payments")
        .list(&ListParams::default().labels("app=ledger"))
        .await
        .unwrap();
    assert_eq!(ledger.items.len(), 2);
    // field selector, as kubectl drain uses it
    let node = ledger.items[0].spec.as_ref().unwrap().node_name.clone().unwrap();
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap();
    assert!(!on_node.items.is_empty());
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(node.as_str()))
    );
    // an unsupported field is refused like the apiserver does
    let err = pods
        .list(&ListParams::default().fields("spec.bogus=1"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(400));
    // an expired continue token is 410
    let page = pods.list(&ListParams::default().limit(5)).await.unwrap();
    sim.compact();
    let err = pods
        .list(
            &ListParams::default()
                .limit(5)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(410));
}

#[tokio::test]
async fn a_watch_sees_a_cordon_made_with_a_strategic_merge_patch() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let nodes: Api<Node> = Api::all(client);
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let name = list.items[0].metadata.name.clone().unwrap();
    let mut stream = nodes.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Modified(n) => {
            assert_eq!(n.metadata.name.as_deref(), Some(name.as_str()));
            assert_eq!(n.spec.unwrap().unschedulable, Some(true));
            let new_rv: u64 = n.metadata.resource_version.unwrap().parse().unwrap();
            assert!(new_rv > rv.parse::<u64>().unwrap());
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // merge and JSON patches too
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "platform"}}})),
        )
        .await
        .unwrap();
    let jp = serde_json::from_value(json!([{"op": "replace", "path": "/spec/unschedulable", "value": false}])).unwrap();
    let n = nodes
        .patch(&name, &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(false));
    assert_eq!(
        n.metadata.labels.unwrap().get("team").map(String::as_str),
        Some("platform")
    );
}

#[tokio::test]
async fn a_stale_update_is_a_conflict() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "journal"}, "data": {"step": "1"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut a = created.clone();
    a.data = Some([("step".to_string(), "2".to_string())].into());
    cms.replace("journal", &PostParams::default(), &a).await.unwrap();
    let mut b = created.clone();
    b.data = Some([("step".to_string(), "3".to_string())].into());
    let err = cms.replace("journal", &PostParams::default(), &b).await.unwrap_err();
    assert_eq!(api_code(&err), Some(409));
    assert!(err.to_string().contains("the object has been modified"), "{err}");
    let again = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(api_code(&again), Some(409), "AlreadyExists");
    assert_eq!(cms.get("journal").await.unwrap().data.unwrap()["step"], "2");
}

#[tokio::test]
async fn a_watch_from_an_expired_version_gets_410_gone() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..3 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    // before compaction, the watch replays exactly the three creations
    let mut s = cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    for i in 0..3 {
        match tokio::time::timeout(Duration::from_secs(5), s.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.unwrap(), format!("c{i}")),
            other => panic!("expected ADDED c{i}, got {other:?}"),
        }
    }
    sim.compact();
    let mut s = cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match tokio::time::timeout(Duration::from_secs(5), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert!(
                status.message.contains("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn bookmarks_arrive_on_a_quiet_watch() {
    let sim = common::start("demo").await;
    let client = sim.client("viewer").await.unwrap();
    let pdbs: Api<PodDisruptionBudget> = Api::all(client);
    let rv = pdbs
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = pdbs
        .watch(
            &WatchParams {
                bookmarks: true,
                ..Default::default()
            },
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(5), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Bookmark(b) => {
            assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap())
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn the_viewer_can_read_but_every_write_is_forbidden_and_counted() {
    let sim = common::start("demo").await;
    let viewer = sim.client("viewer").await.unwrap();
    let nodes: Api<Node> = Api::all(viewer.clone());
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let name = list.items[0].metadata.name.clone().unwrap();
    let err = nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), Some(403));
    assert!(
        err.to_string()
            .contains("User \"viewer\" cannot patch resource \"nodes\""),
        "{err}"
    );
    let pods: Api<Pod> = Api::namespaced(viewer.clone(), "default");
    assert_eq!(
        api_code(&pods.delete("debug-shell", &DeleteParams::default()).await.unwrap_err()),
        Some(403)
    );
    assert_eq!(
        api_code(&pods.evict("debug-shell", &EvictParams::default()).await.unwrap_err()),
        Some(403)
    );
    assert!(
        pods.get("debug-shell")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // SelfSubjectAccessReview answers truthfully for both identities
    let ask = |verb: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some("pods".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(viewer);
    let allowed = |r: SelfSubjectAccessReview| r.status.unwrap().allowed;
    assert!(allowed(
        reviews.create(&PostParams::default(), &ask("list")).await.unwrap()
    ));
    assert!(!allowed(
        reviews.create(&PostParams::default(), &ask("delete")).await.unwrap()
    ));
    let lead_reviews: Api<SelfSubjectAccessReview> = Api::all(sim.client("lead").await.unwrap());
    assert!(allowed(
        lead_reviews
            .create(&PostParams::default(), &ask("delete"))
            .await
            .unwrap()
    ));

    let counts = sim.request_counts();
    assert_eq!(counts.count("viewer", "patch"), 1);
    assert_eq!(counts.count("viewer", "delete"), 1);
    assert_eq!(
        counts.count("viewer", "create"),
        3,
        "one eviction and two access reviews"
    );
    assert_eq!(
        counts.mutating("viewer"),
        3,
        "patch, delete and eviction were attempted (and refused)"
    );
    assert!(counts.count("viewer", "list") >= 1);
}

#[tokio::test]
async fn deleted_pods_terminate_gracefully_and_their_replicaset_replaces_them() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let web = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
    let want = web.items.len();
    let victim = web.items[0].metadata.name.clone().unwrap();
    let deleted = pods.delete(&victim, &DeleteParams::default()).await.unwrap();
    let pod = deleted.left().expect("a pod being deleted gracefully is returned");
    assert!(pod.metadata.deletion_timestamp.is_some());
    assert!(pod.metadata.deletion_grace_period_seconds.unwrap() > 0);
    // still there, terminating, until the kubelet is done
    assert!(pods.get(&victim).await.unwrap().metadata.deletion_timestamp.is_some());
    common::eventually(&sim, Duration::from_secs(5), 40, "the deleted pod to go away", || {
        let pods = pods.clone();
        let victim = victim.clone();
        async move { pods.get_opt(&victim).await.unwrap().is_none().then_some(()) }
    })
    .await;
    // the ReplicaSet made a new one, the scheduler placed it and the kubelet started it
    common::eventually(&sim, Duration::from_secs(5), 40, "a running replacement", || {
        let pods = pods.clone();
        async move {
            let l = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
            let running = l
                .items
                .iter()
                .filter(|p| {
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                        && p.metadata.deletion_timestamp.is_none()
                })
                .count();
            (running == want).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn evictions_honour_pod_disruption_budgets() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let payments: Api<Pod> = Api::namespaced(client.clone(), "payments");
    let ledger = payments
        .list(&ListParams::default().labels("app=ledger"))
        .await
        .unwrap();
    let name = ledger.items[0].metadata.name.clone().unwrap();
    let err = payments.evict(&name, &EvictParams::default()).await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert_eq!(
                s.message,
                "Cannot evict pod as it would violate the pod's disruption budget."
            );
            let cause = &s.details.as_ref().unwrap().causes[0];
            assert_eq!(cause.reason, "DisruptionBudget");
            assert!(
                cause.message.contains("needs 2 healthy pods and has 2 currently"),
                "{}",
                cause.message
            );
        }
        other => panic!("expected 429, got {other:?}"),
    }
    let pdb = Api::<PodDisruptionBudget>::namespaced(client.clone(), "payments")
        .get("ledger")
        .await
        .unwrap();
    assert_eq!(pdb.status.unwrap().disruptions_allowed, 0);

    // coredns's PDB allows one disruption at a time
    let system: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let dns = system
        .list(&ListParams::default().labels("k8s-app=kube-dns"))
        .await
        .unwrap();
    assert_eq!(dns.items.len(), 2);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "kube-system");
    assert_eq!(
        pdbs.get("coredns").await.unwrap().status.unwrap().disruptions_allowed,
        1
    );
    system
        .evict(dns.items[0].metadata.name.as_deref().unwrap(), &EvictParams::default())
        .await
        .unwrap();
    let second = system
        .evict(dns.items[1].metadata.name.as_deref().unwrap(), &EvictParams::default())
        .await
        .unwrap_err();
    assert_eq!(
        api_code(&second),
        Some(429),
        "the budget is used up until the replacement is ready"
    );
    // once the replacement runs, the budget allows a disruption again
    common::eventually(&sim, Duration::from_secs(5), 60, "coredns budget to recover", || {
        let pdbs = pdbs.clone();
        async move { (pdbs.get("coredns").await.unwrap().status.unwrap().disruptions_allowed == 1).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn the_scheduler_binds_what_fits_and_explains_what_does_not() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let fits: Pod = serde_json::from_value(json!({
        "metadata": {"name": "small"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}]}
    }))
    .unwrap();
    let huge: Pod = serde_json::from_value(json!({
        "metadata": {"name": "huge"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "64"}}}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &fits).await.unwrap();
    pods.create(&PostParams::default(), &huge).await.unwrap();
    let small = pods.get("small").await.unwrap();
    assert!(small.spec.unwrap().node_name.is_some(), "bound at once");
    common::eventually(&sim, Duration::from_secs(2), 40, "the small pod to run", || {
        let pods = pods.clone();
        async move { (pods.get("small").await.unwrap().status.unwrap().phase.as_deref() == Some("Running")).then_some(()) }
    })
    .await;
    let huge = pods.get("huge").await.unwrap();
    assert!(huge.spec.as_ref().unwrap().node_name.is_none());
    let cond = huge
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert!(
        cond.message.as_deref().unwrap().contains("Insufficient cpu"),
        "{cond:?}"
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=huge,reason=FailedScheduling"))
        .await
        .unwrap();
    assert_eq!(evs.items.len(), 1);
    assert!(evs.items[0].message.as_deref().unwrap().starts_with("0/"));
    assert_eq!(evs.items[0].type_.as_deref(), Some("Warning"));
    // the same event through events.k8s.io/v1
    let v1: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(sim.client("viewer").await.unwrap(), "default");
    let evs = v1
        .list(&ListParams::default().fields("involvedObject.name=huge"))
        .await
        .unwrap();
    let ev = evs
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .unwrap();
    assert_eq!(ev.regarding.as_ref().unwrap().name.as_deref(), Some("huge"));
    assert!(ev.note.as_deref().unwrap().contains("Insufficient cpu"));
    assert_eq!(ev.reporting_controller.as_deref(), Some("default-scheduler"));
    assert!(ev.event_time.is_some());
}

#[tokio::test]
async fn daemonsets_follow_nodes_and_a_reflector_survives_dropped_watches() {
    let sim = common::start("demo").await;
    let client = sim.client("viewer").await.unwrap();
    let node_count = sim.world().lock().nodes.len();
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let aws_node = ds.get("aws-node").await.unwrap().status.unwrap();
    assert_eq!(aws_node.desired_number_scheduled as usize, node_count);
    assert_eq!(aws_node.number_ready as usize, node_count);

    // a reflector over nodes, as the cockpit will run it
    let (reader, writer) = kube::runtime::reflector::store::<Node>();
    let nodes: Api<Node> = Api::all(client);
    let stream = kube::runtime::reflector(writer, watcher(nodes, watcher::Config::default()))
        .applied_objects()
        .boxed();
    let handle = tokio::spawn(async move {
        let mut s = stream;
        while s.next().await.is_some() {}
    });
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), node_count);

    // the server drops every watch; then an instance is replaced
    sim.drop_watches();
    let (instance, old_node) = {
        let world = sim.world();
        let w = world.lock();
        let i = &w.groups[1].instances[0];
        (i.id.clone(), i.node_name.clone())
    };
    {
        let world = sim.world();
        let mut w = world.lock();
        w.stamp();
        assert!(upshift::sim::world::terminate_instance(&mut w, &instance, true));
        w.reconcile();
    }
    common::eventually(
        &sim,
        Duration::from_secs(10),
        60,
        "the reflector to see the old node go and a new one join",
        || {
            let reader = reader.clone();
            let old_node = old_node.clone();
            async move {
                let names: Vec<String> = reader
                    .state()
                    .iter()
                    .map(|n| n.metadata.name.clone().unwrap())
                    .collect();
                (!names.contains(&old_node) && names.len() == node_count).then_some(())
            }
        },
    )
    .await;
    handle.abort();
    let aws_node = ds.get("aws-node").await.unwrap().status.unwrap();
    assert_eq!(aws_node.desired_number_scheduled as usize, node_count);
    assert_eq!(
        sim.request_counts().mutating("viewer"),
        0,
        "a reader sent no mutating request"
    );
}
