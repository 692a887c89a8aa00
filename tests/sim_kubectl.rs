//! The simulator driven by `kubectl`, a real client no one here wrote: get, cordon,
//! drain (pods evicted and running again elsewhere), and a drain refused by a PDB.
//! Skipped, saying so, where kubectl is not installed.

mod common;

use std::time::Duration;

use common::Kubectl;

#[tokio::test]
async fn kubectl_gets_nodes_and_pods() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = Kubectl::new(bin, &sim);
    let nodes = k.ok(&["get", "nodes"]).await;
    let lines: Vec<&str> = nodes.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS") && lines[0].contains("VERSION"),
        "{nodes}"
    );
    assert_eq!(lines.len() - 1, sim.world().lock().nodes.len());
    assert!(lines[1].contains("Ready") && lines[1].contains("v1.34."), "{nodes}");

    let pods = k.ok(&["get", "pods", "-A"]).await;
    let count = pods.lines().count() - 1;
    assert_eq!(count, sim.world().lock().pods.len());
    assert!(pods.lines().next().unwrap().starts_with("NAMESPACE"), "{pods}");
    assert!(pods.contains("Running"));

    let json = k
        .ok(&["get", "pods", "-n", "payments", "-l", "app=ledger", "-o", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);

    // SelfSubjectAccessReview through kubectl: "no" exits 1, "yes" exits 0
    let no = k.run(&["auth", "can-i", "delete", "pods", "--context", "viewer"]).await;
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).starts_with("no"), "{no:?}");
    let yes = k.ok(&["auth", "can-i", "list", "pods", "--context", "viewer"]).await;
    assert_eq!(yes.trim(), "yes");
    assert_eq!(k.ok(&["auth", "can-i", "delete", "pods"]).await.trim(), "yes");
    // kubectl exits 0 after a refused cordon; what matters is the refusal and the node
    let node = lines[1].split_whitespace().next().unwrap();
    let denied = k.run(&["--context", "viewer", "cordon", node]).await;
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("User \"viewer\" cannot patch resource \"nodes\""),
        "{stderr}"
    );
    assert!(!k.ok(&["get", "node", node]).await.contains("SchedulingDisabled"));
    assert_eq!(sim.request_counts().count("viewer", "patch"), 1);
}

#[tokio::test]
async fn kubectl_cordons_and_drains_a_node_whose_pods_run_again_elsewhere() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    sim.world().lock().clock.set_speed(20.0);
    let k = Kubectl::new(bin, &sim);
    // an `apps` node that holds no pod of the blocking ledger PDB
    let node = {
        let world = sim.world();
        let w = world.lock();
        let ledger_nodes: Vec<String> = w
            .pods
            .in_namespace("payments")
            .filter(|(k, _)| k.contains("ledger"))
            .filter_map(|(_, p)| p.spec.as_ref()?.node_name.clone())
            .collect();
        w.nodes
            .items()
            .iter()
            .find(|(name, n)| {
                n.metadata
                    .labels
                    .as_ref()
                    .unwrap()
                    .get("eks.amazonaws.com/nodegroup")
                    .map(String::as_str)
                    == Some("apps")
                    && !ledger_nodes.contains(name)
                    && w.idx.pods_by_node.get(*name).is_some_and(|s| s.len() > 3)
            })
            .map(|(name, _)| name.clone())
            .expect("an apps node without ledger pods")
    };
    let out = k.ok(&["cordon", &node]).await;
    assert!(out.contains("cordoned"), "{out}");
    let nodes = k.ok(&["get", "node", &node]).await;
    assert!(nodes.contains("Ready,SchedulingDisabled"), "{nodes}");

    let before: Vec<String> = {
        let world = sim.world();
        let w = world.lock();
        w.idx.pods_by_node[&node]
            .iter()
            .filter(|key| {
                !w.pods.get(key).unwrap().metadata.owner_references.as_ref().unwrap()[0]
                    .kind
                    .eq("DaemonSet")
            })
            .cloned()
            .collect()
    };
    assert!(!before.is_empty());
    let out = k
        .run(&[
            "drain",
            &node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "drain failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("evicting pod") || stderr.contains("evicting pod"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("drained"), "{stdout}");

    // every evicted workload is running again on other nodes
    common::eventually(
        &sim,
        Duration::from_secs(5),
        60,
        "evicted pods running elsewhere",
        || {
            let world = sim.world();
            let node = node.clone();
            async move {
                let w = world.lock();
                let left = w.idx.pods_by_node.get(&node).map(|s| {
                    s.iter()
                        .filter(|k| {
                            w.pods.get(k).is_some_and(|p| {
                                p.metadata
                                    .owner_references
                                    .as_ref()
                                    .is_none_or(|o| o[0].kind != "DaemonSet")
                            })
                        })
                        .count()
                });
                let pending = w.idx.unscheduled.len();
                let not_running = w
                    .pods
                    .items()
                    .values()
                    .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running"))
                    .count();
                (left.unwrap_or(0) == 0 && pending == 0 && not_running == 0).then_some(())
            }
        },
    )
    .await;
    let world = sim.world();
    let w = world.lock();
    for key in &before {
        assert!(w.pods.get(key).is_none(), "{key} was evicted");
    }
}

#[tokio::test]
async fn kubectl_drain_is_refused_by_a_pdb_with_the_usual_message() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = Kubectl::new(bin, &sim);
    let node = {
        let world = sim.world();
        let w = world.lock();
        w.pods
            .in_namespace("payments")
            .find(|(k, _)| k.contains("ledger"))
            .and_then(|(_, p)| p.spec.as_ref()?.node_name.clone())
            .unwrap()
    };
    let out = k
        .run(&[
            "drain",
            &node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=4s",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the drain must not succeed");
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{stderr}"
    );
    assert!(
        stderr.contains("payments/ledger") || stderr.contains("\"ledger-"),
        "names the pod: {stderr}"
    );
}

