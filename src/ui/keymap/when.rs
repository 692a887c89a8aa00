//! When a binding applies, by the situation: the focused pane, the prompt being typed,
//! where the rollout stands.

use crate::cockpit::Cockpit;
use crate::cockpit::view::{Pane, Prompt, PromptKind};
use crate::model::rollout::{Phase, RolloutState};

/// When a binding applies, by the situation: the focused pane, the prompt being typed,
/// where the rollout stands. Bindings of one key in one mode hold in situations that
/// never overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// A pane watching the cluster has the focus (not the rollout pane).
    ClusterPane,
    /// Typing a filter or a `:` command.
    PlainPrompt,
    /// Typing a decision for the drive.
    DrivePrompt,
    /// A rollout is driven.
    Rollout,
    /// The rollout pane has the focus and its gate may be passed.
    PaneGreenGate,
    /// The rollout pane has the focus and the production cluster awaits its name.
    PaneConfirm,
    /// The rollout pane has the focus, with nothing for Enter to send.
    PaneOther,
    /// At a gate that may not be passed yet.
    RedGate,
    /// A step failed.
    Failed,
    /// A step failed and forcing is offered.
    CanForce,
    /// A drain is held up.
    Held,
    /// Something may start that a pause would hold back.
    Pausable,
    Paused,
    /// Not finished, not already aborting.
    Abortable,
    /// The current step is a node group's.
    NodeGroup,
    /// The rollout pane has the focus, while a rollout is shown.
    RolloutPane,
    /// The drive runs in a maintenance window and may be stopped at its next safe
    /// point (not asked yet, not failed, not finished).
    Stoppable,
    /// The drive may be handed to another operator: at a gate, paused, or before the
    /// first step.
    Handable,
}

impl When {
    pub fn holds(self, c: &Cockpit) -> bool {
        self.holds_with_focus(c, c.view.focus)
    }

    /// Whether it holds if `focus` had the focus (the rollout pane offers the choices
    /// the lead would have there).
    pub fn holds_with_focus(self, c: &Cockpit, focus: Pane) -> bool {
        let drive_prompt = matches!(
            c.view.prompt,
            Some(Prompt {
                kind: PromptKind::Drive(_),
                ..
            })
        );
        let Some(r) = &c.rollout else {
            return matches!(
                self,
                When::Always | When::ClusterPane | When::PlainPrompt | When::DrivePrompt
            ) && match self {
                When::PlainPrompt => !drive_prompt,
                When::DrivePrompt => drive_prompt,
                _ => true,
            };
        };
        let pane = focus == Pane::Rollout;
        let passable = passable(r);
        let confirm = r.phase == Phase::ConfirmCluster;
        match self {
            When::Always | When::Rollout => true,
            When::ClusterPane => !pane,
            When::PlainPrompt => !drive_prompt,
            When::DrivePrompt => drive_prompt,
            When::PaneGreenGate => pane && passable,
            When::PaneConfirm => pane && confirm,
            When::PaneOther => pane && !passable && !confirm,
            When::RedGate => r.phase == Phase::Gate && !passable,
            When::Failed => matches!(r.phase, Phase::Failed { .. }),
            When::CanForce => matches!(r.phase, Phase::Failed { can_force: true, .. }),
            When::Held => matches!(r.phase, Phase::Held { .. }),
            When::Pausable => matches!(
                r.phase,
                Phase::Starting | Phase::Gate | Phase::Running | Phase::Held { .. }
            ),
            When::Paused => r.phase == Phase::Paused,
            When::Abortable => !r.finished() && r.phase != Phase::Aborting,
            When::NodeGroup => !r.finished() && r.current_step().is_some_and(|s| s.group.is_some()),
            When::RolloutPane => pane,
            When::Stoppable => {
                r.window.as_ref().is_some_and(|w| !w.stopping)
                    && !r.finished()
                    && !matches!(r.phase, Phase::Failed { .. } | Phase::Aborting)
            }
            When::Handable => {
                r.handed_to.is_none() && matches!(r.phase, Phase::Gate | Phase::Paused | Phase::ConfirmCluster)
            }
        }
    }
}

/// At a gate every criterion of which has been green for the settle time.
pub fn passable(r: &RolloutState) -> bool {
    r.phase == Phase::Gate && r.gate.as_ref().is_some_and(|g| g.passable)
}
