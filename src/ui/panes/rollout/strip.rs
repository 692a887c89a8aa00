//! The campaign strip at the top of the rollout pane, the same for the lead and the
//! shadows (it comes with the published rollout): the campaign's stages with their
//! clusters and how each stands, the one driven highlighted; then the window and the
//! time left in it (or the next one), the soak still to run, and the window's warning.
//! A drive given only a window (`--window-closes`) shows the second line alone.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::sep;
use crate::model::Timestamp;
use crate::model::campaign::{CampaignStrip, StripCluster};
use crate::model::rollout::RolloutState;
use crate::ui::theme;
use crate::units::time::span;

/// A cluster's mark and colour by the state the campaign gives it.
fn mark(c: &StripCluster) -> (&'static str, Style) {
    match c.state.as_str() {
        "running" => ("▶", theme::active()),
        "done" => ("✓", theme::good()),
        "done with problems" => ("✓!", theme::warn()),
        "aborted" => ("■", theme::leaving()),
        _ => ("·", theme::dim()),
    }
}

/// `pre-production ✓!staging │ production ▶prod-eu ·prod-us`: every stage with its
/// clusters; when that is wider than `width`, the stages without the cluster driven
/// say only how many of their clusters are done (`pre-production 1/1 done`).
fn stages(s: &CampaignStrip, width: usize) -> Line<'static> {
    let full = |compact: bool| {
        let mut out: Vec<Span<'static>> = Vec::new();
        for (i, stage) in s.stages.iter().enumerate() {
            if i > 0 {
                out.push(Span::styled(" │ ", theme::dim()));
            }
            out.push(Span::styled(stage.name.clone(), theme::dim()));
            let driven_here = stage.clusters.iter().any(|c| c.name == s.driving);
            if compact && !driven_here {
                let done = stage.clusters.iter().filter(|c| c.state.starts_with("done")).count();
                out.push(Span::raw(format!(" {done}/{} done", stage.clusters.len())));
                continue;
            }
            for c in &stage.clusters {
                let (m, style) = mark(c);
                out.push(Span::raw(" "));
                out.push(Span::styled(m, style));
                out.push(if c.name == s.driving {
                    Span::styled(c.name.clone(), theme::key().patch(theme::bold()))
                } else {
                    Span::raw(c.name.clone())
                });
            }
        }
        Line::from(out)
    };
    let line = full(false);
    if line.width() <= width { line } else { full(true) }
}

/// `campaign q4 → 1.32`, `window tue-night closes in 1h12m`, `soak 3h left`, or
/// `outside window, next: wed-night opens in 2h`; then the drive's warning as the
/// end nears, or that a stop at a safe point was asked.
fn window_parts(r: &RolloutState, now: Timestamp) -> Vec<Vec<Span<'static>>> {
    let strip = r.campaign.as_ref();
    let mut parts: Vec<Vec<Span<'static>>> = Vec::new();
    if let Some(s) = strip {
        let mut p = vec![
            Span::styled("campaign ", theme::dim()),
            Span::styled(s.name.clone(), theme::bold()),
        ];
        if !s.target.is_empty() {
            p.push(Span::raw(format!(" → {}", s.target)));
        }
        parts.push(p);
    }
    let current = strip
        .and_then(|s| s.window.as_ref().map(|w| (w.name.clone(), w.closes)))
        .or_else(|| r.window.as_ref().map(|w| (w.name.clone(), w.closes)));
    match current {
        Some((name, Some(closes))) => {
            let left = closes.as_second() - now.as_second();
            let when = if left >= 0 {
                let style = if left < 15 * 60 { theme::bad() } else { theme::plain() };
                Span::styled(format!("closes in {}", span(left)), style)
            } else {
                Span::styled(format!("closed {} ago", span(-left)), theme::bad())
            };
            parts.push(vec![Span::raw(format!("window {name} ")), when]);
        }
        Some((name, None)) => parts.push(vec![Span::raw(format!("window {name}"))]),
        None => {
            if let Some(next) = strip.and_then(|s| s.next_window.as_ref()) {
                let opens = next
                    .opens
                    .map(|t| format!(" opens in {}", span(t.as_second() - now.as_second())))
                    .unwrap_or_default();
                parts.push(vec![
                    Span::styled("outside window", theme::warn()),
                    Span::styled(format!(", next: {}{opens}", next.name), theme::plain()),
                ]);
            }
        }
    }
    if let Some(until) = strip.and_then(|s| s.soak_until) {
        let left = until.as_second() - now.as_second();
        if left > 0 {
            parts.push(vec![Span::styled(format!("soak {} left", span(left)), theme::warn())]);
        }
    }
    if let Some(w) = &r.window {
        if w.stopping {
            parts.push(vec![Span::styled("stopping at the next safe point", theme::warn())]);
        } else if w.warning.is_some() {
            parts.push(vec![Span::styled("ending: stop at a safe point?", theme::bad())]);
        }
    }
    parts
}

/// The parts joined by ` · ` on as few lines of `width` as they need.
fn pack(parts: Vec<Vec<Span<'static>>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for p in parts {
        let w: usize = p.iter().map(Span::width).sum();
        if used > 0 && used + 3 + w > width {
            out.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if used > 0 {
            line.push(sep());
            used += 3;
        }
        used += w;
        line.extend(p);
    }
    if !line.is_empty() {
        out.push(Line::from(line));
    }
    out
}

/// The strip's lines, to fit `width`: none without a campaign or a window.
pub(super) fn lines(r: &RolloutState, now: Timestamp, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(s) = &r.campaign {
        out.push(stages(s, width));
    }
    out.extend(pack(window_parts(r, now), width));
    out
}
