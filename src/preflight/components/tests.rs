//! The component check on the built-in table, at the edges of what it knows: a
//! target beyond its horizon, minors it marks unverified, a retired project, and
//! the shapes of knowledge (same minor, minimum, supported minors, open-ended support).

use super::*;
use crate::preflight::tables::Tables;

fn workload(kind: &str, name: &str, image: &str) -> WorkloadFacts {
    WorkloadFacts {
        kind: kind.into(),
        namespace: "kube-system".into(),
        name: name.into(),
        replicas: 2,
        images: vec![image.into()],
        tolerates_all: false,
    }
}

fn judge_all(target: &str, workloads: Vec<WorkloadFacts>) -> (Vec<Finding>, CheckRun) {
    let tables = Tables::load(None).unwrap();
    let s = Snapshot {
        workloads,
        ..Snapshot::default()
    };
    check(&s, target, &tables.components)
}

fn about<'a>(all: &'a [Finding], needle: &str) -> Vec<&'a Finding> {
    all.iter().filter(|f| f.title.contains(needle)).collect()
}

const ECR: &str = "602401143452.dkr.ecr.us-east-1.amazonaws.com";

#[test]
fn a_target_beyond_the_horizon_is_a_warning_about_the_table_not_an_ok() {
    let (all, run) = judge_all(
        "1.38",
        vec![
            workload(
                "Deployment",
                "coredns",
                &format!("{ECR}/eks/coredns:v1.14.3-eksbuild.3"),
            ),
            workload("Deployment", "karpenter", "public.ecr.aws/karpenter/controller:1.13.0"),
            workload(
                "DaemonSet",
                "kube-proxy",
                &format!("{ECR}/eks/kube-proxy:v1.37.1-eksbuild.2"),
            ),
        ],
    );
    let gap = about(&all, "The component table was last checked against 1.37");
    assert_eq!(gap.len(), 1, "{all:#?}");
    assert_eq!(gap[0].severity, Severity::Warning);
    assert!(gap[0].title.contains("coredns, karpenter on 1.38"), "{}", gap[0].title);
    assert!(
        gap[0]
            .resources
            .contains(&"Deployment kube-system/karpenter (1.13.0)".to_string())
    );
    assert!(
        gap[0]
            .why
            .contains("not a finding that these components do not support")
    );
    assert!(all.iter().all(|f| f.severity != Severity::Blocker), "{all:#?}");
    // the skew rule is a rule, not data: kube-proxy is still judged
    assert_eq!(about(&all, "kube-proxy")[0].severity, Severity::Info);
    assert!(!run.complete, "a gap is never an ok");
    assert!(
        run.examined.contains("checked against 1.37 on 2026-12-01"),
        "{}",
        run.examined
    );

    // within the horizon, the same cluster is judged and the run is complete
    let (all, run) = judge_all(
        "1.36",
        vec![workload(
            "Deployment",
            "karpenter",
            "public.ecr.aws/karpenter/controller:1.13.0",
        )],
    );
    assert!(about(&all, "karpenter").is_empty(), "{all:#?}");
    assert!(run.complete);
}

