//! The node OS check at each rule's boundary: Amazon Linux 2 from 1.32 to 1.33,
//! cgroup v1 from 1.34 to 1.35, containerd 1.x, a Bottlerocket node, an OS image the
//! table does not know, Fargate, and a target beyond the table's horizon.

use super::*;
use crate::preflight::tables::Tables;

fn node(name: &str, group: &str, os_image: &str, kernel: &str, runtime: &str) -> NodeOs {
    NodeOs {
        name: name.into(),
        group: group.into(),
        os_image: os_image.into(),
        kernel_version: kernel.into(),
        container_runtime: runtime.into(),
        kubelet_version: "v1.32.9-eks-113cf36".into(),
        cgroup: None,
        fargate: false,
    }
}

const AL2: &str = "Amazon Linux 2";
const AL2_KERNEL: &str = "5.10.234-225.910.amzn2.x86_64";
const AL2023: &str = "Amazon Linux 2023.6.20250115";
const AL2023_KERNEL: &str = "6.1.124-134.200.amzn2023.x86_64";

fn judge(input: &NodeOsInput, target: &str) -> (Vec<Finding>, CheckRun) {
    check(input, target, &Tables::load(None).unwrap().node_os)
}

fn severities(all: &[Finding]) -> Vec<(Severity, &str)> {
    all.iter().map(|f| (f.severity, f.title.as_str())).collect()
}

#[test]
fn a_managed_group_on_amazon_linux_2_is_blocked_from_1_33_and_told_where_to_go() {
    let input = NodeOsInput {
        nodes: vec![node("ip-1", "apps", AL2, AL2_KERNEL, "containerd://1.7.27")],
        managed_groups: vec![ManagedGroupOs {
            name: "apps".into(),
            ami_type: "AL2_x86_64".into(),
        }],
    };
    let (all, run) = judge(&input, "1.33");
    let blockers: Vec<&Finding> = all.iter().filter(|f| f.severity == Severity::Blocker).collect();
    assert_eq!(
        blockers.len(),
        1,
        "one finding for the group, not one per node: {:#?}",
        severities(&all)
    );
    let b = blockers[0];
    assert!(
        b.title
            .contains("Managed node group apps uses AL2_x86_64; EKS publishes no Amazon Linux 2 AMI for 1.33"),
        "{}",
        b.title
    );
    assert!(
        b.action.contains("Move group apps to AL2023_x86_64_STANDARD")
            && b.action
                .contains("before upgrading to 1.33: the plan can carry the AMI type change"),
        "{}",
        b.action
    );
    assert_eq!(b.resources, ["EKS node group apps"]);
    assert!(run.complete);

    // on 1.32 AMIs still exist: no blocker, but their support has ended
    let (all, _) = judge(&input, "1.32");
    assert!(
        all.iter().all(|f| f.severity != Severity::Blocker),
        "{:#?}",
        severities(&all)
    );
    let eos: Vec<&Finding> = all
        .iter()
        .filter(|f| f.title.contains("past its end of support (2025-11-26)"))
        .collect();
    assert_eq!(eos.len(), 1, "{:#?}", severities(&all));
    assert_eq!(eos[0].severity, Severity::Warning);
    assert!(eos[0].action.contains("no AMI from 1.33 on"), "{}", eos[0].action);

    // the GPU variant moves to the NVIDIA one
    let gpu = NodeOsInput {
        nodes: Vec::new(),
        managed_groups: vec![ManagedGroupOs {
            name: "gpu".into(),
            ami_type: "AL2_x86_64_GPU".into(),
        }],
    };
    let (all, _) = judge(&gpu, "1.33");
    assert!(
        all[0].action.contains("Move group gpu to AL2023_x86_64_NVIDIA"),
        "{}",
        all[0].action
    );
}

#[test]
fn self_managed_amazon_linux_2_nodes_are_blocked_too_with_cgroup_v1_said_once() {
    let input = NodeOsInput {
        nodes: vec![
            node("ip-1", "legacy", AL2, AL2_KERNEL, "containerd://1.7.27"),
            node("ip-2", "legacy", AL2, AL2_KERNEL, "containerd://1.7.27"),
        ],
        managed_groups: Vec::new(),
    };
    let (all, _) = judge(&input, "1.33");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert_eq!(all[0].severity, Severity::Blocker);
    assert_eq!(all[0].resources, ["node group legacy (2 nodes)"]);
    assert!(all[0].action.contains("AL2023"), "{}", all[0].action);
    // on 1.35 the same group: one blocker, which says cgroup v1 as well
    let (all, _) = judge(&input, "1.35");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert!(
        all[0].why.contains("cgroup v1, which the 1.35 kubelet refuses"),
        "{}",
        all[0].why
    );
    // on 1.32 nothing blocks them
    let (all, _) = judge(&input, "1.32");
    assert!(all.is_empty(), "{:#?}", severities(&all));
}

