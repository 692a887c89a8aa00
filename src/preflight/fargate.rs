//! Fargate workloads: a pod on Fargate runs on a node of its own
//! (`eks.amazonaws.com/compute-type: fargate`) whose kubelet is the control plane's
//! version when the pod started, and keeps it. EKS refuses `UpdateClusterVersion`
//! while any Fargate pod runs a kubelet older than the control plane ("Kubelet version
//! of Fargate pods must be updated to match cluster version …; Please recycle all
//! offending pod replicas"), so such a pod now is a blocker; the others must be
//! restarted after the control plane moves, which the plan's `fargate` step does.
//! A pure function of the snapshot.

use std::collections::BTreeMap;

use super::gather::{PodFacts, Snapshot};
use super::{Check, CheckRun, Finding, Severity};
use crate::units::Minor;

/// The label EKS puts on Fargate nodes.
const COMPUTE_TYPE: &str = "eks.amazonaws.com/compute-type";

/// What owns a Fargate pod: `Deployment payments/checkout`, or the pod itself.
fn owner(p: &PodFacts) -> (String, String) {
    match &p.owner {
        Some((k, rs)) if k == "ReplicaSet" => {
            // a Deployment's ReplicaSet is named <deployment>-<pod-template-hash>
            let hash = p
                .labels
                .get("pod-template-hash")
                .map(String::as_str)
                .unwrap_or_default();
            match rs.strip_suffix(hash).and_then(|d| d.strip_suffix('-')) {
                Some(d) if !hash.is_empty() => ("Deployment".into(), d.to_string()),
                _ => ("ReplicaSet".into(), rs.clone()),
            }
        }
        Some((k, name)) => (k.clone(), name.clone()),
        None => ("Pod".into(), p.name.clone()),
    }
}

/// A pod on Fargate and its node's kubelet minor.
type Placed<'a> = (&'a PodFacts, &'a str);

