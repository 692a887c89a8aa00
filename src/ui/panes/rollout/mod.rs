//! The rollout pane: the plan's steps and where each stands, the step under way with
//! its node group's progress, the gate being waited at with its criteria, and what the
//! lead may decide now. A read-only cockpit draws the same from the lead's published
//! state, the choices shown as the lead's.

mod banner;
mod gate;
mod strip;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::PaneView;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};
use crate::model::journal::StepState;
use crate::model::rollout::{GateView, GroupProgress, Phase, RolloutState, StepView};
use crate::ui::detail::wrap;
use crate::ui::keymap;
use crate::ui::{theme, widgets};
use banner::{banner, choice_text, choices_lines, para};
use gate::{Fold, gate_block, gate_passed};

/// What the pane shows, for its title.
const TITLE: &str = "rollout";

/// A step's mark and its colour.
pub fn mark(state: StepState) -> (&'static str, Style) {
    match state {
        StepState::Pending => ("·", theme::dim()),
        StepState::Gate => ("◆", theme::warn()),
        StepState::Running => ("▶", theme::active()),
        StepState::Done => ("✓", theme::good()),
        StepState::Skipped => ("↷", theme::warn()),
        StepState::Failed => ("✗", theme::bad()),
        StepState::Aborted => ("■", theme::leaving()),
    }
}

/// The phase's colour: green when done or passable, yellow when waiting on the lead,
/// red when failed.
pub fn phase_style(r: &RolloutState) -> Style {
    match &r.phase {
        Phase::Starting => theme::dim(),
        Phase::ConfirmCluster | Phase::Held { .. } => theme::blind(),
        Phase::Gate if keymap::passable(r) => theme::good(),
        Phase::Gate | Phase::Paused => theme::warn(),
        Phase::Running => theme::active(),
        Phase::Failed { .. } => theme::count(1),
        Phase::Aborting | Phase::Aborted { .. } => theme::leaving(),
        Phase::Done => theme::good().patch(theme::bold()),
    }
}

pub(super) fn sep() -> Span<'static> {
    Span::styled(" · ", theme::dim())
}

/// The criteria not green, by name.
pub(super) fn red_names(g: &GateView) -> Vec<&str> {
    g.criteria.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect()
}

/// `upshift drive demo 1.30 → 1.31 · production · lead ana@laptop · phase running · 4/9 steps`,
/// on two lines when one is too narrow.
fn header(c: &Cockpit, r: &RolloutState, width: usize) -> Vec<Line<'static>> {
    let (done, total) = r.progress();
    let mut who = vec![
        Span::styled("upshift drive ", theme::brand()),
        Span::styled(r.cluster.clone(), theme::bold()),
        Span::raw(format!(" {} → {}", r.from, r.target)),
    ];
    if !r.environment.is_empty() {
        who.push(sep());
        let style = if r.environment == "production" {
            theme::warn()
        } else {
            theme::plain()
        };
        who.push(Span::styled(r.environment.clone(), style));
    }
    who.push(sep());
    who.push(Span::styled("lead ", theme::dim()));
    who.push(Span::raw(r.lead.clone()));
    let mut state = vec![
        Span::styled("phase ", theme::dim()),
        Span::styled(r.phase.name(), phase_style(r)),
        sep(),
        Span::raw(format!("{done}/{total} steps")),
    ];
    if c.read_only()
        && let Some(t) = r.updated
    {
        state.push(sep());
        state.push(Span::styled(
            format!("published {} ago", widgets::age(c.now, Some(t))),
            theme::dim(),
        ));
    }
    let one = Line::from(
        who.iter()
            .cloned()
            .chain([sep()])
            .chain(state.iter().cloned())
            .collect::<Vec<_>>(),
    );
    if one.width() <= width {
        vec![one]
    } else {
        vec![Line::from(who), Line::from(state)]
    }
}

fn step_line(s: &StepView, current: bool) -> Line<'static> {
    let (m, style) = mark(s.state);
    let label = if s.label.is_empty() {
        s.id.to_string()
    } else {
        s.label.clone()
    };
    let label_style = match (current, s.state) {
        (true, _) => theme::bold(),
        (false, StepState::Pending) => theme::dim(),
        _ => theme::plain(),
    };
    Line::from(vec![
        Span::styled(if current { " › " } else { "   " }, theme::key()),
        Span::styled(m, style),
        Span::raw(" "),
        Span::styled(label, label_style),
    ])
}

