//! A `notify:` section made ready for a drive: every field checked, every secret read
//! from its environment variable or file (a file others can read is warned about),
//! every URL checked to be HTTPS (or plain HTTP to this machine only). Errors name the
//! field at fault and say what to write instead; they never show a secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::config::{ConfigError, Echo, HeaderValueConfig, NotifyConfig, Settings, SinkConfig, SinkName, invalid};
use super::event::Severity;
use super::secret::{self, Secret, SecretSource};
use super::template::Template;

/// A sink ready to run: its secrets read.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub name: SinkName,
    pub min_severity: Severity,
    pub target: Target,
}

/// Where and how a sink delivers.
#[derive(Clone, Debug)]
pub enum Target {
    Slack {
        api_base: String,
        channel: String,
        token: Secret,
        echo: Echo,
    },
    SlackWebhook {
        url: Secret,
    },
    Teams {
        url: Secret,
    },
    Webhook {
        url: Secret,
        template: Option<Template>,
        content_type: String,
        headers: Vec<(String, Secret)>,
        signing_key: Option<Secret>,
        signature_header: String,
    },
}

/// Everything a drive needs to start its notifier.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    pub sinks: Vec<Resolved>,
    pub settings: Settings,
    /// Things to show the operator (secret files others can read).
    pub warnings: Vec<String>,
}

const SLACK_API: &str = "https://slack.com/api";
pub const SIGNATURE_HEADER: &str = "X-Upshift-Signature";

