//! The critical-components pane: DNS, pod networking, ingress and autoscaling, each
//! with ready/desired, version and health (or plainly "none found"), then the
//! PodDisruptionBudgets that allow no disruption and would stop a drain.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::component::WorkloadKind;
use crate::model::{Category, ComponentInfo, PdbInfo, Source, SourceState};
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "critical components";

/// One line of the pane's list.
enum Row<'a> {
    Component(&'a ComponentInfo),
    Missing(Category),
    Pdb(&'a PdbInfo),
}

fn row(c: &Cockpit, i: usize) -> Option<Row<'_>> {
    let s = &c.signals.components;
    let (n, m) = (s.items.len(), s.missing.len());
    if i < n {
        s.items.get(i).map(Row::Component)
    } else if i < n + m {
        s.missing.get(i - n).copied().map(Row::Missing)
    } else {
        s.blocking_pdbs.get(i - n - m).map(Row::Pdb)
    }
}

fn len(c: &Cockpit) -> usize {
    let s = &c.signals.components;
    s.items.len() + s.missing.len() + s.blocking_pdbs.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    match row(c, i) {
        Some(Row::Component(ci)) => [ci.category.label(), &ci.namespace, &ci.name, &ci.version]
            .iter()
            .any(|s| widgets::contains_ci(s, needle)),
        Some(Row::Missing(cat)) => widgets::contains_ci(cat.label(), needle),
        Some(Row::Pdb(p)) => {
            widgets::contains_ci(&p.namespace, needle)
                || widgets::contains_ci(&p.name, needle)
                || widgets::contains_ci("pdb", needle)
        }
        None => false,
    }
}

/// Why a category may be missing: the cockpit cannot see workloads, or there are none.
fn missing_word(c: &Cockpit) -> String {
    let blind: Vec<&str> = [Source::Deployments, Source::DaemonSets]
        .into_iter()
        .filter(|s| !c.signals.can_see(*s))
        .map(Source::resource)
        .collect();
    if blind.is_empty() {
        "none found".to_string()
    } else {
        format!("unknown: cannot see {}", blind.join(", "))
    }
}

/// `DNS ok · pod networking ok · ingress none found · autoscaling 1/2 · 1 PDB blocks drains`
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let s = &c.signals.components;
    let mut out = Vec::new();
    for source in [Source::Deployments, Source::DaemonSets] {
        if let Some(note) =
            widgets::source_note(c, source).filter(|_| c.model.sources.get(&source) == Some(&SourceState::Syncing))
        {
            return note.spans;
        }
    }
    for cat in [
        Category::Dns,
        Category::PodNetworking,
        Category::Ingress,
        Category::Autoscaling,
    ] {
        if !out.is_empty() {
            out.push(Span::styled(" · ", theme::dim()));
        }
        let items: Vec<&ComponentInfo> = s.items.iter().filter(|i| i.category == cat).collect();
        if items.is_empty() {
            out.push(Span::styled(format!("{} none", cat.label()), theme::dim()));
        } else {
            let ok = items.iter().all(|i| i.healthy());
            let word = if ok {
                "ok".to_string()
            } else {
                let (ready, desired) = items.iter().fold((0, 0), |(r, d), i| (r + i.ready, d + i.desired));
                format!("{ready}/{desired}")
            };
            out.push(Span::raw(format!("{} ", cat.label())));
            out.push(Span::styled(word, theme::health(ok)));
        }
    }
    out.push(Span::styled(" · ", theme::dim()));
    out.extend(pdb_note(c));
    out
}

