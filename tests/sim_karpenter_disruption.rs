//! Karpenter's drift and disruption in the simulator, observed through kube::Client:
//! what drifts when the control plane moves or a spec changes, how budgets (counts,
//! percentages, reasons, schedules on the virtual clock, the most restrictive)
//! pace the replacement, the replacement ready before the old node drains, the
//! blocks (a PDB, `do-not-disrupt`) with the events that name them, and the forceful
//! paths (`expireAfter`, `terminationGracePeriod`).

mod sim_karpenter_common;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use sim_karpenter_common as k;

async fn events(client: &kube::Client, reason: &str) -> Vec<Event> {
    Api::<Event>::all(client.clone())
        .list(&ListParams::default().fields(&format!("reason={reason}")))
        .await
        .unwrap()
        .items
}

fn messages(evs: &[Event]) -> Vec<String> {
    evs.iter().map(|e| e.message.clone().unwrap_or_default()).collect()
}

async fn set_budgets(client: &kube::Client, pool: &str, budgets: serde_json::Value) {
    k::api(client, "NodePool")
        .patch(
            pool,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"disruption": {"budgets": budgets}}})),
        )
        .await
        .unwrap();
}

async fn pods_on(client: &kube::Client, node: &str) -> Vec<Pod> {
    Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap()
        .items
}

const HELD_POOLS: &str = r#"    - name: frozen
      nodeClass: pinned
      nodes: 2
      instanceType: m5.large
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}]
      budgets: [{nodes: "0"}]
    - name: versioned
      nodeClass: dated
      nodes: 2
      instanceType: m5.large
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}]
      budgets: [{nodes: "0"}]"#;

fn reasons(claims: &[kube::api::DynamicObject], pool: &str) -> BTreeSet<Option<String>> {
    claims
        .iter()
        .filter(|c| k::pool_of(c) == pool)
        .map(|c| k::condition_reason(c, "Drifted"))
        .collect()
}

#[tokio::test]
async fn drift_follows_the_control_plane_for_aliases_and_spec_changes_but_not_a_pinned_ami() {
    let sim = k::start_yaml(&k::full_pool(r#"[{nodes: "0"}]"#, HELD_POOLS, "")).await;
    let client = sim.client("lead").await.unwrap();
    k::step(&sim, 600);
    assert_eq!(
        reasons(&k::list(&client, "NodeClaim").await, "apps"),
        BTreeSet::from([None])
    );

    k::update_control_plane(&sim, "1.31");
    k::step(&sim, 300);
    let claims = k::list(&client, "NodeClaim").await;
    // al2023@latest follows the control plane's minor
    assert_eq!(reasons(&claims, "apps"), BTreeSet::from([Some("AMIDrift".into())]));
    // so does an alias pinned to a release: it names the release for the cluster's minor
    assert_eq!(reasons(&claims, "versioned"), BTreeSet::from([Some("AMIDrift".into())]));
    // an AMI pinned by id does not
    assert_eq!(reasons(&claims, "frozen"), BTreeSet::from([None]));
    let class = k::api(&client, "EC2NodeClass").get("default").await.unwrap();
    let amis = class.data["status"]["amis"].as_array().unwrap();
    assert!(
        amis.iter().all(|a| a["name"].as_str().unwrap().contains("-1.31-")),
        "{amis:?}"
    );
    // held by their budgets: nothing was disrupted
    assert_eq!(k::disrupting(&claims, "apps"), (10, 0));

    // changing the pinned EC2NodeClass's AMI selector drifts its nodes
    k::api(&client, "EC2NodeClass")
        .patch(
            "pinned",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}]}})),
        )
        .await
        .unwrap();
    // a change to a NodePool's template drifts its nodes; a requirement its nodes no longer meet too
    k::api(&client, "NodePool")
        .patch(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"labels": {"team": "web"}}}}})),
        )
        .await
        .unwrap();
    k::api(&client, "NodePool")
        .patch(
            "versioned",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.xlarge"]}
            ]}}}})),
        )
        .await
        .unwrap();
    k::step(&sim, 10);
    let claims = k::list(&client, "NodeClaim").await;
    assert_eq!(reasons(&claims, "frozen"), BTreeSet::from([Some("AMIDrift".into())]));
    assert_eq!(
        reasons(&claims, "apps"),
        BTreeSet::from([Some("NodePoolDrifted".into())])
    );
    assert_eq!(
        reasons(&claims, "versioned"),
        BTreeSet::from([Some("RequirementsDrifted".into())])
    );
    let c = claims.iter().find(|c| k::pool_of(c) == "apps").unwrap();
    assert_eq!(
        c.data["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["type"] == "Drifted")
            .unwrap()["status"],
        "True"
    );
}

