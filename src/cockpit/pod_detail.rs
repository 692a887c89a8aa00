//! The containers and logs of the pod whose detail is open: asked for when the
//! detail opens (never while drawing), read by the loop in a task of its own, and
//! kept here until another pod's detail opens.

use super::Cockpit;
use crate::cluster::pod_detail::PodDetail;

/// Where the read of a pod's containers and logs stands.
#[derive(Clone, Debug, PartialEq)]
pub enum PodFetch {
    /// The detail opened; the loop has not started the read yet.
    Asked(String),
    /// The read is under way.
    Reading(String),
    Read(Box<PodDetail>),
    /// The pod could not be read (its logs failing are said in the detail itself).
    Failed {
        key: String,
        why: String,
    },
}

impl PodFetch {
    /// The pod (`namespace/name`) it is about.
    pub fn key(&self) -> &str {
        match self {
            PodFetch::Asked(k) | PodFetch::Reading(k) | PodFetch::Failed { key: k, .. } => k,
            PodFetch::Read(d) => &d.key,
        }
    }
}

impl Cockpit {
    /// The detail of pod `key` opened: its containers and logs are to be read (again).
    pub fn ask_pod_detail(&mut self, key: &str) {
        self.pod_detail = Some(PodFetch::Asked(key.to_string()));
        self.dirty = true;
    }

    /// The pod whose read the loop is to start now, if one was asked for; from now
    /// on the read is under way.
    pub fn take_pod_request(&mut self) -> Option<String> {
        match &self.pod_detail {
            Some(PodFetch::Asked(k)) => {
                let key = k.clone();
                self.pod_detail = Some(PodFetch::Reading(key.clone()));
                Some(key)
            }
            _ => None,
        }
    }

    /// The read of pod `key` ended. A result for a pod no longer asked about is dropped.
    pub fn pod_detail_read(&mut self, key: &str, result: Result<PodDetail, String>) {
        if self.pod_detail.as_ref().map(PodFetch::key) != Some(key) {
            return;
        }
        self.pod_detail = Some(match result {
            Ok(d) => PodFetch::Read(Box::new(d)),
            Err(why) => PodFetch::Failed {
                key: key.to_string(),
                why,
            },
        });
        self.dirty = true;
    }

    /// What is known of pod `key`'s containers and logs.
    pub fn pod_fetch(&self, key: &str) -> Option<&PodFetch> {
        self.pod_detail.as_ref().filter(|f| f.key() == key)
    }
}
