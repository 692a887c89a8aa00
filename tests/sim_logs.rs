//! Pod details and the `pods/log` subresource in the simulator, through
//! `kube::Client` and kubectl: containers' last termination for crash loops and
//! OOM kills, logs naming their pod and container and ending in the error that
//! stopped them, the real servers' errors when there is nothing to read, and
//! `follow` streaming as virtual time passes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use serde_json::json;
use upshift::sim::Simulator;

fn api_error(e: &kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message.clone()),
        other => (0, other.to_string()),
    }
}

async fn create_pod(sim: &Simulator, name: &str, containers: &[&str], fault: Option<&str>) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(sim.client("lead").await.unwrap(), "default");
    let mut annotations = json!({"sim.upshift.dev/start-seconds": "5"});
    if let Some(f) = fault {
        annotations["sim.upshift.dev/fault"] = json!(f);
    }
    let cs: Vec<_> = containers
        .iter()
        .map(|c| json!({"name": c, "image": format!("shop/{c}:1.2.3")}))
        .collect();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": cs}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    pods
}

fn status(pod: &Pod, container: &str) -> ContainerStatus {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == container).cloned())
        .expect("the container has a status")
}

/// Waits until `check` holds for the pod (virtual time moving 1 s per try).
async fn until(sim: &Simulator, pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    common::eventually(sim, Duration::from_secs(1), 300, what, || {
        let pods = pods.clone();
        let name = name.to_string();
        let ok = &check;
        async move { pods.get(&name).await.ok().filter(|p| ok(p)) }
    })
    .await
}