#[tokio::test]
async fn kubectl_scales_a_deployment_through_its_scale_subresource() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = Kubectl::new(bin, &sim);
    let out = k.ok(&["scale", "-n", "shop", "deployment/web", "--replicas=20"]).await;
    assert!(out.contains("scaled"), "{out}");
    let replicas = k
        .ok(&[
            "get",
            "-n",
            "shop",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(replicas.trim(), "20");
    // the ReplicaSet follows: 20 pods of web exist
    common::eventually(&sim, Duration::from_secs(2), 100, "web has 20 pods", || async {
        let w = sim.world();
        let w = w.lock();
        let n = w.pods.items().keys().filter(|k| k.starts_with("shop/web-")).count();
        (n == 20).then_some(())
    })
    .await;
    let denied = k
        .run(&[
            "--context",
            "viewer",
            "scale",
            "-n",
            "shop",
            "deployment/web",
            "--replicas=1",
        ])
        .await;
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("forbidden"));
}

/// The kubectl built with the real control plane (tests/realkube), the newest there is:
/// it sends built-in kinds as protobuf. Where it was not built, SKIPPED (unless the
/// suite requires the real control plane).
fn newest_kubectl() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("realkube/bin/kubectl");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var("REALKUBE_REQUIRED").as_deref() != Ok("1"),
        "{} is missing although the real control plane was built",
        bin.display()
    );
    eprintln!("SKIPPED: {} was not built (tests/realkube/run.sh build)", bin.display());
    None
}

#[tokio::test]
async fn the_newest_kubectl_asks_in_protobuf_and_is_answered() {
    let Some(bin) = newest_kubectl() else { return };
    let sim = common::start("demo").await;
    let k = Kubectl::new(bin, &sim);
    let no = k.run(&["auth", "can-i", "delete", "pods", "--context", "viewer"]).await;
    assert_eq!(no.status.code(), Some(1), "{no:?}");
    assert_eq!(
        k.ok(&["auth", "can-i", "list", "pods", "--context", "viewer"])
            .await
            .trim(),
        "yes"
    );
    // a generator's protobuf body is refused with what to do instead, not misread
    let ns = k.run(&["create", "namespace", "scratch"]).await;
    let err = String::from_utf8_lossy(&ns.stderr);
    assert!(!ns.status.success());
    assert!(
        err.contains("UnsupportedMediaType") && err.contains("create -f FILE"),
        "{err}"
    );
}
