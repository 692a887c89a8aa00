//! Container logs: a few deterministic lines per run of a container, computed from
//! its status (when it started, whether and how it ended) rather than stored. A run
//! that crashed ends in an error, one that was OOM-killed
//! in the runtime's out-of-memory error. Only the last lines are kept, as if the
//! kubelet had rotated the file.
//!
//! A run starts with lines naming its pod and container, then reports its traffic
//! every virtual minute.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::fnv;

/// Lines a run keeps (older ones are rotated away): about three and a half
/// virtual days of traffic lines, so a scenario's pods still show how they started.
pub const KEPT_LINES: usize = 5000;
/// Virtual seconds between two traffic lines.
const EVERY_SECS: i64 = 60;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Exited with this code (non-zero: the app gave up).
    Exited(i32),
    OomKilled,
}

/// One run of a container, as its logs see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub image: String,
    /// The runtime's id of this run (`containerd://…`): a new run has a new one.
    pub id: String,
    pub started: Timestamp,
    pub ended: Option<(Timestamp, End)>,
}

/// One log line and when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub at: Timestamp,
    pub text: String,
}

/// Which run of a container a log request reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The running one, else the last one that ended (as the kubelet chooses).
    Current,
    /// The one before the current (`previous=true`).
    Previous,
}

fn container_status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let s = pod.status.as_ref()?;
    [&s.container_statuses, &s.init_container_statuses]
        .into_iter()
        .flatten()
        .flatten()
        .find(|c| c.name == container)
}

fn terminated_run(
    pod: &Pod,
    c: &ContainerStatus,
    t: &k8s_openapi::api::core::v1::ContainerStateTerminated,
) -> Option<Run> {
    let ended = t.finished_at.as_ref().map(|f| f.0)?;
    let started = t.started_at.as_ref().map(|s| s.0).unwrap_or(ended);
    let end = if t.reason.as_deref() == Some("OOMKilled") {
        End::OomKilled
    } else {
        End::Exited(t.exit_code)
    };
    Some(Run {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        container: c.name.clone(),
        image: c.image.clone(),
        id: t.container_id.clone().unwrap_or_default(),
        started,
        ended: Some((ended, end)),
    })
}

/// The run a log request reads, or the kubelet's error (its exact words) saying
/// why there is none. The container must be one of the pod's.
pub fn run_of(pod: &Pod, container: &str, which: Which) -> Result<Run, String> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let Some(c) = container_status(pod, container) else {
        return Err(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: ContainerCreating"
        ));
    };
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let state = c.state.as_ref();
    let last_with_id = last.filter(|t| t.container_id.as_deref().is_some_and(|i| !i.is_empty()));
    if which == Which::Previous {
        return last_with_id
            .and_then(|t| terminated_run(pod, c, t))
            .ok_or_else(|| format!("previous terminated container \"{container}\" in pod \"{pod_name}\" not found"));
    }
    if let Some(r) = state.and_then(|s| s.running.as_ref()) {
        return Ok(Run {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            pod: pod_name,
            container: c.name.clone(),
            image: c.image.clone(),
            id: c.container_id.clone().unwrap_or_default(),
            started: r.started_at.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH),
            ended: None,
        });
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        let own = t.container_id.as_deref().is_some_and(|i| !i.is_empty());
        let run = if own {
            terminated_run(pod, c, t)
        } else {
            last_with_id.and_then(|l| terminated_run(pod, c, l))
        };
        return run.ok_or_else(|| format!("container \"{container}\" in pod \"{pod_name}\" is terminated"));
    }
    if let Some(l) = last {
        return last_with_id
            .and_then(|_| terminated_run(pod, c, l))
            .ok_or_else(|| format!("container \"{container}\" in pod \"{pod_name}\" is terminated"));
    }
    match state
        .and_then(|s| s.waiting.as_ref())
        .map(|w| w.reason.clone().unwrap_or_default())
    {
        Some(r) if r == "ErrImagePull" => Err(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: image can't be pulled"
        )),
        Some(r) if r == "ImagePullBackOff" => Err(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: trying and failing to pull image"
        )),
        Some(r) => Err(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {r}"
        )),
        None => Err(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start - no logs yet"
        )),
    }
}