fn running(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

#[tokio::test]
async fn logs_name_their_pod_and_container_and_follow_the_options() {
    let sim = common::start("demo").await;
    let pods: Api<Pod> = Api::namespaced(sim.client("viewer").await.unwrap(), "shop");
    let name = pods
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let text = pods.logs(&name, &LogParams::default()).await.unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains(&format!("pod=shop/{name} container=web")), "{first}");
    assert!(first.contains("starting web 4.2.0"), "{first}");
    assert!(text.lines().count() > 1000, "three days of a line a minute");
    // the same lines each time (a new one may have been written meanwhile)
    let again = pods.logs(&name, &LogParams::default()).await.unwrap();
    assert!(
        again == text || again.lines().count() == text.lines().count() + 1,
        "the same lines"
    );

    let tail = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(2),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 2);
    for line in tail.lines() {
        let (stamp, rest) = line.split_once(' ').unwrap();
        let t: jiff::Timestamp = stamp.parse().expect("an RFC 3339 time first");
        assert!(rest.contains("requests served"), "{line}");
        let _ = t;
    }
    let last_text = tail.lines().last().unwrap().split_once(' ').unwrap().1;
    assert!(again.lines().rev().take(2).any(|l| l == last_text), "{last_text}");
    let recent = pods
        .logs(
            &name,
            &LogParams {
                since_seconds: Some(150),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!((2..=3).contains(&recent.lines().count()), "{recent}");
    let limited = pods
        .logs(
            &name,
            &LogParams {
                limit_bytes: Some(20),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 20);
    let e = pods.logs("nope", &LogParams::default()).await.unwrap_err();
    assert_eq!(api_error(&e).0, 404);
    assert_eq!(
        sim.request_counts().count("viewer", "get"),
        6,
        "{:?}",
        sim.request_counts()
    );
}

#[tokio::test]
async fn a_crash_loop_shows_its_last_termination_and_its_logs_end_in_the_error() {
    let sim = common::start("demo").await;
    let pods = create_pod(&sim, "crashy", &["app"], Some("CrashLoopBackOff")).await;
    until(&sim, &pods, "crashy", "running", running).await;
    let e = pods
        .logs(
            "crashy",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(&e),
        (
            400,
            "previous terminated container \"app\" in pod \"crashy\" not found".to_string()
        )
    );
    let crashed = until(&sim, &pods, "crashy", "crashed once", |p| {
        let s = status(p, "app");
        s.restart_count >= 1 && s.state.as_ref().is_some_and(|s| s.waiting.is_some())
    })
    .await;
    let s = status(&crashed, "app");
    let waiting = s.state.unwrap().waiting.unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let (started, finished) = (last.started_at.unwrap().0, last.finished_at.unwrap().0);
    assert!(finished > started);
    assert!(last.container_id.unwrap().starts_with("containerd://"));
    // in back-off the kubelet serves the run that ended, which ends in the error
    let current = pods.logs("crashy", &LogParams::default()).await.unwrap();
    assert!(current.lines().last().unwrap().contains("level=fatal"), "{current}");
    assert!(
        current.lines().rev().nth(1).unwrap().contains("level=error"),
        "{current}"
    );
    let previous = pods
        .logs(
            "crashy",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous, current);
    // once restarted, the current run is healthy so far and previous is the crash
    let again = until(&sim, &pods, "crashy", "restarted", running).await;
    let id_now = status(&again, "app").container_id.unwrap();
    assert_ne!(
        Some(id_now),
        status(&crashed, "app")
            .last_state
            .unwrap()
            .terminated
            .unwrap()
            .container_id
    );
    let current = pods.logs("crashy", &LogParams::default()).await.unwrap();
    assert!(!current.contains("level=fatal"), "{current}");
    let previous = pods
        .logs(
            "crashy",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(previous.lines().last().unwrap().contains("level=fatal"), "{previous}");

    let oom = create_pod(&sim, "hungry", &["app"], Some("OOMKilled")).await;
    let killed = until(&sim, &oom, "hungry", "OOM-killed", |p| {
        status(p, "app").restart_count >= 1
    })
    .await;
    let last = status(&killed, "app").last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (137, Some("OOMKilled")));
    let previous = oom
        .logs(
            "hungry",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous.lines().last().unwrap(), "fatal error: runtime: out of memory");
}

#[tokio::test]
async fn several_containers_need_a_name_and_waiting_ones_have_no_logs_yet() {
    let sim = common::start("demo").await;
    let pods = create_pod(&sim, "two", &["web", "proxy"], None).await;
    let e = pods.logs("two", &LogParams::default()).await.unwrap_err();
    assert_eq!(
        api_error(&e),
        (
            400,
            "a container name must be specified for pod two, choose one of: [web proxy]".to_string()
        )
    );
    let e = pods
        .logs(
            "two",
            &LogParams {
                container: Some("db".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(&e),
        (400, "container db is not valid for pod two".to_string())
    );
    let e = pods
        .logs(
            "two",
            &LogParams {
                container: Some("web".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(&e),
        (
            400,
            "container \"web\" in pod \"two\" is waiting to start: ContainerCreating".to_string()
        )
    );
    until(&sim, &pods, "two", "running", running).await;
    for c in ["web", "proxy"] {
        let text = pods
            .logs(
                "two",
                &LogParams {
                    container: Some(c.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(text.contains(&format!("pod=default/two container={c}")), "{text}");
    }
    let pull = create_pod(&sim, "pull", &["app"], Some("ImagePullBackOff")).await;
    until(&sim, &pull, "pull", "pull failed", |p| {
        status(p, "app")
            .state
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason)
            .as_deref()
            == Some("ImagePullBackOff")
    })
    .await;
    let e = pull.logs("pull", &LogParams::default()).await.unwrap_err();
    assert_eq!(
        api_error(&e),
        (
            400,
            "container \"app\" in pod \"pull\" is waiting to start: trying and failing to pull image".to_string()
        )
    );
}

#[tokio::test]
async fn follow_streams_new_lines_as_virtual_time_passes_until_the_container_stops() {
    let sim = common::start("demo").await;
    let pods = create_pod(&sim, "steady", &["app"], None).await;
    until(&sim, &pods, "steady", "running", running).await;
    let stream = pods
        .log_stream(
            "steady",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut lines = Box::pin(stream).lines();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let l = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(l);
    }
    assert!(seen[0].contains("pod=default/steady container=app"), "{seen:?}");
    // three virtual minutes: three more lines, as they are written
    sim.advance(Duration::from_secs(181));
    for _ in 0..3 {
        let l = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(l.contains("requests served"), "{l}");
    }
    pods.delete(
        "steady",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), lines.next())
        .await
        .unwrap();
    assert!(end.is_none(), "the stream ends with the container: {end:?}");

    // a container that crashes ends its stream with its error
    let crashy = create_pod(&sim, "crashy", &["app"], Some("CrashLoopBackOff")).await;
    until(&sim, &crashy, "crashy", "running", running).await;
    let mut lines = Box::pin(
        crashy
            .log_stream(
                "crashy",
                &LogParams {
                    follow: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    )
    .lines();
    sim.advance(Duration::from_secs(10));
    let mut all = Vec::new();
    while let Some(l) = tokio::time::timeout(Duration::from_secs(5), lines.next())
        .await
        .unwrap()
    {
        all.push(l.unwrap());
    }
    assert!(all.last().unwrap().contains("level=fatal"), "{all:?}");
}

#[tokio::test]
async fn kubectl_logs_previous_and_follow() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = common::Kubectl::new(bin.clone(), &sim);
    let out = k.ok(&["logs", "debug-shell", "--tail", "3"]).await;
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = k.ok(&["logs", "debug-shell"]).await;
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("pod=default/debug-shell container=debug-shell"),
        "{out}"
    );

    let pods = create_pod(&sim, "two", &["web", "proxy"], None).await;
    until(&sim, &pods, "two", "running", running).await;
    let out = k.run(&["logs", "two"]).await;
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("container=web"),
        "kubectl picks the first container: {stdout}"
    );
    let out = k.ok(&["logs", "two", "-c", "proxy", "--timestamps"]).await;
    assert!(out.contains("container=proxy") && out.starts_with("20"), "{out}");

    let never = k.run(&["logs", "two", "-c", "web", "--previous"]).await;
    assert!(!never.status.success());
    let stderr = String::from_utf8_lossy(&never.stderr);
    assert!(
        stderr.contains("previous terminated container \"web\" in pod \"two\" not found"),
        "{stderr}"
    );
    let crashy = create_pod(&sim, "crashy", &["app"], Some("CrashLoopBackOff")).await;
    until(&sim, &crashy, "crashy", "crashed", |p| {
        status(p, "app").restart_count >= 1
    })
    .await;
    let out = k.ok(&["logs", "crashy", "--previous"]).await;
    assert!(out.lines().last().unwrap().contains("level=fatal"), "{out}");

    // kubectl logs -f: lines arrive as virtual time passes, and it exits with the container
    let steady = create_pod(&sim, "steady", &["app"], None).await;
    until(&sim, &steady, "steady", "running", running).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut child = Command::new(&bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["logs", "-f", "steady"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    sim.advance(Duration::from_secs(121));
    for _ in 0..2 {
        let l = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(l.contains("requests served"), "{l}");
    }
    steady
        .delete(
            "steady",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "kubectl logs -f exits when the container stops");
    let by_agent = sim.request_counts_by_agent();
    assert!(by_agent.count("lead", "kubectl/", "get") >= 6, "{by_agent:?}");
    let _ = (crashy, pods);
}
