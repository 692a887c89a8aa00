//! Node OS and container runtime against the target, judged by
//! `assets/preflight/node-os.yaml`: managed node groups on an AMI type EKS publishes
//! no AMI for (Amazon Linux 2 from 1.33), nodes on cgroup v1 where the target's
//! kubelet refuses it (1.35), container runtimes the target drops or changes
//! (containerd 1.x, dockershim), and OS images the table does not know — a warning,
//! never silence. A pure function over a small input (`NodeOsInput`), filled from
//! each node's `status.nodeInfo` and labels (`NodeOs::from_node`) and each managed
//! group's `amiType` (DescribeNodegroup).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::tables::node_os::Availability;
use super::tables::{CgroupUse, NodeOsTable, OsFamily, semver};
use super::{Check, CheckRun, Finding, Severity, minors_between};
use crate::model::node::{GROUP_LABELS, NO_GROUP};
use crate::units::Minor;

/// A node's cgroup version, when something says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// What preflight knows of one node's OS and runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOs {
    pub name: String,
    /// Its node group, from the group labels (managed group, eksctl, Karpenter NodePool).
    pub group: String,
    /// `status.nodeInfo.osImage`, e.g. `Amazon Linux 2023.6.20241111`.
    pub os_image: String,
    /// `status.nodeInfo.kernelVersion`, e.g. `6.1.112-124.190.amzn2023.x86_64`.
    pub kernel_version: String,
    /// `status.nodeInfo.containerRuntimeVersion`, e.g. `containerd://1.7.22`.
    pub container_runtime: String,
    /// `status.nodeInfo.kubeletVersion`, e.g. `v1.34.2-eks-b1d3b5c`.
    pub kubelet_version: String,
    /// The cgroup version when known; None when only the OS family and kernel can tell.
    pub cgroup: Option<CgroupVersion>,
    /// A Fargate node (`eks.amazonaws.com/compute-type: fargate`): EKS runs its OS.
    pub fargate: bool,
}

impl NodeOs {
    /// Reads a node's `status.nodeInfo` and labels. Nothing standard on a Node says
    /// its cgroup version, so `cgroup` is left unknown for the check to infer.
    pub fn from_node(node: &Node) -> NodeOs {
        let labels = node.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
        let field = |f: fn(&k8s_openapi::api::core::v1::NodeSystemInfo) -> &String| {
            info.map(|i| f(i).clone()).unwrap_or_default()
        };
        NodeOs {
            name: node.metadata.name.clone().unwrap_or_default(),
            group: GROUP_LABELS
                .iter()
                .find_map(|k| label(k))
                .unwrap_or(NO_GROUP)
                .to_string(),
            os_image: field(|i| &i.os_image),
            kernel_version: field(|i| &i.kernel_version),
            container_runtime: field(|i| &i.container_runtime_version),
            kubelet_version: field(|i| &i.kubelet_version),
            cgroup: None,
            fargate: label("eks.amazonaws.com/compute-type") == Some("fargate"),
        }
    }
}

/// A managed node group's AMI type, from DescribeNodegroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedGroupOs {
    pub name: String,
    /// e.g. `AL2_x86_64`, `AL2023_x86_64_STANDARD`, `CUSTOM`.
    pub ami_type: String,
}

/// Everything the node OS check judges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOsInput {
    pub nodes: Vec<NodeOs>,
    pub managed_groups: Vec<ManagedGroupOs>,
}

/// The reasons a group of nodes is named, one finding per group and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    Dockershim,
    NoAmi,
    CgroupV1,
    UnknownImage,
    Unverified,
    Containerd2,
    Containerd1,
}

/// A container runtime as `nodeInfo` reports it: `containerd://1.7.22`.
fn runtime(s: &str) -> (&str, Option<(u32, u32, u32)>) {
    match s.split_once("://") {
        Some((name, v)) => (name, semver(v)),
        None => (s, None),
    }
}

/// `6.1.112-124.190.amzn2023.x86_64` → (6, 1)
fn kernel(s: &str) -> Option<(u32, u32)> {
    semver(s).map(|(a, b, _)| (a, b))
}

