//! The rollout pane: the plan's steps and where each stands, the step under way with
//! its node group's progress, the gate being waited at with its criteria, and what the
//! lead may decide now. A read-only cockpit draws the same from the lead's published
//! state, the choices shown as the lead's.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::detail::wrap;
use super::keymap::{self, Choice};
use super::list;
use super::theme;
use super::view::Pane;
use crate::cockpit::Cockpit;
use crate::model::rollout::{GateView, GroupProgress, Phase, RolloutState, StepState, StepView};

/// Every step state, in the order the help explains their marks.
pub const STATES: [StepState; 7] = [
    StepState::Pending,
    StepState::Gate,
    StepState::Running,
    StepState::Done,
    StepState::Skipped,
    StepState::Failed,
    StepState::Aborted,
];

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

fn sep() -> Span<'static> {
    Span::styled(" · ", theme::dim())
}

/// `12s`, `4m10s`, `2h5m`: a short duration.
fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The criteria not green, by name.
fn red_names(g: &GateView) -> Vec<&str> {
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
    if c.read_only
        && let Some(t) = r.updated
    {
        state.push(sep());
        state.push(Span::styled(
            format!("published {} ago", list::age(c.now, Some(t))),
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
    let label = if s.label.is_empty() { &s.id } else { &s.label };
    let label_style = match (current, s.state) {
        (true, _) => theme::bold(),
        (false, StepState::Pending) => theme::dim(),
        _ => theme::plain(),
    };
    Line::from(vec![
        Span::styled(if current { " › " } else { "   " }, theme::key()),
        Span::styled(m, style),
        Span::raw(" "),
        Span::styled(label.clone(), label_style),
    ])
}

const INDENT: &str = "     ";

/// What the current step is doing, more about it, and its node group's progress.
fn current_block(r: &RolloutState, s: &StepView, width: usize) -> Vec<Line<'static>> {
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
    if let Some(g) = &s.group {
        out.extend(group_lines(r, g, room));
    }
    out
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
    if g.batches > 0 {
        first.push(sep());
        first.push(Span::raw(format!("batch {}/{}", g.batch, g.batches)));
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
        let names: Vec<&str> = g.draining.iter().map(|n| list::short_host(n)).collect();
        out.push(Line::from(vec![
            Span::raw(INDENT),
            Span::styled("draining ", theme::dim()),
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
        let names: Vec<&str> = g.skipped.iter().map(|n| list::short_host(n)).collect();
        out.push(Line::from(vec![
            Span::raw(INDENT),
            Span::styled("skipped ", theme::dim()),
            Span::styled(names.join(", "), theme::warn()),
            Span::styled(format!(" (left on {})", r.from), theme::dim()),
        ]));
    }
    out
}

/// `green for 12s of 60s`, or why the gate is not green.
fn settle(c: &Cockpit, g: &GateView) -> Line<'static> {
    let red = red_names(g);
    let mut out = vec![Span::raw("   ")];
    match g.green_since {
        _ if !red.is_empty() => {
            out.push(Span::styled(
                format!("red: {} of {} criteria", red.len(), g.criteria.len()),
                theme::bad(),
            ));
            out.push(Span::styled(
                format!(" · passable once every one is green for {}s", g.settle_seconds),
                theme::dim(),
            ));
        }
        Some(since) => {
            let secs = c.now.as_second() - since.as_second();
            if g.passable {
                out.push(Span::styled(
                    format!("green for {} (settle {}s): passable", duration(secs), g.settle_seconds),
                    theme::good(),
                ));
            } else {
                out.push(Span::styled(
                    format!("green for {} of {}s", duration(secs), g.settle_seconds),
                    theme::warn(),
                ));
            }
        }
        None if g.passable => out.push(Span::styled("green: passable", theme::good())),
        None => out.push(Span::styled(
            format!("waiting for every criterion to be green for {}s", g.settle_seconds),
            theme::dim(),
        )),
    }
    Line::from(out)
}

/// `decision: override by ana@laptop: reason`, yellow for an override.
fn decision(d: &str) -> Span<'static> {
    let style = if d.starts_with("override") {
        theme::warn()
    } else {
        theme::good()
    };
    Span::styled(d.to_string(), style)
}

/// How much room the gate takes: every criterion with its detail wrapped, one line
/// each, or only the red ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fold {
    Wrapped,
    Lines,
    RedOnly,
}

/// The gate being waited at: its title, each criterion, how long it has been green,
/// the lead's choices and decision.
fn gate_block(c: &Cockpit, r: &RolloutState, g: &GateView, width: usize, fold: Fold) -> Vec<Line<'static>> {
    let compact = fold == Fold::RedOnly;
    let mut out = vec![Line::from(vec![
        Span::styled(" ◆ ", theme::warn()),
        Span::styled("gate ", theme::dim()),
        Span::styled(g.title.clone(), theme::title()),
    ])];
    let name_w = g
        .criteria
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(30);
    let green = g.criteria.iter().filter(|c| c.ok).count();
    for k in &g.criteria {
        if compact && k.ok {
            continue;
        }
        let (m, style) = if k.ok {
            ("✓", theme::good())
        } else {
            ("✗", theme::bad().patch(theme::bold()))
        };
        let lead = 3 + 2 + name_w + 2;
        let detail = if fold == Fold::Wrapped {
            wrap(&k.detail, width.saturating_sub(lead))
        } else {
            vec![k.detail.clone()]
        };
        for (i, d) in detail.into_iter().enumerate() {
            let mut line = if i == 0 {
                vec![
                    Span::raw("   "),
                    Span::styled(m, style),
                    Span::raw(" "),
                    Span::styled(
                        format!("{:<name_w$}", k.name),
                        if k.ok { theme::plain() } else { style },
                    ),
                    Span::raw("  "),
                ]
            } else {
                vec![Span::raw(" ".repeat(lead))]
            };
            line.push(Span::raw(d));
            out.push(Line::from(line));
        }
    }
    if compact && green > 0 {
        out.push(Line::from(vec![
            Span::raw("   "),
            Span::styled("✓", theme::good()),
            Span::styled(format!(" {green} more green"), theme::dim()),
        ]));
    }
    out.push(settle(c, g));
    match &g.decision {
        Some(d) => {
            let style = decision(d).style;
            for (i, l) in wrap(&format!("decision: {d}"), width.saturating_sub(3))
                .into_iter()
                .enumerate()
            {
                let l = match l.strip_prefix("decision: ").filter(|_| i == 0) {
                    Some(rest) => vec![
                        Span::raw("   "),
                        Span::styled("decision: ", theme::dim()),
                        Span::styled(rest.to_string(), style),
                    ],
                    None => vec![Span::raw("   "), Span::styled(l, style)],
                };
                out.push(Line::from(l));
            }
        }
        None => out.extend(choices_lines(c, r, width)),
    }
    out
}

/// A passed gate, on one line, with the lead's decision.
fn gate_passed(g: &GateView) -> Line<'static> {
    let mut out = vec![
        Span::styled(" ✓ ", theme::good()),
        Span::styled("gate ", theme::dim()),
        Span::raw(g.title.clone()),
        Span::styled(" passed", theme::dim()),
    ];
    if let Some(d) = &g.decision {
        out.push(sep());
        out.push(decision(d));
    }
    Line::from(out)
}

