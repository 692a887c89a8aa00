//! The research phase: before a maintenance window, what will break or block an
//! upgrade to the target version. `gather` reads the cluster once (read-only) into a
//! `Snapshot`; each check is a pure function from the snapshot to findings; `render`
//! prints them as text, JSON or Markdown.

pub mod apis;
pub mod capacity;
pub mod components;
pub mod drain;
pub mod drainers;
pub mod eks;
pub mod fargate;
pub mod gather;
pub mod karpenter;
pub mod nodeos;
pub mod render;
pub mod skew;
pub mod support;
pub mod tables;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::units::Minor;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The upgrade will break something or cannot proceed: fix first.
    Blocker,
    /// Likely to hurt during the window: decide before starting.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Blocker => "BLOCKER",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        }
    }
}

/// How sure a finding is, where the evidence can mislead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
}

/// The checks preflight runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Version,
    RemovedApis,
    Components,
    Skew,
    DrainBlockers,
    Capacity,
    Eks,
    NodeOs,
    /// Whether something drains the nodes an instance refresh terminates.
    RefreshDrainers,
    /// Pods on Fargate and the kubelet they started with.
    Fargate,
    /// Karpenter's NodePools and EKS Auto Mode: deadlines, drift, budgets.
    Karpenter,
}

impl Check {
    pub const ALL: [Check; 11] = [
        Check::Version,
        Check::RemovedApis,
        Check::Components,
        Check::Skew,
        Check::DrainBlockers,
        Check::Capacity,
        Check::Eks,
        Check::NodeOs,
        Check::RefreshDrainers,
        Check::Fargate,
        Check::Karpenter,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Check::Version => "Target version",
            Check::RemovedApis => "Removed APIs in use",
            Check::Components => "Critical components",
            Check::Skew => "Version skew",
            Check::DrainBlockers => "Drain blockers",
            Check::Capacity => "Capacity to absorb a batch",
            Check::Eks => "EKS (add-ons, insights)",
            Check::NodeOs => "Node OS and runtime",
            Check::RefreshDrainers => "Instance refresh drainers",
            Check::Fargate => "Fargate pods",
            Check::Karpenter => "Karpenter and Auto Mode",
        }
    }
}

/// One thing the lead should know, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    pub title: String,
    /// The resources it concerns: `Kind namespace/name`.
    pub resources: Vec<String>,
    pub why: String,
    pub action: String,
    /// What the finding rests on, for the sceptical reader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// What one check looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckRun {
    pub check: Check,
    /// What it examined, or why it could not run.
    pub examined: String,
    pub complete: bool,
}

/// The whole answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub context: String,
    pub server: String,
    pub current: String,
    pub target: String,
    pub findings: Vec<Finding>,
    pub checks: Vec<CheckRun>,
    pub took_ms: u128,
}

impl Report {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// 0: no blockers; 1: blockers found.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Severity::Blocker) > 0)
    }
}

/// The minors after `from` up to and including `to`: `1.32`, `1.34` → 1.33, 1.34.
pub fn minors_between(from: &str, to: &str) -> Vec<String> {
    Minor::key(from)
        .through(Minor::key(to))
        .into_iter()
        .map(|m| m.to_string())
        .collect()
}

/// Runs every check over a snapshot.
pub fn run(
    snapshot: &gather::Snapshot,
    target: &str,
    tables: &tables::Tables,
    batch: usize,
    eks: Option<&eks::EksFacts>,
) -> (Vec<Finding>, Vec<CheckRun>) {
    let mut findings = Vec::new();
    let mut runs = Vec::new();
    let current = snapshot.current_minor();
    findings.extend(version(&current, target));
    runs.push(CheckRun {
        check: Check::Version,
        examined: format!("control plane {current} → {target}"),
        complete: true,
    });
    let (f, r) = apis::check(snapshot, &current, target, &tables.removals);
    findings.extend(f);
    runs.push(r);
    let (f, r) = components::check(snapshot, target, &tables.components);
    findings.extend(f);
    runs.push(r);
    let (f, r) = skew::check(snapshot, target);
    findings.extend(f);
    runs.push(r);
    let (f, r) = drain::check(snapshot);
    findings.extend(f);
    runs.push(r);
    let (f, r) = capacity::check(snapshot, batch);
    findings.extend(f);
    runs.push(r);
    let (f, r) = fargate::check(snapshot, target);
    findings.extend(f);
    runs.push(r);
    let os = nodeos::NodeOsInput {
        nodes: snapshot.node_os.clone(),
        managed_groups: eks
            .map(|e| {
                e.nodegroups
                    .iter()
                    .filter_map(|g| {
                        g.config.ami_type.as_ref().map(|ami| nodeos::ManagedGroupOs {
                            name: g.name.clone(),
                            ami_type: ami.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let (f, r) = nodeos::check(&os, target, &tables.node_os);
    findings.extend(f);
    runs.push(r);
    match eks {
        Some(facts) => {
            let (f, r) = eks::check(facts, target);
            findings.extend(f);
            runs.push(r);
        }
        None => runs.push(CheckRun {
            check: Check::Eks,
            examined: "not run: give --cluster NAME (and the AWS region) to ask EKS".into(),
            complete: false,
        }),
    }
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.check.cmp(&b.check)));
    (findings, runs)
}

/// EKS upgrades the control plane one minor at a time.
fn version(current: &str, target: &str) -> Vec<Finding> {
    let (c, t) = (Minor::key(current), Minor::key(target));
    let finding = |severity, title: String, why: &str, action: String| Finding {
        check: Check::Version,
        severity,
        confidence: None,
        title,
        resources: vec![format!("Cluster (control plane {current})")],
        why: why.to_string(),
        action,
        evidence: Vec::new(),
    };
    if t <= c {
        vec![finding(
            Severity::Info,
            format!("The control plane is already on {current}, not below {target}"),
            "There is no control plane upgrade to make; node groups and add-ons may still lag.",
            "Check the skew and components findings for what is left to upgrade.".into(),
        )]
    } else if t.major != c.major || t > c.next() {
        let next = c.next();
        vec![finding(
            Severity::Blocker,
            format!("{target} is more than one minor ahead of {current}"),
            "EKS updates the control plane one minor version at a time.",
            format!("Upgrade to {next} first (upshift preflight --target {next}), then step on."),
        )]
    } else {
        Vec::new()
    }
}