const INDENT: &str = "     ";

/// What the current step is doing, more about it, and its node group's progress.
fn current_block(c: &Cockpit, r: &RolloutState, s: &StepView, width: usize) -> Vec<Line<'static>> {
    let room = width.saturating_sub(INDENT.len());
    let mut out = Vec::new();
    if !s.what.is_empty() {
        out.push(Line::from(vec![Span::raw(INDENT), Span::raw(s.what.clone())]));
    }
    if !s.detail.is_empty() {
        for l in wrap(&s.detail, room).into_iter().take(2) {
            out.push(Line::from(vec![Span::raw(INDENT), Span::styled(l, theme::dim())]));
        }
    }
    let eta = crate::cockpit::eta::began(c.log.entries().iter(), &s.id)
        .and_then(|began| crate::cockpit::eta::line(s, began, c.now, false));
    if let Some(eta) = eta {
        out.push(Line::from(vec![Span::raw(INDENT), Span::styled(eta, theme::dim())]));
    }
    if let Some(g) = &s.group {
        out.extend(group_lines(r, &counted(c, r, s, g), room));
    }
    out
}

/// A group's progress with its nodes counted from the cockpit's own view while the
/// drive has not counted them yet (at the group's gate, before its first call): the
/// gauge shows the group's nodes from the first moment.
fn counted(c: &Cockpit, r: &RolloutState, s: &StepView, g: &GroupProgress) -> GroupProgress {
    if g.old + g.new > 0 {
        return g.clone();
    }
    let Some(name) = s.id.nodegroup() else {
        return g.clone();
    };
    let Some(seen) = c.signals.nodes.groups.iter().find(|x| x.name == name) else {
        return g.clone();
    };
    let count = |on_target: bool| {
        let n: usize = seen
            .versions
            .iter()
            .filter(|(minor, _)| (minor.as_str() == r.target) == on_target)
            .map(|(_, n)| n)
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    GroupProgress {
        old: count(false),
        new: count(true),
        ..g.clone()
    }
}

/// `━━━━━━──────── new 1 of 3 · old 2 · batch 2/3 · auto-continue off`, then the nodes
/// draining, what holds the drain, and the nodes skipped.
fn group_lines(r: &RolloutState, g: &GroupProgress, room: usize) -> Vec<Line<'static>> {
    let total = (g.old + g.new).max(1);
    const BAR: u32 = 16;
    let filled = (g.new * BAR + total / 2) / total;
    let filled = usize::try_from(filled.min(BAR)).unwrap_or(0);
    let bar = usize::try_from(BAR).unwrap_or(16);
    let mut first = vec![
        Span::raw(INDENT),
        Span::styled("━".repeat(filled), theme::good()),
        Span::styled("─".repeat(bar - filled), theme::dim()),
        Span::raw(" "),
        Span::styled(format!("new {} of {}", g.new, g.old + g.new), theme::good()),
        sep(),
        Span::styled(format!("old {}", g.old), theme::notable(g.old as usize)),
    ];
    // a NodePool's step goes by waves, and Karpenter replaces its nodes
    let waves = r.current_step().is_some_and(|s| s.id.nodepool().is_some());
    if g.batches > 0 {
        first.push(sep());
        let unit = if waves { "wave" } else { "batch" };
        first.push(Span::raw(format!("{unit} {}/{}", g.batch, g.batches)));
    }
    let auto = [
        Span::styled("auto-continue ", theme::dim()),
        if g.auto_continue {
            Span::styled("on", theme::good())
        } else {
            Span::raw("off")
        },
    ];
    let mut out = Vec::new();
    let first_w: usize = first.iter().map(Span::width).sum();
    if first_w + 3 + 16 <= room + INDENT.len() {
        first.push(sep());
        first.extend(auto);
        out.push(Line::from(first));
    } else {
        out.push(Line::from(first));
        out.push(Line::from(
            [Span::raw(INDENT)].into_iter().chain(auto).collect::<Vec<_>>(),
        ));
    }
    if !g.draining.is_empty() {
        let names: Vec<&str> = g.draining.iter().map(|n| widgets::short_host(n)).collect();
        out.push(Line::from(vec![
            Span::raw(INDENT),
            Span::styled(if waves { "replacing " } else { "draining " }, theme::dim()),
            Span::styled(names.join(", "), theme::warn()),
        ]));
    }
    // while the drain is held the banner says what holds it
    if let Some(h) = g.holding.as_ref().filter(|_| !matches!(r.phase, Phase::Held { .. })) {
        for (i, l) in wrap(&format!("held: {h}"), room).into_iter().take(3).enumerate() {
            let style = if i == 0 { theme::bad() } else { theme::plain() };
            out.push(Line::from(vec![Span::raw(INDENT), Span::styled(l, style)]));
        }
    }
    if !g.skipped.is_empty() {
        let names: Vec<&str> = g.skipped.iter().map(|n| widgets::short_host(n)).collect();
        out.push(Line::from(vec![
            Span::raw(INDENT),
            Span::styled("skipped ", theme::dim()),
            Span::styled(names.join(", "), theme::warn()),
            Span::styled(format!(" (left on {})", r.from), theme::dim()),
        ]));
    }
    out
}

