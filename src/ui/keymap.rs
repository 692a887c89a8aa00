//! The one key-binding table: it drives dispatch, the help overlay, the footer's hints
//! and the choices the rollout pane offers, so a key cannot work without being
//! documented, nor the reverse. A binding applies in a mode (panes, overlay, prompt)
//! and a situation (which pane has the focus, where the rollout stands).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::Intent;
use super::ask;
use super::list;
use super::log;
use super::rollout;
use super::view::{Ask, Detail, Overlay, Pane, Prompt, PromptKind, View, scroll_to};
use crate::cockpit::Cockpit;
use crate::model::rollout::{Command, Phase, RolloutState};

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
    fn matches(self, event: &KeyEvent) -> bool {
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

    fn applies(self, mode: Mode) -> bool {
        match self {
            Context::Anywhere => true,
            Context::Browsing => mode != Mode::Prompt,
            Context::Panes | Context::Drive => mode == Mode::Panes,
            Context::Prompt => mode == Mode::Prompt,
        }
    }
}

/// What the screen is doing, which decides which bindings apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Panes,
    Overlay,
    Prompt,
}

impl Mode {
    pub fn of(view: &View) -> Mode {
        if view.prompt.is_some() {
            Mode::Prompt
        } else if view.overlay.is_some() {
            Mode::Overlay
        } else {
            Mode::Panes
        }
    }
}

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
        }
    }
}

