//! The terminal: raw mode and the alternate screen on start, restored on every exit
//! — normal return, error, panic, or SIGTERM/SIGINT/SIGHUP ([`Signals`]) — and frames
//! drawn as synchronized updates so the screen never flickers.

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

/// A signal that ends the cockpit: the loop stops, the terminal is restored, and the
/// process exits with the shell's code for it (128 + its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Hup => "SIGHUP",
        }
    }

    /// 143, 130 or 129, as a shell reports a process the signal ended.
    pub fn exit_code(self) -> i32 {
        128 + match self {
            Signal::Term => 15,
            Signal::Int => 2,
            Signal::Hup => 1,
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP, caught so that the cockpit restores the terminal
/// before it exits instead of dying in the alternate screen.
pub struct Signals {
    #[cfg(unix)]
    streams: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Starts catching them (inside a Tokio runtime).
    pub fn catch() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = vec![
                (Signal::Term, signal(SignalKind::terminate())?),
                (Signal::Int, signal(SignalKind::interrupt())?),
                (Signal::Hup, signal(SignalKind::hangup())?),
            ];
            Ok(Signals { streams })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// The next signal caught.
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            let waits = self.streams.iter_mut().map(|(sig, stream)| {
                let sig = *sig;
                Box::pin(async move {
                    stream.recv().await;
                    sig
                })
            });
            futures::future::select_all(waits).await.0
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Int
        }
    }
}
