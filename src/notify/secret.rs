//! Secrets for the sinks — Slack tokens, webhook URLs (whose path is the credential),
//! signing keys — read only from environment variables or files, never from the plan.
//! A [`Secret`] cannot be printed, and every error or log line a sink makes goes
//! through a [`Redactor`] that knows the secrets it holds.

use std::path::{Path, PathBuf};

/// A value that must never be shown: its `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable's name.
    Env(String),
    /// A file holding only the secret (a trailing newline is ignored).
    File(PathBuf),
}

/// Why a secret could not be read. `field` is where the plan names its source
/// (`notify.sinks[0].tokenEnv`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{field}: the environment variable {name} is not set (or is empty): export it before starting upshift")]
    EnvMissing { field: String, name: String },
    #[error("{field}: cannot read {path}: {message}")]
    FileUnreadable {
        field: String,
        path: String,
        message: String,
    },
    #[error("{field}: {path} is empty: it must hold the secret")]
    FileEmpty { field: String, path: String },
}

/// Reads a secret. `env` looks an environment variable up (the process environment in
/// production; a table in tests). Returns the secret and, for a file that its group or
/// others can read, a warning to show.
pub fn read(
    source: &SecretSource,
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Secret, Option<String>), SecretError> {
    match source {
        SecretSource::Env(name) => match env(name).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok((Secret(v), None)),
            _ => Err(SecretError::EnvMissing {
                field: field.to_string(),
                name: name.clone(),
            }),
        },
        SecretSource::File(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| SecretError::FileUnreadable {
                field: field.to_string(),
                path: shown.clone(),
                message: e.to_string(),
            })?;
            let value = text.trim();
            if value.is_empty() {
                return Err(SecretError::FileEmpty {
                    field: field.to_string(),
                    path: shown,
                });
            }
            Ok((Secret(value.to_string()), loose_permissions(path)))
        }
    }
}

/// A warning when a secret file can be read by its group or by others.
#[cfg(unix)]
pub fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "secret file {} can be read by its group or others (mode {mode:04o}): chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn loose_permissions(_path: &Path) -> Option<String> {
    None
}

/// `https://hooks.slack.com/services/T0/B0/XXXX` → `https://hooks.slack.com/…`: a
/// webhook's path and query are its credential; its host is not.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted URL]".to_string();
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // user:password@ in the authority is a secret too.
    let host = rest[..host_end].rsplit('@').next().unwrap_or("");
    if host_end == rest.len() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// Replaces every secret a sink holds with `[redacted]` in text it reports.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

/// Shorter values are too likely to occur by chance to be searched for.
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    /// Adds a secret (a token, a signing key).
    pub fn add(&mut self, secret: &Secret) {
        if secret.0.len() >= MIN_SECRET_LEN && !self.secrets.contains(secret) {
            self.secrets.push(secret.clone());
            // Longest first, so a URL is replaced whole before its path.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        }
    }

    /// Adds a URL whose path and query are secret: the whole URL, and the part
    /// after its host (which answers and errors sometimes echo).
    pub fn add_url(&mut self, url: &Secret) {
        self.add(url);
        if let Some((_, rest)) = url.0.split_once("://")
            && let Some(i) = rest.find(['/', '?'])
            && rest.len() - i > 1
        {
            self.add(&Secret(rest[i..].to_string()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(&s.0) {
                out = out.replace(&s.0, "[redacted]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("xoxb-123-456\n".into()),
            "EMPTY" => Some("  ".into()),
            _ => None,
        }
    }

    #[test]
    fn reads_from_the_environment_and_names_a_missing_variable() {
        let (s, warn) = read(&SecretSource::Env("TOKEN".into()), "notify.sinks[0].tokenEnv", &env).expect("set");
        assert_eq!(s.expose(), "xoxb-123-456");
        assert_eq!(warn, None);
        let err = read(&SecretSource::Env("NOPE".into()), "notify.sinks[0].tokenEnv", &env).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("notify.sinks[0].tokenEnv") && msg.contains("NOPE") && msg.contains("export"));
        assert!(read(&SecretSource::Env("EMPTY".into()), "f", &env).is_err());
    }

    #[test]
    fn reads_a_file_and_warns_when_others_can_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "xoxb-from-file\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let (s, warn) = read(&SecretSource::File(path.clone()), "f", &env).expect("reads");
            assert_eq!(s.expose(), "xoxb-from-file");
            let warn = warn.expect("a world-readable secret is warned about");
            assert!(warn.contains("0644") && warn.contains("chmod 600"), "{warn}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            let (_, warn) = read(&SecretSource::File(path.clone()), "f", &env).expect("reads");
            assert_eq!(warn, None);
        }
        let err = read(
            &SecretSource::File(dir.path().join("missing")),
            "notify.sinks[1].urlFile",
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("notify.sinks[1].urlFile: cannot read"));
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(…)");
    }

    #[test]
    fn urls_keep_their_host_only() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact_url("https://user:pw@example.com/x?y=1"), "https://example.com/…");
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn the_redactor_removes_tokens_urls_and_url_paths() {
        let mut r = Redactor::default();
        r.add(&Secret::new("xoxb-very-secret"));
        r.add_url(&Secret::new("https://hooks.example.com/services/T0/B0/XXXX"));
        r.add(&Secret::new("abc")); // too short to search for
        let text = "sent xoxb-very-secret to https://hooks.example.com/services/T0/B0/XXXX, \
                    server said: no route /services/T0/B0/XXXX; abc";
        let out = r.redact(text);
        assert!(!out.contains("xoxb-very-secret"));
        assert!(!out.contains("/services/T0/B0/XXXX"));
        assert!(out.contains("abc"));
        assert_eq!(out.matches("[redacted]").count(), 3, "{out}");
    }
}
