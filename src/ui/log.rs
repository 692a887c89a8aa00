//! The live event log pane: the cluster's warning events and the cockpit's own notes,
//! newest at the bottom, following new entries unless the user has scrolled up.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

use super::list;
use super::theme;
use super::view::{Detail, Pane};
use crate::cockpit::Cockpit;
use crate::model::{Level, LogEntry, Source};

pub fn len(c: &Cockpit) -> usize {
    c.log.len()
}

pub fn level_word(level: Level) -> &'static str {
    match level {
        Level::Info => "INFO",
        Level::Warning => "WARN",
        Level::Error => "ERR",
    }
}

pub fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.log.entries().get(i).is_some_and(|e| {
        [level_word(e.level), &e.object, &e.reason, &e.message]
            .iter()
            .any(|s| list::contains_ci(s, needle))
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

pub fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    c.log.entries().get(i).and_then(|e| detail_of(&e.object))
}

/// `12:03:07` in UTC, or dashes for an entry without a time.
pub fn clock(e: &LogEntry) -> String {
    e.at.map_or_else(|| "--:--:--".to_string(), |t| t.strftime("%H:%M:%S").to_string())
}

pub fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let mut out = vec![Span::raw(format!("{} entries", c.log.len()))];
    if let Some(e) = c.log.entries().back() {
        out.push(Span::styled(" · last ", theme::dim()));
        out.push(Span::styled(format!("{} ", level_word(e.level)), theme::level(e.level)));
        out.push(Span::raw(format!("{} {} {}", e.reason, e.object, e.message)));
    }
    if let Some(note) = list::source_note(c, Source::Events) {
        out.push(Span::raw(" · "));
        out.extend(note.spans);
    }
    out
}

pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) {
    let state = c.view.list(Pane::Events);
    let mut extra = vec![list::note(format!("{} entries", c.log.len()))];
    extra.push(list::note(
        if state.follow {
            "following (UTC)"
        } else {
            "scrolled: G follows (UTC)"
        }
        .to_string(),
    ));
    let inner = list::frame(buf, area, c, Pane::Events, full, extra);
    let rows_h = inner.height.saturating_sub(1);
    c.view.set_height(Pane::Events, rows_h);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let w = list::window(c, Pane::Events, usize::from(rows_h));
    if w.total == 0 {
        let filtered = !state.filter.is_empty();
        list::empty_note(buf, inner, c, Source::Events, filtered, "no events yet");
        return;
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
    let obj_w = list::name_width(shown().map(|e| e.object.as_str()), room).max(6);
    let reason_w = shown()
        .map(|e| e.reason.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 24);
    let reason_w = u16::try_from(reason_w).unwrap_or(24).min(inner.width / 4);
    let count_w = if shown().any(|e| e.count > 1) { 5 } else { 0 };
    let cols = list::columns(
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
    list::headings(buf, &cols, inner.y, ["TIME", "LVL", "OBJECT", "REASON", "", "MESSAGE"]);
    let focused = c.view.focus == Pane::Events;
    for (y, (pos, &i)) in (inner.y + 1..inner.bottom()).zip(w.rows.iter().enumerate()) {
        let Some(e) = entries.get(i) else { continue };
        list::put(buf, cols[0], y, &clock(e), theme::dim());
        list::put(buf, cols[1], y, level_word(e.level), theme::level(e.level));
        list::put_name(buf, cols[2], y, &e.object, theme::plain());
        list::put(buf, cols[3], y, &e.reason, theme::level(e.level));
        if e.count > 1 {
            list::put_right(buf, cols[4], y, &format!("×{}", e.count), theme::bold());
        }
        list::put(buf, cols[5], y, &e.message, theme::plain());
        if focused && w.offset + pos == w.selected {
            list::highlight(buf, inner, y);
        }
    }
    list::scroll_note(buf, area, &w);
}
