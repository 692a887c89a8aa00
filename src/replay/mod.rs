//! `upshift replay JOURNAL`: the read-only cockpit playing a past rollout for study.
//! The journal gives the rollout pane's steps and the event log; the timeline
//! recorded beside it (see `timeline`) gives the rollout pane and its gates as they
//! were, and the signals and node states at each moment. The [`player`] decides what
//! moment is shown; [`show`] puts it into an ordinary read-only cockpit, which the
//! screen draws as it draws a live one, under a REPLAY header.

pub mod player;

use std::path::Path;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;

use crate::cluster::Connection;
use crate::cockpit::Cockpit;
use crate::model::journal::What;
use crate::model::{Level, LogEntry, Timestamp};
use crate::tui::Tui;
use crate::ui;
use player::Player;

/// A journal and its timeline, read for a replay.
pub struct Loaded {
    pub player: Player,
    pub connection: Connection,
    /// What the replay cannot show, and what was left out on reading, one phrase each.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Journal(#[from] crate::report::ReadError),
    #[error(transparent)]
    Timeline(#[from] crate::timeline::record::TimelineError),
}

/// Reads the journal at `path` and the timeline beside it (if any).
pub fn load(path: &Path) -> Result<Loaded, ReplayError> {
    let journal = crate::report::read(path)?;
    let timeline_path = crate::timeline::path_for(path);
    let timeline = crate::timeline::read(&timeline_path)?;
    let mut notes = Vec::new();
    if journal.torn_tail {
        notes.push("the journal's last line was cut short and is left out".to_string());
    }
    let samples = match timeline {
        Some(t) => {
            if t.skipped > 0 {
                notes.push(format!(
                    "{} timeline lines could not be read and are left out",
                    t.skipped
                ));
            }
            t.samples
        }
        None => {
            notes.push(format!(
                "no timeline ({} is missing): the rollout pane and events only",
                timeline_path.display()
            ));
            Vec::new()
        }
    };
    let mut connection = Connection {
        context: "replay".into(),
        cluster: String::new(),
        server: path.display().to_string(),
        user: String::new(),
        clock: Default::default(),
    };
    for e in &journal.entries {
        match &e.what {
            What::Header(h) => connection.cluster = h.cluster.clone(),
            What::Drive { .. } if connection.user.is_empty() => connection.user = e.who.clone(),
            _ => {}
        }
    }
    Ok(Loaded {
        player: Player::new(journal.entries, samples),
        connection,
        notes,
    })
}

/// A read-only cockpit for the replay, showing the player's first moment.
pub fn cockpit(loaded: &mut Loaded) -> Cockpit {
    let at = loaded
        .player
        .moment()
        .map(|m| m.at)
        .unwrap_or_else(|| Timestamp::from_second(0).unwrap_or_default());
    let mut c = Cockpit::new(loaded.connection.clone(), at);
    // nothing is listed in a replay: every pane shows what was recorded
    for state in c.model.sources.values_mut() {
        *state = crate::model::SourceState::Synced;
    }
    c.view.message = Some(HINTS.to_string());
    for n in &loaded.notes {
        c.log.push(LogEntry::local(Level::Warning, "Replay", n.clone()));
    }
    show(&mut loaded.player, &mut c, &loaded.notes);
    c
}

/// The header's words: the moment shown, where it is, the speed.
pub fn header(p: &Player, notes: &[String]) -> String {
    let Some(m) = p.moment() else {
        return "the journal holds no entries".to_string();
    };
    let state = if p.at_end() {
        "end".to_string()
    } else if p.paused() {
        "paused".to_string()
    } else {
        format!("▶ {}×", p.speed())
    };
    let mut out = format!(
        "{} · moment {}/{} · journal #{} · {state}",
        m.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        p.index() + 1,
        p.len(),
        m.seq
    );
    if !p.has_timeline() {
        out.push_str(" · no timeline: rollout and events only");
    } else if let Some(n) = notes.first() {
        out.push_str(&format!(" · {n}"));
    }
    out
}

/// The replay's keys, for the footer.
pub const HINTS: &str = "space pause · +/- speed · n next decision · j or 1-9 jump to step · q quit";

/// Puts the player's moment into the cockpit: rollout, signals, the journal up to it.
pub fn show(p: &mut Player, c: &mut Cockpit, notes: &[String]) {
    let frame = p.frame();
    if let Some(at) = frame.at {
        c.now = at;
        c.log.now = Some(at);
    }
    if let Some(r) = frame.rollout {
        c.set_rollout(r);
    }
    if let Some(s) = frame.signals {
        c.signals = s;
    }
    if frame.seq < c.journal_seq() {
        c.restart_log();
        for n in notes {
            c.log.push(LogEntry::local(Level::Warning, "Replay", n.clone()));
        }
    }
    let end = p.entries().partition_point(|e| e.seq <= frame.seq);
    c.note_journal(&p.entries()[..end]);
    c.replay = Some(header(p, notes));
    c.dirty = true;
}

/// What a key does in a replay: the player's keys first, then the cockpit's own
/// (focus, scrolling, details, filter, help). Returns true to quit.
pub fn key(p: &mut Player, c: &mut Cockpit, notes: &[String], jump: &mut Option<String>, key: KeyEvent) -> bool {
    if let Some(typed) = jump {
        match key.code {
            KeyCode::Char(d) if d.is_ascii_digit() => typed.push(d),
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Enter => {
                let n = typed.parse::<usize>().unwrap_or(0);
                c.view.message = Some(match p.jump_to_step(n) {
                    Ok(_) => format!("step {n} started here · {HINTS}"),
                    Err(why) => why,
                });
                *jump = None;
            }
            _ => {
                *jump = None;
                c.view.message = Some(HINTS.to_string());
            }
        }
        if let Some(typed) = jump {
            c.view.message = Some(format!("jump to step: {typed}▏ (Enter to jump, Esc to cancel)"));
        }
        show(p, c, notes);
        return false;
    }
    if c.view.overlay.is_none() && c.view.prompt.is_none() {
        match key.code {
            KeyCode::Char('q') => return true,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return true,
            KeyCode::Char(' ') => p.toggle_pause(),
            KeyCode::Char('+') | KeyCode::Char('=') => p.faster(),
            KeyCode::Char('-') => p.slower(),
            KeyCode::Char('n') => {
                if p.next_decision().is_none() {
                    c.view.message = Some(format!("no decision after this moment · {HINTS}"));
                }
            }
            KeyCode::Char('j') => *jump = Some(String::new()),
            KeyCode::Char(d @ '1'..='9') => *jump = Some(d.to_string()),
            KeyCode::Home => p.seek(0),
            KeyCode::End => p.seek(usize::MAX),
            _ => {
                let _ = ui::handle_key(c, key);
                return false;
            }
        }
        if let Some(typed) = jump {
            c.view.message = Some(format!("jump to step: {typed}▏ (Enter to jump, Esc to cancel)"));
        }
        show(p, c, notes);
        return false;
    }
    // an overlay or the filter has the keys; a decision never reaches anything
    let _ = ui::handle_key(c, key);
    false
}

/// Plays the replay on the terminal until the user quits.
pub async fn run(mut loaded: Loaded) -> std::io::Result<()> {
    let mut c = cockpit(&mut loaded);
    let Loaded { mut player, notes, .. } = loaded;
    let mut tui = Tui::start()?;
    let mut keys = crossterm::event::EventStream::new();
    let step = Duration::from_millis(100);
    let mut tick = tokio::time::interval(step);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut jump = None;
    loop {
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(crossterm::event::Event::Key(k))) if k.kind != crossterm::event::KeyEventKind::Release => {
                    if key(&mut player, &mut c, &notes, &mut jump, k) {
                        break;
                    }
                    c.dirty = true;
                }
                Some(Ok(crossterm::event::Event::Resize(..))) => {
                    tui.terminal.autoresize()?;
                    c.dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            },
            _ = tick.tick() => {
                if player.advance(step) {
                    show(&mut player, &mut c, &notes);
                } else if !player.paused() || c.replay.as_deref() != Some(header(&player, &notes).as_str()) {
                    c.replay = Some(header(&player, &notes));
                    c.dirty = true;
                }
                if c.dirty {
                    let mut measured = Default::default();
                    tui.draw(|f| measured = ui::draw(f, &c))?;
                    c.view.remember(&measured);
                    c.dirty = false;
                }
            }
        }
    }
    Ok(())
}
