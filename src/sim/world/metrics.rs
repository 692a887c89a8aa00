//! CloudWatch for the simulated cluster: a sample of each metric every virtual
//! minute (Auto Scaling in-service instances per group, node and pod counts, and a
//! synthetic 5xx count per service that rises while its Deployment has no ready
//! pods), metrics put by clients, statistics over periods, and alarms whose state
//! follows their metric.

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;

use super::nodes::InstanceState;
use super::{AwsTimer, Timer, World};

/// Virtual seconds between two samples.
pub const SAMPLE_SECS: f64 = 60.0;
/// Samples kept per series (three virtual hours).
const RETAINED: usize = 180;
/// Synthetic services: at most this many Deployments get one.
const MAX_SERVICES: usize = 200;
/// Requests a synthetic service answers per minute.
const REQUESTS_PER_MINUTE: f64 = 600.0;

/// A metric's identity: namespace, name, dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    pub fn new(namespace: &str, name: &str, dims: &[(&str, &str)]) -> Self {
        let mut dimensions: Vec<(String, String)> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        dimensions.sort();
        MetricId {
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub metric: MetricId,
    pub statistic: String,
    pub period: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
    /// `GreaterThanThreshold`, `GreaterThanOrEqualToThreshold`, `LessThanThreshold`, `LessThanOrEqualToThreshold`.
    pub comparison: String,
    pub state: &'static str,
    pub reason: String,
    pub updated: Timestamp,
}

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub series: BTreeMap<MetricId, VecDeque<(Timestamp, f64)>>,
    pub alarms: Vec<Alarm>,
    /// Deployments (namespace/name) that stand for a service behind a load balancer.
    pub services: Vec<String>,
}

/// The dimension value naming a service's target group.
pub fn target_group(service: &str) -> String {
    format!(
        "targetgroup/{}/{:016x}",
        service.replace('/', "-"),
        u64::from(super::fnv(service.as_bytes()))
    )
}

/// Picks the synthetic services, makes the built-in alarms, takes the first sample.
pub fn start(w: &mut World) {
    let services: Vec<String> = w
        .deployments
        .items()
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !k.starts_with("kube-system/"))
        .take(MAX_SERVICES)
        .collect();
    let cluster = w.cluster.name.clone();
    let now = w.now;
    let mut alarms = vec![Alarm {
        name: format!("{cluster}-nodes-not-ready"),
        description: "Nodes of the cluster are NotReady".into(),
        metric: MetricId::new(
            "ContainerInsights",
            "cluster_failed_node_count",
            &[("ClusterName", &cluster)],
        ),
        statistic: "Maximum".into(),
        period: 60,
        evaluation_periods: 3,
        threshold: 0.0,
        comparison: "GreaterThanThreshold".into(),
        state: "INSUFFICIENT_DATA",
        reason: "Unchecked: Initial alarm creation".into(),
        updated: now,
    }];
    for s in &services {
        alarms.push(Alarm {
            name: format!("{}-5xx", s.replace('/', "-")),
            description: format!("Service {s} answers with server errors"),
            metric: MetricId::new(
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                &[("TargetGroup", &target_group(s))],
            ),
            statistic: "Sum".into(),
            period: 60,
            evaluation_periods: 1,
            threshold: 0.0,
            comparison: "GreaterThanThreshold".into(),
            state: "INSUFFICIENT_DATA",
            reason: "Unchecked: Initial alarm creation".into(),
            updated: now,
        });
    }
    w.aws.metrics.services = services;
    w.aws.metrics.alarms = alarms;
    sample(w);
}

fn record(w: &mut World, id: MetricId, value: f64) {
    let now = w.now;
    let s = w.aws.metrics.series.entry(id).or_default();
    s.push_back((now, value));
    while s.len() > RETAINED {
        s.pop_front();
    }
}

/// Puts one data point (PutMetricData).
pub fn put(w: &mut World, id: MetricId, at: Option<Timestamp>, value: f64) {
    let at = at.unwrap_or(w.now);
    let s = w.aws.metrics.series.entry(id).or_default();
    let pos = s.iter().position(|(t, _)| *t > at).unwrap_or(s.len());
    s.insert(pos, (at, value));
    while s.len() > RETAINED {
        s.pop_front();
    }
}

