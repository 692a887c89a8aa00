//! Reading a plan file back: parsing (unknown fields refused), the checks that need
//! only the file (versions one minor apart, fields that fit each step's kind, no
//! duplicates, the control plane before the nodes) and, in `validate`, the checks
//! against what is live. Every error names the file, the line and the field, and
//! says what to do.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::locate::locate;
use super::{
    API_VERSION, ClusterRef, Drain, Drainer, Gates, GroupType, KIND, Live, NodegroupStep, Origin, Plan, Step, StepKind,
    Strategy,
};
use crate::cloud::MaxUnavailable;
use crate::units::Minor;

/// What is wrong with a plan, and where.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("reading the plan {file}: {error} (write one with `upshift plan --target VERSION -o {file}`)")]
    Read { file: String, error: String },
    #[error("{}: {}: {message}", at(.file, .line), numbered(.field))]
    Invalid {
        file: String,
        /// 1-based; None when the plan has no text (built in memory) or the line is not found.
        line: Option<usize>,
        /// The field's path, e.g. `steps[4].batchSize`.
        field: String,
        message: String,
    },
}

impl PlanError {
    /// The 1-based line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            PlanError::Invalid { line, .. } => *line,
            PlanError::Read { .. } => None,
        }
    }

    /// The field the error points at, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            PlanError::Invalid { field, .. } => Some(field),
            PlanError::Read { .. } => None,
        }
    }
}

