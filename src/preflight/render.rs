//! Preflight reports as text for a terminal, JSON for scripts, and Markdown for the
//! team's upgrade thread.

use std::fmt::Write;

use super::{Finding, Report, Severity};

fn summary(r: &Report) -> String {
    format!(
        "{} blocker(s), {} warning(s), {} info",
        r.count(Severity::Blocker),
        r.count(Severity::Warning),
        r.count(Severity::Info)
    )
}

/// Plain text, wrapped for a terminal.
pub fn text(r: &Report, unreadable: &[(String, String)]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "upshift preflight: {} → {} on context {} ({})",
        r.current, r.target, r.context, r.server
    );
    let _ = writeln!(
        o,
        "{} — read and checked in {:.1} s",
        summary(r),
        r.took_ms as f64 / 1000.0
    );
    for f in &r.findings {
        let _ = writeln!(o);
        let conf = f.confidence.map(|c| format!(" [{c:?} confidence]")).unwrap_or_default();
        let _ = writeln!(o, "{:<8} {}{conf}", f.severity.label(), f.title);
        let _ = writeln!(o, "         check: {}", f.check.title());
        let _ = writeln!(o, "         why:   {}", f.why);
        let _ = writeln!(o, "         do:    {}", f.action);
        for res in &f.resources {
            let _ = writeln!(o, "         - {res}");
        }
        for e in &f.evidence {
            let _ = writeln!(o, "         evidence: {e}");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Checks run:");
    for c in &r.checks {
        let mark = if c.complete { "ok  " } else { "PART" };
        let _ = writeln!(o, "  {mark} {:<28} {}", c.check.title(), c.examined);
    }
    for (what, why) in unreadable {
        let _ = writeln!(o, "  could not read {what}: {why}");
    }
    if r.findings.is_empty() {
        let _ = writeln!(o, "\nNothing found: no blockers, warnings or notes for {}.", r.target);
    }
    o
}

/// One JSON document.
pub fn json(r: &Report, unreadable: &[(String, String)]) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        #[serde(flatten)]
        report: &'a Report,
        blockers: usize,
        warnings: usize,
        infos: usize,
        unreadable: Vec<serde_json::Value>,
    }
    let doc = Doc {
        report: r,
        blockers: r.count(Severity::Blocker),
        warnings: r.count(Severity::Warning),
        infos: r.count(Severity::Info),
        unreadable: unreadable
            .iter()
            .map(|(w, y)| serde_json::json!({"what": w, "why": y}))
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn md_finding(o: &mut String, f: &Finding) {
    let conf = f
        .confidence
        .map(|c| format!(" _(confidence: {c:?})_"))
        .unwrap_or_default();
    let _ = writeln!(o, "### {}{conf}\n", md_escape(&f.title));
    let _ = writeln!(o, "- **Check:** {}", f.check.title());
    let _ = writeln!(o, "- **Why it matters:** {}", f.why);
    let _ = writeln!(o, "- **What to do:** {}", f.action);
    if !f.resources.is_empty() {
        let _ = writeln!(
            o,
            "- **Resources:** {}",
            f.resources
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for e in &f.evidence {
        let _ = writeln!(o, "- Evidence: {e}");
    }
    let _ = writeln!(o);
}

/// Markdown for a ticket or the upgrade thread; its title names the cluster and the
/// day it was run (`on`, e.g. `2026-12-01`), as a thread of many clusters needs.
pub fn markdown(r: &Report, unreadable: &[(String, String)], cluster: &str, on: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Preflight: {} → {} ({}), cluster {}, {on}\n",
        r.current,
        r.target,
        r.context,
        md_escape(cluster)
    );
    let _ = writeln!(o, "**{}** — server `{}`.\n", summary(r), r.server);
    for (sev, heading) in [
        (Severity::Blocker, "Blockers"),
        (Severity::Warning, "Warnings"),
        (Severity::Info, "Notes"),
    ] {
        let of: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(o, "## {heading}\n");
        for f in of {
            md_finding(&mut o, f);
        }
    }
    let _ = writeln!(o, "## Checks run\n");
    let _ = writeln!(o, "| check | examined | complete |");
    let _ = writeln!(o, "|---|---|---|");
    for c in &r.checks {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            c.check.title(),
            md_escape(&c.examined),
            if c.complete { "yes" } else { "partly" }
        );
    }
    for (what, why) in unreadable {
        let _ = writeln!(o, "\nCould not read {what}: {why}");
    }
    o
}
