//! `upshift watch --headless`: the same model and signals as the cockpit, without a
//! terminal UI: one JSON line per interval on stdout, for scripts and benchmarks.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::cluster::{ClusterReader, Connection};
use crate::cockpit::Cockpit;
use crate::model::{Signals, Source, SourceState};

/// One line of output.
#[derive(Serialize)]
pub struct Line<'a> {
    /// Wall-clock time of the line.
    pub at: String,
    pub context: &'a str,
    pub server_version: Option<&'a str>,
    /// Milliseconds since the watches started.
    pub elapsed_ms: u128,
    /// When every watch had listed what it may see, in milliseconds since start.
    pub synced_after_ms: Option<u128>,
    pub sources: std::collections::BTreeMap<Source, &'a SourceState>,
    #[serde(flatten)]
    pub signals: &'a Signals,
    /// This process's peak resident memory so far, in MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// How the headless watch runs.
pub struct Options {
    pub every: Duration,
    /// Print one line as soon as the model is complete, then stop.
    pub until_synced: bool,
}

/// Runs until interrupted (or synced, with `until_synced`), writing lines to `out`.
pub async fn run(
    reader: ClusterReader,
    connection: Connection,
    opts: Options,
    mut out: impl Write,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut cockpit = Cockpit::new(connection, true, jiff::Timestamp::now());
    let (tx, mut rx) = mpsc::channel(256);
    let _watches = reader.start(tx);
    let mut every = tokio::time::interval(opts.every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    every.tick().await;
    let mut synced_after = None;
    loop {
        tokio::select! {
            delta = rx.recv() => match delta {
                Some(d) => {
                    crate::app::drain(&mut cockpit, d, &mut rx);
                    if synced_after.is_none() && cockpit.model.synced() {
                        synced_after = Some(started.elapsed().as_millis());
                        if opts.until_synced {
                            cockpit.tick(jiff::Timestamp::now());
                            write_line(&mut out, &cockpit, started, synced_after)?;
                            return Ok(());
                        }
                    }
                }
                None => return Ok(()),
            },
            _ = every.tick() => {
                cockpit.tick(jiff::Timestamp::now());
                write_line(&mut out, &cockpit, started, synced_after)?;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn write_line(
    out: &mut impl Write,
    c: &Cockpit,
    started: Instant,
    synced_after_ms: Option<u128>,
) -> std::io::Result<()> {
    let line = Line {
        at: jiff::Timestamp::now().to_string(),
        context: &c.connection.context,
        server_version: c.model.server_version.as_deref(),
        elapsed_ms: started.elapsed().as_millis(),
        synced_after_ms,
        sources: c.model.sources.iter().map(|(k, v)| (*k, v)).collect(),
        signals: &c.signals,
        peak_rss_mib: peak_rss_mib(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    out.flush()
}
