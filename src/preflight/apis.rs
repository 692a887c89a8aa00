//! Removed APIs in use. Evidence, most telling first: a Helm release's latest
//! revision renders the API (the next `helm upgrade` will send it: high); the
//! last-applied annotation or the newest managedFields write used it (whoever
//! applies next probably will too: medium); an old write that a later write in a
//! served version has superseded (the usual false positive of annotation scanners:
//! low, and never a blocker). The table's horizon bounds the answer: a target beyond
//! the release it was checked against is a warning, never "nothing removed"; and the
//! deprecations a step crosses (still served, or a feature turned off) are noted.

use std::collections::BTreeMap;

use super::gather::{ObjectEvidence, Snapshot};
use super::tables::{Effect, Removal, RemovalTable};
use super::{Check, CheckRun, Confidence, Finding, Severity, minors_between};
use crate::units::Minor;

/// The removal (and its index in the table) of `kind` in `api_version`, if the
/// target no longer serves it: removed in this step, or already gone (then whatever
/// still sends it fails today).
fn removed<'a>(removals: &'a [Removal], api_version: &str, kind: &str, target: &str) -> Option<(usize, &'a Removal)> {
    let t = Minor::key(target);
    removals.iter().enumerate().find(|(_, r)| {
        r.api_version == api_version && r.kinds.iter().any(|k| k == kind) && Minor::key(&r.removed_in) <= t
    })
}

fn replacement(r: &Removal) -> String {
    match (&r.replacement, &r.note) {
        (Some(rep), _) => format!(
            "Move to {rep} (served since {}).",
            r.replacement_since.as_deref().unwrap_or("?")
        ),
        (None, Some(note)) => format!("No replacement: {note}."),
        (None, None) => "No replacement.".into(),
    }
}

/// How sure an object's evidence is that it is still written through a removed version.
fn object_confidence(o: &ObjectEvidence, old: &str) -> Option<(Confidence, Vec<String>)> {
    let mut evidence = Vec::new();
    let mut newest: Option<&super::gather::ManagedWrite> = None;
    for m in &o.managed {
        if newest.is_none_or(|n| m.time >= n.time) {
            newest = Some(m);
        }
    }
    let old_writes: Vec<_> = o.managed.iter().filter(|m| m.api_version == old).collect();
    for m in &old_writes {
        evidence.push(format!(
            "managedFields: {} wrote it through {old}{}",
            if m.manager.is_empty() { "someone" } else { &m.manager },
            m.time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default()
        ));
    }
    let applied_old = o.last_applied.as_deref() == Some(old);
    if applied_old {
        evidence.push(format!("kubectl last-applied-configuration names {old}"));
    }
    if evidence.is_empty() {
        return None;
    }
    let superseded = newest.is_some_and(|n| n.api_version != old);
    if superseded {
        let n = newest
            .map(|n| format!("{} through {}", n.manager, n.api_version))
            .unwrap_or_default();
        evidence.push(format!("but the newest write is by {n}"));
        return Some((Confidence::Low, evidence));
    }
    Some((Confidence::Medium, evidence))
}

/// The warning for a target the table does not reach, if it does not.
pub fn horizon_finding(table: &RemovalTable, target: &str) -> Option<Finding> {
    let h = &table.horizon;
    if h.covers(target) {
        return None;
    }
    let gap = minors_between(&h.checked_against, target).join(" and ");
    Some(Finding {
        check: Check::RemovedApis,
        severity: Severity::Warning,
        confidence: None,
        title: format!(
            "The removed-API table was last checked against {}; {gap} may remove APIs it does not know",
            h.checked_against
        ),
        resources: Vec::new(),
        why: format!(
            "upshift knows the API removals of every release up to {} ({}); what {gap} removes is not in its table, so this check cannot say that nothing is removed.",
            h.checked_against,
            h.describe()
        ),
        action: format!(
            "Read the Kubernetes deprecation guide and the release notes of {gap} (Urgent Upgrade Notes, Deprecation, API Change) before upgrading; add what you find with --apis FILE."
        ),
        evidence: h.sources.iter().map(|s| format!("source: {s}")).collect(),
    })
}

/// Notes for the deprecations and disabled features the step from `current` to
/// `target` crosses.
fn deprecations(table: &RemovalTable, current: &str, target: &str) -> Vec<Finding> {
    let (c, t) = (Minor::key(current), Minor::key(target));
    table
        .deprecations
        .iter()
        .filter(|d| c < Minor::key(&d.in_release) && Minor::key(&d.in_release) <= t)
        .map(|d| {
            let what = match &d.field {
                Some(f) => format!("{f} of {} {}", d.api_version, d.kinds.join(", ")),
                None => format!("{} {}", d.api_version, d.kinds.join(", ")),
            };
            let (severity, verb) = match d.effect {
                Effect::Deprecated => (Severity::Info, "deprecates"),
                Effect::Disabled => (Severity::Warning, "disables"),
            };
            Finding {
                check: Check::RemovedApis,
                severity,
                confidence: None,
                title: format!("Kubernetes {} {verb} {what}", d.in_release),
                resources: Vec::new(),
                why: format!("{}.", d.note),
                action: match (&d.replacement, d.effect) {
                    (Some(r), _) => format!("Move what uses it to {r}; nothing is removed by this step."),
                    (None, Effect::Disabled) => {
                        "Find the workloads that use it and change them before upgrading.".into()
                    }
                    (None, Effect::Deprecated) => "Plan to stop using it; nothing is removed by this step.".into(),
                },
                evidence: vec![format!("{}: deprecations", table.horizon.file)],
            }
        })
        .collect()
}

