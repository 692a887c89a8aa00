//! The pod-errors pane: how many pods are in CrashLoopBackOff, ImagePullBackOff,
//! OOMKilled, Error and Evicted, the restart rate's trend, and the worst workloads.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::Source;
use crate::model::pod::ErrorKind;
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "pod errors";

fn len(c: &Cockpit) -> usize {
    c.signals.errors.top.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.signals.errors.top.get(i).is_some_and(|o| {
        widgets::contains_ci(&o.workload, needle)
            || widgets::contains_ci(o.kind.label(), needle)
            || widgets::contains_ci(&o.reason, needle)
    })
}

/// Enter on a workload: the detail of its first pod in that error (looked up once, on the key).
fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    let o = c.signals.errors.top.get(i)?;
    c.model
        .pods
        .items
        .iter()
        .filter(|(_, p)| p.error == Some(o.kind) && p.workload() == o.workload)
        .map(|(key, _)| key)
        .min()
        .map(|key| Detail::Pod(key.clone()))
}

/// The kinds always shown (Other only when there is some).
fn kinds(c: &Cockpit) -> impl Iterator<Item = (ErrorKind, usize)> + '_ {
    let by = &c.signals.errors.by_kind;
    ErrorKind::ALL
        .into_iter()
        .map(|k| (k, by.get(k.label()).copied().unwrap_or(0)))
        .filter(|(k, n)| *k != ErrorKind::Other || *n > 0)
}

/// `CrashLoopBackOff 2  ImagePullBackOff 0  OOMKilled 1  Error 0  Evicted 0`, with
/// `CrashLoop` and `ImagePull` when that does not fit in `width`.
fn counts(c: &Cockpit, width: u16) -> Line<'static> {
    let line = |short: bool| {
        let mut out = Vec::new();
        for (k, n) in kinds(c) {
            if !out.is_empty() {
                out.push(Span::raw("  "));
            }
            let label = match k {
                ErrorKind::CrashLoopBackOff if short => "CrashLoop",
                ErrorKind::ImagePullBackOff if short => "ImagePull",
                k => k.label(),
            };
            out.push(Span::raw(format!("{label} ")));
            out.push(Span::styled(n.to_string(), theme::count(n)));
        }
        Line::from(out)
    };
    let long = line(false);
    if long.width() <= usize::from(width) {
        long
    } else {
        line(true)
    }
}

fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let e = &c.signals.errors;
    let mut out = vec![Span::styled(format!("{} pods in error", e.pods), theme::count(e.pods))];
    for (k, n) in kinds(c).filter(|(_, n)| *n > 0) {
        out.push(Span::styled(" · ", theme::dim()));
        out.push(Span::styled(format!("{} {n}", k.label()), theme::bad()));
    }
    let rate = c.series.restarts.latest().unwrap_or(0);
    out.push(Span::styled(format!(" · {rate} restarts/s"), theme::dim()));
    out
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let e = &c.signals.errors;
    let mut extra = vec![widgets::note(format!("{} pods", e.pods))];
    if e.pods > 0 && !e.top.is_empty() {
        extra.push(widgets::note(format!("{} workloads", e.top.len())));
    }
    let inner = widgets::frame(buf, area, c, (Pane::Errors, TITLE), full, extra);
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    widgets::line(buf, inner, inner.y, &counts(c, inner.width));
    if inner.height > 1 {
        let y = inner.y + 1;
        let rate = c.series.restarts.latest().unwrap_or(0);
        let label = Line::from(vec![Span::raw("restarts/s ")]);
        widgets::line(buf, inner, y, &label);
        let tail = format!(" {rate}/s now · {} total", e.restarts);
        let tail_w = u16::try_from(tail.chars().count()).unwrap_or(u16::MAX);
        let spark_w = inner.width.saturating_sub(11 + tail_w).min(60);
        let spark = Rect {
            x: inner.x + 11,
            y,
            width: spark_w,
            height: 1,
        };
        widgets::spark(buf, spark, &c.series.restarts, theme::bad());
        let tail_area = Rect {
            x: spark.right(),
            width: inner.right().saturating_sub(spark.right()),
            ..spark
        };
        widgets::line(
            buf,
            tail_area,
            y,
            &Line::styled(tail, if rate > 0 { theme::warn() } else { theme::dim() }),
        );
    }
    let rows_area = widgets::rest(inner, 2);
    let rows_h = rows_area.height.saturating_sub(1);
    if rows_area.height == 0 {
        return rows_h;
    }
    let w = widgets::window(c.view.list(Pane::Errors), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Errors).filter.is_empty();
        widgets::empty_note(buf, rows_area, c, Source::Pods, filtered, "no pod in error");
        return rows_h;
    }
    use Constraint::{Fill, Length};
    let wl_w = e.top.iter().map(|o| o.workload.len()).max().unwrap_or(8).clamp(8, 48);
    let wl_w = u16::try_from(wl_w).unwrap_or(48).min(rows_area.width / 3);
    let cols = widgets::columns(rows_area, [Length(wl_w), Length(16), Length(4), Length(8), Fill(1)]);
    widgets::headings(
        buf,
        &cols,
        rows_area.y,
        ["WORKLOAD", "ERROR", "PODS", "RESTARTS", "REASON"],
    );
    let focused = c.view.focus == Pane::Errors;
    for (y, (pos, &i)) in (rows_area.y + 1..rows_area.bottom()).zip(w.rows.iter().enumerate()) {
        let Some(o) = e.top.get(i) else { continue };
        widgets::put(buf, cols[0], y, &o.workload, theme::plain());
        widgets::put(buf, cols[1], y, o.kind.label(), theme::bad());
        widgets::put_right(buf, cols[2], y, &o.pods.to_string(), theme::plain());
        widgets::put_right(buf, cols[3], y, &o.restarts.to_string(), theme::plain());
        widgets::put(buf, cols[4], y, &o.reason, theme::dim());
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, rows_area, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct ErrorsPane;

impl PaneView for ErrorsPane {
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