#[tokio::test]
async fn a_new_ami_release_drifts_the_latest_alias_only() {
    let sim = k::start_yaml(&k::full_pool(r#"[{nodes: "0"}]"#, HELD_POOLS, "")).await;
    let client = sim.client("lead").await.unwrap();
    k::step(&sim, 600);
    // AWS publishes a new AL2023 release (the simulator's /sim endpoint)
    let req = axum::http::Request::post("/sim/amis/release?family=al2023&release=v20251201")
        .body(Vec::new())
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(answer["latest"], "v20251201");
    k::step(&sim, 300);
    let claims = k::list(&client, "NodeClaim").await;
    assert_eq!(reasons(&claims, "apps"), BTreeSet::from([Some("AMIDrift".into())]));
    assert_eq!(reasons(&claims, "versioned"), BTreeSet::from([None]));
    assert_eq!(reasons(&claims, "frozen"), BTreeSet::from([None]));
    let again = axum::http::Request::post("/sim/amis/release?family=al2023&release=v20251201")
        .body(Vec::new())
        .unwrap();
    assert!(client.request_text(again).await.is_err(), "a release is published once");
}

/// Drifts the `apps` pool of a fresh full cluster with `budgets`; returns the most
/// NodeClaims disrupting at once over `minutes`, checking `check(total, busy)` at
/// each sample, and whether the drift is over.
async fn drift_with(budgets: &str, minutes: u64, check: impl FnMut(u32, u32)) -> (u32, usize) {
    let sim = k::start_yaml(&k::full_pool(budgets, "", "")).await;
    let client = sim.client("lead").await.unwrap();
    k::update_control_plane(&sim, "1.31");
    let most = k::watch_drift(&sim, &client, "apps", minutes * 60, check).await;
    (most, k::drifted(&client, "apps").await)
}

#[tokio::test]
async fn a_count_budget_limits_how_many_nodes_drift_at_once() {
    let (most, left) = drift_with(r#"[{nodes: "3"}]"#, 20, |_, busy| {
        assert!(busy <= 3, "{busy} disrupting")
    })
    .await;
    assert_eq!(most, 3, "the budget is used, not just respected");
    assert_eq!(left, 0, "every drifted node was replaced");
}

#[tokio::test]
async fn a_percentage_budget_rounds_up_over_the_nodepools_nodes() {
    let (most, left) = drift_with(r#"[{nodes: "20%"}]"#, 25, |total, busy| {
        let allowed = (total * 20).div_ceil(100);
        assert!(
            busy <= allowed,
            "{busy} disrupting of {total} nodes under 20% ({allowed})"
        );
    })
    .await;
    assert!(most >= 2, "{most}");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn budgets_for_other_reasons_leave_drift_alone_and_the_most_restrictive_wins() {
    let (most, _) = drift_with(
        r#"[{nodes: "0", reasons: [Empty, Underutilized]}, {nodes: "2", reasons: [Drifted]}]"#,
        12,
        |_, busy| assert!(busy <= 2),
    )
    .await;
    assert_eq!(most, 2);
    let (most, _) = drift_with(r#"[{nodes: "50%"}, {nodes: "1"}]"#, 12, |_, busy| assert!(busy <= 1)).await;
    assert_eq!(most, 1);
}

#[tokio::test]
async fn a_budget_of_zero_for_drifted_holds_all_drift_until_it_is_raised() {
    let sim = k::start_yaml(&k::full_pool(
        r#"[{nodes: "0", reasons: [Drifted]}, {nodes: "10%"}]"#,
        "",
        "",
    ))
    .await;
    let client = sim.client("lead").await.unwrap();
    let before: BTreeSet<String> = k::list(&client, "NodeClaim").await.iter().map(k::name).collect();
    k::update_control_plane(&sim, "1.31");
    let most = k::watch_drift(&sim, &client, "apps", 20 * 60, |_, busy| assert_eq!(busy, 0)).await;
    assert_eq!(most, 0);
    assert_eq!(k::drifted(&client, "apps").await, 10, "all drifted, none replaced");
    let blocked = events(&client, "DisruptionBlocked").await;
    assert!(
        blocked.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some("NodePool")
                && e.message.as_deref()
                    == Some("No allowed disruptions for disruption reason Drifted due to blocking budget")
        }),
        "{:?}",
        messages(&blocked)
    );
    // release one node at a time
    set_budgets(&client, "apps", json!([{"nodes": "1", "reasons": ["Drifted"]}])).await;
    let most = k::watch_drift(&sim, &client, "apps", 30 * 60, |_, busy| assert!(busy <= 1)).await;
    assert_eq!(most, 1);
    let after: BTreeSet<String> = k::list(&client, "NodeClaim")
        .await
        .iter()
        .filter(|c| k::pool_of(c) == "apps")
        .map(k::name)
        .collect();
    assert_eq!(after.len(), 10);
    assert!(after.is_disjoint(&before), "every node was replaced");
    assert_eq!(k::drifted(&client, "apps").await, 0);
}

