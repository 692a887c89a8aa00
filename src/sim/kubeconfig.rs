//! The kubeconfig the simulator writes: one cluster, three users with bearer tokens,
//! and the contexts `lead` (read-write, current), `viewer` (read-only) and
//! `restricted` (read-only; RBAC hides events and cluster-wide pods). The
//! cluster entry carries the simulator's own certificate authority.

use std::path::Path;

use super::Tokens;

pub fn render(cluster: &str, url: &str, ca_pem: &str, tokens: &Tokens) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: lead
  user:
    token: {lead}
- name: viewer
  user:
    token: {viewer}
- name: restricted
  user:
    token: {restricted}
contexts:
- name: lead
  context:
    cluster: {cluster}
    user: lead
    namespace: default
- name: viewer
  context:
    cluster: {cluster}
    user: viewer
    namespace: default
- name: restricted
  context:
    cluster: {cluster}
    user: restricted
    namespace: default
current-context: lead
preferences: {{}}
",
        lead = tokens.lead,
        viewer = tokens.viewer,
        restricted = tokens.restricted,
    )
}

/// Writes the kubeconfig readable by its owner only (it holds tokens).
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
}
