//! The postflight step and the rollout's verdict. It waits while old nodes are still
//! leaving, then names every open problem: the control plane off the target, nodes
//! left on an older kubelet (the skipped ones by name), critical components on a
//! version preflight's tables say does not support the target or not available,
//! workloads and Services not back at their availability from before the rollout,
//! node groups whose size changed, nodes left cordoned, and pods with no controller
//! that are gone. "Done" is plain only when there is none.

use super::{Progress, StepError};
use crate::cloud::CloudRead;
use crate::cluster::ClusterReader;
use crate::model::Health;
use crate::model::baseline::Baseline;
use crate::preflight::{self, Severity};
use crate::units::Minor;

/// What the verdict is judged from, besides the cloud and the cluster.
pub struct VerdictInput<'a> {
    pub target: &'a str,
    pub health: &'a Health,
    /// The cluster when the rollout began.
    pub start: &'a Baseline,
    /// Nodes the lead chose to skip (left on the old minor).
    pub skipped: &'a [String],
    /// Node groups whose step the lead skipped: their nodes stay on the old minor,
    /// named as open problems and not waited for.
    pub skipped_groups: &'a [String],
    /// Critical components preflight's tables say fall short of the target:
    /// "cluster-autoscaler kube-system/cluster-autoscaler is v1.30.2; 1.31 needs …".
    pub components: &'a [String],
}

/// Every open problem, named. Pure.
pub fn problems(i: &VerdictInput) -> Vec<String> {
    let h = i.health;
    let mut out = Vec::new();
    for n in i.skipped {
        out.push(format!("node {n} was skipped and is not on {}", i.target));
    }
    for g in i.skipped_groups {
        let (old, _) = h.group_counts(g, i.target);
        if old > 0 {
            out.push(format!("node group {g} was skipped: {old} node(s) not on {}", i.target));
        }
    }
    let old = old_outside(h, i.target, i.skipped_groups);
    if old as usize > i.skipped.len() {
        out.push(format!(
            "{} node(s) not on {} besides the skipped ones",
            old as usize - i.skipped.len(),
            i.target
        ));
    }
    for c in i.components {
        out.push(format!("component {c}"));
    }
    for c in h.components.iter().filter(|c| c.available < c.desired) {
        out.push(format!(
            "component {} not available: {}/{}",
            c.name, c.available, c.desired
        ));
    }
    for w in &h.workloads {
        if !i.start.back(&w.id, w.available, w.desired) {
            let before = match i.start.available(&w.id) {
                Some(a) => format!("{a} before the rollout"),
                None => "all before the rollout".to_string(),
            };
            let why = if w.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", w.reason)
            };
            out.push(format!(
                "{} {}/{} available ({before}){why}",
                w.id, w.available, w.desired
            ));
        }
    }
    for s in h.services_down.iter().filter(|s| !i.start.services_down.contains(s)) {
        out.push(format!("Service {s} has no ready endpoint"));
    }
    for (g, before) in &i.start.groups {
        let now: u32 = h.groups.get(g).map_or(0, |m| m.values().sum());
        if now != *before {
            out.push(format!("node group {g} has {now} nodes, {before} before the rollout"));
        }
    }
    for n in &h.cordoned {
        out.push(format!("node {n} is left cordoned"));
    }
    for p in &i.start.ownerless {
        if !h.ownerless.iter().any(|o| &o.pod == p) {
            out.push(format!("pod {p} had no controller and is gone"));
        }
    }
    out
}

/// Nodes not on `target`, outside the node groups whose step was skipped.
fn old_outside(h: &Health, target: &str, skipped_groups: &[String]) -> u32 {
    h.groups
        .keys()
        .filter(|g| !skipped_groups.contains(g))
        .map(|g| h.group_counts(g, target).0)
        .sum()
}

/// What preflight's component check says of the cluster on `target` now: each
/// critical component on a version that falls short of the target.
pub async fn components_short(reader: &ClusterReader, target: &str) -> Result<Vec<String>, String> {
    let snapshot = preflight::gather::gather(reader)
        .await
        .map_err(|e| format!("reading the cluster for the verdict: {e}"))?;
    let tables = preflight::tables::Tables::load(None).map_err(|e| e.to_string())?;
    let (findings, _) = preflight::components::check(&snapshot, target, &tables.components);
    Ok(findings
        .into_iter()
        .filter(|f| f.severity != Severity::Info)
        // a gap in the table is not a finding about the component
        .filter(|f| !f.title.starts_with("The component table"))
        .map(|f| after_the_upgrade(f.title))
        .collect())
}

/// Preflight words a component's title for before the upgrade ("… it must be 1.31
/// once the control plane is"); the verdict is given after it.
fn after_the_upgrade(title: String) -> String {
    match title.strip_suffix(" once the control plane is") {
        Some(t) => format!("{t}, as the control plane now is"),
        None => title,
    }
}

