//! Critical components — DNS, pod networking, ingress, cluster autoscaling — found
//! by their workloads and images, judged against `assets/preflight/components.yaml`
//! for the target minor.

use super::gather::{Snapshot, WorkloadFacts};
use super::tables::{ComponentRule, Rule, semver};
use super::{Check, CheckRun, Finding, Severity};
use crate::model::component::{categorise, image_is_called, image_tag, is_called};
use crate::model::minor_key;

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

/// Judges one workload against its rule; None when it is fine for the target.
fn judge(rule: &ComponentRule, w: &WorkloadFacts, target: &str) -> Option<Finding> {
    let image = w.images.iter().find(|i| matches_image(rule, i)).or(w.images.first())?;
    let tag = image_tag(image).unwrap_or("");
    let Some(v) = semver(tag) else {
        return Some(finding(
            w,
            Severity::Info,
            format!("{} {}: version unknown (image tag {tag:?})", rule.name, w.key()),
            "Its version cannot be read from the image tag, so it cannot be checked.".into(),
            format!("Check by hand that this {} supports Kubernetes {target}.", rule.name),
            &rule.source,
        ));
    };
    let t = minor_key(target);
    let minor = format!("{}.{}", v.0, v.1);
    match rule.rule {
        Some(Rule::SameMinor) if (v.0, v.1) != t => Some(finding(
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
            format!("Upgrade it to a {target}.x release right after the control plane (same step of the plan)."),
            &rule.source,
        )),
        Some(Rule::KubeProxySkew) => {
            let behind = t.1.saturating_sub(v.1);
            if (v.0, v.1) > t {
                Some(finding(
                    w,
                    Severity::Blocker,
                    format!("kube-proxy {} is {minor}, newer than the target {target}", w.key()),
                    "kube-proxy must not be newer than the control plane.".into(),
                    format!("Run a kube-proxy of {target} or older."),
                    &rule.source,
                ))
            } else if behind > 3 {
                Some(finding(
                    w,
                    Severity::Blocker,
                    format!("kube-proxy {} is {minor}, {behind} minors behind {target}", w.key()),
                    "kube-proxy may be at most three minors older than the control plane.".into(),
                    format!(
                        "Update kube-proxy to {} or newer before the control plane.",
                        format_args!("{}.{}", t.0, t.1 - 3)
                    ),
                    &rule.source,
                ))
            } else if behind > 0 {
                Some(finding(
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
                None
            }
        }
        _ => {
            if !rule.supports.is_empty() {
                let supported = rule.supports.get(&minor)?;
                if !supported.iter().any(|k| k == target) {
                    let mut fit: Vec<&String> = rule
                        .supports
                        .iter()
                        .filter(|(_, ks)| ks.iter().any(|k| k == target))
                        .map(|(c, _)| c)
                        .collect();
                    fit.sort_by_key(|c| std::cmp::Reverse(minor_key(c)));
                    return Some(finding(
                        w,
                        Severity::Warning,
                        format!(
                            "{} {} ({minor}) does not support Kubernetes {target}",
                            rule.name,
                            w.key()
                        ),
                        format!(
                            "Its maintainers support {minor} on {} only: on {target} it is untested and may break ingress for the whole cluster.",
                            supported.join(", ")
                        ),
                        if fit.is_empty() {
                            format!("No known {} release supports {target} yet: check upstream.", rule.name)
                        } else {
                            format!(
                                "Upgrade it before the control plane, preferably to {} (releases supporting {target}: {}).",
                                fit[0],
                                fit.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            )
                        },
                        &rule.source,
                    ));
                }
            }
            let min = rule.minimum.get(target)?;
            let m = semver(min)?;
            (v < m).then(|| {
                finding(
                    w,
                    Severity::Warning,
                    format!("{} {} is {tag}; {target} needs {min} or newer", rule.name, w.key()),
                    format!("{min} is the oldest {} known to run on {target}.", rule.name),
                    format!("Update it to {min} or newer right after the control plane."),
                    &rule.source,
                )
            })
        }
    }
}

fn matches_image(rule: &ComponentRule, image: &str) -> bool {
    rule.matches.iter().any(|n| image_is_called(image, n))
}

pub fn check(s: &Snapshot, target: &str, rules: &[ComponentRule]) -> (Vec<Finding>, CheckRun) {
    let mut findings = Vec::new();
    let mut found = Vec::new();
    for w in &s.workloads {
        let category = categorise(&w.name, &w.images);
        if let Some(c) = category {
            found.push(c);
        }
        for rule in rules.iter().filter(|r| matches(r, w)) {
            findings.extend(judge(rule, w, target));
        }
    }
    use crate::model::Category;
    for c in [
        Category::Dns,
        Category::PodNetworking,
        Category::Ingress,
        Category::Autoscaling,
    ] {
        if !found.contains(&c) {
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
            "{} workloads, {} recognised as critical components, against {} component rules",
            s.workloads.len(),
            found.len(),
            rules.len()
        ),
        complete: !s
            .unreadable
            .iter()
            .any(|(w, _)| w == "deployments" || w == "daemonsets"),
    };
    (findings, run)
}
