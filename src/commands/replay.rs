//! `upshift replay JOURNAL`: a past rollout played in the read-only cockpit.

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::ReplayArgs;

pub async fn replay(args: &ReplayArgs) -> Result<()> {
    use std::io::IsTerminal;
    let loaded = upshift::replay::load(&args.journal).map_err(|e| eyre!("{e}"))?;
    if loaded.player.is_empty() {
        return Err(eyre!("journal {}: no entries to replay", args.journal.display()));
    }
    if !std::io::stdout().is_terminal() {
        return Err(eyre!(
            "replay needs a terminal; for a rollout as text use `upshift report {}`",
            args.journal.display()
        ));
    }
    upshift::replay::run(loaded).await.wrap_err("running the replay")
}
