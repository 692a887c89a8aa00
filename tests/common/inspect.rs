//! A typed look into the simulated world, for tests that check what the cluster or
//! the cloud holds behind the API: the virtual clock, nodes by label, pods by node,
//! an Auto Scaling group's tags. One lock per question.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use upshift::sim::Simulator;
use upshift::sim::clock::Clock;

pub trait Inspect {
    /// The world's virtual clock.
    fn clock(&self) -> Clock;
    /// The virtual time now.
    fn now(&self) -> Timestamp;
    fn node_count(&self) -> usize;
    fn pod_count(&self) -> usize;
    /// The nodes whose label `key` is `value`, by name.
    fn nodes_labelled(&self, key: &str, value: &str) -> Vec<Node>;
    /// The pods on `node`: `namespace/name`.
    fn pods_on(&self, node: &str) -> Vec<String>;
    /// Every pod, as the world holds it.
    fn pods(&self) -> Vec<Pod>;
    /// Whether the pod `namespace/name` exists.
    fn has_pod(&self, key: &str) -> bool;
    /// Every pod's `namespace/name`.
    fn pod_keys(&self) -> BTreeSet<String>;
    /// The nodes the pods labelled `app=<app>` run on, in the pods' order.
    fn nodes_running(&self, app: &str) -> Vec<String>;
    /// The node the pod `namespace/name` runs on.
    fn node_of(&self, pod: &str) -> Option<String>;
    /// The value of tag `key` on Auto Scaling group `group`.
    fn group_tag(&self, group: &str, key: &str) -> Option<String>;
    /// The status of each instance refresh the simulated Auto Scaling ran, oldest first.
    fn refresh_statuses(&self) -> Vec<String>;
    /// Pods that died with their node's instance, never evicted: how many, and the latest.
    fn pods_lost(&self) -> (u64, Vec<String>);
    /// The names of the lifecycle hooks on Auto Scaling group `asg`.
    fn hook_names(&self, asg: &str) -> Vec<String>;
    /// What the simulated termination handler did: (evictions, evictions refused, actions completed).
    fn handler_stats(&self) -> (u64, u64, u64);
    /// The instances waiting in a lifecycle action.
    fn waiting_instances(&self) -> Vec<String>;
}

fn label<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

impl Inspect for Simulator {
    fn clock(&self) -> Clock {
        self.world().lock().clock.clone()
    }

    fn now(&self) -> Timestamp {
        self.world().lock().clock.now()
    }

    fn node_count(&self) -> usize {
        self.world().lock().nodes.len()
    }

    fn pod_count(&self) -> usize {
        self.world().lock().pods.len()
    }

    fn nodes_labelled(&self, key: &str, value: &str) -> Vec<Node> {
        let w = self.world();
        let w = w.lock();
        let mut nodes: Vec<Node> = w
            .nodes
            .items()
            .values()
            .filter(|n| label(&n.metadata, key) == Some(value))
            .map(|n| (**n).clone())
            .collect();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        nodes
    }

    fn pods_on(&self, node: &str) -> Vec<String> {
        let w = self.world();
        let w = w.lock();
        w.pods
            .items()
            .iter()
            .filter(|(_, p)| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn pods(&self) -> Vec<Pod> {
        self.world()
            .lock()
            .pods
            .items()
            .values()
            .map(|p| (**p).clone())
            .collect()
    }

    fn has_pod(&self, key: &str) -> bool {
        self.world().lock().pods.items().contains_key(key)
    }

    fn pod_keys(&self) -> BTreeSet<String> {
        self.world().lock().pods.items().keys().cloned().collect()
    }

    fn nodes_running(&self, app: &str) -> Vec<String> {
        let w = self.world();
        let w = w.lock();
        w.pods
            .items()
            .values()
            .filter(|p| label(&p.metadata, "app") == Some(app))
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect()
    }

    fn node_of(&self, pod: &str) -> Option<String> {
        let w = self.world();
        let w = w.lock();
        w.pods.items().get(pod).and_then(|p| p.spec.as_ref()?.node_name.clone())
    }

    fn group_tag(&self, group: &str, key: &str) -> Option<String> {
        let w = self.world();
        let w = w.lock();
        w.aws
            .refresh
            .tags
            .get(group)
            .and_then(|t| t.get(key))
            .map(|(v, _)| v.clone())
    }

    fn refresh_statuses(&self) -> Vec<String> {
        let w = self.world();
        let w = w.lock();
        w.aws
            .refresh
            .refreshes
            .iter()
            .map(|r| r.status.as_str().to_string())
            .collect()
    }

    fn pods_lost(&self) -> (u64, Vec<String>) {
        let w = self.world();
        let w = w.lock();
        let l = &w.aws.lifecycle.pods_lost;
        (l.count, l.recent.clone())
    }

    fn hook_names(&self, asg: &str) -> Vec<String> {
        let w = self.world();
        let w = w.lock();
        w.aws
            .lifecycle
            .hooks
            .iter()
            .filter(|h| h.asg == asg)
            .map(|h| h.name.clone())
            .collect()
    }

    fn handler_stats(&self) -> (u64, u64, u64) {
        let w = self.world();
        let w = w.lock();
        let s = &w.aws.nth.stats;
        (s.evictions, s.refused, s.completed)
    }

    fn waiting_instances(&self) -> Vec<String> {
        let w = self.world();
        let w = w.lock();
        let mut ids: Vec<String> = w.aws.lifecycle.actions.iter().map(|a| a.instance.clone()).collect();
        ids.dedup();
        ids
    }
}
