//! One pod read on demand, when its detail opens: each container's image, state,
//! last termination and restarts, and the last lines of its log through `pods/log`
//! (the run that ended, too, when the container crashed). A read, like the rest of
//! `cluster`: the viewer's role grants `get` on `pods/log`.

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use kube::api::{Api, LogParams};

use super::ClusterReader;
use crate::model::Timestamp;

/// How many lines of each log the detail shows.
pub const TAIL_LINES: i64 = 12;

/// A pod's containers as read when its detail opened.
#[derive(Clone, Debug, PartialEq)]
pub struct PodDetail {
    /// `namespace/name`.
    pub key: String,
    pub containers: Vec<ContainerDetail>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerDetail {
    pub name: String,
    /// An init container (runs to completion before the others start).
    pub init: bool,
    pub image: String,
    pub state: State,
    /// How its previous run ended, if it ran before.
    pub last: Option<State>,
    pub restarts: u32,
    /// The run that ended (`--previous`), when the container crashed; then the current run.
    pub logs: Vec<LogTail>,
}

/// A container's state, as the kubelet reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Running {
        since: Option<Timestamp>,
    },
    Waiting {
        reason: String,
        message: String,
    },
    Terminated {
        reason: String,
        exit_code: i32,
        finished: Option<Timestamp>,
    },
    /// No status yet (the pod is not scheduled, or its kubelet has not reported).
    Unknown,
}

impl State {
    fn from(s: Option<&ContainerState>) -> State {
        let Some(s) = s else { return State::Unknown };
        if let Some(r) = &s.running {
            State::Running {
                since: r.started_at.as_ref().map(|t| t.0),
            }
        } else if let Some(t) = &s.terminated {
            State::Terminated {
                reason: t.reason.clone().unwrap_or_default(),
                exit_code: t.exit_code,
                finished: t.finished_at.as_ref().map(|t| t.0),
            }
        } else if let Some(w) = &s.waiting {
            State::Waiting {
                reason: w.reason.clone().unwrap_or_default(),
                message: w.message.clone().unwrap_or_default(),
            }
        } else {
            State::Unknown
        }
    }
}

/// The last lines of one run's log, or why they could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct LogTail {
    /// The run that ended before the current one (`kubectl logs --previous`).
    pub previous: bool,
    pub lines: Result<Vec<String>, String>,
}

/// Which runs' logs a container's detail reads: the one that ended when it crashed
/// (while it waits to restart, the current log is still that run's), then the current.
fn runs(c: &ContainerDetail) -> Vec<bool> {
    match (&c.state, &c.last) {
        (State::Running { .. }, Some(State::Terminated { .. })) => vec![true, false],
        (State::Waiting { .. }, Some(State::Terminated { .. })) => vec![true],
        (State::Waiting { .. } | State::Unknown, _) => Vec::new(),
        _ => vec![false],
    }
}

/// The containers of `pod`, without their logs (init containers first).
pub fn containers(pod: &Pod) -> Vec<ContainerDetail> {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let mut out = Vec::new();
    for (init, specs, statuses) in [
        (
            true,
            spec.and_then(|s| s.init_containers.as_deref()),
            status.and_then(|s| s.init_container_statuses.as_deref()),
        ),
        (
            false,
            spec.map(|s| s.containers.as_slice()),
            status.and_then(|s| s.container_statuses.as_deref()),
        ),
    ] {
        for c in specs.unwrap_or_default() {
            let st: Option<&ContainerStatus> = statuses.unwrap_or_default().iter().find(|s| s.name == c.name);
            out.push(ContainerDetail {
                name: c.name.clone(),
                init,
                image: st
                    .map(|s| s.image.clone())
                    .filter(|i| !i.is_empty())
                    .or_else(|| c.image.clone())
                    .unwrap_or_default(),
                state: State::from(st.and_then(|s| s.state.as_ref())),
                last: st
                    .and_then(|s| s.last_state.as_ref())
                    .map(|l| State::from(Some(l)))
                    .filter(|l| *l != State::Unknown),
                restarts: st.map_or(0, |s| u32::try_from(s.restart_count).unwrap_or(0)),
                logs: Vec::new(),
            });
        }
    }
    out
}

/// Why a log could not be read, in the words of the API server, and what to do
/// when the identity may not read logs.
fn log_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "forbidden: {} (the viewer's role grants get on pods/log: docs/rbac/upshift-viewer.yaml)",
            s.message
        ),
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

impl ClusterReader {
    /// Reads pod `namespace/name` and the last [`TAIL_LINES`] of each container's log.
    /// A log that cannot be read is said in its place; only the pod itself failing to
    /// read is an error.
    pub async fn pod_detail(&self, namespace: &str, name: &str) -> Result<PodDetail, kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = api.get(name).await?;
        let mut containers = containers(&pod);
        for c in &mut containers {
            for previous in runs(c) {
                let params = LogParams {
                    container: Some(c.name.clone()),
                    tail_lines: Some(TAIL_LINES),
                    previous,
                    ..LogParams::default()
                };
                let lines = api
                    .logs(name, &params)
                    .await
                    .map(|text| text.lines().map(str::to_string).collect())
                    .map_err(|e| log_error(&e));
                c.logs.push(LogTail { previous, lines });
            }
        }
        Ok(PodDetail {
            key: format!("{namespace}/{name}"),
            containers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("a pod")
    }

    #[test]
    fn a_crashed_container_reads_the_run_that_ended_and_a_waiting_one_nothing() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                     "containers": [{"name": "app", "image": "shop/app:1.0"},
                                    {"name": "sidecar", "image": "envoy:1.30"},
                                    {"name": "new", "image": "new:1"}]},
            "status": {
                "initContainerStatuses": [{"name": "setup", "image": "busybox:1.36", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                "containerStatuses": [
                    {"name": "app", "image": "shop/app:1.0", "imageID": "", "ready": false, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                  "finishedAt": "2025-06-02T14:29:00Z"}}},
                    {"name": "sidecar", "image": "envoy:1.30", "imageID": "", "ready": true, "restartCount": 1,
                     "state": {"running": {"startedAt": "2025-06-02T14:00:00Z"}},
                     "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
                    {"name": "new", "image": "new:1", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        }));
        let cs = containers(&p);
        let names: Vec<(&str, bool)> = cs.iter().map(|c| (c.name.as_str(), c.init)).collect();
        assert_eq!(
            names,
            [("setup", true), ("app", false), ("sidecar", false), ("new", false)]
        );
        assert_eq!(cs[1].restarts, 4);
        assert_eq!(
            cs[1].last,
            Some(State::Terminated {
                reason: "Error".into(),
                exit_code: 1,
                finished: Some("2025-06-02T14:29:00Z".parse().unwrap()),
            })
        );
        let read: Vec<Vec<bool>> = cs.iter().map(runs).collect();
        assert_eq!(read, [vec![false], vec![true], vec![true, false], vec![]]);
        assert!(matches!(cs[2].state, State::Running { since: Some(_) }));
    }
}
