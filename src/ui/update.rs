//! What a key does to the cockpit: the binding the key has now (from the one table in
//! `keymap`) changes the view (focus, selection, filter, prompt, overlay) and may ask
//! the loop for something beyond it: to quit, or to send the lead's decision.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::Intent;
use super::ask;
use super::keymap::{self, Action, Layer};
use super::panes;
use crate::cockpit::view::{Ask, Detail, Overlay, Pane, Prompt, PromptKind, View, scroll_to};
use crate::cockpit::{Cockpit, READ_ONLY};
use crate::model::rollout::{Command, Phase, RolloutState};

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
    if typed_ahead(c, &event) {
        c.view.message = Some(TYPED_AHEAD.into());
        return None;
    }
    let layer = Layer::of(&c.view);
    let Some(binding) = keymap::lookup(c, &event) else {
        if let KeyCode::Char(ch) = event.code
            && !event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            match layer {
                Layer::Prompt => type_char(c, Some(ch)),
                // a production rollout waits for its cluster's name: typing it opens the prompt
                Layer::Panes if awaits_cluster_name(c) && !c.read_only() => {
                    c.view.open_prompt_typing(Prompt {
                        kind: PromptKind::Drive(Ask::ConfirmCluster),
                        text: ch.to_string(),
                    });
                }
                _ => {}
            }
        }
        return None;
    };
    if binding.action.drives() && c.read_only() {
        c.view.message = Some(READ_ONLY.to_string());
        return None;
    }
    match binding.action {
        Action::Quit => return quit(c),
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
            c.view.message = Some(if c.read_only() {
                READ_ONLY.to_string()
            } else {
                panes::rollout::nothing_to_proceed(c)
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
            c.view.open_prompt(Prompt {
                kind: PromptKind::Drive(ask),
                text: String::new(),
            });
        }
        Action::Steps => {
            c.view.overlay = Some(Overlay::Detail {
                target: crate::cockpit::view::Detail::Steps,
                scroll: 0,
            });
        }
        Action::Proceed => return Some(Intent::Drive(Command::Proceed)),
        Action::Pause => return Some(Intent::Drive(Command::Pause)),
        Action::Resume => return Some(Intent::Drive(Command::Resume)),
        Action::Retry => return Some(Intent::Drive(Command::Retry)),
        Action::KeepWaiting => return Some(Intent::Drive(Command::KeepWaiting)),
        Action::SkipNode => return Some(Intent::Drive(Command::SkipNode)),
        Action::StopAtSafePoint => return Some(Intent::Drive(Command::StopAtSafePoint)),
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

/// Quits, but first asks (once) while a step of the lead's runs: the box says what goes
/// on in AWS without upshift; quitting again from it quits.
fn quit(c: &mut Cockpit) -> Option<Intent> {
    if c.view.overlay == Some(Overlay::ConfirmQuit) || !super::quit::must_ask(c) {
        return Some(Intent::Quit);
    }
    c.view.prompt = None;
    c.view.overlay = Some(Overlay::ConfirmQuit);
    None
}

/// Said when keys reached a decision's box before it was on screen.
pub const TYPED_AHEAD: &str = "keys typed before this box appeared were dropped: read it, then type";

/// Whether a key reached a decision's box before any frame showed it (typed ahead,
/// meant for the screen as it was): such keys are dropped. Esc and ctrl-c still work.
fn typed_ahead(c: &Cockpit, event: &KeyEvent) -> bool {
    let drive_prompt = matches!(
        c.view.prompt,
        Some(Prompt {
            kind: PromptKind::Drive(_),
            ..
        })
    );
    let ctrl_c = event.modifiers.contains(KeyModifiers::CONTROL) && event.code == KeyCode::Char('c');
    drive_prompt && !c.view.prompt_shown() && event.code != KeyCode::Esc && !ctrl_c
}

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
        "q!" => return Some(Intent::Quit),
        "q" | "quit" => return quit(c),
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
        let max = super::overlay_len(c).saturating_sub(usize::from(c.view.overlay_height()));
        let max = u16::try_from(max).unwrap_or(u16::MAX);
        let page = c.view.overlay_height().max(1);
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
    let total = panes::filtered_len(c, pane);
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
    let total = panes::filtered_len(c, pane);
    if total == 0 {
        return;
    }
    let state = c.view.list(pane);
    let n = if state.follow {
        total - 1
    } else {
        state.selected.min(total - 1)
    };
    let Some(i) = panes::source_index(c, pane, n) else {
        return;
    };
    match panes::view(pane).open(c, i) {
        Ok(target) => {
            // a pod's containers and logs are read once, as its detail opens
            let pod = match &target {
                Detail::Pod(key) => Some(key.clone()),
                Detail::Entry(e) => match panes::events::detail_of(&e.object) {
                    Some(Detail::Pod(key)) => Some(key),
                    _ => None,
                },
                _ => None,
            };
            if let Some(key) = pod {
                c.ask_pod_detail(&key);
            }
            c.view.overlay = Some(Overlay::Detail { target, scroll: 0 });
        }
        Err(why) => c.view.message = Some(why.to_string()),
    }
}
