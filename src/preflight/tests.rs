//! The checks as the pure functions they are: each is given a snapshot built here
//! (no cluster, no simulator) and must find what it is written to find, and nothing
//! in a cluster without it.

use std::collections::BTreeMap;

use super::eks::EksFacts;
use super::gather::{
    HelmRelease, HelmResource, ManagedWrite, NodeFacts, ObjectEvidence, PdbFacts, PodFacts, Snapshot, Taint,
    WorkloadFacts,
};
use super::tables::{Removal, Tables};
use super::{Check, Confidence, Finding, Severity, apis, capacity, components, drain, eks, run, skew};
use crate::cloud::{AddonInfo, AddonVersions, ClusterInfo, InsightInfo, NodegroupInfo};

fn node(name: &str, group: &str, minor: &str) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        group: group.into(),
        zone: "eu-west-1a".into(),
        minor: minor.into(),
        kubelet: format!("v{minor}.4-eks-a737599"),
        ready: true,
        unschedulable: false,
        taints: Vec::new(),
        labels: BTreeMap::from([("eks.amazonaws.com/nodegroup".to_string(), group.to_string())]),
        cpu_millis: 2000,
        memory: 8 << 30,
        max_pods: 29,
    }
}

fn pod(ns: &str, name: &str, node: &str, cpu: u64) -> PodFacts {
    PodFacts {
        namespace: ns.into(),
        name: name.into(),
        node: Some(node.into()),
        phase: "Running".into(),
        owner: Some(("ReplicaSet".into(), format!("{name}-7d9c8b6f5"))),
        cpu_millis: cpu,
        memory: 256 << 20,
        labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        ..Default::default()
    }
}

fn workload(kind: &str, ns: &str, name: &str, replicas: u32, image: &str) -> WorkloadFacts {
    WorkloadFacts {
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
        replicas,
        images: vec![image.into()],
        tolerates_all: false,
    }
}

fn snapshot(server: &str) -> Snapshot {
    Snapshot {
        server_version: server.into(),
        ..Default::default()
    }
}

fn titles(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.title.as_str()).collect()
}

#[test]
fn the_target_must_be_one_minor_ahead() {
    let tables = Tables::load(None).unwrap();
    let s = snapshot("v1.30.5-eks-ce1d5eb");
    let version = |target: &str| {
        let (f, _) = run(&s, target, &tables, 1, None);
        f.into_iter().filter(|f| f.check == Check::Version).collect::<Vec<_>>()
    };
    assert!(version("1.31").is_empty());
    let two = version("1.32");
    assert_eq!(two.len(), 1);
    assert_eq!(two[0].severity, Severity::Blocker);
    assert!(two[0].action.contains("Upgrade to 1.31 first"), "{}", two[0].action);
    let same = version("1.30");
    assert_eq!(same[0].severity, Severity::Info);
    // without EKS's facts, the EKS check says it did not run
    let (_, runs) = run(&s, "1.31", &tables, 1, None);
    let eks_run = runs.iter().find(|r| r.check == Check::Eks).unwrap();
    assert!(!eks_run.complete && eks_run.examined.contains("--cluster"));
}

#[test]
fn kubelet_skew_is_judged_against_the_policy_of_the_target() {
    let mut s = snapshot("v1.30.5");
    s.nodes = vec![
        node("a-1", "apps", "1.30"),
        node("b-1", "batch", "1.28"),
        node("c-1", "legacy", "1.27"),
        node("d-1", "ahead", "1.32"),
    ];
    let (f, run) = skew::check(&s, "1.31");
    let by: BTreeMap<&str, Severity> = f
        .iter()
        .map(|f| (f.resources[0].split(' ').nth(2).unwrap_or(""), f.severity))
        .collect();
    // 1.31 allows three minors: 1.28 is at the limit, 1.27 beyond, 1.32 is newer
    assert_eq!(by.get("batch"), Some(&Severity::Warning));
    assert_eq!(by.get("legacy"), Some(&Severity::Blocker));
    assert_eq!(by.get("ahead"), Some(&Severity::Blocker));
    assert_eq!(by.get("apps"), None, "one minor behind is fine");
    assert!(run.examined.contains("allowed lag 3"), "{}", run.examined);
    assert_eq!(skew::allowed_lag("1.27"), 2);
    let legacy = f.iter().find(|f| f.title.contains("legacy")).unwrap();
    assert!(legacy.action.contains("1.28 or newer"), "{}", legacy.action);
}

