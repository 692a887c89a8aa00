//! The Karpenter check on hand-made facts: each finding appears when its cause is
//! there and not otherwise.

use serde_json::json;

use super::*;
use crate::model::Interner;

const DAY: i64 = 86_400;

fn pool(name: &str, spec: serde_json::Value) -> NodePoolInfo {
    NodePoolInfo::from_json(&json!({"metadata": {"name": name}, "spec": spec}))
}

fn claim(name: &str, pool: &str, node: &str, age_days: f64, now: i64, auto: bool) -> NodeClaimInfo {
    let created = Timestamp::from_second(now - (age_days * DAY as f64) as i64).unwrap();
    let group = if auto { "eks.amazonaws.com" } else { "karpenter.k8s.aws" };
    NodeClaimInfo::from_json(
        &json!({"metadata": {"name": name, "labels": {"karpenter.sh/nodepool": pool}, "creationTimestamp": created.to_string()},
                "spec": {"nodeClassRef": {"group": group, "kind": "EC2NodeClass", "name": "default"}},
                "status": {"nodeName": node}}),
        &mut Interner::default(),
    )
}

fn facts(now: i64) -> KarpenterFacts {
    KarpenterFacts {
        now: Timestamp::from_second(now).unwrap(),
        window_secs: DAY,
        version: Some(("Deployment kube-system/karpenter".into(), "1.8.2".into())),
        ..KarpenterFacts::default()
    }
}

fn titled<'a>(f: &'a [Finding], needle: &str) -> Vec<&'a Finding> {
    f.iter().filter(|f| f.title.contains(needle)).collect()
}

#[test]
fn expiry_inside_the_window_is_a_warning_outside_is_not() {
    let now = 1_000 * DAY;
    let mut f = facts(now);
    let held = json!({"template": {"spec": {"expireAfter": "720h"}}, "disruption": {"budgets": [{"nodes": "0", "reasons": ["Drifted"]}]}});
    f.nodepools = vec![pool("general", held)];
    f.claims = vec![
        claim("general-aaaaa", "general", "n1", 29.5, now, false),
        claim("general-bbbbb", "general", "n2", 10.0, now, false),
    ];
    let (out, run) = check(&f, "1.31");
    let exp = titled(&out, "expire (expireAfter 720h) within the 1d window");
    assert_eq!(exp.len(), 1, "{out:#?}");
    assert!(
        exp[0].title.starts_with("1 node(s) of NodePool general"),
        "{}",
        exp[0].title
    );
    assert!(exp[0].action.contains("n1") && !exp[0].action.contains("n2"));
    assert!(
        exp[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("source: Karpenter documentation"))
    );
    assert!(run.examined.contains("Karpenter 1.8.2"), "{}", run.examined);
    assert!(titled(&out, "default budget").is_empty() && titled(&out, "no disruption budget").is_empty());
    // a week's window takes both
    f.window_secs = 30 * DAY;
    let (out, _) = check(&f, "1.31");
    assert!(
        !titled(&out, "2 node(s) of NodePool general expire").is_empty(),
        "{out:#?}"
    );
}

#[test]
fn auto_mode_is_recognised_and_its_21_days_end_nodes_that_expireafter_would_not() {
    let now = 1_000 * DAY;
    let mut f = facts(now);
    f.version = None;
    f.auto_mode = Some("EKS DescribeCluster: computeConfig.enabled".into());
    f.nodepools = vec![pool(
        "general-purpose",
        json!({"template": {"spec": {"expireAfter": "1000h", "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"}}},
               "disruption": {"budgets": [{"nodes": "10%"}]}}),
    )];
    f.claims = vec![
        claim("general-purpose-aaaaa", "general-purpose", "i-1", 20.5, now, true),
        claim("general-purpose-bbbbb", "general-purpose", "i-2", 3.0, now, true),
    ];
    let (out, run) = check(&f, "1.31");
    assert_eq!(titled(&out, "runs EKS Auto Mode").len(), 1, "{out:#?}");
    let life = titled(&out, "reach Auto Mode's 21-day lifetime");
    assert_eq!(life.len(), 1, "{out:#?}");
    assert!(life[0].title.starts_with("1 node(s)"));
    assert!(
        life[0]
            .evidence
            .iter()
            .any(|e| e.contains("21-day maximum node lifetime"))
    );
    assert!(run.examined.contains("Auto Mode"), "{}", run.examined);
    // the same without Auto Mode: 1000h is 41 days, nothing ends in the window
    f.auto_mode = None;
    let (out, _) = check(&f, "1.31");
    assert!(
        titled(&out, "21-day").is_empty() && titled(&out, "expire").is_empty(),
        "{out:#?}"
    );
}

#[test]
fn grace_periods_do_not_disrupt_default_budgets_and_latest_aliases() {
    let now = 1_000 * DAY;
    let mut f = facts(now);
    f.nodepools = vec![
        pool(
            "general",
            json!({"template": {"spec": {"nodeClassRef": {"kind": "EC2NodeClass", "name": "default"}}}}),
        ),
        pool(
            "critical",
            json!({"template": {"spec": {"terminationGracePeriod": "24h", "nodeClassRef": {"kind": "EC2NodeClass", "name": "pinned"}}},
                   "disruption": {"budgets": [{"nodes": "1"}]}}),
        ),
    ];
    f.claims = vec![
        claim("general-aaaaa", "general", "n1", 1.0, now, false),
        claim("critical-aaaaa", "critical", "n2", 1.0, now, false),
    ];
    f.nodeclasses = vec![
        NodeClassFacts {
            name: "default".into(),
            aliases: vec!["al2023@latest".into()],
        },
        NodeClassFacts {
            name: "pinned".into(),
            aliases: vec!["al2023@v20251108".into()],
        },
    ];
    f.do_not_disrupt = vec![("ops/migration".into(), "n1".into())];
    let (out, _) = check(&f, "1.31");
    let tgp = titled(&out, "terminationGracePeriod (24h) ends inside");
    assert_eq!(tgp.len(), 1, "{out:#?}");
    assert!(tgp[0].title.contains("critical"));
    let dnd = titled(&out, "karpenter.sh/do-not-disrupt");
    assert_eq!(dnd.len(), 1);
    assert_eq!(dnd[0].resources, vec!["Pod ops/migration on n1".to_string()]);
    let budget = titled(&out, "has no disruption budget");
    assert_eq!(budget.len(), 1, "{out:#?}");
    assert!(budget[0].title.contains("NodePool general"));
    let latest = titled(&out, "alias al2023@latest");
    assert_eq!(latest.len(), 1, "{out:#?}");
    assert!(latest[0].title.contains("EC2NodeClass default") && latest[0].title.contains("its 1 node(s)"));
    assert!(latest[0].resources.contains(&"NodePool general".to_string()));
    assert!(titled(&out, "pinned").is_empty(), "a pinned alias does not drift");
    assert!(
        out.iter()
            .all(|f| f.severity == Severity::Warning && f.check == Check::Karpenter)
    );
    // a window shorter than the grace period: no grace period finding
    f.window_secs = 8 * 3600;
    let (out, _) = check(&f, "1.31");
    assert!(titled(&out, "terminationGracePeriod").is_empty());
}
