//! CloudWatch in the three protocols it accepts: Smithy RPCv2 CBOR (what
//! `aws-sdk-cloudwatch` sends), awsJson1_0 (boto3, the AWS CLI v2) and the query
//! protocol (form-encoded, XML answers). GetMetricData, GetMetricStatistics,
//! ListMetrics, PutMetricData, DescribeAlarms, PutMetricAlarm, SetAlarmState and
//! DeleteAlarms on the simulated cluster's metrics, with query-compatible errors
//! (`__type` and `x-amzn-query-error` in CBOR and JSON, `ErrorResponse` XML in query).

use axum::body::Body;
use axum::http::{Response, StatusCode};
use jiff::Timestamp;

use axum::http::HeaderMap;

use super::autoscaling::esc;
use super::cbor::{self, Value};
use super::wire::{self, Protocol};
use super::{AwsApp, epoch};
use crate::sim::world::World;
use crate::sim::world::eks::{self as cloud, AwsError};
use crate::sim::world::metrics::{self, Alarm, MetricId};

const PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
/// The `Version` of CloudWatch's query API.
pub const API_VERSION: &str = "2010-08-01";

fn cbor_response(status: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(Body::from(cbor::encode(v)))
        .unwrap_or_default()
}

fn text_response(status: u16, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The query error code CloudWatch gives an error, and the Smithy shape it names in
/// `__type` (they differ for a few).
fn codes(e: &AwsError) -> (&'static str, &'static str) {
    match e.code {
        "ThrottlingException" => ("Throttling", "Throttling"),
        "InvalidParameterValue" => ("InvalidParameterValue", "InvalidParameterValueException"),
        "MissingParameter" => ("MissingParameter", "MissingRequiredParameterException"),
        c => (c, c),
    }
}

fn error(protocol: Protocol, e: &AwsError, rid: &str) -> Response<Body> {
    let (code, shape) = codes(e);
    let fault = if e.status >= 500 { "Receiver" } else { "Sender" };
    let mut r = match protocol {
        Protocol::Cbor => cbor_response(
            e.status,
            &Value::map([
                ("__type", Value::text(format!("com.amazonaws.cloudwatch#{shape}"))),
                ("message", Value::text(&e.message)),
            ]),
        ),
        Protocol::Json => text_response(
            e.status,
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": format!("com.amazonaws.cloudwatch#{shape}"),
                "message": e.message,
            })
            .to_string(),
        ),
        Protocol::Query => text_response(
            e.status,
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                esc(code),
                esc(&e.message),
                esc(rid)
            ),
        ),
    };
    if protocol != Protocol::Query
        && let Ok(h) = format!("{code};{fault}").parse()
    {
        r.headers_mut().insert("x-amzn-query-error", h);
    }
    if let Ok(h) = rid.parse() {
        r.headers_mut().insert("x-amzn-requestid", h);
    }
    r
}

fn answer(protocol: Protocol, op: &str, v: &Value, rid: &str) -> Response<Body> {
    let mut r = match protocol {
        Protocol::Cbor => cbor_response(200, v),
        Protocol::Json => text_response(200, "application/x-amz-json-1.0", wire::to_json(v).to_string()),
        Protocol::Query => {
            let mut result = String::new();
            wire::to_xml(v, &mut result);
            text_response(
                200,
                "text/xml",
                format!(
                    "<{op}Response xmlns=\"{XMLNS}\"><{op}Result>{result}</{op}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
                    esc(rid)
                ),
            )
        }
    };
    if let Ok(h) = rid.parse() {
        r.headers_mut().insert("x-amzn-requestid", h);
    }
    r
}

/// The operation a request names: the CBOR path, the JSON target, or the query `Action`.
fn operation(protocol: Protocol, headers: &HeaderMap, path: &str, query: &[(String, String)]) -> String {
    match protocol {
        Protocol::Cbor => path.strip_prefix(PREFIX).unwrap_or(path).to_string(),
        Protocol::Json => headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .unwrap_or_default()
            .to_string(),
        Protocol::Query => query
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    }
}

