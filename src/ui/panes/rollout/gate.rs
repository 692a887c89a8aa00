//! The gate in the rollout pane: its criteria green or red with what each saw, how
//! long it has been green against its settle time, and the lead's decision once
//! taken (or the choices while it is open).

use ratatui::text::{Line, Span};

use super::banner::choices_lines;
use super::{red_names, sep};
use crate::cockpit::Cockpit;
use crate::model::journal::Decision;
use crate::model::rollout::{GateView, RolloutState};
use crate::ui::detail::wrap;
use crate::ui::theme;

/// `12s`, `4m10s`, `2h5m`: a short duration.
fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `green for 12s of 60s`, or why the gate is not green.
fn settle(c: &Cockpit, g: &GateView) -> Line<'static> {
    let red = red_names(g);
    let mut out = vec![Span::raw("   ")];
    match g.green_since {
        _ if !red.is_empty() => {
            out.push(Span::styled(
                format!("red: {} of {} criteria", red.len(), g.criteria.len()),
                theme::bad(),
            ));
            out.push(Span::styled(
                format!(" · passable once every one is green for {}s", g.settle_seconds),
                theme::dim(),
            ));
        }
        Some(since) => {
            let secs = c.now.as_second() - since.as_second();
            if g.passable {
                out.push(Span::styled(
                    format!("green for {} (settle {}s): passable", duration(secs), g.settle_seconds),
                    theme::good(),
                ));
            } else {
                out.push(Span::styled(
                    format!("green for {} of {}s", duration(secs), g.settle_seconds),
                    theme::warn(),
                ));
            }
        }
        None if g.passable => out.push(Span::styled("green: passable", theme::good())),
        None => out.push(Span::styled(
            format!("waiting for every criterion to be green for {}s", g.settle_seconds),
            theme::dim(),
        )),
    }
    Line::from(out)
}

/// `decision: override by ana@laptop: reason`, yellow for an override.
fn decision(d: &str) -> Span<'static> {
    let style = if d.starts_with(Decision::Override.as_str()) {
        theme::warn()
    } else {
        theme::good()
    };
    Span::styled(d.to_string(), style)
}

/// How much room the gate takes: every criterion with its detail wrapped, one line
/// each, or only the red ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Fold {
    Wrapped,
    Lines,
    RedOnly,
}

/// The gate being waited at: its title, each criterion, how long it has been green,
/// the lead's choices and decision.
pub(super) fn gate_block(c: &Cockpit, r: &RolloutState, g: &GateView, width: usize, fold: Fold) -> Vec<Line<'static>> {
    let compact = fold == Fold::RedOnly;
    let mut out = vec![Line::from(vec![
        Span::styled(" ◆ ", theme::warn()),
        Span::styled("gate ", theme::dim()),
        Span::styled(g.title.clone(), theme::title()),
    ])];
    let name_w = g
        .criteria
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(30);
    let green = g.criteria.iter().filter(|c| c.ok && c.accepted.is_none()).count();
    for k in &g.criteria {
        // an accepted criterion stays in view: it is green only by the lead's word
        if compact && k.ok && k.accepted.is_none() {
            continue;
        }
        let (m, style) = match (&k.accepted, k.ok) {
            (Some(_), true) => ("!", theme::warn()),
            (_, true) => ("✓", theme::good()),
            (_, false) => ("✗", theme::bad().patch(theme::bold())),
        };
        let lead = 3 + 2 + name_w + 2;
        let text = match &k.accepted {
            Some(a) if k.ok => format!("{a} · {}", k.detail),
            _ => k.detail.clone(),
        };
        let detail = if fold == Fold::Wrapped {
            wrap(&text, width.saturating_sub(lead))
        } else {
            vec![text]
        };
        for (i, d) in detail.into_iter().enumerate() {
            let mut line = if i == 0 {
                vec![
                    Span::raw("   "),
                    Span::styled(m, style),
                    Span::raw(" "),
                    Span::styled(
                        format!("{:<name_w$}", k.name),
                        if k.ok { theme::plain() } else { style },
                    ),
                    Span::raw("  "),
                ]
            } else {
                vec![Span::raw(" ".repeat(lead))]
            };
            line.push(Span::raw(d));
            out.push(Line::from(line));
        }
    }
    if compact && green > 0 {
        out.push(Line::from(vec![
            Span::raw("   "),
            Span::styled("✓", theme::good()),
            Span::styled(format!(" {green} more green"), theme::dim()),
        ]));
    }
    out.push(settle(c, g));
    match &g.decision {
        Some(d) => {
            let style = decision(d).style;
            for (i, l) in wrap(&format!("decision: {d}"), width.saturating_sub(3))
                .into_iter()
                .enumerate()
            {
                let l = match l.strip_prefix("decision: ").filter(|_| i == 0) {
                    Some(rest) => vec![
                        Span::raw("   "),
                        Span::styled("decision: ", theme::dim()),
                        Span::styled(rest.to_string(), style),
                    ],
                    None => vec![Span::raw("   "), Span::styled(l, style)],
                };
                out.push(Line::from(l));
            }
        }
        None => out.extend(choices_lines(c, r, width)),
    }
    out
}

/// A passed gate, on one line, with the lead's decision.
pub(super) fn gate_passed(g: &GateView) -> Line<'static> {
    let mut out = vec![
        Span::styled(" ✓ ", theme::good()),
        Span::styled("gate ", theme::dim()),
        Span::raw(g.title.clone()),
        Span::styled(" passed", theme::dim()),
    ];
    if let Some(d) = &g.decision {
        out.push(sep());
        out.push(decision(d));
    }
    Line::from(out)
}
