//! Live notifications: a rollout's communication thread. The drive turns what happens
//! into [`Event`]s and hands them to a [`NotifierHandle`], which never blocks it; one
//! task per sink delivers them to Slack (one thread per rollout, via the Web API), a
//! Slack incoming webhook, a Microsoft Teams workflow or any HTTP endpoint, within each
//! service's limits, with retries, and reports every [`Outcome`] for the journal.
//! Secrets come only from environment variables or files (`config.rs`).

pub mod config;
pub mod event;
pub mod http;
pub mod resolve;
pub mod secret;
pub mod sender;
pub mod sink;
pub mod slack;
pub mod slack_blocks;
pub mod slack_webhook;
pub mod summary;
pub mod teams;
pub mod template;
pub mod text;
pub mod webhook;
pub mod worker;

pub use config::{NotifyConfig, SinkName};
pub use event::{Event, EventId, Severity, What};
pub use resolve::ResolvedConfig;
pub use sender::{DrainReport, Notifier, NotifierHandle, Outcome, Resume};
pub use sink::Receipt;
pub use slack::SlackThread;
