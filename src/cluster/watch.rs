//! The cockpit's eyes: one watch per kind (nodes, pods, warning events, PDBs,
//! Deployments, DaemonSets, StatefulSets, ReplicaSets, Services, EndpointSlices,
//! PersistentVolumeClaims and PersistentVolumes (the zones of volumes), and
//! Karpenter's kinds in `karpenter.rs`), each projected into compact records as it arrives and
//! sent to the cockpit's loop in batches, and a watch on the ConfigMap a lead
//! publishes the rollout to. Lists are paged, watches resume from their
//! resourceVersion and relist after `410 Gone`, errors back off and retry; nothing
//! is ever polled on a timer but the API server's version. Started through
//! [`ClusterReader::start`](super::ClusterReader::start).

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::component::PdbInfo;
use crate::model::service::{ServiceInfo, SliceInfo};
use crate::model::volume::{ClaimInfo, VolumeInfo};
use crate::model::workload::{Kind, WorkloadInfo};
use crate::model::{Change, Delta, Interner, LogEntry, NodeInfo, PodInfo, Source, SourceState};

/// How often the API server's version is asked (it changes when the control plane is upgraded).
const VERSION_EVERY: Duration = Duration::from_secs(15);
/// The most changes sent in one batch.
const BATCH: usize = 1024;

/// The running watches; dropping it stops them.
pub struct Watches {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    match &meta.namespace {
        Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or("")),
        None => meta.name.clone().unwrap_or_default(),
    }
}

/// What a failed watch means for the cockpit.
fn failure(e: &watcher::Error) -> SourceState {
    let api = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
        watcher::Error::WatchError(s) => Some(s.as_ref()),
        _ => None,
    };
    match api {
        Some(s) if s.code == 403 || s.code == 401 => SourceState::Forbidden(s.message.clone()),
        // a custom resource whose CRD is not installed: what it feeds is off
        Some(s) if s.code == 404 => SourceState::Absent,
        _ => SourceState::Failing(e.to_string()),
    }
}

/// Starts every watch on `client`; batches of changes go to `tx`.
pub(super) fn start(client: &kube::Client, tx: mpsc::Sender<Delta>) -> Watches {
    let c = client;
    let plain = watcher::Config::default();
    let tasks = vec![
        spawn(
            Api::<Node>::all(c.clone()),
            plain.clone(),
            Source::Nodes,
            tx.clone(),
            |n, s| Some(NodeInfo::from_node(n, s)),
            Delta::Nodes,
        ),
        spawn(
            Api::<Pod>::all(c.clone()),
            plain.clone(),
            Source::Pods,
            tx.clone(),
            |p, s| Some(PodInfo::from_pod(p, s)),
            Delta::Pods,
        ),
        spawn(
            Api::<Event>::all(c.clone()),
            plain.clone().fields("type=Warning"),
            Source::Events,
            tx.clone(),
            |e, _| Some(LogEntry::from_event(e)),
            Delta::Events,
        ),
        spawn(
            Api::<PodDisruptionBudget>::all(c.clone()),
            plain.clone(),
            Source::Pdbs,
            tx.clone(),
            |p, _| Some(PdbInfo::from_pdb(p)),
            Delta::Pdbs,
        ),
        spawn(
            Api::<Deployment>::all(c.clone()),
            plain.clone(),
            Source::Deployments,
            tx.clone(),
            WorkloadInfo::from_deployment,
            |c| Delta::Workloads(Kind::Deployment, c),
        ),
        spawn(
            Api::<DaemonSet>::all(c.clone()),
            plain.clone(),
            Source::DaemonSets,
            tx.clone(),
            WorkloadInfo::from_daemonset,
            |c| Delta::Workloads(Kind::DaemonSet, c),
        ),
        spawn(
            Api::<StatefulSet>::all(c.clone()),
            plain.clone(),
            Source::StatefulSets,
            tx.clone(),
            WorkloadInfo::from_statefulset,
            |c| Delta::Workloads(Kind::StatefulSet, c),
        ),
        spawn(
            Api::<ReplicaSet>::all(c.clone()),
            plain.clone(),
            Source::ReplicaSets,
            tx.clone(),
            WorkloadInfo::from_replicaset,
            |c| Delta::Workloads(Kind::ReplicaSet, c),
        ),
        spawn(
            Api::<Service>::all(c.clone()),
            plain.clone(),
            Source::Services,
            tx.clone(),
            ServiceInfo::from_service,
            Delta::Services,
        ),
        spawn(
            Api::<EndpointSlice>::all(c.clone()),
            plain.clone(),
            Source::EndpointSlices,
            tx.clone(),
            SliceInfo::from_slice,
            Delta::EndpointSlices,
        ),
        spawn(
            Api::<PersistentVolumeClaim>::all(c.clone()),
            plain.clone(),
            Source::PersistentVolumeClaims,
            tx.clone(),
            ClaimInfo::from_claim,
            Delta::PersistentVolumeClaims,
        ),
        spawn(
            Api::<PersistentVolume>::all(c.clone()),
            plain,
            Source::PersistentVolumes,
            tx.clone(),
            VolumeInfo::from_volume,
            Delta::PersistentVolumes,
        ),
        tokio::spawn(follow_version(c.clone(), tx.clone())),
    ];
    let mut tasks = tasks;
    tasks.extend(super::karpenter::start(c, &tx));
    tasks.push(tokio::spawn(follow_rollout(c.clone(), tx)));
    Watches { tasks }
}

