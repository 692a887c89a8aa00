//! Slack with a bot token (Web API, scope `chat:write`): one thread per rollout. The
//! parent message is posted once (`chat.postMessage`) and then edited in place with the
//! rollout's current state (`chat.update` with the parent's `ts`); every event is a
//! reply (`chat.postMessage` with `thread_ts`), failures and the verdict optionally
//! echoed to the channel (`reply_broadcast`). Slack answers HTTP 200 with `ok: false`
//! and an `error` for most failures, and 429 with `Retry-After` when rate limited.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{Echo, SinkName};
use super::event::{Event, Severity, What};
use super::http::{Failure, Http, Retry};
use super::secret::{Redactor, Secret};
use super::sink::{Delivery, Receipt};
use super::slack_blocks::{SlackMessage, event_message, parent_message};
use super::summary::Summary;

/// A rollout's thread: where its parent message is. Journaled by the drive and given
/// back on a resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackThread {
    /// The channel's id, as Slack answered it.
    pub channel: String,
    /// The parent message's `ts`.
    pub ts: String,
}

pub struct SlackSink {
    name: SinkName,
    api_base: String,
    channel: String,
    token: Secret,
    echo: Echo,
    redactor: Redactor,
    thread: Option<SlackThread>,
    /// The parent shows an older state than the events delivered since.
    parent_stale: bool,
}

/// Slack's `ok: false` errors worth trying again; every other one is final.
const TRANSIENT: [&str; 4] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl SlackSink {
    pub fn new(
        name: SinkName,
        api_base: &str,
        channel: &str,
        token: Secret,
        echo: Echo,
        thread: Option<SlackThread>,
    ) -> SlackSink {
        let mut redactor = Redactor::default();
        redactor.add(&token);
        SlackSink {
            name,
            api_base: api_base.trim_end_matches('/').to_string(),
            channel: channel.to_string(),
            token,
            echo,
            redactor,
            thread,
            parent_stale: false,
        }
    }

    pub fn name(&self) -> &SinkName {
        &self.name
    }

    /// The thread, once the parent is posted.
    pub fn thread(&self) -> Option<&SlackThread> {
        self.thread.as_ref()
    }

    fn broadcast(&self, e: &Event) -> bool {
        match self.echo {
            Echo::Never => false,
            Echo::Failures => e.severity() == Severity::Failure || e.is_verdict(),
            Echo::Warnings => e.severity() >= Severity::Warning || e.is_verdict(),
        }
    }

    /// Posts the thread's parent if there is none yet, then the event as a reply. The
    /// event is delivered once its reply is posted; bringing the parent up to date is
    /// [`SlackSink::refresh`]'s work, so a failed edit never posts a reply twice.
    pub async fn deliver(&mut self, http: &Http, e: &Event, summary: &Summary) -> Result<Delivery, Failure> {
        let thread = match &self.thread {
            Some(t) => t.clone(),
            None => {
                let parent = parent_message(summary);
                let mut body = post_body(&parent);
                body["channel"] = json!(self.channel);
                let answer = self.call(http, "chat.postMessage", &body).await?;
                let thread = SlackThread {
                    channel: answer.channel.unwrap_or_else(|| self.channel.clone()),
                    ts: answer.ts.ok_or_else(|| self.missing_ts("chat.postMessage"))?,
                };
                self.thread = Some(thread.clone());
                self.parent_stale = false;
                if matches!(e.what, What::RolloutStarted { .. }) {
                    return Ok(Delivery {
                        receipt: Receipt::Slack {
                            channel: thread.channel.clone(),
                            thread_ts: thread.ts.clone(),
                            ts: thread.ts,
                        },
                    });
                }
                thread
            }
        };
        let reply = event_message(e, summary, false);
        let mut body = post_body(&reply);
        body["channel"] = json!(thread.channel);
        body["thread_ts"] = json!(thread.ts);
        body["reply_broadcast"] = json!(self.broadcast(e));
        let answer = self.call(http, "chat.postMessage", &body).await?;
        let ts = answer.ts.ok_or_else(|| self.missing_ts("chat.postMessage"))?;
        self.parent_stale = true;
        Ok(Delivery {
            receipt: Receipt::Slack {
                channel: thread.channel,
                thread_ts: thread.ts,
                ts,
            },
        })
    }

    /// Whether the parent message shows an older state than the thread.
    pub fn parent_stale(&self) -> bool {
        self.parent_stale && self.thread.is_some()
    }

    /// Edits the parent message to show `summary` (`chat.update` with the parent's
    /// `ts`). A parent that can no longer be edited (deleted, edit window closed) is
    /// not tried again: the replies still go to the thread.
    pub async fn refresh(&mut self, http: &Http, summary: &Summary) -> Result<(), Failure> {
        let Some(thread) = self.thread.clone().filter(|_| self.parent_stale) else {
            return Ok(());
        };
        let parent = parent_message(summary);
        let mut body = message_body(&parent);
        body["channel"] = json!(thread.channel);
        body["ts"] = json!(thread.ts);
        match self.call(http, "chat.update", &body).await {
            Ok(_) => {
                self.parent_stale = false;
                Ok(())
            }
            Err(f) => {
                if f.retry == Retry::Never {
                    self.parent_stale = false;
                }
                Err(f)
            }
        }
    }

    fn missing_ts(&self, method: &str) -> Failure {
        Failure::new(
            format!("slack sink {}: {method} answered ok without a ts", self.name),
            Retry::Backoff,
        )
    }

    /// Calls a Web API method with a JSON body and reads Slack's answer.
    async fn call(&self, http: &Http, method: &str, body: &Value) -> Result<SlackAnswer, Failure> {
        let url = format!("{}/{method}", self.api_base);
        let auth = format!("Bearer {}", self.token.expose());
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let answer = http
            .post(
                &url,
                "application/json; charset=utf-8",
                &[("authorization", &auth)],
                bytes,
            )
            .await
            .map_err(|f| {
                Failure::new(
                    self.redactor
                        .redact(&format!("slack sink {}: {}", self.name, f.message)),
                    f.retry,
                )
            })?;
        if !answer.status.is_success() {
            let message = format!(
                "slack sink {}: {method} answered HTTP {}: {}",
                self.name,
                answer.status,
                answer.snippet(200)
            );
            return Err(Failure::new(self.redactor.redact(&message), answer.retry()));
        }
        let parsed: SlackAnswer = serde_json::from_str(&answer.body).map_err(|_| {
            let message = format!(
                "slack sink {}: {method} answered something that is not Slack's JSON: {}",
                self.name,
                answer.snippet(200)
            );
            Failure::new(self.redactor.redact(&message), Retry::Backoff)
        })?;
        if parsed.ok {
            return Ok(parsed);
        }
        let error = parsed.error.clone().unwrap_or_else(|| "unknown_error".to_string());
        let retry = if error == "ratelimited" {
            Retry::After(answer.retry_after.unwrap_or(std::time::Duration::from_secs(1)))
        } else if TRANSIENT.contains(&error.as_str()) {
            Retry::Backoff
        } else {
            Retry::Never
        };
        let mut message = format!("slack sink {}: {method} failed: {error}", self.name);
        if let Some(hint) = hint(&error, parsed.needed.as_deref()) {
            message.push_str(" — ");
            message.push_str(&hint);
        }
        let details = parsed.response_metadata.map(|m| m.messages).unwrap_or_default();
        if !details.is_empty() {
            message.push_str(&format!(" ({})", details.join("; ")));
        }
        Err(Failure::new(self.redactor.redact(&message), retry))
    }
}

