//! The three wire forms CloudWatch accepts, over one value tree (`cbor::Value`):
//! Smithy RPCv2 CBOR (aws-sdk-cloudwatch), awsJson1_0 (boto3 and the AWS CLI v2) and
//! the query protocol (form-encoded `Action=…&Version=2010-08-01`, XML answers).
//! Requests decode into the tree; answers and errors encode from it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::http::HeaderMap;

use super::autoscaling::esc;
use super::cbor::Value;

/// How a request was sent, and so how its answer goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Cbor,
    Json,
    Query,
}

/// The protocol of a CloudWatch request, from its headers.
pub fn protocol_of(headers: &HeaderMap) -> Protocol {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let content_type = header("content-type");
    if header("smithy-protocol") == "rpc-v2-cbor" || content_type.starts_with("application/cbor") {
        Protocol::Cbor
    } else if !header("x-amz-target").is_empty() || content_type.starts_with("application/x-amz-json") {
        Protocol::Json
    } else {
        Protocol::Query
    }
}

/// A JSON document as a value tree (numbers stay numbers; timestamps arrive as
/// epoch seconds and are read as such).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// A value tree as awsJson1_0 writes it (timestamps as epoch seconds).
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) | Value::Time(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Text(s) => serde_json::Value::String(s.clone()),
        Value::Bytes(b) => {
            use base64::Engine;
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// A partly built tree of query parameters.
#[derive(Default)]
enum Node {
    #[default]
    Empty,
    Leaf(String),
    Map(BTreeMap<String, Node>),
    List(BTreeMap<u32, Node>),
}

impl Node {
    fn insert(&mut self, path: &[&str], value: String) {
        let Some((first, rest)) = path.split_first() else {
            *self = Node::Leaf(value);
            return;
        };
        if *first == "member"
            && let Some((index, rest)) = rest.split_first()
            && let Ok(n) = index.parse::<u32>()
        {
            if !matches!(self, Node::List(_)) {
                *self = Node::List(BTreeMap::new());
            }
            if let Node::List(l) = self {
                l.entry(n).or_default().insert(rest, value);
            }
            return;
        }
        if !matches!(self, Node::Map(_)) {
            *self = Node::Map(BTreeMap::new());
        }
        if let Node::Map(m) = self {
            m.entry((*first).to_string()).or_default().insert(rest, value);
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Empty => Value::Null,
            Node::Leaf(s) => Value::Text(s),
            Node::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, v.into_value())).collect()),
            Node::List(l) => Value::Array(l.into_values().map(Node::into_value).collect()),
        }
    }
}

/// Query parameters (`A.member.1.B=x`) as a value tree; every scalar is text, read
/// as a number or time by the tree's accessors. `Action` and `Version` are left out.
pub fn from_query(params: &[(String, String)]) -> Value {
    let mut root = Node::Map(BTreeMap::new());
    for (k, v) in params {
        if k == "Action" || k == "Version" {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        root.insert(&path, v.clone());
    }
    root.into_value()
}

/// Epoch seconds as ISO 8601, as the query protocol writes timestamps.
pub fn iso(epoch: f64) -> String {
    jiff::Timestamp::from_millisecond((epoch * 1000.0).round() as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A value tree as query-protocol XML: members as elements, lists as `<member>`s.
pub fn to_xml(v: &Value, out: &mut String) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Time(t) => out.push_str(&iso(*t)),
        Value::Text(s) => out.push_str(&esc(s)),
        Value::Bytes(b) => {
            use base64::Engine;
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
        }
        Value::Array(a) => {
            for x in a {
                out.push_str("<member>");
                to_xml(x, out);
                out.push_str("</member>");
            }
        }
        Value::Map(m) => {
            for (k, x) in m {
                let _ = write!(out, "<{k}>");
                to_xml(x, out);
                let _ = write!(out, "</{k}>");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_become_a_tree() {
        let params: Vec<(String, String)> = [
            ("Action", "GetMetricData"),
            ("MetricDataQueries.member.2.Id", "b"),
            ("MetricDataQueries.member.1.Id", "a"),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name",
                "ClusterName",
            ),
            ("MetricDataQueries.member.1.MetricStat.Period", "60"),
            ("StartTime", "2026-12-01T00:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let v = from_query(&params);
        let qs = v.list("MetricDataQueries");
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].str("Id"), Some("a"));
        assert_eq!(qs[1].str("Id"), Some("b"));
        let stat = qs[0].get("MetricStat").unwrap();
        assert_eq!(stat.num("Period"), Some(60.0));
        let dims = stat.get("Metric").unwrap().list("Dimensions");
        assert_eq!(dims[0].str("Name"), Some("ClusterName"));
        assert_eq!(v.time("StartTime"), Some(1_796_083_200.0));
        assert!(v.get("Action").is_none());
    }

    #[test]
    fn xml_lists_are_members() {
        let v = Value::map([(
            "Metrics",
            Value::Array(vec![Value::map([("MetricName", Value::text("a<b"))])]),
        )]);
        let mut out = String::new();
        to_xml(&v, &mut out);
        assert_eq!(
            out,
            "<Metrics><member><MetricName>a&lt;b</MetricName></member></Metrics>"
        );
    }
}
