//! The data preflight judges by, from `assets/preflight/` (and the simulator's
//! `assets/eks-addons.yaml`): Kubernetes API removals per release, which versions of
//! the critical components run on which minor, and what EKS nodes can run. Every
//! table states its horizon (the newest release it was checked against, the day, its
//! sources); all are checked for consistency when loaded; a user file can add removals.

pub mod addons;
pub mod horizon;
pub mod node_os;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use addons::AddonTable;
pub use horizon::{Horizon, MinorRange};
pub use node_os::{CgroupUse, NodeOsTable, OsFamily, RuntimeRules};

use crate::units::Minor;
use horizon::{check_minors, check_unverified, minors};

const REMOVED_APIS: &str = include_str!("../../assets/preflight/removed-apis.yaml");
const COMPONENTS: &str = include_str!("../../assets/preflight/components.yaml");
const NODE_OS: &str = include_str!("../../assets/preflight/node-os.yaml");
const EKS_ADDONS: &str = include_str!("../../assets/eks-addons.yaml");

const REMOVED_APIS_FILE: &str = "assets/preflight/removed-apis.yaml";
const COMPONENTS_FILE: &str = "assets/preflight/components.yaml";
const NODE_OS_FILE: &str = "assets/preflight/node-os.yaml";
const EKS_ADDONS_FILE: &str = "assets/eks-addons.yaml";

/// An API version of some kinds that a release stopped serving.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Removal {
    pub removed_in: String,
    pub api_version: String,
    pub kinds: Vec<String>,
    /// The apiVersion to use instead; None when the feature went away.
    pub replacement: Option<String>,
    #[serde(default)]
    pub replacement_since: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a deprecation does to whoever relies on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Still served, with warnings: worth knowing.
    Deprecated,
    /// Turned off: what used it stops working.
    Disabled,
}

/// A deprecation or a disabled feature that is not an API removal. Preflight notes
/// it when the upgrade crosses `in_release`; it is never matched against objects.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deprecation {
    #[serde(rename = "in")]
    pub in_release: String,
    pub effect: Effect,
    pub api_version: String,
    pub kinds: Vec<String>,
    /// The field concerned, when it is a field rather than the whole API version.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RemovalFile {
    #[serde(default)]
    checked_against: Option<String>,
    #[serde(default)]
    checked_on: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    /// Release → what it was checked against.
    #[serde(default)]
    checked: BTreeMap<String, String>,
    removals: Vec<Removal>,
    #[serde(default)]
    deprecations: Vec<Deprecation>,
}

/// The removed-API table: removals, deprecations, and how far it reaches.
#[derive(Clone, Debug)]
pub struct RemovalTable {
    pub horizon: Horizon,
    pub entries: Vec<Removal>,
    pub deprecations: Vec<Deprecation>,
    /// Each release the table was checked for, with what it was checked against.
    pub checked: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The component's minor must equal the control plane's.
    SameMinor,
    /// Not newer than the control plane, at most three minors older.
    KubeProxySkew,
    /// Its maintainers support every minor supported upstream or on EKS.
    AnySupported,
}

/// A project that has stopped: no release will support a newer minor.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retirement {
    /// The day it was retired, `YYYY-MM-DD`.
    pub on: String,
    pub last_release: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentRule {
    pub name: String,
    pub category: String,
    /// Workload names or image path parts that identify it.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    #[serde(default)]
    pub rule: Option<Rule>,
    /// For `same-minor`: the minors a release exists for.
    #[serde(default)]
    pub releases: Option<MinorRange>,
    /// Component minor → Kubernetes minors it supports.
    #[serde(default)]
    pub supports: BTreeMap<String, Vec<String>>,
    /// Component minor → the oldest Kubernetes minor it supports, no upper bound stated.
    #[serde(default)]
    pub supports_from: BTreeMap<String, String>,
    /// Kubernetes minor → oldest component version for it.
    #[serde(default)]
    pub minimum: BTreeMap<String, String>,
    #[serde(default)]
    pub retired: Option<Retirement>,
    /// Kubernetes minors the table has no data for.
    #[serde(default)]
    pub unverified: Vec<String>,
    pub source: String,
}

impl ComponentRule {
    /// Whether the table knows how this component stands on `minor` (including
    /// knowing that nothing supports it): it has data for it and does not call it
    /// unverified.
    pub fn knows(&self, minor: &str) -> bool {
        !self.is_unverified(minor) && (self.universal() || self.open_ended(minor) || self.explicit(minor))
    }

