//! The simulated Kubernetes API's fault knobs (`/sim/faults`, a scenario's
//! `apiFaults:`) — 5xx answers, dropped write replies, added latency, decided from a
//! seed — and request counts by user agent, through `kube::Client` and kubectl.

mod common;

use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Request};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

async fn sim_get(client: &kube::Client, path: &str) -> Value {
    let text = client
        .request_text(Request::get(path).body(Vec::new()).unwrap())
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn sim_post(client: &kube::Client, path: &str, body: Value) -> Result<Value, kube::Error> {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    client
        .request_text(req)
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Which of `n` lists of pods fail, under the faults `body`.
async fn pattern(body: Value, n: usize) -> (Vec<bool>, Value) {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    sim_post(&client, "/sim/faults", body).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let nodes: Api<Node> = Api::all(client.clone());
    let mut failed = Vec::new();
    for _ in 0..n {
        match pods.list(&ListParams::default()).await {
            Ok(_) => failed.push(false),
            Err(e) => {
                assert_eq!(code(&e), Some(503), "{e}");
                let kube::Error::Api(s) = &e else { unreachable!() };
                assert_eq!(s.reason, "ServiceUnavailable");
                failed.push(true);
            }
        }
        nodes
            .list(&ListParams::default())
            .await
            .expect("other resources are spared");
    }
    let doc = sim_get(&client, "/sim/faults").await;
    (failed, doc)
}

#[tokio::test]
async fn errors_by_verb_and_resource_repeat_with_the_seed() {
    let body = json!({"seed": 7, "errors": [{"rate": 0.5, "code": 503, "verbs": ["list"], "resources": ["pods"]}]});
    let (a, doc) = pattern(body.clone(), 40).await;
    let failures = a.iter().filter(|f| **f).count();
    assert!((8..=32).contains(&failures), "about half of 40: {failures}");
    assert_eq!(doc["injected"]["errors"], json!(failures));
    assert_eq!(doc["errors"][0]["resources"], json!(["pods"]));
    assert_eq!(doc["seed"], json!(7));
    let (b, _) = pattern(body, 40).await;
    assert_eq!(a, b, "the same seed, the same answers");
    let (c, _) = pattern(
        json!({"seed": 8, "errors": [{"rate": 0.5, "code": 503, "verbs": ["list"], "resources": ["pods"]}]}),
        40,
    )
    .await;
    assert_ne!(a, c, "another seed, other answers");

    // a mistake is refused naming the field; an empty body clears every fault
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let e = sim_post(&client, "/sim/faults", json!({"errors": [{"rate": 2}]}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("errors[0].rate"), "{e}");
    let e = sim_post(
        &client,
        "/sim/faults",
        json!({"errors": [{"rate": 1, "verbs": ["lsit"]}]}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("errors[0].verbs[0]"), "{e}");
    sim_post(&client, "/sim/faults", json!({"errors": [{"rate": 1}]}))
        .await
        .unwrap();
    assert_eq!(
        code(
            &Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        Some(500)
    );
    // (the POST that clears is itself a /sim/ request, which faults never touch)
    sim_post(&client, "/sim/faults", json!({})).await.unwrap();
    Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dropped_reply_applies_the_write_and_closes_the_connection() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    sim_post(
        &client,
        "/sim/faults",
        json!({"droppedReplies": [{"rate": 1, "verbs": ["create"], "resources": ["configmaps"]}]}),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "lost-reply"}})).unwrap();
    let e = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(code(&e), None, "no answer at all, not an API error: {e}");
    let stored = cms.get("lost-reply").await.expect("the write was applied");
    assert!(stored.metadata.uid.is_some());
    // a retry meets the object it already wrote (and a refused write keeps its answer)
    let e = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(code(&e), Some(409), "{e}");
    let doc = sim_get(&client, "/sim/faults").await;
    assert_eq!(
        doc["injected"]["droppedReplies"],
        json!(1),
        "a refused write is not dropped: {doc}"
    );
    // other writes answer as usual
    let other: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "kept"}})).unwrap();
    cms.replace(
        "lost-reply",
        &PostParams::default(),
        &ConfigMap {
            metadata: stored.metadata.clone(),
            ..other.clone()
        },
    )
    .await
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete("debug-shell", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(sim.api_faults_injected().dropped_replies, 1);
}