#[test]
fn drain_blockers_name_budgets_single_replicas_bare_pods_local_data_and_wildcards() {
    let mut s = snapshot("v1.30.5");
    let mut ledger = pod("payments", "ledger-0", "a-1", 250);
    ledger.labels = BTreeMap::from([("app".to_string(), "ledger".to_string())]);
    let mut bare = pod("default", "debug-shell", "a-1", 10);
    bare.owner = None;
    let mut cache = pod("shop", "images", "a-1", 100);
    cache.empty_dir = true;
    s.pods = vec![ledger, bare, cache];
    s.nodes = vec![node("a-1", "apps", "1.30")];
    s.pdbs = vec![
        PdbFacts {
            namespace: "payments".into(),
            name: "ledger".into(),
            match_labels: BTreeMap::from([("app".to_string(), "ledger".to_string())]),
            disruptions_allowed: 0,
            expected_pods: 2,
            current_healthy: 2,
            desired_healthy: 2,
        },
        PdbFacts {
            namespace: "shop".into(),
            name: "web".into(),
            match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            disruptions_allowed: 1,
            expected_pods: 3,
            current_healthy: 3,
            desired_healthy: 2,
        },
    ];
    let mut everywhere = workload("Deployment", "ops", "agent", 2, "agent:1");
    everywhere.tolerates_all = true;
    s.workloads = vec![workload("Deployment", "payments", "notifier", 1, "n:1"), everywhere];
    let (f, run) = drain::check(&s);
    assert_eq!(
        titles(&f),
        [
            "PodDisruptionBudget payments/ledger allows no disruption (2 healthy, 2 required)",
            "1 workloads run a single replica",
            "1 pods have no controller",
            "1 pods with no controller will be lost when EKS updates their managed node group",
            "1 workloads keep data on the node (emptyDir or hostPath)",
            "1 workloads tolerate every taint",
        ]
    );
    assert!(
        f[3].resources[0].starts_with("Pod default/debug-shell (managed node group "),
        "{:?}",
        f[3].resources
    );
    assert_eq!(f[0].severity, Severity::Blocker);
    assert!(
        f[0].resources.contains(&"Pod payments/ledger-0 on a-1".to_string()),
        "{:?}",
        f[0].resources
    );
    assert_eq!(f[4].resources, ["Deployment shop/images"]);
    assert!(run.complete);
    assert!(
        drain::check(&snapshot("v1.30.5")).0.is_empty(),
        "an empty cluster blocks nothing"
    );
}

#[test]
fn capacity_finds_the_pods_of_a_batch_with_nowhere_to_go() {
    let mut s = snapshot("v1.30.5");
    s.nodes = vec![node("a-1", "apps", "1.30"), node("a-2", "apps", "1.30")];
    // a-1's pods ask 1 and 0.5 CPU; a-2 has 0.6 CPU free: room for the smaller only
    s.pods = vec![
        pod("shop", "web", "a-1", 1000),
        pod("shop", "api", "a-1", 500),
        pod("shop", "search", "a-2", 1400),
    ];
    let (f, run) = capacity::check(&s, 1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0].title,
        "Draining 1 node(s) of group apps leaves 1 of 2 pods with nowhere to run"
    );
    assert_eq!(f[0].resources, ["Pod shop/web"]);
    assert!(run.examined.contains("apps: 2 pods from 1 node(s)"), "{}", run.examined);
    // a tainted node the pods do not tolerate is no room either
    s.nodes.push(NodeFacts {
        taints: vec![Taint {
            key: "dedicated".into(),
            value: "batch".into(),
            effect: "NoSchedule".into(),
        }],
        ..node("b-1", "batch", "1.30")
    });
    let (f, _) = capacity::check(&s, 1);
    assert!(f.iter().any(|f| f.title.contains("group apps")), "{f:?}");
    // with an untainted empty node there is room
    s.nodes.push(node("c-1", "spare", "1.30"));
    let (f, _) = capacity::check(&s, 1);
    assert!(!f.iter().any(|f| f.title.contains("group apps")), "{f:?}");
}

