//! The header (where the cockpit is connected, as whom, whether it may write, how far
//! its watches have listed, EKS's support calendar when the cloud gave it, and what
//! it cannot see) and the footer (key hints, the prompt being typed, a note).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::calendar;
use super::keymap;
use super::theme;
use super::widgets;
use crate::cockpit::Cockpit;
use crate::cockpit::view::PromptKind;
use crate::model::SourceState;

/// The header's rows: two, one more for the support calendar when the cockpit has
/// one, and one more when it cannot see something.
pub fn height(c: &Cockpit) -> u16 {
    2 + u16::from(has_calendar(c)) + u16::from(!c.signals.blind.is_empty())
}

fn has_calendar(c: &Cockpit) -> bool {
    calendar::line(c, u16::MAX).is_some()
}

fn sep() -> Span<'static> {
    Span::styled(" │ ", theme::dim())
}

/// `synced`, `listing pods, events…`, `failing: pods` — the state of the watches.
fn sync_state(c: &Cockpit) -> Vec<Span<'static>> {
    let of = |pick: fn(&SourceState) -> bool| -> Vec<&str> {
        c.model
            .sources
            .iter()
            .filter(|(_, st)| pick(st))
            .map(|(s, _)| s.resource())
            .collect()
    };
    let failing = of(|s| matches!(s, SourceState::Failing(_)));
    let listing = of(|s| matches!(s, SourceState::Syncing));
    let mut out = Vec::new();
    if !failing.is_empty() {
        out.push(Span::styled(format!("✗ failing: {}", failing.join(", ")), theme::bad()));
    }
    if !listing.is_empty() {
        if !out.is_empty() {
            out.push(sep());
        }
        // a cockpit just started lists every kind: the first few, and how many more
        let text = match listing.len() {
            0..=6 => listing.join(", "),
            n => format!("{} and {} more", listing[..4].join(", "), n - 4),
        };
        out.push(Span::styled(format!("◌ listing {text}…"), theme::warn()));
    }
    if out.is_empty() {
        out.push(Span::styled("● synced", theme::good()));
    }
    out
}

pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit) {
    let conn = &c.connection;
    let mut first = vec![Span::styled(" upshift ", theme::brand())];
    if let Some(replay) = &c.replay {
        first.push(Span::styled(" REPLAY ", theme::badge()));
        first.push(Span::styled(format!(" {replay}"), theme::bold()));
    } else if c.read_only() {
        first.push(Span::styled(" READ-ONLY ", theme::badge()));
    }
    first.push(sep());
    first.push(Span::styled("cluster ", theme::dim()));
    first.push(Span::styled(conn.cluster.clone(), theme::bold()));
    first.push(sep());
    first.extend(sync_state(c));
    first.push(sep());
    first.push(Span::styled("control plane ", theme::dim()));
    match &c.model.server_version {
        Some(v) => first.push(Span::raw(v.clone())),
        None => first.push(Span::styled("?", theme::dim())),
    }
    if c.signals.nodepools.as_ref().is_some_and(|k| k.auto_mode) {
        first.push(sep());
        first.push(Span::styled("EKS Auto Mode", theme::bold()));
    }
    widgets::line(buf, area, area.y, &Line::from(first));

    let second = Line::from(vec![
        Span::styled(" as ", theme::dim()),
        Span::raw(conn.user.clone()),
        Span::styled(" · context ", theme::dim()),
        Span::raw(conn.context.clone()),
        Span::styled(" · server ", theme::dim()),
        Span::raw(conn.server.clone()),
    ]);
    widgets::line(buf, area, area.y + 1, &second);
    let mut y = area.y + 2;
    if let Some(line) = calendar::line(c, area.width) {
        widgets::line(buf, area, y, &line);
        y += 1;
    }

    if !c.signals.blind.is_empty() {
        let blind = &c.signals.blind;
        let full = blind
            .iter()
            .map(|(what, why)| format!("cannot see {what}: {why}"))
            .collect::<Vec<_>>()
            .join(" · ");
        // when the reasons do not fit, at least every blind spot is named
        let text = if full.chars().count() + 3 <= usize::from(area.width) {
            full
        } else {
            let what: Vec<&str> = blind.iter().map(|(w, _)| w.as_str()).collect();
            format!(
                "cannot see {}: forbidden for this identity (the event log says why)",
                what.join(", ")
            )
        };
        let line = Line::from(vec![Span::styled(format!(" ⚠ {text}"), theme::blind())]);
        widgets::line(buf, area, y, &line);
    }
}

pub fn draw_footer(buf: &mut Buffer, area: Rect, c: &Cockpit) {
    if area.height == 0 {
        return;
    }
    let mut spans = Vec::new();
    let lead = c.view.prompt.as_ref().and_then(|p| match p.kind {
        PromptKind::Filter => Some(("/", &p.text)),
        PromptKind::Command => Some((":", &p.text)),
        // typed in its own box, which also says why it was refused
        PromptKind::Drive(_) => None,
    });
    if let Some((lead, text)) = lead {
        spans.push(Span::styled(format!(" {lead}"), theme::key()));
        spans.push(Span::styled(format!("{text}▏"), theme::bold()));
        spans.push(Span::raw("  "));
    } else if let (Some(m), None) = (&c.view.message, &c.view.prompt) {
        spans.push(Span::styled(format!(" {m} "), theme::warn()));
        spans.push(Span::raw(" "));
    } else {
        spans.push(Span::raw(" "));
    }
    for (i, (key, what)) in keymap::hints(c).enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(key, theme::key()));
        spans.push(Span::styled(format!(" {what}"), theme::dim()));
    }
    widgets::line(buf, area, area.y, &Line::from(spans));
}
