//! What every pane shares: the window of a list's rows to draw (filtered, scrolled,
//! only the visible ones), the pane's frame and title, columns written straight into
//! the buffer, sparklines, and short ages. It knows nothing of any one pane.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, RenderDirection, Sparkline, SparklineBar, Widget};

use super::theme;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{ListState, Pane, scroll_to};
use crate::model::{Series, Source, SourceState, Timestamp};

/// Whether `hay` contains `needle` (already lower case), ignoring ASCII case, without allocating.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if n.len() > h.len() {
        return false;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The rows of a list that fit on screen.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Rows that pass the filter.
    pub total: usize,
    /// The first row shown (an index among the filtered rows).
    pub offset: usize,
    /// The selected row (among the filtered rows); 0 when the list is empty.
    pub selected: usize,
    /// Indices into the source of the rows to draw, top to bottom.
    pub rows: Vec<usize>,
}

impl Window {
    /// Computes the window of a source of `len` rows; `matches` is only asked when a
    /// filter is set, so an unfiltered list of any length costs only the rows shown.
    pub fn new(
        len: usize,
        matches: impl Fn(usize) -> bool,
        filtered: bool,
        state: &ListState,
        height: usize,
    ) -> Window {
        let all: Option<Vec<usize>> = filtered.then(|| (0..len).filter(|&i| matches(i)).collect());
        let total = all.as_ref().map_or(len, Vec::len);
        let last = total.saturating_sub(1);
        let selected = if state.follow { last } else { state.selected.min(last) };
        let offset = scroll_to(state.offset, selected, height, total);
        let end = (offset + height).min(total);
        let rows = match all {
            Some(v) => v.get(offset..end).map(<[usize]>::to_vec).unwrap_or_default(),
            None => (offset..end).collect(),
        };
        Window {
            total,
            offset,
            selected,
            rows,
        }
    }
}

/// The window of a pane's list: `len` rows before filtering, `matches(i, needle)`
/// saying whether row `i` passes the list's filter (asked only when one is set).
pub fn window(state: &ListState, height: usize, len: usize, matches: impl Fn(usize, &str) -> bool) -> Window {
    let needle = state.filter.to_lowercase();
    Window::new(len, |i| matches(i, &needle), !needle.is_empty(), state, height)
}

