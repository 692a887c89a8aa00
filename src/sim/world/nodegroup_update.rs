//! EKS's managed node group version update (`UpdateNodegroupVersion`): the group
//! surges on the new version, then up to `maxUnavailable` old nodes at a time are
//! cordoned, drained through the eviction API's budget rules (failing with
//! `PodEvictionFailure` after 15 minutes of refusals, unless forced) and terminated
//! a minute after they are empty; at the end the group shrinks back to its size.

use jiff::Timestamp;

use super::eks::{
    AwsError, EVICTION_TIMEOUT_SECS, TERMINATE_DELAY_SECS, Update, UpdateError, UpdateStatus, UpdateTarget, cordon,
    daemon_pod, in_progress, managed_group, minor_number, new_update, release_version, update_mut, wake,
};
use super::nodes::InstanceState;
use super::{World, lifecycle};

/// Progress of a managed node group version update.
#[derive(Clone, Debug)]
pub struct NodegroupRollout {
    pub update_id: String,
    pub group: String,
    pub from: String,
    pub to: String,
    pub force: bool,
    pub surge: u32,
    pub original_desired: u32,
    pub original_max: u32,
    /// Instances still on the old version when the update started.
    pub old: Vec<String>,
    /// How many old nodes are replaced at a time (the group's `updateConfig`).
    pub max_unavailable: u32,
    /// The instances being drained: when evictions were first refused (and not
    /// since allowed), when each became empty.
    pub draining: Vec<Drain>,
}

#[derive(Clone, Debug)]
pub struct Drain {
    pub instance: String,
    pub node: String,
    pub refused_since: Option<Timestamp>,
    pub empty_since: Option<Timestamp>,
    pub last_refusal: Option<String>,
}

/// `UpdateNodegroupVersion`: surge, cordon, drain respecting PDBs, terminate.
pub fn update_nodegroup_version(
    w: &mut World,
    group: &str,
    version: Option<&str>,
    force: bool,
) -> Result<Update, AwsError> {
    let Some(gi) = managed_group(w, group) else {
        return Err(AwsError::not_found(format!("No node group found for name: {group}.")));
    };
    let target = UpdateTarget::Nodegroup(group.to_string());
    if w.groups[gi].managed.life != super::nodes::GroupLife::Active {
        return Err(AwsError::in_use(format!(
            "Nodegroup {group} cannot be updated while it is being created or deleted"
        )));
    }
    if in_progress(w, &target) {
        return Err(AwsError::in_use(format!(
            "Nodegroup {group} cannot be updated while an update is in progress"
        )));
    }
    if w.aws.cluster_updating {
        return Err(AwsError::in_use(format!(
            "Nodegroup {group} cannot be updated while the cluster's control plane is updating"
        )));
    }
    let to = version.map(str::to_string).unwrap_or_else(|| w.cluster.version.clone());
    let from = w.groups[gi].version.clone();
    if minor_number(&to) > minor_number(&w.cluster.version) || minor_number(&to).is_none() {
        return Err(AwsError::invalid(format!(
            "Requested Nodegroup version {to} is invalid: it must not be newer than the cluster's version {}",
            w.cluster.version
        )));
    }
    if let Some(why) = super::nodegroups::ami_refused(w.groups[gi].managed.ami_type.as_deref(), &to) {
        return Err(AwsError::invalid(why));
    }
    if minor_number(&to) < minor_number(&from) {
        return Err(AwsError::invalid(format!(
            "Requested Nodegroup version {to} is older than the node group's version {from}"
        )));
    }
    let u = new_update(
        w,
        target,
        "VersionUpdate",
        vec![
            ("Version".into(), to.clone()),
            ("ReleaseVersion".into(), release_version(&to)),
        ],
    );
    let g = &mut w.groups[gi];
    let old: Vec<String> = g
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating && i.version != to)
        .map(|i| i.id.clone())
        .collect();
    let zones = g.zones.len().max(1) as u32;
    let max_unavailable = match (g.managed.max_unavailable, g.managed.max_unavailable_percentage) {
        (Some(n), _) => n,
        (None, Some(p)) => (old.len() as u32 * p).div_ceil(100),
        (None, None) => 1,
    }
    .max(1);
    // EKS scales up by max(2 × zones, maxUnavailable), at most the nodes it replaces
    let surge = (2 * zones).max(max_unavailable).min(old.len() as u32);
    let rollout = NodegroupRollout {
        update_id: u.id.clone(),
        group: group.to_string(),
        from,
        to: to.clone(),
        force,
        surge,
        original_desired: g.desired,
        original_max: g.max,
        old,
        max_unavailable,
        draining: Vec::new(),
    };
    g.version = to;
    g.desired += surge;
    g.max = g.max.max(g.desired);
    w.dirty.node_groups = true;
    w.aws.rollouts.push(rollout);
    wake(w);
    Ok(u)
}

fn group_index(w: &World, name: &str) -> Option<usize> {
    w.groups.iter().position(|g| g.name == name)
}

