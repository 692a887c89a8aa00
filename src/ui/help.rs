//! The help overlay, generated from the keymap table (the same table that dispatches
//! keys), plus the pane names `:` knows and what the colours and marks mean. A key
//! bound for several situations in one context is one line, its meanings joined.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::keymap::{Context, KEYMAP};
use super::{panes, theme};
use crate::cockpit::view::Pane;
use crate::model::journal::StepState;

/// The help's lines, each binding's words wrapped under themselves to fit `width`
/// columns (the keys keep their column).
pub fn lines(width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for line in unwrapped() {
        if line.width() <= width {
            out.push(line);
            continue;
        }
        if line.spans.len() == 1 {
            let style = line.spans[0].style;
            out.extend(
                super::detail::wrap(&line.spans[0].content, width)
                    .into_iter()
                    .map(|w| Line::styled(w, style)),
            );
            continue;
        }
        if line.spans.len() != 2 {
            // a row of marks: broken between its spans
            let mut row: Vec<Span<'static>> = Vec::new();
            for span in line.spans {
                let used: usize = row.iter().map(Span::width).sum();
                if used + span.width() > width && !row.is_empty() {
                    out.push(Line::from(std::mem::take(&mut row)));
                    row.push(Span::raw("  "));
                }
                row.push(span);
            }
            out.push(Line::from(row));
            continue;
        }
        let key = line.spans[0].clone();
        let indent = key.width();
        let words = super::detail::wrap(&line.spans[1].content, width.saturating_sub(indent).max(8));
        for (i, w) in words.into_iter().enumerate() {
            let first = if i == 0 {
                key.clone()
            } else {
                Span::raw(" ".repeat(indent))
            };
            out.push(Line::from(vec![first, Span::styled(w, line.spans[1].style)]));
        }
    }
    out
}

/// The help's lines at their full length: every binding, grouped by when it applies.
fn unwrapped() -> Vec<Line<'static>> {
    let pane_w = Pane::ALL.iter().map(|p| p.name().len() + 3).max().unwrap_or(8);
    let label_w = KEYMAP
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(8)
        .max(pane_w)
        + 2;
    let mut out = Vec::new();
    for context in Context::ALL {
        let bindings: Vec<_> = KEYMAP.iter().filter(|b| b.context == context).collect();
        if bindings.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(Line::default());
        }
        out.push(Line::styled(context.heading().to_string(), theme::title()));
        let mut labels: Vec<&str> = Vec::new();
        for b in &bindings {
            if !labels.contains(&b.label) {
                labels.push(b.label);
            }
        }
        for label in labels {
            let help: Vec<&str> = bindings.iter().filter(|b| b.label == label).map(|b| b.help).collect();
            out.push(Line::from(vec![
                Span::styled(format!("  {label:<label_w$}"), theme::key()),
                Span::raw(help.join(" ")),
            ]));
        }
    }
    out.push(Line::default());
    out.push(Line::styled("panes", theme::title()));
    for p in Pane::ALL {
        out.push(Line::from(vec![
            Span::styled(
                format!("  {:<label_w$}", format!("{} :{}", p.digit(), p.name())),
                theme::key(),
            ),
            Span::raw(panes::view(p).title()),
        ]));
    }
    out.push(Line::default());
    out.push(Line::styled("colours", theme::title()));
    out.push(Line::from(vec![
        Span::raw("  "),
        Span::styled("Ready", theme::node_state("Ready")),
        Span::raw("  "),
        Span::styled("NotReady", theme::node_state("NotReady")),
        Span::raw("  "),
        Span::styled("Cordoned", theme::node_state("Cordoned")),
        Span::raw("  "),
        Span::styled("Draining", theme::node_state("Draining")),
        Span::raw("  "),
        Span::styled("Terminating", theme::node_state("Terminating")),
        Span::raw("  "),
        Span::styled("old", theme::warn()),
        Span::raw(" = kubelet below the control plane's version"),
    ]));
    out.push(Line::from(vec![
        Span::raw("  counts that should be zero are "),
        Span::styled("red", theme::count(1)),
        Span::raw(" when they are not; event times are UTC"),
    ]));
    let mut marks = vec![Span::raw("  rollout steps ")];
    for state in StepState::ALL {
        let (mark, style) = panes::rollout::mark(state);
        marks.push(Span::styled(mark, style));
        marks.push(Span::raw(format!(" {}  ", state.as_str())));
    }
    out.push(Line::from(marks));
    out
}

/// A rectangle of at most `w`×`h` in the middle of `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Draws the overlay; returns how many rows and columns of content it showed.
pub fn draw(frame: &mut Frame, area: Rect, scroll: u16) -> (u16, u16) {
    let widest = unwrapped().iter().map(Line::width).max().unwrap_or(20);
    let width = u16::try_from(widest)
        .unwrap_or(u16::MAX)
        .saturating_add(4)
        .min(area.width);
    let room = width.saturating_sub(4);
    let lines = lines(usize::from(room));
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_add(2);
    let popup = centered(area, width, height);
    let block = Block::bordered().border_style(theme::focused()).title(Line::from(vec![
        Span::styled(" help ", theme::title()),
        Span::styled("· esc closes ", theme::dim()),
    ]));
    let inner = block.inner(popup);
    let shown = inner.height;
    let max = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(inner.height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll.min(max), 0)), popup);
    (shown, room)
}