impl NotifyConfig {
    /// Checks the section and reads every secret. `at` names the section in errors
    /// (`notify`, or `plan.yaml: notify`); `env` looks environment variables up.
    pub fn resolve(&self, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ResolvedConfig, ConfigError> {
        self.check_numbers(at)?;
        let mut warnings = Vec::new();
        let mut sinks: Vec<Resolved> = Vec::new();
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let field = format!("{at}.sinks[{i}]");
            let kind = sink.kind();
            let n = counts.entry(kind).or_default();
            *n += 1;
            let name = match sink.name() {
                Some(n) => {
                    if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                        return Err(invalid(
                            format!("{field}.name"),
                            format!("{n:?} is not a sink name: use letters, digits, '-', '_' or '.'"),
                        ));
                    }
                    SinkName::new(n)
                }
                None if *n == 1 => SinkName::new(kind),
                None => SinkName::new(format!("{kind}-{n}")),
            };
            if let Some(other) = sinks.iter().position(|s| s.name == name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("{name} is also the name of sinks[{other}]: give each sink its own name"),
                ));
            }
            let mut read = |source: Option<SecretSource>, f: &str| -> Result<Option<Secret>, ConfigError> {
                match source {
                    None => Ok(None),
                    Some(s) => {
                        let (secret, warning) = secret::read(&s, &format!("{field}.{f}"), env)?;
                        warnings.extend(warning);
                        Ok(Some(secret))
                    }
                }
            };
            let target = match sink {
                SinkConfig::Slack(c) => {
                    refuse_inline(&field, c.token.is_some(), "token", "token", "tokenEnv", "tokenFile")?;
                    let src = one_source(&field, &c.token_env, &c.token_file, "tokenEnv", "tokenFile")?;
                    let token = read(Some(src), "token")?.ok_or_else(|| no_secret(&field, "tokenEnv", "tokenFile"))?;
                    if c.channel.trim().is_empty() {
                        return Err(invalid(
                            format!("{field}.channel"),
                            "empty: name the channel's id (C0123ABCD)",
                        ));
                    }
                    let api_base = c.api_url.clone().unwrap_or_else(|| SLACK_API.to_string());
                    check_url(&format!("{field}.apiUrl"), &api_base)?;
                    Target::Slack {
                        api_base: api_base.trim_end_matches('/').to_string(),
                        channel: c.channel.trim().to_string(),
                        token,
                        echo: c.echo,
                    }
                }
                SinkConfig::SlackWebhook(c) | SinkConfig::Teams(c) => {
                    refuse_inline(&field, c.url.is_some(), "url", "webhook URL", "urlEnv", "urlFile")?;
                    let src = one_source(&field, &c.url_env, &c.url_file, "urlEnv", "urlFile")?;
                    let url = read(Some(src), "url")?.ok_or_else(|| no_secret(&field, "urlEnv", "urlFile"))?;
                    check_url(&format!("{field}.urlEnv/urlFile"), url.expose())?;
                    match sink {
                        SinkConfig::Teams(_) => Target::Teams { url },
                        _ => Target::SlackWebhook { url },
                    }
                }
                SinkConfig::Webhook(c) => {
                    refuse_inline(&field, c.url.is_some(), "url", "webhook URL", "urlEnv", "urlFile")?;
                    refuse_inline(
                        &field,
                        c.secret.is_some(),
                        "secret",
                        "signing key",
                        "secretEnv",
                        "secretFile",
                    )?;
                    let src = one_source(&field, &c.url_env, &c.url_file, "urlEnv", "urlFile")?;
                    let url = read(Some(src), "url")?.ok_or_else(|| no_secret(&field, "urlEnv", "urlFile"))?;
                    check_url(&format!("{field}.urlEnv/urlFile"), url.expose())?;
                    let signing = match (&c.secret_env, &c.secret_file) {
                        (None, None) => None,
                        _ => Some(one_source(
                            &field,
                            &c.secret_env,
                            &c.secret_file,
                            "secretEnv",
                            "secretFile",
                        )?),
                    };
                    let signing_key = read(signing, "secret")?;
                    let template_text = match (&c.template, &c.template_file) {
                        (Some(_), Some(_)) => {
                            return Err(invalid(
                                format!("{field}.template"),
                                "give template or templateFile, not both",
                            ));
                        }
                        (Some(t), None) => Some(t.clone()),
                        (None, Some(p)) => Some(std::fs::read_to_string(p).map_err(|e| {
                            invalid(
                                format!("{field}.templateFile"),
                                format!("cannot read {}: {e}", p.display()),
                            )
                        })?),
                        (None, None) => None,
                    };
                    let content_type = c.content_type.clone().unwrap_or_else(|| "application/json".to_string());
                    let template = match template_text {
                        Some(t) => Some(
                            Template::parse(&t, content_type.contains("json"))
                                .map_err(|m| invalid(format!("{field}.template"), m))?,
                        ),
                        None => None,
                    };
                    let mut headers = Vec::new();
                    for (name, value) in &c.headers {
                        let hfield = format!("{field}.headers.{name}");
                        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                            return Err(invalid(hfield, "not a valid header name"));
                        }
                        let value = match value {
                            HeaderValueConfig::Plain(v) => {
                                if sensitive_header(name) {
                                    return Err(ConfigError::InlineSecret {
                                        field: hfield,
                                        what: "credential header",
                                        env: "{env: VARIABLE}",
                                        file: "{file: PATH}",
                                    });
                                }
                                Secret::new(v.clone())
                            }
                            HeaderValueConfig::Env { env: var } => {
                                let (s, _) = secret::read(&SecretSource::Env(var.clone()), &hfield, env)?;
                                s
                            }
                            HeaderValueConfig::File { file } => {
                                let (s, w) = secret::read(&SecretSource::File(file.clone()), &hfield, env)?;
                                warnings.extend(w);
                                s
                            }
                        };
                        if hyper::header::HeaderValue::from_str(value.expose()).is_err() {
                            return Err(invalid(format!("{field}.headers.{name}"), "not a valid header value"));
                        }
                        headers.push((name.clone(), value));
                    }
                    let signature_header = c
                        .signature_header
                        .clone()
                        .unwrap_or_else(|| SIGNATURE_HEADER.to_string());
                    if hyper::header::HeaderName::from_bytes(signature_header.as_bytes()).is_err() {
                        return Err(invalid(format!("{field}.signatureHeader"), "not a valid header name"));
                    }
                    Target::Webhook {
                        url,
                        template,
                        content_type,
                        headers,
                        signing_key,
                        signature_header,
                    }
                }
            };
            sinks.push(Resolved {
                name,
                min_severity: sink.min_severity(),
                target,
            });
        }
        Ok(ResolvedConfig {
            sinks,
            settings: self.settings(),
            warnings,
        })
    }
}

