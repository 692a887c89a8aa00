//! Preflight against the simulator: the `preflight` scenario is seeded with one of
//! each kind of finding and with the evidence that misleads other scanners; the
//! `demo` scenario must give its few true findings and no false ones. All three
//! formats, the exit codes, and the read-only promise are checked through the binary.

mod common;

use upshift::preflight::gather::gather;
use upshift::preflight::tables::Tables;
use upshift::preflight::{Check, Confidence, Finding, Severity, run};
use upshift::sim::Simulator;

async fn findings(sim: &Simulator, target: &str) -> Vec<Finding> {
    let client = sim.client("viewer").await.unwrap();
    let snapshot = gather(&upshift::cluster::ClusterReader::new(client))
        .await
        .expect("gathers");
    let tables = Tables::load(None).unwrap();
    run(&snapshot, target, &tables, 1, None).0
}

fn find<'a>(all: &'a [Finding], check: Check, needle: &str) -> Vec<&'a Finding> {
    all.iter()
        .filter(|f| f.check == check && f.title.contains(needle))
        .collect()
}

#[tokio::test]
async fn the_seeded_cluster_gives_each_finding_and_no_false_blockers() {
    let sim = common::start("preflight").await;
    let all = findings(&sim, "1.25").await;
    let titles: Vec<&str> = all.iter().map(|f| f.title.as_str()).collect();

    // removed APIs: the latest Helm revision is a blocker, high confidence, per API
    let helm = find(&all, Check::RemovedApis, "Helm release shop/shop");
    assert_eq!(helm.len(), 2, "{titles:#?}");
    assert!(
        helm.iter()
            .all(|f| f.severity == Severity::Blocker && f.confidence == Some(Confidence::High))
    );
    assert!(
        helm.iter()
            .any(|f| f.title.contains("policy/v1beta1") && f.resources == ["PodDisruptionBudget storefront"])
    );
    assert!(
        helm.iter()
            .any(|f| f.title.contains("batch/v1beta1") && f.action.contains("batch/v1"))
    );
    // a release kept in a Secret (Helm's default driver) is read too; PSP has no replacement
    let psp = find(&all, Check::RemovedApis, "Helm release payments/payments");
    assert_eq!(psp.len(), 1, "{titles:#?}");
    assert_eq!(psp[0].severity, Severity::Blocker);
    assert!(psp[0].action.contains("No replacement") && psp[0].action.contains("Pod Security Admission"));
    // the superseded revision's Ingress and the release on policy/v1 are not findings
    assert!(!titles.iter().any(|t| t.contains("extensions/v1beta1")), "{titles:#?}");
    assert!(!titles.iter().any(|t| t.contains("monitoring/metrics")), "{titles:#?}");
    // last applied through the removed version: a warning, medium confidence
    let reports = find(&all, Check::RemovedApis, "shop/reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].severity, Severity::Warning);
    assert_eq!(reports[0].confidence, Some(Confidence::Medium));
    // rewritten through policy/v1 since: a note with low confidence, never a blocker
    let cart = find(&all, Check::RemovedApis, "shop/cart");
    assert_eq!(cart.len(), 1);
    assert_eq!(cart[0].severity, Severity::Info);
    assert_eq!(cart[0].confidence, Some(Confidence::Low));
    assert!(cart[0].evidence.iter().any(|e| e.contains("argocd-controller")));

    // skew: 1.22 kubelets are three minors behind 1.25, where two are allowed
    let skew = find(&all, Check::Skew, "legacy");
    assert_eq!(skew.len(), 1);
    assert_eq!(skew[0].severity, Severity::Blocker);
    assert!(skew[0].action.contains("1.23"));

    // components
    assert_eq!(find(&all, Check::Components, "cluster-autoscaler").len(), 1);
    assert!(find(&all, Check::Components, "coredns")[0].title.contains("v1.9.3"));
    let nginx = find(&all, Check::Components, "ingress-nginx");
    assert_eq!(nginx.len(), 1);
    assert!(nginx[0].action.contains("preferably to 1.9"), "{}", nginx[0].action);
    assert_eq!(find(&all, Check::Components, "kube-proxy")[0].severity, Severity::Info);

    // drain blockers
    let pdb = find(&all, Check::DrainBlockers, "shop/billing");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0].severity, Severity::Blocker);
    assert_eq!(
        pdb[0].resources.len(),
        3,
        "the budget and both its pods: {:?}",
        pdb[0].resources
    );
    assert!(
        find(&all, Check::DrainBlockers, "single replica")[0]
            .resources
            .contains(&"Deployment shop/search".to_string())
    );
    assert_eq!(
        find(&all, Check::DrainBlockers, "no controller")[0].resources,
        ["Pod default/debug"]
    );
    assert_eq!(
        find(&all, Check::DrainBlockers, "tolerate every taint")[0].resources,
        ["Deployment logging/log-shipper"]
    );
    assert!(
        find(&all, Check::DrainBlockers, "keep data on the node")[0]
            .resources
            .contains(&"Deployment shop/search".to_string())
    );

    // capacity: the apps group's fullest node does not fit in the rest
    let cap = find(&all, Check::Capacity, "group apps");
    assert_eq!(cap.len(), 1, "{titles:#?}");
    assert!(cap[0].resources.iter().all(|r| r.starts_with("Pod shop/")));

    assert!(all.windows(2).all(|w| w[0].severity <= w[1].severity), "blockers first");
}

