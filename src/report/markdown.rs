//! The report in Markdown, for a chat thread or a postmortem document.

use std::fmt::Write;

use super::{Outcome, Report, clock, duration};

/// A table cell: no line breaks, `|` escaped.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

fn opt_time(t: Option<crate::model::Timestamp>) -> String {
    t.map_or_else(|| "—".into(), clock)
}

/// The headline: what was rolled out where, and how it ended.
pub fn headline(r: &Report) -> String {
    let cluster = r.cluster.as_deref().unwrap_or("a cluster");
    let target = r.target.as_deref().map_or_else(String::new, |t| format!(" to {t}"));
    let how = match &r.outcome {
        Outcome::Done => "done".to_string(),
        Outcome::DoneWithProblems { problems } => format!(
            "done with {} open problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
        Outcome::Aborted { who, .. } => format!("aborted by {who}"),
        Outcome::InProgress { step, state } => format!("in progress: {step} {state}"),
    };
    format!("Rollout of {cluster}{target}: {how}")
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", headline(r));
    let span = match (r.started, r.last_entry) {
        (Some(a), Some(b)) => format!(
            "{} → {} UTC ({})",
            a.strftime("%Y-%m-%d %H:%M"),
            b.strftime("%H:%M"),
            duration(b.duration_since(a).as_secs())
        ),
        _ => "no entries".into(),
    };
    let who = if r.operators.is_empty() {
        "no operator decision journaled".to_string()
    } else {
        format!("driven by {}", r.operators.join(", "))
    };
    let _ = writeln!(o, "Journal `{}` · {span} · {who}\n", r.journal);
    match &r.outcome {
        Outcome::DoneWithProblems { problems } => {
            let _ = writeln!(o, "## Open problems\n");
            for p in problems {
                let _ = writeln!(o, "- {p}");
            }
            o.push('\n');
        }
        Outcome::Aborted { reason: Some(why), .. } => {
            let _ = writeln!(o, "Aborted: {why}\n");
        }
        _ => {}
    }
    let _ = writeln!(o, "## Steps\n");
    let _ = writeln!(
        o,
        "| step | state | started | ended | took | failures | retries | driven by |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for s in &r.steps {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.step),
            s.state,
            opt_time(s.started),
            opt_time(s.ended),
            s.seconds.map_or_else(|| "—".into(), duration),
            s.failures,
            s.retries,
            cell(&s.driven_by.join(", "))
        );
    }
    o.push('\n');
    if !r.handovers.is_empty() {
        let _ = writeln!(o, "## Handovers\n");
        for h in &r.handovers {
            let _ = writeln!(
                o,
                "- {} {} handed the drive to {}",
                clock(h.at),
                cell(&h.from),
                cell(&h.to)
            );
        }
        o.push('\n');
    }
    if !r.gates.is_empty() {
        let _ = writeln!(o, "## Gates\n");
        let _ = writeln!(o, "| gate | passed | by | decision | open for ≈ | reason |");
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        for g in &r.gates {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&g.gate),
                clock(g.at),
                cell(&g.who),
                g.decision,
                g.waited_seconds.map_or_else(|| "—".into(), duration),
                cell(g.reason.as_deref().unwrap_or(""))
            );
        }
        o.push('\n');
    }
    if !r.exceptions.is_empty() {
        let _ = writeln!(o, "## Overrides, skips and forced actions\n");
        for x in &r.exceptions {
            let on = x.target.as_deref().map_or_else(String::new, |t| format!(" ({t})"));
            let why = x.reason.as_deref().map_or_else(String::new, |r| format!(": {r}"));
            let _ = writeln!(
                o,
                "- `{}` {} **{}** {}{on}{why}",
                clock(x.at),
                x.who,
                x.decision,
                x.subject
            );
        }
        o.push('\n');
    }
    if !r.drains.is_empty() {
        let _ = writeln!(o, "## Drains held\n");
        for d in &r.drains {
            let _ = writeln!(
                o,
                "- `{}` {} held by {}: {}. Released: {}",
                clock(d.since),
                d.step,
                d.pod,
                d.message,
                d.released
            );
        }
        o.push('\n');
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "## Failures\n");
        for f in &r.failures {
            let _ = writeln!(o, "- `{}` {}: {}", clock(f.at), f.step, f.message);
        }
        o.push('\n');
    }
    let n = &r.numbers;
    let _ = writeln!(o, "## Numbers\n");
    let _ = writeln!(
        o,
        "{} nodes cordoned · {} pods evicted · {} pods deleted · {} instances terminated · {} actions ({} failed, {} with no result)\n",
        n.nodes_cordoned,
        n.pods_evicted,
        n.pods_deleted,
        n.instances_terminated,
        n.actions,
        n.failed_actions,
        n.in_doubt
    );
    if !r.anomalies.is_empty() {
        let _ = writeln!(o, "## Worth a look\n");
        for a in &r.anomalies {
            let _ = writeln!(o, "- {a}");
        }
        o.push('\n');
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "## About this journal\n");
        for a in &r.notes {
            let _ = writeln!(o, "- {a}");
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## Timeline (UTC)\n");
    for l in &r.timeline {
        let mark = if l.notable { " ⚠" } else { "" };
        let _ = writeln!(o, "- `{}` {}{mark} — {}", clock(l.at), l.who, l.text.replace('\n', " "));
    }
    o
}
