//! The cockpit's loop: batches of changes from the watches, terminal events and a
//! one-second tick come in through one `select!`; the screen is drawn only when
//! something changed, at most 20 times a second. No I/O happens on this path: the
//! watches run in their own tasks and hand over compact, already-projected records.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::cluster::ClusterReader;
use crate::cockpit::Cockpit;
use crate::model::Delta;
use crate::tui::Tui;
use crate::ui::{self, Intent};

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(50);
/// How many batches are taken in before the loop looks at keys and the clock again.
const MAX_BATCHES_PER_TURN: usize = 64;

/// Takes in every batch that is already waiting (up to a bound), so that a burst of
/// changes costs one redraw.
pub fn drain(cockpit: &mut Cockpit, first: Delta, rx: &mut mpsc::Receiver<Delta>) {
    cockpit.apply(first);
    for _ in 1..MAX_BATCHES_PER_TURN {
        match rx.try_recv() {
            Ok(d) => cockpit.apply(d),
            Err(_) => break,
        }
    }
}

/// Runs the read-only cockpit on a terminal until the user quits. `now` tells the
/// time ages are measured against: the wall clock, or a simulator's virtual clock.
pub async fn run(
    reader: ClusterReader,
    mut cockpit: Cockpit,
    now: impl Fn() -> jiff::Timestamp,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = reader.start(tx);
    let mut tui = Tui::start()?;
    let mut keys = crossterm::event::EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            Some(delta) = rx.recv() => drain(&mut cockpit, delta, &mut rx),
            event = keys.next() => match event {
                Some(Ok(crossterm::event::Event::Key(key))) if key.kind != crossterm::event::KeyEventKind::Release => {
                    cockpit.dirty = true;
                    if ui::handle_key(&mut cockpit, key) == Some(Intent::Quit) {
                        break;
                    }
                }
                Some(Ok(crossterm::event::Event::Resize(..))) => {
                    tui.terminal.autoresize()?;
                    cockpit.dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            },
            _ = tick.tick() => cockpit.tick(now()),
            _ = frame.tick() => {
                if cockpit.dirty {
                    cockpit.refresh();
                    tui.draw(|f| ui::draw(f, &cockpit))?;
                    cockpit.dirty = false;
                }
            }
        }
    }
    Ok(())
}
