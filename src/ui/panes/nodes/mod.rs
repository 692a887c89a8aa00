//! The node-state pane: per node group, how many nodes are ready, NotReady, cordoned,
//! draining, terminating, new and on an old version; where Karpenter runs, per NodePool
//! its drift, disruption and launches (`pools.rs`); below, every node, one a line.

mod pools;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::Source;
use crate::model::signals::{GroupState, NodeRow};
use crate::ui::theme;
use crate::ui::widgets;

/// What the pane shows, for its title.
const TITLE: &str = "node state";

fn len(c: &Cockpit) -> usize {
    c.signals.nodes.rows.len()
}

fn matches(c: &Cockpit, i: usize, needle: &str) -> bool {
    c.signals.nodes.rows.get(i).is_some_and(|r| {
        [
            r.name.as_str(),
            &r.group,
            &r.kubelet,
            r.state(),
            &r.zone,
            &r.instance_type,
        ]
        .iter()
        .any(|s| widgets::contains_ci(s, needle))
            || (r.old && widgets::contains_ci("old", needle))
            || (r.new && widgets::contains_ci("new", needle))
            || (r.cordoned && widgets::contains_ci("cordoned", needle))
    })
}

/// Enter on row `i`: the node's detail.
fn open(c: &Cockpit, i: usize) -> Option<Detail> {
    c.signals.nodes.rows.get(i).map(|r| Detail::Node(r.name.clone()))
}

/// `v1.30.4-eks-a737599` → `v1.30.4`
pub fn short_version(kubelet: &str) -> &str {
    kubelet.split('-').next().unwrap_or(kubelet)
}

