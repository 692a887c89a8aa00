//! The RBAC shipped in docs/rbac/: both files parse as Kubernetes RBAC objects; the
//! viewers' and the research roles only read; the lead's role grants exactly the
//! writes the drive makes; no wildcard anywhere; every binding names a role defined
//! in the files. A small evaluator of RBAC rules (verb, API group, resource with
//! subresource, namespace, resource name) then checks the requests each command
//! sends against each group, both from a table (with namespaces and names) and as
//! the simulator counted them when the real code ran against it.

mod common;

#[path = "rbac/rules.rs"]
mod rules;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::PolicyRule;

use rules::*;

#[test]
fn files_parse_and_every_binding_names_a_role_defined_here() {
    let rbac = Rbac::shipped();
    let cluster_roles: Vec<&str> = rbac.cluster_roles.keys().map(String::as_str).collect();
    assert_eq!(cluster_roles, ["upshift-lead", "upshift-research", "upshift-viewer"]);
    let roles: Vec<(&str, &str)> = rbac.roles.keys().map(|(n, r)| (n.as_str(), r.as_str())).collect();
    assert_eq!(roles, [(KS, "upshift-lead"), (KS, "upshift-viewer")]);
    assert!(!rbac.cluster_bindings.is_empty() && !rbac.bindings.is_empty());
    let bad = structure_violations(&rbac);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // each file says what it is for, how to apply it and how to map IAM roles
    for file in [VIEWER_FILE, LEAD_FILE] {
        let text = read(file);
        let head: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for needle in ["kubectl apply -f", "create-access-entry", "aws-auth", "upshift:"] {
            assert!(head.contains(needle), "{file}'s opening comment lacks {needle:?}");
        }
    }
}

#[test]
fn the_viewer_and_research_roles_only_read() {
    let rbac = Rbac::shipped();
    let bad = read_only_violations(&rbac);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // and a viewer is refused every write upshift ever makes
    for w in drive_writes() {
        if READ_VERBS.contains(&w.verb) {
            continue;
        }
        assert_eq!(rbac.allows(&[VIEWERS, RESEARCHERS], &w), None, "viewers may {w:?}");
    }
}

#[test]
fn the_checks_fail_on_a_write_a_wildcard_or_a_dangling_binding() {
    let viewer = read(VIEWER_FILE);
    let lead = read(LEAD_FILE);
    let parse = |v: &str, l: &str| Rbac::parse(&[(VIEWER_FILE, v), (LEAD_FILE, l)]).unwrap();

    // `update` added to the viewer's first rule
    let first = "verbs: [get, list, watch]";
    assert!(viewer.contains(first));
    let with_update = viewer.replacen(first, "verbs: [get, list, watch, update]", 1);
    let bad = read_only_violations(&parse(&with_update, &lead));
    assert!(bad.iter().any(|b| b.contains("upshift-viewer: update")), "{bad:?}");

    // research grown to write Helm records
    let research = "resources: [secrets, configmaps]\n    verbs: [list]";
    assert!(viewer.contains(research));
    let with_get = viewer.replacen(
        research,
        "resources: [secrets, configmaps]\n    verbs: [list, patch]",
        1,
    );
    let bad = read_only_violations(&parse(&with_get, &lead));
    assert!(bad.iter().any(|b| b.contains("upshift-research: patch")), "{bad:?}");

    // a wildcard in the lead's role
    let delete = "resources: [pods]\n    verbs: [delete]";
    assert!(lead.contains(delete));
    let wild = lead.replacen(delete, "resources: [pods]\n    verbs: [\"*\"]", 1);
    let bad = structure_violations(&parse(&viewer, &wild));
    assert!(bad.iter().any(|b| b.contains("`*` in verbs")), "{bad:?}");

    // a binding to a role that is not defined
    let role_ref = "  kind: ClusterRole\n  name: upshift-research\n";
    assert!(lead.contains(role_ref));
    let dangling = lead.replacen(role_ref, "  kind: ClusterRole\n  name: upshift-researcher\n", 1);
    let bad = structure_violations(&parse(&viewer, &dangling));
    assert!(
        bad.iter().any(|b| b.contains("upshift-researcher is not defined")),
        "{bad:?}"
    );

    // a misspelt resource
    let pdb = "resources: [poddisruptionbudgets]";
    let typo = viewer.replacen(pdb, "resources: [poddisruptionbudget]", 1);
    let bad = structure_violations(&parse(&typo, &lead));
    assert!(bad.iter().any(|b| b.contains("\"poddisruptionbudget\"")), "{bad:?}");

    // and the evaluator refuses what the lead's role no longer grants
    let no_evict = lead.replacen("resources: [pods/eviction]", "resources: [pods/status]", 1);
    let rbac = parse(&viewer, &no_evict);
    let evict = req("create", "", "pods/eviction").ns("payments").named("ledger-0");
    assert_eq!(rbac.allows(&[LEADS], &evict), None);
}

