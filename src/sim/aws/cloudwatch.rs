//! CloudWatch over Smithy RPCv2 CBOR (what `aws-sdk-cloudwatch` sends): GetMetricData,
//! PutMetricData and DescribeAlarms on the simulated cluster's metrics, with
//! query-compatible errors (`__type` in the body, `x-amzn-query-error` header).

use axum::body::Body;
use axum::http::{Response, StatusCode};
use jiff::Timestamp;

use super::cbor::{self, Value};
use super::{AwsApp, epoch};
use crate::sim::world::World;
use crate::sim::world::eks::{self as cloud, AwsError};
use crate::sim::world::metrics::{self, Alarm, MetricId};

const PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

fn cbor_response(status: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(Body::from(cbor::encode(v)))
        .unwrap_or_default()
}

fn error(e: &AwsError, rid: &str) -> Response<Body> {
    let code = match e.code {
        "ThrottlingException" => "Throttling",
        c => c,
    };
    let mut r = cbor_response(
        e.status,
        &Value::map([
            ("__type", Value::text(format!("com.amazonaws.cloudwatch#{code}"))),
            ("message", Value::text(&e.message)),
        ]),
    );
    if let Ok(h) = format!("{code};Sender").parse() {
        r.headers_mut().insert("x-amzn-query-error", h);
    }
    if let Ok(h) = rid.parse() {
        r.headers_mut().insert("x-amzn-requestid", h);
    }
    r
}

/// Serves one CloudWatch request.
pub fn handle(app: &AwsApp, path: &str, body: &[u8]) -> Response<Body> {
    let mut w = app.world.lock();
    w.stamp();
    let rid = super::request_id(&mut w);
    let op = path.strip_prefix(PREFIX).unwrap_or(path).to_string();
    if let Err(e) = cloud::admit(&mut w, &op) {
        return error(&e, &rid);
    }
    let input = match cbor::decode(body) {
        Ok(v) => v,
        Err(m) => return error(&AwsError::new("SerializationException", 400, m), &rid),
    };
    let result = match op.as_str() {
        "GetMetricData" => get_metric_data(&w, &input),
        "PutMetricData" => put_metric_data(&mut w, &input),
        "DescribeAlarms" => Ok(describe_alarms(&w, &input)),
        _ => Err(AwsError::new(
            "UnknownOperationException",
            404,
            format!("The simulator does not serve the CloudWatch operation {op}"),
        )),
    };
    match result {
        Ok(v) => {
            let mut r = cbor_response(200, &v);
            if let Ok(h) = rid.parse() {
                r.headers_mut().insert("x-amzn-requestid", h);
            }
            r
        }
        Err(e) => error(&e, &rid),
    }
}

fn time(v: Option<f64>) -> Option<Timestamp> {
    Timestamp::from_millisecond((v? * 1000.0) as i64).ok()
}

