//! `upshift watch`: the read-only cockpit on any cluster, on a terminal or as JSON
//! lines (`--headless`).

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::WatchArgs;

pub async fn watch(args: WatchArgs) -> Result<()> {
    if !(args.interval > 0.0 && args.interval <= 3600.0) {
        return Err(eyre!(
            "--interval {}: must be between 0 and 3600 seconds",
            args.interval
        ));
    }
    let (client, connection) = super::connect(&args.cluster_args, None).await?;
    tracing::info!(context = %connection.context, server = %connection.server, "watching");
    let reader = upshift::cluster::ClusterReader::new(client);
    if args.headless {
        let opts = upshift::headless::watch::Options {
            every: std::time::Duration::from_secs_f64(args.interval),
            until_synced: args.until_synced,
        };
        upshift::headless::watch::run(reader, connection, opts, std::io::stdout().lock())
            .await
            .map_err(|e| eyre!("{e}"))?;
        return Ok(());
    }
    let clock = connection.clock.clone();
    let mut cockpit = upshift::cockpit::Cockpit::new(connection, clock.now());
    if let Some(cluster) = &args.cluster {
        // a shadow reads the cloud only when told which cluster: else it says nothing
        let cloud = super::aws(&args.aws, None).await?;
        super::support_calendar(&mut cockpit, &cloud, cluster, &[]).await;
    }
    let ended = upshift::app::run(reader, cockpit, move || clock.now(), None)
        .await
        .wrap_err("running the cockpit")?;
    if let upshift::app::Ended::Signal(sig) = ended {
        // the terminal is restored: exit as the signal would have
        std::process::exit(sig.exit_code());
    }
    Ok(())
}
