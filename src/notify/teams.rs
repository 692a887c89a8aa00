//! A Microsoft Teams workflow webhook (the "Send webhook alerts to a channel" workflow):
//! an Adaptive Card per event, in a `message` with one attachment of content type
//! `application/vnd.microsoft.card.adaptive`. A Teams message is limited to about 28 KB
//! (Teams connector reference, "Message size limit"); each card is kept under 27,000
//! bytes by cutting long values and, if need be, the last facts. Text is a CommonMark
//! subset in cards, so names are escaped to show as typed. The workflow answers
//! `202 Accepted`; it is throttled with 429 and `Retry-After`.

use serde_json::{Value, json};

use super::config::SinkName;
use super::event::{Event, Severity, Verdict, What};
use super::http::{Failure, Http};
use super::secret::{Redactor, Secret};
use super::sink::Delivery;
use super::summary::Summary;
use super::text::{escape_card_markdown, truncate};

/// The serialized message stays under this many bytes (Teams: about 28 KB).
pub const CARD_MAX_BYTES: usize = 27_000;
/// A single value is cut at this many characters.
const VALUE_MAX: usize = 1_000;
/// The Adaptive Card schema version sent (Teams renders 1.5 on desktop and mobile).
pub const CARD_VERSION: &str = "1.4";

pub struct TeamsSink {
    name: SinkName,
    url: Secret,
    redactor: Redactor,
}

fn colour(e: &Event) -> &'static str {
    match (&e.what, e.severity()) {
        (What::Finished { verdict: Verdict::Done }, _) => "Good",
        (_, Severity::Info) => "Default",
        (_, Severity::Warning) => "Warning",
        (_, Severity::Failure) => "Attention",
    }
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": escape_card_markdown(&truncate(text, VALUE_MAX)), "wrap": true})
}

/// The whole `message` for one event.
pub fn card_message(e: &Event, summary: &Summary) -> Value {
    let facts: Vec<(String, String)> = e
        .details()
        .into_iter()
        .map(|d| (d.label.to_string(), d.value))
        .collect();
    let mut shown = facts.len();
    loop {
        let message = build(e, summary, &facts[..shown], facts.len() - shown);
        let size = serde_json::to_vec(&message).map(|v| v.len()).unwrap_or(usize::MAX);
        if size <= CARD_MAX_BYTES || shown == 0 {
            return message;
        }
        // Drop facts from the end, a good share at a time, until it fits.
        shown = shown.saturating_sub((shown / 8).max(1));
    }
}

fn build(e: &Event, summary: &Summary, facts: &[(String, String)], hidden: usize) -> Value {
    let mut title = text_block(&summary.title());
    title["size"] = json!("Small");
    title["isSubtle"] = json!(true);
    let mut headline = text_block(&e.headline());
    headline["weight"] = json!("Bolder");
    headline["size"] = json!("Medium");
    headline["color"] = json!(colour(e));
    let mut body = vec![title, headline];
    let mut fact_values: Vec<Value> = facts
        .iter()
        .map(|(label, value)| {
            json!({
                "title": escape_card_markdown(label),
                "value": escape_card_markdown(&truncate(value, VALUE_MAX)),
            })
        })
        .collect();
    if hidden > 0 {
        fact_values.push(json!({"title": "…", "value": format!("{hidden} more not shown")}));
    }
    if !fact_values.is_empty() {
        body.push(json!({"type": "FactSet", "facts": fact_values}));
    }
    let mut footer = text_block(&format!("{} · event {}", e.at.strftime("%Y-%m-%d %H:%M:%S UTC"), e.id));
    footer["size"] = json!("Small");
    footer["isSubtle"] = json!(true);
    body.push(footer);
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": CARD_VERSION,
                "body": body,
            },
        }],
    })
}

impl TeamsSink {
    pub fn new(name: SinkName, url: Secret) -> TeamsSink {
        let mut redactor = Redactor::default();
        redactor.add_url(&url);
        TeamsSink { name, url, redactor }
    }

    pub fn name(&self) -> &SinkName {
        &self.name
    }

    pub async fn deliver(&mut self, http: &Http, e: &Event, summary: &Summary) -> Result<Delivery, Failure> {
        let bytes = serde_json::to_vec(&card_message(e, summary)).unwrap_or_default();
        let answer = http
            .post(self.url.expose(), "application/json", &[], bytes)
            .await
            .map_err(|f| {
                let message = format!("teams sink {}: {}", self.name, f.message);
                Failure::new(self.redactor.redact(&message), f.retry)
            })?;
        if answer.status.is_success() {
            return Ok(Delivery::http(answer.status.as_u16()));
        }
        let hint = match answer.status.as_u16() {
            401 | 403 | 404 => {
                " — the workflow is gone or off: check it in Teams (Workflows) and update urlEnv/urlFile"
            }
            413 => " — the card was too large: please report it with the event",
            _ => "",
        };
        let message = format!(
            "teams sink {}: HTTP {}: {}{hint}",
            self.name,
            answer.status.as_u16(),
            answer.snippet(200)
        );
        Err(Failure::new(self.redactor.redact(&message), answer.retry()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::{Criterion, EventId, GateDecision};

    fn gate(n: usize, detail_len: usize) -> Event {
        Event::new(
            EventId::from_journal(5),
            jiff::Timestamp::UNIX_EPOCH,
            What::GateDecided {
                gate: "before node group *apps*".into(),
                criteria: (0..n)
                    .map(|i| Criterion {
                        name: format!("c{i}"),
                        ok: false,
                        detail: "y".repeat(detail_len),
                    })
                    .collect(),
                decision: GateDecision::Override,
                who: "ana".into(),
                reason: Some("known".into()),
            },
        )
    }

    #[test]
    fn a_card_is_an_adaptive_card_attachment() {
        let m = card_message(&gate(2, 10), &Summary::default());
        assert_eq!(m["type"], "message");
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["version"], CARD_VERSION);
        let body = a["content"]["body"].as_array().expect("body");
        assert_eq!(body[1]["color"], "Warning");
        assert_eq!(
            body[1]["text"],
            "Gate before node group \\*apps\\* passed with 2 red by ana: known"
        );
        assert_eq!(body[2]["facts"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn large_events_stay_under_the_size_limit() {
        let m = card_message(&gate(500, 900), &Summary::default());
        let size = serde_json::to_vec(&m).expect("json").len();
        assert!(size <= CARD_MAX_BYTES, "{size} bytes");
        let facts = m["attachments"][0]["content"]["body"][2]["facts"]
            .as_array()
            .expect("facts");
        let last = facts.last().expect("a fact");
        assert_eq!(last["title"], "…");
        assert!(last["value"].as_str().unwrap_or_default().ends_with("more not shown"));
    }
}
