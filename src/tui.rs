//! The terminal: raw mode and the alternate screen on start, restored on every exit
//! — normal return, error, or panic — and frames drawn as synchronized updates so
//! the screen never flickers.

use std::io::{Stdout, Write, stdout};

use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the cockpit runs; dropping it restores the terminal.
pub struct Tui {
    pub terminal: Term,
}

impl Tui {
    /// Enters raw mode and the alternate screen, and makes a panic restore the
    /// terminal before its message is printed.
    pub fn start() -> std::io::Result<Tui> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            hook(info);
        }));
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(
            stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        Ok(Tui { terminal })
    }

    /// Draws one frame as a single synchronized update.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> std::io::Result<()> {
        crossterm::queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.draw(render)?;
        crossterm::queue!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        self.terminal.backend_mut().flush()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode; harmless when not in them.
pub fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        stdout(),
        EndSynchronizedUpdate,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}