/// At a gate every criterion of which has been green for the settle time.
pub fn passable(r: &RolloutState) -> bool {
    r.phase == Phase::Gate && r.gate.as_ref().is_some_and(|g| g.passable)
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

const DIGITS: [Key; 6] = [
    Key::Char('1'),
    Key::Char('2'),
    Key::Char('3'),
    Key::Char('4'),
    Key::Char('5'),
    Key::Char('6'),
];

const ENTER: Key = Key::Code(KeyCode::Enter);
const ESC: Key = Key::Code(KeyCode::Esc);

/// Every key the cockpit knows, first match wins.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[Key::Ctrl('c')],
        label: "ctrl-c",
        context: Context::Anywhere,
        when: When::Always,
        action: Action::Quit,
        help: "quit",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('?')],
        label: "?",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Help,
        help: "this help (? again or esc closes it)",
        hint: Some(("?", "help")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Drive,
        when: When::PaneGreenGate,
        action: Action::Proceed,
        help: "in the rollout pane: proceed at a gate green for its settle time;",
        hint: Some(("enter", "proceed")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Drive,
        when: When::PaneConfirm,
        action: Action::Ask(Ask::ConfirmCluster),
        help: "at a production rollout's start, type the cluster's name;",
        hint: Some(("enter", "confirm the cluster")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Drive,
        when: When::PaneOther,
        action: Action::Open,
        help: "else: what may be decided now",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('r')],
        label: "r",
        context: Context::Drive,
        when: When::Failed,
        action: Action::Retry,
        help: "try the failed step again",
        hint: Some(("r", "retry")),
    },
    Binding {
        keys: &[Key::Char('o')],
        label: "o",
        context: Context::Drive,
        when: When::RedGate,
        action: Action::Ask(Ask::OverrideGate),
        help: "pass a gate that is not green, with a reason (journaled);",
        hint: Some(("o", "override with a reason")),
    },
    Binding {
        keys: &[Key::Char('o')],
        label: "o",
        context: Context::Drive,
        when: When::Failed,
        action: Action::Ask(Ask::SkipStep),
        help: "skip a failed step, with a reason (journaled)",
        hint: Some(("o", "skip step with a reason")),
    },
    Binding {
        keys: &[Key::Char('F')],
        label: "F",
        context: Context::Drive,
        when: When::CanForce,
        action: Action::Ask(Ask::Force),
        help: "force a node group's update past its PodDisruptionBudgets (type the group's name)",
        hint: Some(("F", "force")),
    },
    Binding {
        keys: &[Key::Char('w')],
        label: "w",
        context: Context::Drive,
        when: When::Held,
        action: Action::KeepWaiting,
        help: "a held drain: wait another pod timeout",
        hint: Some(("w", "keep waiting")),
    },
    Binding {
        keys: &[Key::Char('s')],
        label: "s",
        context: Context::Drive,
        when: When::Held,
        action: Action::SkipNode,
        help: "a held drain: leave the node on the old version, uncordoned, and go on",
        hint: Some(("s", "skip node")),
    },
    Binding {
        keys: &[Key::Char('D')],
        label: "D",
        context: Context::Drive,
        when: When::Held,
        action: Action::Ask(Ask::DeletePod),
        help: "a held drain: delete the pod holding it (type the pod's name)",
        hint: Some(("D", "delete the pod")),
    },
    Binding {
        keys: &[Key::Char('p')],
        label: "p",
        context: Context::Drive,
        when: When::Pausable,
        action: Action::Pause,
        help: "pause: nothing new starts, what the cloud runs goes on;",
        hint: Some(("p", "pause")),
    },
    Binding {
        keys: &[Key::Char('p')],
        label: "p",
        context: Context::Drive,
        when: When::Paused,
        action: Action::Resume,
        help: "resume",
        hint: Some(("p", "resume")),
    },
    Binding {
        keys: &[Key::Char('c')],
        label: "c",
        context: Context::Drive,
        when: When::NodeGroup,
        action: Action::AutoContinue,
        help: "auto-continue on or off: the node group goes on between batches while its gate is green",
        hint: Some(("c", "auto-continue")),
    },
    Binding {
        keys: &[Key::Char('A')],
        label: "A",
        context: Context::Drive,
        when: When::Abortable,
        action: Action::Ask(Ask::Abort),
        help: "abort the rollout, leaving the cluster consistent (type abort)",
        hint: Some(("A", "abort")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Tab)],
        label: "tab",
        context: Context::Panes,
        when: When::Always,
        action: Action::NextPane,
        help: "focus the next pane",
        hint: Some(("tab", "pane")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::BackTab)],
        label: "shift-tab",
        context: Context::Panes,
        when: When::Always,
        action: Action::PrevPane,
        help: "focus the previous pane",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('0')],
        label: "0",
        context: Context::Panes,
        when: When::Rollout,
        action: Action::FocusDigit,
        help: "focus the rollout pane (while a rollout is driven)",
        hint: None,
    },
    Binding {
        keys: &DIGITS,
        label: "1…6",
        context: Context::Panes,
        when: When::Always,
        action: Action::FocusDigit,
        help: "focus pane 1 nodes, 2 health, 3 pending, 4 errors, 5 components, 6 events",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('/')],
        label: "/",
        context: Context::Panes,
        when: When::ClusterPane,
        action: Action::Filter,
        help: "filter the focused list by the text typed",
        hint: Some(("/", "filter")),
    },
    Binding {
        keys: &[Key::Char(':')],
        label: ":",
        context: Context::Panes,
        when: When::Always,
        action: Action::Command,
        help: "jump to a pane by name (:nodes :health :pending :errors :components :events, :rollout while driven), :q quits",
        hint: Some((":", "jump")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Panes,
        when: When::ClusterPane,
        action: Action::Open,
        help: "details of the selected node or pod",
        hint: Some(("enter", "details")),
    },
    Binding {
        keys: &[Key::Char('j'), Key::Code(KeyCode::Down)],
        label: "j ↓",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Down,
        help: "move down",
        hint: Some(("j/k", "move")),
    },
    Binding {
        keys: &[Key::Char('k'), Key::Code(KeyCode::Up)],
        label: "k ↑",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Up,
        help: "move up",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::PageDown), Key::Ctrl('f'), Key::Ctrl('d')],
        label: "pgdn ctrl-f",
        context: Context::Browsing,
        when: When::Always,
        action: Action::PageDown,
        help: "a page down",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::PageUp), Key::Ctrl('b'), Key::Ctrl('u')],
        label: "pgup ctrl-b",
        context: Context::Browsing,
        when: When::Always,
        action: Action::PageUp,
        help: "a page up",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('g'), Key::Code(KeyCode::Home)],
        label: "g home",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Top,
        help: "to the first row",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('G'), Key::Code(KeyCode::End)],
        label: "G end",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Bottom,
        help: "to the last row; the event log follows new entries again",
        hint: None,
    },
    Binding {
        keys: &[ESC],
        label: "esc",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Back,
        help: "back: close the overlay, else clear the focused list's filter",
        hint: Some(("esc", "back")),
    },
    Binding {
        keys: &[Key::Char('q')],
        label: "q",
        context: Context::Browsing,
        when: When::Always,
        action: Action::Quit,
        help: "quit",
        hint: Some(("q", "quit")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Prompt,
        when: When::PlainPrompt,
        action: Action::Accept,
        help: "keep the filter, or run the command;",
        hint: Some(("enter", "keep")),
    },
    Binding {
        keys: &[ENTER],
        label: "enter",
        context: Context::Prompt,
        when: When::DrivePrompt,
        action: Action::Accept,
        help: "send the decision (not while the reason is empty or the name is not the one asked for)",
        hint: Some(("enter", "confirm")),
    },
    Binding {
        keys: &[ESC],
        label: "esc",
        context: Context::Prompt,
        when: When::PlainPrompt,
        action: Action::Cancel,
        help: "clear the filter, or drop the command;",
        hint: Some(("esc", "clear")),
    },
    Binding {
        keys: &[ESC],
        label: "esc",
        context: Context::Prompt,
        when: When::DrivePrompt,
        action: Action::Cancel,
        help: "drop the decision: nothing is sent",
        hint: Some(("esc", "cancel")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Backspace)],
        label: "backspace",
        context: Context::Prompt,
        when: When::Always,
        action: Action::Erase,
        help: "delete the last character",
        hint: None,
    },
];

