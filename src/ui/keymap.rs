//! The one key-binding table: it drives dispatch, the help overlay and the footer's
//! hints, so a key cannot work without being documented, nor the reverse.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::Intent;
use super::list;
use super::log;
use super::view::{Detail, Overlay, Pane, Prompt, PromptKind, View, scroll_to};
use crate::cockpit::Cockpit;

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

/// When a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Always, even while typing.
    Anywhere,
    /// Looking at the panes or at an overlay.
    Browsing,
    /// Looking at the panes (no overlay open).
    Panes,
    /// While typing a filter or a command.
    Prompt,
}

impl Context {
    pub const ALL: [Context; 4] = [Context::Panes, Context::Browsing, Context::Prompt, Context::Anywhere];

    pub fn heading(self) -> &'static str {
        match self {
            Context::Anywhere => "anywhere",
            Context::Browsing => "in panes and overlays",
            Context::Panes => "panes",
            Context::Prompt => "typing a filter or a command",
        }
    }

    fn applies(self, mode: Mode) -> bool {
        match self {
            Context::Anywhere => true,
            Context::Browsing => mode != Mode::Prompt,
            Context::Panes => mode == Mode::Panes,
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
}

pub struct Binding {
    pub keys: &'static [Key],
    /// How the help shows the keys.
    pub label: &'static str,
    pub context: Context,
    pub action: Action,
    pub help: &'static str,
    /// A short `(keys, what)` for the footer, for the bindings worth one.
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

/// Every key the cockpit knows, first match wins.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[Key::Ctrl('c')],
        label: "ctrl-c",
        context: Context::Anywhere,
        action: Action::Quit,
        help: "quit",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('?')],
        label: "?",
        context: Context::Browsing,
        action: Action::Help,
        help: "this help (? again or esc closes it)",
        hint: Some(("?", "help")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Tab)],
        label: "tab",
        context: Context::Panes,
        action: Action::NextPane,
        help: "focus the next pane",
        hint: Some(("tab", "pane")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::BackTab)],
        label: "shift-tab",
        context: Context::Panes,
        action: Action::PrevPane,
        help: "focus the previous pane",
        hint: None,
    },
    Binding {
        keys: &DIGITS,
        label: "1…6",
        context: Context::Panes,
        action: Action::FocusDigit,
        help: "focus pane 1 nodes, 2 health, 3 pending, 4 errors, 5 components, 6 events",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('/')],
        label: "/",
        context: Context::Panes,
        action: Action::Filter,
        help: "filter the focused list by the text typed",
        hint: Some(("/", "filter")),
    },
    Binding {
        keys: &[Key::Char(':')],
        label: ":",
        context: Context::Panes,
        action: Action::Command,
        help: "jump to a pane by name (:nodes :health :pending :errors :components :events), :q quits",
        hint: Some((":", "jump")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Enter)],
        label: "enter",
        context: Context::Panes,
        action: Action::Open,
        help: "details of the selected node or pod",
        hint: Some(("enter", "details")),
    },
    Binding {
        keys: &[Key::Char('j'), Key::Code(KeyCode::Down)],
        label: "j ↓",
        context: Context::Browsing,
        action: Action::Down,
        help: "move down",
        hint: Some(("j/k", "move")),
    },
    Binding {
        keys: &[Key::Char('k'), Key::Code(KeyCode::Up)],
        label: "k ↑",
        context: Context::Browsing,
        action: Action::Up,
        help: "move up",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::PageDown), Key::Ctrl('f'), Key::Ctrl('d')],
        label: "pgdn ctrl-f",
        context: Context::Browsing,
        action: Action::PageDown,
        help: "a page down",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::PageUp), Key::Ctrl('b'), Key::Ctrl('u')],
        label: "pgup ctrl-b",
        context: Context::Browsing,
        action: Action::PageUp,
        help: "a page up",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('g'), Key::Code(KeyCode::Home)],
        label: "g home",
        context: Context::Browsing,
        action: Action::Top,
        help: "to the first row",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('G'), Key::Code(KeyCode::End)],
        label: "G end",
        context: Context::Browsing,
        action: Action::Bottom,
        help: "to the last row; the event log follows new entries again",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::Esc)],
        label: "esc",
        context: Context::Browsing,
        action: Action::Back,
        help: "back: close the overlay, else clear the focused list's filter",
        hint: Some(("esc", "back")),
    },
    Binding {
        keys: &[Key::Char('q')],
        label: "q",
        context: Context::Browsing,
        action: Action::Quit,
        help: "quit",
        hint: Some(("q", "quit")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Enter)],
        label: "enter",
        context: Context::Prompt,
        action: Action::Accept,
        help: "keep the filter, or run the command",
        hint: Some(("enter", "keep")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Esc)],
        label: "esc",
        context: Context::Prompt,
        action: Action::Cancel,
        help: "clear the filter, or drop the command",
        hint: Some(("esc", "clear")),
    },
    Binding {
        keys: &[Key::Code(KeyCode::Backspace)],
        label: "backspace",
        context: Context::Prompt,
        action: Action::Erase,
        help: "delete the last character",
        hint: None,
    },
];

