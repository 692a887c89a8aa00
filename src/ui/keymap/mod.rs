//! The one key-binding table: it drives dispatch (`ui::update`), the help overlay, the
//! footer's hints and the choices the rollout pane offers, so a key cannot work
//! without being documented, nor the reverse. A binding applies in a context (which
//! layer of the screen takes keys) and a situation ([`When`]: which pane has the
//! focus, where the rollout stands). The table itself is in `table`.

mod table;
mod when;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::cockpit::Cockpit;
use crate::cockpit::view::{Ask, Pane, View};
use crate::model::rollout::Phase;

pub use table::KEYMAP;
pub use when::{When, passable};

/// A key as the table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character (Shift is part of the character).
    Char(char),
    /// A character with Ctrl held.
    Ctrl(char),
    /// Any other key (arrows, Enter, Esc, ...).
    Code(KeyCode),
}

impl Key {
    pub fn matches(self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let alt = event.modifiers.contains(KeyModifiers::ALT);
        match self {
            Key::Char(c) => event.code == KeyCode::Char(c) && !ctrl && !alt,
            Key::Ctrl(c) => ctrl && matches!(event.code, KeyCode::Char(k) if k.eq_ignore_ascii_case(&c)),
            Key::Code(code) => event.code == code && !ctrl && !alt,
        }
    }
}

/// When a binding applies, by what the screen is doing (and so how the help groups it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Always, even while typing.
    Anywhere,
    /// Looking at the panes or at an overlay.
    Browsing,
    /// Looking at the panes (no overlay open).
    Panes,
    /// Looking at the panes while a rollout is driven: the lead's decisions.
    Drive,
    /// While typing a filter, a command or a decision.
    Prompt,
}

impl Context {
    pub const ALL: [Context; 5] = [
        Context::Drive,
        Context::Panes,
        Context::Browsing,
        Context::Prompt,
        Context::Anywhere,
    ];

    pub fn heading(self) -> &'static str {
        match self {
            Context::Anywhere => "anywhere",
            Context::Browsing => "in panes and overlays",
            Context::Panes => "panes",
            Context::Drive => "driving a rollout (the lead only: a read-only cockpit shows the lead's choices)",
            Context::Prompt => "typing a filter, a command or a decision",
        }
    }

    pub(super) fn applies(self, layer: Layer) -> bool {
        match self {
            Context::Anywhere => true,
            Context::Browsing => layer != Layer::Prompt,
            Context::Panes | Context::Drive => layer == Layer::Panes,
            Context::Prompt => layer == Layer::Prompt,
        }
    }
}

/// Which layer of the screen takes the keys: the panes, an overlay above them, or a
/// prompt being typed. It decides which bindings apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Panes,
    Overlay,
    Prompt,
}

impl Layer {
    pub fn of(view: &View) -> Layer {
        if view.prompt.is_some() {
            Layer::Prompt
        } else if view.overlay.is_some() {
            Layer::Overlay
        } else {
            Layer::Panes
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Filter,
    Command,
    NextPane,
    PrevPane,
    /// Focus the pane of the digit pressed.
    FocusDigit,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Open,
    Back,
    Accept,
    Cancel,
    Erase,
    /// Pass the green gate.
    Proceed,
    /// Open a prompt for a decision that needs typed text.
    Ask(Ask),
    Pause,
    Resume,
    Retry,
    KeepWaiting,
    SkipNode,
    /// Flip the current node group's auto-continue.
    AutoContinue,
    /// Every step of the rollout in full.
    Steps,
    /// Finish what is under way, then stop at the next gate.
    StopAtSafePoint,
}

impl Action {
    /// Whether it asks the drive for something (never from a read-only cockpit).
    pub fn drives(self) -> bool {
        matches!(
            self,
            Action::Proceed
                | Action::Ask(_)
                | Action::Pause
                | Action::Resume
                | Action::Retry
                | Action::KeepWaiting
                | Action::SkipNode
                | Action::AutoContinue
                | Action::StopAtSafePoint
        )
    }
}

pub struct Binding {
    pub keys: &'static [Key],
    /// How the help shows the keys.
    pub label: &'static str,
    pub context: Context,
    pub when: When,
    pub action: Action,
    pub help: &'static str,
    /// A short `(keys, what)` for the footer, for the bindings worth one; a drive
    /// binding's hint is also the choice the rollout pane offers.
    pub hint: Option<(&'static str, &'static str)>,
}

/// Whether a binding applies to the cockpit as it is now.
pub(super) fn applies(b: &Binding, c: &Cockpit, layer: Layer) -> bool {
    b.context.applies(layer) && b.when.holds(c)
}

/// The binding a key has now.
pub fn lookup(c: &Cockpit, event: &KeyEvent) -> Option<&'static Binding> {
    let layer = Layer::of(&c.view);
    KEYMAP
        .iter()
        .find(|b| applies(b, c, layer) && b.keys.iter().any(|k| k.matches(event)))
}

/// The footer's hints for the cockpit as it is now, in table order; a read-only
/// cockpit has no drive keys to hint at.
pub fn hints(c: &Cockpit) -> impl Iterator<Item = (&'static str, &'static str)> {
    let layer = Layer::of(&c.view);
    KEYMAP
        .iter()
        .filter(move |b| applies(b, c, layer))
        .filter(|b| !(c.read_only() && b.context == Context::Drive))
        .filter_map(|b| b.hint)
}

/// A decision the rollout pane offers: its key, what it does, and what must be typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub key: &'static str,
    pub what: &'static str,
    pub typed: Option<&'static str>,
}