/// Everything below the steps: the gate, the phase's banner, the drive's notice.
fn tail(c: &Cockpit, r: &RolloutState, width: usize, fold: Fold) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match (&r.phase, &r.gate) {
        (Phase::Gate, Some(g)) => out.extend(gate_block(c, r, g, width, fold)),
        (Phase::Gate, None) => out.extend(choices_lines(c, r, width)),
        (_, Some(g)) => out.push(gate_passed(g)),
        (_, None) => {}
    }
    out.extend(banner(c, r, width));
    if let Some(n) = &r.notice {
        out.extend(para(" › ", n, theme::warn(), width));
    }
    out
}

/// The steps, the current one followed by what it is doing; and where the current
/// block is among the lines.
fn step_lines(c: &Cockpit, r: &RolloutState, width: usize) -> (Vec<Line<'static>>, std::ops::Range<usize>) {
    let mut out = Vec::new();
    let mut current = 0..0;
    for (i, s) in r.steps.iter().enumerate() {
        let is_current = r.current == Some(i);
        let start = out.len();
        out.push(step_line(s, is_current));
        if is_current && !r.finished() {
            out.extend(current_block(c, r, s, width));
        }
        if is_current {
            current = start..out.len();
        }
    }
    (out, current)
}

/// A line cut to `width` cells, ending in `…` when it did not fit.
fn fit(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let room = width.saturating_sub(1);
    let mut used = 0;
    let mut spans = Vec::new();
    let mut last = Style::default();
    for span in line.spans {
        last = span.style;
        let n = span.content.chars().count();
        if used + n <= room {
            used += n;
            spans.push(span);
            continue;
        }
        let cut: String = span.content.chars().take(room - used).collect();
        spans.push(Span::styled(cut, span.style));
        break;
    }
    spans.push(Span::styled("…", last));
    Line::from(spans)
}

fn draw_pane(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) {
    let inner = widgets::frame(buf, area, c, (Pane::Rollout, TITLE), full, Vec::new());
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let Some(r) = &c.rollout else {
        widgets::line(
            buf,
            inner,
            inner.y,
            &Line::styled("no rollout is being driven", theme::dim()),
        );
        return;
    };
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let mut head = header(c, r, width);
    head.extend(strip::lines(r, c.now, width));
    let (steps, current) = step_lines(c, r, width);
    // the steps keep at least the current one; the gate folds as much as it must
    let keep = current.len().max(1);
    let mut below = Vec::new();
    for fold in [Fold::Wrapped, Fold::Lines, Fold::RedOnly] {
        below = tail(c, r, width, fold);
        if head.len() + keep + below.len() <= height {
            break;
        }
    }
    let gap = usize::from(head.len() + steps.len() + 1 + below.len() <= height);
    let room = height
        .saturating_sub(head.len() + gap + below.len())
        .max(1.min(height.saturating_sub(head.len())));
    let shown = window(&steps, current, room);
    let lines = head
        .into_iter()
        .chain(shown)
        .chain((gap == 1).then(Line::default))
        .chain(below);
    for (y, line) in (inner.y..inner.bottom()).zip(lines) {
        widgets::line(buf, inner, y, &fit(line, width));
    }
}