#[test]
fn cgroup_v1_blocks_from_1_35_and_not_before() {
    let mut n = node("ip-1", "apps", AL2023, AL2023_KERNEL, "containerd://2.1.4");
    n.cgroup = Some(CgroupVersion::V1);
    let input = NodeOsInput {
        nodes: vec![n],
        managed_groups: Vec::new(),
    };
    let (all, _) = judge(&input, "1.34");
    assert!(all.is_empty(), "{:#?}", severities(&all));
    let (all, _) = judge(&input, "1.35");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert_eq!(all[0].severity, Severity::Blocker);
    assert!(
        all[0].title.contains("cgroup v1, which the 1.35 kubelet refuses"),
        "{}",
        all[0].title
    );
    assert!(all[0].why.contains("the node reports it"), "{}", all[0].why);
    assert!(all[0].action.contains("failCgroupV1: false"), "{}", all[0].action);
    // AL2023 as shipped is on cgroup v2; an old kernel means v1 whatever the image
    let plain = NodeOsInput {
        nodes: vec![node("ip-2", "apps", AL2023, AL2023_KERNEL, "containerd://2.1.4")],
        managed_groups: Vec::new(),
    };
    assert!(judge(&plain, "1.35").0.is_empty());
    let old = NodeOsInput {
        nodes: vec![node("ip-3", "apps", AL2023, "4.19.0-1.x86_64", "containerd://2.1.4")],
        managed_groups: Vec::new(),
    };
    let (all, _) = judge(&old, "1.35");
    assert!(
        all[0].why.contains("kernel 4.19.0-1.x86_64 predates cgroup v2"),
        "{}",
        all[0].why
    );
}

#[test]
fn a_bottlerocket_node_is_known_and_not_blocked() {
    let mut br = node(
        "ip-1",
        "bottlerocket",
        "Bottlerocket OS 1.31.0 (aws-k8s-1.34)",
        "6.1.119",
        "containerd://2.0.5+bottlerocket",
    );
    let input = NodeOsInput {
        nodes: vec![br.clone()],
        managed_groups: vec![ManagedGroupOs {
            name: "bottlerocket".into(),
            ami_type: "BOTTLEROCKET_x86_64".into(),
        }],
    };
    let (all, run) = judge(&input, "1.35");
    assert!(all.is_empty(), "{:#?}", severities(&all));
    assert!(run.complete);
    // Bottlerocket sets failCgroupV1: false, so even a node on cgroup v1 keeps running
    br.cgroup = Some(CgroupVersion::V1);
    let (all, _) = judge(
        &NodeOsInput {
            nodes: vec![br],
            managed_groups: Vec::new(),
        },
        "1.35",
    );
    assert!(
        all.iter().all(|f| f.severity != Severity::Blocker),
        "{:#?}",
        severities(&all)
    );
}

#[test]
fn an_unknown_os_image_is_a_warning_not_silence() {
    let input = NodeOsInput {
        nodes: vec![node(
            "ip-1",
            "ubuntu",
            "Ubuntu 22.04.4 LTS",
            "6.5.0-1022-aws",
            "containerd://1.7.12",
        )],
        managed_groups: Vec::new(),
    };
    let (all, run) = judge(&input, "1.34");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert_eq!(all[0].severity, Severity::Warning);
    assert!(
        all[0]
            .title
            .contains("\"Ubuntu 22.04.4 LTS\", which the node OS table does not know"),
        "{}",
        all[0].title
    );
    assert!(!run.complete, "an OS it cannot judge leaves the check partial");
    // on 1.36 its containerd 1.x is named as well
    let (all, _) = judge(&input, "1.36");
    assert!(
        all.iter().any(|f| f
            .title
            .contains("containerd 1.x, which Kubernetes supports up to 1.35 only")),
        "{:#?}",
        severities(&all)
    );
}

