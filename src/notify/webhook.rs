//! The generic webhook: each event POSTed as the documented JSON (schema version 1,
//! docs/notify.md), or as a template filled from it; optional extra headers; and,
//! given a key, an HMAC-SHA256 signature of the exact body (`sha256=<hex>`) so the
//! receiver can check the sender. `X-Upshift-Event-Id` lets a receiver drop duplicates.

use serde_json::{Value, json};

use super::config::SinkName;
use super::event::Event;
use super::http::{Failure, Http};
use super::secret::{Redactor, Secret};
use super::sink::Delivery;
use super::summary::Summary;
use super::template::{Field, Template};

/// The payload schema's version, in every body's `version`.
pub const SCHEMA_VERSION: u32 = 1;
/// The header naming the event, for receivers that drop duplicates.
pub const EVENT_ID_HEADER: &str = "X-Upshift-Event-Id";

pub struct WebhookSink {
    name: SinkName,
    url: Secret,
    template: Option<Template>,
    content_type: String,
    headers: Vec<(String, Secret)>,
    signing_key: Option<ring::hmac::Key>,
    signature_header: String,
    redactor: Redactor,
}

/// The documented payload (schema version 1).
pub fn payload(e: &Event, summary: &Summary) -> Value {
    let mut data = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Some(map) = data.as_object_mut() {
        for key in ["id", "at", "type"] {
            map.remove(key);
        }
    }
    let details: Vec<Value> = e
        .details()
        .into_iter()
        .map(|d| json!({"label": d.label, "value": d.value}))
        .collect();
    json!({
        "version": SCHEMA_VERSION,
        "id": e.id,
        "at": e.at,
        "type": e.what.kind(),
        "severity": e.severity(),
        "headline": e.headline(),
        "details": details,
        "rollout": {
            "cluster": summary.cluster,
            "environment": summary.environment,
            "from": summary.from,
            "to": summary.to,
            "planDigest": summary.plan_digest,
            "driver": summary.driver,
            "stage": summary.stage,
            "currentStep": summary.current_step,
            "stepsDone": summary.steps_done,
        },
        "data": data,
    })
}

/// What a template's field is for this event.
fn field(e: &Event, summary: &Summary, f: Field) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    match f {
        Field::Id => e.id.to_string(),
        Field::At => e.at.to_string(),
        Field::Type => e.what.kind().to_string(),
        Field::Severity => e.severity().as_str().to_string(),
        Field::Headline => e.headline(),
        Field::Details => details_text(e),
        Field::Text => {
            let d = details_text(e);
            if d.is_empty() {
                e.headline()
            } else {
                format!("{}\n{d}", e.headline())
            }
        }
        Field::Cluster => opt(&summary.cluster),
        Field::Environment => opt(&summary.environment),
        Field::From => opt(&summary.from),
        Field::To => opt(&summary.to),
        Field::PlanDigest => opt(&summary.plan_digest),
        Field::Driver => opt(&summary.driver),
        Field::Stage => summary.stage.as_str().to_string(),
        Field::Json => payload(e, summary).to_string(),
    }
}

fn details_text(e: &Event) -> String {
    e.details()
        .iter()
        .map(|d| format!("{}: {}", d.label, d.value))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sha256=<lowercase hex of HMAC-SHA256(key, body)>`
pub fn signature(key: &ring::hmac::Key, body: &[u8]) -> String {
    let tag = ring::hmac::sign(key, body);
    let mut out = String::from("sha256=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl WebhookSink {
    pub fn new(
        name: SinkName,
        url: Secret,
        template: Option<Template>,
        content_type: String,
        headers: Vec<(String, Secret)>,
        signing_key: Option<Secret>,
        signature_header: String,
    ) -> WebhookSink {
        let mut redactor = Redactor::default();
        redactor.add_url(&url);
        for (_, v) in &headers {
            redactor.add(v);
        }
        if let Some(k) = &signing_key {
            redactor.add(k);
        }
        WebhookSink {
            name,
            url,
            template,
            content_type,
            headers,
            signing_key: signing_key.map(|k| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k.expose().as_bytes())),
            signature_header,
            redactor,
        }
    }

    pub fn name(&self) -> &SinkName {
        &self.name
    }

    /// The exact body sent for `e`.
    pub fn body(&self, e: &Event, summary: &Summary) -> Vec<u8> {
        match &self.template {
            Some(t) => t.render(&|f| field(e, summary, f)).into_bytes(),
            None => serde_json::to_vec(&payload(e, summary)).unwrap_or_default(),
        }
    }

    pub async fn deliver(&mut self, http: &Http, e: &Event, summary: &Summary) -> Result<Delivery, Failure> {
        let body = self.body(e, summary);
        let sig = self.signing_key.as_ref().map(|k| signature(k, &body));
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(n, v)| (n.as_str(), v.expose())).collect();
        headers.push((EVENT_ID_HEADER, e.id.as_str()));
        if let Some(s) = &sig {
            headers.push((self.signature_header.as_str(), s.as_str()));
        }
        let answer = http
            .post(self.url.expose(), &self.content_type, &headers, body)
            .await
            .map_err(|f| {
                let message = format!("webhook {}: {}", self.name, f.message);
                Failure::new(self.redactor.redact(&message), f.retry)
            })?;
        if answer.status.is_success() {
            return Ok(Delivery::http(answer.status.as_u16()));
        }
        let message = format!(
            "webhook {}: HTTP {}: {}",
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
    use crate::notify::event::{EventId, Step, What};

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            signature(&key, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_payload_has_the_documented_shape() {
        let e = Event::new(
            EventId::from_journal(12),
            jiff::Timestamp::UNIX_EPOCH,
            What::StepFailed {
                step: Step {
                    id: "addon/coredns".into(),
                    label: "addon coredns".into(),
                },
                why: "update failed".into(),
                what_to_do: "retry".into(),
            },
        );
        let p = payload(&e, &Summary::default());
        assert_eq!(p["version"], SCHEMA_VERSION);
        assert_eq!(p["id"], "j12");
        assert_eq!(p["type"], "step-failed");
        assert_eq!(p["severity"], "failure");
        assert_eq!(p["at"], "1970-01-01T00:00:00Z");
        assert_eq!(p["data"]["step"]["id"], "addon/coredns");
        assert_eq!(p["data"]["whatToDo"], "retry");
        assert!(p["data"].get("id").is_none());
        assert_eq!(p["details"][1]["label"], "what to do");
        assert_eq!(p["rollout"]["stage"], "not-started");
    }
}