/// The steps' lines that fit in `room`, keeping the current block in view with half
/// of the rest above it; a line at either end says how many steps are out of view.
fn window(lines: &[Line<'static>], current: std::ops::Range<usize>, room: usize) -> Vec<Line<'static>> {
    if lines.len() <= room {
        return lines.to_vec();
    }
    let spare = room.saturating_sub(current.len());
    let start = current.start.saturating_sub(spare.div_ceil(2)).min(lines.len() - room);
    let end = start + room;
    let mut out = lines[start..end].to_vec();
    let more = |n: usize, arrow: &str| Line::styled(format!("   {arrow} {n} more"), theme::dim());
    // outside the current block every line is a step; a marker replaces one of two or more
    if start > 0 && current.start.saturating_sub(start) >= 2 {
        out[0] = more(start + 1, "↑");
    }
    if end < lines.len() && end.saturating_sub(current.end) >= 2 {
        let last = out.len() - 1;
        out[last] = more(lines.len() - end + 1, "↓");
    }
    out
}

/// The one-line summary of the folded pane.
fn summary(c: &Cockpit) -> Vec<Span<'static>> {
    let Some(r) = &c.rollout else {
        return vec![Span::styled("no rollout is being driven", theme::dim())];
    };
    let (done, total) = r.progress();
    let mut out = vec![
        Span::styled(r.phase.name(), phase_style(r)),
        sep(),
        Span::raw(format!("{done}/{total} steps")),
    ];
    let mut part = |text: String, style: Style| {
        out.push(sep());
        out.push(Span::styled(text, style));
    };
    match &r.phase {
        Phase::Gate => {
            if let Some(g) = &r.gate {
                part(format!("gate {}", g.title), theme::plain());
                let red = red_names(g);
                if keymap::passable(r) {
                    part("green: enter proceeds".into(), theme::good());
                } else if red.is_empty() {
                    part("green, settling".into(), theme::warn());
                } else {
                    part(format!("red: {}", red.join(", ")), theme::bad());
                }
            }
        }
        Phase::Held { node, pod, .. } => {
            part(
                format!("{} held by pod {pod}", widgets::short_host(node)),
                theme::warn(),
            );
        }
        Phase::Failed { why, .. } => part(why.clone(), theme::bad()),
        _ => {
            if let Some(s) = r.current_step()
                && !r.finished()
            {
                part(s.label.clone(), theme::plain());
            }
        }
    }
    if let Some(n) = &r.notice {
        part(n.clone(), theme::warn());
    }
    out
}

/// What Enter in the rollout pane says when it has nothing to send: why the gate may
/// not be passed yet, or what may be decided now.
pub fn nothing_to_proceed(c: &Cockpit) -> String {
    let Some(r) = &c.rollout else {
        return "no rollout is being driven".to_string();
    };
    if r.phase == Phase::Gate {
        return match &r.gate {
            Some(g) if !red_names(g).is_empty() => format!(
                "the gate is red ({}): o passes it with a reason",
                red_names(g).join(", ")
            ),
            Some(g) => format!(
                "the gate is green but not yet for {}s: enter proceeds then, o passes it now with a reason",
                g.settle_seconds
            ),
            None => "no gate to pass yet: o passes it with a reason".to_string(),
        };
    }
    let choices: Vec<String> = keymap::choices(c).iter().map(choice_text).collect();
    if choices.is_empty() {
        format!("nothing to proceed: the rollout is {}", r.phase.name())
    } else {
        format!(
            "nothing to proceed: the rollout is {}; {}",
            r.phase.name(),
            choices.join(" · ")
        )
    }
}

/// The pane in the registry. It has no list: its rows are the plan's steps, always
/// all in view around the current one.
pub struct RolloutPane;

impl PaneView for RolloutPane {
    fn title(&self) -> &'static str {
        TITLE
    }

    fn draw(&self, buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16 {
        draw_pane(buf, area, c, full);
        0
    }

    fn summary(&self, c: &Cockpit) -> Vec<Span<'static>> {
        summary(c)
    }

    fn open(&self, _c: &Cockpit, _i: usize) -> Result<Detail, &'static str> {
        Err("nothing to show for this row")
    }
}