fn pdb_note(c: &Cockpit) -> Vec<Span<'static>> {
    let s = &c.signals.components;
    if !c.signals.can_see(Source::Pdbs) {
        return vec![Span::styled("cannot see PDBs", theme::blind())];
    }
    match s.blocking_pdbs.len() {
        0 => vec![Span::styled(
            format!("no PDB blocks drains ({} PDBs)", s.pdbs),
            theme::good(),
        )],
        n => vec![Span::styled(
            if n == 1 {
                "1 PDB allows no disruption".to_string()
            } else {
                format!("{n} PDBs allow no disruption")
            },
            theme::count(n),
        )],
    }
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let s = &c.signals.components;
    let mut extra = vec![widgets::note(format!("{} workloads", s.items.len()))];
    if !c.signals.can_see(Source::Pdbs) {
        extra.push(Span::styled(" · cannot see PDBs", theme::blind()));
    } else if !s.blocking_pdbs.is_empty() {
        extra.push(widgets::note(format!("{} PDBs", s.pdbs)));
    }
    let inner = widgets::frame(buf, area, c, (Pane::Components, TITLE), full, extra);
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    widgets::line(buf, inner, inner.y, &Line::from(summary(c)));
    let rows_area = widgets::rest(inner, 1);
    let rows_h = rows_area.height.saturating_sub(1);
    if rows_area.height == 0 {
        return rows_h;
    }
    let w = widgets::window(c.view.list(Pane::Components), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Components).filter.is_empty();
        widgets::empty_note(buf, rows_area, c, Source::Deployments, filtered, "nothing found");
        return rows_h;
    }
    use Constraint::{Fill, Length};
    let name_w = s
        .items
        .iter()
        .map(|i| i.namespace.len() + i.name.len() + 1)
        .chain(s.blocking_pdbs.iter().map(|p| p.namespace.len() + p.name.len() + 1))
        .max()
        .unwrap_or(8)
        .clamp(8, 48);
    let name_w = u16::try_from(name_w).unwrap_or(48).min(rows_area.width / 3);
    let cols = widgets::columns(rows_area, [Length(14), Length(name_w), Length(5), Length(10), Fill(1)]);
    widgets::headings(
        buf,
        &cols,
        rows_area.y,
        ["COMPONENT", "WORKLOAD", "READY", "STATE", "DETAIL"],
    );
    let focused = c.view.focus == Pane::Components;
    let missing = missing_word(c);
    for (y, (pos, &i)) in (rows_area.y + 1..rows_area.bottom()).zip(w.rows.iter().enumerate()) {
        match row(c, i) {
            Some(Row::Component(ci)) => {
                widgets::put(buf, cols[0], y, ci.category.label(), theme::plain());
                widgets::put(
                    buf,
                    cols[1],
                    y,
                    &format!("{}/{}", ci.namespace, ci.name),
                    theme::plain(),
                );
                let ok = ci.healthy();
                widgets::put_right(
                    buf,
                    cols[2],
                    y,
                    &format!("{}/{}", ci.ready, ci.desired),
                    theme::health(ok),
                );
                widgets::put(
                    buf,
                    cols[3],
                    y,
                    if ok { "healthy" } else { "unhealthy" },
                    theme::health(ok),
                );
                let kind = match ci.kind {
                    WorkloadKind::Deployment => "deployment",
                    WorkloadKind::DaemonSet => "daemonset",
                };
                let detail = if ok {
                    format!("{} · {kind}", ci.version)
                } else {
                    format!("{} · {kind} · {} of {} available", ci.version, ci.available, ci.desired)
                };
                widgets::put(buf, cols[4], y, &detail, theme::plain());
            }
            Some(Row::Missing(cat)) => {
                widgets::put(buf, cols[0], y, cat.label(), theme::plain());
                widgets::put(buf, cols[1], y, "—", theme::dim());
                let (state, detail) = missing.split_once(": ").unwrap_or((missing.as_str(), ""));
                widgets::put(buf, cols[3], y, state, theme::dim());
                widgets::put(buf, cols[4], y, detail, theme::dim());
            }
            Some(Row::Pdb(p)) => {
                widgets::put(buf, cols[0], y, "budget", theme::plain());
                widgets::put(buf, cols[1], y, &format!("{}/{}", p.namespace, p.name), theme::plain());
                let healthy = format!("{}/{}", p.current_healthy, p.expected_pods);
                widgets::put_right(buf, cols[2], y, &healthy, theme::plain());
                widgets::put(buf, cols[3], y, "blocking", theme::health(false));
                let detail = format!("allows no disruption: needs {} healthy", p.desired_healthy);
                widgets::put(buf, cols[4], y, &detail, theme::plain());
            }
            None => {}
        }
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, rows_area, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct ComponentsPane;

impl PaneView for ComponentsPane {
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

    fn open(&self, _c: &Cockpit, _i: usize) -> Result<Detail, &'static str> {
        Err("components have no detail view yet")
    }
}
