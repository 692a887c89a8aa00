//! The viewer's cockpit against a real control plane: `upshift watch --headless
//! --until-synced` as the viewer (bound by docs/rbac only) sees what kubectl lists —
//! nodes and their groups, pods, budgets with the disruption controller's numbers,
//! the critical workloads — with a cordon, a crash-looping pod and an unschedulable
//! pod among them; the cockpit's model holds kubectl's objects and follows the same
//! three kinds of change, and a node turning NotReady, made while it watches; the API server's audit log shows the
//! viewer wrote nothing and was refused nothing.

mod realkube_support;

use std::collections::BTreeMap;

use realkube_support::{RealKube, SHOP, eventually, get_or_skip, items, key, shop_settled};
use serde_json::Value;
use tokio::sync::mpsc;
use upshift::cluster::{ClusterReader, Connection};
use upshift::cockpit::Cockpit;

const TROUBLE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: reports, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: reports}}
  template:
    metadata:
      labels: {app: reports}
      annotations: {upshift.test/crash-loop: "true"}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: reports, image: reports:2.0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bulk, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: bulk}}
  template:
    metadata: {labels: {app: bulk}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: bulk, image: bulk:1.0, resources: {requests: {cpu: "64"}}}]
"#;

const CORDONED: &str = "ip-10-0-3-31.ec2.internal";
/// cordoned while the cockpit watches
const LIVE_CORDON: &str = "ip-10-0-3-23.ec2.internal";
/// made NotReady while the cockpit watches
const NOT_READY: &str = "ip-10-0-2-22.ec2.internal";

async fn trouble(k: &RealKube) {
    k.apply(SHOP).await;
    k.apply(TROUBLE).await;
    // the lead cordons a node as a drain would (kubectl cordon: a get, then a patch)
    k.kubectl_ok("lead", &["cordon", CORDONED]).await;
    shop_settled(k).await;
    eventually(60, "reports crash-looping and bulk unschedulable", || async {
        let pods = items(k, "pods").await;
        let crashing = pods.iter().any(|p| {
            key(p).starts_with("shop/reports-")
                && p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        });
        let pending = pods.iter().any(|p| {
            key(p).starts_with("shop/bulk-")
                && p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                })
        });
        (crashing && pending).then_some(())
    })
    .await;
}

