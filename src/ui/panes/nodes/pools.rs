//! The node-state pane's Karpenter part, drawn only where the cluster has NodePools:
//! per NodePool its nodes, old and new, drifted, being disrupted, still launching,
//! failed to launch and expiring within a day; then the NodeClaims that failed to
//! launch, with the pods they were for.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use crate::cockpit::Cockpit;
use crate::model::nodepools::NodePools;
use crate::ui::theme;
use crate::ui::widgets;

/// How many failed launches the pane explains, at most.
const FAILURES_SHOWN: usize = 3;

/// The rows the NodePool table and its failures want (0 without Karpenter).
pub fn wanted(c: &Cockpit) -> u16 {
    match &c.signals.nodepools {
        Some(k) => u16::try_from(1 + k.pools.len() + k.failures.len().min(FAILURES_SHOWN)).unwrap_or(u16::MAX),
        None => 0,
    }
}

/// `NodePools: 2 drifted · 1 disrupting · 1 launching` for the folded pane (empty without Karpenter).
pub fn summary(k: &NodePools) -> Vec<(usize, &'static str)> {
    let sum = |f: fn(&crate::model::nodepools::PoolState) -> usize| k.pools.iter().map(f).sum::<usize>();
    [
        (sum(|p| p.drifted), "drifted"),
        (sum(|p| p.disrupting), "disrupting"),
        (sum(|p| p.pending_launch), "launching"),
        (k.failures.len(), "failed launches"),
        (sum(|p| p.expiring), "expiring ≤24h"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect()
}

/// Draws the NodePool table and the failures in `area`; the name column as wide as `name_w`.
pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit, name_w: usize) {
    use Constraint::{Fill, Length};
    let Some(k) = &c.signals.nodepools else { return };
    if area.height == 0 {
        return;
    }
    let title = if k.auto_mode {
        "NODEPOOL (Auto Mode)"
    } else {
        "NODEPOOL"
    };
    let w = k
        .pools
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(name_w)
        .max(title.chars().count())
        .clamp(8, 28);
    let cols = widgets::columns(
        area,
        [
            Length(u16::try_from(w).unwrap_or(28)),
            Length(5),
            Length(4),
            Length(4),
            Length(7),
            Length(10),
            Length(9),
            Length(6),
            Length(8),
            Fill(1),
        ],
    );
    widgets::headings(
        buf,
        &cols,
        area.y,
        [
            title,
            "NODES",
            "old",
            "new",
            "drifted",
            "disrupting",
            "launching",
            "failed",
            "expiring",
            "",
        ],
    );
    let mut y = area.y + 1;
    for p in &k.pools {
        if y >= area.bottom() {
            return;
        }
        widgets::put(buf, cols[0], y, &p.name, theme::plain());
        widgets::put_right(buf, cols[1], y, &p.nodes.to_string(), theme::plain());
        widgets::put_right(buf, cols[2], y, &p.old.to_string(), theme::notable(p.old));
        widgets::put_right(buf, cols[3], y, &p.new.to_string(), theme::plain());
        widgets::put_right(buf, cols[4], y, &p.drifted.to_string(), theme::notable(p.drifted));
        let leaving = if p.disrupting > 0 {
            theme::leaving()
        } else {
            theme::plain()
        };
        widgets::put_right(buf, cols[5], y, &p.disrupting.to_string(), leaving);
        widgets::put_right(
            buf,
            cols[6],
            y,
            &p.pending_launch.to_string(),
            theme::notable(p.pending_launch),
        );
        widgets::put_right(buf, cols[7], y, &p.failed.to_string(), theme::count(p.failed));
        widgets::put_right(buf, cols[8], y, &p.expiring.to_string(), theme::notable(p.expiring));
        y += 1;
    }
    for f in k.failures.iter().take(FAILURES_SHOWN) {
        if y >= area.bottom() {
            return;
        }
        // the claim, why, and the pods it was for first: Karpenter's message may be long
        let mut spans = vec![
            Span::styled("✗ ", theme::bad()),
            Span::styled(format!("nodeclaim {}", f.claim), theme::bold()),
            Span::styled(format!(" ({}) failed to launch: ", f.nodepool), theme::dim()),
            Span::styled(f.reason.clone(), theme::bad()),
        ];
        if f.count > 1 {
            spans.push(Span::styled(format!(" ×{}", f.count), theme::dim()));
        }
        if !f.pods.is_empty() {
            spans.push(Span::styled(
                format!(" · {} pod(s) waited for it: {}", f.pods.len(), f.pods.join(", ")),
                theme::plain(),
            ));
        }
        spans.push(Span::styled(format!(" · {}", f.message), theme::dim()));
        widgets::line(buf, area, y, &Line::from(spans));
        y += 1;
    }
}