pub fn check(s: &Snapshot, target: &str) -> (Vec<Finding>, CheckRun) {
    let current = s.current_minor();
    let cp = Minor::key(&current);
    let moves = Minor::key(target) > cp;
    let kubelets: BTreeMap<&str, &str> = s
        .nodes
        .iter()
        .filter(|n| n.labels.get(COMPUTE_TYPE).is_some_and(|v| v == "fargate"))
        .map(|n| (n.name.as_str(), n.minor.as_str()))
        .collect();
    // per workload (kind, namespace, name): its pods' kubelet minors
    let mut workloads: BTreeMap<(String, String, String), Vec<Placed>> = BTreeMap::new();
    for p in s.pods.iter().filter(|p| !p.finished()) {
        let Some(minor) = p.node.as_deref().and_then(|n| kubelets.get(n)) else {
            continue;
        };
        let (kind, name) = owner(p);
        workloads
            .entry((kind, p.namespace.clone(), name))
            .or_default()
            .push((p, minor));
    }
    let mut findings = Vec::new();
    for ((kind, ns, name), pods) in &workloads {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, m) in pods {
            *by.entry(m).or_default() += 1;
        }
        let versions = by
            .iter()
            .map(|(m, n)| format!("{n} on {m}"))
            .collect::<Vec<_>>()
            .join(", ");
        let resource = format!(
            "{kind} {ns}/{name} ({} Fargate pod{}: {versions})",
            pods.len(),
            plural(pods.len())
        );
        let evidence: Vec<String> = pods
            .iter()
            .take(5)
            .map(|(p, m)| {
                format!(
                    "pod {} on node {} (kubelet {m})",
                    p.key(),
                    p.node.as_deref().unwrap_or("-")
                )
            })
            .collect();
        let restart = match kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" => {
                format!("kubectl rollout restart -n {ns} {} {name}", kind.to_lowercase())
            }
            _ => format!("delete the pod and start it again (it has no controller: {kind} {ns}/{name})"),
        };
        let old: Vec<&str> = by
            .keys()
            .copied()
            .filter(|m| !m.is_empty() && Minor::key(m) < cp)
            .collect();
        if !old.is_empty() {
            findings.push(Finding {
                check: Check::Fargate,
                severity: Severity::Blocker,
                confidence: None,
                title: format!(
                    "Fargate {kind} {ns}/{name} runs kubelet {} under the {current} control plane",
                    old.join(", ")
                ),
                resources: vec![resource],
                why: format!(
                    "Fargate pods keep the kubelet they started with, and EKS refuses the control plane update while any \
                     runs one older than the control plane (InvalidRequestException: Kubelet version of Fargate pods must \
                     be updated to match cluster version {current} before updating cluster version)."
                ),
                action: format!(
                    "Restart it before the upgrade, so that its pods start on {current}: {restart}. Then run preflight again."
                ),
                evidence,
            });
        } else if moves {
            let controller = matches!(kind.as_str(), "Deployment" | "StatefulSet");
            findings.push(Finding {
                check: Check::Fargate,
                severity: if controller { Severity::Info } else { Severity::Warning },
                confidence: None,
                title: format!("Fargate {kind} {ns}/{name} must be restarted after the control plane moves to {target}"),
                resources: vec![resource],
                why: format!(
                    "On {target} its pods still run the {current} kubelet until they restart, and EKS refuses the upgrade \
                     after {target} until they do."
                ),
                action: if controller {
                    "Keep the plan's `fargate` step after the control plane (`upshift plan` adds it): it restarts each \
                     Fargate workload one at a time, waits for its new pods, and holds while its budget allows no disruption."
                        .into()
                } else {
                    format!(
                        "Nothing restarts it for you: the plan's `fargate` step asks the lead before deleting it; or, after the \
                         control plane, {restart}."
                    )
                },
                evidence,
            });
        }
    }
    let pods: usize = workloads.values().map(Vec::len).sum();
    let run = CheckRun {
        check: Check::Fargate,
        examined: format!(
            "{} Fargate node{}, {pods} pod{} in {} workload{}",
            kubelets.len(),
            plural(kubelets.len()),
            plural(pods),
            workloads.len(),
            plural(workloads.len())
        ),
        complete: !s.unreadable.iter().any(|(w, _)| w == "nodes" || w == "pods"),
    };
    (findings, run)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::gather::NodeFacts;

    fn node(name: &str, minor: &str, fargate: bool) -> NodeFacts {
        let mut n = NodeFacts {
            name: name.into(),
            minor: minor.into(),
            ..Default::default()
        };
        if fargate {
            n.labels.insert(COMPUTE_TYPE.into(), "fargate".into());
        }
        n
    }

    fn pod(ns: &str, name: &str, node: &str, owner: Option<(&str, &str)>, hash: &str) -> PodFacts {
        let mut p = PodFacts {
            namespace: ns.into(),
            name: name.into(),
            node: Some(node.into()),
            phase: "Running".into(),
            owner: owner.map(|(k, n)| (k.into(), n.into())),
            ..Default::default()
        };
        if !hash.is_empty() {
            p.labels.insert("pod-template-hash".into(), hash.into());
        }
        p
    }

    fn snapshot(cp: &str) -> Snapshot {
        Snapshot {
            server_version: format!("v{cp}.2-eks-1"),
            nodes: vec![
                node("fargate-ip-1", "1.30", true),
                node("fargate-ip-2", "1.29", true),
                node("fargate-ip-3", "1.30", true),
                node("ip-10-0-0-1", "1.29", false),
            ],
            pods: vec![
                pod(
                    "payments",
                    "checkout-abc12-x",
                    "fargate-ip-1",
                    Some(("ReplicaSet", "checkout-abc12")),
                    "abc12",
                ),
                pod(
                    "jobs",
                    "reports-def34-y",
                    "fargate-ip-2",
                    Some(("ReplicaSet", "reports-def34")),
                    "def34",
                ),
                pod("jobs", "one-off", "fargate-ip-3", None, ""),
                pod("shop", "web-1", "ip-10-0-0-1", Some(("ReplicaSet", "web-zz")), "zz"),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn an_older_fargate_kubelet_is_a_blocker_and_the_others_are_listed() {
        let (f, run) = check(&snapshot("1.30"), "1.31");
        assert_eq!(run.examined, "3 Fargate nodes, 3 pods in 3 workloads");
        let blocker: Vec<&Finding> = f.iter().filter(|f| f.severity == Severity::Blocker).collect();
        assert_eq!(blocker.len(), 1, "{f:#?}");
        assert!(
            blocker[0]
                .title
                .contains("Deployment jobs/reports runs kubelet 1.29 under the 1.30"),
            "{}",
            blocker[0].title
        );
        assert!(
            blocker[0]
                .action
                .contains("kubectl rollout restart -n jobs deployment reports")
        );
        let listed: Vec<&str> = f.iter().flat_map(|f| f.resources.iter().map(String::as_str)).collect();
        assert!(
            listed.contains(&"Deployment payments/checkout (1 Fargate pod: 1 on 1.30)"),
            "{listed:?}"
        );
        // a pod with no controller: nothing restarts it for the lead
        let pod = f.iter().find(|f| f.title.contains("Pod jobs/one-off")).unwrap();
        assert_eq!(pod.severity, Severity::Warning);
        // pods on node groups are not Fargate's
        assert!(!listed.iter().any(|r| r.contains("shop/web")));
    }

    #[test]
    fn without_an_upgrade_only_the_old_ones_matter() {
        let (f, _) = check(&snapshot("1.30"), "1.30");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Blocker);
        let (f, _) = check(&snapshot("1.29"), "1.30");
        assert!(f.iter().all(|f| f.severity != Severity::Blocker), "{f:#?}");
    }
}