/// Serves one CloudWatch request, in the protocol it came in.
pub fn handle(app: &AwsApp, headers: &HeaderMap, path: &str, body: &[u8]) -> Response<Body> {
    let protocol = wire::protocol_of(headers);
    let mut w = app.world.lock();
    w.stamp();
    let rid = super::request_id(&mut w);
    let query: Vec<(String, String)> = if protocol == Protocol::Query {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        Vec::new()
    };
    let op = operation(protocol, headers, path, &query);
    if let Err(e) = cloud::admit(&mut w, &op) {
        return error(protocol, &e, &rid);
    }
    let input = match protocol {
        Protocol::Cbor => cbor::decode(body).map_err(|m| AwsError::new("SerializationException", 400, m)),
        Protocol::Json if body.is_empty() => Ok(Value::Map(Vec::new())),
        Protocol::Json => serde_json::from_slice::<serde_json::Value>(body)
            .map(|v| wire::from_json(&v))
            .map_err(|e| AwsError::new("SerializationException", 400, format!("malformed JSON body: {e}"))),
        Protocol::Query => Ok(wire::from_query(&query)),
    };
    let input = match input {
        Ok(v) => v,
        Err(e) => return error(protocol, &e, &rid),
    };
    let result = match op.as_str() {
        "GetMetricData" => get_metric_data(&w, &input),
        "GetMetricStatistics" => get_metric_statistics(&w, &input),
        "ListMetrics" => Ok(list_metrics(&w, &input)),
        "PutMetricData" => put_metric_data(&mut w, &input),
        "DescribeAlarms" => Ok(describe_alarms(&w, &input)),
        "PutMetricAlarm" => put_metric_alarm(&mut w, &input),
        "SetAlarmState" => set_alarm_state(&mut w, &input),
        "DeleteAlarms" => delete_alarms(&mut w, &input),
        _ => Err(AwsError::new(
            if protocol == Protocol::Query {
                "InvalidAction"
            } else {
                "UnknownOperationException"
            },
            if protocol == Protocol::Query { 400 } else { 404 },
            format!("The simulator does not serve the CloudWatch operation {op:?}"),
        )),
    };
    match result {
        Ok(v) => answer(protocol, &op, &v, &rid),
        Err(e) => error(protocol, &e, &rid),
    }
}

fn time(v: Option<f64>) -> Option<Timestamp> {
    Timestamp::from_millisecond((v? * 1000.0) as i64).ok()
}

