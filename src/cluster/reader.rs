//! [`ClusterReader`]: everything upshift reads from a cluster goes through it, and it
//! has no method that writes. The watch cockpit, preflight and plan discovery are
//! built from a reader alone, so that they cannot change the cluster by type, not by
//! care. The writes a rollout makes take a client of their own, in `rollout`.

use std::fmt::Debug;

use kube::api::{Api, ListParams, ObjectList};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::watch::{self, Watches};
use crate::model::Delta;

/// How many objects one page of a paged list asks for.
pub const PAGE: u32 = 500;

/// Reads a cluster; cannot write to it.
#[derive(Clone)]
pub struct ClusterReader {
    pub(super) client: kube::Client,
}

impl ClusterReader {
    pub fn new(client: kube::Client) -> ClusterReader {
        ClusterReader { client }
    }

    /// The API server's version, e.g. `v1.30.5-eks-ce1d5eb`.
    pub async fn server_version(&self) -> Result<String, kube::Error> {
        self.client.apiserver_version().await.map(|v| v.git_version)
    }

    /// Every object of a kind (in all namespaces), [`PAGE`] at a time, keeping only
    /// what `keep` takes from each (so 150,000 pods never sit in memory as whole
    /// objects).
    pub async fn list_all<K, T>(&self, mut keep: impl FnMut(&K) -> T) -> Result<Vec<T>, kube::Error>
    where
        K: kube::Resource + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut out = Vec::new();
        let mut lp = ListParams::default().limit(PAGE);
        loop {
            let page = api.list(&lp).await?;
            out.extend(page.items.iter().map(&mut keep));
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => return Ok(out),
            }
        }
    }

    /// One list of a kind in all namespaces, as `params` select it (a label
    /// selector, a field selector, a limit).
    pub async fn list<K>(&self, params: &ListParams) -> Result<ObjectList<K>, kube::Error>
    where
        K: kube::Resource + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        Api::<K>::all(self.client.clone()).list(params).await
    }

    /// Every object of a custom kind (cluster-scoped or in all namespaces), [`PAGE`]
    /// at a time, as untyped objects: `Err` 404 when its CRD is not installed.
    pub async fn list_dynamic(
        &self,
        resource: &kube::api::ApiResource,
    ) -> Result<Vec<kube::api::DynamicObject>, kube::Error> {
        let api: Api<kube::api::DynamicObject> = Api::all_with(self.client.clone(), resource);
        let mut out = Vec::new();
        let mut lp = ListParams::default().limit(PAGE);
        loop {
            let page = api.list(&lp).await?;
            out.extend(page.items);
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => return Ok(out),
            }
        }
    }

    /// One namespaced object by name; None when there is none.
    pub async fn get<K>(&self, namespace: &str, name: &str) -> Result<Option<K>, kube::Error>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        Api::<K>::namespaced(self.client.clone(), namespace).get_opt(name).await
    }

    /// Starts every watch the cockpit follows; batches of changes go to `tx`.
    pub fn start(&self, tx: mpsc::Sender<Delta>) -> Watches {
        watch::start(&self.client, tx)
    }
}
