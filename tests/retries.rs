//! Transient errors are retried before a step sees them: a drain through the client
//! `drive` connects with finishes under Kubernetes 5xx answers with no error, a
//! budget's 429 is still a held pod at once (not retried), and the control plane's
//! step under AWS throttling and server errors never asks the lead.

mod common;

use std::time::Duration;

use common::Inspect;
use upshift::cloud::AwsCloud;
use upshift::model::journal::{StepId, What};
use upshift::rollout::drive::decide::{Failure, failure};
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{Drain, Step};
use upshift::rollout::steps::{Progress, drain_node, reconcile};
use upshift::sim::Simulator;
use upshift::sim::scenario::api_faults::ApiFaults;
use upshift::sim::scenario::aws::{AwsFaultRule, AwsFaultsSpec};

fn apps() -> StepId {
    StepId::Nodegroup("apps".into())
}

/// The lead's client as `upshift drive` builds it: through the kubeconfig.
async fn drive_client(sim: &Simulator, dir: &std::path::Path) -> kube::Client {
    let kc = dir.join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    upshift::cluster::connect(Some(&kc), Some("lead")).await.unwrap().0
}

/// A node of the group `apps` that runs no pod of `app`.
fn node_without(sim: &Simulator, app: &str) -> String {
    let running = sim.nodes_running(app);
    sim.nodes_labelled("eks.amazonaws.com/nodegroup", "apps")
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .find(|name| !running.contains(name) && !sim.pods_on(name).contains(&"default/debug-shell".into()))
        .expect("such a node")
}

/// Requests `who` made with `verb` on `resource`.
fn requests(sim: &Simulator, who: &str, verb: &str, resource: &str) -> u64 {
    let c = sim.request_counts();
    c.0.get(who)
        .and_then(|v| v.get(verb))
        .and_then(|r| r.get(resource))
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_under_kubernetes_server_errors_finishes_without_an_error() {
    let sim = common::start("demo").await;
    let node = node_without(&sim, "ledger");
    let dir = tempfile::tempdir().unwrap();
    let client = drive_client(&sim, dir.path()).await;
    let faults: ApiFaults = serde_json::from_value(serde_json::json!({
        "seed": 3,
        "errors": [
            {"rate": 0.3, "code": 503, "verbs": ["get", "list", "patch"]},
            {"rate": 0.2, "code": 500, "verbs": ["get", "list", "patch"]},
            {"rate": 0.3, "code": 502, "verbs": ["create"], "resources": ["pods/eviction"]}
        ]
    }))
    .unwrap();
    sim.set_api_faults(faults);
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let now = common::steps::clock_of(&sim);
    let mut done = false;
    for _ in 0..100 {
        let mut ctx = common::steps::drain_ctx(client.clone(), &mut journal, &now);
        let p = drain_node(&mut ctx, &apps(), &node, &Drain::default())
            .await
            .unwrap_or_else(|e| panic!("a transient answer reached the step: {e}"));
        match p {
            Progress::Done { .. } => {
                done = true;
                break;
            }
            Progress::Waiting { .. } => {
                sim.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("nothing holds this node: {other:?}"),
        }
    }
    assert!(done, "the node drained");
    let injected = sim.api_faults_injected();
    assert!(injected.errors >= 3, "faults met the drain: {injected:?}");
    let failed_evictions = journal
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Result { action, ok: false, .. } if action == "evict"))
        .count();
    assert_eq!(failed_evictions, 0, "no eviction journaled as failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budgets_refusal_is_not_retried() {
    let sim = common::start("demo").await;
    // a node with a ledger pod, not the one running the debug-shell pod (asked about first)
    let node = sim
        .nodes_running("ledger")
        .into_iter()
        .find(|n| !sim.pods_on(n).contains(&"default/debug-shell".to_string()))
        .expect("a ledger pod's node without the debug shell");
    let dir = tempfile::tempdir().unwrap();
    let client = drive_client(&sim, dir.path()).await;
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let now = common::steps::clock_of(&sim);
    let mut held = None;
    for _ in 0..3 {
        let before = requests(&sim, "lead", "create", "pods/eviction");
        let mut ctx = common::steps::drain_ctx(client.clone(), &mut journal, &now);
        let p = drain_node(&mut ctx, &apps(), &node, &Drain::default()).await.unwrap();
        let sent = requests(&sim, "lead", "create", "pods/eviction") - before;
        if let Progress::Held { pod, why, .. } = &p {
            assert!(pod.starts_with("payments/ledger-"), "{pod}");
            assert!(why.contains("PodDisruptionBudget payments/ledger"), "{why}");
            // one eviction per pod on the node that is still there: the refused one once
            let pods = sim.pods_on(&node).len() as u64;
            assert!(sent <= pods, "{sent} evictions for {pods} pods: a 429 was sent again");
            held = Some(p);
            break;
        }
        sim.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held.is_some(), "the ledger's budget holds the node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_step_under_aws_throttling_and_server_errors_never_asks_the_lead() {
    let sim = common::start("demo").await;
    let c: AwsCloud = common::cloud::aws(&sim).await;
    let rule = |op: &str, throttle: f64, server_error: f64| AwsFaultRule {
        operation: op.into(),
        throttle,
        server_error,
    };
    sim.set_aws_faults(&AwsFaultsSpec {
        seed: Some(5),
        rules: vec![
            rule("DescribeUpdate", 0.3, 0.4),
            rule("ListUpdates", 0.2, 0.4),
            rule("DescribeCluster", 0.2, 0.4),
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    let now = common::steps::clock_of(&sim);
    let mut later = 0;
    let mut done = false;
    for _ in 0..80 {
        let mut ctx = common::steps::step_ctx(&c, None, "demo", &mut journal, &now);
        match reconcile(&mut ctx, &Step::ControlPlane).await {
            Ok(Progress::Done { .. }) => {
                done = true;
                break;
            }
            Ok(_) => {}
            Err(e) => match failure(e) {
                Failure::Later(why) => {
                    assert!(
                        why.contains("retried with backoff") || why.contains("after retries"),
                        "{why}"
                    );
                    later += 1;
                }
                Failure::Lead { why, .. } => panic!("a transient AWS error reached the lead: {why}"),
                Failure::Stop(e) => panic!("{e}"),
            },
        }
        sim.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done, "the control plane reached the target");
    let injected = sim.aws_faults_injected();
    let faults: u64 = injected.values().map(|i| i.throttled + i.server_errors).sum();
    assert!(faults >= 5, "faults met the step: {injected:?}");
    assert_eq!(
        common::cloud::count(&sim, "UpdateClusterVersion"),
        1,
        "one update, {later} waits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_server_error_says_how_often_it_was_tried() {
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let client = drive_client(&sim, dir.path()).await;
    let faults: ApiFaults = serde_json::from_value(serde_json::json!({
        "errors": [{"rate": 1.0, "code": 503, "verbs": ["list"], "resources": ["nodes"]}]
    }))
    .unwrap();
    sim.set_api_faults(faults);
    let before = requests(&sim, "lead", "list", "nodes");
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
    let err = nodes.list(&Default::default()).await.unwrap_err();
    assert_eq!(requests(&sim, "lead", "list", "nodes") - before, 5, "5 tries in all");
    let kube::Error::Api(s) = &err else {
        panic!("the server's answer: {err}")
    };
    assert_eq!(s.code, 503);
    assert!(s.message.contains("(tried 5 times over "), "{}", s.message);
    let said = upshift::cluster::connect::said(&err);
    assert!(!said.contains("Status {"), "{said}");
    assert!(said.ends_with("(503 ServiceUnavailable)"), "{said}");
}
