//! Quitting the lead's cockpit while a step runs: what goes on in AWS without upshift,
//! asked before the cockpit quits (the confirmation box) and said again after it quit
//! (the command's last line).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::detail::wrap;
use super::help::centered;
use super::theme;
use crate::cockpit::Cockpit;
use crate::model::journal::{StepId, StepState};
use crate::model::rollout::{Phase, RolloutState};

/// What goes on without upshift if the lead's cockpit quits now, or None when nothing
/// does (at a gate, before the first step, after the last, or while a step only reads).
pub fn carries_on(r: &RolloutState) -> Option<String> {
    if r.finished() {
        return None;
    }
    let step = r.current_step()?;
    let acting =
        step.state == StepState::Running || matches!(r.phase, Phase::Running | Phase::Held { .. } | Phase::Aborting);
    if !acting {
        return None;
    }
    let cloud = match &step.id {
        StepId::Preflight | StepId::Postflight => return None,
        StepId::ControlPlane => format!(
            "EKS goes on updating {}'s control plane to {} in AWS; nobody watches it finish.",
            r.cluster, r.target
        ),
        StepId::Addon(name) => format!("EKS goes on updating the add-on {name} in AWS; nobody watches it finish."),
        StepId::Nodegroup(name) => format!(
            "What AWS runs for node group {name} goes on (a managed group's update keeps replacing nodes, \
             an instance refresh keeps going); nodes upshift cordoned stay cordoned, and no gate is checked \
             between batches."
        ),
        StepId::Fargate => "A Deployment or StatefulSet upshift restarted goes on rolling out its Fargate pods; \
             nobody watches it finish, and no gate is checked before the next workload."
            .to_string(),
        StepId::DriftHold => return None,
        StepId::Nodepool(name) => format!(
            "Karpenter goes on replacing NodePool {name}'s drifted nodes as far as an open wave's budget allows; \
             its Drifted budget stays as it is until the drive resumes (or you restore it by hand, docs/drive.md)."
        ),
    };
    Some(cloud)
}

/// How to pick the rollout up again, said after what goes on.
pub const RESUME: &str =
    "Run the same command again to resume: upshift reads where the step stands and goes on from there.";

/// Whether a key that quits should ask first: the lead's cockpit, a step acting.
pub fn must_ask(c: &Cockpit) -> bool {
    !c.read_only() && c.rollout.as_ref().and_then(carries_on).is_some()
}

/// Draws the confirmation above `area`'s middle.
pub fn draw(buf: &mut Buffer, area: Rect, c: &Cockpit) {
    let Some(r) = &c.rollout else { return };
    let Some(what) = carries_on(r) else { return };
    let width = area.width.min(78);
    if width < 12 || area.height < 5 {
        return;
    }
    let room = usize::from(width - 4);
    let label = r.current_step().map_or("", |s| s.label.as_str());
    let mut lines: Vec<Line> = wrap(&format!("{label} is running. {what} {RESUME}"), room)
        .into_iter()
        .map(Line::raw)
        .collect();
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("q", theme::key()),
        Span::styled(" quits anyway · ", theme::dim()),
        Span::styled("esc", theme::key()),
        Span::styled(" stays", theme::dim()),
    ]));
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_add(2);
    let popup = centered(area, width, height);
    let block = Block::bordered()
        .border_style(theme::warn())
        .title(Line::from(vec![Span::styled(
            " quit while a step runs? ",
            theme::title(),
        )]));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::StepView;

    fn at(id: &str, state: StepState, phase: Phase) -> RolloutState {
        RolloutState {
            cluster: "demo".into(),
            target: "1.31".into(),
            phase,
            steps: vec![StepView {
                id: id.parse().expect("a step id"),
                state,
                ..Default::default()
            }],
            current: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_running_cloud_step_says_what_goes_on_in_aws() {
        let cp = carries_on(&at("control-plane", StepState::Running, Phase::Running)).expect("asks");
        assert!(
            cp.contains("EKS goes on updating demo's control plane to 1.31 in AWS"),
            "{cp}"
        );
        let ng = carries_on(&at(
            "nodegroup/system",
            StepState::Running,
            Phase::Held {
                node: "n".into(),
                pod: "p".into(),
                why: "w".into(),
                since: None,
            },
        ))
        .expect("asks");
        assert!(ng.contains("node group system") && ng.contains("stay cordoned"), "{ng}");
        assert!(carries_on(&at("addon/coredns", StepState::Running, Phase::Running)).is_some());
    }

    #[test]
    fn nothing_goes_on_at_a_gate_or_in_a_step_that_only_reads() {
        assert_eq!(carries_on(&at("control-plane", StepState::Gate, Phase::Gate)), None);
        assert_eq!(carries_on(&at("preflight", StepState::Running, Phase::Running)), None);
        assert_eq!(carries_on(&at("control-plane", StepState::Done, Phase::Done)), None);
        let mut none = at("control-plane", StepState::Running, Phase::Running);
        none.current = None;
        assert_eq!(carries_on(&none), None);
    }
}