/// The binding a key has in a mode.
pub fn lookup(mode: Mode, event: &KeyEvent) -> Option<&'static Binding> {
    KEYMAP
        .iter()
        .find(|b| b.context.applies(mode) && b.keys.iter().any(|k| k.matches(event)))
}

/// The footer's hints for a mode, in table order.
pub fn hints(mode: Mode) -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYMAP
        .iter()
        .filter(move |b| b.context.applies(mode))
        .filter_map(|b| b.hint)
}

/// Changes the view for a key; returns what the loop must do besides.
pub fn dispatch(c: &mut Cockpit, event: KeyEvent) -> Option<Intent> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    c.view.message = None;
    let mode = Mode::of(&c.view);
    let Some(binding) = lookup(mode, &event) else {
        if let (Mode::Prompt, KeyCode::Char(ch)) = (mode, event.code)
            && !event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            type_char(c, Some(ch));
        }
        return None;
    };
    match binding.action {
        Action::Quit => return Some(Intent::Quit),
        Action::Help => {
            c.view.overlay = match c.view.overlay {
                Some(Overlay::Help { .. }) => None,
                _ => Some(Overlay::Help { scroll: 0 }),
            }
        }
        Action::NextPane => c.view.focus = c.view.focus.next(),
        Action::PrevPane => c.view.focus = c.view.focus.prev(),
        Action::FocusDigit => {
            if let KeyCode::Char(d) = event.code
                && let Some(p) = Pane::ALL.into_iter().find(|p| p.digit() == d)
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
            })
        }
        Action::Down => step(c, Move::By(1)),
        Action::Up => step(c, Move::By(-1)),
        Action::PageDown => step(c, Move::Page(1)),
        Action::PageUp => step(c, Move::Page(-1)),
        Action::Top => step(c, Move::Top),
        Action::Bottom => step(c, Move::Bottom),
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
    }
    None
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
    if prompt.kind == PromptKind::Filter {
        return None;
    }
    let command = prompt.text.trim();
    match command {
        "" => {}
        "q" | "q!" | "quit" => return Some(Intent::Quit),
        "help" | "?" => c.view.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => match Pane::find(command) {
            Some(p) => c.view.focus = p,
            None => {
                let names: Vec<&str> = Pane::ALL.iter().map(|p| p.name()).collect();
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

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        for mode in [Mode::Panes, Mode::Overlay, Mode::Prompt] {
            let bound: Vec<(Key, &str)> = KEYMAP
                .iter()
                .filter(|b| b.context.applies(mode))
                .flat_map(|b| b.keys.iter().map(move |k| (*k, b.help)))
                .collect();
            for (i, (k, help)) in bound.iter().enumerate() {
                assert!(
                    !bound[i + 1..].iter().any(|(k2, _)| k2 == k),
                    "{k:?} ({help}) bound twice in {mode:?}"
                );
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