/// The node's cgroup version and why upshift believes it.
fn cgroup_of(n: &NodeOs, family: Option<&OsFamily>, table: &NodeOsTable) -> Option<(CgroupVersion, String)> {
    if let Some(c) = n.cgroup {
        return Some((c, "the node reports it".into()));
    }
    if let Some(k) = kernel(&n.kernel_version)
        && k < {
            let m = Minor::key(&table.runtime.cgroup_v2_min_kernel);
            (m.major, m.minor)
        }
    {
        return Some((
            CgroupVersion::V1,
            format!(
                "kernel {} predates cgroup v2 support ({})",
                n.kernel_version, table.runtime.cgroup_v2_min_kernel
            ),
        ));
    }
    match family.map(|f| (f, f.cgroup)) {
        Some((f, CgroupUse::V1)) => Some((CgroupVersion::V1, format!("{} uses cgroup v1", f.name))),
        Some((f, CgroupUse::V2)) => Some((CgroupVersion::V2, format!("{} uses cgroup v2 by default", f.name))),
        _ => None,
    }
}

fn group_finding(
    severity: Severity,
    group: &str,
    nodes: &[&NodeOs],
    title: String,
    why: String,
    action: String,
    source: &str,
) -> Finding {
    let mut evidence: Vec<String> = nodes
        .iter()
        .take(5)
        .map(|n| {
            format!(
                "{}: {}, kernel {}, {}, kubelet {}",
                n.name, n.os_image, n.kernel_version, n.container_runtime, n.kubelet_version
            )
        })
        .collect();
    if nodes.len() > 5 {
        evidence.push(format!("and {} more", nodes.len() - 5));
    }
    evidence.push(format!("source: {source}"));
    Finding {
        check: Check::NodeOs,
        severity,
        confidence: None,
        title,
        resources: vec![format!("node group {group} ({} nodes)", nodes.len())],
        why,
        action,
        evidence,
    }
}

/// `1.32` → `1.33`
fn next_minor(minor: &str) -> String {
    Minor::key(minor).next().to_string()
}

fn move_to(f: &OsFamily, ami_type: Option<&str>) -> String {
    match ami_type.and_then(|a| f.move_to.get(a)) {
        Some(to) => to.clone(),
        None => {
            let mut to: Vec<&str> = f.move_to.values().map(String::as_str).collect();
            to.dedup();
            to.join(" or ")
        }
    }
}

/// The AMI type a managed group on `ami_type` must move to before `target`, when its
/// family has no AMI for `target` (e.g. `AL2_x86_64` → `AL2023_x86_64_STANDARD` for
/// 1.33); None when it needs no move or the table does not say where to.
pub fn needed_move(table: &NodeOsTable, ami_type: &str, target: &str) -> Option<String> {
    let f = table.family_of_ami(ami_type)?;
    (f.availability(target) == Availability::Never)
        .then(|| f.move_to.get(ami_type).cloned())
        .flatten()
}

/// Whether a node group copied by a plan's `blue-green` step can boot `ami_type` on
/// `target`; Err says why not and what to write instead.
pub fn check_planned_ami(table: &NodeOsTable, ami_type: &str, target: &str) -> Result<(), String> {
    if ami_type == "CUSTOM" {
        return Err("CUSTOM boots the AMI a launch template names, which upshift cannot choose for the target: give an EKS-published AMI type such as AL2023_x86_64_STANDARD".into());
    }
    let Some(f) = table.family_of_ami(ami_type) else {
        let known: Vec<&str> = table
            .families
            .iter()
            .flat_map(|f| f.ami_types.iter().map(String::as_str))
            .collect();
        return Err(format!(
            "{ami_type} is not an EKS AMI type upshift knows: use one of {}",
            known.join(", ")
        ));
    };
    if f.availability(target) == Availability::Never {
        return Err(format!(
            "EKS publishes no {} AMI for {target} (its last is for {}): use {}",
            f.name,
            f.published_through,
            move_to(f, Some(ami_type))
        ));
    }
    Ok(())
}