#[tokio::test]
async fn the_demo_gives_its_true_findings_and_no_false_ones() {
    let sim = common::start("demo").await;
    let all = findings(&sim, "1.35").await;
    let titles: Vec<&str> = all.iter().map(|f| f.title.as_str()).collect();
    assert!(
        find(&all, Check::RemovedApis, "").is_empty(),
        "1.35 removes no API: {titles:#?}"
    );
    assert!(find(&all, Check::Skew, "").is_empty(), "{titles:#?}");
    let blockers: Vec<&str> = all
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .map(|f| f.title.as_str())
        .collect();
    assert_eq!(blockers.len(), 1, "{blockers:#?}");
    assert!(blockers[0].contains("payments/ledger"));
    assert!(!find(&all, Check::Components, "cluster-autoscaler").is_empty());
    assert!(find(&all, Check::DrainBlockers, "no controller")[0].resources == ["Pod default/debug-shell"]);
    // two minors ahead is refused; the same version is a note
    let far = findings(&sim, "1.36").await;
    let v = find(&far, Check::Version, "more than one minor");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].severity, Severity::Blocker);
    assert!(v[0].action.contains("1.35"));
    let same = findings(&sim, "1.34").await;
    assert_eq!(find(&same, Check::Version, "already")[0].severity, Severity::Info);
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_speaks_text_json_and_markdown_with_exit_codes() {
    let sim = common::start("preflight").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let log = dir.path().join("log");
    let run = move |args: Vec<String>| {
        let kc = kc.clone();
        let log = log.clone();
        tokio::task::spawn_blocking(move || {
            common::bin::upshift()
                .arg("--log-file")
                .arg(&log)
                .arg("preflight")
                .arg("--kubeconfig")
                .arg(&kc)
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();

    let text = run(args("--target 1.25 --context viewer")).await.unwrap();
    assert_eq!(text.status.code(), Some(1), "blockers found");
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("BLOCKER  PodDisruptionBudget shop/billing allows no disruption"),
        "{out}"
    );
    assert!(
        out.contains("[High confidence]") && out.contains("[Low confidence]"),
        "{out}"
    );
    // the simulator serves every kind preflight reads (StatefulSets included)
    assert!(!out.contains("could not read"), "everything was read: {out}");
    assert!(
        !out.contains("could not read secrets"),
        "Helm releases in Secrets are read: {out}"
    );

    let json = run(args("--target 1.25 --format json --context viewer")).await.unwrap();
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["current"], "1.24");
    assert_eq!(doc["target"], "1.25");
    assert_eq!(doc["blockers"], 5);
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f["severity"].is_string() && f["why"].is_string() && f["action"].is_string())
    );
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "removed-apis" && f["confidence"] == "high")
    );

    let md = run(args("--target 1.25 --format markdown --context viewer"))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&md.stdout);
    assert!(out.starts_with("# Preflight: 1.24 → 1.25"), "{out}");
    // the title names the cluster and the day, for a thread of many clusters
    let title = out.lines().next().unwrap_or_default();
    let today = jiff::Zoned::now().date().to_string();
    assert!(title.contains(", cluster ") && title.ends_with(&today), "{title}");
    for heading in [
        "## Blockers",
        "## Warnings",
        "## Notes",
        "## Checks run",
        "| check | examined | complete |",
    ] {
        assert!(out.contains(heading), "{heading} in {out}");
    }

    let bad = run(args("--target banana --context viewer")).await.unwrap();
    assert_eq!(bad.status.code(), Some(2), "could not run");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--target \"banana\""));
    let no_ctx = run(args("--target 1.25 --context nope")).await.unwrap();
    assert_eq!(no_ctx.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_ctx.stderr).contains("no context \"nope\""));

    assert_eq!(sim.request_counts().mutating("viewer"), 0, "preflight only reads");
}