/// One call: Waiting while old nodes are still leaving; then Done, with the open
/// problems (none: plainly done).
pub async fn reconcile(
    cloud: &dyn CloudRead,
    reader: &ClusterReader,
    cluster: &str,
    input: VerdictInput<'_>,
) -> Result<(Progress, Vec<String>), StepError> {
    let target = input.target;
    let info = cloud.describe_cluster(cluster).await?;
    if Minor::parse(&info.version).map(|m| m.to_string()).as_deref() != Some(target) {
        return Err(StepError::Failed {
            why: format!("the control plane is on {}, not {target}", info.version),
            what_to_do: "retry the control plane step".into(),
        });
    }
    let health = input.health;
    // a skipped group's nodes never leave: they are open problems, not waited for
    let old = old_outside(health, target, input.skipped_groups);
    if old as usize > input.skipped.len() {
        return Ok((
            Progress::Waiting {
                what: format!("{old} node(s) still on an older kubelet"),
                detail: "waiting for the old nodes to leave".into(),
            },
            Vec::new(),
        ));
    }
    let short = match components_short(reader, target).await {
        Ok(s) => s,
        Err(e) => vec![format!("could not be checked against preflight's tables: {e}")],
    };
    let problems = problems(&VerdictInput {
        components: &short,
        ..input
    });
    let what = if problems.is_empty() {
        format!("control plane, every node and every workload as they should be on {target}")
    } else {
        format!("done with {}", crate::model::rollout::open_problems(problems.len()))
    };
    Ok((Progress::Done { what }, problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::availability::WorkloadRow;
    use crate::model::health::{ComponentHealth, OwnerlessPod};
    use crate::model::workload::{Kind, Level};

    fn health() -> Health {
        Health {
            synced: true,
            nodes: 3,
            groups: [("system".to_string(), [("1.31".to_string(), 3u32)].into())].into(),
            ownerless: vec![OwnerlessPod {
                pod: "default/debug-shell".into(),
                node: Some("ip-1".into()),
                group: Some("system".into()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_as_it_was_has_no_open_problem() {
        let h = health();
        let start = Baseline::take(&h);
        let p = problems(&VerdictInput {
            target: "1.31",
            health: &h,
            start: &start,
            skipped: &[],
            skipped_groups: &[],
            components: &[],
        });
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_component_title_reads_as_after_the_upgrade() {
        assert_eq!(
            after_the_upgrade(
                "cluster-autoscaler kube-system/cluster-autoscaler is 1.30; it must be 1.31 once the control plane is"
                    .into()
            ),
            "cluster-autoscaler kube-system/cluster-autoscaler is 1.30; it must be 1.31, as the control plane now is"
        );
        let other = "ingress-nginx ingress-nginx/ingress-nginx-controller (1.11) does not support Kubernetes 1.31";
        assert_eq!(after_the_upgrade(other.into()), other);
    }

    #[test]
    fn every_open_problem_is_named() {
        let start = Baseline::take(&health());
        let mut h = health();
        h.groups = [(
            "system".to_string(),
            [("1.31".to_string(), 5u32), ("1.30".to_string(), 1u32)].into(),
        )]
        .into();
        h.ownerless.clear();
        h.cordoned = vec!["ip-9".into()];
        h.services_down = vec!["shop/recommendations".into()];
        h.components = vec![ComponentHealth {
            name: "DNS kube-system/coredns".into(),
            image: "coredns:v1.11.3".into(),
            available: 1,
            desired: 2,
        }];
        h.workloads = vec![WorkloadRow {
            id: "Deployment shop/recommendations".into(),
            kind: Kind::Deployment,
            key: "shop/recommendations".into(),
            level: Level::Down,
            desired: 6,
            ready: 0,
            available: 0,
            since: None,
            pdb: None,
            pdb_min: None,
            reason: "CrashLoopBackOff".into(),
        }];
        let short = vec!["cluster-autoscaler kube-system/cluster-autoscaler is v1.30.2".to_string()];
        let p = problems(&VerdictInput {
            target: "1.31",
            health: &h,
            start: &start,
            skipped: &["ip-old".to_string()],
            skipped_groups: &[],
            components: &short,
        });
        let all = p.join("\n");
        for want in [
            "node ip-old was skipped",
            "component cluster-autoscaler kube-system/cluster-autoscaler is v1.30.2",
            "component DNS kube-system/coredns not available: 1/2",
            "Deployment shop/recommendations 0/6 available (all before the rollout): CrashLoopBackOff",
            "Service shop/recommendations has no ready endpoint",
            "node group system has 6 nodes, 3 before the rollout",
            "node ip-9 is left cordoned",
            "pod default/debug-shell had no controller and is gone",
        ] {
            assert!(all.contains(want), "{want} missing from:\n{all}");
        }
    }

    #[test]
    fn a_skipped_groups_old_nodes_are_named_and_not_waited_for() {
        let start = Baseline::take(&health());
        let mut h = health();
        h.groups.insert("apps".into(), [("1.30".to_string(), 2u32)].into());
        let skipped_groups = ["apps".to_string()];
        assert_eq!(
            old_outside(&h, "1.31", &skipped_groups),
            0,
            "postflight does not wait for them"
        );
        assert_eq!(old_outside(&h, "1.31", &[]), 2, "without the skip they are waited for");
        let p = problems(&VerdictInput {
            target: "1.31",
            health: &h,
            start: &start,
            skipped: &[],
            skipped_groups: &skipped_groups,
            components: &[],
        });
        assert!(
            p.iter()
                .any(|x| x == "node group apps was skipped: 2 node(s) not on 1.31"),
            "{p:?}"
        );
        assert!(!p.iter().any(|x| x.contains("besides the skipped ones")), "{p:?}");
    }
}
