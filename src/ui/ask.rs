//! The box in which the lead types what a decision needs: a reason, journaled with
//! their name, or a name typed to confirm what cannot be undone; and the check of what
//! was typed before anything is sent to the drive.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::detail::wrap;
use super::help::centered;
use super::keymap::When;
use super::theme;
use crate::cockpit::Cockpit;
use crate::cockpit::view::{Ask, Pane};
use crate::model::rollout::{Command, Phase, RolloutState};

/// Why what was typed is not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The text will not do: the prompt stays open and says why.
    Retype(String),
    /// The rollout has moved on: the prompt closes and nothing is sent.
    Moot(String),
}

/// The node group of the current step, from its journal id: `nodegroup/apps` → `apps`.
pub fn group_name(r: &RolloutState) -> Option<&str> {
    r.current_step()?.id.nodegroup()
}

/// The holding pod of a held drain, as `namespace/name`, and its name alone.
fn held_pod(r: &RolloutState) -> Option<(&str, &str)> {
    match &r.phase {
        Phase::Held { pod, .. } => Some((pod, pod.rsplit('/').next().unwrap_or(pod))),
        _ => None,
    }
}

/// The situation a decision answers; once it is gone the decision is moot.
fn still_open(ask: Ask) -> When {
    match ask {
        Ask::OverrideGate => When::RedGate,
        Ask::SkipStep => When::Failed,
        Ask::ConfirmCluster => When::PaneConfirm,
        Ask::Abort => When::Abortable,
        Ask::Force => When::CanForce,
        Ask::DeletePod => When::Held,
        Ask::Handover => When::Handable,
    }
}

/// The command what was typed makes, or why it makes none.
pub fn command(c: &Cockpit, ask: Ask, text: &str) -> Result<Command, Refusal> {
    let Some(r) = &c.rollout else {
        return Err(Refusal::Moot("no rollout is being driven: nothing was sent".into()));
    };
    if !still_open(ask).holds_with_focus(c, Pane::Rollout) {
        return Err(Refusal::Moot(format!(
            "the rollout has moved on ({}): nothing was sent",
            r.phase.name()
        )));
    }
    let text = text.trim();
    let retype = |why: String| Err(Refusal::Retype(why));
    match ask {
        Ask::OverrideGate | Ask::SkipStep if text.is_empty() => {
            retype("a reason is needed: it is journaled with your name".into())
        }
        Ask::OverrideGate | Ask::SkipStep => Ok(Command::Override {
            reason: text.to_string(),
        }),
        Ask::ConfirmCluster if text == r.cluster => Ok(Command::ConfirmCluster {
            name: r.cluster.clone(),
        }),
        Ask::ConfirmCluster => retype(format!("that is not the cluster's name: type {}", r.cluster)),
        Ask::Abort if text == "abort" => Ok(Command::Abort),
        Ask::Abort => retype("type abort to abort, esc to go on".into()),
        Ask::Force => match group_name(r) {
            Some(name) if text == name => Ok(Command::Force {
                confirm: name.to_string(),
            }),
            Some(name) => retype(format!("that is not the node group's name: type {name}")),
            None => Err(Refusal::Moot(
                "the current step is no node group's: nothing was sent".into(),
            )),
        },
        Ask::DeletePod => match held_pod(r) {
            Some((full, name)) if text == full || text == name => Ok(Command::DeletePod {
                confirm: full.to_string(),
            }),
            Some((_, name)) => retype(format!("that is not the pod's name: type {name}")),
            None => Err(Refusal::Moot("no drain is held: nothing was sent".into())),
        },
        Ask::Handover if text.is_empty() => retype("type the name of the operator who takes the drive over".into()),
        Ask::Handover if text == r.lead || r.lead.split('@').next() == Some(text) => {
            retype(format!("{text} drives now: type another operator's name"))
        }
        Ask::Handover => Ok(Command::Handover { to: text.to_string() }),
    }
}