    pub fn is_unverified(&self, minor: &str) -> bool {
        self.unverified.iter().any(|m| m == minor)
    }

    /// A rule that holds for every minor.
    fn universal(&self) -> bool {
        matches!(self.rule, Some(Rule::KubeProxySkew | Rule::AnySupported))
    }

    /// A `supportsFrom` statement with no upper bound reaches `minor`.
    fn open_ended(&self, minor: &str) -> bool {
        self.supports_from
            .values()
            .any(|from| Minor::key(from) <= Minor::key(minor))
    }

    /// Data written for `minor` itself: a minimum, a release, a supports list naming
    /// it, or a retirement that leaves it unsupported for good.
    fn explicit(&self, minor: &str) -> bool {
        if self.rule == Some(Rule::SameMinor) {
            return self.releases.as_ref().is_some_and(|r| r.contains(minor));
        }
        if self.minimum.contains_key(minor) {
            return true;
        }
        let listed = self.supports.values().flatten();
        if listed.clone().any(|m| m == minor) {
            return true;
        }
        // a retired project's newest supported minor is its last
        self.retired.is_some()
            && listed
                .map(|m| Minor::key(m))
                .max()
                .is_some_and(|newest| Minor::key(minor) > newest)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ComponentFile {
    #[serde(default)]
    checked_against: Option<String>,
    #[serde(default)]
    checked_on: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    components: Vec<ComponentRule>,
}

/// The component table and how far it reaches.
#[derive(Clone, Debug)]
pub struct ComponentTable {
    pub horizon: Horizon,
    pub rules: Vec<ComponentRule>,
}

/// Every table, validated.
#[derive(Clone, Debug)]
pub struct Tables {
    pub removals: RemovalTable,
    pub components: ComponentTable,
    pub node_os: NodeOsTable,
    /// The simulator's add-on table, validated here so its horizon holds too.
    pub eks_addons: AddonTable,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("reading {file}: {source}")]
    Read { file: String, source: std::io::Error },
}

fn invalid(file: &str, message: String) -> TableError {
    TableError::Invalid {
        file: file.to_string(),
        message,
    }
}

/// `v1.11.3-eksbuild.1` or `1.0.5` → (1, 11, 3)
pub fn semver(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let a = parts.next()?.parse().ok()?;
    let b = parts.next()?.parse().ok()?;
    let c = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((a, b, c))
}

/// Refuses a map of minors with a hole (`1.28`, `1.30`): a gap would read as "no data".
fn check_contiguous<'a>(file: &str, at: &str, keys: impl IntoIterator<Item = &'a String>) -> Result<(), TableError> {
    let mut keys: Vec<Minor> = keys.into_iter().map(|k| Minor::key(k)).collect();
    keys.sort();
    for w in keys.windows(2) {
        if w[1].major == w[0].major && w[1] != w[0].next() {
            return Err(invalid(
                file,
                format!(
                    "{at} jumps from {} to {}: list every minor between, or mark the missing ones unverified",
                    w[0], w[1]
                ),
            ));
        }
    }
    Ok(())
}

fn check_removal(
    file: &str,
    i: usize,
    r: &Removal,
    seen: &mut std::collections::BTreeSet<(String, String)>,
) -> Result<(), TableError> {
    let at = |m: String| invalid(file, format!("removals[{i}] ({} {:?}): {m}", r.api_version, r.kinds));
    if Minor::parse_exact(&r.removed_in).is_none() {
        return Err(at(format!(
            "removedIn {:?} is not a version like \"1.25\"",
            r.removed_in
        )));
    }
    if let Some(s) = &r.replacement_since
        && Minor::parse_exact(s).is_none()
    {
        return Err(at(format!("replacementSince {s:?} is not a version like \"1.21\"")));
    }
    match (&r.replacement, &r.note) {
        (None, None) => return Err(at("no replacement and no note saying there is none".into())),
        (Some(_), _) if r.replacement_since.is_none() => {
            return Err(at("a replacement needs replacementSince".into()));
        }
        _ => {}
    }
    if !r.api_version.contains('/') {
        return Err(at("apiVersion must be group/version".into()));
    }
    if r.kinds.is_empty() {
        return Err(at("no kinds".into()));
    }
    for k in &r.kinds {
        if !seen.insert((r.api_version.clone(), k.clone())) {
            return Err(at(format!("{} {k} is listed twice", r.api_version)));
        }
    }
    Ok(())
}

