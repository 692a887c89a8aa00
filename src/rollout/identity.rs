//! Who and what a drive is: the rollout a journal belongs to (its [`Header`]: the
//! cluster's ARN and `kube-system` UID, the plan's digest, the target), and the
//! random id that tells one drive process from another of the same operator.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use ring::rand::SecureRandom;

use crate::cloud::{CloudError, CloudRead};
use crate::model::journal::Header;
use crate::rollout::plan::Plan;

/// `sha256:` and the hex digest of what a journal's entries refer to: the cluster's
/// name, the minors and the steps in order. Gates, drain options and batch sizes may
/// change between two runs of one rollout; adding, removing or reordering steps may not.
pub fn plan_digest(plan: &Plan) -> String {
    let mut text = format!(
        "cluster={}\nfrom={}\ntarget={}\n",
        plan.cluster.name, plan.from, plan.target
    );
    for s in &plan.steps {
        text.push_str("step=");
        text.push_str(&s.id().to_string());
        text.push('\n');
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!("sha256:{}", hex(digest.as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who drives, as the journal and the lease name them, and where that came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// `user@host`; with `$USER` unset, `os-user@host (kube kube-user)`.
    pub who: String,
    /// Where the name came from, when not from `$USER` (to tell the operator).
    pub source: Option<String>,
}

/// The operator: `$USER@host` when `$USER` (or `$USERNAME`) is set; otherwise the
/// operating system's name for this process's user and the cluster's own name for
/// the credentials (a `SelfSubjectReview`), each said when found.
pub async fn operator(client: &kube::Client) -> Operator {
    let host = crate::rollout::journal::host_name();
    if let Some(user) = crate::rollout::journal::env_user() {
        return Operator {
            who: format!("{user}@{host}"),
            source: None,
        };
    }
    let os = os_user();
    let kube = kube_user(client).await;
    let who = match (&os, &kube) {
        (Some(o), Some(k)) => format!("{o}@{host} (kube {k})"),
        (Some(o), None) => format!("{o}@{host}"),
        (None, Some(k)) => format!("{k}@{host}"),
        (None, None) => format!("someone@{host}"),
    };
    let mut found = Vec::new();
    if os.is_some() {
        found.push("the operating system's user");
    }
    if kube.is_some() {
        found.push("the cluster's SelfSubjectReview of these credentials");
    }
    let source = if found.is_empty() {
        "$USER is not set, and neither the operating system nor the cluster named this user: set USER".to_string()
    } else {
        format!(
            "$USER is not set: the identity {who} comes from {}",
            found.join(" and ")
        )
    };
    Operator {
        who,
        source: Some(source),
    }
}

/// The login name of this process's user, from `/etc/passwd` (Unix).
fn os_user() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The user the cluster sees for these credentials (`kubectl auth whoami`).
async fn kube_user(client: &kube::Client) -> Option<String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api = Api::<SelfSubjectReview>::all(client.clone());
    let review = api
        .create(&kube::api::PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()?;
    review.status?.user_info?.username.filter(|u| !u.is_empty())
}

/// A fresh random id for one drive process (16 hex digits).
pub fn drive_id() -> String {
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // no system randomness: the time and the process id still tell drives apart
        let nanos = jiff::Timestamp::now().as_nanosecond();
        bytes = ((nanos as u64) ^ (u64::from(std::process::id()) << 32)).to_be_bytes();
    }
    hex(&bytes)
}

/// The header of the rollout of `plan` on the cluster as it is now: the ARN from EKS,
/// the `kube-system` namespace's UID from the API server (left out when it cannot
/// be read: the ARN still names the cluster).
pub async fn header(cloud: &dyn CloudRead, client: &kube::Client, plan: &Plan) -> Result<Header, CloudError> {
    let cluster = cloud.describe_cluster(&plan.cluster.name).await?;
    let kube_system_uid = Api::<Namespace>::all(client.clone())
        .get_opt("kube-system")
        .await
        .ok()
        .flatten()
        .and_then(|ns| ns.metadata.uid);
    Ok(Header {
        cluster: cluster.arn,
        kube_system_uid,
        plan: plan_digest(plan),
        target: plan.target.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_ids_differ_and_are_hex() {
        let (a, b) = (drive_id(), drive_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