#[test]
fn containerd_1_nodes_are_told_what_containerd_2_changes() {
    let input = NodeOsInput {
        nodes: vec![node("ip-1", "apps", AL2023, AL2023_KERNEL, "containerd://1.7.22")],
        managed_groups: vec![ManagedGroupOs {
            name: "apps".into(),
            ami_type: "AL2023_x86_64_STANDARD".into(),
        }],
    };
    let (all, _) = judge(&input, "1.34");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert_eq!(all[0].severity, Severity::Warning);
    assert!(
        all[0].title.contains("its nodes on 1.34 will run containerd 2"),
        "{}",
        all[0].title
    );
    assert!(
        all[0].why.contains("Docker schema 1") && all[0].why.contains("version 3"),
        "{}",
        all[0].why
    );
    // before AL2023 AMIs moved to containerd 2, nothing to say
    assert!(judge(&input, "1.31").0.is_empty());
    // already on containerd 2: nothing to say either
    let two = NodeOsInput {
        nodes: vec![node("ip-1", "apps", AL2023, AL2023_KERNEL, "containerd://2.1.4")],
        managed_groups: Vec::new(),
    };
    assert!(judge(&two, "1.36").0.is_empty());
    // dockershim is long gone
    let docker = NodeOsInput {
        nodes: vec![node("ip-1", "old", AL2023, AL2023_KERNEL, "docker://20.10.23")],
        managed_groups: Vec::new(),
    };
    let (all, _) = judge(&docker, "1.33");
    assert_eq!(all[0].severity, Severity::Blocker);
    assert!(all[0].title.contains("Docker"), "{}", all[0].title);
}

#[test]
fn fargate_nodes_are_left_to_eks() {
    let mut f = node("fargate-ip-1", "fargate", AL2, AL2_KERNEL, "containerd://1.7.27");
    f.fargate = true;
    let (all, run) = judge(
        &NodeOsInput {
            nodes: vec![f],
            managed_groups: Vec::new(),
        },
        "1.35",
    );
    assert!(all.is_empty(), "{:#?}", severities(&all));
    assert!(run.examined.contains("1 on Fargate"), "{}", run.examined);
}

#[test]
fn beyond_the_horizon_and_on_unverified_minors_it_warns() {
    let input = NodeOsInput {
        nodes: vec![node("ip-1", "apps", AL2023, AL2023_KERNEL, "containerd://2.1.4")],
        managed_groups: vec![ManagedGroupOs {
            name: "apps".into(),
            ami_type: "AL2023_x86_64_STANDARD".into(),
        }],
    };
    // 1.37: within the horizon, but EKS publishes nothing the table knows of
    let (all, run) = judge(&input, "1.37");
    assert_eq!(all.len(), 1, "{:#?}", severities(&all));
    assert_eq!(all[0].severity, Severity::Warning);
    assert!(
        all[0]
            .title
            .contains("cannot say whether EKS publishes Amazon Linux 2023 AMIs for 1.37"),
        "{}",
        all[0].title
    );
    assert!(run.complete, "a marked gap in one family is not a horizon");
    // 1.38: beyond the horizon
    let (all, run) = judge(&input, "1.38");
    assert!(
        all.iter().any(|f| f.severity == Severity::Warning
            && f.title
                .contains("The node OS table was last checked against 1.37; 1.38 may change")),
        "{:#?}",
        severities(&all)
    );
    assert!(!run.complete);
}

#[test]
fn a_node_is_read_from_its_node_info_and_labels() {
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ip-10-0-1-5", "labels": {"eks.amazonaws.com/nodegroup": "apps"}},
        "status": {"nodeInfo": {
            "osImage": "Amazon Linux 2023.6.20241111", "kernelVersion": "6.1.112-124.190.amzn2023.x86_64",
            "containerRuntimeVersion": "containerd://1.7.22", "kubeletVersion": "v1.30.6-eks-94953ac",
            "architecture": "amd64", "bootID": "", "kubeProxyVersion": "", "machineID": "",
            "operatingSystem": "linux", "systemUUID": ""
        }}
    }))
    .unwrap();
    let n = NodeOs::from_node(&node);
    assert_eq!(
        (
            n.name.as_str(),
            n.group.as_str(),
            n.os_image.as_str(),
            n.container_runtime.as_str()
        ),
        (
            "ip-10-0-1-5",
            "apps",
            "Amazon Linux 2023.6.20241111",
            "containerd://1.7.22"
        )
    );
    assert_eq!(n.kubelet_version, "v1.30.6-eks-94953ac");
    assert!(n.kernel_version.starts_with("6.1.112") && n.cgroup.is_none() && !n.fargate);
    let fargate: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "fargate-ip-1", "labels": {"eks.amazonaws.com/compute-type": "fargate"}}
    }))
    .unwrap();
    let f = NodeOs::from_node(&fargate);
    assert!(f.fargate && f.group == "fargate" && f.os_image.is_empty());
}
