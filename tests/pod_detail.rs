//! A pod's detail against the simulator, as a viewer reads it: the containers'
//! image, state, last termination and restarts, and the last lines of the log of
//! the run that crashed, read through `pods/log` with nothing but reads.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use upshift::cluster::ClusterReader;
use upshift::cluster::pod_detail::{State, TAIL_LINES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_a_crashed_containers_last_state_and_the_end_of_its_log() {
    let sim = common::start("demo").await;
    // the test's own crash-looping pod, created as the lead
    let pods: Api<Pod> = Api::namespaced(sim.client("lead").await.unwrap(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "crashy", "annotations": {
            "sim.upshift.dev/start-seconds": "5",
            "sim.upshift.dev/fault": "CrashLoopBackOff"}},
        "spec": {"containers": [{"name": "app", "image": "shop/app:1.2.3"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    let reader = ClusterReader::new(sim.client("viewer").await.unwrap());
    let before = sim.request_counts();
    let detail = common::eventually(&sim, Duration::from_secs(1), 300, "a crash and a restart", || {
        let reader = reader.clone();
        async move {
            let d = reader
                .pod_detail("default", "crashy")
                .await
                .expect("the viewer reads the pod");
            let crashed = d.containers.first().is_some_and(|c| {
                c.restarts > 0 && matches!(c.last, Some(State::Terminated { .. })) && !c.logs.is_empty()
            });
            crashed.then_some(d)
        }
    })
    .await;
    assert_eq!(detail.key, "default/crashy");
    let app = &detail.containers[0];
    assert_eq!((app.name.as_str(), app.init), ("app", false));
    assert_eq!(app.image, "shop/app:1.2.3");
    match &app.last {
        Some(State::Terminated {
            reason,
            exit_code,
            finished,
        }) => {
            assert_eq!((reason.as_str(), *exit_code), ("Error", 1));
            assert!(finished.is_some(), "when it ended");
        }
        other => panic!("the last state is the crash: {other:?}"),
    }
    // the run that crashed is read (--previous), its last lines ending in the error
    let crashed = app.logs.iter().find(|t| t.previous).expect("the run that ended");
    let lines = crashed.lines.as_ref().expect("the viewer may read logs");
    assert!(!lines.is_empty() && lines.len() <= TAIL_LINES as usize, "{lines:?}");
    assert!(lines.last().unwrap().contains("level=fatal"), "{lines:?}");

    // nothing but reads, and logs among them
    let after = sim.request_counts();
    let viewer = after.0.get("viewer").cloned().unwrap_or_default();
    let logs_read = viewer.get("get").and_then(|r| r.get("pods/log")).copied().unwrap_or(0);
    let logs_before = before
        .0
        .get("viewer")
        .and_then(|v| v.get("get"))
        .and_then(|r| r.get("pods/log"))
        .copied()
        .unwrap_or(0);
    assert!(logs_read > logs_before, "the viewer read logs: {viewer:?}");
    assert_eq!(after.mutating("viewer"), 0, "{viewer:?}");
}
