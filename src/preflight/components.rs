//! Critical components — DNS, pod networking, ingress, cluster autoscaling, storage,
//! metrics — found by their workloads and images, judged against
//! `assets/preflight/components.yaml` for the target minor. Two answers are kept
//! apart: "the component does not support the target" (a finding about the cluster)
//! and "the table does not reach the target" (a warning about upshift's knowledge).

use std::collections::BTreeMap;

use super::gather::{Snapshot, WorkloadFacts};
use super::tables::{ComponentRule, ComponentTable, Rule, semver};
use super::{Check, CheckRun, Finding, Severity};
use crate::model::component::{categorise, image_is_called, image_tag, is_called};
use crate::units::Minor;

fn matches(rule: &ComponentRule, w: &WorkloadFacts) -> bool {
    rule.matches.iter().any(|n| is_called(&w.name, &w.images, n))
}

fn finding(w: &WorkloadFacts, severity: Severity, title: String, why: String, action: String, source: &str) -> Finding {
    Finding {
        check: Check::Components,
        severity,
        confidence: None,
        title,
        resources: vec![format!("{} {}", w.kind, w.key())],
        why,
        action,
        evidence: vec![format!("images: {}", w.images.join(", ")), format!("source: {source}")],
    }
}

/// What the table says about one workload on the target.
enum Judgement {
    Fine,
    Finding(Box<Finding>),
    /// The table has no data for the target: a gap in knowledge, not a finding.
    Unknown,
}

fn found(f: Finding) -> Judgement {
    Judgement::Finding(Box::new(f))
}

/// `" ingress-nginx was retired upstream on 2026-03-24 (last release v1.15.1): ..."`, or nothing.
fn retirement(rule: &ComponentRule) -> String {
    rule.retired
        .as_ref()
        .map(|r| {
            format!(
                " {} was retired upstream on {} (last release {}): no further releases or fixes, security ones included.",
                rule.name, r.on, r.last_release
            )
        })
        .unwrap_or_default()
}

/// Judges one workload against its rule for the target; `beyond` says the target is
/// past the table's horizon.
fn judge(rule: &ComponentRule, w: &WorkloadFacts, target: &str, beyond: bool) -> Judgement {
    let Some(image) = w.images.iter().find(|i| matches_image(rule, i)).or(w.images.first()) else {
        return Judgement::Fine;
    };
    let tag = image_tag(image).unwrap_or("");
    let Some(v) = semver(tag) else {
        return found(finding(
            w,
            Severity::Info,
            format!("{} {}: version unknown (image tag {tag:?})", rule.name, w.key()),
            "Its version cannot be read from the image tag, so it cannot be checked.".into(),
            format!("Check by hand that this {} supports Kubernetes {target}.", rule.name),
            &rule.source,
        ));
    };
    let t = Minor::key(target);
    let minor = format!("{}.{}", v.0, v.1);
    match rule.rule {
        Some(Rule::KubeProxySkew) => kube_proxy(rule, w, &minor, Minor::new(v.0, v.1), target),
        Some(Rule::AnySupported) => Judgement::Fine,
        Some(Rule::SameMinor) if beyond || rule.is_unverified(target) => Judgement::Unknown,
        Some(Rule::SameMinor) => {
            let released = rule.releases.as_ref().is_some_and(|r| r.contains(target));
            if !released {
                found(finding(
                    w,
                    Severity::Warning,
                    format!(
                        "{} {} is {minor}; no {} release for {target} is known",
                        rule.name,
                        w.key(),
                        rule.name
                    ),
                    format!(
                        "{}'s minor version must equal the control plane's, and the table (which reaches {target}) knows no release for it.",
                        rule.name
                    ),
                    format!("Check upstream for a {target}.x release before upgrading the control plane."),
                    &rule.source,
                ))
            } else if Minor::new(v.0, v.1) != t {
                found(finding(
                    w,
                    Severity::Warning,
                    format!(
                        "{} {} is {minor}; it must be {target} once the control plane is",
                        rule.name,
                        w.key()
                    ),
                    format!(
                        "{}'s minor version must equal the control plane's; a mismatched one may scale wrongly.",
                        rule.name
                    ),
                    format!(
                        "Upgrade it to a {target}.x release right after the control plane (same step of the plan)."
                    ),
                    &rule.source,
                ))
            } else {
                Judgement::Fine
            }
        }
        None if beyond || rule.is_unverified(target) => Judgement::Unknown,
        None => by_data(rule, w, tag, v, &minor, target),
    }
}