pub fn check(s: &Snapshot, current: &str, target: &str, table: &RemovalTable) -> (Vec<Finding>, CheckRun) {
    let removals = table.entries.as_slice();
    let mut findings = Vec::new();
    // Helm: one finding per release and removal (one apiVersion of some kinds)
    let mut by_release: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
    for rel in &s.helm {
        for res in &rel.resources {
            if let Some((i, _)) = removed(removals, &res.api_version, &res.kind, target) {
                by_release
                    .entry((format!("{}/{}", rel.namespace, rel.name), i))
                    .or_default()
                    .push(format!("{} {}", res.kind, res.name));
            }
        }
    }
    for ((release, i), resources) in by_release {
        let r = &removals[i];
        let (api, removed_in) = (&r.api_version, &r.removed_in);
        let rel = s.helm.iter().find(|h| format!("{}/{}", h.namespace, h.name) == release);
        findings.push(Finding {
            check: Check::RemovedApis,
            severity: Severity::Blocker,
            confidence: Some(Confidence::High),
            title: format!("Helm release {release} renders {api}, removed in {removed_in}"),
            resources: resources.clone(),
            why: format!(
                "The release's latest revision ({}) sends {api} on its next upgrade or rollback; from {removed_in} the API server refuses it and the release is stuck.",
                rel.map(|h| format!("revision {}, {}", h.revision, h.status)).unwrap_or_default()
            ),
            action: format!(
                "{} Update the chart (or its values) and upgrade the release before the control plane; for releases already stuck, helm's mapkubeapis plugin rewrites the stored manifest.",
                replacement(r)
            ),
            evidence: vec![format!("Helm release record {release}: {}", resources.join(", "))],
        });
    }
    // objects: annotations and managedFields
    for o in &s.objects {
        let versions: Vec<&str> = o
            .managed
            .iter()
            .map(|m| m.api_version.as_str())
            .chain(o.last_applied.as_deref())
            .collect();
        let mut done = Vec::new();
        for v in versions {
            if done.contains(&v) {
                continue;
            }
            done.push(v);
            let Some((_, r)) = removed(removals, v, &o.kind, target) else {
                continue;
            };
            let Some((confidence, evidence)) = object_confidence(o, v) else {
                continue;
            };
            let severity = match confidence {
                Confidence::Low => Severity::Info,
                _ => Severity::Warning,
            };
            let why = match confidence {
                Confidence::Low => format!(
                    "It was once written through {v} (removed in {}), but has since been written through a served version: probably nothing sends {v} any more.",
                    r.removed_in
                ),
                _ => format!(
                    "The last write through kubectl apply or a controller used {v}, which {} refuses: whatever applies it next (a pipeline, a GitOps tool) will fail.",
                    if Minor::key(&r.removed_in) <= Minor::key(current) {
                        format!("the cluster already ({})", r.removed_in)
                    } else {
                        r.removed_in.clone()
                    }
                ),
            };
            findings.push(Finding {
                check: Check::RemovedApis,
                severity,
                confidence: Some(confidence),
                title: format!("{} was written through {v}, removed in {}", o.object(), r.removed_in),
                resources: vec![o.object()],
                why,
                action: format!(
                    "{} Find the manifest that applies it (its managers are named in the evidence) and change its apiVersion.",
                    replacement(r)
                ),
                evidence,
            });
        }
    }
    findings.extend(deprecations(table, current, target));
    let beyond = horizon_finding(table, target);
    let helm_note = if s.unreadable.iter().any(|(w, _)| w.starts_with("secrets")) {
        " (Helm releases kept in Secrets could not be read)"
    } else {
        ""
    };
    let h = &table.horizon;
    let reach = if beyond.is_some() { &h.checked_against } else { target };
    let run = CheckRun {
        check: Check::RemovedApis,
        examined: format!(
            "{} objects' annotations and managedFields, {} Helm releases{helm_note}, against {} removals in releases up to {reach} (removal table {}{})",
            s.objects.len(),
            s.helm.len(),
            removals
                .iter()
                .filter(|r| Minor::key(&r.removed_in) <= Minor::key(reach))
                .count(),
            h.describe(),
            if beyond.is_some() {
                format!("; {target} is beyond it")
            } else {
                String::new()
            }
        ),
        complete: helm_note.is_empty() && beyond.is_none(),
    };
    findings.extend(beyond);
    (findings, run)
}

#[cfg(test)]
mod tests;
