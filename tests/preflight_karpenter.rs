//! Preflight's Karpenter check against the simulator: the `karpenter` scenario's
//! `@latest` EC2NodeClass, its do-not-disrupt pod, the pinned NodePool's grace period
//! and the default budget are found (and the pinned class is not); the `automode`
//! scenario is recognised through EKS's DescribeCluster, and its nodes' lifetimes are
//! reported when they end inside the window; a cluster without Karpenter gets nothing;
//! the command prints the check in text, JSON and Markdown.

mod common;

use upshift::cluster::ClusterReader;
use upshift::preflight::gather::gather;
use upshift::preflight::karpenter::{self, KarpenterFacts};
use upshift::preflight::{Check, CheckRun, Finding, Severity};
use upshift::sim::Simulator;

const HOUR: i64 = 3600;

async fn facts(sim: &Simulator, eks: Option<&upshift::cloud::ClusterInfo>, window_h: i64) -> Option<KarpenterFacts> {
    let reader = ClusterReader::new(sim.client("viewer").await.unwrap());
    let snapshot = gather(&reader).await.expect("gathers");
    let now = sim.world().lock().now;
    karpenter::gather::gather(&reader, &snapshot, eks, now, window_h * HOUR).await
}

fn titled<'a>(all: &'a [Finding], needle: &str) -> Vec<&'a Finding> {
    all.iter().filter(|f| f.title.contains(needle)).collect()
}

fn judged(f: &KarpenterFacts) -> (Vec<Finding>, CheckRun) {
    karpenter::check(f, "1.31")
}

#[tokio::test]
async fn the_karpenter_scenario_gives_each_finding_and_not_the_pinned_class() {
    let sim = common::start("karpenter").await;
    let f = facts(&sim, None, 24).await.expect("Karpenter is there");
    assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
    assert_eq!(f.version.as_ref().map(|(_, v)| v.as_str()), Some("1.8.2"));
    assert!(f.auto_mode.is_none());
    let (all, run) = judged(&f);
    let titles: Vec<&String> = all.iter().map(|f| &f.title).collect();
    assert!(
        run.complete && run.examined.contains("Karpenter 1.8.2"),
        "{}",
        run.examined
    );
    assert!(
        run.examined
            .contains("2 NodePool(s), 20 NodeClaim(s), 2 EC2NodeClass(es)"),
        "{}",
        run.examined
    );

    let latest = titled(&all, "EC2NodeClass default selects its AMI by alias al2023@latest");
    assert_eq!(latest.len(), 1, "{titles:#?}");
    assert!(latest[0].title.contains("its 14 node(s)"), "{}", latest[0].title);
    assert!(titled(&all, "EC2NodeClass pinned").is_empty(), "{titles:#?}");

    let dnd = titled(&all, "karpenter.sh/do-not-disrupt");
    assert_eq!(dnd.len(), 1, "{titles:#?}");
    assert!(
        dnd[0].resources.iter().any(|r| r.starts_with("Pod ops/migration")),
        "{:?}",
        dnd[0].resources
    );

    let grace = titled(&all, "terminationGracePeriod");
    assert_eq!(grace.len(), 1, "{titles:#?}");
    assert!(grace[0].title.contains("NodePool critical"));

    let budgets = titled(&all, "default budget");
    assert_eq!(
        budgets.len(),
        1,
        "general's nodes: 10% is the default; critical's 1 is not: {titles:#?}"
    );
    assert!(budgets[0].title.contains("NodePool general"));
    assert!(
        titled(&all, "Auto Mode").is_empty() && titled(&all, "expire").is_empty(),
        "{titles:#?}"
    );
    assert!(
        all.iter()
            .all(|f| f.check == Check::Karpenter && !f.evidence.is_empty())
    );
    // a shorter window: the 24h grace period no longer ends inside it
    let mut short = f.clone();
    short.window_secs = 8 * HOUR;
    assert!(titled(&judged(&short).0, "terminationGracePeriod").is_empty());
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "preflight only reads");
}

