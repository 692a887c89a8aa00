//! Reading a plan file back: parsing (unknown fields refused), the checks that need
//! only the file (versions one minor apart, fields that fit each step's kind, no
//! duplicates, the control plane before the nodes) and, in `validate`, the checks
//! against what is live. Every error names the file, the line and the field, and
//! says what to do.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::{
    API_VERSION, ClusterRef, Drain, Gates, GroupType, KIND, Live, NodegroupStep, Origin, Plan, Step, StepKind, Strategy,
};
use crate::preflight::parse_minor;

/// What is wrong with a plan, and where.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("reading the plan {file}: {error} (write one with `upshift plan --target VERSION -o {file}`)")]
    Read { file: String, error: String },
    #[error("{}: {field}: {message}", at(.file, .line))]
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
}

/// Builds errors that point into one text.
struct Errors<'a> {
    file: &'a str,
    text: &'a str,
}

impl Errors<'_> {
    fn at(&self, field: &str, message: impl Into<String>) -> PlanError {
        PlanError::Invalid {
            file: self.file.to_string(),
            line: locate(self.text, field),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl Plan {
    /// Reads and checks a plan file (not yet against the cluster: see `validate`).
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError::Read {
            file: file.clone(),
            error: e.to_string(),
        })?;
        Plan::from_yaml(&text, &file)
    }

    /// Parses and checks plan text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Plan, PlanError> {
        let errors = Errors { file, text };
        let de = serde_norway::Deserializer::from_str(text);
        let raw: PlanFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            if let Some(rest) = message.strip_prefix(&format!("{path}: ")) {
                message = rest.to_string();
            }
            let field = if path == "." { "(top level)".to_string() } else { path };
            if message.starts_with("unknown field") {
                message.push_str(" (remove it, or check its spelling; docs/plan.md lists every field)");
            } else if message.starts_with("missing field") {
                message.push_str(" (add it; docs/plan.md lists every field)");
            }
            PlanError::Invalid {
                file: file.to_string(),
                line: inner.location().map(|l| l.line()).or_else(|| locate(text, &field)),
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
    parse_minor(v).map(|(major, minor)| format!("{major}.{}", minor + 1))
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
        let Some(from) = parse_minor(&self.from) else {
            return Err(e.at(
                "from",
                format!("{:?}: give a Kubernetes minor version such as \"1.30\"", self.from),
            ));
        };
        let Some(target) = parse_minor(&self.target) else {
            return Err(e.at(
                "target",
                format!("{:?}: give a Kubernetes minor version such as \"1.31\"", self.target),
            ));
        };
        if target != from && target != (from.0, from.1 + 1) {
            return Err(e.at(
                "target",
                format!(
                    "{} is not one minor after {}: EKS upgrades one minor at a time; plan {}.{} first, \
                     then a new plan from there",
                    self.target,
                    self.from,
                    from.0,
                    from.1 + 1
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
            let step = s.into_step(i, e)?;
            let label = step.label();
            if !seen.insert(label.clone()) {
                let field = match step.kind() {
                    StepKind::Addon | StepKind::Nodegroup => format!("steps[{i}].name"),
                    _ => format!("steps[{i}].kind"),
                };
                return Err(e.at(
                    &field,
                    format!("{label} is already a step above: remove one of the two"),
                ));
            }
            match &step {
                Step::ControlPlane => control_plane = Some(i),
                Step::Nodegroup(_) | Step::Addon { .. } if control_plane.is_none() && from != target => {
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
            origin: None,
        })
    }
}

impl StepFile {
    fn into_step(self, i: usize, e: &Errors) -> Result<Step, PlanError> {
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
        let given: [(&str, bool); 6] = [
            ("name", self.name.is_some()),
            ("version", self.version.is_some()),
            ("type", self.group_type.is_some()),
            ("strategy", self.strategy.is_some()),
            ("batchSize", self.batch_size.is_some()),
            ("autoContinue", self.auto_continue.is_some()),
        ];
        let allowed: &[&str] = match self.kind {
            StepKind::Addon => &["name", "version"],
            StepKind::Nodegroup => &["name", "type", "strategy", "batchSize", "autoContinue"],
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
                        GroupType::Managed => "EKS replaces a managed group's nodes itself",
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
                let batch_size = self.batch_size.unwrap_or(1);
                if batch_size == 0 {
                    return Err(e.at(
                        &format!("steps[{i}].batchSize"),
                        "0: give the nodes to replace at once, at least 1",
                    ));
                }
                Step::Nodegroup(NodegroupStep {
                    name,
                    group_type,
                    strategy,
                    batch_size,
                    auto_continue: self.auto_continue.unwrap_or(false),
                })
            }
        })
    }
}

/// One part of a field path: `steps[4].batchSize` is steps, 4, batchSize.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Seg::Key(&rest[..i]));
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &stripped[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest));
        }
    }
    out
}

