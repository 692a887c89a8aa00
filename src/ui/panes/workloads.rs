//! The workloads pane: availability, the truest answer to "is anything down?". The
//! workloads that are down, then those degraded, each with ready/desired, since
//! when, the PodDisruptionBudget covering it and the reason its pods give; then the
//! Services that select pods and have no ready endpoint.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::Source;
use crate::model::availability::WorkloadRow;
use crate::model::workload::Level;
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "workloads";

/// One row of the list: a workload not fully available, or a Service without endpoints.
enum Row<'a> {
    Workload(&'a WorkloadRow),
    Service(&'a str),
}

fn row(c: &Cockpit, i: usize) -> Option<Row<'_>> {
    let a = &c.signals.availability;
    match a.rows.get(i) {
        Some(w) => Some(Row::Workload(w)),
        None => a.services_down.get(i - a.rows.len()).map(|s| Row::Service(s)),
    }
}

fn len(c: &Cockpit) -> usize {
    let a = &c.signals.availability;
    a.rows.len() + a.services_down.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    match row(c, i) {
        Some(Row::Workload(w)) => {
            widgets::contains_ci(&w.id, needle)
                || widgets::contains_ci(&w.reason, needle)
                || widgets::contains_ci(w.level.as_str(), needle)
        }
        Some(Row::Service(s)) => widgets::contains_ci(s, needle) || widgets::contains_ci("service", needle),
        None => false,
    }
}

fn open(c: &Cockpit, i: usize) -> Result<Detail, &'static str> {
    match row(c, i) {
        Some(Row::Workload(w)) => Ok(Detail::Workload(w.id.clone())),
        Some(Row::Service(_)) => Err("a Service has no detail here: its pods are under its workload"),
        None => Err("nothing to show for this row"),
    }
}

/// `2 down · 1 degraded · 1 Service without endpoints · of 48 workloads, 31 Services`
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let a = &c.signals.availability;
    for source in [Source::Deployments, Source::EndpointSlices] {
        if c.model.sources.get(&source) == Some(&crate::model::SourceState::Syncing)
            && let Some(note) = widgets::source_note(c, source)
        {
            return note.spans;
        }
    }
    let mut out = vec![
        Span::styled(format!("{} down", a.down), theme::count(a.down)),
        Span::styled(" · ", theme::dim()),
        Span::styled(
            format!("{} degraded", a.degraded),
            if a.degraded > 0 { theme::warn() } else { theme::good() },
        ),
    ];
    if !a.services_down.is_empty() {
        out.push(Span::styled(" · ", theme::dim()));
        out.push(Span::styled(
            format!("{} Service(s) without endpoints", a.services_down.len()),
            theme::count(a.services_down.len()),
        ));
    }
    if let Some(w) = a.rows.first() {
        out.push(Span::styled(" · ", theme::dim()));
        out.push(Span::raw(format!("{} {}/{}", w.key, w.available, w.desired)));
    }
    out.push(Span::styled(
        format!(" · of {} workloads, {} Services", a.workloads, a.services),
        theme::dim(),
    ));
    out
}

fn level_style(l: Level) -> ratatui::style::Style {
    match l {
        Level::Down => theme::bad().patch(theme::bold()),
        Level::Degraded => theme::warn(),
        Level::Available => theme::good(),
    }
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let a = &c.signals.availability;
    let inner = widgets::frame(
        buf,
        area,
        c,
        (Pane::Workloads, TITLE),
        full,
        vec![widgets::note(format!("{} down, {} degraded", a.down, a.degraded))],
    );
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    let rows_h = inner.height.saturating_sub(1);
    let w = widgets::window(c.view.list(Pane::Workloads), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Workloads).filter.is_empty();
        widgets::empty_note(
            buf,
            inner,
            c,
            Source::Deployments,
            filtered,
            "every workload is available and every Service has a ready endpoint",
        );
        return rows_h;
    }
    let wide = inner.width >= 100;
    let name_w = widgets::name_width(
        a.rows
            .iter()
            .map(|r| r.key.as_str())
            .chain(a.services_down.iter().map(String::as_str)),
        inner.width / 2,
    )
    .max(8);
    let cols = widgets::columns(
        inner,
        [
            Constraint::Length(9),
            Constraint::Length(if wide { 12 } else { 0 }),
            Constraint::Length(name_w + 1),
            Constraint::Length(7),
            Constraint::Length(if inner.width >= 60 { 7 } else { 0 }),
            Constraint::Length(if wide { 26 } else { 0 }),
            Constraint::Fill(1),
        ],
    );
    widgets::headings(
        buf,
        &cols,
        inner.y,
        ["STATE", "KIND", "WORKLOAD", "READY", "SINCE", "PDB", "REASON"],
    );
    let focused = c.view.focus == Pane::Workloads;
    for (y, (pos, &i)) in (inner.y + 1..inner.bottom()).zip(w.rows.iter().enumerate()) {
        match row(c, i) {
            Some(Row::Workload(r)) => {
                widgets::put(buf, cols[0], y, r.level.as_str(), level_style(r.level));
                widgets::put(buf, cols[1], y, r.kind.as_str(), theme::dim());
                widgets::put_name(buf, cols[2], y, &r.key, theme::plain());
                widgets::put_right(
                    buf,
                    (cols[3].0, cols[3].1.saturating_sub(1)),
                    y,
                    &format!("{}/{}", r.ready, r.desired),
                    level_style(r.level),
                );
                widgets::put(buf, cols[4], y, &widgets::age(c.now, r.since), theme::dim());
                let pdb = match (&r.pdb, r.pdb_min) {
                    (Some(p), Some(m)) => format!("{p} (min {m})"),
                    (Some(p), None) => p.clone(),
                    _ => "—".into(),
                };
                widgets::put(buf, cols[5], y, &pdb, theme::dim());
                widgets::put(buf, cols[6], y, &r.reason, theme::plain());
            }
            Some(Row::Service(s)) => {
                widgets::put(buf, cols[0], y, "down", level_style(Level::Down));
                widgets::put(buf, cols[1], y, "Service", theme::dim());
                widgets::put_name(buf, cols[2], y, s, theme::plain());
                widgets::put_right(buf, (cols[3].0, cols[3].1.saturating_sub(1)), y, "0", theme::bad());
                widgets::put(buf, cols[6], y, "no ready endpoint", theme::plain());
            }
            None => continue,
        }
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, inner, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct WorkloadsPane;

impl PaneView for WorkloadsPane {
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
        open(c, i)
    }
}