/// Whether a binding applies to the cockpit as it is now.
fn applies(b: &Binding, c: &Cockpit, mode: Mode) -> bool {
    b.context.applies(mode) && b.when.holds(c)
}

/// The binding a key has now.
pub fn lookup(c: &Cockpit, event: &KeyEvent) -> Option<&'static Binding> {
    let mode = Mode::of(&c.view);
    KEYMAP
        .iter()
        .find(|b| applies(b, c, mode) && b.keys.iter().any(|k| k.matches(event)))
}

/// The footer's hints for the cockpit as it is now, in table order; a read-only
/// cockpit has no drive keys to hint at.
pub fn hints(c: &Cockpit) -> impl Iterator<Item = (&'static str, &'static str)> {
    let mode = Mode::of(&c.view);
    KEYMAP
        .iter()
        .filter(move |b| applies(b, c, mode))
        .filter(|b| !(c.read_only && b.context == Context::Drive))
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

/// Changes the view for a key; returns what the loop must do besides.
pub fn dispatch(c: &mut Cockpit, event: KeyEvent) -> Option<Intent> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    c.view.message = None;
    if c.view.focus == Pane::Rollout && c.rollout.is_none() {
        c.view.focus = Pane::Nodes;
    }
    if c.rollout.is_none()
        && matches!(
            c.view.prompt,
            Some(Prompt {
                kind: PromptKind::Drive(_),
                ..
            })
        )
    {
        c.view.prompt = None;
    }
    let mode = Mode::of(&c.view);
    let Some(binding) = lookup(c, &event) else {
        if let KeyCode::Char(ch) = event.code
            && !event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            match mode {
                Mode::Prompt => type_char(c, Some(ch)),
                // a production rollout waits for its cluster's name: typing it opens the prompt
                Mode::Panes if awaits_cluster_name(c) && !c.read_only => {
                    c.view.prompt = Some(Prompt {
                        kind: PromptKind::Drive(Ask::ConfirmCluster),
                        text: ch.to_string(),
                    });
                }
                _ => {}
            }
        }
        return None;
    };
    if binding.action.drives() && c.read_only {
        c.view.message = Some(READ_ONLY.to_string());
        return None;
    }
    match binding.action {
        Action::Quit => return Some(Intent::Quit),
        Action::Help => {
            c.view.overlay = match c.view.overlay {
                Some(Overlay::Help { .. }) => None,
                _ => Some(Overlay::Help { scroll: 0 }),
            }
        }
        Action::NextPane => c.view.focus = cycle(c, Pane::next),
        Action::PrevPane => c.view.focus = cycle(c, Pane::prev),
        Action::FocusDigit => {
            if let KeyCode::Char(d) = event.code
                && let Some(p) = Pane::ALL.into_iter().find(|p| p.digit() == d && super::is_shown(c, *p))
            {
                c.view.focus = p;
            }
        }
        Action::Filter => {
            let text = c.view.list(c.view.focus).filter.clone();
            c.view.prompt = Some(Prompt {
                kind: PromptKind::Filter,
                text,
            });
        }
        Action::Command => {
            c.view.prompt = Some(Prompt {
                kind: PromptKind::Command,
                text: String::new(),
            });
        }
        Action::Down => step(c, Move::By(1)),
        Action::Up => step(c, Move::By(-1)),
        Action::PageDown => step(c, Move::Page(1)),
        Action::PageUp => step(c, Move::Page(-1)),
        Action::Top => step(c, Move::Top),
        Action::Bottom => step(c, Move::Bottom),
        Action::Open if c.view.focus == Pane::Rollout => {
            c.view.message = Some(if c.read_only {
                READ_ONLY.to_string()
            } else {
                rollout::nothing_to_proceed(c)
            });
        }
        Action::Open => open(c),
        Action::Back => {
            if c.view.overlay.is_some() {
                c.view.overlay = None;
            } else {
                let focus = c.view.focus;
                set_filter(&mut c.view, focus, String::new());
            }
        }
        Action::Accept => return accept(c),
        Action::Cancel => {
            if let Some(Prompt {
                kind: PromptKind::Filter,
                ..
            }) = c.view.prompt
            {
                let focus = c.view.focus;
                set_filter(&mut c.view, focus, String::new());
            }
            c.view.prompt = None;
        }
        Action::Erase => type_char(c, None),
        Action::Ask(ask) => {
            c.view.prompt = Some(Prompt {
                kind: PromptKind::Drive(ask),
                text: String::new(),
            });
        }
        Action::Proceed => return Some(Intent::Drive(Command::Proceed)),
        Action::Pause => return Some(Intent::Drive(Command::Pause)),
        Action::Resume => return Some(Intent::Drive(Command::Resume)),
        Action::Retry => return Some(Intent::Drive(Command::Retry)),
        Action::KeepWaiting => return Some(Intent::Drive(Command::KeepWaiting)),
        Action::SkipNode => return Some(Intent::Drive(Command::SkipNode)),
        Action::AutoContinue => {
            let on = c
                .rollout
                .as_ref()
                .and_then(RolloutState::current_step)
                .and_then(|s| s.group.as_ref())
                .is_some_and(|g| g.auto_continue);
            return Some(Intent::Drive(Command::AutoContinue(!on)));
        }
    }
    None
}