fn refuse_inline(
    field: &str,
    present: bool,
    key: &str,
    what: &'static str,
    env: &'static str,
    file: &'static str,
) -> Result<(), ConfigError> {
    if present {
        return Err(ConfigError::InlineSecret {
            field: format!("{field}.{key}"),
            what,
            env,
            file,
        });
    }
    Ok(())
}

fn no_secret(field: &str, env: &'static str, file: &'static str) -> ConfigError {
    ConfigError::NoSecret {
        field: field.to_string(),
        env,
        file,
    }
}

fn one_source(
    field: &str,
    env_name: &Option<String>,
    file: &Option<PathBuf>,
    env_key: &'static str,
    file_key: &'static str,
) -> Result<SecretSource, ConfigError> {
    match (env_name, file) {
        (Some(e), None) => Ok(SecretSource::Env(e.clone())),
        (None, Some(f)) => Ok(SecretSource::File(f.clone())),
        (Some(_), Some(_)) => Err(ConfigError::TwoSecrets {
            field: field.to_string(),
            env: env_key,
            file: file_key,
        }),
        (None, None) => Err(no_secret(field, env_key, file_key)),
    }
}

/// `Authorization`, `Cookie`, `X-Api-Key`, `X-Auth-Token`…: values that must come
/// from the environment or a file.
fn sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["authorization", "cookie"].contains(&n.as_str())
        || ["token", "key", "secret", "password", "auth", "signature"]
            .iter()
            .any(|w| n.contains(w))
}

