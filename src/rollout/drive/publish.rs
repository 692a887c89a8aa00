//! Publishes the rollout to a ConfigMap in the cluster (`kube-system/upshift-rollout`,
//! shaped by [`Published::to_config_map`]) so that a read-only cockpit or a successor
//! can follow it. Written by server-side apply, at most a few times a second, from its
//! own task: a slow API server never holds up the drive.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::watch;

use crate::model::rollout::{CONFIGMAP, NAMESPACE, Published};

/// How many journal entries the ConfigMap keeps.
pub const RECENT: usize = 200;
/// The least time between two writes.
const EVERY: Duration = Duration::from_millis(250);

/// Writes every new publication until the sender is dropped; a failed write is
/// reported through `errors` (once per distinct message) and retried with the next.
pub async fn run(client: kube::Client, mut rx: watch::Receiver<Arc<Published>>, errors: impl Fn(String) + Send) {
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let params = PatchParams::apply("upshift").force();
    let mut last_error: Option<String> = None;
    loop {
        let p = rx.borrow_and_update().clone();
        let cm = p.to_config_map();
        match api.patch(CONFIGMAP, &params, &Patch::Apply(&cm)).await {
            Ok(_) => last_error = None,
            Err(e) => {
                let msg = format!(
                    "publishing the rollout to ConfigMap {NAMESPACE}/{CONFIGMAP}: {e}; shadow cockpits do not see it until this works (the lead needs create/patch on that ConfigMap)"
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
                let _ = api
                    .patch(CONFIGMAP, &params, &Patch::Apply(&last.to_config_map()))
                    .await;
            }
            return;
        }
    }
}
