//! A receiver on loopback standing in for Slack's Web API (`/api/<method>`), a Slack
//! incoming webhook (`/hooks/…`), a Teams workflow (`/teams/…`) and generic endpoints
//! (`/generic/…`, `/generic-2/…`). It records every call with the (paused or real)
//! Tokio time it arrived, answers as the services do, and can be scripted to fail.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::time::Instant;

pub const TOKEN: &str = "xoxb-SECRET-TOKEN-0123456789";
/// The channel id the fake Slack answers with (the plan names the channel by name).
pub const CHANNEL_ID: &str = "C0FAKE0001";

#[derive(Clone, Debug)]
pub struct Call {
    /// `chat.postMessage`, `chat.update`, `slack-webhook`, `teams`, `generic`, `generic-2`
    pub route: String,
    pub path: String,
    pub at: Instant,
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub json: Value,
    pub status: u16,
    pub answer: Value,
}

#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    pub fn new(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
}

#[derive(Default)]
struct Recv {
    calls: Vec<Call>,
    /// Answers given in turn, per route, before the normal ones.
    script: HashMap<String, VecDeque<Answer>>,
    /// While set, every call gets this answer (the service is down).
    down: Option<Answer>,
    next_ts: u64,
    parents: Vec<String>,
}

pub struct Receiver {
    pub base: String,
    state: Arc<Mutex<Recv>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(Recv::default()));
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn script(&self, route: &str, answer: Answer) {
        self.state
            .lock()
            .script
            .entry(route.to_string())
            .or_default()
            .push_back(answer);
    }

    pub fn down(&self, answer: Option<Answer>) {
        self.state.lock().down = answer;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().calls.clone()
    }

    pub fn calls_to(&self, route: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.route == route).collect()
    }
}

async fn handle(State(state): State<Arc<Mutex<Recv>>>, req: Request) -> Response {
    let at = Instant::now();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let raw = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let route = if let Some(m) = path.strip_prefix("/api/") {
        m.to_string()
    } else {
        path.split('/').nth(1).unwrap_or("").to_string()
    };
    let mut st = state.lock();
    let scripted = st.script.get_mut(&route).and_then(|q| q.pop_front());
    let answer = match scripted.or_else(|| st.down.clone()) {
        Some(a) => a,
        None => normal_answer(&mut st, &route, &headers, &body),
    };
    st.calls.push(Call {
        route,
        path,
        at,
        headers,
        raw,
        json: body,
        status: answer.status,
        answer: serde_json::from_str(&answer.body).unwrap_or(Value::Null),
    });
    let mut resp = Response::builder().status(answer.status);
    for (n, v) in &answer.headers {
        resp = resp.header(*n, v);
    }
    resp.body(Body::from(answer.body)).expect("response")
}

/// What the real services answer to a good request (and Slack to a bad one).
fn normal_answer(st: &mut Recv, route: &str, headers: &HeaderMap, body: &Value) -> Answer {
    let slack = |v: Value| Answer::new(200, &v.to_string());
    match route {
        "chat.postMessage" | "chat.update" => {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            if auth != Some(&format!("Bearer {TOKEN}")) {
                return slack(json!({"ok": false, "error": "invalid_auth"}));
            }
            let channel = body["channel"].as_str().unwrap_or("");
            if route == "chat.update" {
                // chat.update takes the channel's id, never its name.
                let ts = body["ts"].as_str().unwrap_or("");
                if channel != CHANNEL_ID {
                    return slack(json!({"ok": false, "error": "channel_not_found"}));
                }
                if !st.parents.iter().any(|p| p == ts) {
                    return slack(json!({"ok": false, "error": "message_not_found"}));
                }
                return slack(json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "text": body["text"]}));
            }
            if channel != CHANNEL_ID && channel != "#upgrades" {
                return slack(json!({"ok": false, "error": "channel_not_found"}));
            }
            st.next_ts += 1;
            let ts = format!("1800000000.{:06}", st.next_ts);
            if body.get("thread_ts").is_none() {
                st.parents.push(ts.clone());
            }
            slack(json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "message": {"text": body["text"]}}))
        }
        "hooks" => Answer::new(200, "ok"),
        "teams" => Answer::new(202, ""),
        "generic" | "generic-2" => Answer::new(204, ""),
        _ => Answer::new(404, "no such route"),
    }
}