/// HTTPS, or plain HTTP to this machine only (a local relay, the tests). The URL
/// itself may be secret: errors never show more than its scheme and host.
fn check_url(field: &str, url: &str) -> Result<(), ConfigError> {
    let parsed: hyper::Uri = url
        .parse()
        .map_err(|_| invalid(field, format!("{} is not a URL", secret::redact_url(url))))?;
    let host = parsed.host().unwrap_or("");
    match parsed.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") => Ok(()),
        Some("http") => Err(invalid(
            field,
            format!(
                "{} is plain HTTP: the secret would cross the network readable; use https://",
                secret::redact_url(url)
            ),
        )),
        _ => Err(invalid(
            field,
            format!("{} is not an https:// URL", secret::redact_url(url)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_TOKEN" => Some("xoxb-1-2-secret".into()),
            "HOOK" => Some("https://hooks.slack.com/services/T0/B0/XYZ".into()),
            "PLAIN_HOOK" => Some("http://hooks.example.com/x".into()),
            "LOCAL_HOOK" => Some("http://127.0.0.1:9000/hook/abc".into()),
            "SIGNING" => Some("s3cr3t-key".into()),
            _ => None,
        }
    }

    fn resolve(yaml: &str) -> Result<ResolvedConfig, ConfigError> {
        NotifyConfig::from_yaml(yaml, "plan.yaml")?.resolve("notify", &env)
    }

    #[test]
    fn a_full_section_resolves() {
        let r = resolve(
            r#"
sinks:
  - kind: slack
    channel: C0123ABCD
    tokenEnv: SLACK_TOKEN
    echo: warnings
  - kind: slackWebhook
    urlEnv: HOOK
  - kind: teams
    name: ops-teams
    urlEnv: HOOK
    minSeverity: warning
  - kind: webhook
    urlEnv: LOCAL_HOOK
    template: '{"text": "{{headline}}"}'
    headers:
      X-Team: platform
      Authorization: {env: SIGNING}
    secretEnv: SIGNING
queue: 64
retry: {maxAttempts: 3}
"#,
        )
        .expect("resolves");
        let names: Vec<&str> = r.sinks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["slack", "slack-webhook", "ops-teams", "webhook"]);
        assert_eq!(r.settings.queue, 64);
        assert_eq!(r.settings.max_attempts, 3);
        assert_eq!(r.sinks[2].min_severity, Severity::Warning);
        match &r.sinks[0].target {
            Target::Slack {
                token, echo, api_base, ..
            } => {
                assert_eq!(token.expose(), "xoxb-1-2-secret");
                assert_eq!(*echo, Echo::Warnings);
                assert_eq!(api_base, "https://slack.com/api");
            }
            other => panic!("not slack: {other:?}"),
        }
        match &r.sinks[3].target {
            Target::Webhook {
                headers, signing_key, ..
            } => {
                assert_eq!(headers.len(), 2);
                assert_eq!(signing_key.as_ref().map(|s| s.expose()), Some("s3cr3t-key"));
            }
            other => panic!("not a webhook: {other:?}"),
        }
    }

    #[test]
    fn an_inline_token_or_url_is_refused_with_its_field() {
        let err = resolve("sinks:\n  - kind: slack\n    channel: C1\n    token: xoxb-oops\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("notify.sinks[0].token: a token is never written in the plan"),
            "{msg}"
        );
        assert!(msg.contains("tokenEnv") && msg.contains("tokenFile"), "{msg}");
        assert!(!msg.contains("xoxb-oops"));

        let err = resolve("sinks:\n  - kind: teams\n    url: https://x.example/hook\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notify.sinks[0].url: a webhook URL is never written"),
            "{err}"
        );

        let err = resolve("sinks:\n  - kind: webhook\n    urlEnv: HOOK\n    secret: abc\n").unwrap_err();
        assert!(
            err.to_string().starts_with("notify.sinks[0].secret: a signing key"),
            "{err}"
        );

        let err = resolve("sinks:\n  - kind: webhook\n    urlEnv: HOOK\n    headers: {Authorization: Bearer x}\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notify.sinks[0].headers.Authorization: a credential header"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_or_doubled_source_is_named() {
        let err = resolve("sinks:\n  - kind: slackWebhook\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "notify.sinks[0]: missing: set urlEnv: VARIABLE (an environment variable) or urlFile: PATH (a file)"
        );
        let err = resolve("sinks:\n  - kind: slackWebhook\n    urlEnv: HOOK\n    urlFile: /x\n").unwrap_err();
        assert_eq!(err.to_string(), "notify.sinks[0]: give urlEnv or urlFile, not both");
        let err = resolve("sinks:\n  - kind: slack\n    channel: C1\n    tokenEnv: UNSET\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("notify.sinks[0].token: the environment variable UNSET is not set"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_is_refused_beyond_this_machine_without_showing_the_url() {
        let err = resolve("sinks:\n  - kind: teams\n    urlEnv: PLAIN_HOOK\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("plain HTTP") && msg.contains("http://hooks.example.com/…"),
            "{msg}"
        );
        assert!(!msg.contains("/x"), "{msg}");
        assert!(resolve("sinks:\n  - kind: teams\n    urlEnv: LOCAL_HOOK\n").is_ok());
    }

    #[test]
    fn names_are_unique_and_unknown_fields_are_refused() {
        let err = resolve(
            "sinks:\n  - kind: teams\n    name: a\n    urlEnv: HOOK\n  - kind: slackWebhook\n    name: a\n    urlEnv: HOOK\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notify.sinks[1].name: a is also the name of sinks[0]"),
            "{err}"
        );
        let err = resolve("sinks:\n  - kind: teams\n    urlEnv: HOOK\n    colour: red\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = resolve("sinks:\n  - kind: pager\n").unwrap_err();
        assert!(err.to_string().contains("unknown variant `pager`"), "{err}");
    }

    #[test]
    fn defaults_are_the_documented_ones_and_numbers_are_checked() {
        let empty = resolve("{}").expect("an empty section resolves");
        assert!(empty.sinks.is_empty());
        assert_eq!(empty.settings, Settings::default());
        assert_eq!(empty.settings.queue, 256);
        assert_eq!(empty.settings.timeout, std::time::Duration::from_secs(10));
        assert_eq!(empty.settings.max_attempts, 8);
        assert_eq!(empty.settings.hold_after, std::time::Duration::from_secs(300));
        let err = resolve("queue: 0\n").unwrap_err();
        assert_eq!(err.to_string(), "notify.queue: must be at least 1");
        let err = resolve("retry: {initialBackoffSeconds: .nan}\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notify.retry.initialBackoffSeconds: must be"),
            "{err}"
        );
    }

    #[test]
    fn a_template_with_an_unknown_field_is_refused() {
        let err = resolve("sinks:\n  - kind: webhook\n    urlEnv: HOOK\n    template: '{{headlin}}'\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("notify.sinks[0].template: unknown field {{headlin}}"),
            "{msg}"
        );
    }
}
