//! The cockpit's screen: `draw` is a pure function of the cockpit's state; keys
//! change the view through the keymap.

use ratatui::Frame;

use crate::cockpit::Cockpit;

/// What the screen shows besides the data: focus, selection, filter, overlays.
#[derive(Clone, Debug, Default)]
pub struct View {}

/// What a key asks of the loop beyond changing the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Quit,
}

pub fn draw(frame: &mut Frame, cockpit: &Cockpit) {
    let _ = (frame, cockpit);
}

/// Changes the view for a key; returns what the loop must do besides.
pub fn handle_key(cockpit: &mut Cockpit, key: crossterm::event::KeyEvent) -> Option<Intent> {
    let _ = cockpit;
    match key.code {
        crossterm::event::KeyCode::Char('q') => Some(Intent::Quit),
        _ => None,
    }
}