#[tokio::test]
async fn auto_mode_is_recognised_through_eks_and_lifetimes_in_the_window_are_reported() {
    use upshift::cloud::{AwsCloud, AwsOptions, CloudRead};
    let sim = common::start("automode").await;
    let cloud = AwsCloud::connect(&AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
        .await
        .expect("cloud client");
    let cluster = cloud
        .describe_cluster(sim.cluster_name())
        .await
        .expect("DescribeCluster");
    assert!(cluster.auto_mode, "computeConfig.enabled");
    assert_eq!(
        cluster.auto_mode_pools,
        vec!["general-purpose".to_string(), "system".to_string()]
    );

    // a day's window: the 10-day-old nodes expire (336h) in four days, not inside it
    let f = facts(&sim, Some(&cluster), 24).await.expect("Auto Mode is there");
    assert!(
        f.auto_mode
            .as_deref()
            .is_some_and(|w| w.contains("computeConfig.enabled")),
        "{:?}",
        f.auto_mode
    );
    let (all, run) = judged(&f);
    assert_eq!(titled(&all, "runs EKS Auto Mode").len(), 1, "{all:#?}");
    assert!(titled(&all, "expire").is_empty(), "{all:#?}");
    assert!(
        run.examined.contains("Karpenter run by EKS (Auto Mode)"),
        "{}",
        run.examined
    );

    // a five-day window: every node's expireAfter ends inside it
    let f = facts(&sim, Some(&cluster), 5 * 24).await.unwrap();
    let (all, _) = judged(&f);
    let general = titled(&all, "8 node(s) of NodePool general-purpose expire (expireAfter 336h)");
    assert_eq!(
        general.len(),
        1,
        "{:#?}",
        all.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    assert_eq!(general[0].severity, Severity::Warning);
    assert_eq!(titled(&all, "2 node(s) of NodePool system expire").len(), 1);
    // without EKS's word, the NodePools' class still says Auto Mode
    let f = facts(&sim, None, 24).await.unwrap();
    assert!(
        f.auto_mode.as_deref().is_some_and(|w| w.contains("eks.amazonaws.com")),
        "{:?}",
        f.auto_mode
    );
}

#[tokio::test]
async fn no_karpenter_no_facts_and_the_command_prints_the_check() {
    let sim = common::start("demo").await;
    assert!(facts(&sim, None, 24).await.is_none(), "the demo has no Karpenter");
    drop(sim);

    let sim = common::start("karpenter").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let log = dir.path().join("log");
    let run = move |format: &'static str| {
        let kc = kc.clone();
        let log = log.clone();
        tokio::task::spawn_blocking(move || {
            common::bin::upshift()
                .arg("--log-file")
                .arg(&log)
                .arg("preflight")
                .arg("--kubeconfig")
                .arg(&kc)
                .args([
                    "--target",
                    "1.31",
                    "--context",
                    "viewer",
                    "--window",
                    "24",
                    "--format",
                    format,
                ])
                .output()
                .unwrap()
        })
    };
    let text = run("text").await.unwrap();
    let out = String::from_utf8_lossy(&text.stdout);
    assert_ne!(
        text.status.code(),
        Some(2),
        "{out}\n{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        out.contains("WARNING  EC2NodeClass default selects its AMI by alias al2023@latest"),
        "{out}"
    );
    assert!(out.contains("check: Karpenter and Auto Mode"), "{out}");
    assert!(out.contains("evidence: source: Karpenter documentation"), "{out}");
    assert!(
        out.contains("Karpenter 1.8.2 (Deployment kube-system/karpenter"),
        "{out}"
    );

    let json = run("json").await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    let ours: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "karpenter")
        .collect();
    assert!(ours.len() >= 4, "{ours:#?}");
    assert!(
        ours.iter()
            .all(|f| f["severity"].is_string() && f["action"].is_string())
    );

    let md = run("markdown").await.unwrap();
    let out = String::from_utf8_lossy(&md.stdout);
    assert!(out.contains("Karpenter and Auto Mode"), "{out}");
    assert_eq!(sim.request_counts().mutating("viewer"), 0, "preflight only reads");
}