fn at(start: Timestamp, millis: i64) -> Timestamp {
    start.checked_add(SignedDuration::from_millis(millis)).unwrap_or(start)
}

/// A number from the run's id and a counter, for the lines' varying figures.
fn figure(run: &Run, n: i64, modulo: u32) -> u32 {
    fnv(format!("{}#{n}", run.id).as_bytes()) % modulo.max(1)
}

/// The app's name and version, from the image (`shop/web:4.2.0` → `web`, `4.2.0`).
fn app_of(image: &str) -> (&str, &str) {
    let (path, tag) = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .unwrap_or((image, "latest"));
    (path.rsplit('/').next().unwrap_or(path), tag)
}

/// Every line the run has written up to `until` (the last [`KEPT_LINES`]).
pub fn lines(run: &Run, until: Timestamp) -> Vec<Line> {
    lines_between(run, None, until)
}

/// The lines written after `after` (all kept ones when None) up to `until`.
pub fn lines_between(run: &Run, after: Option<Timestamp>, until: Timestamp) -> Vec<Line> {
    let end = run.ended.as_ref().map(|(t, _)| *t);
    let stop = end.map_or(until, |e| e.min(until));
    let (app, version) = app_of(&run.image);
    let mut head: Vec<Line> = vec![
        Line {
            at: run.started,
            text: format!(
                "level=info msg=\"starting {app} {version}\" pod={}/{} container={}",
                run.namespace, run.pod, run.container
            ),
        },
        Line {
            at: at(run.started, 300),
            text: format!("level=info msg=\"configuration loaded\" path=/etc/{app}/config.yaml"),
        },
        Line {
            at: at(run.started, 800),
            text: format!(
                "level=info msg=\"listening\" addr=0.0.0.0:{}",
                8080 + figure(run, -1, 10)
            ),
        },
    ];
    head.retain(|l| l.at <= stop);
    // traffic lines: the k-th at start + k × 30 s, only the last ones kept
    let span = stop.duration_since(run.started).as_secs();
    let periodic = (span / EVERY_SECS).max(0);
    let tail_lines = match &run.ended {
        Some(_) if end.is_some_and(|e| e <= until) => 2,
        _ => 0,
    };
    let room = KEPT_LINES.saturating_sub(tail_lines) as i64;
    let mut first = (periodic - room).max(0) + 1;
    let mut out: Vec<Line> = Vec::new();
    if first == 1 {
        out.extend(head.into_iter().filter(|l| after.is_none_or(|a| l.at > a)));
    }
    if let Some(a) = after {
        // the first traffic line strictly after `a`
        let since = a.duration_since(run.started).as_millis();
        let k = if since < 0 {
            1
        } else {
            since as i64 / (EVERY_SECS * 1000) + 1
        };
        first = first.max(k);
    }
    for k in first..=periodic {
        let count = 200 + figure(run, k, 400);
        let p99 = 5 + figure(run, k + 1_000_000, 40);
        out.push(Line {
            at: at(run.started, k * EVERY_SECS * 1000),
            text: format!("level=info msg=\"requests served\" count={count} window={EVERY_SECS}s p99_ms={p99}"),
        });
    }
    if let Some((e, how)) = &run.ended
        && *e <= until
    {
        let (a, b) = match how {
            End::OomKilled => (
                format!(
                    "level=warn msg=\"cache warm-up\" allocated_mib={} pod={}/{} container={}",
                    400 + figure(run, -2, 600),
                    run.namespace,
                    run.pod,
                    run.container
                ),
                "fatal error: runtime: out of memory".to_string(),
            ),
            End::Exited(code) => (
                format!(
                    "level=error msg=\"upstream refused the connection\" error=\"dial tcp 172.20.{}.{}:5432: connect: connection refused\" attempt=3 pod={}/{} container={}",
                    figure(run, -3, 200),
                    1 + figure(run, -4, 250),
                    run.namespace,
                    run.pod,
                    run.container
                ),
                format!("level=fatal msg=\"giving up\" exit_code={code}"),
            ),
        };
        let before = at(*e, -5).max(run.started);
        out.push(Line { at: before, text: a });
        out.push(Line { at: *e, text: b });
    }
    if let Some(a) = after {
        out.retain(|l| l.at > a);
    }
    out
}

