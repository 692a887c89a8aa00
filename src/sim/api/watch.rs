//! Watch streams: newline-delimited watch events from a resourceVersion on, with the
//! apiserver's semantics: initial ADDED events when starting from "now", selectors
//! applied to old and new states, bookmarks, `410 Gone` for expired versions, and
//! the end of a stream on timeout or when the simulator drops watches on purpose.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::handlers::{Selectors, Served};
use super::kinds::Wire;
use super::status::{ApiError, ApiResult};
use super::table::{self, IncludeObject};
use super::{App, Req, Target, channel_body};
use crate::sim::store::{ChangeKind, Expired};

/// Longest a watch stays open without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Clone, Copy)]
struct Render {
    table: bool,
    include: IncludeObject,
}

fn event_line<S: Served, W: Wire<S>>(
    kind: &str,
    obj: &S,
    cached: Option<&Bytes>,
    render: Render,
    now: jiff::Timestamp,
) -> Bytes {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if render.table {
        let rv = obj.metadata().resource_version.clone().unwrap_or_default();
        let wire = W::to_wire(obj);
        let _ = serde_json::to_writer(&mut out, &table::render(&[&*wire], render.include, &rv, None, now));
    } else if let Some(json) = cached.filter(|_| W::IDENTITY) {
        out.extend_from_slice(json);
    } else {
        let _ = serde_json::to_writer(&mut out, &*W::to_wire(obj));
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn bookmark<W>(rv: u64, initial_end: bool) -> Bytes
where
    W: k8s_openapi::Resource,
{
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let ev = json!({"type": "BOOKMARK", "object": {"kind": W::KIND, "apiVersion": W::API_VERSION, "metadata": meta}});
    let mut v = serde_json::to_vec(&ev).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn expired_line(asked: u64, e: Expired) -> Bytes {
    let status: Value = ApiError::gone(format!("too old resource version: {asked} ({})", e.oldest)).body();
    let mut v = serde_json::to_vec(&json!({"type": "ERROR", "object": status})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

pub fn watch<S: Served, W: Wire<S>>(app: Arc<App>, r: &Req, t: &Target) -> ApiResult<Response> {
    let sel = Selectors::parse::<S>(r, t)?;
    let render = Render {
        table: r.wants_table(),
        include: IncludeObject::from_query(r.query.include_object.as_deref()),
    };
    let from: Option<u64> = match r.query.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(v) => Some(v.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {v:?}: must be a non-negative integer"
            ))
        })?),
    };
    let initial = from.is_none() || r.query.send_initial_events;
    let bookmarks = r.query.allow_bookmarks;
    let initial_end_marker = r.query.send_initial_events && bookmarks;
    let timeout = r
        .query
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let ns_prefix = t.namespace.as_ref().map(|ns| format!("{ns}/"));
    let (tx, rx) = mpsc::channel::<Bytes>(16);

    // take the starting point under the lock, so nothing falls between list and watch
    let (mut changed, mut cursor, first) = {
        let w = app.world.lock();
        let changed = S::table(&w).subscribe();
        let now = w.now;
        if initial {
            let rv = w.resource_version();
            let items = S::table(&w).items().clone();
            (changed, rv, Ok((Some(items), now)))
        } else {
            let rv = from.unwrap_or(0);
            match S::table(&w).changes_since(rv) {
                Ok(_) => (changed, rv, Ok((None, now))),
                Err(e) => (changed, rv, Err(e)),
            }
        }
    };
    let mut drops = app.drops.subscribe();
    let bookmark_every = app.bookmark_interval;
    let app2 = app.clone();
    tokio::spawn(async move {
        let app = app2;
        let in_ns = |k: &str| ns_prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str()));
        match first {
            Err(e) => {
                let _ = tx.send(expired_line(cursor, e)).await;
                return;
            }
            Ok((Some(items), now)) => {
                let mut buf = Vec::new();
                for (k, obj) in items.iter() {
                    if in_ns(k) && sel.matches(&**obj) {
                        buf.extend_from_slice(&event_line::<S, W>("ADDED", obj, None, render, now));
                        if buf.len() > 256 * 1024 && tx.send(Bytes::from(std::mem::take(&mut buf))).await.is_err() {
                            return;
                        }
                    }
                }
                if initial_end_marker {
                    buf.extend_from_slice(&bookmark::<W>(cursor, true));
                }
                if !buf.is_empty() && tx.send(Bytes::from(buf)).await.is_err() {
                    return;
                }
            }
            Ok((None, _)) => {}
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        // changes made between the client's list and this watch are due at once
        changed.mark_changed();
        loop {
            let mut send_bookmark = false;
            tokio::select! {
                res = changed.changed() => if res.is_err() { return },
                _ = ticker.tick(), if bookmarks => send_bookmark = true,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = drops.changed() => return,
                _ = tx.closed() => return,
            }
            // collect under the lock, send without it
            let (lines, next) = {
                let w = app.world.lock();
                let now = w.now;
                match S::table(&w).changes_since(cursor) {
                    Err(e) => (vec![expired_line(cursor, e)], None),
                    Ok(changes) => {
                        let mut lines = Vec::new();
                        let mut next = cursor;
                        for c in &changes {
                            next = c.rv;
                            let key = crate::sim::store::object_key(&*c.obj);
                            if !in_ns(&key) {
                                continue;
                            }
                            let now_match = sel.matches(&*c.obj);
                            let was_match = c.prev.as_ref().is_some_and(|p| sel.matches(&**p));
                            let kind = match c.kind {
                                ChangeKind::Added if now_match => "ADDED",
                                ChangeKind::Deleted if now_match || was_match => "DELETED",
                                ChangeKind::Modified => match (was_match, now_match) {
                                    (true, true) => "MODIFIED",
                                    (false, true) => "ADDED",
                                    (true, false) => "DELETED",
                                    (false, false) => continue,
                                },
                                _ => continue,
                            };
                            lines.push(event_line::<S, W>(kind, &c.obj, Some(c.json()), render, now));
                        }
                        if send_bookmark && changes.is_empty() {
                            next = w.resource_version();
                            lines.push(bookmark::<W>(next, false));
                        }
                        (lines, Some(next))
                    }
                }
            };
            for l in lines {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
            match next {
                Some(n) => cursor = n,
                None => return,
            }
        }
    });
    let mut resp = Response::new(channel_body(rx));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
