//! A Slack incoming webhook: one message per event (webhooks cannot thread or edit),
//! each naming its rollout. Slack answers `200 ok`, or a status with a plain-text error:
//! 400 `invalid_payload`, 403 `action_prohibited`, 404 `channel_not_found`, 410
//! `channel_is_archived`, 500 `rollup_error` (Slack changelog, 2016-05, "Improving error
//! conditions for Incoming Webhooks"), and 429 with `Retry-After` when rate limited.

use serde_json::json;

use super::config::SinkName;
use super::event::Event;
use super::http::{Failure, Http, Retry};
use super::secret::{Redactor, Secret};
use super::sink::Delivery;
use super::slack_blocks::event_message;
use super::summary::Summary;

pub struct SlackWebhookSink {
    name: SinkName,
    url: Secret,
    redactor: Redactor,
}

impl SlackWebhookSink {
    pub fn new(name: SinkName, url: Secret) -> SlackWebhookSink {
        let mut redactor = Redactor::default();
        redactor.add_url(&url);
        SlackWebhookSink { name, url, redactor }
    }

    pub fn name(&self) -> &SinkName {
        &self.name
    }

    pub async fn deliver(&mut self, http: &Http, e: &Event, summary: &Summary) -> Result<Delivery, Failure> {
        let m = event_message(e, summary, true);
        let body = json!({
            "text": m.text,
            "blocks": m.blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let answer = http
            .post(self.url.expose(), "application/json; charset=utf-8", &[], bytes)
            .await
            .map_err(|f| {
                let message = format!("slack webhook {}: {}", self.name, f.message);
                Failure::new(self.redactor.redact(&message), f.retry)
            })?;
        if answer.status.is_success() {
            return Ok(Delivery::http(answer.status.as_u16()));
        }
        let error = answer.snippet(200);
        let hint = match error.as_str() {
            "invalid_payload" => " — Slack could not read the message: please report it with the event",
            "action_prohibited" => " — the workspace restricts this webhook: ask its admins",
            "channel_not_found" | "channel_is_archived" | "no_service" | "no_team" | "invalid_token" => {
                " — the webhook no longer posts anywhere: create a new one and update urlEnv/urlFile"
            }
            _ => "",
        };
        let retry = match answer.retry() {
            // Slack says a 500 `rollup_error` is rare and not the caller's fault: try again.
            Retry::Never if answer.status.is_server_error() => Retry::Backoff,
            r => r,
        };
        let message = format!(
            "slack webhook {}: HTTP {}: {error}{hint}",
            self.name,
            answer.status.as_u16()
        );
        Err(Failure::new(self.redactor.redact(&message), retry))
    }
}