/// Options of a log request that select lines (the kubelet's, applied in its order:
/// since, then tail, then the byte limit).
#[derive(Clone, Debug, Default)]
pub struct Select {
    pub since: Option<Timestamp>,
    pub tail: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub timestamps: bool,
}

/// The text of `lines` under `select`, one per line.
pub fn render(lines: &[Line], select: &Select) -> String {
    let mut chosen: Vec<&Line> = lines
        .iter()
        .filter(|l| select.since.is_none_or(|s| l.at >= s))
        .collect();
    if let Some(n) = select.tail {
        let skip = chosen.len().saturating_sub(n);
        chosen.drain(..skip);
    }
    let mut out = String::new();
    for l in chosen {
        if select.timestamps {
            out.push_str(&format_time(l.at));
            out.push(' ');
        }
        out.push_str(&l.text);
        out.push('\n');
    }
    if let Some(limit) = select.limit_bytes
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// A time as the kubelet prefixes lines with `timestamps=true` (RFC 3339, nanoseconds).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ended: Option<(i64, End)>) -> Run {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        Run {
            namespace: "shop".into(),
            pod: "web-0".into(),
            container: "web".into(),
            image: "shop/web:4.2.0".into(),
            id: "containerd://abc".into(),
            started: start,
            ended: ended.map(|(s, e)| (at(start, s * 1000), e)),
        }
    }

    #[test]
    fn a_run_names_itself_then_reports_traffic_and_a_crash_ends_in_an_error() {
        let r = run(None);
        let now = at(r.started, 95_000);
        let l = lines(&r, now);
        assert!(l[0].text.contains("pod=shop/web-0 container=web") && l[0].text.contains("web 4.2.0"));
        assert_eq!(l.len(), 3 + 1, "three opening lines, one a minute");
        let later = at(r.started, 185_000);
        let fresh = lines_between(&r, Some(now), later);
        assert_eq!(fresh.len(), 2, "the lines after 95 s up to 185 s: at 120 s and 180 s");
        assert_eq!(lines(&r, later)[4..], fresh[..]);
        assert_eq!(lines(&r, now), l, "the same lines every time");
        let crashed = run(Some((3, End::Exited(1))));
        let l = lines(&crashed, now);
        assert!(l.last().unwrap().text.contains("exit_code=1"), "{l:?}");
        assert!(l[l.len() - 2].text.contains("level=error"));
        let oom = run(Some((8, End::OomKilled)));
        assert_eq!(
            lines(&oom, now).last().unwrap().text,
            "fatal error: runtime: out of memory"
        );
        // before the end, the end is not written yet
        assert!(
            !lines(&crashed, at(crashed.started, 1000))
                .iter()
                .any(|l| l.text.contains("fatal"))
        );
    }

    #[test]
    fn long_runs_keep_the_last_lines_and_selection_follows_the_kubelet() {
        let r = run(None);
        let now = at(r.started, 10 * 86_400_000);
        let l = lines(&r, now);
        assert_eq!(l.len(), KEPT_LINES);
        assert!(
            lines(&r, at(r.started, 3 * 86_400_000))[0]
                .text
                .contains("pod=shop/web-0")
        );
        assert!(l.windows(2).all(|w| w[0].at <= w[1].at));
        let tail = render(
            &l,
            &Select {
                tail: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(tail.lines().count(), 2);
        let since = render(
            &l,
            &Select {
                since: Some(at(now, -121_000)),
                timestamps: true,
                ..Default::default()
            },
        );
        assert_eq!(since.lines().count(), 3, "{since}");
        assert!(since.starts_with("2027-01-2"), "{since}");
        let limited = render(
            &l,
            &Select {
                limit_bytes: Some(10),
                ..Default::default()
            },
        );
        assert_eq!(limited.len(), 10);
        assert_eq!(
            app_of("registry.k8s.io/ingress-nginx/controller:v1.11.2"),
            ("controller", "v1.11.2")
        );
        assert_eq!(app_of("busybox"), ("busybox", "latest"));
    }
}
