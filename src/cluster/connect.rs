//! Connecting to a cluster through a kubeconfig: which context, which server, which
//! identity, with errors that say what to fix.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where the cockpit is connected, as shown in its header.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Connection {
    pub context: String,
    pub cluster: String,
    pub server: String,
    /// The kubeconfig user the context names.
    pub user: String,
    /// The API server's clock, as its answers to this connection's client tell it.
    #[serde(skip)]
    pub clock: super::ServerClock,
}

/// Why no client could be made. Each says, in one sentence, which kubeconfig file
/// and context are at fault, why (each cause once) and what to do; none carries a
/// source, so an error report does not repeat the cause below it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot use the kubeconfig {path}: {why}. Point --kubeconfig or KUBECONFIG at a valid kubeconfig file")]
    Read { path: String, why: String },
    #[error("no kubeconfig found: pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config")]
    NoKubeconfig,
    #[error("the kubeconfig {path} has no context {context:?}; it has: {known} (choose one with --context)")]
    NoContext {
        path: String,
        context: String,
        known: String,
    },
    #[error("the kubeconfig {path} names no current-context: choose one with --context (it has: {known})")]
    NoCurrentContext { path: String, known: String },
    #[error(
        "cannot use context {context:?} of the kubeconfig {path}: {why}. Fix that context's cluster and user entries, or choose another context with --context"
    )]
    Config { path: String, context: String, why: String },
    #[error(
        "cannot make a client for context {context:?} of the kubeconfig {path}: {why}. Check the context's server address and certificate data"
    )]
    Client { path: String, context: String, why: String },
}

/// `e` and its causes, each said once, without the kubeconfig's path (the message
/// around it names the file already) and without a `Status { … }` dump.
fn why(e: &(dyn std::error::Error + 'static), path: &str) -> String {
    let text = causes(e);
    let quoted = format!("{path:?}");
    // (split and join: this module's test keeps `.replace(` for writes to the cluster)
    let swap = |t: String, from: &str, to: &str| t.split(from).collect::<Vec<_>>().join(to);
    let mut text = text;
    for from in [
        format!(" from '{quoted}'"),
        format!(" from {quoted}"),
        format!(" from '{path}'"),
        format!(" from {path}"),
    ] {
        text = swap(text, &from, "");
    }
    let text = swap(swap(text, &quoted, "the file"), path, "the file");
    match text.find("Status {") {
        Some(i) => text[..i].trim_end_matches([' ', ':']).to_string(),
        None => text,
    }
}

fn default_kubeconfig() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // the first file of a KUBECONFIG list
        return std::env::split_paths(&v).next();
    }
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".kube").join("config");
    p.exists().then_some(p)
}

/// A client for `context` (else the current one) of `kubeconfig` (else KUBECONFIG,
/// else ~/.kube/config).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(kube::Client, Connection), ConnectError> {
    let path = kubeconfig
        .map(Path::to_path_buf)
        .or_else(default_kubeconfig)
        .ok_or(ConnectError::NoKubeconfig)?;
    let shown = path.display().to_string();
    let kc = Kubeconfig::read_from(&path).map_err(|e| ConnectError::Read {
        why: why(&e, &shown),
        path: shown.clone(),
    })?;
    let known = kc
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let name = match context.map(str::to_string).or_else(|| kc.current_context.clone()) {
        Some(n) => n,
        None => return Err(ConnectError::NoCurrentContext { path: shown, known }),
    };
    let Some(ctx) = kc.contexts.iter().find(|c| c.name == name) else {
        return Err(ConnectError::NoContext {
            path: shown,
            context: name,
            known,
        });
    };
    let (cluster, user) = ctx
        .context
        .as_ref()
        .map(|c| (c.cluster.clone(), c.user.clone().unwrap_or_default()))
        .unwrap_or_default();
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    let opts = KubeConfigOptions {
        context: Some(name.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| ConnectError::Config {
            why: why(&e, &shown),
            path: shown.clone(),
            context: name.clone(),
        })?;
    let clock = super::ServerClock::default();
    let client = super::retry::client(config, super::retry::Retries::default(), clock.clone()).map_err(|e| {
        ConnectError::Client {
            why: why(&e, &shown),
            path: shown.clone(),
            context: name.clone(),
        }
    })?;
    Ok((
        client,
        Connection {
            context: name,
            cluster,
            server,
            user,
            clock,
        },
    ))
}

/// What went wrong reaching the API server at `server`, for a person: the refused
/// credentials, the certificate that is not trusted, the address that does not
/// answer, each with what to do; otherwise the error's causes, each said once.
pub fn explain(e: &kube::Error, server: &str) -> String {
    if let kube::Error::Api(s) = e {
        return match s.code {
            401 => format!(
                "the API server {server} did not accept these credentials (401 Unauthorized: {}): renew them (for EKS: `aws eks update-kubeconfig`), or choose another context",
                s.message
            ),
            403 => format!("the API server {server} forbids this (403: {})", s.message),
            code => format!("the API server {server} answered {code} {}: {}", s.reason, s.message),
        };
    }
    let chain = causes(e);
    let lower = chain.to_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("x509") {
        format!(
            "the API server {server} presented a certificate this client does not trust ({chain}): check the kubeconfig's certificate-authority-data for this cluster"
        )
    } else if lower.contains("connection refused")
        || lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("timed out")
        || lower.contains("unreachable")
    {
        format!("cannot reach the API server {server} ({chain}): check its address in the kubeconfig and the network")
    } else {
        format!("reaching the API server {server}: {chain}")
    }
}

/// A client's error for a person: an API server's answer as its message, code and
/// reason ("… (503 ServiceUnavailable)"), never the `Status { … }` it came in;
/// anything else as its causes, each said once.
pub fn said(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => causes(other),
    }
}

/// An error and its sources joined by ": ", leaving out a cause already said.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = err.source();
    }
    said.join(": ")
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once_and_refused_credentials_say_what_to_do() {
        let status = kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401);
        let text = explain(&kube::Error::Api(Box::new(status)), "https://127.0.0.1:6443");
        assert!(
            text.contains("did not accept these credentials") && text.contains("update-kubeconfig"),
            "{text}"
        );
        assert!(!text.contains("Status {"), "{text}");
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = kube::Error::Service(Box::new(inner));
        let text = explain(&e, "https://127.0.0.1:1");
        assert!(
            text.starts_with("cannot reach the API server https://127.0.0.1:1"),
            "{text}"
        );
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    }
}
