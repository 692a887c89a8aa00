//! Karpenter's kinds, watched as untyped objects (`karpenter.sh/v1` NodePools and
//! NodeClaims): where the CRDs are not installed the watch reports them absent and
//! the NodePool view stays off; where RBAC refuses them the cockpit says it cannot see
//! them, as for any watch. Also the pods Karpenter nominates for a NodeClaim, from its
//! `Nominated` events (a watch on that reason alone).
//!
//! `kinds.rs`: the same kinds as the plan and the NodePool steps read and patch them
//! (their `ApiResource`s, budgets, node classes, conditions).

mod kinds;
pub use kinds::*;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::karpenter::{NodeClaimInfo, NodePoolInfo, nominated_claim};
use crate::model::{Delta, Interner, Source};

/// `karpenter.sh/v1` `kind`, served as `plural`.
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("karpenter.sh", "v1", kind), plural)
}

fn json(o: &DynamicObject) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

fn nodepool(o: &DynamicObject, _: &mut Interner) -> Option<NodePoolInfo> {
    Some(NodePoolInfo::from_json(&json(o)))
}

fn nodeclaim(o: &DynamicObject, strings: &mut Interner) -> Option<NodeClaimInfo> {
    Some(NodeClaimInfo::from_json(&json(o), strings))
}

/// Starts the NodePool, NodeClaim and nomination watches.
pub(super) fn start(client: &kube::Client, tx: &mpsc::Sender<Delta>) -> Vec<JoinHandle<()>> {
    let plain = watcher::Config::default();
    vec![
        super::watch::spawn(
            Api::<DynamicObject>::all_with(client.clone(), &resource("NodePool", "nodepools")),
            plain.clone(),
            Source::NodePools,
            tx.clone(),
            nodepool,
            Delta::NodePools,
        ),
        super::watch::spawn(
            Api::<DynamicObject>::all_with(client.clone(), &resource("NodeClaim", "nodeclaims")),
            plain,
            Source::NodeClaims,
            tx.clone(),
            nodeclaim,
            Delta::NodeClaims,
        ),
        tokio::spawn(follow_nominations(client.clone(), tx.clone())),
    ]
}

/// Karpenter's `Nominated` events on pods: which NodeClaim each pod waits for.
async fn follow_nominations(client: kube::Client, tx: mpsc::Sender<Delta>) {
    let api: Api<Event> = Api::all(client);
    let config = watcher::Config::default().fields("reason=Nominated");
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff().ready_chunks(256));
    while let Some(batch) = stream.next().await {
        let mut out = Vec::new();
        for item in batch {
            match item {
                Ok(watcher::Event::InitApply(e) | watcher::Event::Apply(e)) => {
                    let o = &e.involved_object;
                    if o.kind.as_deref() != Some("Pod") {
                        continue;
                    }
                    let Some(claim) = e.message.as_deref().and_then(nominated_claim) else {
                        continue;
                    };
                    let pod = format!(
                        "{}/{}",
                        o.namespace.as_deref().unwrap_or(""),
                        o.name.as_deref().unwrap_or("")
                    );
                    out.push((pod, claim.to_string()));
                }
                Ok(_) => {}
                // the warning-event watch already says when events cannot be seen
                Err(e) => tracing::debug!("watching Karpenter's nominations: {e}"),
            }
        }
        if !out.is_empty() && tx.send(Delta::Nominations(out)).await.is_err() {
            return;
        }
    }
}