/// `text` and `blocks`.
fn message_body(m: &SlackMessage) -> Value {
    json!({"text": m.text, "blocks": m.blocks})
}

/// A new message's body, with link previews off (a thread of status lines needs none).
fn post_body(m: &SlackMessage) -> Value {
    let mut body = message_body(m);
    body["unfurl_links"] = json!(false);
    body["unfurl_media"] = json!(false);
    body
}

#[derive(Debug, Deserialize)]
struct SlackAnswer {
    ok: bool,
    error: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
    /// The scope a `missing_scope` error needs.
    needed: Option<String>,
    response_metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    messages: Vec<String>,
}

/// What to do about Slack's common errors (chat.postMessage / chat.update reference).
fn hint(error: &str, needed: Option<&str>) -> Option<String> {
    Some(match error {
        "not_in_channel" => {
            "invite the app to the channel (/invite @app-name) or add the chat:write.public scope".into()
        }
        "channel_not_found" => {
            "check the sink's channel in the plan (its id, C0123ABCD); a private channel needs the app invited".into()
        }
        "is_archived" => "the channel is archived: unarchive it or name another".into(),
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            "the token from tokenEnv/tokenFile is not valid: install the app again and use its bot token (xoxb-…)"
                .into()
        }
        "missing_scope" => format!(
            "the app lacks the scope {}: add it (chat:write) under OAuth & Permissions and reinstall",
            needed.unwrap_or("chat:write")
        ),
        "message_not_found" | "cant_update_message" | "edit_window_closed" => "replies still go to the thread".into(),
        "msg_too_long" | "invalid_blocks" | "invalid_blocks_format" => {
            "the message broke one of Slack's limits: please report it with the event".into()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::EventId;

    #[test]
    fn hints_say_what_to_do() {
        assert!(hint("not_in_channel", None).is_some_and(|h| h.contains("/invite")));
        assert!(hint("missing_scope", Some("chat:write")).is_some_and(|h| h.contains("chat:write")));
        assert_eq!(hint("something_new", None), None);
    }

    #[test]
    fn echo_follows_the_policy() {
        let sink = |echo| {
            SlackSink::new(
                SinkName::new("s"),
                "http://127.0.0.1:1/api",
                "C1",
                Secret::new("xoxb-123456"),
                echo,
                None,
            )
        };
        let at = jiff::Timestamp::UNIX_EPOCH;
        let failed = Event::new(
            EventId::new("a"),
            at,
            What::Aborted {
                who: "ana".into(),
                reason: None,
            },
        );
        let took = Event::new(
            EventId::new("b"),
            at,
            What::TookOver {
                from: "ana".into(),
                to: "bo".into(),
            },
        );
        let done = Event::new(
            EventId::new("c"),
            at,
            What::Finished {
                verdict: crate::notify::event::Verdict::Done,
            },
        );
        assert!(sink(Echo::Failures).broadcast(&failed));
        assert!(!sink(Echo::Failures).broadcast(&took));
        assert!(sink(Echo::Failures).broadcast(&done));
        assert!(sink(Echo::Warnings).broadcast(&took));
        assert!(!sink(Echo::Never).broadcast(&failed));
    }
}
