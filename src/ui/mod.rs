//! The cockpit's screen: `draw` is a pure function of the cockpit's state that
//! returns what it measured (the loop keeps it in the view); keys change the view
//! through `update`, by the one table in `keymap`. Every pane is reached through the
//! registry in `panes`; `widgets` is what they share.
//!
//! Wide terminals show every pane at once; narrow ones give the focused pane the room
//! and fold the others to one-line summaries. Lists draw only their visible rows.
//! While a rollout is driven, its pane comes first and a decision that needs typed
//! text opens a box above the panes.

pub mod ask;
pub mod calendar;
pub mod containers;
pub mod detail;
pub mod header;
pub mod help;
pub mod keymap;
pub mod panes;
pub mod quit;
pub mod theme;
pub mod update;
pub mod widgets;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

use crate::cockpit::Cockpit;
use crate::cockpit::view::{Measured, Overlay, Pane, Prompt, PromptKind};
use crate::model::rollout::Command;

/// What a key asks of the loop beyond changing the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Quit,
    /// The lead's decision, for the drive (never from a read-only cockpit).
    Drive(Command),
}

/// The smallest body (below the header, above the footer) that shows every pane at once.
pub const GRID_MIN: (u16, u16) = (120, 30);

/// Draws the whole screen and returns what it measured (`View::remember` keeps it).
/// The loop calls `cockpit.refresh()` first.
pub fn draw(frame: &mut Frame, cockpit: &Cockpit) -> Measured {
    let mut measured = Measured::default();
    let area = frame.area();
    let header_h = header::height(cockpit).min(area.height);
    let footer_h = u16::from(area.height > header_h);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Fill(1),
        Constraint::Length(footer_h),
    ])
    .areas(area);
    let buf = frame.buffer_mut();
    header::draw(buf, top, cockpit);
    if body.width >= GRID_MIN.0 && body.height >= GRID_MIN.1 {
        draw_grid(buf, body, cockpit, &mut measured);
    } else {
        draw_stack(buf, body, cockpit, &mut measured);
    }
    header::draw_footer(buf, bottom, cockpit);
    match &cockpit.view.overlay {
        Some(Overlay::Help { scroll }) => {
            let (height, width) = help::draw(frame, body, *scroll);
            measured.overlay_height = Some(height);
            measured.overlay_width = Some(width);
        }
        Some(Overlay::Detail { target, scroll }) => {
            let (height, width) = detail::draw(frame, body, cockpit, target, *scroll);
            measured.overlay_height = Some(height);
            measured.overlay_width = Some(width);
        }
        Some(Overlay::ConfirmQuit) => quit::draw(frame.buffer_mut(), body, cockpit),
        None => {}
    }
    if let Some(Prompt {
        kind: PromptKind::Drive(a),
        text,
    }) = &cockpit.view.prompt
    {
        measured.prompt_drawn = ask::draw(frame.buffer_mut(), body, cockpit, *a, text);
    }
    measured
}

/// Whether a pane is on the screen: the rollout pane only while a rollout is driven
/// (or while it still has the focus).
pub fn is_shown(c: &Cockpit, pane: Pane) -> bool {
    pane != Pane::Rollout || c.rollout.is_some() || c.view.focus == Pane::Rollout
}

/// The panes on the screen, in their order.
pub fn shown(c: &Cockpit) -> impl Iterator<Item = Pane> + '_ {
    Pane::ALL.into_iter().filter(|p| is_shown(c, *p))
}

/// Changes the view for a key; returns what the loop must do besides.
pub fn handle_key(cockpit: &mut Cockpit, key: crossterm::event::KeyEvent) -> Option<Intent> {
    update::dispatch(cockpit, key)
}

/// Draws one pane in full; returns how many rows of its list it showed.
pub fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, pane: Pane, full: bool) -> u16 {
    panes::view(pane).draw(buf, area, c, full)
}

