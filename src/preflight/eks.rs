//! The EKS side of preflight, through the cloud client: the cluster's version and
//! state, each add-on against the versions EKS offers for the target
//! (`DescribeAddonVersions`), managed node groups' state and health, and EKS
//! Upgrade Insights. `gather` reads (never writes); `check` is a pure function.

use serde::Serialize;

use super::{Check, CheckRun, Confidence, Finding, Severity};
use crate::cloud::{AddonInfo, AddonVersions, CloudError, CloudRead, ClusterInfo, InsightInfo, NodegroupInfo};

/// What EKS says about the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EksFacts {
    #[serde(skip)]
    pub cluster: ClusterInfo,
    #[serde(skip)]
    pub nodegroups: Vec<NodegroupInfo>,
    #[serde(skip)]
    pub addons: Vec<AddonInfo>,
    /// Per installed add-on, the versions EKS offers for the target.
    #[serde(skip)]
    pub target_versions: Vec<AddonVersions>,
    #[serde(skip)]
    pub insights: Vec<InsightInfo>,
    /// The support calendar of the current and target minors.
    #[serde(skip)]
    pub versions: Vec<crate::cloud::VersionSupport>,
    /// When these facts were read: the support calendar is judged against it.
    #[serde(skip)]
    pub read_at: Option<crate::units::Timestamp>,
    /// What could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

/// Reads the cluster's EKS facts; only DescribeCluster failing is fatal.
pub async fn gather(cloud: &dyn CloudRead, cluster: &str, target: &str) -> Result<EksFacts, CloudError> {
    let mut f = EksFacts {
        cluster: cloud.describe_cluster(cluster).await?,
        ..EksFacts::default()
    };
    let mut note = |what: &str, e: CloudError| f.unreadable.push((what.to_string(), e.to_string()));
    let mut nodegroups = Vec::new();
    match cloud.list_nodegroups(cluster).await {
        Ok(names) => {
            for n in names {
                match cloud.describe_nodegroup(cluster, &n).await {
                    Ok(info) => nodegroups.push(info),
                    Err(e) => note(&format!("node group {n}"), e),
                }
            }
        }
        Err(e) => note("node groups", e),
    }
    let mut addons = Vec::new();
    let mut target_versions = Vec::new();
    match cloud.list_addons(cluster).await {
        Ok(names) => {
            for a in names {
                match cloud.describe_addon(cluster, &a).await {
                    Ok(info) => addons.push(info),
                    Err(e) => note(&format!("add-on {a}"), e),
                }
                match cloud.addon_versions(&a, target).await {
                    Ok(v) => target_versions.push(v),
                    Err(e) => note(&format!("versions of add-on {a} for {target}"), e),
                }
            }
        }
        Err(e) => note("add-ons", e),
    }
    let mut insights = Vec::new();
    match cloud.list_insights(cluster).await {
        Ok(list) => {
            for i in list {
                // the details (recommendation, resources) matter only for what is not passing
                if i.status == "PASSING" {
                    insights.push(i);
                    continue;
                }
                match cloud.describe_insight(cluster, &i.id).await {
                    Ok(full) => insights.push(full),
                    Err(_) => insights.push(i),
                }
            }
        }
        Err(e) => note("upgrade insights", e),
    }
    let minors = vec![f.cluster.version.clone(), target.to_string()];
    match cloud.cluster_versions(&minors).await {
        Ok(v) => f.versions = v,
        Err(e) => note("the support calendar (DescribeClusterVersions)", e),
    }
    f.read_at = Some(crate::units::Timestamp::now());
    f.nodegroups = nodegroups;
    f.addons = addons;
    f.target_versions = target_versions;
    f.insights = insights;
    Ok(f)
}

fn finding(severity: Severity, title: String, resources: Vec<String>, why: String, action: String) -> Finding {
    Finding {
        check: Check::Eks,
        severity,
        confidence: None,
        title,
        resources,
        why,
        action,
        evidence: Vec::new(),
    }
}