fn kube_proxy(rule: &ComponentRule, w: &WorkloadFacts, minor: &str, v: Minor, target: &str) -> Judgement {
    let t = Minor::key(target);
    let behind = t.minor.saturating_sub(v.minor);
    if v > t {
        found(finding(
            w,
            Severity::Blocker,
            format!("kube-proxy {} is {minor}, newer than the target {target}", w.key()),
            "kube-proxy must not be newer than the control plane.".into(),
            format!("Run a kube-proxy of {target} or older."),
            &rule.source,
        ))
    } else if behind > 3 {
        found(finding(
            w,
            Severity::Blocker,
            format!("kube-proxy {} is {minor}, {behind} minors behind {target}", w.key()),
            "kube-proxy may be at most three minors older than the control plane.".into(),
            format!(
                "Update kube-proxy to {}.{} or newer before the control plane.",
                t.major,
                t.minor.saturating_sub(3)
            ),
            &rule.source,
        ))
    } else if behind > 0 {
        found(finding(
            w,
            Severity::Info,
            format!(
                "kube-proxy {} is {minor}: update it to {target} after the nodes",
                w.key()
            ),
            "Within the skew kube-proxy allows; it is best updated once the nodes run the target.".into(),
            format!("Update the kube-proxy add-on to the {target} default after the node groups."),
            &rule.source,
        ))
    } else {
        Judgement::Fine
    }
}