#[test]
fn the_lead_role_grants_the_drives_writes_and_no_more() {
    let rbac = Rbac::shipped();
    let lead = rbac
        .cluster_roles
        .get("upshift-lead")
        .expect("ClusterRole upshift-lead");
    let lead_ks = rbac
        .roles
        .get(&(KS.to_string(), "upshift-lead".to_string()))
        .expect("Role kube-system/upshift-lead");
    let grants = |rules: &Option<Vec<PolicyRule>>, group: &str, resource: &str, names: &[&str]| -> BTreeSet<String> {
        rules
            .iter()
            .flatten()
            .filter(|r| has(&r.api_groups, group) && has(&r.resources, resource))
            .filter(|r| {
                let n: Vec<&str> = r.resource_names.iter().flatten().map(String::as_str).collect();
                n == names
            })
            .flat_map(|r| r.verbs.iter().cloned())
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
    assert_eq!(grants(&lead.rules, "", "nodes", &[]), set(&["patch"]));
    assert_eq!(grants(&lead.rules, "", "pods/eviction", &[]), set(&["create"]));
    assert_eq!(grants(&lead.rules, "", "pods", &[]), set(&["delete"]));
    assert_eq!(grants(&lead.rules, "apps", "deployments", &[]), set(&["patch"]));
    assert_eq!(grants(&lead.rules, "apps", "statefulsets", &[]), set(&["patch"]));
    assert_eq!(
        grants(&lead.rules, "karpenter.sh", "nodepools", &[]),
        set(&["get", "list", "watch", "patch"])
    );
    assert_eq!(
        grants(&lead.rules, "karpenter.sh", "nodeclaims", &[]),
        set(&["get", "list", "watch"])
    );
    assert_eq!(
        grants(&lead.rules, "karpenter.k8s.aws", "ec2nodeclasses", &[]),
        set(&["get", "list", "watch"])
    );
    assert_eq!(
        lead.rules.as_ref().map(Vec::len),
        Some(7),
        "the lead's ClusterRole has grown"
    );
    assert_eq!(
        grants(&lead_ks.rules, "coordination.k8s.io", "leases", &[]),
        set(&["create"])
    );
    assert_eq!(
        grants(&lead_ks.rules, "coordination.k8s.io", "leases", &[ROLLOUT]),
        set(&["get", "update", "delete"])
    );
    assert_eq!(
        grants(&lead_ks.rules, "", "configmaps", &[ROLLOUT]),
        set(&["create", "get", "update", "patch"])
    );
    assert!(
        grants(&lead_ks.rules, "", "configmaps", &[]).is_empty(),
        "configmaps only by name"
    );
    assert_eq!(
        lead_ks.rules.as_ref().map(Vec::len),
        Some(3),
        "the lead's Role has grown"
    );

    for w in drive_writes() {
        assert!(rbac.allows(&[LEADS], &w).is_some(), "the lead may not {w:?}");
    }
    // not beyond
    let refused = [
        req("patch", "", "configmaps").ns(KS).named("aws-auth"),
        req("create", "", "configmaps").ns(KS).named("aws-auth"),
        req("update", "", "configmaps").ns(KS).named("coredns"),
        req("update", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("kube-scheduler"),
        req("delete", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("cluster-autoscaler"),
        req("patch", "", "leases").ns(KS).named(ROLLOUT),
        req("delete", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("update", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("create", "", "pods").ns("payments"),
        req("patch", "", "pods").ns("payments").named("ledger-0"),
        req("deletecollection", "", "pods").ns("payments"),
        req("get", "", "secrets").ns("payments").named("db"),
        // patch is granted for the fargate step's restarts; nothing else on them
        req("update", "apps", "deployments").ns("kube-system").named("coredns"),
        req("delete", "apps", "deployments").ns("kube-system").named("coredns"),
        req("patch", "apps", "daemonsets").ns("kube-system").named("aws-node"),
        req("update", "apps", "daemonsets").ns("kube-system").named("aws-node"),
        req("patch", "", "configmaps").ns("shop").named(ROLLOUT),
        req("create", "coordination.k8s.io", "leases").ns("shop"),
    ];
    for r in refused {
        assert_eq!(rbac.allows(&[LEADS], &r), None, "the lead may {r:?}");
    }
}

#[test]
fn each_command_is_allowed_what_it_sends_and_a_shadow_sees_no_secret() {
    let rbac = Rbac::shipped();
    for r in watch_requests().into_iter().chain(plan_requests()) {
        assert!(rbac.allows(&[VIEWERS], &r).is_some(), "a viewer may not {r:?}");
    }
    for r in preflight_requests() {
        assert!(
            rbac.allows(&[VIEWERS, RESEARCHERS], &r).is_some(),
            "viewers with research may not {r:?}"
        );
    }
    // the lead's one group covers the cockpit and the plan's preflight step too
    for r in watch_requests()
        .into_iter()
        .chain(plan_requests())
        .chain(preflight_requests())
    {
        assert!(rbac.allows(&[LEADS], &r).is_some(), "the lead may not {r:?}");
    }
    // a pure shadow: no Secret, no other ConfigMap, not even in kube-system
    let refused = [
        req("list", "", "secrets"),
        req("get", "", "secrets").ns(KS).named("aws-auth"),
        req("list", "", "configmaps"),
        req("list", "", "configmaps").ns(KS),
        req("watch", "", "configmaps").ns(KS),
        req("get", "", "configmaps").ns(KS).named("aws-auth"),
        req("get", "", "configmaps").ns("shop").named(ROLLOUT),
        req("get", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("kube-scheduler"),
        req("list", "coordination.k8s.io", "leases").ns(KS),
    ];
    for r in refused {
        assert_eq!(rbac.allows(&[VIEWERS], &r), None, "a viewer may {r:?}");
    }
    // research lists, and only lists
    for r in [
        req("get", "", "secrets").ns("shop").named("db"),
        req("watch", "", "secrets"),
    ] {
        assert_eq!(rbac.allows(&[VIEWERS, RESEARCHERS], &r), None, "research may {r:?}");
    }
}

/// Whether `groups` may make what the simulator counted (verb and resource, with no
/// namespace or name). Rules limited by resourceNames count only for the rollout's
/// ConfigMap and Lease, whose names and namespace the table tests above check.
fn allows_counted(rbac: &Rbac, groups: &[&str], verb: &str, resource: &str) -> bool {
    groups.iter().any(|g| {
        rbac.rules_of(g).into_iter().any(|(_, _, rule)| {
            let named = rule.resource_names.as_ref().is_some_and(|n| !n.is_empty());
            rule.verbs.iter().any(|v| v == verb)
                && rule.resources.iter().flatten().any(|r| r == resource)
                && (!named || matches!(resource, "configmaps" | "leases"))
        })
    })
}

/// The requests the simulator counted for an identity, minus what every
/// authenticated user may do by Kubernetes' default roles (discovery, /version,
/// asking its own access).
fn counted(sim: &upshift::sim::Simulator, who: &str) -> Vec<(String, String)> {
    let counts = sim.request_counts();
    let mut out = Vec::new();
    for (verb, resources) in counts.0.get(who).cloned().unwrap_or_default() {
        for resource in resources.keys() {
            if resource == "discovery" || resource.starts_with("selfsubject") {
                continue;
            }
            out.push((verb.clone(), resource.clone()));
        }
    }
    out
}

#[tokio::test]
async fn what_upshift_sends_to_the_simulator_is_granted_to_its_group() {
    use upshift::model::{Delta, Source, SourceState};
    use upshift::rollout::journal::Journal;
    use upshift::rollout::lock::{Lock, NAME, NAMESPACE};
    use upshift::rollout::plan::Drain;
    use upshift::rollout::steps::{Progress, drain_node};

    let rbac = Rbac::shipped();
    let sim = common::start("demo").await;

    // the read-only cockpit, until every watch has listed the cluster
    let viewer = sim.client("viewer").await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let watches = upshift::cluster::ClusterReader::new(viewer.clone()).start(tx);
    let mut synced = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while synced.len() < Source::ALL.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Delta::Source(s, SourceState::Synced))) => {
                synced.insert(s);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the watches did not sync: {synced:?}"),
        }
    }
    // and a pod's detail: the pod and the end of its containers' logs
    let running = {
        use common::Inspect;
        sim.pods()
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .expect("a running pod")
    };
    let detail = upshift::cluster::ClusterReader::new(viewer.clone())
        .pod_detail(
            running.metadata.namespace.as_deref().unwrap(),
            running.metadata.name.as_deref().unwrap(),
        )
        .await
        .expect("a viewer reads a pod's detail");
    assert!(
        detail.containers.iter().flat_map(|c| &c.logs).all(|t| t.lines.is_ok()),
        "a viewer reads logs: {detail:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let watch_sent = counted(&sim, "viewer");
    assert!(!watch_sent.is_empty());
    for (verb, resource) in &watch_sent {
        assert!(
            allows_counted(&rbac, &[VIEWERS], verb, resource),
            "upshift watch sent {verb} {resource}, which upshift:viewers may not (docs/rbac/upshift-viewer.yaml)"
        );
    }
    drop(watches);

    // plan's discovery and preflight's reads
    upshift::rollout::plan::discover(
        &upshift::cluster::ClusterReader::new(viewer.clone()),
        "demo",
        None,
        "1.35",
    )
    .await
    .expect("discovery as a viewer");
    let snapshot = upshift::preflight::gather::gather(&upshift::cluster::ClusterReader::new(viewer.clone()))
        .await
        .expect("preflight reads");
    // (the simulator serves no StatefulSets: "not served" is fine, a refusal is not)
    assert!(
        !snapshot.unreadable.iter().any(|(_, why)| why.starts_with("forbidden")),
        "{:?}",
        snapshot.unreadable
    );
    for (verb, resource) in counted(&sim, "viewer") {
        assert!(
            allows_counted(&rbac, &[VIEWERS, RESEARCHERS], &verb, &resource),
            "upshift plan or preflight sent {verb} {resource}, which viewers with research may not"
        );
    }

    // the lead: the lock, and a node drained to the end
    let lead = sim.client("lead").await.unwrap();
    let now = common::steps::clock_of(&sim);
    let lock_now: upshift::units::Now = std::sync::Arc::new(common::steps::clock_of(&sim));
    let lock = Lock::acquire(
        lead.clone(),
        NAMESPACE,
        NAME,
        "ana@laptop",
        Duration::from_secs(30),
        false,
        lock_now,
    )
    .await
    .expect("the lead takes the lease");
    lock.renew().await.expect("and renews it");
    let node = {
        use common::Inspect;
        let ledger = sim.nodes_running("ledger");
        let apps = sim.nodes_labelled("eks.amazonaws.com/nodegroup", "apps");
        // the first in the world's order, as before: by key, which is the name
        apps.into_iter()
            .filter_map(|n| n.metadata.name)
            .find(|n| !ledger.contains(n))
            .expect("a node of group apps without a ledger pod")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    // until it is drained, or holds a pod for the operator: either way it has sent
    // what a drain sends
    let mut ended = false;
    for _ in 0..200 {
        let mut ctx = common::steps::drain_ctx(lead.clone(), &mut journal, &now);
        let apps = upshift::model::journal::StepId::Nodegroup("apps".into());
        match drain_node(&mut ctx, &apps, &node, &Drain::default()).await.unwrap() {
            Progress::Waiting { .. } => {
                sim.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the drain neither ended nor held a pod");
    lock.release().await.expect("the lead gives the lease up");
    let lead_sent = counted(&sim, "lead");
    for needed in [
        ("patch", "nodes"),
        ("create", "pods/eviction"),
        ("create", "leases"),
        ("delete", "leases"),
    ] {
        assert!(
            lead_sent.iter().any(|(v, r)| (v.as_str(), r.as_str()) == needed),
            "the lead was expected to send {needed:?}: {lead_sent:?}"
        );
    }
    for (verb, resource) in &lead_sent {
        assert!(
            allows_counted(&rbac, &[LEADS], verb, resource),
            "upshift drive sent {verb} {resource}, which upshift:leads may not (docs/rbac/upshift-lead.yaml)"
        );
    }
}