/// `1.30×4 1.31×2`
fn versions(g: &GroupState) -> String {
    let mut v: Vec<(&String, &usize)> = g.versions.iter().collect();
    v.sort_by_key(|(m, _)| crate::units::Minor::key(m));
    v.iter()
        .map(|(m, n)| format!("{}×{n}", if m.is_empty() { "?" } else { m.as_str() }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one-line summary shown when the pane is collapsed.
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let n = &c.signals.nodes;
    if n.total == 0 {
        return vec![Span::styled(
            widgets::source_note(c, Source::Nodes).map_or("no nodes".into(), |l| l.to_string()),
            theme::dim(),
        )];
    }
    let mut out = vec![Span::styled(format!("{} nodes", n.total), theme::bold())];
    let mut part = |text: String, style| {
        out.push(Span::styled(" · ", theme::dim()));
        out.push(Span::styled(text, style));
    };
    let target = n.target.as_deref().unwrap_or("?");
    part(format!("{} old (target {target})", n.old), theme::notable(n.old));
    part(format!("{} NotReady", n.not_ready), theme::count(n.not_ready));
    // the rest only when there is some
    for (count, word, style) in [
        (n.cordoned, "cordoned", theme::warn()),
        (n.draining, "draining", theme::warn()),
        (n.terminating, "terminating", theme::leaving()),
        (n.new, "new", theme::plain()),
    ] {
        if count > 0 {
            part(format!("{count} {word}"), style);
        }
    }
    if let Some(k) = &c.signals.nodepools {
        let what = if k.auto_mode {
            "Auto Mode NodePools"
        } else {
            "NodePools"
        };
        part(format!("{} {what}", k.pools.len()), theme::plain());
        for (count, word) in pools::summary(k) {
            part(format!("{count} {word}"), theme::warn());
        }
    }
    out
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
    let n = &c.signals.nodes;
    let mut extra = vec![widgets::note(format!("{} nodes", n.total))];
    if let Some(t) = &n.target {
        extra.push(widgets::note(format!("target {t}")));
    }
    let inner = widgets::frame(buf, area, c, (Pane::Nodes, TITLE), full, extra);
    if inner.height == 0 || inner.width == 0 {
        return 0;
    }
    // the group table takes at most a third of the room, and only if there is room for a list too
    let groups = n.groups.len() + usize::from(n.groups.len() > 1);
    let table_h = if inner.height >= 7 && groups > 0 {
        u16::try_from(groups + 1)
            .unwrap_or(u16::MAX)
            .min(inner.height / 3)
            .max(2)
    } else {
        0
    };
    let group_w = n
        .groups
        .iter()
        .map(|g| g.name.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 28);
    if table_h > 0 {
        draw_groups(
            buf,
            Rect {
                height: table_h,
                ..inner
            },
            c,
            group_w,
        );
    }
    // Karpenter's NodePools below the groups, when there are any and room for a list too
    let pools_h = if inner.height >= 10 {
        pools::wanted(c).min((inner.height - table_h) / 3)
    } else {
        0
    };
    if pools_h > 0 {
        let pools_area = widgets::rest(inner, table_h);
        pools::draw(
            buf,
            Rect {
                height: pools_h,
                ..pools_area
            },
            c,
            group_w,
        );
    }
    let rest = widgets::rest(inner, table_h + pools_h);
    draw_list(buf, rest, area, c, group_w)
}

fn draw_groups(buf: &mut Buffer, area: Rect, c: &Cockpit, group_w: usize) {
    use Constraint::{Fill, Length};
    let gw = u16::try_from(group_w).unwrap_or(28);
    let cols = widgets::columns(
        area,
        [
            Length(gw),
            Length(5),
            Length(5),
            Length(8),
            Length(8),
            Length(8),
            Length(11),
            Length(4),
            Length(4),
            Fill(1),
        ],
    );
    widgets::headings(
        buf,
        &cols,
        area.y,
        [
            "GROUP",
            "NODES",
            "READY",
            "NotReady",
            "cordoned",
            "draining",
            "terminating",
            "new",
            "old",
            "KUBELETS",
        ],
    );
    let n = &c.signals.nodes;
    let all = (n.groups.len() > 1).then_some(&n.all);
    let rows = n.groups.iter().chain(all);
    for (y, g) in (area.y + 1..area.bottom()).zip(rows) {
        let bold = if g.name == "all" && all.is_some() {
            theme::bold()
        } else {
            theme::plain()
        };
        widgets::put(buf, cols[0], y, &g.name, bold);
        widgets::put_right(buf, cols[1], y, &g.total.to_string(), bold);
        widgets::put_right(buf, cols[2], y, &g.ready.to_string(), theme::good());
        widgets::put_right(buf, cols[3], y, &g.not_ready.to_string(), theme::count(g.not_ready));
        widgets::put_right(buf, cols[4], y, &g.cordoned.to_string(), theme::notable(g.cordoned));
        widgets::put_right(buf, cols[5], y, &g.draining.to_string(), theme::notable(g.draining));
        let term = if g.terminating > 0 {
            theme::leaving()
        } else {
            theme::plain()
        };
        widgets::put_right(buf, cols[6], y, &g.terminating.to_string(), term);
        widgets::put_right(buf, cols[7], y, &g.new.to_string(), theme::plain());
        widgets::put_right(buf, cols[8], y, &g.old.to_string(), theme::notable(g.old));
        widgets::put(buf, cols[9], y, &versions(g), theme::plain());
    }
}

fn draw_list(buf: &mut Buffer, area: Rect, pane: Rect, c: &Cockpit, group_w: usize) -> u16 {
    use Constraint::{Fill, Length};
    let rows_h = area.height.saturating_sub(1);
    if area.height == 0 {
        return rows_h;
    }
    let all = &c.signals.nodes.rows;
    let w = widgets::window(c.view.list(Pane::Nodes), usize::from(rows_h), len(c), |i, n| {
        matches(c, i, n)
    });
    if w.total == 0 {
        let filtered = !c.view.list(Pane::Nodes).filter.is_empty();
        widgets::empty_note(buf, area, c, Source::Nodes, filtered, "no nodes");
        return rows_h;
    }
    // the name column as wide as the longest name, leaving the rest to the flags
    let gw = u16::try_from(group_w.min(20)).unwrap_or(20);
    let fixed = gw + 8 + 11 + 4 + 4 + 6;
    let room = area.width.saturating_sub(fixed + 12).max(8);
    let name_w = widgets::name_width(all.iter().map(|r| r.name.as_str()), room);
    let cols = widgets::columns(
        area,
        [
            Length(name_w),
            Length(gw),
            Length(8),
            Length(11),
            Length(4),
            Length(4),
            Fill(1),
        ],
    );
    widgets::headings(
        buf,
        &cols,
        area.y,
        ["NAME", "GROUP", "VERSION", "STATE", "PODS", "AGE", "FLAGS"],
    );
    let focused = c.view.focus == Pane::Nodes;
    for (y, (pos, &i)) in (area.y + 1..area.bottom()).zip(w.rows.iter().enumerate()) {
        let Some(r) = all.get(i) else { continue };
        draw_row(buf, &cols, y, r, c);
        if focused && w.offset + pos == w.selected {
            widgets::highlight(buf, area, y);
        }
    }
    widgets::scroll_note(buf, pane, &w);
    rows_h
}

fn draw_row(buf: &mut Buffer, cols: &[(u16, u16); 7], y: u16, r: &NodeRow, c: &Cockpit) {
    widgets::put_name(buf, cols[0], y, &r.name, theme::plain());
    widgets::put(buf, cols[1], y, &r.group, theme::plain());
    let version = if r.old { theme::warn() } else { theme::plain() };
    widgets::put(buf, cols[2], y, short_version(&r.kubelet), version);
    let state = r.state();
    widgets::put(buf, cols[3], y, state, theme::node_state(state));
    widgets::put_right(buf, cols[4], y, &r.pods.to_string(), theme::plain());
    widgets::put_right(buf, cols[5], y, &widgets::age(c.now, r.created), theme::plain());
    let mut flags: Vec<Span> = Vec::with_capacity(4);
    let mut flag = |text: &'static str, style| {
        if !flags.is_empty() {
            flags.push(Span::raw(" "));
        }
        flags.push(Span::styled(text, style));
    };
    if r.old {
        flag("old", theme::warn());
    }
    if r.new {
        flag("new", theme::good());
    }
    if r.cordoned && !matches!(state, "Cordoned" | "Draining") {
        flag("cordoned", theme::warn());
    }
    if r.draining && state != "Draining" {
        flag("draining", theme::warn());
    }
    let (x, w) = cols[6];
    buf.set_line(x, y, &Line::from(flags), w);
}

/// The pane in the registry.
pub struct NodesPane;

impl PaneView for NodesPane {
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