#[test]
fn an_unverified_minor_is_a_gap_never_an_unsupported_component() {
    let (all, run) = judge_all(
        "1.37",
        vec![
            workload("Deployment", "karpenter", "public.ecr.aws/karpenter/controller:1.13.0"),
            workload(
                "Deployment",
                "cluster-autoscaler",
                "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.0",
            ),
            workload(
                "Deployment",
                "aws-load-balancer-controller",
                "public.ecr.aws/eks/aws-load-balancer-controller:v2.13.1",
            ),
        ],
    );
    for name in ["karpenter", "cluster-autoscaler", "aws-load-balancer-controller"] {
        let f = about(&all, &format!("The component table has no {name} data for 1.37"));
        assert_eq!(f.len(), 1, "{name}: {all:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
    }
    assert!(
        all.iter()
            .all(|f| !f.title.contains("no known") && !f.title.contains("no release")),
        "\"no known release\" only where the table knows: {all:#?}"
    );
    assert!(
        !run.complete && run.examined.contains("no data for 1.37"),
        "{}",
        run.examined
    );
}

#[test]
fn retired_ingress_nginx_blocks_where_no_release_supports_the_target() {
    let nginx = |tag: &str| {
        workload(
            "Deployment",
            "ingress-nginx-controller",
            &format!("registry.k8s.io/ingress-nginx/controller:{tag}"),
        )
    };
    let (all, _) = judge_all("1.36", vec![nginx("v1.15.1")]);
    let f = about(&all, "ingress-nginx");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].severity, Severity::Blocker);
    assert!(
        f[0].title
            .contains("retired upstream; no release supports Kubernetes 1.36"),
        "{}",
        f[0].title
    );
    assert!(f[0].why.contains("retired upstream on 2026-03-24"), "{}", f[0].why);
    // 1.37 too: retirement is knowledge, not a gap
    let (all, _) = judge_all("1.37", vec![nginx("v1.14.5")]);
    assert_eq!(
        about(&all, "retired upstream; no release supports Kubernetes 1.37").len(),
        1
    );
    // a release supports the target: upgrade it, and know it is retired
    let (all, _) = judge_all("1.33", vec![nginx("v1.12.8")]);
    let f = about(&all, "ingress-nginx");
    assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
    assert!(f[0].action.contains("preferably to 1.15"), "{}", f[0].action);
    assert!(f[0].why.contains("retired"), "{}", f[0].why);
    // supported: a note that the project is retired
    let (all, _) = judge_all("1.35", vec![nginx("v1.15.1")]);
    let f = about(&all, "ingress-nginx");
    assert_eq!((f.len(), f[0].severity), (1, Severity::Info));
}

#[test]
fn each_shape_of_knowledge_judges_at_its_edges() {
    // same minor: cluster-autoscaler
    let ca = |tag: &str| {
        workload(
            "Deployment",
            "cluster-autoscaler",
            &format!("registry.k8s.io/autoscaling/cluster-autoscaler:{tag}"),
        )
    };
    assert!(about(&judge_all("1.36", vec![ca("v1.36.0")]).0, "cluster-autoscaler").is_empty());
    let (all, _) = judge_all("1.36", vec![ca("v1.35.1")]);
    assert!(about(&all, "cluster-autoscaler")[0].title.contains("must be 1.36"));

    // minimum: coredns and vpc-cni
    let (all, _) = judge_all(
        "1.36",
        vec![workload(
            "Deployment",
            "coredns",
            &format!("{ECR}/eks/coredns:v1.13.2-eksbuild.4"),
        )],
    );
    let f = about(&all, "coredns");
    assert_eq!(f.len(), 1);
    assert!(f[0].title.contains("1.36 needs v1.14.3 or newer"), "{}", f[0].title);
    let cni = |tag: &str| workload("DaemonSet", "aws-node", &format!("{ECR}/amazon-k8s-cni:{tag}"));
    let (all, _) = judge_all("1.31", vec![cni("v1.16.0-eksbuild.1")]);
    assert!(about(&all, "vpc-cni")[0].title.contains("1.31 needs v1.16.4"));
    assert!(about(&judge_all("1.33", vec![cni("v1.17.1-eksbuild.1")]).0, "vpc-cni").is_empty());
    let (all, _) = judge_all("1.34", vec![cni("v1.20.4-eksbuild.1")]);
    assert_eq!(about(&all, "no vpc-cni data for 1.34").len(), 1, "{all:#?}");

    // open-ended support: metrics-server
    let ms = |tag: &str| {
        workload(
            "Deployment",
            "metrics-server",
            &format!("registry.k8s.io/metrics-server/metrics-server:{tag}"),
        )
    };
    assert!(about(&judge_all("1.36", vec![ms("v0.7.2")]).0, "metrics-server").is_empty());
    let (all, _) = judge_all("1.33", vec![ms("v0.9.0")]);
    assert!(
        about(&all, "metrics-server")[0]
            .title
            .contains("needs Kubernetes 1.34 or newer")
    );
    let (all, _) = judge_all("1.33", vec![ms("v0.2.1")]);
    assert!(
        about(&all, "metrics-server")[0]
            .title
            .contains("older than any release")
    );

    // any supported minor: the EBS CSI driver, even beyond the horizon
    let ebs = workload(
        "Deployment",
        "ebs-csi-controller",
        "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.38.1",
    );
    let (all, run) = judge_all("1.38", vec![ebs]);
    assert!(about(&all, "aws-ebs-csi-driver").is_empty(), "{all:#?}");
    assert!(run.complete, "nothing left unjudged");
}