/// `[w] keep waiting  [s] skip node  [D] delete the pod (type its name)`: for the
/// lead, the keys, on as many lines as `width` needs; for a read-only cockpit, the
/// lead's choices, dim.
fn choices_lines(c: &Cockpit, r: &RolloutState, width: usize) -> Vec<Line<'static>> {
    let choices = keymap::choices(c);
    if choices.is_empty() {
        return Vec::new();
    }
    let mut groups: Vec<Vec<Span<'static>>> = Vec::new();
    if c.read_only {
        let text: Vec<String> = choices.iter().map(choice_text).collect();
        groups.push(vec![
            Span::styled(format!("{} decides: ", r.lead), theme::warn()),
            Span::styled(text.join(" · "), theme::dim()),
        ]);
    } else {
        for ch in &choices {
            let mut g = vec![
                Span::styled(format!("[{}]", ch.key), theme::key()),
                Span::raw(format!(" {}", ch.what)),
            ];
            if let Some(t) = ch.typed {
                g.push(Span::styled(format!(" ({t})"), theme::dim()));
            }
            groups.push(g);
        }
        if c.view.focus != Pane::Rollout && choices.iter().any(|ch| ch.key == "enter") {
            groups.push(vec![Span::styled("(enter here: 0 focuses this pane)", theme::dim())]);
        }
    }
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut line: Vec<Span<'static>> = vec![Span::raw("   ")];
    let mut used = 3;
    for g in groups {
        let w: usize = g.iter().map(Span::width).sum();
        if used > 3 && used + 2 + w > width {
            out.push(Line::from(std::mem::replace(&mut line, vec![Span::raw("   ")])));
            used = 3;
        }
        if used > 3 {
            line.push(Span::raw("  "));
            used += 2;
        }
        used += w;
        line.extend(g);
    }
    out.push(Line::from(line));
    out
}