/// What a read-only cockpit says to a key that would decide something.
pub const READ_ONLY: &str = "read-only: the lead decides";

fn awaits_cluster_name(c: &Cockpit) -> bool {
    c.rollout.as_ref().is_some_and(|r| r.phase == Phase::ConfirmCluster)
}

/// The next (or previous) pane shown.
fn cycle(c: &Cockpit, by: fn(Pane) -> Pane) -> Pane {
    let mut p = by(c.view.focus);
    while !super::is_shown(c, p) {
        p = by(p);
    }
    p
}

/// Adds a character to the prompt (or erases one); a filter applies as it is typed.
fn type_char(c: &mut Cockpit, ch: Option<char>) {
    let Some(prompt) = &mut c.view.prompt else { return };
    match ch {
        Some(ch) => prompt.text.push(ch),
        None => {
            prompt.text.pop();
        }
    }
    if prompt.kind == PromptKind::Filter {
        let text = prompt.text.clone();
        let focus = c.view.focus;
        set_filter(&mut c.view, focus, text);
    }
}

fn set_filter(view: &mut View, pane: Pane, text: String) {
    let list = view.list_mut(pane);
    if list.filter != text {
        list.filter = text;
        list.selected = 0;
        list.offset = 0;
    }
}

fn accept(c: &mut Cockpit) -> Option<Intent> {
    let prompt = c.view.prompt.take()?;
    let ask = match prompt.kind {
        PromptKind::Filter => return None,
        PromptKind::Command => None,
        PromptKind::Drive(ask) => Some(ask),
    };
    if let Some(ask) = ask {
        return match ask::command(c, ask, &prompt.text) {
            Ok(command) => Some(Intent::Drive(command)),
            Err(ask::Refusal::Retype(why)) => {
                // the prompt stays open, with what was typed, and says why
                c.view.message = Some(why);
                c.view.prompt = Some(prompt);
                None
            }
            Err(ask::Refusal::Moot(why)) => {
                c.view.message = Some(why);
                None
            }
        };
    }
    let command = prompt.text.trim();
    match command {
        "" => {}
        "q" | "q!" | "quit" => return Some(Intent::Quit),
        "help" | "?" => c.view.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => match Pane::find(command).filter(|p| super::is_shown(c, *p)) {
            Some(p) => c.view.focus = p,
            None => {
                let names: Vec<&str> = super::shown(c).map(|p| p.name()).collect();
                c.view.message = Some(format!("no pane named {command:?}; try :{}", names.join(" :")));
            }
        },
    }
    None
}