#[tokio::test]
async fn latency_delays_the_answers_it_names() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    sim_post(
        &client,
        "/sim/faults",
        json!({"latency": [{"ms": 300, "verbs": ["get"], "resources": ["nodes"]}]}),
    )
    .await
    .unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    let name = nodes.list(&ListParams::default()).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let t = Instant::now();
    nodes.get(&name).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    sim_post(
        &client,
        "/sim/faults",
        json!({"latency": [{"minMs": 100, "maxMs": 200}]}),
    )
    .await
    .unwrap();
    let t = Instant::now();
    nodes.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(100), "{:?}", t.elapsed());
    assert_eq!(
        sim.api_faults_injected().delayed,
        2,
        "what was injected adds up over settings"
    );
}

#[tokio::test]
async fn a_scenario_sets_faults_from_the_start_and_a_bad_one_is_refused() {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scenarios/demo.yaml")).unwrap();
    let yaml = format!(
        "{demo}\napiFaults:\n  seed: 3\n  errors:\n    - {{rate: 1, code: 504, verbs: [delete], resources: [pods]}}\n"
    );
    let scenario = Scenario::from_yaml(&yaml, "faulty.yaml").unwrap();
    let sim = Simulator::start(SimConfig::new(scenario)).await.unwrap();
    let client = sim.client("lead").await.unwrap();
    let e = Api::<Pod>::namespaced(client.clone(), "default")
        .delete("debug-shell", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(504));
    let doc = sim_get(&client, "/sim/faults").await;
    assert_eq!(doc["errors"][0]["code"], json!(504));

    let bad = format!("{demo}\napiFaults:\n  droppedReplies:\n    - {{rate: 0.5, verbs: [get]}}\n");
    let e = Scenario::from_yaml(&bad, "faulty.yaml").unwrap_err().to_string();
    assert!(
        e.contains("faulty.yaml") && e.contains("apiFaults.droppedReplies[0].verbs[0]"),
        "{e}"
    );
}

#[tokio::test]
async fn requests_are_counted_by_identity_and_by_user_agent() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = common::Kubectl::new(bin, &sim);
    k.ok(&["get", "nodes"]).await;
    let node = sim.world().lock().nodes.items().keys().next().unwrap().clone();
    k.ok(&["cordon", &node]).await;
    // a tool with a user agent of its own, under the same identity
    let kc = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.headers.push((
        HeaderName::from_static("user-agent"),
        HeaderValue::from_static("upshift/0.1.0 (drive)"),
    ));
    let tool = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(tool, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "journal"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let plain = sim.client("lead").await.unwrap();
    Api::<Pod>::all(plain.clone())
        .list(&ListParams::default())
        .await
        .unwrap();

    let by_identity = sim_get(&plain, "/sim/requests").await;
    assert!(
        by_identity["lead"]["list"]["nodes"].as_u64().unwrap() >= 1,
        "{by_identity}"
    );
    assert_eq!(
        by_identity["lead"]["create"]["configmaps"],
        json!(1),
        "the shape it always had"
    );
    let by_agent = sim_get(&plain, "/sim/requests?by=agent").await;
    let agents: Vec<&String> = by_agent["lead"].as_object().unwrap().keys().collect();
    let kubectl = agents
        .iter()
        .find(|a| a.starts_with("kubectl/v"))
        .expect("kubectl's agent");
    assert_eq!(
        by_agent["lead"][kubectl.as_str()]["patch"]["nodes"],
        json!(1),
        "{by_agent}"
    );
    assert_eq!(
        by_agent["lead"]["upshift/0.1.0"]["create"]["configmaps"],
        json!(1),
        "{by_agent}"
    );
    assert!(
        by_agent["lead"]["unknown"]["list"]["pods"].as_u64().unwrap() >= 1,
        "{by_agent}"
    );
    let counts = sim.request_counts_by_agent();
    assert_eq!(counts.mutating("lead", "kubectl/"), 1, "the person cordoned one node");
    assert_eq!(counts.mutating("lead", "upshift/"), 1);
    assert_eq!(sim.request_counts().mutating("lead"), 2);

    // kubectl meets the injected errors as it would a real server's
    sim.set_api_faults(
        serde_json::from_value(json!({"errors": [{"rate": 1, "code": 503, "verbs": ["list"], "resources": ["pods"]}]}))
            .unwrap(),
    );
    let out = k.run(&["get", "pods", "-n", "shop"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ServiceUnavailable") || stderr.contains("unable to handle the request"),
        "{stderr}"
    );
}
