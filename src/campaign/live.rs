//! Reading a campaign's clusters, read-only: the control plane's version and the
//! rollout a drive published (ConfigMap kube-system/upshift-rollout) through a
//! `ClusterReader`, and the drive's journal from its file. What cannot be read is
//! said, not fatal: a status still shows what the journals say.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;

use super::file::{Campaign, Cluster};
use super::next::States;
use super::state::{Observed, judge};
use crate::cluster::{ClusterReader, connect};
use crate::model::rollout::{CONFIGMAP, NAMESPACE, Published};

/// How long a cluster may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A reader for the cluster's context, or why there is none.
pub async fn reader(cluster: &Cluster) -> Result<ClusterReader, String> {
    let connecting = connect(cluster.kubeconfig.as_deref(), Some(&cluster.context));
    match tokio::time::timeout(TIMEOUT, connecting).await {
        Ok(Ok((client, _))) => Ok(ClusterReader::new(client)),
        Ok(Err(crate::cluster::ConnectError::NoKubeconfig)) => Err(format!(
            "no kubeconfig found for context {:?}: give the cluster's `kubeconfig:` in the campaign file, set KUBECONFIG, or create ~/.kube/config",
            cluster.context
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "context {:?} did not connect within {}s",
            cluster.context,
            TIMEOUT.as_secs()
        )),
    }
}

/// The control plane's version through `reader`, or why not.
pub async fn version(reader: &ClusterReader, cluster: &Cluster) -> Result<String, String> {
    match tokio::time::timeout(TIMEOUT, reader.server_version()).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!(
            "context {:?}: the API server did not tell its version: {}",
            cluster.context,
            crate::cluster::connect::said(&e)
        )),
        Err(_) => Err(format!(
            "context {:?}: the API server did not answer within {}s",
            cluster.context,
            TIMEOUT.as_secs()
        )),
    }
}

/// Everything read of one cluster: the cluster itself unless `offline`, the journal
/// and the plan's length from their files.
pub async fn observe(cluster: &Cluster, offline: bool) -> Observed {
    let mut o = Observed::default();
    if cluster.journal.exists() {
        match crate::report::read::read(&cluster.journal) {
            Ok(loaded) => o.journal = loaded.entries,
            Err(e) => o.unreadable.push(e.to_string()),
        }
    }
    if let Some(plan) = &cluster.plan
        && let Ok(p) = crate::rollout::plan::Plan::load(plan)
    {
        o.plan_steps = Some(p.steps.len());
    }
    if offline {
        return o;
    }
    let reader = match reader(cluster).await {
        Ok(r) => r,
        Err(e) => {
            o.unreadable.push(e);
            return o;
        }
    };
    match version(&reader, cluster).await {
        Ok(v) => o.version = Some(v),
        Err(e) => {
            o.unreadable.push(e);
            return o;
        }
    }
    let get = reader.get::<ConfigMap>(NAMESPACE, CONFIGMAP);
    match tokio::time::timeout(TIMEOUT, get).await {
        Ok(Ok(Some(cm))) => o.published = Published::from_config_map(&cm).map(|p| p.state),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => o.unreadable.push(format!(
            "context {:?}: ConfigMap {NAMESPACE}/{CONFIGMAP} not read: {} (it takes get on that ConfigMap)",
            cluster.context,
            crate::cluster::connect::said(&e)
        )),
        Err(_) => o.unreadable.push(format!(
            "context {:?}: ConfigMap {NAMESPACE}/{CONFIGMAP} not read within {}s",
            cluster.context,
            TIMEOUT.as_secs()
        )),
    }
    o
}

/// Every cluster's state, the clusters read at the same time.
pub async fn states(campaign: &Campaign, offline: bool) -> States {
    let target = campaign.target.to_string();
    let reads = campaign
        .clusters()
        .map(|(_, c)| async move { (c.name.clone(), observe(c, offline).await) });
    futures::future::join_all(reads)
        .await
        .into_iter()
        .map(|(name, o)| (name, judge(&o, &target)))
        .collect()
}

/// The time on the campaign's clusters: the first that answers tells it (the
/// `Date` of its API server's answer), so windows and soaks are judged on the
/// clusters' clock, as the drive's gates are. None when none answers.
pub async fn cluster_now(campaign: &Campaign) -> Option<jiff::Timestamp> {
    for (_, c) in campaign.clusters() {
        let connecting = connect(c.kubeconfig.as_deref(), Some(&c.context));
        let Ok(Ok((client, connection))) = tokio::time::timeout(TIMEOUT, connecting).await else {
            continue;
        };
        let reader = ClusterReader::new(client);
        if let Ok(Ok(_)) = tokio::time::timeout(TIMEOUT, reader.server_version()).await {
            return Some(connection.clock.now());
        }
    }
    None
}
