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
    /// The rollout a lead is driving on this cluster, as the lead publishes it (phase,
    /// steps, the gate with its criteria and decision), for a shadow's script to relay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<&'a crate::model::RolloutState>,
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

/// How long `--until-synced` waits: for the API server's first answer, and for every
/// watch to have listed.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(15);
pub const SYNC_LIMIT: Duration = Duration::from_secs(120);

/// Why the headless watch stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The API server did not answer well: refused credentials, an untrusted
    /// certificate, an address that does not answer.
    #[error("{0}")]
    Cluster(String),
    /// Not every watch listed within [`SYNC_LIMIT`]: which did not, and why.
    #[error("not synced after {}s: {}", .after.as_secs(), .sources)]
    NotSynced { after: Duration, sources: String },
    #[error("writing to stdout: {0}")]
    Io(#[from] std::io::Error),
}

/// The API server's first answer, within [`ANSWER_LIMIT`], or what went wrong.
async fn first_answer(reader: &ClusterReader, server: &str) -> Result<String, WatchError> {
    match tokio::time::timeout(ANSWER_LIMIT, reader.server_version()).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(WatchError::Cluster(crate::cluster::connect::explain(&e, server))),
        Err(_) => Err(WatchError::Cluster(format!(
            "the API server {server} did not answer within {}s: check its address in the kubeconfig and the network",
            ANSWER_LIMIT.as_secs()
        ))),
    }
}

/// Runs until interrupted (or synced, with `until_synced`), writing lines to `out`.
/// With `until_synced`, an API server that refuses the credentials, is not trusted or
/// does not answer is an error, and so is a view not synced within [`SYNC_LIMIT`].
pub async fn run(
    reader: ClusterReader,
    connection: Connection,
    opts: Options,
    mut out: impl Write,
) -> Result<(), WatchError> {
    let started = Instant::now();
    if opts.until_synced {
        first_answer(&reader, &connection.server).await?;
    }
    let deadline = tokio::time::sleep(SYNC_LIMIT);
    tokio::pin!(deadline);
    let clock = connection.clock.clone();
    let mut cockpit = Cockpit::new(connection, clock.now());
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
                    cockpit.take_in(d, &mut rx);
                    if synced_after.is_none() && cockpit.model.synced() {
                        synced_after = Some(started.elapsed().as_millis());
                        if opts.until_synced {
                            cockpit.tick(clock.now());
                            write_line(&mut out, &cockpit, started, synced_after)?;
                            return Ok(());
                        }
                    }
                }
                None => return Ok(()),
            },
            _ = every.tick() => {
                cockpit.tick(clock.now());
                write_line(&mut out, &cockpit, started, synced_after)?;
            }
            _ = &mut deadline, if opts.until_synced => {
                let sources = cockpit
                    .model
                    .sources
                    .iter()
                    .filter(|(_, st)| !matches!(st, SourceState::Synced))
                    .map(|(src, st)| format!("{src:?} {}", describe(st)))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(WatchError::NotSynced { after: SYNC_LIMIT, sources });
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
        at: c.connection.clock.now().to_string(),
        context: &c.connection.context,
        server_version: c.model.server_version.as_deref(),
        elapsed_ms: started.elapsed().as_millis(),
        synced_after_ms,
        sources: c.model.sources.iter().map(|(k, v)| (*k, v)).collect(),
        signals: &c.signals,
        peak_rss_mib: peak_rss_mib(),
        rollout: c.rollout.as_ref(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn describe(state: &SourceState) -> String {
    match state {
        SourceState::Syncing => "still listing".into(),
        SourceState::Synced => "synced".into(),
        SourceState::Forbidden(m) => format!("forbidden: {m}"),
        SourceState::Failing(m) => format!("failing: {m}"),
        SourceState::Absent => "not served".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::{GateView, Phase, RolloutState};

    #[test]
    fn a_followed_rollout_is_on_every_line() {
        let mut c = Cockpit::new(Connection::default(), jiff::Timestamp::UNIX_EPOCH);
        let mut out = Vec::new();
        write_line(&mut out, &c, Instant::now(), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("rollout").is_none(), "no rollout followed: {v}");

        c.set_rollout(RolloutState {
            cluster: "prod-eu".into(),
            target: "1.31".into(),
            phase: Phase::Gate,
            gate: Some(GateView {
                title: "before nodegroup apps".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut out = Vec::new();
        write_line(&mut out, &c, Instant::now(), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rollout"]["cluster"], "prod-eu");
        assert_eq!(v["rollout"]["phase"]["kind"], "gate");
        assert_eq!(v["rollout"]["gate"]["title"], "before nodegroup apps");
    }
}