/// A removal file; the horizon is required of the built-in table and optional in a
/// user's file (None then).
fn parse_removals(text: &str, file: &str, built_in: bool) -> Result<(Option<Horizon>, RemovalFile), TableError> {
    let parsed: RemovalFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in parsed.removals.iter().enumerate() {
        check_removal(file, i, r, &mut seen)?;
    }
    let declared = parsed.checked_against.is_some() || parsed.checked_on.is_some() || !parsed.sources.is_empty();
    let horizon = if built_in || declared {
        Some(Horizon::from_fields(
            file,
            "removed-API table",
            parsed.checked_against.as_deref(),
            parsed.checked_on.as_deref(),
            &parsed.sources,
        )?)
    } else {
        None
    };
    if let Some(h) = &horizon {
        for r in &parsed.removals {
            if !h.covers(&r.removed_in) {
                return Err(invalid(
                    file,
                    format!(
                        "{} is removed in {}, beyond checkedAgainst {}",
                        r.api_version, r.removed_in, h.checked_against
                    ),
                ));
            }
        }
    }
    if built_in || !parsed.checked.is_empty() {
        check_minors(file, "checked", parsed.checked.keys())?;
        check_contiguous(file, "checked", parsed.checked.keys())?;
        if let Some(h) = &horizon
            && !parsed.checked.contains_key(&h.checked_against)
        {
            return Err(invalid(
                file,
                format!(
                    "checked has no entry for checkedAgainst {}: say what it was checked against",
                    h.checked_against
                ),
            ));
        }
        if let Some(r) = parsed
            .removals
            .iter()
            .find(|r| !parsed.checked.contains_key(&r.removed_in))
        {
            return Err(invalid(
                file,
                format!(
                    "{} is removed in {}, which checked does not list",
                    r.api_version, r.removed_in
                ),
            ));
        }
    }
    for (i, d) in parsed.deprecations.iter().enumerate() {
        let at = |m: String| {
            invalid(
                file,
                format!("deprecations[{i}] ({} {:?}): {m}", d.api_version, d.kinds),
            )
        };
        if Minor::parse_exact(&d.in_release).is_none() {
            return Err(at(format!("in {:?} is not a version like \"1.33\"", d.in_release)));
        }
        if horizon.as_ref().is_some_and(|h| !h.covers(&d.in_release)) {
            return Err(at(format!("in {} is beyond checkedAgainst", d.in_release)));
        }
        if d.kinds.is_empty() || d.api_version.is_empty() || d.note.trim().is_empty() {
            return Err(at("needs apiVersion, kinds and a note".into()));
        }
    }
    Ok((horizon, parsed))
}

fn parse_components(text: &str, file: &str) -> Result<ComponentTable, TableError> {
    let parsed: ComponentFile = serde_norway::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    let horizon = Horizon::from_fields(
        file,
        "component table",
        parsed.checked_against.as_deref(),
        parsed.checked_on.as_deref(),
        &parsed.sources,
    )?;
    let mut names = std::collections::BTreeSet::new();
    for c in &parsed.components {
        let at = |m: String| invalid(file, format!("component {}: {m}", c.name));
        if !names.insert(c.name.clone()) {
            return Err(at("listed twice".into()));
        }
        if c.rule.is_none() && c.supports.is_empty() && c.supports_from.is_empty() && c.minimum.is_empty() {
            return Err(at("gives no rule, supports, supportsFrom or minimum".into()));
        }
        if c.rule == Some(Rule::SameMinor) {
            let Some(r) = &c.releases else {
                return Err(at("rule same-minor needs releases: {from, through}".into()));
            };
            r.check(file, &format!("component {}.releases", c.name))?;
        }
        for (comp, kube) in &c.supports {
            if Minor::parse_exact(comp).is_none() || kube.iter().any(|k| Minor::parse_exact(k).is_none()) {
                return Err(at(format!(
                    "supports {comp}: {kube:?} has a version that does not parse"
                )));
            }
        }
        for (comp, from) in &c.supports_from {
            if Minor::parse_exact(comp).is_none() || Minor::parse_exact(from).is_none() {
                return Err(at(format!("supportsFrom {comp}: {from} does not parse")));
            }
        }
        for (kube, min) in &c.minimum {
            if Minor::parse_exact(kube).is_none() || semver(min).is_none() {
                return Err(at(format!("minimum {kube}: {min} does not parse")));
            }
        }
        check_contiguous(file, &format!("component {}.minimum", c.name), c.minimum.keys())?;
        if let Some(r) = &c.retired {
            if r.on.parse::<jiff::civil::Date>().is_err() {
                return Err(at(format!("retired.on {:?} is not a date like 2026-03-24", r.on)));
            }
            if semver(&r.last_release).is_none() {
                return Err(at(format!("retired.lastRelease {:?} does not parse", r.last_release)));
            }
        }
        if c.universal() && !c.unverified.is_empty() {
            return Err(at("a rule that holds for every minor leaves nothing unverified".into()));
        }
        check_unverified(file, &format!("component {}", c.name), &c.unverified, &horizon, |m| {
            c.explicit(m)
        })?;
    }
    Ok(ComponentTable {
        horizon,
        rules: parsed.components,
    })
}