/// Findings the plan answers: a managed group blocked for having no AMI on the
/// target is not a blocker when the plan's `blue-green` step copies it onto an AMI
/// type that has one (`moves`: group → the copy's `amiType`); it stays listed, as
/// information saying so.
pub fn answered_by_plan(findings: &mut [Finding], moves: &[(String, String)]) {
    for f in findings.iter_mut() {
        if f.check != Check::NodeOs || f.severity != Severity::Blocker {
            continue;
        }
        let Some((group, to)) = moves
            .iter()
            .find(|(g, _)| f.resources.len() == 1 && f.resources[0] == format!("EKS node group {g}"))
        else {
            continue;
        };
        f.severity = Severity::Info;
        f.title = format!("{} — the plan's blue-green step moves group {group} to {to}", f.title);
        f.action = format!(
            "Nothing before the window: the plan copies group {group} onto {to}. Test the workloads on the new OS first (cgroup v2, containerd 2)."
        );
    }
}

/// The findings for managed node groups, by their AMI type.
fn managed_groups(input: &NodeOsInput, target: &str, table: &NodeOsTable) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in &input.managed_groups {
        let finding = |severity, title: String, why: String, action: String, source: &str| Finding {
            check: Check::NodeOs,
            severity,
            confidence: None,
            title,
            resources: vec![format!("EKS node group {}", g.name)],
            why,
            action,
            evidence: vec![format!("amiType {}", g.ami_type), format!("source: {source}")],
        };
        let Some(f) = table.family_of_ami(&g.ami_type) else {
            out.push(if g.ami_type == "CUSTOM" {
                finding(
                    Severity::Info,
                    format!("Managed node group {} uses a custom AMI", g.name),
                    "EKS does not publish custom AMIs, so upshift cannot know whether one exists for the target; the node findings judge what its nodes run now.".into(),
                    format!("Build and test your AMI for {target} before the node step: cgroup v2 from 1.35, containerd 2 from 1.36."),
                    &table.horizon.file,
                )
            } else {
                finding(
                    Severity::Warning,
                    format!("Managed node group {} uses amiType {}, which the node OS table does not know", g.name, g.ami_type),
                    format!("The table ({}) cannot say whether EKS publishes it for {target}.", table.horizon.describe()),
                    format!("Check that EKS publishes {} AMIs for {target} before upgrading.", g.ami_type),
                    &table.horizon.file,
                )
            });
            continue;
        };
        let to = move_to(f, Some(&g.ami_type));
        match f.availability(target) {
            Availability::Never => out.push(finding(
                Severity::Blocker,
                format!("Managed node group {} uses {}; EKS publishes no {} AMI for {target}", g.name, g.ami_type, f.name),
                format!(
                    "EKS publishes {} AMIs up to {} only, so the group cannot be updated to {target}.{}",
                    f.name,
                    f.published_through,
                    f.end_of_support.as_ref().map(|d| format!(" Their support ended on {d}.")).unwrap_or_default()
                ),
                format!(
                    "Move group {} to {to} (or a Bottlerocket AMI type) before upgrading to {target}: the plan can carry the AMI type change. Test the workloads on the new OS first: it uses cgroup v2 and containerd 2.",
                    g.name
                ),
                &f.source,
            )),
            Availability::Unverified => out.push(finding(
                Severity::Warning,
                format!("The node OS table cannot say whether EKS publishes {} AMIs for {target}", f.name),
                format!(
                    "Managed node group {} uses {}; the table ({}) marks {target} unverified for {}: a gap in upshift's knowledge, not a finding.",
                    g.name,
                    g.ami_type,
                    table.horizon.describe(),
                    f.name
                ),
                format!("Check that EKS offers {} AMIs for {target} before upgrading.", g.ami_type),
                &f.source,
            )),
            Availability::Published => {
                if let Some(eos) = f.end_of_support()
                    && eos <= table.horizon.checked_on
                {
                    out.push(finding(
                        Severity::Warning,
                        format!("Managed node group {} uses {}, past its end of support ({eos})", g.name, g.ami_type),
                        format!(
                            "EKS publishes no new {} AMIs since {eos}: the update to {target} uses the last one published, with no fixes since.",
                            f.name
                        ),
                        format!(
                            "Move group {} to {to} during this window or the next: the plan can carry the AMI type change. {} has no AMI from {} on.",
                            g.name,
                            f.name,
                            next_minor(&f.published_through)
                        ),
                        &f.source,
                    ));
                }
            }
        }
    }
    out
}