/// A pane folded to one line.
pub fn summary(c: &Cockpit, pane: Pane) -> Line<'static> {
    let view = panes::view(pane);
    let mut spans = vec![
        Span::styled(format!(" {} ", pane.digit()), theme::key()),
        Span::styled(format!("{:<20}", view.title()), theme::title()),
    ];
    spans.extend(view.summary(c));
    Line::from(spans)
}

/// Every pane at once: nodes and health above, pending, errors and components in the
/// middle, the event log below. A rollout takes the left of the top row, nodes over
/// health beside it.
fn draw_grid(buf: &mut Buffer, area: Rect, c: &Cockpit, m: &mut Measured) {
    use Constraint::{Fill, Percentage};
    if is_shown(c, Pane::Rollout) {
        let [top, middle, bottom] = Layout::vertical([Percentage(55), Percentage(25), Fill(1)]).areas(area);
        let [rollout, right] = Layout::horizontal([Percentage(58), Fill(1)]).areas(top);
        let [nodes, health] = Layout::vertical([Percentage(60), Fill(1)]).areas(right);
        let [pending, errors, workloads, components] =
            Layout::horizontal([Fill(1), Fill(1), Fill(1), Percentage(34)]).areas(middle);
        for (pane, rect) in [
            (Pane::Rollout, rollout),
            (Pane::Nodes, nodes),
            (Pane::Health, health),
            (Pane::Pending, pending),
            (Pane::Errors, errors),
            (Pane::Workloads, workloads),
            (Pane::Components, components),
            (Pane::Events, bottom),
        ] {
            m.set_rows(pane, draw_pane(buf, rect, c, pane, true));
        }
        return;
    }
    let [top, middle, bottom] = Layout::vertical([Percentage(40), Percentage(30), Fill(1)]).areas(area);
    let [nodes, health] = Layout::horizontal([Percentage(60), Fill(1)]).areas(top);
    let [pending, errors, workloads, components] =
        Layout::horizontal([Fill(1), Fill(1), Fill(1), Percentage(34)]).areas(middle);
    for (pane, rect) in [
        (Pane::Nodes, nodes),
        (Pane::Health, health),
        (Pane::Pending, pending),
        (Pane::Errors, errors),
        (Pane::Workloads, workloads),
        (Pane::Components, components),
        (Pane::Events, bottom),
    ] {
        m.set_rows(pane, draw_pane(buf, rect, c, pane, true));
    }
}

/// The focused pane gets the room; the others one line each, in their usual order.
/// Below 8 rows only the focused pane is left.
fn draw_stack(buf: &mut Buffer, area: Rect, c: &Cockpit, m: &mut Measured) {
    let focus = c.view.focus;
    if area.height < 8 {
        m.set_rows(focus, draw_pane(buf, area, c, focus, false));
        return;
    }
    let panes: Vec<Pane> = shown(c).collect();
    let rows = Layout::vertical(panes.iter().map(|&p| {
        if p == focus {
            Constraint::Fill(1)
        } else {
            Constraint::Length(1)
        }
    }))
    .split(area);
    for (&pane, rect) in panes.iter().zip(rows.iter()) {
        if pane == focus {
            m.set_rows(pane, draw_pane(buf, *rect, c, pane, false));
        } else if rect.height > 0 {
            widgets::line(buf, *rect, rect.y, &summary(c, pane));
        }
    }
}

/// How many lines the open overlay has (measured on keys, to clamp its scrolling).
pub fn overlay_len(c: &Cockpit) -> usize {
    match &c.view.overlay {
        Some(Overlay::Help { .. }) => help::lines(match c.view.overlay_width() {
            0 => 76,
            w => usize::from(w),
        })
        .len(),
        Some(Overlay::Detail { target, .. }) => {
            let width = match c.view.overlay_width() {
                0 => 80,
                w => w,
            };
            detail::lines(c, target, width).len()
        }
        Some(Overlay::ConfirmQuit) | None => 0,
    }
}