/// A line of YAML as the locator sees it.
struct Line<'a> {
    /// Spaces before the first character.
    indent: usize,
    /// Spaces before the content once `- ` item markers are passed.
    inner: usize,
    /// The content after the item markers, without a trailing comment.
    content: &'a str,
    dash: bool,
}

fn parse_line(l: &str) -> Option<Line<'_>> {
    let trimmed = l.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let indent = l.len() - trimmed.len();
    let mut content = trimmed;
    let mut inner = indent;
    let dash = content.starts_with("- ") || content == "-";
    while let Some(rest) = content.strip_prefix("- ") {
        let r = rest.trim_start();
        inner += content.len() - r.len();
        content = r;
    }
    let content = match content.find(" #") {
        Some(i) => &content[..i],
        None => content,
    };
    Some(Line {
        indent,
        inner,
        content,
        dash,
    })
}

/// The 1-based line of a field path (`steps[4].batchSize`) in YAML text, block or
/// flow style: a best effort to point errors at a line.
pub(super) fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<Option<Line>> = text.lines().map(parse_line).collect();
    let (mut lo, mut hi) = (0usize, lines.len());
    let mut found = None;
    for seg in segments(path) {
        match seg {
            Seg::Key(k) => {
                let level = (lo..hi).filter_map(|i| lines[i].as_ref()).map(|l| l.inner).min()?;
                let key = format!("{k}:");
                let block = (lo..hi).find(|&i| {
                    lines[i]
                        .as_ref()
                        .is_some_and(|l| l.inner == level && l.content.starts_with(&key))
                });
                if let Some(i) = block {
                    let own = lines[i].as_ref().map_or(0, |l| l.inner);
                    let end = (i + 1..hi)
                        .find(|&j| {
                            lines[j]
                                .as_ref()
                                .is_some_and(|l| l.inner <= own && !(l.dash && l.indent == own))
                        })
                        .unwrap_or(hi);
                    (lo, hi) = (i, end);
                    found = Some(i);
                    // the value's lines start after the key
                    if end > i + 1 {
                        lo = i + 1;
                    }
                } else {
                    // flow style: `{kind: nodegroup, batchSize: 0}`
                    let flow = (lo..hi).find(|&i| {
                        lines[i].as_ref().is_some_and(|l| {
                            [
                                format!("{{{key}"),
                                format!("{{ {key}"),
                                format!(", {key}"),
                                format!(",{key}"),
                            ]
                            .iter()
                            .any(|p| l.content.contains(p.as_str()))
                        })
                    })?;
                    (lo, hi) = (flow, flow + 1);
                    found = Some(flow);
                }
            }
            Seg::Index(n) => {
                let dash_indent = (lo..hi)
                    .filter_map(|i| lines[i].as_ref())
                    .filter(|l| l.dash)
                    .map(|l| l.indent)
                    .min();
                let Some(dash_indent) = dash_indent else {
                    // a flow sequence: the key's line is as close as we get
                    continue;
                };
                let items: Vec<usize> = (lo..hi)
                    .filter(|&i| lines[i].as_ref().is_some_and(|l| l.dash && l.indent == dash_indent))
                    .collect();
                let start = *items.get(n)?;
                let end = items.get(n + 1).copied().unwrap_or(hi);
                (lo, hi) = (start, end);
                found = Some(start);
            }
        }
    }
    found.map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = r#"apiVersion: upshift.dev/v1
cluster:
  name: demo   # the cluster
  environment: production
from: "1.30"
steps:
  # first
  - kind: preflight
  - kind: nodegroup
    name: apps
    batchSize: 0
  - {kind: addon, name: coredns, version: v1}
"#;

    #[test]
    fn finds_keys_items_and_flow_fields() {
        assert_eq!(locate(TEXT, "apiVersion"), Some(1));
        assert_eq!(locate(TEXT, "cluster.name"), Some(3));
        assert_eq!(locate(TEXT, "cluster.environment"), Some(4));
        assert_eq!(locate(TEXT, "from"), Some(5));
        assert_eq!(locate(TEXT, "steps"), Some(6));
        assert_eq!(locate(TEXT, "steps[0]"), Some(8));
        assert_eq!(locate(TEXT, "steps[1].batchSize"), Some(11));
        assert_eq!(locate(TEXT, "steps[1].name"), Some(10));
        assert_eq!(locate(TEXT, "steps[2].version"), Some(12));
        assert_eq!(locate(TEXT, "steps[3]"), None);
    }

    #[test]
    fn finds_sequences_at_the_key_indent() {
        let t = "steps:\n- kind: preflight\n- kind: nodegroup\n  batchSize: 3\nfrom: x\n";
        assert_eq!(locate(t, "steps[1].batchSize"), Some(4));
        assert_eq!(locate(t, "from"), Some(5));
    }
}
