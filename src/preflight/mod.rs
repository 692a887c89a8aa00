//! The research phase: before a maintenance window, what will break or block an
//! upgrade to the target version. `gather` reads the cluster once (read-only) into a
//! `Snapshot`; each check is a pure function from the snapshot to findings; `render`
//! prints them as text, JSON or Markdown.

pub mod apis;
pub mod capacity;
pub mod components;
pub mod drain;
pub mod eks;
pub mod gather;
pub mod render;
pub mod skew;
pub mod tables;

use serde::Serialize;

use crate::model::minor_key;

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
}

impl Check {
    pub const ALL: [Check; 7] = [
        Check::Version,
        Check::RemovedApis,
        Check::Components,
        Check::Skew,
        Check::DrainBlockers,
        Check::Capacity,
        Check::Eks,
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

/// `1.31` → (1, 31), validated.
pub fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((major, minor))
}

/// Minors strictly after `from` up to and including `to`: `1.29`..`1.31` → 1.30, 1.31.
pub fn minors_between(from: &str, to: &str) -> Vec<String> {
    let (a, b) = (minor_key(from), minor_key(to));
    if a.0 != b.0 {
        return Vec::new();
    }
    (a.1 + 1..=b.1).map(|m| format!("{}.{m}", a.0)).collect()
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
    let (c, t) = (minor_key(current), minor_key(target));
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
    } else if t.0 != c.0 || t.1 > c.1 + 1 {
        let next = format!("{}.{}", c.0, c.1 + 1);
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
