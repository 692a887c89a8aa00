//! The unscheduled-pods pane: how many pods wait for a node (prominent, with its
//! trend), the scheduler's reasons with how many pods give each, and the pods: a pod
//! held by its volume's zone says which claim, which zone, and what to do.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::{Source, SourceState};
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "unscheduled pods";

fn len(c: &Cockpit) -> usize {
    c.signals.unscheduled.pods.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.signals
        .unscheduled
        .pods
        .get(i)
        .is_some_and(|(pod, why)| widgets::contains_ci(pod, needle) || widgets::contains_ci(why, needle))
}

fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    c.signals
        .unscheduled
        .pods
        .get(i)
        .map(|(pod, _)| Detail::Pod(pod.clone()))
}

/// `3 unscheduled · Insufficient cpu 3 · node(s) were unschedulable 1`
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let u = &c.signals.unscheduled;
    let mut out = vec![Span::styled(format!("{} unscheduled", u.count), theme::count(u.count))];
    if u.count > 0 {
        out.push(Span::styled(
            format!(" · oldest {}", widgets::age(c.now, u.oldest)),
            theme::dim(),
        ));
    }
    for (reason, n) in u.reasons.iter().take(3) {
        out.push(Span::styled(" · ", theme::dim()));
        out.push(Span::raw(format!("{reason} {n}")));
    }
    // without claims or volumes, a pod held by its volume's zone is not explained
    for source in [Source::Pods, Source::PersistentVolumeClaims, Source::PersistentVolumes] {
        let listing = matches!(c.model.sources.get(&source), Some(SourceState::Syncing));
        if source != Source::Pods && listing {
            continue;
        }
        if let Some(note) = widgets::source_note(c, source) {
            out.push(Span::styled(" · ", theme::dim()));
            out.extend(note.spans);
        }
    }
    out
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let u = &c.signals.unscheduled;
    let inner = widgets::frame(
        buf,
        area,
        c,
        (Pane::Pending, TITLE),
        full,
        vec![widgets::note(format!("{}", u.count))],
    );
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    // the count, big and red when not zero, then its trend
    let mut head = vec![Span::styled(
        format!(" {} ", u.count),
        if u.count > 0 {
            theme::badge().bg(ratatui::style::Color::Red)
        } else {
            theme::good()
        },
    )];
    head.push(Span::styled(" pods unscheduled", theme::bold()));
    if u.count > 0 {
        head.push(Span::styled(
            format!(" · oldest {}", widgets::age(c.now, u.oldest)),
            theme::dim(),
        ));
    }
    let head = Line::from(head);
    widgets::line(buf, inner, inner.y, &head);
    let used = u16::try_from(head.width()).unwrap_or(u16::MAX).saturating_add(2);
    if inner.width > used + 8 {
        let spark = Rect {
            x: inner.x + used,
            y: inner.y,
            width: (inner.width - used).min(60),
            height: 1,
        };
        widgets::spark(buf, spark, &c.series.unscheduled, theme::bad());
    }
    // the reasons: at most a third of the room
    let room = inner.height.saturating_sub(1);
    let reasons_h = u16::try_from(u.reasons.len()).unwrap_or(u16::MAX).min(room / 3).min(8);
    let cols = widgets::columns(inner, [Constraint::Length(6), Constraint::Fill(1)]);
    for (y, (reason, n)) in (inner.y + 1..inner.y + 1 + reasons_h).zip(&u.reasons) {
        widgets::put_right(buf, cols[0], y, &n.to_string(), theme::count(*n));
        widgets::put(buf, cols[1], y, reason, theme::plain());
    }
    let rows_area = widgets::rest(inner, 1 + reasons_h);
    let rows_h = rows_area.height.saturating_sub(1);
    if rows_area.height == 0 {
        return rows_h;
    }
    let w = widgets::window(c.view.list(Pane::Pending), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Pending).filter.is_empty();
        widgets::empty_note(buf, rows_area, c, Source::Pods, filtered, "every pod has a node");
        return rows_h;
    }
    let pod_w = u.pods.iter().map(|(p, _)| p.len()).max().unwrap_or(3).clamp(3, 56);
    let pod_w = u16::try_from(pod_w).unwrap_or(56).min(rows_area.width * 2 / 3);
    let cols = widgets::columns(rows_area, [Constraint::Length(pod_w), Constraint::Fill(1)]);
    widgets::headings(buf, &cols, rows_area.y, ["POD", "WHY"]);
    let focused = c.view.focus == Pane::Pending;
    for (y, (pos, &i)) in (rows_area.y + 1..rows_area.bottom()).zip(w.rows.iter().enumerate()) {
        let Some((pod, why)) = u.pods.get(i) else { continue };
        widgets::put(buf, cols[0], y, pod, theme::plain());
        let why = if why.is_empty() {
            "waiting for the scheduler"
        } else {
            why
        };
        widgets::put(buf, cols[1], y, why, theme::dim());
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, rows_area, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct PendingPane;

impl PaneView for PendingPane {
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
        open(c, i).ok_or("nothing to show for this row")
    }
}
