//! What the rollout pane says about the phase and what the lead may decide now: the
//! banner (the cluster's name to type, a held drain, a failed step, a pause, an
//! abort, the end) and the lead's choices from the one key table (shown to a
//! read-only cockpit as the lead's).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::cockpit::Cockpit;
use crate::cockpit::view::Pane;
use crate::model::journal::StepState;
use crate::model::rollout::{Phase, RolloutState};
use crate::ui::detail::wrap;
use crate::ui::keymap::{self, Choice};
use crate::ui::{theme, widgets};

/// `[w] keep waiting  [s] skip node  [D] delete the pod (type its name)`: for the
/// lead, the keys, on as many lines as `width` needs; for a read-only cockpit, the
/// lead's choices, dim.
pub(super) fn choices_lines(c: &Cockpit, r: &RolloutState, width: usize) -> Vec<Line<'static>> {
    let choices = keymap::choices(c);
    if choices.is_empty() {
        return Vec::new();
    }
    let mut groups: Vec<Vec<Span<'static>>> = Vec::new();
    if c.read_only() {
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

pub(super) fn choice_text(ch: &Choice) -> String {
    match ch.typed {
        Some(t) => format!("{} {} ({t})", ch.key, ch.what),
        None => format!("{} {}", ch.key, ch.what),
    }
}

/// Lines of `text` wrapped to `width` after `lead`, the first styled `style`, the rest plain.
pub(super) fn para(lead: &'static str, text: &str, style: Style, width: usize) -> Vec<Line<'static>> {
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
pub(super) fn banner(c: &Cockpit, r: &RolloutState, width: usize) -> Vec<Line<'static>> {
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
                    widgets::short_host(node),
                    widgets::age(c.now, Some(*t))
                ),
                None => format!("drain held on {}", widgets::short_host(node)),
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
        Phase::Done if !r.problems.is_empty() => {
            // not plainly done: every open problem, named
            let text = format!(
                "done with {} open problem{}: the cluster is not as it was before the rollout",
                r.problems.len(),
                if r.problems.len() == 1 { "" } else { "s" }
            );
            out.extend(para(" ⚠ ", &text, theme::warn().patch(theme::bold()), width));
            for p in &r.problems {
                out.extend(para("   · ", p, theme::plain(), width));
            }
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