fn metric_id(metric: &Value) -> MetricId {
    let dims: Vec<(String, String)> = metric
        .list("Dimensions")
        .iter()
        .map(|d| {
            (
                d.str("Name").unwrap_or_default().to_string(),
                d.str("Value").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    MetricId::new(
        metric.str("Namespace").unwrap_or_default(),
        metric.str("MetricName").unwrap_or_default(),
        &refs,
    )
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterValue", 400, message)
}

fn get_metric_data(w: &World, input: &Value) -> Result<Value, AwsError> {
    let start = time(input.num("StartTime")).ok_or_else(|| invalid("StartTime is required"))?;
    let end = time(input.num("EndTime")).ok_or_else(|| invalid("EndTime is required"))?;
    if end <= start {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let ascending = input.str("ScanBy") == Some("TimestampAscending");
    let mut results = Vec::new();
    for q in input.list("MetricDataQueries") {
        let id = q.str("Id").unwrap_or_default().to_string();
        if q.get("Expression").is_some() {
            return Err(invalid(format!(
                "Query {id}: metric math expressions are not supported by the simulator"
            )));
        }
        let stat = q
            .get("MetricStat")
            .ok_or_else(|| invalid(format!("Query {id} has no MetricStat")))?;
        let metric = stat
            .get("Metric")
            .ok_or_else(|| invalid(format!("Query {id} has no Metric")))?;
        let mid = metric_id(metric);
        let period = stat.num("Period").unwrap_or(60.0).max(1.0) as u32;
        let statistic = stat.str("Stat").unwrap_or("Average");
        let mut points = metrics::query(w, &mid, statistic, period, start, end);
        if !ascending {
            points.reverse();
        }
        results.push(Value::map([
            ("Id", Value::text(&id)),
            ("Label", Value::text(q.str("Label").unwrap_or(&mid.name))),
            (
                "Timestamps",
                Value::Array(points.iter().map(|(t, _)| Value::Time(epoch(*t))).collect()),
            ),
            (
                "Values",
                Value::Array(points.iter().map(|(_, v)| Value::Float(*v)).collect()),
            ),
            ("StatusCode", Value::text("Complete")),
        ]));
    }
    Ok(Value::map([
        ("MetricDataResults", Value::Array(results)),
        ("Messages", Value::Array(Vec::new())),
    ]))
}

fn put_metric_data(w: &mut World, input: &Value) -> Result<Value, AwsError> {
    let namespace = input.str("Namespace").ok_or_else(|| invalid("Namespace is required"))?;
    if namespace.starts_with("AWS/") {
        return Err(invalid("The value AWS/ for parameter Namespace is invalid."));
    }
    for d in input.list("MetricData") {
        let mut metric = d.clone();
        if let Value::Map(m) = &mut metric {
            m.push(("Namespace".into(), Value::text(namespace)));
        }
        let id = metric_id(&metric);
        let at = time(d.num("Timestamp"));
        if let Some(v) = d.num("Value") {
            metrics::put(w, id.clone(), at, v);
        }
        for v in d.list("Values").iter().filter_map(Value::as_f64) {
            metrics::put(w, id.clone(), at, v);
        }
    }
    metrics::evaluate_alarms(w);
    Ok(Value::Map(Vec::new()))
}

fn alarm(w: &World, a: &Alarm) -> Value {
    let dims: Vec<Value> = a
        .metric
        .dimensions
        .iter()
        .map(|(k, v)| Value::map([("Name", Value::text(k)), ("Value", Value::text(v))]))
        .collect();
    Value::map([
        ("AlarmName", Value::text(&a.name)),
        (
            "AlarmArn",
            Value::text(format!(
                "arn:aws:cloudwatch:{}:{}:alarm:{}",
                w.cluster.region, w.cluster.account, a.name
            )),
        ),
        ("AlarmDescription", Value::text(&a.description)),
        ("ActionsEnabled", Value::Bool(false)),
        ("StateValue", Value::text(a.state)),
        ("StateReason", Value::text(&a.reason)),
        ("StateUpdatedTimestamp", Value::Time(epoch(a.updated))),
        ("MetricName", Value::text(&a.metric.name)),
        ("Namespace", Value::text(&a.metric.namespace)),
        ("Statistic", Value::text(&a.statistic)),
        ("Dimensions", Value::Array(dims)),
        ("Period", Value::Int(i64::from(a.period))),
        ("EvaluationPeriods", Value::Int(i64::from(a.evaluation_periods))),
        ("Threshold", Value::Float(a.threshold)),
        ("ComparisonOperator", Value::text(&a.comparison)),
    ])
}

fn describe_alarms(w: &World, input: &Value) -> Value {
    let names: Vec<&str> = input
        .list("AlarmNames")
        .iter()
        .filter_map(|v| match v {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let prefix = input.str("AlarmNamePrefix");
    let state = input.str("StateValue");
    let alarms: Vec<Value> = w
        .aws
        .metrics
        .alarms
        .iter()
        .filter(|a| names.is_empty() || names.contains(&a.name.as_str()))
        .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
        .filter(|a| state.is_none_or(|s| a.state == s))
        .map(|a| alarm(w, a))
        .collect();
    Value::map([
        ("MetricAlarms", Value::Array(alarms)),
        ("CompositeAlarms", Value::Array(Vec::new())),
    ])
}