/// Whether every live instance not in `old` is in service with a Ready node.
fn new_nodes_ready(w: &World, gi: usize, old: &[String]) -> bool {
    w.groups[gi]
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminating && !old.contains(&i.id))
        .all(|i| {
            i.state == InstanceState::InService
                && w.nodes
                    .get(&i.node_name)
                    .is_some_and(|n| super::scheduler::node_ready(n))
        })
}

/// Moves one node group update on by a pass.
pub fn step_rollout(w: &mut World, id: &str) {
    let Some(ri) = w.aws.rollouts.iter().position(|r| r.update_id == id) else {
        return;
    };
    let r = w.aws.rollouts[ri].clone();
    let Some(gi) = group_index(w, &r.group) else {
        w.aws.rollouts.remove(ri);
        return;
    };
    // surge first: the new nodes must be Ready before any old one is drained
    if !new_nodes_ready(w, gi, &r.old) {
        return;
    }
    let mut draining = r.draining.clone();
    // up to maxUnavailable old nodes are cordoned and drained at once
    let alive_old: Vec<String> = r
        .old
        .iter()
        .filter(|id| {
            w.groups[gi]
                .instances
                .iter()
                .any(|i| &&i.id == id && i.state != InstanceState::Terminating)
        })
        .cloned()
        .collect();
    for inst in &alive_old {
        if draining.len() >= r.max_unavailable as usize {
            break;
        }
        if draining.iter().any(|d| &d.instance == inst) {
            continue;
        }
        let node = w.groups[gi]
            .instances
            .iter()
            .find(|i| &i.id == inst)
            .map(|i| i.node_name.clone())
            .unwrap_or_default();
        cordon(w, &node);
        draining.push(Drain {
            instance: inst.clone(),
            node,
            refused_since: None,
            empty_since: None,
            last_refusal: None,
        });
    }
    if draining.is_empty() {
        finish_rollout(w, ri, UpdateStatus::Successful, None);
        return;
    }
    let now = w.now;
    let mut keep = Vec::new();
    for mut drain in draining {
        // evict what is left on the node (DaemonSet pods stay, as with kubectl drain)
        let pods: Vec<String> = w
            .idx
            .pods_by_node
            .get(&drain.node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut remaining = 0;
        let mut refused = None;
        for key in pods {
            let Some(pod) = w.pods.get(&key).cloned() else { continue };
            if daemon_pod(&pod) || super::kubelet::is_terminal(&pod) {
                continue;
            }
            remaining += 1;
            if super::kubelet::is_terminating(&pod) {
                continue;
            }
            match w.evict(&key, None) {
                super::EvictionVerdict::Evicted | super::EvictionVerdict::NotFound => {}
                super::EvictionVerdict::Blocked { pdb, cause } => {
                    if r.force {
                        super::gc::delete_pod(w, &key, None);
                    } else {
                        refused = Some(format!("pod {key}: PodDisruptionBudget {pdb}: {cause}"));
                    }
                }
                super::EvictionVerdict::MultiplePdbs => {
                    if r.force {
                        super::gc::delete_pod(w, &key, None);
                    } else {
                        refused = Some(format!("pod {key}: more than one PodDisruptionBudget covers it"));
                    }
                }
            }
        }
        match &refused {
            Some(why) => {
                let since = *drain.refused_since.get_or_insert(now);
                drain.last_refusal = Some(why.clone());
                if now.duration_since(since).as_secs() >= EVICTION_TIMEOUT_SECS {
                    let err = UpdateError {
                        code: "PodEvictionFailure".into(),
                        message: format!(
                            "Reached max retries while trying to evict pods from nodes in node group {}",
                            r.group
                        ),
                        resource_ids: vec![drain.node.clone()],
                    };
                    keep.push(drain);
                    w.aws.rollouts[ri].draining = keep;
                    finish_rollout(w, ri, UpdateStatus::Failed, Some(err));
                    return;
                }
            }
            None => drain.refused_since = None,
        }
        if remaining == 0 {
            let empty = *drain.empty_since.get_or_insert(now);
            if now.duration_since(empty).as_secs() >= TERMINATE_DELAY_SECS {
                // the last `surge` old instances are not replaced: the group shrinks back
                let left = r
                    .old
                    .iter()
                    .filter(|id| {
                        w.groups[gi]
                            .instances
                            .iter()
                            .any(|i| &&i.id == id && i.state != InstanceState::Terminating)
                    })
                    .count() as u32;
                let replace = left > r.surge;
                lifecycle::terminate(w, &drain.instance, replace);
                continue;
            }
        }
        keep.push(drain);
    }
    w.aws.rollouts[ri].draining = keep;
}

fn finish_rollout(w: &mut World, ri: usize, status: UpdateStatus, error: Option<UpdateError>) {
    let r = w.aws.rollouts.remove(ri);
    if let Some(gi) = group_index(w, &r.group) {
        let g = &mut w.groups[gi];
        if status == UpdateStatus::Successful {
            g.desired = r.original_desired;
            g.max = r.original_max.max(g.desired);
        } else {
            // the node group stays on its version; instances already replaced stay
            g.version = r.from.clone();
        }
        w.dirty.node_groups = true;
    }
    if let Some(u) = update_mut(w, &r.update_id) {
        u.status = status;
        u.errors.extend(error);
    }
}