impl Tables {
    /// The built-in tables, plus removals from `extra` (same shape as the built-in
    /// file; its horizon fields are optional).
    pub fn load(extra: Option<&Path>) -> Result<Tables, TableError> {
        let (horizon, built_in) = parse_removals(REMOVED_APIS, REMOVED_APIS_FILE, true)?;
        let horizon = horizon.ok_or_else(|| invalid(REMOVED_APIS_FILE, "checkedAgainst is missing".into()))?;
        let mut removals = RemovalTable {
            horizon,
            entries: built_in.removals,
            deprecations: built_in.deprecations,
            checked: built_in.checked,
        };
        if let Some(path) = extra {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| TableError::Read {
                file: file.clone(),
                source,
            })?;
            let (_, more) = parse_removals(&text, &file, false)?;
            for m in more.removals {
                removals
                    .entries
                    .retain(|r| !(r.api_version == m.api_version && r.kinds.iter().any(|k| m.kinds.contains(k))));
                removals.entries.push(m);
            }
            removals.deprecations.extend(more.deprecations);
        }
        Ok(Tables {
            removals,
            components: parse_components(COMPONENTS, COMPONENTS_FILE)?,
            node_os: node_os::parse(NODE_OS, NODE_OS_FILE)?,
            eks_addons: addons::parse(EKS_ADDONS, EKS_ADDONS_FILE)?,
        })
    }

    /// The node OS table built into upshift (assets/preflight/node-os.yaml), which
    /// its tests keep parseable.
    pub fn builtin_node_os() -> NodeOsTable {
        node_os::parse(NODE_OS, NODE_OS_FILE).expect("the built-in node OS table parses (tested)")
    }

    /// The removal of `kind` in `api_version`, if it was ever removed.
    pub fn removal(&self, api_version: &str, kind: &str) -> Option<&Removal> {
        self.removals
            .entries
            .iter()
            .find(|r| r.api_version == api_version && r.kinds.iter().any(|k| k == kind))
    }

    /// Every table's horizon.
    pub fn horizons(&self) -> [&Horizon; 4] {
        [
            &self.removals.horizon,
            &self.components.horizon,
            &self.node_os.horizon,
            &self.eks_addons.horizon,
        ]
    }

    /// Where a table has neither data nor an explicit "unverified" for a minor from
    /// `from` to `to`: `components.yaml: karpenter has no entry for 1.38`. Empty when
    /// every table and entry keeps up.
    pub fn coverage_gaps(&self, from: &str, to: &str) -> Vec<String> {
        let mut gaps = Vec::new();
        for m in minors(from, to) {
            if !self.removals.checked.contains_key(&m) {
                gaps.push(format!("{}: checked has no entry for {m}", self.removals.horizon.file));
            }
            for c in &self.components.rules {
                if !c.knows(&m) && !c.is_unverified(&m) {
                    gaps.push(format!(
                        "{}: {} has no entry for {m}",
                        self.components.horizon.file, c.name
                    ));
                }
            }
            for f in &self.node_os.families {
                if !f.knows(&m) && !f.is_unverified(&m) {
                    gaps.push(format!(
                        "{}: {} has no entry for {m}",
                        self.node_os.horizon.file, f.name
                    ));
                }
            }
            for a in &self.eks_addons.addons {
                if !a.offers(&m) && !a.is_unverified(&m) {
                    gaps.push(format!(
                        "{}: {} has no entry for {m}",
                        self.eks_addons.horizon.file, a.name
                    ));
                }
            }
        }
        gaps
    }
}

#[cfg(test)]
mod tests;