fn count_by(xs: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for x in xs {
        *m.entry(x).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewers_cockpit_sees_what_kubectl_lists_follows_changes_and_writes_nothing() {
    let Some(k) = get_or_skip("the_viewers_cockpit_sees_what_kubectl_lists_follows_changes_and_writes_nothing") else {
        return;
    };
    trouble(k).await;
    headless_watch_matches_kubectl(k).await;
    // then the cockpit's own model, and changes made while it watches
    model_holds_what_kubectl_lists_and_follows_changes(k).await;
    viewer_wrote_nothing_and_was_refused_nothing(k);
}

/// `upshift watch --headless --until-synced` as the viewer, against kubectl's lists.
async fn headless_watch_matches_kubectl(k: &RealKube) {
    let mut cmd = k.upshift("watch-viewer");
    cmd.args([
        "watch",
        "--headless",
        "--until-synced",
        "--context",
        "viewer",
        "--kubeconfig",
    ])
    .arg(&k.kubeconfig);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("upshift runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "upshift watch failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(stdout.lines().last().expect("one line")).expect("a JSON line");

    // what kubectl lists, as admin, right after
    let nodes = items(k, "nodes").await;
    let pods = items(k, "pods").await;
    let pdbs = items(k, "pdb").await;

    assert_eq!(line["server_version"], k.version.as_str(), "{line}");
    assert_eq!(line["synced"], true);
    assert_eq!(
        line["blind"].as_array().map(Vec::len),
        Some(0),
        "the viewer's RBAC lets every watch list: {}",
        line["blind"]
    );
    for (source, state) in line["sources"].as_object().expect("sources") {
        assert_eq!(state["state"], "synced", "{source}: {state}");
    }

    // nodes, by group, with their kubelets' minors and the one cordon
    assert_eq!(line["nodes"]["total"], nodes.len(), "{line}");
    assert_eq!(line["nodes"]["cordoned"], 1);
    let groups = count_by(nodes.iter().map(|n| {
        n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }));
    let seen: BTreeMap<String, usize> = line["nodes"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap_or("").to_string(),
                g["total"].as_u64().unwrap_or(0) as usize,
            )
        })
        .collect();
    assert_eq!(seen, groups);
    let batch = line["nodes"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "batch")
        .expect("the batch group");
    assert_eq!(batch["cordoned"], 1);
    let minors = count_by(nodes.iter().map(|n| {
        let v = n["status"]["nodeInfo"]["kubeletVersion"].as_str().unwrap_or("");
        v.trim_start_matches('v')
            .splitn(3, '.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".")
    }));
    let mut model_minors = BTreeMap::new();
    for g in line["nodes"]["groups"].as_array().unwrap() {
        for (m, n) in g["versions"].as_object().unwrap() {
            *model_minors.entry(m.clone()).or_insert(0usize) += n.as_u64().unwrap() as usize;
        }
    }
    assert_eq!(model_minors, minors);

    // pods: the count, the one unschedulable with the scheduler's reason, the one crash loop
    assert_eq!(line["pods_total"], pods.len(), "{line}");
    assert_eq!(line["unscheduled"]["count"], 1, "{}", line["unscheduled"]);
    let unscheduled = line["unscheduled"]["pods"][0][0].as_str().unwrap_or("");
    assert!(unscheduled.starts_with("shop/bulk-"), "{}", line["unscheduled"]);
    let reasons = line["unscheduled"]["reasons"].to_string();
    assert!(reasons.contains("Insufficient cpu"), "the scheduler's words: {reasons}");
    assert_eq!(line["errors"]["by_kind"]["CrashLoopBackOff"], 1, "{}", line["errors"]);
    let top = line["errors"]["top"].to_string();
    assert!(top.contains("shop/reports"), "{top}");

    // budgets: as many as kubectl lists; the blocking ones are those the disruption
    // controller gave no disruption
    assert_eq!(line["components"]["pdbs"], pdbs.len());
    let blocking: Vec<String> = pdbs
        .iter()
        .filter(|b| b["status"]["disruptionsAllowed"] == 0)
        .map(key)
        .collect();
    let seen: Vec<String> = line["components"]["blocking_pdbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("{}/{}", b["namespace"].as_str().unwrap(), b["name"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, blocking);
    assert!(seen.contains(&"shop/ledger".to_string()), "{seen:?}");

    // critical workloads: CoreDNS, the VPC CNI and kube-proxy, ready as their status says
    let workloads: Vec<Value> = [items(k, "deployments").await, items(k, "daemonsets").await].concat();
    for name in ["kube-system/coredns", "kube-system/aws-node", "kube-system/kube-proxy"] {
        let w = workloads.iter().find(|w| key(w) == name).expect(name);
        let ready = w["status"]["readyReplicas"]
            .as_u64()
            .or(w["status"]["numberReady"].as_u64())
            .unwrap_or(0);
        let c = line["components"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| format!("{}/{}", c["namespace"].as_str().unwrap(), c["name"].as_str().unwrap()) == name)
            .unwrap_or_else(|| panic!("{name} among the components: {}", line["components"]));
        assert_eq!(c["ready"].as_u64(), Some(ready), "{name}: {c}");
    }
}

/// The cockpit's model itself (the same watches, in the library) holds exactly the
/// objects kubectl lists, keyed as kubectl names them; a cordon, a crash-looping pod
/// and an unschedulable pod made while it watches reach it through the watches.
async fn model_holds_what_kubectl_lists_and_follows_changes(k: &RealKube) {
    let client = k.client("viewer").await;
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = ClusterReader::new(client).start(tx);
    let mut cockpit = Cockpit::new(
        Connection {
            context: "viewer".into(),
            ..Connection::default()
        },
        jiff::Timestamp::now(),
    );
    eventually(30, "every watch listed", || {
        while let Ok(d) = rx.try_recv() {
            cockpit.take_in(d, &mut rx);
        }
        let synced = cockpit.model.synced();
        async move { synced.then_some(()) }
    })
    .await;
    // the lists kubectl makes now, and the model once it has caught up with them
    let nodes: std::collections::BTreeSet<String> = items(k, "nodes").await.iter().map(key).collect();
    let pdbs: std::collections::BTreeSet<String> = items(k, "pdb").await.iter().map(key).collect();
    let want_pods: std::collections::BTreeSet<String> = items(k, "pods").await.iter().map(key).collect();
    eventually(30, "the model's pods equal kubectl's", || {
        while let Ok(d) = rx.try_recv() {
            cockpit.take_in(d, &mut rx);
        }
        let have: std::collections::BTreeSet<String> = cockpit.model.pods.items.keys().cloned().collect();
        let same = have == want_pods;
        async move { same.then_some(()) }
    })
    .await;
    let have_nodes: std::collections::BTreeSet<String> = cockpit.model.nodes.items.keys().cloned().collect();
    assert_eq!(have_nodes, nodes);
    let have_pdbs: std::collections::BTreeSet<String> = cockpit.model.pdbs.items.keys().cloned().collect();
    assert_eq!(have_pdbs, pdbs);
    let cordoned = &cockpit.model.nodes.items[CORDONED];
    assert!(cordoned.unschedulable, "{cordoned:?}");
    assert_eq!(&*cordoned.group, "batch");
    assert_eq!(&*cordoned.zone, "us-east-1c");
    assert_eq!(&*cordoned.instance_type, "c5.xlarge");
    assert_eq!(&*cordoned.minor, format!("1.{}", k.minor() - 1));
    let ledger = &cockpit.model.pdbs.items["shop/ledger"];
    assert_eq!(
        (
            ledger.disruptions_allowed,
            ledger.current_healthy,
            ledger.desired_healthy
        ),
        (0, 2, 2)
    );

    k.kubectl_ok("lead", &["cordon", LIVE_CORDON]).await;
    k.kubectl_ok(
        "admin",
        &["-n", "shop", "scale", "deployment", "bulk", "--replicas", "2"],
    )
    .await;
    // the first of TROUBLE's Deployments again, under another name (applying the
    // second, bulk, again would scale it back to 1)
    let reports = TROUBLE.split("\n---\n").next().unwrap_or_default();
    k.apply(&reports.replace("reports", "stats")).await;
    // and a node whose kubelet stops being Ready
    k.kubectl_ok("admin", &["annotate", "node", NOT_READY, "upshift.test/not-ready=true"])
        .await;
    eventually(
        60,
        "the cordon, a second crash loop, a second unschedulable pod and a NotReady node reach the model",
        || {
            while let Ok(d) = rx.try_recv() {
                cockpit.take_in(d, &mut rx);
            }
            cockpit.refresh();
            let s = &cockpit.signals;
            let seen = cockpit.model.nodes.items[LIVE_CORDON].unschedulable
                && s.nodes.cordoned == 2
                && s.unscheduled.count == 2
                && s.errors.by_kind.get("CrashLoopBackOff") == Some(&2)
                && s.health.not_ready == 1
                && s.health.problems.iter().any(|p| p.node == NOT_READY);
            async move { seen.then_some(()) }
        },
    )
    .await;
    let stats = cockpit.signals.errors.top.iter().find(|o| o.workload == "shop/stats");
    assert!(stats.is_some(), "{:?}", cockpit.signals.errors.top);
}

fn viewer_wrote_nothing_and_was_refused_nothing(k: &RealKube) {
    let seen = k.audit_of("viewer");
    assert!(
        seen.len() >= 6,
        "the viewer's lists and watches are in the audit log: {seen:?}"
    );
    let writes: Vec<_> = seen.iter().filter(|a| a.mutating()).collect();
    assert!(writes.is_empty(), "the viewer wrote: {writes:#?}");
    let refused: Vec<_> = seen.iter().filter(|a| a.refused()).collect();
    assert!(refused.is_empty(), "the viewer was refused: {refused:#?}");
}
