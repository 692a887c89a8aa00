//! The drain step against a real control plane, as the lead seat (docs/rbac only):
//! cordon and evictions through the real eviction API until only DaemonSet pods are
//! left; a budget whose `disruptionsAllowed` the real disruption controller computed
//! as 0 holds the node, named with its numbers and the API server's refusal, journaled
//! once; the lead's keep-waiting and delete-pod choices behave as against the
//! simulator, and the skip-node uncordon is accepted. Every request the lead made is
//! allowed (the audit log), refused evictions aside.

mod realkube_support;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use realkube_support::{RealKube, SHOP, add_nodes, get_or_skip, items, key, pinned_deployment, pods_on, shop_settled};
use upshift::model::journal::{Decision, StepId, What};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::Drain;
use upshift::rollout::steps::{DrainCtx, Progress, drain_node};

const LEAD: &str = "ana@laptop";

fn now() -> Timestamp {
    Timestamp::now()
}

/// Calls the drain step on `node` until it is Done, or Held when `stop_when_held`
/// (at most `secs`). A budget allowing one disruption at a time holds the next pod
/// for a moment after each eviction, as a drive would see between two turns.
async fn drain_until(
    k: &RealKube,
    journal: &mut Journal,
    step: &StepId,
    node: &str,
    secs: u64,
    stop_when_held: bool,
) -> Progress {
    let client = k.client("lead").await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut ctx = DrainCtx {
            client: client.clone(),
            journal: &mut *journal,
            who: LEAD,
            now: &now,
        };
        let p = drain_node(&mut ctx, step, node, &Drain::default())
            .await
            .unwrap_or_else(|e| panic!("draining {node}: {e}"));
        if p.is_done() || (stop_when_held && matches!(p, Progress::Held { .. })) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "the drain of {node} neither finished nor held: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the Deployment `ns/name` has `n` Ready pods and its budget is computed.
async fn ready(k: &RealKube, ns: &str, app: &str, n: usize) {
    realkube_support::eventually(90, &format!("{n} {ns}/{app} pods Ready"), || async {
        let pods = items(k, "pods").await;
        let ready = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"] == ns && p["metadata"]["labels"]["app"] == app)
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
            .count();
        let pdbs = items(k, "pdb").await;
        let computed = pdbs.iter().filter(|b| b["metadata"]["namespace"] == ns).all(|b| {
            b["status"]["observedGeneration"] == b["metadata"]["generation"]
                && b["status"]["currentHealthy"].as_u64() == Some(n as u64)
        });
        (ready == n && computed).then_some(())
    })
    .await;
}

/// The lead's requests the API server refused, but evictions a budget refused (429).
fn lead_refusals(k: &RealKube) -> Vec<realkube_support::Audited> {
    k.audit_of("lead")
        .into_iter()
        .filter(|a| a.code >= 400 && !(a.code == 429 && a.subresource == "eviction"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_cordoned_and_emptied_through_the_eviction_api() {
    let Some(k) = get_or_skip("a_node_is_cordoned_and_emptied_through_the_eviction_api") else {
        return;
    };
    k.apply(SHOP).await;
    let nodes = add_nodes(k, "drain-a", 2).await;
    k.kubectl_ok("admin", &["create", "namespace", "drain-a"]).await;
    k.apply(&pinned_deployment("drain-a", "web", "drain-a", 4, "")).await;
    k.apply("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: drain-a}\nspec:\n  minAvailable: 3\n  selector: {matchLabels: {app: web}}\n")
        .await;
    ready(k, "drain-a", "web", 4).await;
    shop_settled(k).await;
    // the node with more of the web pods
    let mut by_count = Vec::new();
    for n in &nodes {
        let on = pods_on(k, n).await;
        by_count.push((on.iter().filter(|p| p.starts_with("drain-a/web-")).count(), n.clone()));
    }
    by_count.sort();
    let (web_here, node) = by_count.pop().unwrap();
    assert!(web_here >= 1, "{by_count:?}");

    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let p = drain_until(k, &mut journal, &StepId::Nodegroup("drain-a".into()), &node, 120, false).await;
    assert!(p.is_done(), "{p:?}");

    let node_obj = Api::<Node>::all(k.client("admin").await).get(&node).await.unwrap();
    assert_eq!(node_obj.spec.unwrap().unschedulable, Some(true), "cordoned");
    let left = pods_on(k, &node).await;
    assert!(
        left.iter()
            .all(|p| p.starts_with("kube-system/aws-node-") || p.starts_with("kube-system/kube-proxy-")),
        "only DaemonSet pods stay: {left:?}"
    );
    ready(k, "drain-a", "web", 4).await;
    let evicted: Vec<String> = journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                action,
                target,
                ok: true,
                ..
            } if action == "evict" => Some(target.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(evicted.len(), web_here, "one eviction per web pod: {evicted:?}");

    // the API server's own record: each of those evictions was a create of
    // pods/eviction by the lead that succeeded (201); the budget, allowing one
    // disruption at a time, may have refused some in between (429)
    let audited: Vec<_> = k
        .audit_of("lead")
        .into_iter()
        .filter(|a| a.subresource == "eviction" && a.namespace == "drain-a")
        .collect();
    let accepted: Vec<String> = audited
        .iter()
        .filter(|a| a.code == 201)
        .map(|a| format!("{}/{}", a.namespace, a.name))
        .collect();
    let mut want = evicted.clone();
    want.sort();
    let mut got = accepted.clone();
    got.sort();
    assert_eq!(got, want, "{audited:#?}");
    assert!(
        audited
            .iter()
            .all(|a| a.verb == "create" && (a.code == 201 || a.code == 429))
    );
    assert!(
        k.audit_of("lead")
            .iter()
            .any(|a| a.resource == "nodes" && a.verb == "patch" && a.name == node && a.code == 200),
        "the cordon"
    );
    let refused = lead_refusals(k);
    assert!(
        refused.is_empty(),
        "the lead's RBAC allows what the drain does: {refused:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_allowing_nothing_holds_the_node_until_the_lead_decides() {
    let Some(k) = get_or_skip("a_budget_allowing_nothing_holds_the_node_until_the_lead_decides") else {
        return;
    };
    k.apply(SHOP).await;
    let nodes = add_nodes(k, "drain-b", 2).await;
    k.kubectl_ok("admin", &["create", "namespace", "drain-b"]).await;
    // one ledger pod per node, and a budget that wants both
    let spread = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: ledger}}}\n";
    k.apply(&pinned_deployment("drain-b", "ledger", "drain-b", 2, spread))
        .await;
    k.apply("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: ledger, namespace: drain-b}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: ledger}}\n")
        .await;
    ready(k, "drain-b", "ledger", 2).await;
    let pdb = items(k, "pdb")
        .await
        .into_iter()
        .find(|b| key(b) == "drain-b/ledger")
        .unwrap();
    assert_eq!(
        pdb["status"]["disruptionsAllowed"], 0,
        "the controller's verdict: {pdb}"
    );
    let node = nodes[0].clone();
    let step = &StepId::Nodegroup("drain-b".into());

    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let mut last = None;
    for _ in 0..3 {
        last = Some(drain_until(k, &mut journal, step, &node, 60, true).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let Some(Progress::Held {
        node: held,
        pod,
        why,
        since,
        ask_now,
        ..
    }) = last
    else {
        panic!("the ledger's budget holds the node: {last:?}")
    };
    assert_eq!(held, node);
    assert!(pod.starts_with("drain-b/ledger-"), "{pod}");
    assert!(
        why.starts_with("PodDisruptionBudget drain-b/ledger (2 healthy, 2 required, 0 disruptions allowed)"),
        "{why}"
    );
    assert!(!ask_now, "a budget may allow it later: the pod timeout applies");
    let refusals: Vec<String> = journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Result {
                action,
                ok: false,
                detail,
                ..
            } if action == "evict" => Some(detail.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals.len(),
        1,
        "one refusal journaled, not one per call: {refusals:?}"
    );
    assert!(
        refusals[0].contains("PodDisruptionBudget drain-b/ledger"),
        "{}",
        refusals[0]
    );
    // the API server refused each attempt with 429
    let tries = k
        .audit_of("lead")
        .into_iter()
        .filter(|a| a.subresource == "eviction" && a.name == pod.split('/').nth(1).unwrap())
        .collect::<Vec<_>>();
    assert!(tries.len() >= 3 && tries.iter().all(|a| a.code == 429), "{tries:#?}");

    // keep-waiting: the pod's timeout starts again
    let decide = |journal: &mut Journal, decision: Decision, target: &str| {
        journal
            .append(
                LEAD,
                now(),
                What::Decision {
                    step: Some(step.clone().into()),
                    decision,
                    reason: None,
                    target: Some(target.into()),
                },
            )
            .unwrap();
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    decide(&mut journal, Decision::KeepWaiting, &pod);
    let p = drain_until(k, &mut journal, step, &node, 60, true).await;
    let Progress::Held { since: later, .. } = &p else {
        panic!("{p:?}")
    };
    assert!(*later > since, "{later} after {since}");

    // delete-pod: deleted once (the budget does not apply to a delete), the node empties
    decide(&mut journal, Decision::DeletePod, &pod);
    let p = drain_until(k, &mut journal, step, &node, 90, false).await;
    assert!(p.is_done(), "{p:?}");
    let deletes: Vec<_> = k
        .audit_of("lead")
        .into_iter()
        .filter(|a| a.verb == "delete" && a.resource == "pods" && a.namespace == "drain-b")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert_eq!(deletes[0].code, 200);
    assert!(journal.done(step, "delete-pod", &pod));
    assert!(!pods_on(k, &node).await.contains(&pod));

    // skip-node leaves the node on the old minor, uncordoned, by the same merge patch
    let nodes_api = Api::<Node>::all(k.client("lead").await);
    nodes_api
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": null}})),
        )
        .await
        .expect("the lead may uncordon");
    let n = Api::<Node>::all(k.client("admin").await).get(&node).await.unwrap();
    assert_eq!(n.spec.and_then(|s| s.unschedulable), None);

    let refused = lead_refusals(k);
    assert!(refused.is_empty(), "{refused:#?}");
}
