//! The cockpit's styles, in one place: colour only where it carries meaning (state,
//! health, counts that should be zero), everything else plain.

use ratatui::style::{Color, Modifier, Style};

use crate::model::Level;
use crate::model::node::Tri;

pub fn plain() -> Style {
    Style::new()
}

/// Secondary text: column headings, separators, units.
pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Healthy, ready, synced.
pub fn good() -> Style {
    Style::new().fg(Color::Green)
}

/// NotReady, failing, a count that should be zero and is not.
pub fn bad() -> Style {
    Style::new().fg(Color::Red)
}

/// Cordoned, draining, pressures, old versions, things to keep an eye on.
pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

/// Nodes on their way out.
pub fn leaving() -> Style {
    Style::new().fg(Color::Magenta)
}

/// Something under way: a running step.
pub fn active() -> Style {
    Style::new().fg(Color::Cyan)
}

/// The product's name in the header.
pub fn brand() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// The READ-ONLY badge.
pub fn badge() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD)
}

/// The line that says what the cockpit cannot see.
pub fn blind() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// A key in the footer and the help.
pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// The border and title of the focused pane.
pub fn focused() -> Style {
    Style::new().fg(Color::Cyan)
}

/// The border of the other panes.
pub fn border() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The selected row of the focused list.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Column headings.
pub fn heading() -> Style {
    Style::new().fg(Color::DarkGray).add_modifier(Modifier::BOLD)
}

/// A count that should be zero: red when it is not.
pub fn count(n: usize) -> Style {
    if n > 0 {
        bad().add_modifier(Modifier::BOLD)
    } else {
        good()
    }
}

/// A count worth a look but not alarming in itself (cordoned, old).
pub fn notable(n: usize) -> Style {
    if n > 0 { warn() } else { plain() }
}

/// A node state word (`NodeRow::state`).
pub fn node_state(word: &str) -> Style {
    match word {
        "Ready" => good(),
        "NotReady" => bad().add_modifier(Modifier::BOLD),
        "Cordoned" | "Draining" => warn(),
        "Terminating" => leaving(),
        _ => plain(),
    }
}

/// A node condition: Ready not True is red, a pressure yellow.
pub fn condition(condition: &str, status: Tri) -> Style {
    match (condition, status) {
        ("Ready", Tri::True) => good(),
        ("Ready", _) => bad().add_modifier(Modifier::BOLD),
        (_, Tri::True) => warn(),
        _ => plain(),
    }
}

pub fn level(level: Level) -> Style {
    match level {
        Level::Info => plain(),
        Level::Warning => warn(),
        Level::Error => bad().add_modifier(Modifier::BOLD),
    }
}

/// A component or budget: green when healthy, red when not.
pub fn health(ok: bool) -> Style {
    if ok { good() } else { bad().add_modifier(Modifier::BOLD) }
}