/// Judges nodes and managed node groups for an upgrade to `target`.
pub fn check(input: &NodeOsInput, target: &str, table: &NodeOsTable) -> (Vec<Finding>, CheckRun) {
    let t = Minor::key(target);
    let rules = &table.runtime;
    let mut findings = managed_groups(input, target, table);
    // groups whose managed-group finding already says what their nodes would
    let managed: Vec<&str> = input.managed_groups.iter().map(|g| g.name.as_str()).collect();
    let mut named: BTreeMap<(&str, Reason), Vec<&NodeOs>> = BTreeMap::new();
    let mut fargate = 0;
    for n in &input.nodes {
        if n.fargate {
            fargate += 1;
            continue;
        }
        let family = table.family_of_image(&n.os_image);
        let mut name = |r: Reason| named.entry((n.group.as_str(), r)).or_default().push(n);
        let (rt, rt_version) = runtime(&n.container_runtime);
        if rt == "docker" && t >= Minor::key(&rules.dockershim_removed_in) {
            name(Reason::Dockershim);
        }
        let availability = family.map(|f| f.availability(target));
        let self_managed = !managed.contains(&n.group.as_str());
        match availability {
            None => name(Reason::UnknownImage),
            Some(Availability::Never) if self_managed => name(Reason::NoAmi),
            Some(Availability::Unverified) if self_managed => name(Reason::Unverified),
            _ => {}
        }
        let no_ami = availability == Some(Availability::Never);
        let tolerates = family.is_some_and(|f| f.tolerates_cgroup_v1);
        if t >= Minor::key(&rules.kubelet_refuses_cgroup_v1_from)
            && !no_ami
            && !tolerates
            && matches!(cgroup_of(n, family, table), Some((CgroupVersion::V1, _)))
        {
            name(Reason::CgroupV1);
        }
        if rt == "containerd" && rt_version.is_some_and(|v| v.0 < 2) && !no_ami {
            if family.is_some_and(|f| f.ships_containerd2(target)) {
                name(Reason::Containerd2);
            } else if t > Minor::key(&rules.containerd1_last_supported) {
                name(Reason::Containerd1);
            }
        }
    }
    let mut unknown_images = false;
    for ((group, reason), nodes) in &named {
        let n0 = nodes[0];
        let family = table.family_of_image(&n0.os_image);
        let fname = family.map_or("an unknown OS", |f| f.name.as_str());
        let f = match reason {
            Reason::Dockershim => group_finding(
                Severity::Blocker,
                group,
                nodes,
                format!("Node group {group} runs Docker as its container runtime, which Kubernetes dropped in {}", rules.dockershim_removed_in),
                format!("The kubelet has not run with Docker (dockershim) since {}; nodes on {target} need containerd or another CRI runtime.", rules.dockershim_removed_in),
                "Move the group to an AMI with containerd (every EKS-optimized AMI from 1.24 on) before upgrading.".into(),
                &rules.source,
            ),
            Reason::NoAmi => {
                let Some(family) = family else { continue };
                group_finding(
                    Severity::Blocker,
                    group,
                    nodes,
                    format!("Node group {group} runs {}; EKS publishes no {} AMI for {target}", family.name, family.name),
                    format!(
                        "EKS publishes {} AMIs up to {} only{}{}",
                        family.name,
                        family.published_through,
                        family.end_of_support.as_ref().map(|d| format!(", and their support ended on {d}")).unwrap_or_default(),
                        if t >= Minor::key(&rules.kubelet_refuses_cgroup_v1_from) && family.cgroup == CgroupUse::V1 {
                            format!("; it uses cgroup v1, which the {target} kubelet refuses.")
                        } else {
                            ".".to_string()
                        }
                    ),
                    format!(
                        "Move the group to {} or Bottlerocket AMIs before upgrading to {target}: the plan can carry the AMI type change (for a self-managed group, its launch template's AMI).",
                        move_to(family, None)
                    ),
                    &family.source,
                )
            }
            Reason::CgroupV1 => {
                let why = cgroup_of(n0, family, table).map(|(_, why)| why).unwrap_or_default();
                group_finding(
                    Severity::Blocker,
                    group,
                    nodes,
                    format!("Node group {group} runs on cgroup v1, which the {target} kubelet refuses"),
                    format!(
                        "Its nodes are on cgroup v1 ({why}). From {} the kubelet fails to start on cgroup v1 unless its configuration sets failCgroupV1: false, and replacement nodes built the same way would not join.",
                        rules.kubelet_refuses_cgroup_v1_from
                    ),
                    format!(
                        "Move the group to an AMI on cgroup v2 (Amazon Linux 2023 or Bottlerocket; drop any configuration that switches AL2023 back to cgroup v1) before upgrading to {target}. failCgroupV1: false in the kubelet configuration only buys time: cgroup v1 support is being removed."
                    ),
                    &rules.source,
                )
            }
            Reason::UnknownImage => {
                unknown_images = true;
                group_finding(
                    Severity::Warning,
                    group,
                    nodes,
                    format!("Node group {group} runs OS image {:?}, which the node OS table does not know", n0.os_image),
                    format!(
                        "The table ({}) knows {}; for any other OS upshift cannot say whether an image for {target} exists, whether it uses cgroup v2 (the kubelet refuses v1 from {}) or containerd 2 (1.x is unsupported after {}).",
                        table.horizon.describe(),
                        table.families.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "),
                        rules.kubelet_refuses_cgroup_v1_from,
                        rules.containerd1_last_supported
                    ),
                    format!("Check by hand that the group's image for {target} exists, uses cgroup v2 and containerd 2."),
                    &table.horizon.file,
                )
            }
            Reason::Unverified => group_finding(
                Severity::Warning,
                group,
                nodes,
                format!("The node OS table cannot say whether EKS publishes {fname} AMIs for {target}"),
                format!(
                    "The table ({}) marks {target} unverified for {fname}: a gap in upshift's knowledge, not a finding.",
                    table.horizon.describe()
                ),
                format!("Check that an image for {target} exists for node group {group} before upgrading."),
                &table.horizon.file,
            ),
            Reason::Containerd2 => group_finding(
                Severity::Warning,
                group,
                nodes,
                format!("Node group {group}: its nodes on {target} will run containerd 2"),
                format!(
                    "Its nodes run {} now; EKS's {fname} AMIs for {target} ship containerd 2.x, which no longer pulls images in Docker schema 1 format, reads only version 3 of the containerd configuration (custom settings passed to the node must follow it), and takes registry mirrors from config_path hosts.toml files rather than the CRI registry settings.",
                    n0.container_runtime
                ),
                "Before the node step, check that every image the group runs is OCI or Docker schema 2, and move any custom containerd configuration to the version 3 format; replace one node first and watch its pods start.".into(),
                family.map_or(rules.source.as_str(), |f| f.source.as_str()),
            ),
            Reason::Containerd1 => group_finding(
                Severity::Warning,
                group,
                nodes,
                format!("Node group {group} runs containerd 1.x, which Kubernetes supports up to {} only", rules.containerd1_last_supported),
                format!(
                    "Its nodes run {}; Kubernetes {} was the last release to support containerd 1.x (the kubelet keeps a fallback for it until 1.38).",
                    n0.container_runtime, rules.containerd1_last_supported
                ),
                format!("Make sure the group's nodes for {target} run containerd 2.0 or later."),
                &rules.source,
            ),
        };
        findings.push(f);
    }
    let beyond = !table.horizon.covers(target);
    if beyond {
        findings.push(Finding {
            check: Check::NodeOs,
            severity: Severity::Warning,
            confidence: None,
            title: format!(
                "The node OS table was last checked against {}; {} may change what nodes can run",
                table.horizon.checked_against,
                minors_between(&table.horizon.checked_against, target).join(" and ")
            ),
            resources: Vec::new(),
            why: format!(
                "upshift knows which EKS AMIs, cgroup versions and runtimes each release accepts up to {} ({}); nothing is known of {target}.",
                table.horizon.checked_against,
                table.horizon.describe()
            ),
            action: format!("Read the EKS release notes and AMI documentation for {target} before the node step."),
            evidence: table.horizon.sources.iter().map(|s| format!("source: {s}")).collect(),
        });
    }
    let groups: std::collections::BTreeSet<&str> = input.nodes.iter().map(|n| n.group.as_str()).collect();
    let run = CheckRun {
        check: Check::NodeOs,
        examined: format!(
            "{} nodes in {} groups ({fargate} on Fargate, whose OS EKS runs), {} managed node groups, against the node OS table ({})",
            input.nodes.len(),
            groups.len(),
            input.managed_groups.len(),
            table.horizon.describe()
        ),
        complete: !beyond && !unknown_images,
    };
    (findings, run)
}

#[cfg(test)]
mod tests;