/// Takes one sample of every built-in metric, evaluates alarms, and queues the next.
pub fn sample(w: &mut World) {
    let cluster = w.cluster.name.clone();
    let groups: Vec<(String, usize, usize)> = w
        .groups
        .iter()
        .map(|g| {
            let in_service = g
                .instances
                .iter()
                .filter(|i| i.state == InstanceState::InService)
                .count();
            (g.asg_name.clone(), in_service, g.desired as usize)
        })
        .collect();
    for (asg, in_service, desired) in groups {
        record(
            w,
            MetricId::new(
                "AWS/AutoScaling",
                "GroupInServiceInstances",
                &[("AutoScalingGroupName", &asg)],
            ),
            in_service as f64,
        );
        record(
            w,
            MetricId::new(
                "AWS/AutoScaling",
                "GroupDesiredCapacity",
                &[("AutoScalingGroupName", &asg)],
            ),
            desired as f64,
        );
    }
    let nodes = w.nodes.len();
    let not_ready = w
        .nodes
        .items()
        .iter()
        .filter(|(_, n)| !super::scheduler::node_ready(n))
        .count();
    let running = w
        .pods
        .items()
        .iter()
        .filter(|(_, p)| super::kubelet::phase(p) == "Running")
        .count();
    let dim = [("ClusterName", cluster.as_str())];
    record(
        w,
        MetricId::new("ContainerInsights", "cluster_node_count", &dim),
        nodes as f64,
    );
    record(
        w,
        MetricId::new("ContainerInsights", "cluster_failed_node_count", &dim),
        not_ready as f64,
    );
    record(
        w,
        MetricId::new("ContainerInsights", "cluster_number_of_running_pods", &dim),
        running as f64,
    );
    for s in w.aws.metrics.services.clone() {
        let (want, ready) = w
            .deployments
            .get(&s)
            .map(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0);
                let ready = d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0).max(0);
                (want, ready)
            })
            .unwrap_or((0, 0));
        let errors = if want == 0 {
            0.0
        } else if ready == 0 {
            REQUESTS_PER_MINUTE
        } else if ready < want {
            // a few requests hit pods on their way out
            (REQUESTS_PER_MINUTE * f64::from(want - ready) / f64::from(want) * 0.02).round()
        } else {
            0.0
        };
        let tg = target_group(&s);
        record(
            w,
            MetricId::new("AWS/ApplicationELB", "RequestCount", &[("TargetGroup", &tg)]),
            if want == 0 { 0.0 } else { REQUESTS_PER_MINUTE },
        );
        record(
            w,
            MetricId::new(
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                &[("TargetGroup", &tg)],
            ),
            errors,
        );
    }
    evaluate_alarms(w);
    w.schedule(SAMPLE_SECS, Timer::Aws(AwsTimer::Sample));
}

/// A statistic over values.
pub fn statistic(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().sum();
    Some(match stat {
        "Sum" => sum,
        "Average" => sum / values.len() as f64,
        "Maximum" => values.iter().cloned().fold(f64::MIN, f64::max),
        "Minimum" => values.iter().cloned().fold(f64::MAX, f64::min),
        "SampleCount" => values.len() as f64,
        _ => return None,
    })
}

/// Statistics of `id` per `period` seconds between `start` and `end`, oldest first.
pub fn query(
    w: &World,
    id: &MetricId,
    stat: &str,
    period: u32,
    start: Timestamp,
    end: Timestamp,
) -> Vec<(Timestamp, f64)> {
    let Some(series) = w.aws.metrics.series.get(id) else {
        return Vec::new();
    };
    let period = i64::from(period.max(1));
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (t, v) in series {
        if *t < start || *t >= end {
            continue;
        }
        let s = t.as_second();
        buckets.entry(s - s.rem_euclid(period)).or_default().push(*v);
    }
    buckets
        .into_iter()
        .filter_map(|(b, vs)| Some((Timestamp::from_second(b).ok()?, statistic(stat, &vs)?)))
        .collect()
}

fn breaches(comparison: &str, value: f64, threshold: f64) -> bool {
    match comparison {
        "GreaterThanThreshold" => value > threshold,
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "LessThanThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        _ => false,
    }
}

/// Sets each alarm's state from its last evaluation periods.
pub fn evaluate_alarms(w: &mut World) {
    let now = w.now;
    let mut changes = Vec::new();
    for (i, a) in w.aws.metrics.alarms.iter().enumerate() {
        let span = i64::from(a.period) * i64::from(a.evaluation_periods.max(1));
        let start = now.checked_sub(jiff::SignedDuration::from_secs(span)).unwrap_or(now);
        let end = now.checked_add(jiff::SignedDuration::from_secs(1)).unwrap_or(now);
        let points = query(w, &a.metric, &a.statistic, a.period, start, end);
        let (state, reason) = if points.is_empty() {
            (
                "INSUFFICIENT_DATA",
                "Insufficient Data: no datapoints were received".to_string(),
            )
        } else {
            let breaching = points
                .iter()
                .filter(|(_, v)| breaches(&a.comparison, *v, a.threshold))
                .count();
            let last = points.last().map(|(_, v)| *v).unwrap_or_default();
            if breaching as u32 >= a.evaluation_periods.max(1).min(points.len() as u32) {
                (
                    "ALARM",
                    format!(
                        "Threshold Crossed: {breaching} datapoint(s) [{last}] breached the threshold ({}).",
                        a.threshold
                    ),
                )
            } else {
                (
                    "OK",
                    format!(
                        "Threshold Crossed: the latest datapoint [{last}] did not breach the threshold ({}).",
                        a.threshold
                    ),
                )
            }
        };
        if state != a.state {
            changes.push((i, state, reason));
        }
    }
    for (i, state, reason) in changes {
        let a = &mut w.aws.metrics.alarms[i];
        a.state = state;
        a.reason = reason;
        a.updated = now;
    }
}