/// The box's title, what the decision does, and what to type.
fn words(r: &RolloutState, ask: Ask) -> (&'static str, String, String) {
    match ask {
        Ask::OverrideGate => {
            let gate = r.gate.as_ref();
            let title = gate.map_or("", |g| g.title.as_str());
            let red: Vec<&str> = gate
                .map(|g| g.criteria.iter().filter(|k| !k.ok).map(|k| k.name.as_str()).collect())
                .unwrap_or_default();
            let state = if red.is_empty() {
                format!("not yet green for {}s", gate.map_or(0, |g| g.settle_seconds))
            } else {
                format!("red on {}", red.join(", "))
            };
            (
                "pass a red gate",
                format!(
                    "The gate {title} is {state}. Passing it goes on regardless; the reason is journaled with your name."
                ),
                "reason for passing this red gate:".into(),
            )
        }
        Ask::SkipStep => {
            let label = r.current_step().map_or("", |s| s.label.as_str());
            let why = match &r.phase {
                Phase::Failed { why, .. } => why.as_str(),
                _ => "",
            };
            (
                "skip the failed step",
                format!(
                    "{label} failed: {why}. Skipping leaves it as it is and goes on; the reason is journaled with your name."
                ),
                "reason for skipping this step:".into(),
            )
        }
        Ask::ConfirmCluster => (
            "confirm the cluster",
            format!(
                "{} is a {} cluster. Nothing is changed on it before its name is typed; then the upgrade from {} to {} begins.",
                r.cluster,
                if r.environment.is_empty() {
                    "production"
                } else {
                    &r.environment
                },
                r.from,
                r.target
            ),
            format!("type the cluster's name ({}):", r.cluster),
        ),
        Ask::Abort => (
            "abort the rollout",
            "The drive stops after undoing what must not be left half done; what is done stays done.".into(),
            "type abort:".into(),
        ),
        Ask::Force => {
            let name = group_name(r).unwrap_or("?");
            (
                "force the node group's update",
                format!(
                    "EKS starts {name}'s update again with force: nodes are replaced even where a PodDisruptionBudget forbids it, so pods may go down."
                ),
                format!("type the node group's name ({name}):"),
            )
        }
        Ask::DeletePod => {
            let (node, why) = match &r.phase {
                Phase::Held { node, why, .. } => (super::widgets::short_host(node), why.as_str()),
                _ => ("?", ""),
            };
            let (full, name) = held_pod(r).unwrap_or(("?", "?"));
            (
                "delete the holding pod",
                format!(
                    "Deletes {full} on {node} without eviction, past what holds it ({why}); its controller recreates it elsewhere."
                ),
                format!("type the pod's name ({name}):"),
            )
        }
        Ask::Handover => (
            "hand the drive over",
            format!(
                "The handover is journaled with both names; this cockpit stops driving {} and the lease waits for the operator you name, who resumes with the same `upshift drive` command. Anyone else is refused.",
                r.cluster
            ),
            "the operator who takes over (their user name):".into(),
        ),
    }
}

/// Draws the box above `area`'s middle; returns whether there was room for it.
pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit, ask: Ask, text: &str) -> bool {
    let Some(r) = &c.rollout else { return false };
    let width = area.width.min(78);
    if width < 12 || area.height < 5 {
        return false;
    }
    let room = usize::from(width - 4);
    let (title, what, question) = words(r, ask);
    let mut lines: Vec<Line> = wrap(&what, room).into_iter().map(Line::raw).collect();
    lines.push(Line::default());
    lines.extend(
        wrap(&question, room)
            .into_iter()
            .map(|l| Line::styled(l, theme::title())),
    );
    // the end of what is typed stays in view
    let typed: String = {
        let n = text.chars().count();
        let keep = room.saturating_sub(3);
        text.chars().skip(n.saturating_sub(keep)).collect()
    };
    lines.push(Line::from(vec![
        Span::styled("> ", theme::key()),
        Span::styled(format!("{typed}▏"), theme::bold()),
    ]));
    if let Some(m) = &c.view.message {
        lines.extend(wrap(m, room).into_iter().map(|l| Line::styled(l, theme::bad())));
    }
    lines.push(Line::from(vec![
        Span::styled("enter", theme::key()),
        Span::styled(" confirms · ", theme::dim()),
        Span::styled("esc", theme::key()),
        Span::styled(" cancels, nothing is sent", theme::dim()),
    ]));
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_add(2);
    let popup = centered(area, width, height);
    let block = Block::bordered()
        .border_style(theme::warn())
        .title(Line::from(vec![Span::styled(format!(" {title} "), theme::title())]));
    let inner = block.inner(popup);
    Clear.render(popup, buf);
    block.render(popup, buf);
    Paragraph::new(lines).render(
        Rect {
            x: inner.x + 1,
            width: inner.width.saturating_sub(2),
            ..inner
        },
        buf,
    );
    true
}
