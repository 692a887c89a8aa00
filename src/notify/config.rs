//! The `notify:` section of a plan (camelCase YAML): which sinks a rollout's events go
//! to and where each sink's secret comes from. Secrets are never written inline: an
//! inline `token:`, `url:` or `secret:` is kept only to be refused, with the field named,
//! when the section is resolved for a drive (`resolve.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::event::Severity;
use super::secret::SecretError;

/// The `notify:` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Events waiting per sink before the oldest info events are dropped.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Each request's time limit.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub retry: RetryConfig,
    /// How long a drain may be held, or a step make no progress, before the thread
    /// hears of it (read by the drive).
    #[serde(default = "default_hold_after")]
    pub hold_after_seconds: u64,
}

impl Default for NotifyConfig {
    /// No sinks, and the documented defaults.
    fn default() -> Self {
        NotifyConfig {
            sinks: Vec::new(),
            queue: default_queue(),
            timeout_seconds: default_timeout(),
            retry: RetryConfig::default(),
            hold_after_seconds: default_hold_after(),
        }
    }
}

fn default_queue() -> usize {
    256
}
fn default_timeout() -> u64 {
    10
}
fn default_hold_after() -> u64 {
    300
}

/// How failed deliveries are tried again.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per event (rate-limit answers do not count).
    pub max_attempts: u32,
    pub initial_backoff_seconds: f64,
    pub max_backoff_seconds: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            initial_backoff_seconds: 1.0,
            max_backoff_seconds: 60.0,
        }
    }
}

/// One sink, by `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SinkConfig {
    /// Slack with a bot token: one thread per rollout.
    Slack(SlackConfig),
    /// A Slack incoming webhook: one message per event.
    SlackWebhook(UrlSinkConfig),
    /// A Microsoft Teams workflow webhook: an Adaptive Card per event.
    Teams(UrlSinkConfig),
    /// Any HTTP endpoint: the documented JSON, or a template.
    Webhook(WebhookConfig),
}

/// Which replies are also shown in the channel, not only in the thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Echo {
    /// Replies stay in the thread.
    Never,
    /// Failures and the final verdict.
    #[default]
    Failures,
    /// Warnings, failures and the final verdict.
    Warnings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    pub name: Option<String>,
    /// The channel's id (`C0123ABCD`) or name; updates use the id Slack answers with.
    pub channel: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Refused: present only to say so.
    pub(super) token: Option<IgnoredAny>,
    #[serde(default)]
    pub echo: Echo,
    /// The Web API's base (`https://slack.com/api`); another only for a proxy or a test.
    pub api_url: Option<String>,
    #[serde(default = "default_min")]
    pub min_severity: Severity,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrlSinkConfig {
    pub name: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    pub(super) url: Option<IgnoredAny>,
    #[serde(default = "default_min")]
    pub min_severity: Severity,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    pub(super) url: Option<IgnoredAny>,
    /// A body with `{{field}}` placeholders instead of the documented JSON.
    pub template: Option<String>,
    pub template_file: Option<PathBuf>,
    /// The body's type (`application/json` unless a template says otherwise).
    pub content_type: Option<String>,
    /// Extra headers: a plain value, or `{env: NAME}` / `{file: PATH}` for a secret one.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValueConfig>,
    /// The key for an HMAC-SHA256 signature of each body.
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub(super) secret: Option<IgnoredAny>,
    /// The signature's header (`X-Upshift-Signature: sha256=<hex>`).
    pub signature_header: Option<String>,
    #[serde(default = "default_min")]
    pub min_severity: Severity,
}

fn default_min() -> Severity {
    Severity::Info
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum HeaderValueConfig {
    Plain(String),
    Env { env: String },
    File { file: PathBuf },
}

/// A sink's name: the key its deliveries are journaled under, so it must stay the same
/// across a resume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SinkName(String);

impl SinkName {
    pub fn new(name: impl Into<String>) -> SinkName {
        SinkName(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SinkName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mistake in the `notify:` section or a secret that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{field}: a {what} is never written in the plan (plans are reviewed, journaled and published to the cluster): set {env}: VARIABLE (an environment variable) or {file}: PATH (a file only you can read) instead"
    )]
    InlineSecret {
        field: String,
        what: &'static str,
        env: &'static str,
        file: &'static str,
    },
    #[error("{field}: missing: set {env}: VARIABLE (an environment variable) or {file}: PATH (a file)")]
    NoSecret {
        field: String,
        env: &'static str,
        file: &'static str,
    },
    #[error("{field}: give {env} or {file}, not both")]
    TwoSecrets {
        field: String,
        env: &'static str,
        file: &'static str,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// How often and how patiently the sender works.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub queue: usize,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub hold_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        NotifyConfig::default().settings()
    }
}

impl NotifyConfig {
    /// Parses a `notify:` section on its own (the plan embeds the same type).
    pub fn from_yaml(text: &str, file: &str) -> Result<NotifyConfig, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            invalid(format!("{file}: notify.{path}"), message)
        })
    }

    /// Checks the numbers (`at` names the section in errors).
    pub fn check_numbers(&self, at: &str) -> Result<(), ConfigError> {
        let r = &self.retry;
        let checks: [(bool, &str, &str); 6] = [
            (self.queue >= 1, "queue", "at least 1"),
            (self.timeout_seconds >= 1, "timeoutSeconds", "at least 1"),
            (r.max_attempts >= 1, "retry.maxAttempts", "at least 1"),
            (
                r.initial_backoff_seconds.is_finite() && r.initial_backoff_seconds >= 0.0,
                "retry.initialBackoffSeconds",
                "a number of seconds, 0 or more",
            ),
            (
                r.max_backoff_seconds.is_finite() && r.max_backoff_seconds >= r.initial_backoff_seconds,
                "retry.maxBackoffSeconds",
                "a number of seconds, at least initialBackoffSeconds",
            ),
            (self.hold_after_seconds >= 1, "holdAfterSeconds", "at least 1"),
        ];
        match checks.iter().find(|(ok, _, _)| !ok) {
            Some((_, field, want)) => Err(invalid(format!("{at}.{field}"), format!("must be {want}"))),
            None => Ok(()),
        }
    }

    pub fn settings(&self) -> Settings {
        let secs = |s: f64| Duration::from_secs_f64(if s.is_finite() { s.clamp(0.0, 3600.0) } else { 0.0 });
        Settings {
            queue: self.queue.max(1),
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
            max_attempts: self.retry.max_attempts.max(1),
            initial_backoff: secs(self.retry.initial_backoff_seconds),
            max_backoff: secs(self.retry.max_backoff_seconds),
            hold_after: Duration::from_secs(self.hold_after_seconds),
        }
    }
}

impl SinkConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Slack(_) => "slack",
            SinkConfig::SlackWebhook(_) => "slack-webhook",
            SinkConfig::Teams(_) => "teams",
            SinkConfig::Webhook(_) => "webhook",
        }
    }

    pub(super) fn name(&self) -> Option<&str> {
        match self {
            SinkConfig::Slack(c) => c.name.as_deref(),
            SinkConfig::SlackWebhook(c) | SinkConfig::Teams(c) => c.name.as_deref(),
            SinkConfig::Webhook(c) => c.name.as_deref(),
        }
    }

    pub(super) fn min_severity(&self) -> Severity {
        match self {
            SinkConfig::Slack(c) => c.min_severity,
            SinkConfig::SlackWebhook(c) | SinkConfig::Teams(c) => c.min_severity,
            SinkConfig::Webhook(c) => c.min_severity,
        }
    }
}