/// A field path as the plan's summary numbers steps: `steps[4].surge` is
/// `step 5 (steps[4].surge)`; other paths are as they are.
pub fn numbered(field: &str) -> String {
    let index = field
        .strip_prefix("steps[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok());
    match index {
        Some(i) => format!("step {} ({field})", i + 1),
        None => field.to_string(),
    }
}

fn at(file: &str, line: &Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// The file as written: steps are flat so that the parser keeps line numbers and
/// refuses unknown fields; `Step` is built from it after the checks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlanFile {
    api_version: String,
    kind: String,
    cluster: ClusterRef,
    from: String,
    target: String,
    #[serde(default)]
    gates: Gates,
    #[serde(default)]
    drain: Drain,
    steps: Vec<StepFile>,
    #[serde(default)]
    notify: Option<crate::notify::NotifyConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StepFile {
    kind: StepKind,
    name: Option<String>,
    version: Option<String>,
    #[serde(rename = "type")]
    group_type: Option<GroupType>,
    strategy: Option<Strategy>,
    batch_size: Option<u32>,
    auto_continue: Option<bool>,
    drainer: Option<Drainer>,
    max_unavailable: Option<u32>,
    max_unavailable_percentage: Option<u32>,
    ami_type: Option<String>,
    wave_size: Option<super::nodepools::WaveFile>,
    pinned_node_class: Option<String>,
}

/// Builds errors that point into one text.
pub(super) struct Errors<'a> {
    file: &'a str,
    text: &'a str,
}

impl Errors<'_> {
    pub(super) fn at(&self, field: &str, message: impl Into<String>) -> PlanError {
        PlanError::Invalid {
            file: self.file.to_string(),
            line: locate(self.text, field),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The largest plan read: a plan of a thousand node groups is under 300 KiB; more
/// is a mistake, refused before it takes memory.
pub const MAX_PLAN_BYTES: usize = 4 * 1024 * 1024;

fn too_big(size: usize) -> String {
    format!(
        "{size} bytes, more than a plan may have ({MAX_PLAN_BYTES}): check that this is the plan `upshift plan` wrote"
    )
}

impl Plan {
    /// Reads and checks a plan file (not yet against the cluster: see `validate`).
    /// A file over [`MAX_PLAN_BYTES`] is refused before it is read.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let file = path.display().to_string();
        let read = |e: std::io::Error| PlanError::Read {
            file: file.clone(),
            error: e.to_string(),
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_PLAN_BYTES as u64 {
            return Err(PlanError::Read {
                file: file.clone(),
                error: too_big(size as usize),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Plan::from_yaml(&text, &file)
    }

    /// Parses and checks plan text; `file` names it in errors. Text over
    /// [`MAX_PLAN_BYTES`] is refused unparsed.
    pub fn from_yaml(text: &str, file: &str) -> Result<Plan, PlanError> {
        if text.len() > MAX_PLAN_BYTES {
            return Err(PlanError::Read {
                file: file.to_string(),
                error: too_big(text.len()),
            });
        }
        let errors = Errors { file, text };
        let de = serde_norway::Deserializer::from_str(text);
        let raw: PlanFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let super::locate::ParseError { field, line, message } =
                super::locate::parse_error(e, text, "docs/plan.md");
            PlanError::Invalid {
                file: file.to_string(),
                line,
                field,
                message,
            }
        })?;
        let plan = raw.check(&errors)?;
        Ok(Plan {
            origin: Some(Origin {
                file: file.to_string(),
                text: text.to_string(),
            }),
            ..plan
        })
    }

    /// Checks the plan against what is live: the control plane's version, the node
    /// groups and their sizes, the add-ons and the versions EKS offers.
    pub fn validate(&self, live: &Live) -> Result<(), PlanError> {
        let (file, text) = match &self.origin {
            Some(o) => (o.file.as_str(), o.text.as_str()),
            None => ("the plan", ""),
        };
        let errors = Errors { file, text };
        let cp = live.control_plane.as_str();
        if cp != self.from && cp != self.target {
            return Err(errors.at(
                "from",
                format!(
                    "the control plane runs {cp}, not {}: the cluster changed since this plan was written; \
                     write a new one with `upshift plan --target {}`",
                    self.from,
                    next_minor(cp).unwrap_or_else(|| self.target.clone())
                ),
            ));
        }
        if self.cluster.region.is_some() && live.addons.is_some() && self.cluster.name != live.cluster {
            return Err(errors.at(
                "cluster.name",
                format!(
                    "this plan is for cluster {:?}, but EKS was asked about {:?}: check --cluster and --context",
                    self.cluster.name, live.cluster
                ),
            ));
        }
        let known_groups = || {
            let names: Vec<String> = live
                .groups
                .iter()
                .map(|g| format!("{} ({}, {} nodes)", g.name, g.group_type.as_str(), g.size))
                .collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Nodegroup(g) => {
                    let Some(lg) = live.group(&g.name) else {
                        return Err(errors.at(
                            &format!("steps[{i}].name"),
                            format!(
                                "no node group {:?} in this cluster; it has: {}. Fix the name or remove the step",
                                g.name,
                                known_groups()
                            ),
                        ));
                    };
                    if lg.group_type != g.group_type {
                        return Err(errors.at(
                            &format!("steps[{i}].type"),
                            format!(
                                "node group {} is {}, not {}: write type: {} and a strategy for it ({})",
                                g.name,
                                lg.group_type.as_str(),
                                g.group_type.as_str(),
                                lg.group_type.as_str(),
                                strategy_names(lg.group_type)
                            ),
                        ));
                    }
                    if g.batch_size > lg.size {
                        return Err(errors.at(
                            &format!("steps[{i}].batchSize"),
                            format!(
                                "{} is more than node group {}'s {} nodes: give 1 to {}",
                                g.batch_size, g.name, lg.size, lg.size
                            ),
                        ));
                    }
                }
                Step::Addon { name, version } => {
                    let Some(addons) = &live.addons else { continue };
                    let Some(a) = addons.iter().find(|a| &a.name == name) else {
                        let names: Vec<&str> = addons.iter().map(|a| a.name.as_str()).collect();
                        return Err(errors.at(
                            &format!("steps[{i}].name"),
                            format!(
                                "EKS add-on {name:?} is not installed on this cluster; installed: {}. \
                                 Fix the name or remove the step",
                                if names.is_empty() {
                                    "none".to_string()
                                } else {
                                    names.join(", ")
                                }
                            ),
                        ));
                    };
                    if !a.offered.iter().any(|v| v == version) {
                        return Err(errors.at(
                            &format!("steps[{i}].version"),
                            format!(
                                "EKS does not offer {name} {version} for {}; it offers {}{}",
                                self.target,
                                if a.offered.is_empty() {
                                    "none".to_string()
                                } else {
                                    a.offered.join(", ")
                                },
                                a.default
                                    .as_ref()
                                    .map(|d| format!(" (default {d})"))
                                    .unwrap_or_default()
                            ),
                        ));
                    }
                }
                Step::Nodepool(p) => super::nodepools::validate(i, p, live, &errors)?,
                _ => {}
            }
        }
        Ok(())
    }
}

fn strategy_names(t: GroupType) -> String {
    t.strategies()
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `1.30` → `1.31`.
pub(super) fn next_minor(v: &str) -> Option<String> {
    Minor::parse_exact(v).map(|m| m.next().to_string())
}

impl PlanFile {
    fn check(self, e: &Errors) -> Result<Plan, PlanError> {
        if self.api_version != API_VERSION {
            return Err(e.at(
                "apiVersion",
                format!(
                    "{:?} is not a plan version this upshift reads: write apiVersion: {API_VERSION}",
                    self.api_version
                ),
            ));
        }
        if self.kind != KIND {
            return Err(e.at("kind", format!("{:?}: write kind: {KIND}", self.kind)));
        }
        if self.cluster.name.trim().is_empty() {
            return Err(e.at("cluster.name", "empty: give the cluster's name"));
        }
        let Some(from) = Minor::parse_exact(&self.from) else {
            return Err(e.at(
                "from",
                format!("{:?}: give a Kubernetes minor version such as \"1.30\"", self.from),
            ));
        };
        let Some(target) = Minor::parse_exact(&self.target) else {
            return Err(e.at(
                "target",
                format!("{:?}: give a Kubernetes minor version such as \"1.31\"", self.target),
            ));
        };
        if target != from && target != from.next() {
            return Err(e.at(
                "target",
                format!(
                    "{} is not one minor after {}: EKS upgrades one minor at a time; plan {} first, \
                     then a new plan from there",
                    self.target,
                    self.from,
                    from.next()
                ),
            ));
        }
        if self.drain.pod_timeout_seconds == 0 {
            return Err(e.at(
                "drain.podTimeoutSeconds",
                "0: give the seconds to wait for a pod to leave (e.g. 900)",
            ));
        }
        if self.drain.eviction_retry_seconds == 0 {
            return Err(e.at(
                "drain.evictionRetrySeconds",
                "0: give the seconds between two eviction attempts (e.g. 5)",
            ));
        }
        if let Some(i) = self.gates.alarms.iter().position(|a| a.trim().is_empty()) {
            return Err(e.at(&format!("gates.alarms[{i}]"), "empty: give a CloudWatch alarm name"));
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut seen = BTreeSet::new();
        let mut control_plane = None;
        for (i, s) in self.steps.into_iter().enumerate() {
            let step = s.into_step(i, e, &target.to_string())?;
            let label = step.label();
            if !seen.insert(label.clone()) {
                let field = match step.kind() {
                    StepKind::Addon | StepKind::Nodegroup | StepKind::Nodepool => format!("steps[{i}].name"),
                    _ => format!("steps[{i}].kind"),
                };
                return Err(e.at(
                    &field,
                    format!("{label} is already a step above: remove one of the two"),
                ));
            }
            match &step {
                Step::ControlPlane => control_plane = Some(i),
                Step::Nodegroup(_) | Step::Addon { .. } | Step::Fargate
                    if control_plane.is_none() && from != target =>
                {
                    return Err(e.at(
                        &format!("steps[{i}].kind"),
                        format!(
                            "{label} comes before the control-plane step: nodes and add-ons for {} need the \
                             control plane there first; move `- kind: control-plane` above it",
                            self.target
                        ),
                    ));
                }
                _ => {}
            }
            steps.push(step);
        }
        super::nodepools::check_order(&mut steps, e, from != target)?;
        if control_plane.is_none() && from != target {
            return Err(e.at(
                "steps",
                format!(
                    "no control-plane step, but the plan goes from {} to {}: add `- kind: control-plane` \
                     after the preflight",
                    self.from, self.target
                ),
            ));
        }
        Ok(Plan {
            cluster: self.cluster,
            from: self.from,
            target: self.target,
            gates: self.gates,
            drain: self.drain,
            steps,
            notify: self.notify,
            origin: None,
        })
    }
}

impl StepFile {
    fn into_step(self, i: usize, e: &Errors, target: &str) -> Result<Step, PlanError> {
        let kind = self.kind.as_str();
        let refuse = |field: &str, allowed: &str| {
            e.at(
                &format!("steps[{i}].{field}"),
                format!("not a field of a {kind} step ({allowed}): remove it"),
            )
        };
        let require = |field: &str, what: &str| {
            e.at(
                &format!("steps[{i}]"),
                format!("a {kind} step needs `{field}:` ({what})"),
            )
        };
        // which fields each kind takes
        let given: [(&str, bool); 12] = [
            ("name", self.name.is_some()),
            ("version", self.version.is_some()),
            ("type", self.group_type.is_some()),
            ("strategy", self.strategy.is_some()),
            ("batchSize", self.batch_size.is_some()),
            ("autoContinue", self.auto_continue.is_some()),
            ("drainer", self.drainer.is_some()),
            ("maxUnavailable", self.max_unavailable.is_some()),
            ("maxUnavailablePercentage", self.max_unavailable_percentage.is_some()),
            ("amiType", self.ami_type.is_some()),
            ("waveSize", self.wave_size.is_some()),
            ("pinnedNodeClass", self.pinned_node_class.is_some()),
        ];
        let allowed: &[&str] = match self.kind {
            StepKind::Addon => &["name", "version"],
            StepKind::Nodepool => &["name", "waveSize", "autoContinue", "pinnedNodeClass"],
            StepKind::Nodegroup => &[
                "name",
                "type",
                "strategy",
                "batchSize",
                "autoContinue",
                "drainer",
                "maxUnavailable",
                "maxUnavailablePercentage",
                "amiType",
            ],
            _ => &[],
        };
        if let Some((field, _)) = given.iter().find(|(f, g)| *g && !allowed.contains(f)) {
            let allowed = if allowed.is_empty() {
                "it takes only `kind`".to_string()
            } else {
                format!("it takes {}", allowed.join(", "))
            };
            return Err(refuse(field, &allowed));
        }
        Ok(match self.kind {
            StepKind::Preflight => Step::Preflight,
            StepKind::ControlPlane => Step::ControlPlane,
            StepKind::Postflight => Step::Postflight,
            StepKind::Fargate => Step::Fargate,
            StepKind::DriftHold => Step::DriftHold { nodepools: Vec::new() },
            StepKind::Nodepool => super::nodepools::nodepool_step(
                i,
                e,
                self.name,
                self.wave_size,
                self.auto_continue,
                self.pinned_node_class,
            )?,
            StepKind::Addon => {
                let name = self
                    .name
                    .ok_or_else(|| require("name", "the EKS add-on, e.g. vpc-cni"))?;
                let version = self
                    .version
                    .ok_or_else(|| require("version", "one EKS offers for the target, e.g. v1.19.0-eksbuild.1"))?;
                Step::Addon { name, version }
            }
            StepKind::Nodegroup => {
                let name = self.name.ok_or_else(|| require("name", "the node group's name"))?;
                let group_type = self
                    .group_type
                    .ok_or_else(|| require("type", "managed or self-managed"))?;
                let strategy = self.strategy.unwrap_or(group_type.strategies()[0]);
                if !group_type.strategies().contains(&strategy) {
                    let why = match group_type {
                        GroupType::Managed => "EKS replaces a managed group's nodes, or upshift copies the group",
                        GroupType::SelfManaged => "EKS does not manage this group",
                    };
                    return Err(e.at(
                        &format!("steps[{i}].strategy"),
                        format!(
                            "{} cannot upgrade a {} node group ({why}): use {}",
                            strategy.as_str(),
                            group_type.as_str(),
                            strategy_names(group_type)
                        ),
                    ));
                }
                let update_config = update_config(
                    i,
                    e,
                    group_type,
                    strategy,
                    self.max_unavailable,
                    self.max_unavailable_percentage,
                )?;
                let batch_size = self.batch_size.unwrap_or(1);
                if batch_size == 0 {
                    return Err(e.at(
                        &format!("steps[{i}].batchSize"),
                        "0: give the nodes to replace at once, at least 1",
                    ));
                }
                let drainer = match (strategy, self.drainer) {
                    (Strategy::InstanceRefresh, d) => Some(d.unwrap_or(Drainer::TerminationHandler)),
                    (_, None) => None,
                    (other, Some(d)) => {
                        return Err(e.at(
                            &format!("steps[{i}].drainer"),
                            format!(
                                "drainer {} is for strategy instance-refresh, not {}: remove it, or write strategy: instance-refresh",
                                d.as_str(),
                                other.as_str()
                            ),
                        ));
                    }
                };
                let ami_type = match (strategy, self.ami_type) {
                    (_, None) => None,
                    (Strategy::BlueGreen, Some(ami)) => {
                        let table = crate::preflight::tables::Tables::builtin_node_os();
                        crate::preflight::nodeos::check_planned_ami(&table, &ami, target)
                            .map_err(|why| e.at(&format!("steps[{i}].amiType"), why))?;
                        Some(ami)
                    }
                    (other, Some(_)) => {
                        return Err(e.at(
                            &format!("steps[{i}].amiType"),
                            format!(
                                "strategy {} keeps the group's AMI type (EKS cannot change it in place): write strategy: blue-green, which copies the group onto the new AMI type, or remove amiType",
                                other.as_str()
                            ),
                        ));
                    }
                };
                Step::Nodegroup(NodegroupStep {
                    name,
                    group_type,
                    strategy,
                    batch_size,
                    auto_continue: self.auto_continue.unwrap_or(false),
                    drainer,
                    update_config,
                    ami_type,
                })
            }
        })
    }
}

/// A managed `eks-update` step's `maxUnavailable` or `maxUnavailablePercentage`
/// (EKS's `updateConfig`): one of the two, 1 to 100, and on no other kind of step.
fn update_config(
    i: usize,
    e: &Errors,
    group_type: GroupType,
    strategy: Strategy,
    count: Option<u32>,
    percentage: Option<u32>,
) -> Result<Option<MaxUnavailable>, PlanError> {
    let field = match (count, percentage) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(e.at(
                &format!("steps[{i}].maxUnavailablePercentage"),
                "EKS takes maxUnavailable or maxUnavailablePercentage, not both: remove one",
            ));
        }
        (Some(_), None) => "maxUnavailable",
        (None, Some(_)) => "maxUnavailablePercentage",
    };
    if group_type != GroupType::Managed || strategy != Strategy::EksUpdate {
        let instead = if strategy == Strategy::EksUpdate {
            "it is EKS's setting for its own update of a managed group"
        } else {
            "upshift replaces the nodes here, batchSize at a time"
        };
        return Err(e.at(
            &format!("steps[{i}].{field}"),
            format!(
                "only a managed group with strategy eks-update takes {field} ({instead}): remove it, or set batchSize"
            ),
        ));
    }
    let n = count.or(percentage).unwrap_or_default();
    if !(1..=100).contains(&n) {
        return Err(e.at(&format!("steps[{i}].{field}"), format!("{n}: EKS takes 1 to 100")));
    }
    Ok(Some(match count {
        Some(c) => MaxUnavailable::Count(c as i32),
        None => MaxUnavailable::Percentage(n as i32),
    }))
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_plan_over_the_cap_is_refused_unread_naming_the_file() {
        let step = "  - nodegroup: {name: apps, type: managed, strategy: eks-update, batchSize: 1}\n";
        let text = format!(
            "cluster: {{name: demo}}\nfrom: '1.30'\ntarget: '1.31'\nsteps:\n{}",
            step.repeat(MAX_PLAN_BYTES / step.len() + 1)
        );
        let err = Plan::from_yaml(&text, "big.yaml").unwrap_err().to_string();
        assert!(
            err.contains("big.yaml") && err.contains("more than a plan may have"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, &text).unwrap();
        let err = Plan::load(&path).unwrap_err().to_string();
        assert!(err.contains("big.yaml") && err.contains("bytes"), "{err}");
    }
}
