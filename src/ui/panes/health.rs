//! The node-health pane: how many nodes are healthy, which conditions and pressures
//! are not, and the nodes behind them, NotReady first.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::Source;
use crate::model::node::Tri;
use crate::model::signals::NodeProblem;
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "node health";

fn len(c: &Cockpit) -> usize {
    c.signals.health.problems.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.signals.health.problems.get(i).is_some_and(|p| {
        [p.node.as_str(), &p.group, condition_word(p), &p.reason, &p.message]
            .iter()
            .any(|s| widgets::contains_ci(s, needle))
    })
}

fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    c.signals.health.problems.get(i).map(|p| Detail::Node(p.node.clone()))
}

/// `NotReady`, or the pressure's name.
pub fn condition_word(p: &NodeProblem) -> &str {
    match p.condition.as_str() {
        "Ready" => "NotReady",
        c => c,
    }
}

/// `NodeStatusUnknown: Kubelet stopped posting node status.` (with `(Unknown)` when the
/// kubelet has stopped saying anything at all).
fn why(p: &NodeProblem) -> String {
    let unknown = if p.status == Tri::Unknown { " (Unknown)" } else { "" };
    match (p.reason.is_empty(), p.message.is_empty()) {
        (false, false) => format!("{}{unknown}: {}", p.reason, p.message),
        (false, true) => format!("{}{unknown}", p.reason),
        (true, false) => format!("{}{unknown}", p.message),
        (true, true) => unknown.trim_start().to_string(),
    }
}

/// `healthy 10/12 · NotReady 2 · MemoryPressure 1`
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let h = &c.signals.health;
    let total = c.signals.nodes.total;
    if total == 0 {
        return vec![Span::styled(
            widgets::source_note(c, Source::Nodes).map_or("no nodes".into(), |l| l.to_string()),
            theme::dim(),
        )];
    }
    let mut out = vec![Span::styled(
        format!("healthy {}/{total}", h.healthy),
        theme::health(h.healthy == total),
    )];
    out.push(Span::styled(" · ", theme::dim()));
    out.push(Span::styled(
        format!("NotReady {}", h.not_ready),
        theme::count(h.not_ready),
    ));
    for (condition, n) in &h.conditions {
        if condition != "Ready" {
            out.push(Span::styled(" · ", theme::dim()));
            out.push(Span::styled(format!("{condition} {n}"), theme::warn()));
        }
    }
    out
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let h = &c.signals.health;
    let extra = vec![widgets::note(format!(
        "{}/{} healthy",
        h.healthy, c.signals.nodes.total
    ))];
    let inner = widgets::frame(buf, area, c, (Pane::Health, TITLE), full, extra);
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    widgets::line(buf, inner, inner.y, &Line::from(summary(c)));
    let rows_area = widgets::rest(inner, 1);
    let rows_h = rows_area.height.saturating_sub(1);
    if rows_area.height == 0 {
        return rows_h;
    }
    let w = widgets::window(c.view.list(Pane::Health), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Health).filter.is_empty();
        widgets::empty_note(buf, rows_area, c, Source::Nodes, filtered, "every node is healthy");
        return rows_h;
    }
    use Constraint::{Fill, Length};
    let name_w = widgets::name_width(h.problems.iter().map(|p| p.node.as_str()), rows_area.width / 3);
    let cols = widgets::columns(rows_area, [Length(name_w), Length(14), Length(5), Fill(1)]);
    widgets::headings(buf, &cols, rows_area.y, ["NODE", "CONDITION", "SINCE", "WHY"]);
    let focused = c.view.focus == Pane::Health;
    for (y, (pos, &i)) in (rows_area.y + 1..rows_area.bottom()).zip(w.rows.iter().enumerate()) {
        let Some(p) = h.problems.get(i) else { continue };
        widgets::put_name(buf, cols[0], y, &p.node, theme::plain());
        widgets::put(
            buf,
            cols[1],
            y,
            condition_word(p),
            theme::condition(&p.condition, p.status),
        );
        widgets::put_right(buf, cols[2], y, &widgets::age(c.now, p.since), theme::plain());
        widgets::put(buf, cols[3], y, &why(p), theme::plain());
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, rows_area, y);
        }
    }
    widgets::scroll_note(buf, area, &w);
    rows_h
}

/// The pane in the registry.
pub struct HealthPane;

impl PaneView for HealthPane {
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
