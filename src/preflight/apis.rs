//! Removed APIs in use. Evidence, most telling first: a Helm release's latest
//! revision renders the API (the next `helm upgrade` will send it: high); the
//! last-applied annotation or the newest managedFields write used it (whoever
//! applies next probably will too: medium); an old write that a later write in a
//! served version has superseded (the usual false positive of annotation scanners:
//! low, and never a blocker).

use std::collections::BTreeMap;

use super::gather::{ObjectEvidence, Snapshot};
use super::tables::Removal;
use super::{Check, CheckRun, Confidence, Finding, Severity};
use crate::model::minor_key;

/// The removal (and its index in the table) of `kind` in `api_version`, if the
/// target no longer serves it: removed in this step, or already gone (then whatever
/// still sends it fails today).
fn removed<'a>(removals: &'a [Removal], api_version: &str, kind: &str, target: &str) -> Option<(usize, &'a Removal)> {
    let t = minor_key(target);
    removals.iter().enumerate().find(|(_, r)| {
        r.api_version == api_version && r.kinds.iter().any(|k| k == kind) && minor_key(&r.removed_in) <= t
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

pub fn check(s: &Snapshot, current: &str, target: &str, removals: &[Removal]) -> (Vec<Finding>, CheckRun) {
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
                    if minor_key(&r.removed_in) <= minor_key(current) {
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
    let helm_note = if s.unreadable.iter().any(|(w, _)| w.starts_with("secrets")) {
        " (Helm releases kept in Secrets could not be read)"
    } else {
        ""
    };
    let run = CheckRun {
        check: Check::RemovedApis,
        examined: format!(
            "{} objects' annotations and managedFields, {} Helm releases{helm_note}, against {} removals up to {target}",
            s.objects.len(),
            s.helm.len(),
            removals
                .iter()
                .filter(|r| minor_key(&r.removed_in) <= minor_key(target))
                .count()
        ),
        complete: helm_note.is_empty(),
    };
    (findings, run)
}