/// Draws a pane's frame and its title; returns the room inside. Wide screens get a
/// full border; narrow ones only a title rule, to save rows and columns.
pub fn frame(
    buf: &mut Buffer,
    area: Rect,
    c: &Cockpit,
    (pane, name): (Pane, &'static str),
    full: bool,
    extra: Vec<Span<'static>>,
) -> Rect {
    let focused = c.view.focus == pane;
    let mut title = vec![
        Span::styled(format!(" {} ", pane.digit()), theme::key()),
        Span::styled(
            name,
            if focused {
                theme::title().patch(theme::focused())
            } else {
                theme::title()
            },
        ),
    ];
    title.extend(extra);
    let filter = &c.view.list(pane).filter;
    if !filter.is_empty() {
        title.push(Span::styled(format!(" /{filter}"), theme::key()));
    }
    title.push(Span::raw(" "));
    let block = Block::new()
        .borders(if full { Borders::ALL } else { Borders::TOP })
        .border_style(if focused { theme::focused() } else { theme::border() })
        .title(Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// A dim ` · text` to follow a pane's title.
pub fn note(text: String) -> Span<'static> {
    Span::styled(format!(" · {text}"), theme::dim())
}

/// The x and width of each column across `area`, one space apart.
pub fn columns<const N: usize>(area: Rect, widths: [Constraint; N]) -> [(u16, u16); N] {
    let rects = Layout::horizontal(widths).spacing(1).split(Rect { height: 1, ..area });
    let mut out = [(area.x, 0); N];
    for (o, r) in out.iter_mut().zip(rects.iter()) {
        *o = (r.x, r.width);
    }
    out
}

/// Writes `text` in a column at row `y`, cut with `…` when it does not fit.
pub fn put(buf: &mut Buffer, (x, w): (u16, u16), y: u16, text: &str, style: Style) {
    let inside = y >= buf.area.y && y < buf.area.bottom() && x < buf.area.right();
    if w == 0 || !inside {
        return;
    }
    let width = usize::from(w);
    if text.len() <= width || text.chars().count() <= width {
        buf.set_stringn(x, y, text, width, style);
    } else {
        let (nx, _) = buf.set_stringn(x, y, text, width - 1, style);
        buf.set_stringn(nx, y, "…", 1, style);
    }
}

/// Writes `text` right-aligned in a column at row `y` (for numbers).
pub fn put_right(buf: &mut Buffer, (x, w): (u16, u16), y: u16, text: &str, style: Style) {
    let n = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    if n >= w {
        put(buf, (x, w), y, text, style);
    } else {
        put(buf, (x + (w - n), n), y, text, style);
    }
}

/// Writes a row of column headings.
pub fn headings<const N: usize>(buf: &mut Buffer, cols: &[(u16, u16); N], y: u16, names: [&str; N]) {
    for (col, name) in cols.iter().zip(names) {
        put(buf, *col, y, name, theme::heading());
    }
}

/// Marks row `y` of `area` as the selection (only in the focused pane).
pub fn highlight(buf: &mut Buffer, area: Rect, y: u16) {
    buf.set_style(Rect { y, height: 1, ..area }, theme::selected());
}

/// Writes a line, cut at the area's right edge.
pub fn line(buf: &mut Buffer, area: Rect, y: u16, line: &Line) {
    if y >= area.y && y < area.bottom() && y < buf.area.bottom() {
        buf.set_line(area.x, y, line, area.width);
    }
}

/// The height of the list part of a pane: what is left after `used` rows.
pub fn rest(area: Rect, used: u16) -> Rect {
    let used = used.min(area.height);
    Rect {
        y: area.y + used,
        height: area.height - used,
        ..area
    }
}

/// `42s`, `17m`, `5h`, `12d`: how long ago `t` was, as kubectl shows ages.
pub fn age(now: Timestamp, t: Option<Timestamp>) -> String {
    let Some(t) = t else { return "?".to_string() };
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// What to say instead of an empty list: that nothing matches the filter, that the
/// cockpit cannot see the source or is still listing it, or `empty`.
pub fn empty_note(buf: &mut Buffer, area: Rect, c: &Cockpit, source: Source, filtered: bool, empty: &str) {
    if area.height == 0 {
        return;
    }
    let note = if filtered {
        Line::styled("nothing matches the filter (esc clears it)", theme::dim())
    } else {
        source_note(c, source).unwrap_or_else(|| Line::styled(empty.to_string(), theme::dim()))
    };
    line(buf, area, area.y, &note);
}

/// A line about a watch that is not following its objects: forbidden, failing or still listing.
pub fn source_note(c: &Cockpit, source: Source) -> Option<Line<'static>> {
    let what = source.resource();
    match c.model.sources.get(&source) {
        Some(SourceState::Forbidden(why)) => Some(Line::styled(format!("cannot see {what}: {why}"), theme::blind())),
        Some(SourceState::Failing(why)) => Some(Line::styled(
            format!("the watch on {what} is failing, retrying: {why}"),
            theme::bad(),
        )),
        Some(SourceState::Syncing) => Some(Line::styled(format!("listing {what}…"), theme::dim())),
        Some(SourceState::Synced | SourceState::Absent) | None => None,
    }
}

/// `12-31 of 5000` at the right end of the pane's top rule, when the list does not
/// all fit (and only over the rule, never over the title).
pub fn scroll_note(buf: &mut Buffer, pane: Rect, w: &Window) {
    let shown = w.rows.len();
    if shown == 0 || shown >= w.total {
        return;
    }
    let text = format!(" {}-{} of {} ", w.offset + 1, w.offset + shown, w.total);
    let width = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    if width + 2 > pane.width || pane.y >= buf.area.bottom() {
        return;
    }
    let x = pane.right() - width - 1;
    if (x..x + width).all(|x| buf[(x, pane.y)].symbol() == "─") {
        buf.set_stringn(x, pane.y, &text, usize::from(width), theme::dim());
    }
}

/// `ip-10-0-1-7.eu-west-1.compute.internal` → `ip-10-0-1-7`, and the same after the last
/// `/` (`Node/ip-10-0-1-7.ec2.internal` → `Node/ip-10-0-1-7`): host names without their domain.
pub fn short_host(s: &str) -> &str {
    let start = s.rfind('/').map_or(0, |i| i + 1);
    match s[start..].find('.') {
        Some(dot) => &s[..start + dot],
        None => s,
    }
}

/// The width a column of names needs: the longest name if every one fits in `room`,
/// else the longest without its domain.
pub fn name_width<'a>(names: impl Iterator<Item = &'a str> + Clone, room: u16) -> u16 {
    let longest = names.clone().map(|n| n.chars().count()).max().unwrap_or(4);
    let w = if longest <= usize::from(room) {
        longest
    } else {
        names.map(|n| short_host(n).chars().count()).max().unwrap_or(4)
    };
    u16::try_from(w).unwrap_or(u16::MAX).clamp(4, room.max(4))
}

/// Writes a name, without its domain when the whole name does not fit.
pub fn put_name(buf: &mut Buffer, col: (u16, u16), y: u16, name: &str, style: Style) {
    if name.chars().count() <= usize::from(col.1) {
        put(buf, col, y, name, style);
    } else {
        put(buf, col, y, short_host(name), style);
    }
}

/// A one-row sparkline of the newest samples, newest at the right; zero samples are a dim
/// baseline, the others drawn in `style`.
pub fn spark(buf: &mut Buffer, area: Rect, series: &Series, style: Style) {
    if area.is_empty() {
        return;
    }
    let samples = series.last(usize::from(area.width));
    let max = samples.iter().copied().max().unwrap_or(0).max(1);
    let bars = samples.iter().rev().map(|&v| {
        let s = if v == 0 { theme::dim() } else { style };
        SparklineBar::from(v).style(Some(s))
    });
    let set = symbols::bar::Set {
        empty: "▁",
        ..symbols::bar::NINE_LEVELS
    };
    Sparkline::default()
        .data(bars)
        .max(max)
        .bar_set(set)
        .direction(RenderDirection::RightToLeft)
        .render(Rect { height: 1, ..area }, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_ignores_case_and_finds_substrings() {
        assert!(contains_ci("ip-10-0-1-7.Compute", "compute"));
        assert!(contains_ci("abc", ""));
        assert!(!contains_ci("ab", "abc"));
        assert!(!contains_ci("ip-10", "ip-11"));
    }

    #[test]
    fn window_shows_only_visible_rows() {
        let state = ListState {
            selected: 25,
            ..ListState::default()
        };
        let w = Window::new(100, |_| true, false, &state, 10);
        assert_eq!((w.total, w.offset, w.selected), (100, 16, 25));
        assert_eq!(w.rows, (16..26).collect::<Vec<_>>());
        // filtered to the even rows: the 25th of them is out of range, clamped to the last
        let w = Window::new(100, |i| i % 2 == 0, true, &state, 10);
        assert_eq!((w.total, w.selected), (50, 25));
        assert_eq!(w.rows.last(), Some(&50));
        let w = Window::new(0, |_| true, false, &state, 10);
        assert_eq!(w, Window::default());
    }

    #[test]
    fn following_selects_the_newest() {
        let state = ListState {
            follow: true,
            ..ListState::default()
        };
        let w = Window::new(30, |_| true, false, &state, 10);
        assert_eq!((w.offset, w.selected), (20, 29));
    }

    #[test]
    fn host_names_lose_their_domain() {
        assert_eq!(short_host("ip-10-0-1-7.eu-west-1.compute.internal"), "ip-10-0-1-7");
        assert_eq!(short_host("Node/ip-10-0-1-7.ec2.internal"), "Node/ip-10-0-1-7");
        assert_eq!(short_host("Pod/shop/web-1"), "Pod/shop/web-1");
        assert_eq!(short_host("Pod/shop/web.v2"), "Pod/shop/web");
        let names = [
            "ip-10-0-1-7.eu-west-1.compute.internal",
            "ip-10-0-1-10.eu-west-1.compute.internal",
        ];
        assert_eq!(name_width(names.iter().copied(), 60), 39);
        assert_eq!(name_width(names.iter().copied(), 20), 12);
        assert_eq!(name_width(names.iter().copied(), 8), 8);
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now: Timestamp = "2025-03-01T12:00:00Z".parse().unwrap();
        let ago = |s: i64| Some(now - jiff::SignedDuration::from_secs(s));
        assert_eq!(age(now, ago(5)), "5s");
        assert_eq!(age(now, ago(600)), "10m");
        assert_eq!(age(now, ago(3 * 3600)), "3h");
        assert_eq!(age(now, ago(9 * 86400)), "9d");
        assert_eq!(age(now, ago(-30)), "0s");
        assert_eq!(age(now, None), "?");
    }
}
