//! Publishes the rollout to a ConfigMap in the cluster (`kube-system/upshift-rollout`):
//! its state as JSON and the journal's recent entries as JSONL, so that a read-only
//! cockpit or a successor can follow it. Written by server-side apply, at most a few
//! times a second, from its own task: a slow API server never holds up the drive.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::watch;

use crate::model::rollout::{CONFIGMAP, JOURNAL_KEY, RolloutState, STATE_KEY};
use crate::rollout::journal::Entry;

/// How many journal entries the ConfigMap keeps.
pub const RECENT: usize = 200;
/// The least time between two writes.
const EVERY: Duration = Duration::from_millis(250);

/// What is published.
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub state: RolloutState,
    /// The newest entries, oldest first.
    pub recent: Vec<Entry>,
}

/// The ConfigMap for a publication.
pub fn config_map(p: &Published) -> ConfigMap {
    let journal = p
        .recent
        .iter()
        .filter_map(|e| serde_json::to_string(e).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let mut data = std::collections::BTreeMap::new();
    data.insert(
        STATE_KEY.to_string(),
        serde_json::to_string(&p.state).unwrap_or_default(),
    );
    data.insert(JOURNAL_KEY.to_string(), journal);
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(CONFIGMAP.into()),
            namespace: Some(crate::rollout::lock::NAMESPACE.into()),
            labels: Some([("app.kubernetes.io/managed-by".to_string(), "upshift".to_string())].into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Writes every new publication until the sender is dropped; a failed write is
/// reported through `errors` (once per distinct message) and retried with the next.
pub async fn run(client: kube::Client, mut rx: watch::Receiver<Arc<Published>>, errors: impl Fn(String) + Send) {
    let api: Api<ConfigMap> = Api::namespaced(client, crate::rollout::lock::NAMESPACE);
    let params = PatchParams::apply("upshift").force();
    let mut last_error: Option<String> = None;
    loop {
        let p = rx.borrow_and_update().clone();
        let cm = config_map(&p);
        match api.patch(CONFIGMAP, &params, &Patch::Apply(&cm)).await {
            Ok(_) => last_error = None,
            Err(e) => {
                let msg = format!(
                    "publishing the rollout to ConfigMap {}/{CONFIGMAP}: {e}; shadow cockpits do not see it until this works (the lead needs create/patch on that ConfigMap)",
                    crate::rollout::lock::NAMESPACE
                );
                if last_error.as_deref() != Some(msg.as_str()) {
                    errors(msg.clone());
                    last_error = Some(msg);
                }
            }
        }
        tokio::time::sleep(EVERY).await;
        if rx.changed().await.is_err() {
            // the drive ended: write its last word once more if it changed since
            let last = rx.borrow().clone();
            if !Arc::ptr_eq(&last, &p) {
                let _ = api.patch(CONFIGMAP, &params, &Patch::Apply(&config_map(&last))).await;
            }
            return;
        }
    }
}

/// Reads a published rollout back from the ConfigMap's data.
pub fn read(cm: &ConfigMap) -> Option<(RolloutState, Vec<Entry>)> {
    let data = cm.data.as_ref()?;
    let state: RolloutState = serde_json::from_str(data.get(STATE_KEY)?).ok()?;
    let entries = data
        .get(JOURNAL_KEY)
        .map(|j| j.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default();
    Some((state, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::journal::What;

    #[test]
    fn a_publication_reads_back() {
        let p = Published {
            state: RolloutState {
                cluster: "demo".into(),
                target: "1.31".into(),
                ..Default::default()
            },
            recent: vec![Entry {
                seq: 1,
                at: jiff::Timestamp::UNIX_EPOCH,
                who: "ana@laptop".into(),
                what: What::Step {
                    step: "control-plane".into(),
                    state: "running".into(),
                },
            }],
        };
        let cm = config_map(&p);
        assert_eq!(cm.metadata.name.as_deref(), Some(CONFIGMAP));
        let (state, entries) = read(&cm).unwrap();
        assert_eq!(state, p.state);
        assert_eq!(entries, p.recent);
    }
}