#[tokio::test]
async fn eks_adds_its_view_through_the_cloud_client() {
    use upshift::cloud::{AwsCloud, AwsOptions};
    let sim = common::start("demo").await;
    let cloud = AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .expect("cloud client");
    let facts = upshift::preflight::eks::gather(&cloud, sim.cluster_name(), "1.35")
        .await
        .expect("EKS answers");
    assert_eq!(facts.cluster.version, "1.34");
    assert_eq!(facts.nodegroups.len(), 2, "two managed groups; batch is self-managed");
    assert!(facts.unreadable.is_empty(), "{:?}", facts.unreadable);
    let client = sim.client("viewer").await.unwrap();
    let snapshot = gather(&upshift::cluster::ClusterReader::new(client)).await.unwrap();
    let (all, runs) = run(&snapshot, "1.35", &Tables::load(None).unwrap(), 1, Some(&facts));
    let coredns = find(&all, Check::Eks, "Add-on coredns");
    assert_eq!(
        coredns.len(),
        1,
        "{:#?}",
        all.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    assert_eq!(coredns[0].severity, Severity::Warning);
    assert!(
        coredns[0].action.contains("v1.14.3"),
        "names the version to move to: {}",
        coredns[0].action
    );
    assert!(
        find(&all, Check::Eks, "Add-on kube-proxy")[0]
            .action
            .contains("after the node groups")
    );
    let vpc = find(&all, Check::Eks, "Add-on vpc-cni");
    assert_eq!(vpc[0].severity, Severity::Info, "compatible, not the default");
    assert!(
        find(&all, Check::Eks, "EKS insight")
            .iter()
            .all(|f| f.confidence == Some(Confidence::Medium))
    );
    let eks_run = runs.iter().find(|r| r.check == Check::Eks).unwrap();
    assert!(eks_run.complete && eks_run.examined.contains("2 managed node groups"));
    // a cluster EKS does not know: the error names the cluster and region
    let missing = upshift::preflight::eks::gather(&cloud, "nope", "1.35")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("nope") && missing.contains(&sim.aws_region()),
        "{missing}"
    );
}

/// The `stateful` scenario: postgres and redis keep one EBS volume per zone on the
/// `data` group's one node per zone. Draining a batch of one data node leaves its
/// zone with an apps node only, which their node selector refuses: each zone is a
/// warning naming the zone, the group, the pods and their claims.
#[tokio::test]
async fn stateful_pods_on_zonal_volumes_are_counted_per_zone() {
    let sim = common::start("stateful").await;
    let all = common::eventually(
        &sim,
        std::time::Duration::from_secs(5),
        120,
        "every volume bound",
        || {
            let sim = &sim;
            async move {
                let all = findings(sim, "1.33").await;
                let zonal: Vec<Finding> = find(&all, Check::Capacity, "whose volumes are in")
                    .into_iter()
                    .cloned()
                    .collect();
                (zonal.len() == 3).then_some(zonal)
            }
        },
    )
    .await;
    for zone in ["eu-west-1a", "eu-west-1b", "eu-west-1c"] {
        let f = all
            .iter()
            .find(|f| f.title.contains(&format!("in {zone} leaves")))
            .unwrap_or_else(|| panic!("no finding for {zone}: {all:#?}"));
        assert_eq!(f.severity, Severity::Warning, "an apps node stays in {zone}: {f:#?}");
        assert!(f.title.contains("group data"), "{}", f.title);
        assert!(
            f.resources.iter().any(|r| r.starts_with("Pod data/postgres-")),
            "{:?}",
            f.resources
        );
        assert!(
            f.resources
                .iter()
                .any(|r| r.starts_with("PersistentVolumeClaim data/data-postgres-")),
            "{:?}",
            f.resources
        );
        assert!(
            f.evidence.iter().any(|e| e.contains("may not run there")),
            "{:?}",
            f.evidence
        );
    }
    assert_eq!(sim.request_counts().mutating("viewer"), 0);
}