/// The decisions that answer where the rollout stands (the gate, a held drain, a
/// failed step, a pause, the cluster's name), as the lead has them in the rollout
/// pane. Pause, abort and auto-continue, open at most times, are left to the footer,
/// except abort beside a failed step.
pub fn choices(c: &Cockpit) -> Vec<Choice> {
    let failed = c
        .rollout
        .as_ref()
        .is_some_and(|r| matches!(r.phase, Phase::Failed { .. }));
    KEYMAP
        .iter()
        .filter(|b| b.context == Context::Drive && b.when.holds_with_focus(c, Pane::Rollout))
        .filter(|b| match b.when {
            When::Pausable | When::NodeGroup => false,
            When::Abortable => failed,
            _ => true,
        })
        .filter_map(|b| {
            let (key, what) = b.hint?;
            let typed = match b.action {
                Action::Ask(a) => a.typed(),
                _ => None,
            };
            Some(Choice { key, what, typed })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Connection;
    use crate::cockpit::view::{Overlay, Pane, Prompt, PromptKind};
    use crate::model::rollout::{GateView, GroupProgress, RolloutState, StepView};

    /// A cockpit in every situation the keys tell apart: each phase, gate passable or
    /// not, a node group step or not, each pane focused, each kind of prompt.
    fn situations() -> Vec<Cockpit> {
        let now: crate::model::Timestamp = "2025-06-02T14:30:00Z".parse().expect("time");
        let phases = [
            Phase::Starting,
            Phase::ConfirmCluster,
            Phase::Gate,
            Phase::Running,
            Phase::Held {
                node: "n".into(),
                pod: "ns/p".into(),
                why: "budget".into(),
                since: None,
            },
            Phase::Failed {
                why: "w".into(),
                what_to_do: "t".into(),
                can_force: true,
            },
            Phase::Failed {
                why: "w".into(),
                what_to_do: "t".into(),
                can_force: false,
            },
            Phase::Paused,
            Phase::Aborting,
            Phase::Aborted { detail: "d".into() },
            Phase::Done,
        ];
        let mut rollouts = vec![None];
        for phase in phases {
            for passable in [false, true] {
                for group in [None, Some(GroupProgress::default())] {
                    // in a maintenance window or not
                    for window in [None, Some(crate::model::rollout::WindowStatus::default())] {
                        rollouts.push(Some(RolloutState {
                            phase: phase.clone(),
                            steps: vec![StepView {
                                group: group.clone(),
                                ..Default::default()
                            }],
                            current: Some(0),
                            gate: Some(GateView {
                                passable,
                                ..Default::default()
                            }),
                            window,
                            ..Default::default()
                        }));
                    }
                }
            }
        }
        let prompts = [
            None,
            Some(PromptKind::Filter),
            Some(PromptKind::Command),
            Some(PromptKind::Drive(Ask::OverrideGate)),
        ];
        let mut out = Vec::new();
        for rollout in rollouts {
            for focus in Pane::ALL {
                for prompt in prompts {
                    for overlay in [None, Some(Overlay::Help { scroll: 0 })] {
                        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                        let mut c = Cockpit::lead(Connection::default(), crate::cockpit::lead::Controls::new(tx), now);
                        c.rollout = rollout.clone();
                        c.view.focus = focus;
                        c.view.prompt = prompt.map(|kind| Prompt {
                            kind,
                            text: String::new(),
                        });
                        c.view.overlay = overlay.clone();
                        out.push(c);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn no_key_is_bound_twice_in_one_situation() {
        for c in situations() {
            let layer = Layer::of(&c.view);
            let bound: Vec<(Key, &str)> = KEYMAP
                .iter()
                .filter(|b| applies(b, &c, layer))
                .flat_map(|b| b.keys.iter().map(move |k| (*k, b.help)))
                .collect();
            for (i, (k, help)) in bound.iter().enumerate() {
                assert!(
                    !bound[i + 1..].iter().any(|(k2, _)| k2 == k),
                    "{k:?} ({help}) bound twice in {layer:?}, focus {:?}, rollout {:?}",
                    c.view.focus,
                    c.rollout.as_ref().map(|r| &r.phase)
                );
            }
        }
    }

    #[test]
    fn enter_always_does_something_on_the_panes() {
        let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        for c in situations() {
            if Layer::of(&c.view) == Layer::Panes && (c.view.focus != Pane::Rollout || c.rollout.is_some()) {
                assert!(lookup(&c, &enter).is_some(), "focus {:?}", c.view.focus);
            }
        }
    }

    #[test]
    fn shifted_characters_and_ctrl_are_told_apart() {
        let ev = |code, m| KeyEvent::new(code, m);
        assert!(Key::Char('G').matches(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)));
        assert!(Key::Char('?').matches(&ev(KeyCode::Char('?'), KeyModifiers::SHIFT)));
        assert!(!Key::Char('c').matches(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(Key::Ctrl('c').matches(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(Key::Code(KeyCode::BackTab).matches(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)));
    }
}