/// Judges by the table's data: supported minors, open-ended support, minimum versions.
fn by_data(
    rule: &ComponentRule,
    w: &WorkloadFacts,
    tag: &str,
    v: (u32, u32, u32),
    minor: &str,
    target: &str,
) -> Judgement {
    let retired = retirement(rule);
    if let Some(supported) = rule.supports.get(minor) {
        if supported.iter().any(|k| k == target) {
            return if rule.retired.is_some() {
                found(finding(
                    w,
                    Severity::Info,
                    format!(
                        "{} {} ({minor}) supports {target}, but the project is retired",
                        rule.name,
                        w.key()
                    ),
                    retired.trim().to_string(),
                    format!(
                        "Plan its replacement before a minor it does not support: no release will follow {}.",
                        rule.retired.as_ref().map_or("?", |r| r.last_release.as_str())
                    ),
                    &rule.source,
                ))
            } else {
                Judgement::Fine
            };
        }
        let mut fit: Vec<&String> = rule
            .supports
            .iter()
            .filter(|(_, ks)| ks.iter().any(|k| k == target))
            .map(|(c, _)| c)
            .collect();
        fit.sort_by_key(|c| std::cmp::Reverse(Minor::key(c)));
        if fit.is_empty() {
            let title = if rule.retired.is_some() {
                format!(
                    "{} {} ({minor}): retired upstream; no release supports Kubernetes {target}",
                    rule.name,
                    w.key()
                )
            } else {
                format!(
                    "{} {} ({minor}): no known release supports Kubernetes {target}",
                    rule.name,
                    w.key()
                )
            };
            return found(finding(
                w,
                Severity::Blocker,
                title,
                format!(
                    "Its maintainers support {minor} on {} only, and no release of {} supports {target}.{retired}",
                    supported.join(", "),
                    rule.name
                ),
                format!(
                    "Replace {} before upgrading the control plane (on EKS, e.g. the AWS Load Balancer Controller or a Gateway API implementation), or stay on a minor it supports.",
                    rule.name
                ),
                &rule.source,
            ));
        }
        return found(finding(
            w,
            Severity::Warning,
            format!(
                "{} {} ({minor}) does not support Kubernetes {target}",
                rule.name,
                w.key()
            ),
            format!(
                "Its maintainers support {minor} on {} only: on {target} it is untested and may break ingress for the whole cluster.{retired}",
                supported.join(", ")
            ),
            format!(
                "Upgrade it before the control plane, preferably to {} (releases supporting {target}: {}).",
                fit[0],
                fit.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            &rule.source,
        ));
    }
    if !rule.supports_from.is_empty() {
        let from = rule
            .supports_from
            .iter()
            .filter(|(c, _)| Minor::key(c) <= Minor::new(v.0, v.1))
            .max_by_key(|(c, _)| Minor::key(c));
        return match from {
            Some((_, from)) if Minor::key(from) <= Minor::key(target) => Judgement::Fine,
            Some((c, from)) => found(finding(
                w,
                Severity::Warning,
                format!("{} {} ({minor}) needs Kubernetes {from} or newer", rule.name, w.key()),
                format!("Its maintainers support {c}.x from Kubernetes {from} on; {target} is older."),
                format!("Run a {} release that supports {target}.", rule.name),
                &rule.source,
            )),
            None => found(finding(
                w,
                Severity::Warning,
                format!(
                    "{} {} ({minor}) is older than any release the table knows",
                    rule.name,
                    w.key()
                ),
                format!(
                    "The table's oldest {} release line is {}; nothing is known of {minor} on {target}.",
                    rule.name,
                    rule.supports_from
                        .keys()
                        .min_by_key(|c| Minor::key(c))
                        .map_or("?", |c| c.as_str())
                ),
                "Upgrade it to a supported release before the control plane.".into(),
                &rule.source,
            )),
        };
    }
    if !rule.supports.is_empty() {
        return found(finding(
            w,
            Severity::Warning,
            format!(
                "{} {} ({minor}) is not in the table's supported versions",
                rule.name,
                w.key()
            ),
            format!(
                "The table lists {} release lines of {}; {minor} is not one of them.",
                rule.supports.len(),
                rule.name
            ),
            format!("Check by hand that this {} supports Kubernetes {target}.", rule.name),
            &rule.source,
        ));
    }
    let Some(min) = rule.minimum.get(target) else {
        return Judgement::Unknown;
    };
    let Some(m) = semver(min) else {
        return Judgement::Unknown;
    };
    if v < m {
        found(finding(
            w,
            Severity::Warning,
            format!("{} {} is {tag}; {target} needs {min} or newer", rule.name, w.key()),
            format!("{min} is the oldest {} known to run on {target}.", rule.name),
            format!("Update it to {min} or newer right after the control plane."),
            &rule.source,
        ))
    } else {
        Judgement::Fine
    }
}

fn matches_image(rule: &ComponentRule, image: &str) -> bool {
    rule.matches.iter().any(|n| image_is_called(image, n))
}

/// The warning for components the table could not judge on the target.
fn unknown(
    table: &ComponentTable,
    target: &str,
    beyond: bool,
    gaps: &BTreeMap<&str, (Vec<String>, &str)>,
) -> Vec<Finding> {
    let h = &table.horizon;
    if beyond {
        let names: Vec<&str> = gaps.keys().copied().collect();
        return vec![Finding {
            check: Check::Components,
            severity: Severity::Warning,
            confidence: None,
            title: format!(
                "The component table was last checked against {}; it cannot judge {} on {target}",
                h.checked_against,
                names.join(", ")
            ),
            resources: gaps.values().flat_map(|(r, _)| r.iter().cloned()).collect(),
            why: format!(
                "The table ({}) has no data for {target}: this is a gap in upshift's knowledge, not a finding that these components do not support {target}.",
                h.describe()
            ),
            action: format!("Check each component's own compatibility notes for {target} before upgrading."),
            evidence: h.sources.iter().map(|s| format!("source: {s}")).collect(),
        }];
    }
    gaps.iter()
        .map(|(name, (resources, source))| Finding {
            check: Check::Components,
            severity: Severity::Warning,
            confidence: None,
            title: format!("The component table has no {name} data for {target}"),
            resources: resources.clone(),
            why: format!(
                "The table ({}) has no {name} release data for {target}: this is a gap in upshift's knowledge, not a finding that {name} does not support {target}.",
                h.describe()
            ),
            action: format!("Check {name}'s own compatibility notes for {target} before upgrading."),
            evidence: vec![format!("source: {source}")],
        })
        .collect()
}

pub fn check(s: &Snapshot, target: &str, table: &ComponentTable) -> (Vec<Finding>, CheckRun) {
    let rules = &table.rules;
    let beyond = !table.horizon.covers(target);
    let mut findings = Vec::new();
    let mut found_categories = Vec::new();
    let mut gaps: BTreeMap<&str, (Vec<String>, &str)> = BTreeMap::new();
    for w in &s.workloads {
        if let Some(c) = categorise(&w.name, &w.images) {
            found_categories.push(c);
        }
        for rule in rules.iter().filter(|r| matches(r, w)) {
            match judge(rule, w, target, beyond) {
                Judgement::Fine => {}
                Judgement::Finding(f) => findings.push(*f),
                Judgement::Unknown => {
                    let tag = w
                        .images
                        .iter()
                        .find(|i| matches_image(rule, i))
                        .and_then(|i| image_tag(i));
                    gaps.entry(rule.name.as_str())
                        .or_insert_with(|| (Vec::new(), rule.source.as_str()))
                        .0
                        .push(format!("{} {} ({})", w.kind, w.key(), tag.unwrap_or("?")));
                }
            }
        }
    }
    findings.extend(unknown(table, target, beyond, &gaps));
    use crate::model::Category;
    for c in [
        Category::Dns,
        Category::PodNetworking,
        Category::Ingress,
        Category::Autoscaling,
    ] {
        if !found_categories.contains(&c) {
            findings.push(Finding {
                check: Check::Components,
                severity: Severity::Info,
                confidence: None,
                title: format!("No {} component found", c.label()),
                resources: Vec::new(),
                why: format!("No workload looks like a {} component, so none was checked.", c.label()),
                action: "If the cluster has one under another name, check its support for the target by hand.".into(),
                evidence: Vec::new(),
            });
        }
    }
    let run = CheckRun {
        check: Check::Components,
        examined: format!(
            "{} workloads, {} recognised as critical components, against {} component rules (component table {}){}",
            s.workloads.len(),
            found_categories.len(),
            rules.len(),
            table.horizon.describe(),
            if gaps.is_empty() {
                String::new()
            } else {
                format!(
                    "; no data for {target} on {}",
                    gaps.keys().copied().collect::<Vec<_>>().join(", ")
                )
            }
        ),
        complete: gaps.is_empty()
            && !s
                .unreadable
                .iter()
                .any(|(w, _)| w == "deployments" || w == "daemonsets"),
    };
    (findings, run)
}

#[cfg(test)]
mod tests;
