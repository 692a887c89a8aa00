//! The four kinds of sink behind one enum, and what a delivery hands back: a
//! [`Receipt`] the drive journals (for Slack, the thread's channel and `ts`, so a
//! resumed drive goes on replying in the same thread).

use serde::{Deserialize, Serialize};

use super::config::SinkName;
use super::event::Event;
use super::http::{Failure, Http};
use super::resolve::{Resolved, Target};
use super::slack::{SlackSink, SlackThread};
use super::slack_webhook::SlackWebhookSink;
use super::summary::Summary;
use super::teams::TeamsSink;
use super::webhook::WebhookSink;

/// Proof of a delivery, for the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Receipt {
    /// A webhook accepted the event with this HTTP status.
    Http { status: u16 },
    /// Slack posted it: the thread's parent (`thread_ts`, also the message itself for
    /// the rollout's first event) and the message's own `ts`.
    Slack {
        channel: String,
        thread_ts: String,
        ts: String,
    },
}

impl Receipt {
    /// The Slack thread this receipt belongs to, to give back on a resume.
    pub fn slack_thread(&self) -> Option<SlackThread> {
        match self {
            Receipt::Slack { channel, thread_ts, .. } => Some(SlackThread {
                channel: channel.clone(),
                ts: thread_ts.clone(),
            }),
            Receipt::Http { .. } => None,
        }
    }
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Receipt::Http { status } => write!(f, "HTTP {status}"),
            Receipt::Slack { channel, thread_ts, ts } if ts == thread_ts => {
                write!(f, "thread {channel}/{thread_ts}")
            }
            Receipt::Slack { channel, thread_ts, ts } => write!(f, "{channel}/{ts} in thread {thread_ts}"),
        }
    }
}

/// A delivered event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub receipt: Receipt,
}

impl Delivery {
    pub fn http(status: u16) -> Delivery {
        Delivery {
            receipt: Receipt::Http { status },
        }
    }
}

/// One configured sink and whatever it keeps between events.
pub enum Sink {
    Slack(SlackSink),
    SlackWebhook(SlackWebhookSink),
    Teams(TeamsSink),
    Webhook(WebhookSink),
}

impl Sink {
    /// Builds the sink; `thread` is the Slack thread a previous run of this rollout
    /// started (from the journal), if any.
    pub fn new(resolved: &Resolved, thread: Option<SlackThread>) -> Sink {
        let name = resolved.name.clone();
        match &resolved.target {
            Target::Slack {
                api_base,
                channel,
                token,
                echo,
            } => Sink::Slack(SlackSink::new(name, api_base, channel, token.clone(), *echo, thread)),
            Target::SlackWebhook { url } => Sink::SlackWebhook(SlackWebhookSink::new(name, url.clone())),
            Target::Teams { url } => Sink::Teams(TeamsSink::new(name, url.clone())),
            Target::Webhook {
                url,
                template,
                content_type,
                headers,
                signing_key,
                signature_header,
            } => Sink::Webhook(WebhookSink::new(
                name,
                url.clone(),
                template.clone(),
                content_type.clone(),
                headers.clone(),
                signing_key.clone(),
                signature_header.clone(),
            )),
        }
    }

    pub fn name(&self) -> &SinkName {
        match self {
            Sink::Slack(s) => s.name(),
            Sink::SlackWebhook(s) => s.name(),
            Sink::Teams(s) => s.name(),
            Sink::Webhook(s) => s.name(),
        }
    }

    /// One attempt at delivering `event`; `summary` is the rollout as it stands now.
    /// Errors carry no secret.
    pub async fn deliver(&mut self, http: &Http, event: &Event, summary: &Summary) -> Result<Delivery, Failure> {
        match self {
            Sink::Slack(s) => s.deliver(http, event, summary).await,
            Sink::SlackWebhook(s) => s.deliver(http, event, summary).await,
            Sink::Teams(s) => s.deliver(http, event, summary).await,
            Sink::Webhook(s) => s.deliver(http, event, summary).await,
        }
    }

    /// Whether a message already posted shows an older state than the events
    /// delivered since (the Slack thread's parent).
    pub fn stale(&self) -> bool {
        match self {
            Sink::Slack(s) => s.parent_stale(),
            Sink::SlackWebhook(_) | Sink::Teams(_) | Sink::Webhook(_) => false,
        }
    }

    /// Brings such a message up to date with `summary`.
    pub async fn refresh(&mut self, http: &Http, summary: &Summary) -> Result<(), Failure> {
        match self {
            Sink::Slack(s) => s.refresh(http, summary).await,
            Sink::SlackWebhook(_) | Sink::Teams(_) | Sink::Webhook(_) => Ok(()),
        }
    }
}