#[tokio::test]
async fn a_scheduled_budget_holds_drift_for_its_window_on_the_virtual_clock() {
    let sim = k::start_yaml(&k::full_pool(r#"[{nodes: "2"}]"#, "", "")).await;
    let client = sim.client("lead").await.unwrap();
    // a window that opened ten minutes ago and lasts an hour, by the virtual clock
    let now = sim.world().lock().now;
    let opened = now.checked_sub(jiff::SignedDuration::from_mins(10)).unwrap();
    let at = opened.to_zoned(jiff::tz::TimeZone::UTC);
    let schedule = format!("{} {} * * *", at.minute(), at.hour());
    set_budgets(
        &client,
        "apps",
        json!([{"nodes": "0", "reasons": ["Drifted"], "schedule": schedule, "duration": "1h"}, {"nodes": "2"}]),
    )
    .await;
    k::update_control_plane(&sim, "1.31");
    // 15 minutes went by for the update: 35 minutes of the window are left
    let most = k::watch_drift(&sim, &client, "apps", 30 * 60, |_, busy| assert_eq!(busy, 0)).await;
    assert_eq!(most, 0);
    assert_eq!(k::drifted(&client, "apps").await, 10);
    k::step(&sim, 6 * 60);
    let most = k::watch_drift(&sim, &client, "apps", 20 * 60, |_, busy| assert!(busy <= 2)).await;
    assert_eq!(most, 2, "the window closed: drift goes at the other budget's pace");
}

#[tokio::test]
async fn the_replacement_is_ready_before_the_drifted_node_drains() {
    let sim = k::start_yaml(&k::full_pool(r#"[{nodes: "1"}]"#, "", "")).await;
    let client = sim.client("lead").await.unwrap();
    let before: BTreeSet<String> = k::list(&client, "NodeClaim").await.iter().map(k::name).collect();
    k::update_control_plane(&sim, "1.31");
    let mut candidate: Option<(String, String)> = None;
    let (mut tainted, mut replaced, mut ready, mut evicted) = (None, None, None, None);
    let mut unscheduled_most = 0;
    for i in 0..400u32 {
        k::step(&sim, 5);
        let claims = k::list(&client, "NodeClaim").await;
        if candidate.is_none() {
            candidate = claims
                .iter()
                .find(|c| k::condition(c, "DisruptionReason").as_deref() == Some("True"))
                .map(|c| (k::name(c), k::node_of(c).unwrap()));
        }
        let Some((claim, node)) = candidate.clone() else {
            continue;
        };
        if tainted.is_none()
            && let Ok(n) = Api::<Node>::all(client.clone()).get(&node).await
            && n.spec
                .unwrap()
                .taints
                .unwrap_or_default()
                .iter()
                .any(|t| t.key == "karpenter.sh/disrupted" && t.effect == "NoSchedule")
        {
            tainted = Some(i);
        }
        let new: Vec<_> = claims.iter().filter(|c| !before.contains(&k::name(c))).collect();
        if replaced.is_none() && !new.is_empty() {
            replaced = Some(i);
        }
        if ready.is_none()
            && new
                .iter()
                .any(|c| k::condition(c, "Initialized").as_deref() == Some("True"))
        {
            ready = Some(i);
        }
        let pods = pods_on(&client, &node).await;
        if evicted.is_none() && (pods.len() < 4 || pods.iter().any(|p| p.metadata.deletion_timestamp.is_some())) {
            evicted = Some(i);
        }
        let unscheduled = Api::<Pod>::all(client.clone())
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .iter()
            .filter(|p| p.spec.as_ref().unwrap().node_name.is_none())
            .count();
        unscheduled_most = unscheduled_most.max(unscheduled);
        if evicted.is_some() && !claims.iter().any(|c| k::name(c) == claim) {
            break;
        }
    }
    let (tainted, replaced, ready, evicted) = (tainted.unwrap(), replaced.unwrap(), ready.unwrap(), evicted.unwrap());
    // taint first (nothing new lands there), then the replacement, which is up before any eviction
    assert!(
        tainted <= replaced,
        "tainted at {tainted}, replacement created at {replaced}"
    );
    assert!(
        replaced < ready && ready < evicted,
        "created {replaced}, initialized {ready}, first eviction {evicted}"
    );
    assert_eq!(
        unscheduled_most, 0,
        "evicted pods found room at once on the replacement"
    );
    let launching = events(&client, "DisruptionLaunching").await;
    assert!(messages(&launching).iter().any(|m| m == "Launching NodeClaim: Drifted"));
    let terminating = events(&client, "DisruptionTerminating").await;
    assert!(messages(&terminating).iter().any(|m| m == "Disrupting Node: Drifted"));
    assert!(
        messages(&terminating)
            .iter()
            .any(|m| m == "Disrupting NodeClaim: Drifted")
    );
    let evictions = events(&client, "Evicted").await;
    assert!(messages(&evictions).iter().any(|m| m == "Evicted pod: Drifted"));
}

#[tokio::test]
async fn a_budget_and_do_not_disrupt_hold_their_drifted_nodes_and_the_events_name_them() {
    let sim = k::start("karpenter").await;
    let client = sim.client("viewer").await.unwrap();
    let pods = Api::<Pod>::all(client.clone());
    let mut held: BTreeSet<String> = pods
        .list(&ListParams::default().labels("app=ledger"))
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    let migration = Api::<Pod>::namespaced(client.clone(), "ops")
        .get("migration")
        .await
        .unwrap();
    let migration_node = migration.spec.unwrap().node_name.unwrap();
    held.insert(migration_node.clone());
    k::update_control_plane(&sim, "1.31");
    for _ in 0..45 {
        k::step(&sim, 60);
    }
    let claims = k::list(&client, "NodeClaim").await;
    let drifted: BTreeSet<String> = claims
        .iter()
        .filter(|c| k::condition(c, "Drifted").as_deref() == Some("True"))
        .filter_map(k::node_of)
        .collect();
    assert_eq!(drifted, held, "only the held nodes are left drifted");
    for c in claims
        .iter()
        .filter(|c| k::node_of(c).is_some_and(|n| held.contains(&n)))
    {
        assert!(c.metadata.deletion_timestamp.is_none());
    }
    // the pinned NodePool did not move
    assert!(claims.iter().filter(|c| k::pool_of(c) == "critical").count() == 6);
    let blocked = events(&client, "DisruptionBlocked").await;
    let on_node = |node: &str, msg: &str| {
        blocked.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some("Node")
                && e.involved_object.name.as_deref() == Some(node)
                && e.message.as_deref() == Some(msg)
        })
    };
    for node in held.iter().filter(|n| **n != migration_node) {
        assert!(
            on_node(
                node,
                "Pdb prevents pod evictions (PodDisruptionBudget=[payments/ledger])"
            ),
            "{node}: {:?}",
            messages(&blocked)
        );
    }
    assert!(
        on_node(
            &migration_node,
            "Pod has \"karpenter.sh/do-not-disrupt\" annotation (Pod=ops/migration)"
        ) || on_node(
            &migration_node,
            "Pdb prevents pod evictions (PodDisruptionBudget=[payments/ledger])"
        ),
        "{:?}",
        messages(&blocked)
    );
    // the NodeClaims say it too
    assert!(
        blocked
            .iter()
            .any(|e| e.involved_object.kind.as_deref() == Some("NodeClaim"))
    );
}

const FORCEFUL: &str = r#"name: forceful
cluster: {name: forceful, version: "1.30"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1, taints: [{key: CriticalAddonsOnly, value: "true", effect: NoSchedule}]}
karpenter:
  version: "1.1.1"
  ec2NodeClasses:
    - {name: default, ami: al2023@latest}
  nodePools:
    - name: apps
      nodeClass: default
      nodes: 3
      instanceType: m5.large
      nodeAgeDays: 0
      expireAfter: 3h
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}]
      budgets: [{nodes: "100%"}]
    - name: graceful
      nodeClass: default
      nodes: 2
      instanceType: m5.large
      labels: {pool: graceful}
      terminationGracePeriod: 10m
      requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}]