#[test]
fn removed_apis_in_use_are_found_with_how_sure_each_finding_is() {
    let removals = vec![Removal {
        removed_in: "1.25".into(),
        api_version: "policy/v1beta1".into(),
        kinds: vec!["PodDisruptionBudget".into()],
        replacement: Some("policy/v1".into()),
        replacement_since: Some("1.21".into()),
        note: None,
    }];
    let write = |api: &str, manager: &str, time: &str| ManagedWrite {
        api_version: api.into(),
        manager: manager.into(),
        time: Some(time.into()),
    };
    let mut s = snapshot("v1.24.9");
    s.helm = vec![HelmRelease {
        namespace: "shop".into(),
        name: "shop".into(),
        revision: 3,
        status: "deployed".into(),
        resources: vec![HelmResource {
            api_version: "policy/v1beta1".into(),
            kind: "PodDisruptionBudget".into(),
            name: "web".into(),
        }],
    }];
    s.objects = vec![
        ObjectEvidence {
            kind: "PodDisruptionBudget".into(),
            namespace: Some("payments".into()),
            name: "ledger".into(),
            last_applied: Some("policy/v1beta1".into()),
            managed: vec![write("policy/v1beta1", "kubectl", "2025-01-01T00:00:00Z")],
        },
        ObjectEvidence {
            kind: "PodDisruptionBudget".into(),
            namespace: Some("ops".into()),
            name: "agent".into(),
            last_applied: None,
            managed: vec![
                write("policy/v1beta1", "kubectl", "2024-01-01T00:00:00Z"),
                write("policy/v1", "argocd", "2025-06-01T00:00:00Z"),
            ],
        },
    ];
    let mut table = crate::preflight::tables::Tables::load(None).unwrap().removals;
    table.entries = removals;
    table.deprecations.clear();
    let (f, run) = apis::check(&s, "1.24", "1.25", &table);
    let found: Vec<(Severity, Option<Confidence>)> = f.iter().map(|f| (f.severity, f.confidence)).collect();
    assert_eq!(
        found,
        [
            (Severity::Blocker, Some(Confidence::High)),
            (Severity::Warning, Some(Confidence::Medium)),
            (Severity::Info, Some(Confidence::Low)),
        ],
        "{:#?}",
        titles(&f)
    );
    assert!(f[0].title.starts_with("Helm release shop/shop renders policy/v1beta1"));
    assert!(f[2].evidence.iter().any(|e| e.contains("newest write is by argocd")));
    assert!(run.complete);
    // a target before the removal finds nothing
    assert!(apis::check(&s, "1.23", "1.24", &table).0.is_empty());
}

#[test]
fn components_are_judged_by_their_rules_and_missing_ones_said() {
    let tables = Tables::load(None).unwrap();
    let mut s = snapshot("v1.30.5");
    s.workloads = vec![
        workload(
            "Deployment",
            "kube-system",
            "cluster-autoscaler",
            1,
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.2",
        ),
        workload(
            "DaemonSet",
            "kube-system",
            "kube-proxy",
            0,
            "602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy:v1.26.3-eksbuild.2",
        ),
    ];
    let (f, _) = components::check(&s, "1.31", &tables.components);
    let t = titles(&f);
    assert!(
        t.contains(
            &"cluster-autoscaler kube-system/cluster-autoscaler is 1.30; it must be 1.31 once the control plane is"
        ),
        "{t:#?}"
    );
    assert!(
        t.contains(&"kube-proxy kube-system/kube-proxy is 1.26, 5 minors behind 1.31"),
        "{t:#?}"
    );
    assert!(t.contains(&"No DNS component found"), "{t:#?}");
    assert!(t.contains(&"No ingress component found"), "{t:#?}");
    let behind = f.iter().find(|f| f.title.contains("minors behind")).unwrap();
    assert_eq!(behind.severity, Severity::Blocker);
    assert!(behind.action.contains("1.28 or newer"), "{}", behind.action);
}