enum Move {
    By(isize),
    Page(isize),
    Top,
    Bottom,
}

/// Moves the selection of the focused list, or scrolls the open overlay.
fn step(c: &mut Cockpit, m: Move) {
    if c.view.overlay.is_some() {
        // the overlay's content is measured only now, on the key, never while drawing
        let max = super::overlay_len(c).saturating_sub(usize::from(c.view.overlay_height.get()));
        let max = u16::try_from(max).unwrap_or(u16::MAX);
        let page = c.view.overlay_height.get().max(1);
        if let Some(Overlay::Help { scroll } | Overlay::Detail { scroll, .. }) = &mut c.view.overlay {
            *scroll = match m {
                Move::By(n) if n < 0 => scroll.saturating_sub(1),
                Move::By(_) => scroll.saturating_add(1),
                Move::Page(n) if n < 0 => scroll.saturating_sub(page),
                Move::Page(_) => scroll.saturating_add(page),
                Move::Top => 0,
                Move::Bottom => max,
            }
            .min(max);
        }
        return;
    }
    let pane = c.view.focus;
    let total = list::filtered_len(c, pane);
    let page = c.view.page(pane);
    let list = c.view.list_mut(pane);
    let last = total.saturating_sub(1);
    let current = if list.follow { last } else { list.selected.min(last) };
    let page_i = isize::try_from(page.max(1)).unwrap_or(isize::MAX);
    let next = match m {
        Move::By(n) => current.saturating_add_signed(n).min(last),
        Move::Page(n) => current.saturating_add_signed(n.saturating_mul(page_i)).min(last),
        Move::Top => 0,
        Move::Bottom => last,
    };
    list.selected = next;
    list.offset = scroll_to(list.offset, next, page, total);
    if pane == Pane::Events {
        // follow again once at the newest; stop following as soon as the user looks back
        let back = matches!(m, Move::By(n) | Move::Page(n) if n < 0) || matches!(m, Move::Top);
        list.follow = matches!(m, Move::Bottom) || (next == last && !back);
    }
}

/// Enter: the detail of the selected row, if it has one.
fn open(c: &mut Cockpit) {
    let pane = c.view.focus;
    let total = list::filtered_len(c, pane);
    if total == 0 {
        return;
    }
    let state = c.view.list(pane);
    let n = if state.follow {
        total - 1
    } else {
        state.selected.min(total - 1)
    };
    let Some(i) = list::source_index(c, pane, n) else {
        return;
    };
    let target: Option<Detail> = match pane {
        Pane::Rollout => None,
        Pane::Nodes => super::nodes::open(c, i),
        Pane::Health => super::health::open(c, i),
        Pane::Pending => super::unscheduled::open(c, i),
        Pane::Errors => super::errors::open(c, i),
        Pane::Components => None,
        Pane::Events => log::open(c, i),
    };
    match target {
        Some(target) => c.view.overlay = Some(Overlay::Detail { target, scroll: 0 }),
        None => {
            c.view.message = Some(match pane {
                Pane::Components => "components have no detail view yet".to_string(),
                Pane::Events => "this entry is about no node or pod".to_string(),
                _ => "nothing to show for this row".to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Connection;
    use crate::model::rollout::{GateView, GroupProgress, StepView};

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
                    rollouts.push(Some(RolloutState {
                        phase: phase.clone(),
                        steps: vec![StepView {
                            group,
                            ..Default::default()
                        }],
                        current: Some(0),
                        gate: Some(GateView {
                            passable,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }));
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
                        let mut c = Cockpit::new(Connection::default(), false, now);
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
            let mode = Mode::of(&c.view);
            let bound: Vec<(Key, &str)> = KEYMAP
                .iter()
                .filter(|b| applies(b, &c, mode))
                .flat_map(|b| b.keys.iter().map(move |k| (*k, b.help)))
                .collect();
            for (i, (k, help)) in bound.iter().enumerate() {
                assert!(
                    !bound[i + 1..].iter().any(|(k2, _)| k2 == k),
                    "{k:?} ({help}) bound twice in {mode:?}, focus {:?}, rollout {:?}",
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
            if Mode::of(&c.view) == Mode::Panes && (c.view.focus != Pane::Rollout || c.rollout.is_some()) {
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