workloads:
  - {name: migration, kind: Pod, image: "migrate:1", requests: {cpu: 1500m, memory: 512Mi}, nodePool: apps, doNotDisrupt: true}
  - {name: web, kind: Deployment, replicas: 4, image: "web:1", requests: {cpu: 500m, memory: 256Mi}, nodePool: apps}
  - {name: ledger, kind: Deployment, replicas: 2, image: "ledger:1", requests: {cpu: 1500m, memory: 256Mi}, nodePool: graceful, pdb: {minAvailable: 2}}
"#;

#[tokio::test]
async fn do_not_disrupt_blocks_drift_but_not_expiry() {
    let sim = k::start_yaml(FORCEFUL).await;
    let client = sim.client("lead").await.unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let node = pods.get("migration").await.unwrap().spec.unwrap().node_name.unwrap();
    k::update_control_plane(&sim, "1.31");
    k::step(&sim, 40 * 60);
    let claims = k::list(&client, "NodeClaim").await;
    let apps: Vec<_> = claims.iter().filter(|c| k::pool_of(c) == "apps").collect();
    let held = apps
        .iter()
        .find(|c| k::node_of(c).as_deref() == Some(node.as_str()))
        .expect("the migration's node stays");
    assert_eq!(k::condition(held, "Drifted").as_deref(), Some("True"));
    assert!(held.metadata.deletion_timestamp.is_none(), "do-not-disrupt holds drift");
    assert_eq!(
        apps.iter()
            .filter(|c| k::condition(c, "Drifted").as_deref() == Some("True"))
            .count(),
        1
    );
    let blocked = events(&client, "DisruptionBlocked").await;
    assert!(
        messages(&blocked)
            .iter()
            .any(|m| m == "Pod has \"karpenter.sh/do-not-disrupt\" annotation (Pod=default/migration)")
    );

    // three hours after it launched, the node expires: nothing holds that
    let held_name = k::name(held);
    k::step(&sim, 3 * 3600 - 55 * 60 + 5 * 60);
    let c = k::api(&client, "NodeClaim").get(&held_name).await.unwrap();
    assert!(c.metadata.deletion_timestamp.is_some(), "expired");
    let n = Api::<Node>::all(client.clone()).get(&node).await.unwrap();
    assert!(n.metadata.deletion_timestamp.is_some());
    assert!(
        n.spec
            .unwrap()
            .taints
            .unwrap()
            .iter()
            .any(|t| t.key == "karpenter.sh/disrupted")
    );
    // the drain waits for the do-not-disrupt pod (Karpenter does not evict it) and says so
    let m = pods.get("migration").await.unwrap();
    assert!(m.metadata.deletion_timestamp.is_none());
    let failed = events(&client, "FailedDraining").await;
    assert!(
        messages(&failed)
            .iter()
            .any(|m| m == "Failed to drain node, 1 pods are waiting to be evicted"),
        "{:?}",
        messages(&failed)
    );
    // once it is gone, the node goes
    pods.delete("migration", &DeleteParams::default()).await.unwrap();
    k::step(&sim, 120);
    assert!(Api::<Node>::all(client.clone()).get_opt(&node).await.unwrap().is_none());
    assert!(
        k::api(&client, "NodeClaim")
            .get_opt(&held_name)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_termination_grace_period_deletes_what_a_budget_protects_once_it_runs_out() {
    let sim = k::start_yaml(FORCEFUL).await;
    let client = sim.client("lead").await.unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let ledger: Vec<Pod> = pods
        .list(&ListParams::default().labels("app=ledger"))
        .await
        .unwrap()
        .items;
    let victim = ledger[0].clone();
    let node = victim.spec.clone().unwrap().node_name.unwrap();
    let claim = k::list(&client, "NodeClaim")
        .await
        .into_iter()
        .find(|c| k::node_of(c).as_deref() == Some(node.as_str()))
        .unwrap();
    // an operator deletes the NodeClaim: its pods' budget refuses every eviction
    k::api(&client, "NodeClaim")
        .delete(&k::name(&claim), &DeleteParams::default())
        .await
        .unwrap();
    k::step(&sim, 60);
    let c = k::api(&client, "NodeClaim").get(&k::name(&claim)).await.unwrap();
    let deadline = c.metadata.annotations.as_ref().unwrap()["karpenter.sh/nodeclaim-termination-timestamp"].clone();
    let deleted = c.metadata.deletion_timestamp.as_ref().unwrap().0;
    assert_eq!(
        deadline.parse::<jiff::Timestamp>().unwrap(),
        deleted.checked_add(jiff::SignedDuration::from_mins(10)).unwrap()
    );
    let expiring = events(&client, "TerminationGracePeriodExpiring").await;
    assert!(messages(&expiring).contains(&format!("All pods will be deleted by {deadline}")));
    let failed = events(&client, "FailedDraining").await;
    let refused = format!(
        "Failed to drain node, evicting pod violates a PDB (Pod=default/{})",
        victim.metadata.name.clone().unwrap()
    );
    assert!(messages(&failed).contains(&refused), "{:?}", messages(&failed));
    k::step(&sim, 8 * 60);
    assert!(
        pods.get(victim.metadata.name.as_deref().unwrap())
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none(),
        "still protected"
    );
    // the grace period runs out (less the pod's own 30 s): deleted, budget or not
    k::step(&sim, 90);
    let disrupted = events(&client, "Disrupted").await;
    assert!(
        messages(&disrupted)
            .iter()
            .any(|m| m.contains("This bypasses the PDB of the pod and the do-not-disrupt annotation.")),
        "{:?}",
        messages(&disrupted)
    );
    k::step(&sim, 120);
    assert!(Api::<Node>::all(client.clone()).get_opt(&node).await.unwrap().is_none());
    assert!(
        k::api(&client, "NodeClaim")
            .get_opt(&k::name(&claim))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn with_a_termination_grace_period_drift_goes_past_a_blocking_budget() {
    let sim = k::start_yaml(FORCEFUL).await;
    let client = sim.client("lead").await.unwrap();
    let before: BTreeSet<String> = k::list(&client, "NodeClaim")
        .await
        .iter()
        .filter(|c| k::pool_of(c) == "graceful")
        .map(k::name)
        .collect();
    k::update_control_plane(&sim, "1.31");
    k::step(&sim, 10 * 60);
    let claims = k::list(&client, "NodeClaim").await;
    // the drift of a node whose pods' budget allows nothing still starts: the grace period bounds it
    assert!(
        claims
            .iter()
            .filter(|c| before.contains(&k::name(c)))
            .any(|c| c.metadata.deletion_timestamp.is_some()
                || k::condition(c, "DisruptionReason").as_deref() == Some("True")),
        "a graceful node is being disrupted"
    );
    assert!(
        events(&client, "DisruptionBlocked").await.iter().all(|e| !e
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("ledger"))
    );
}
