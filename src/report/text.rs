//! The report as plain text for a terminal: the same sections as Markdown, aligned
//! columns and no markup.

use std::fmt::Write;

use super::markdown::headline;
use super::{Outcome, Report, clock, duration};

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", headline(r));
    let _ = writeln!(o, "journal {}", r.journal);
    if let (Some(a), Some(b)) = (r.started, r.last_entry) {
        let _ = writeln!(o, "from {a} to {b} ({})", duration(b.duration_since(a).as_secs()));
    }
    if !r.operators.is_empty() {
        let _ = writeln!(o, "driven by {}", r.operators.join(", "));
    }
    if let Outcome::DoneWithProblems { problems } = &r.outcome {
        let _ = writeln!(o, "\nopen problems:");
        for p in problems {
            let _ = writeln!(o, "  ✗ {p}");
        }
    }
    let _ = writeln!(o, "\nsteps:");
    let width = r.steps.iter().map(|s| s.step.chars().count()).max().unwrap_or(0);
    for s in &r.steps {
        let took = s.seconds.map_or_else(String::new, |x| format!(" in {}", duration(x)));
        let extra = if s.failures > 0 {
            format!(" ({} failure(s), {} retr(ies))", s.failures, s.retries)
        } else {
            String::new()
        };
        let by = if s.driven_by.is_empty() {
            String::new()
        } else {
            format!(", driven by {}", s.driven_by.join(" then "))
        };
        let _ = writeln!(o, "  {:width$}  {}{took}{extra}{by}", s.step, s.state);
    }
    if !r.handovers.is_empty() {
        let _ = writeln!(o, "\nhandovers:");
        for h in &r.handovers {
            let _ = writeln!(o, "  {} {} handed the drive to {}", clock(h.at), h.from, h.to);
        }
    }
    if !r.gates.is_empty() {
        let _ = writeln!(o, "\ngates:");
        for g in &r.gates {
            let why = g.reason.as_deref().map_or_else(String::new, |x| format!(": {x}"));
            let _ = writeln!(o, "  {} {} {} by {}{why}", clock(g.at), g.gate, g.decision, g.who);
        }
    }
    for (title, lines) in [
        (
            "overrides, skips and forced actions",
            r.exceptions
                .iter()
                .map(|x| {
                    let why = x.reason.as_deref().map_or_else(String::new, |r| format!(": {r}"));
                    format!("{} {} {} {}{why}", clock(x.at), x.who, x.decision, x.subject)
                })
                .collect::<Vec<_>>(),
        ),
        (
            "drains held",
            r.drains
                .iter()
                .map(|d| format!("{} {} held by {}; {}", clock(d.since), d.step, d.pod, d.released))
                .collect(),
        ),
        (
            "failures",
            r.failures
                .iter()
                .map(|f| format!("{} {}: {}", clock(f.at), f.step, f.message))
                .collect(),
        ),
        ("worth a look", r.anomalies.clone()),
        ("about this journal", r.notes.clone()),
    ] {
        if !lines.is_empty() {
            let _ = writeln!(o, "\n{title}:");
            for l in lines {
                let _ = writeln!(o, "  {l}");
            }
        }
    }
    let n = &r.numbers;
    let _ = writeln!(
        o,
        "\n{} nodes cordoned, {} pods evicted, {} pods deleted, {} instances terminated, {} actions ({} failed, {} with no result)",
        n.nodes_cordoned,
        n.pods_evicted,
        n.pods_deleted,
        n.instances_terminated,
        n.actions,
        n.failed_actions,
        n.in_doubt
    );
    o
}