#[test]
fn eks_facts_block_on_a_busy_cluster_a_sick_group_and_an_error_insight() {
    let facts = EksFacts {
        cluster: ClusterInfo {
            name: "prod-eu".into(),
            version: "1.30".into(),
            status: "UPDATING".into(),
            ..Default::default()
        },
        nodegroups: vec![NodegroupInfo {
            name: "apps".into(),
            version: "1.29".into(),
            status: "DEGRADED".into(),
            health_issues: vec!["AsgInstanceLaunchFailures: no capacity".into()],
            ..Default::default()
        }],
        addons: vec![AddonInfo {
            name: "coredns".into(),
            version: "v1.10.1-eksbuild.1".into(),
            status: "ACTIVE".into(),
            health_issues: Vec::new(),
        }],
        target_versions: vec![AddonVersions {
            addon: "coredns".into(),
            kubernetes_version: "1.31".into(),
            versions: vec!["v1.11.3-eksbuild.1".into()],
            default: Some("v1.11.3-eksbuild.1".into()),
        }],
        insights: vec![InsightInfo {
            id: "i-1".into(),
            name: "Deprecated APIs removed in Kubernetes v1.32".into(),
            kubernetes_version: "1.31".into(),
            status: "ERROR".into(),
            ..Default::default()
        }],
        unreadable: Vec::new(),
        ..Default::default()
    };
    let (f, run) = eks::check(&facts, "1.31");
    let by: Vec<(Severity, &str)> = f.iter().map(|f| (f.severity, f.title.as_str())).collect();
    assert!(
        by.contains(&(Severity::Blocker, "EKS cluster prod-eu is UPDATING, not ACTIVE")),
        "{by:#?}"
    );
    assert!(
        by.contains(&(Severity::Blocker, "Managed node group apps is DEGRADED")),
        "{by:#?}"
    );
    assert!(
        by.contains(&(
            Severity::Warning,
            "Add-on coredns v1.10.1-eksbuild.1 is not offered for 1.31"
        )),
        "{by:#?}"
    );
    let insight = f.iter().find(|f| f.title.starts_with("EKS insight")).unwrap();
    assert_eq!(
        (insight.severity, insight.confidence),
        (Severity::Blocker, Some(Confidence::Medium))
    );
    assert!(run.complete);
}

#[test]
fn a_managed_group_on_amazon_linux_2_blocks_a_target_with_no_al2_ami() {
    let tables = Tables::load(None).unwrap();
    let facts = |ami: &str| EksFacts {
        cluster: ClusterInfo {
            name: "prod-eu".into(),
            version: "1.32".into(),
            status: "ACTIVE".into(),
            ..Default::default()
        },
        nodegroups: vec![NodegroupInfo {
            name: "legacy".into(),
            version: "1.32".into(),
            status: "ACTIVE".into(),
            config: crate::cloud::NodegroupConfig {
                ami_type: Some(ami.into()),
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let s = snapshot("v1.32.9-eks-1");
    let node_os = |ami: &str| {
        let (f, runs) = run(&s, "1.33", &tables, 1, Some(&facts(ami)));
        assert!(runs.iter().any(|r| r.check == Check::NodeOs), "the node OS check runs");
        f.into_iter().filter(|f| f.check == Check::NodeOs).collect::<Vec<_>>()
    };
    let al2 = node_os("AL2_x86_64");
    assert!(
        al2.iter()
            .any(|f| f.severity == Severity::Blocker && f.resources.iter().any(|r| r.contains("legacy"))),
        "{al2:#?}"
    );
    assert!(
        node_os("AL2023_x86_64_STANDARD")
            .iter()
            .all(|f| f.severity != Severity::Blocker)
    );
}
