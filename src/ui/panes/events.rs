//! The live event log pane: the cluster's warning events and the cockpit's own notes,
//! newest at the bottom, following new entries unless the user has scrolled up.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::{Level, LogEntry, Source};
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "event log";

fn len(c: &Cockpit) -> usize {
    c.log.len()
}

pub fn level_word(level: Level) -> &'static str {
    match level {
        Level::Info => "INFO",
        Level::Warning => "WARN",
        Level::Error => "ERR",
    }
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.log.entries().get(i).is_some_and(|e| {
        [level_word(e.level), &e.object, &e.reason, &e.message]
            .iter()
            .any(|s| widgets::contains_ci(s, needle))
    })
}

/// The detail an entry's object has: `Node/NAME` or `Pod/NS/NAME`.
pub fn detail_of(object: &str) -> Option<Detail> {
    let (kind, rest) = object.split_once('/')?;
    match kind {
        "Node" if !rest.is_empty() => Some(Detail::Node(rest.to_string())),
        "Pod" if rest.contains('/') => Some(Detail::Pod(rest.to_string())),
        _ => None,
    }
}

fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    c.log.entries().get(i).map(|e| Detail::Entry(Box::new(e.clone())))
}

/// `12:03:07` in UTC, or dashes for an entry without a time.
pub fn clock(e: &LogEntry) -> String {
    e.at.map_or_else(|| "--:--:--".to_string(), |t| t.strftime("%H:%M:%S").to_string())
}

fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let mut out = vec![Span::raw(format!("{} entries", c.log.len()))];
    if let Some(e) = c.log.entries().back() {
        out.push(Span::styled(" · last ", theme::dim()));
        out.push(Span::styled(format!("{} ", level_word(e.level)), theme::level(e.level)));
        out.push(Span::raw(format!("{} {} {}", e.reason, e.object, e.message)));
    }
    if let Some(note) = widgets::source_note(c, Source::Events) {
        out.push(Span::raw(" · "));
        out.extend(note.spans);
    }
    out
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let state = c.view.list(Pane::Events);
    let mut extra = vec![widgets::note(format!("{} entries", c.log.len()))];
    extra.push(widgets::note(
        if state.follow {
            "following (UTC)"
        } else {
            "scrolled: G follows (UTC)"
        }
        .to_string(),
    ));
    let inner = widgets::frame(buf, area, c, (Pane::Events, TITLE), full, extra);
    let rows_h = inner.height.saturating_sub(1);
    if inner.height == 0 || inner.width == 0 {
        return rows_h;
    }
    let w = widgets::window(c.view.list(Pane::Events), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !state.filter.is_empty();
        widgets::empty_note(buf, inner, c, Source::Events, filtered, "no events yet");
        return rows_h;
    }
    use Constraint::{Fill, Length};
    let entries = c.log.entries();
    // columns as wide as the rows shown need, the message gets the rest
    let shown = || w.rows.iter().filter_map(|&i| entries.get(i));
    let room = if inner.width >= 120 {
        inner.width / 3
    } else {
        inner.width / 4
    };
    let obj_w = widgets::name_width(shown().map(|e| e.object.as_str()), room).max(6);
    let reason_w = shown()
        .map(|e| e.reason.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 24);
    let reason_w = u16::try_from(reason_w).unwrap_or(24).min(inner.width / 4);
    let count_w = if shown().any(|e| e.count > 1) { 5 } else { 0 };
    let cols = widgets::columns(
        inner,
        [
            Length(8),
            Length(4),
            Length(obj_w),
            Length(reason_w),
            Length(count_w),
            Fill(1),
        ],
    );
    widgets::headings(buf, &cols, inner.y, ["TIME", "LVL", "OBJECT", "REASON", "", "MESSAGE"]);
    let focused = c.view.focus == Pane::Events;
    for (y, (pos, &i)) in (inner.y + 1..inner.bottom()).zip(w.rows.iter().enumerate()) {
        let Some(e) = entries.get(i) else { continue };
        widgets::put(buf, cols[0], y, &clock(e), theme::dim());
        widgets::put(buf, cols[1], y, level_word(e.level), theme::level(e.level));
        widgets::put_name(buf, cols[2], y, &e.object, theme::plain());
        widgets::put(buf, cols[3], y, &e.reason, theme::level(e.level));
        if e.count > 1 {
            widgets::put_right(buf, cols[4], y, &format!("×{}", e.count), theme::bold());
        }
        widgets::put(buf, cols[5], y, &e.message, theme::plain());
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, inner, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct EventsPane;

impl PaneView for EventsPane {
    fn title(&self) -> &'static str {
        TITLE
    }

    fn draw(&self, buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
        draw_pane(buf, area, c, full)
    }

    fn summary(&self, c: &Cockpit) -> Vec<Span<'static>> {
        summary(c)
    }

    fn len(&self, c: &Cockpit) -> usize {
        len(c)
    }

    fn matches(&self, c: &Cockpit, i: usize, needle: &str) -> bool {
        matches(c, i, needle)
    }

    fn open(&self, c: &Cockpit, i: usize) -> Result<Detail, &'static str> {
        open(c, i).ok_or("no such entry in the log")
    }
}
