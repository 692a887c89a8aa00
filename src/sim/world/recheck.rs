//! Controllers that must look again later: a pod counts as available only once it
//! has been Ready for its controller's `minReadySeconds`, so nothing changes at
//! that moment but time; the Endpoints controller gathers a second of pod changes.
//! One timer per controller, object and moment.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::kubelet::is_ready;
use super::{Timer, World};

/// A controller that must look again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Controller {
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    /// The Endpoints controller, which writes a Service's Endpoints once for the
    /// pod changes of a virtual second.
    Endpoints,
}

/// Timers already set, so repeated passes do not pile them up.
#[derive(Default)]
pub struct Rechecks {
    pending: HashMap<(Controller, String), Timestamp>,
}

/// When `pod` became Ready (its Ready condition's transition), if it is Ready.
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    if !is_ready(pod) {
        return None;
    }
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH)
        })
}

/// When a Ready pod becomes available: Ready for `min_ready` seconds. None if not Ready.
pub fn available_at(pod: &Pod, min_ready: i32) -> Option<Timestamp> {
    let since = ready_since(pod)?;
    Some(
        since
            .checked_add(jiff::SignedDuration::from_secs(i64::from(min_ready.max(0))))
            .unwrap_or(since),
    )
}

/// Whether `pod` is available at `now`, as `podutil.IsPodAvailable` decides.
pub fn is_available(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    if min_ready <= 0 {
        return is_ready(pod);
    }
    available_at(pod, min_ready).is_some_and(|t| t <= now)
}

/// Makes the controller look at `key` again at `when` (if no earlier look is due).
pub fn at(w: &mut World, controller: Controller, key: &str, when: Timestamp) {
    if when <= w.now {
        return;
    }
    let slot = (controller, key.to_string());
    if let Some(t) = w.rechecks.pending.get(&slot)
        && *t > w.now
        && *t <= when
    {
        return;
    }
    w.rechecks.pending.insert(slot, when);
    let secs = when.duration_since(w.now).as_secs_f64();
    w.schedule(
        secs,
        Timer::Recheck {
            controller,
            key: key.to_string(),
        },
    );
}

/// A recheck is due: the controller looks at the object again.
pub fn fire(w: &mut World, controller: Controller, key: &str) {
    let slot = (controller, key.to_string());
    if w.rechecks.pending.get(&slot).is_some_and(|t| *t <= w.now) {
        w.rechecks.pending.remove(&slot);
    }
    let key = key.to_string();
    match controller {
        Controller::ReplicaSet => w.dirty.replicasets.insert(key),
        Controller::DaemonSet => w.dirty.daemonsets.insert(key),
        Controller::StatefulSet => w.dirty.statefulsets.insert(key),
        Controller::Endpoints => {
            super::endpoints::endpoints_due(w, &key);
            false
        }
    };
}

/// Counts the available pods among `pods` and, if some are Ready but not yet
/// available, makes `controller` look at `key` again when the first becomes so.
pub fn count_available<'a>(
    w: &mut World,
    controller: Controller,
    key: &str,
    min_ready: i32,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> i32 {
    let now = w.now;
    let mut available = 0;
    let mut next: Option<Timestamp> = None;
    for p in pods {
        if min_ready <= 0 {
            available += i32::from(is_ready(p));
            continue;
        }
        match available_at(p, min_ready) {
            Some(t) if t <= now => available += 1,
            Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
            None => {}
        }
    }
    if let Some(t) = next {
        at(w, controller, key, t);
    }
    available
}