async fn follow_version(client: kube::Client, tx: mpsc::Sender<Delta>) {
    loop {
        match client.apiserver_version().await.map(|v| v.git_version) {
            Ok(v) => {
                if tx.send(Delta::ServerVersion(v)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!("asking the API server's version: {e}"),
        }
        tokio::time::sleep(VERSION_EVERY).await;
    }
}

/// Follows the ConfigMap a driving cockpit publishes its rollout to (a watch on that
/// one object, by a field selector on its name).
async fn follow_rollout(client: kube::Client, tx: mpsc::Sender<Delta>) {
    use crate::model::rollout::{CONFIGMAP, NAMESPACE, Published};
    use k8s_openapi::api::core::v1::ConfigMap;
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP}"));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(item) = stream.next().await {
        let delta = match item {
            Ok(watcher::Event::InitApply(cm) | watcher::Event::Apply(cm)) => {
                Delta::Rollout(Published::from_config_map(&cm).map(Box::new))
            }
            Ok(watcher::Event::Delete(_)) => Delta::Rollout(None),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("watching the rollout's ConfigMap: {e}");
                continue;
            }
        };
        if tx.send(delta).await.is_err() {
            return;
        }
    }
}

/// One watch: projects each object with `project` and sends batches wrapped by `wrap`.
pub(super) fn spawn<K, T>(
    api: Api<K>,
    config: watcher::Config,
    source: Source,
    tx: mpsc::Sender<Delta>,
    project: fn(&K, &mut Interner) -> Option<T>,
    wrap: fn(Vec<Change<T>>) -> Delta,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(async move {
        let mut strings = Interner::default();
        let mut state = SourceState::Syncing;
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff().ready_chunks(BATCH));
        while let Some(batch) = stream.next().await {
            let mut changes = Vec::with_capacity(batch.len());
            let mut next_state = None;
            for item in batch {
                match item {
                    Ok(watcher::Event::Init) => {
                        changes.push(Change::InitStart);
                        // a relist: strings of objects gone since the last one can go
                        strings.prune();
                    }
                    Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => {
                        let key = key_of(o.meta());
                        match project(&o, &mut strings) {
                            Some(v) => changes.push(Change::Upsert(key, v)),
                            // no longer of interest (a Deployment that stopped being a component)
                            None => changes.push(Change::Delete(key)),
                        }
                        if matches!(state, SourceState::Failing(_)) {
                            next_state = Some(SourceState::Synced);
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => changes.push(Change::Delete(key_of(o.meta()))),
                    Ok(watcher::Event::InitDone) => {
                        changes.push(Change::InitDone);
                        next_state = Some(SourceState::Synced);
                    }
                    Err(e) => {
                        let f = failure(&e);
                        if f == SourceState::Absent {
                            tracing::debug!(source = source.resource(), "not served: {e}");
                        } else {
                            tracing::warn!(source = source.resource(), "watch: {e}");
                        }
                        next_state = Some(f);
                    }
                }
            }
            if !changes.is_empty() && tx.send(wrap(changes)).await.is_err() {
                return;
            }
            if let Some(s) = next_state.filter(|s| *s != state) {
                state = s.clone();
                if tx.send(Delta::Source(source, s)).await.is_err() {
                    return;
                }
            }
        }
    })
}