pub fn check(f: &EksFacts, target: &str) -> (Vec<Finding>, CheckRun) {
    let mut out = Vec::new();
    let c = &f.cluster;
    if c.status != "ACTIVE" {
        out.push(finding(
            Severity::Blocker,
            format!("EKS cluster {} is {}, not ACTIVE", c.name, c.status),
            vec![format!("EKS cluster {}", c.name)],
            "EKS accepts no version update while the cluster is busy or failed.".into(),
            "Wait for the running operation to finish (upshift shows it), or resolve the failure first.".into(),
        ));
    }
    for a in &f.addons {
        let Some(offer) = f.target_versions.iter().find(|v| v.addon == a.name) else {
            continue;
        };
        let default = offer
            .default
            .clone()
            .unwrap_or_else(|| offer.versions.first().cloned().unwrap_or_default());
        if !offer.versions.iter().any(|v| v == &a.version) {
            out.push(finding(
                Severity::Warning,
                format!("Add-on {} {} is not offered for {target}", a.name, a.version),
                vec![format!("EKS add-on {}", a.name)],
                format!(
                    "DescribeAddonVersions lists {} for {target}; {} is not among them.",
                    offer.versions.join(", "),
                    a.version
                ),
                if a.name == "kube-proxy" {
                    format!("Update it to {default} after the node groups are on {target}.")
                } else {
                    format!("Update it to {default} right after the control plane.")
                },
            ));
        } else if offer.default.as_deref().is_some_and(|d| d != a.version) {
            out.push(finding(
                Severity::Info,
                format!(
                    "Add-on {} {} runs on {target}; the default there is {default}",
                    a.name, a.version
                ),
                vec![format!("EKS add-on {}", a.name)],
                "The installed version is compatible with the target.".into(),
                format!("Consider moving to {default} in the add-ons step."),
            ));
        }
        if a.status != "ACTIVE" || !a.health_issues.is_empty() {
            out.push(finding(
                Severity::Warning,
                format!("Add-on {} is {}", a.name, a.status),
                vec![format!("EKS add-on {}", a.name)],
                format!("Health issues: {}", a.health_issues.join("; ")),
                "Resolve them before updating it.".into(),
            ));
        }
    }
    for g in &f.nodegroups {
        if !g.version.is_empty() && g.version != c.version {
            out.push(finding(
                Severity::Info,
                format!(
                    "Managed node group {} is on {} (AMI release {}), the control plane on {}",
                    g.name, g.version, g.release_version, c.version
                ),
                vec![format!("EKS node group {}", g.name)],
                "A node group left behind by an earlier upgrade moves further from the control plane with this one."
                    .into(),
                format!("Bring it to {} as part of this window (see the skew findings).", target),
            ));
        }
        if g.status != "ACTIVE" || !g.health_issues.is_empty() {
            out.push(finding(
                Severity::Blocker,
                format!("Managed node group {} is {}", g.name, g.status),
                vec![format!("EKS node group {}", g.name)],
                format!(
                    "EKS refuses to update a node group that is not ACTIVE and healthy. Health issues: {}",
                    if g.health_issues.is_empty() {
                        "none listed".to_string()
                    } else {
                        g.health_issues.join("; ")
                    }
                ),
                "Resolve the node group's issues first.".into(),
            ));
        }
    }
    for i in f
        .insights
        .iter()
        .filter(|i| i.kubernetes_version == target || i.kubernetes_version.is_empty())
    {
        let severity = match i.status.as_str() {
            "ERROR" => Severity::Blocker,
            "WARNING" => Severity::Warning,
            "UNKNOWN" => Severity::Info,
            _ => continue,
        };
        let mut fd = finding(
            severity,
            format!("EKS insight: {} ({})", i.name, i.status),
            i.resources.iter().map(|(r, s)| format!("{r} ({s})")).collect(),
            format!("{} {}", i.description, i.reason).trim().to_string(),
            i.recommendation
                .clone()
                .unwrap_or_else(|| "See the insight in the EKS console.".into()),
        );
        // insights read 30 days of audit logs: they keep flagging after a fix
        fd.confidence = Some(Confidence::Medium);
        fd.evidence = vec![format!("EKS Upgrade Insight {} in category {}", i.id, i.category)];
        out.push(fd);
    }
    out.extend(super::support::check(f, target));
    let run = CheckRun {
        check: Check::Eks,
        examined: format!(
            "EKS cluster {} ({} {}), {} managed node groups, {} add-ons, {} insights",
            c.name,
            c.version,
            c.platform_version,
            f.nodegroups.len(),
            f.addons.len(),
            f.insights.len()
        ),
        complete: f.unreadable.is_empty(),
    };
    (out, run)
}