fn choice_text(ch: &Choice) -> String {
    match ch.typed {
        Some(t) => format!("{} {} ({t})", ch.key, ch.what),
        None => format!("{} {}", ch.key, ch.what),
    }
}

/// Lines of `text` wrapped to `width` after `lead`, the first styled `style`, the rest plain.
fn para(lead: &'static str, text: &str, style: Style, width: usize) -> Vec<Line<'static>> {
    let room = width.saturating_sub(lead.chars().count());
    wrap(text, room)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            Line::from(vec![
                Span::styled(if i == 0 { lead } else { "   " }, style),
                Span::styled(l, if i == 0 { style } else { theme::plain() }),
            ])
        })
        .collect()
}

/// What the phase asks of the lead, with the choices.
fn banner(c: &Cockpit, r: &RolloutState, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match &r.phase {
        Phase::Starting => out.push(Line::styled(" reading the cluster and the journal…", theme::dim())),
        Phase::ConfirmCluster => {
            out.extend(para(
                " ⚠ ",
                &format!("{} cluster: type its name to begin", environment(r)),
                theme::blind(),
                width,
            ));
        }
        Phase::Gate | Phase::Running => {}
        Phase::Held { node, pod, why, since } => {
            let held = match since {
                Some(t) => format!(
                    "drain held on {} for {}",
                    list::short_host(node),
                    list::age(c.now, Some(*t))
                ),
                None => format!("drain held on {}", list::short_host(node)),
            };
            out.extend(para(" ⚠ ", &held, theme::blind(), width));
            out.extend(para("   ", &format!("pod {pod} held by {why}"), theme::plain(), width));
        }
        Phase::Failed { why, what_to_do, .. } => {
            out.extend(para(" ✗ ", &format!("step failed: {why}"), theme::count(1), width));
            if !what_to_do.is_empty() {
                out.extend(para("   ", &format!("what to do: {what_to_do}"), theme::plain(), width));
            }
        }
        Phase::Paused => out.extend(para(
            " ‖ ",
            "paused: nothing new starts; what the cloud runs goes on",
            theme::warn(),
            width,
        )),
        Phase::Aborting => out.extend(para(
            " ■ ",
            "aborting: undoing what must not be left half done…",
            theme::leaving(),
            width,
        )),
        Phase::Aborted { detail } => {
            let text = if detail.is_empty() {
                "aborted; the cluster was left consistent".to_string()
            } else {
                format!("aborted: {detail}")
            };
            out.extend(para(" ■ ", &text, theme::leaving(), width));
        }
        Phase::Done => {
            let skipped = r.steps.iter().filter(|s| s.state == StepState::Skipped).count();
            let mut text = format!("done: every step finished; the cluster runs {}", r.target);
            if skipped > 0 {
                text.push_str(&format!(" ({skipped} skipped)"));
            }
            out.extend(para(" ✓ ", &text, theme::good().patch(theme::bold()), width));
        }
    }
    if r.phase != Phase::Gate {
        out.extend(choices_lines(c, r, width));
    }
    out
}

/// `production` unless the state says otherwise (only a production cluster asks for its name).
fn environment(r: &RolloutState) -> &str {
    if r.environment.is_empty() {
        "production"
    } else {
        &r.environment
    }
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
fn step_lines(r: &RolloutState, width: usize) -> (Vec<Line<'static>>, std::ops::Range<usize>) {
    let mut out = Vec::new();
    let mut current = 0..0;
    for (i, s) in r.steps.iter().enumerate() {
        let is_current = r.current == Some(i);
        let start = out.len();
        out.push(step_line(s, is_current));
        if is_current && !r.finished() {
            out.extend(current_block(r, s, width));
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

pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) {
    let inner = list::frame(buf, area, c, Pane::Rollout, full, Vec::new());
    c.view.set_height(Pane::Rollout, 0);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let Some(r) = &c.rollout else {
        list::line(
            buf,
            inner,
            inner.y,
            &Line::styled("no rollout is being driven", theme::dim()),
        );
        return;
    };
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let head = header(c, r, width);
    let (steps, current) = step_lines(r, width);
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
        list::line(buf, inner, y, &fit(line, width));
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
pub fn summary(c: &Cockpit) -> Vec<Span<'static>> {
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
            part(format!("{} held by pod {pod}", list::short_host(node)), theme::warn());
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
