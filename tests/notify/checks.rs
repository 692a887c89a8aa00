//! What the services document, checked on every payload the receiver gets: Slack's
//! Block Kit and mrkdwn escaping, Teams' Adaptive Card attachment and size limit, and
//! the generic webhook's schema (docs/notify.md).

use serde_json::Value;

use super::receiver::Call;

/// Length as Slack and Teams may count it (UTF-16 units, never fewer than characters).
pub fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Slack mrkdwn: `&`, `<` and `>` only as entities, or in our `<!date^…|…>` markup.
pub fn check_mrkdwn(s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>']) {
        let tail = &rest[i..];
        if tail.starts_with("<!date^") {
            let end = tail.find('>').unwrap_or_else(|| panic!("unclosed date in {s}"));
            assert!(tail[..end].contains('|'), "a date without fallback in {s}");
            rest = &tail[end + 1..];
        } else if tail.starts_with("&amp;") || tail.starts_with("&lt;") || tail.starts_with("&gt;") {
            rest = &tail[1..];
        } else {
            panic!("unescaped {:?} in mrkdwn: {s}", &tail[..1]);
        }
    }
}

/// A Slack message (Web API or incoming webhook): a `text` fallback and Block Kit
/// section/context blocks within Slack's limits.
pub fn check_slack_message(v: &Value) {
    let text = v["text"].as_str().expect("a text fallback");
    assert!(!text.is_empty() && units(text) <= 4_000, "text: {} units", units(text));
    check_mrkdwn(text);
    let blocks = v["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50, "{} blocks", blocks.len());
    let mut total = 0;
    for b in blocks {
        match b["type"].as_str() {
            Some("section") => {
                assert_eq!(b["text"]["type"], "mrkdwn");
                let t = b["text"]["text"].as_str().expect("section text");
                assert!(!t.is_empty() && units(t) < 3_000, "section of {} units", units(t));
                check_mrkdwn(t);
                total += units(t);
            }
            Some("context") => {
                let els = b["elements"].as_array().expect("context elements");
                assert!(!els.is_empty() && els.len() <= 10);
                for e in els {
                    assert_eq!(e["type"], "mrkdwn");
                    let t = e["text"].as_str().expect("context text");
                    assert!(units(t) < 3_000);
                    check_mrkdwn(t);
                    total += units(t);
                }
            }
            other => panic!("unexpected block type {other:?}"),
        }
    }
    assert!(total < 12_000, "{total} units of blocks");
}

/// A Teams workflow message: one Adaptive Card attachment, under the 28 KB limit.
pub fn check_card(c: &Call) {
    assert!(c.raw.len() <= 28_000, "{} bytes", c.raw.len());
    let v = &c.json;
    assert_eq!(v["type"], "message");
    let atts = v["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(atts[0]["contentUrl"].is_null());
    let card = &atts[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
    assert!(card["version"].as_str().is_some_and(|s| s.starts_with("1.")));
    let body = card["body"].as_array().expect("card body");
    assert!(!body.is_empty());
    for el in body {
        match el["type"].as_str() {
            Some("TextBlock") => {
                assert!(el["text"].as_str().is_some_and(|t| !t.is_empty()));
                assert_eq!(el["wrap"], true);
            }
            Some("FactSet") => {
                for f in el["facts"].as_array().expect("facts") {
                    assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
                }
            }
            other => panic!("unexpected card element {other:?}"),
        }
    }
}

/// The generic webhook's documented JSON (docs/notify.md, version 1).
pub fn check_generic(c: &Call) {
    let v = &c.json;
    assert_eq!(v["version"], 1);
    let id = v["id"].as_str().expect("id");
    assert_eq!(
        c.headers.get("x-upshift-event-id").and_then(|h| h.to_str().ok()),
        Some(id)
    );
    assert!(
        v["at"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .is_some()
    );
    let kinds = [
        "rollout-started",
        "gate-decided",
        "step-started",
        "step-done",
        "step-failed",
        "step-skipped",
        "held",
        "paused",
        "resumed",
        "aborted",
        "took-over",
        "finished",
    ];
    assert!(kinds.contains(&v["type"].as_str().unwrap_or("")), "{}", v["type"]);
    assert!(["info", "warning", "failure"].contains(&v["severity"].as_str().unwrap_or("")));
    assert!(v["headline"].as_str().is_some_and(|h| !h.is_empty()));
    for d in v["details"].as_array().expect("details") {
        assert!(d["label"].is_string() && d["value"].is_string());
    }
    for key in [
        "cluster",
        "environment",
        "from",
        "to",
        "planDigest",
        "driver",
        "stage",
        "stepsDone",
    ] {
        assert!(v["rollout"].get(key).is_some(), "rollout.{key} missing");
    }
    assert!(v["data"].is_object());
}