fn missing(name: &str) -> AwsError {
    AwsError::new("MissingParameter", 400, format!("The parameter {name} is required."))
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
    let start = time(input.time("StartTime")).ok_or_else(|| missing("StartTime"))?;
    let end = time(input.time("EndTime")).ok_or_else(|| missing("EndTime"))?;
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
    let namespace = input.str("Namespace").ok_or_else(|| missing("Namespace"))?;
    if namespace.starts_with("AWS/") {
        return Err(invalid("The value AWS/ for parameter Namespace is invalid."));
    }
    for d in input.list("MetricData") {
        let mut metric = d.clone();
        if let Value::Map(m) = &mut metric {
            m.push(("Namespace".into(), Value::text(namespace)));
        }
        let id = metric_id(&metric);
        let at = time(d.time("Timestamp"));
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
    let names: Vec<&str> = input.texts("AlarmNames");
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

fn get_metric_statistics(w: &World, input: &Value) -> Result<Value, AwsError> {
    let start = time(input.time("StartTime")).ok_or_else(|| missing("StartTime"))?;
    let end = time(input.time("EndTime")).ok_or_else(|| missing("EndTime"))?;
    if end <= start {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    input.str("Namespace").ok_or_else(|| missing("Namespace"))?;
    input.str("MetricName").ok_or_else(|| missing("MetricName"))?;
    let period = input.num("Period").ok_or_else(|| missing("Period"))?.max(1.0) as u32;
    let stats = input.texts("Statistics");
    if stats.is_empty() {
        return Err(missing("Statistics"));
    }
    let mid = metric_id(input);
    let mut points: std::collections::BTreeMap<Timestamp, Vec<(String, Value)>> = Default::default();
    for stat in &stats {
        if metrics::statistic(stat, &[0.0]).is_none() {
            return Err(invalid(format!(
                "The parameter Statistics.member.1 has the value {stat}, which is not one of SampleCount, Average, Sum, Minimum, Maximum."
            )));
        }
        for (t, v) in metrics::query(w, &mid, stat, period, start, end) {
            points.entry(t).or_default().push((stat.to_string(), Value::Float(v)));
        }
    }
    let datapoints: Vec<Value> = points
        .into_iter()
        .map(|(t, mut vals)| {
            vals.insert(0, ("Timestamp".into(), Value::Time(epoch(t))));
            vals.push(("Unit".into(), Value::text("None")));
            Value::Map(vals)
        })
        .collect();
    Ok(Value::map([
        ("Label", Value::text(&mid.name)),
        ("Datapoints", Value::Array(datapoints)),
    ]))
}

fn list_metrics(w: &World, input: &Value) -> Value {
    let namespace = input.str("Namespace");
    let name = input.str("MetricName");
    let wanted: Vec<(String, Option<String>)> = input
        .list("Dimensions")
        .iter()
        .map(|d| {
            (
                d.str("Name").unwrap_or_default().to_string(),
                d.str("Value").map(str::to_string),
            )
        })
        .collect();
    let list: Vec<Value> = w
        .aws
        .metrics
        .series
        .keys()
        .filter(|m| namespace.is_none_or(|n| n == m.namespace))
        .filter(|m| name.is_none_or(|n| n == m.name))
        .filter(|m| {
            wanted.iter().all(|(k, v)| {
                m.dimensions
                    .iter()
                    .any(|(dk, dv)| dk == k && v.as_ref().is_none_or(|v| v == dv))
            })
        })
        .map(|m| {
            Value::map([
                ("Namespace", Value::text(&m.namespace)),
                ("MetricName", Value::text(&m.name)),
                (
                    "Dimensions",
                    Value::Array(
                        m.dimensions
                            .iter()
                            .map(|(k, v)| Value::map([("Name", Value::text(k)), ("Value", Value::text(v))]))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    Value::map([("Metrics", Value::Array(list))])
}

/// The alarm states a client may set.
fn alarm_state(s: &str) -> Result<&'static str, AwsError> {
    match s {
        "OK" => Ok("OK"),
        "ALARM" => Ok("ALARM"),
        "INSUFFICIENT_DATA" => Ok("INSUFFICIENT_DATA"),
        other => Err(invalid(format!(
            "The parameter StateValue has the value {other}, which is not one of OK, ALARM, INSUFFICIENT_DATA."
        ))),
    }
}

const COMPARISONS: &[&str] = &[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

fn put_metric_alarm(w: &mut World, input: &Value) -> Result<Value, AwsError> {
    let name = input.str("AlarmName").ok_or_else(|| missing("AlarmName"))?.to_string();
    input.str("MetricName").ok_or_else(|| missing("MetricName"))?;
    input.str("Namespace").ok_or_else(|| missing("Namespace"))?;
    let evaluation_periods = input
        .num("EvaluationPeriods")
        .ok_or_else(|| missing("EvaluationPeriods"))? as u32;
    let comparison = input
        .str("ComparisonOperator")
        .ok_or_else(|| missing("ComparisonOperator"))?
        .to_string();
    if !COMPARISONS.contains(&comparison.as_str()) {
        return Err(invalid(format!(
            "The parameter ComparisonOperator has the value {comparison}, which is not one of {}.",
            COMPARISONS.join(", ")
        )));
    }
    let threshold = input.num("Threshold").ok_or_else(|| missing("Threshold"))?;
    let statistic = input.str("Statistic").unwrap_or("Average").to_string();
    if metrics::statistic(&statistic, &[0.0]).is_none() {
        return Err(invalid(format!(
            "The parameter Statistic has the value {statistic}, which is not one of SampleCount, Average, Sum, Minimum, Maximum."
        )));
    }
    let period = input.num("Period").unwrap_or(60.0).max(10.0) as u32;
    let alarm = Alarm {
        name: name.clone(),
        description: input.str("AlarmDescription").unwrap_or_default().to_string(),
        metric: metric_id(input),
        statistic,
        period,
        evaluation_periods: evaluation_periods.max(1),
        threshold,
        comparison,
        state: "INSUFFICIENT_DATA",
        reason: "Unchecked: Initial alarm creation".into(),
        updated: w.now,
    };
    let alarms = &mut w.aws.metrics.alarms;
    match alarms.iter_mut().find(|a| a.name == name) {
        Some(a) => *a = alarm,
        None => alarms.push(alarm),
    }
    metrics::evaluate_alarms(w);
    Ok(Value::Map(Vec::new()))
}

fn set_alarm_state(w: &mut World, input: &Value) -> Result<Value, AwsError> {
    let name = input.str("AlarmName").ok_or_else(|| missing("AlarmName"))?;
    let state = alarm_state(input.str("StateValue").ok_or_else(|| missing("StateValue"))?)?;
    let reason = input
        .str("StateReason")
        .ok_or_else(|| missing("StateReason"))?
        .to_string();
    let now = w.now;
    let a = w
        .aws
        .metrics
        .alarms
        .iter_mut()
        .find(|a| a.name == name)
        .ok_or_else(|| AwsError::new("ResourceNotFound", 404, format!("Alarm {name} does not exist.")))?;
    // holds until the next evaluation, as in CloudWatch
    a.state = state;
    a.reason = reason;
    a.updated = now;
    Ok(Value::Map(Vec::new()))
}

fn delete_alarms(w: &mut World, input: &Value) -> Result<Value, AwsError> {
    let names: Vec<String> = input.texts("AlarmNames").into_iter().map(str::to_string).collect();
    if let Some(n) = names
        .iter()
        .find(|n| !w.aws.metrics.alarms.iter().any(|a| &a.name == *n))
    {
        return Err(AwsError::new(
            "ResourceNotFound",
            404,
            format!("Alarm {n} does not exist."),
        ));
    }
    w.aws.metrics.alarms.retain(|a| !names.contains(&a.name));
    Ok(Value::Map(Vec::new()))
}
