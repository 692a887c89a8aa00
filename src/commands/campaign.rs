//! `upshift campaign`: `new` writes the commented template, `check` validates a
//! campaign file against its plans and clusters, `status` says where every cluster
//! stands and what is due.

use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::campaign::{self, Campaign};

use crate::cli::{CampaignCheckArgs, CampaignCommand, CampaignStatusArgs, Format};

/// Runs a campaign subcommand; returns the exit code.
pub async fn campaign(args: crate::cli::CampaignArgs) -> Result<i32> {
    match args.command {
        CampaignCommand::New { output } => new(output.as_deref()),
        CampaignCommand::Check(a) => check(&a).await,
        CampaignCommand::Status(a) => status(&a).await,
        CampaignCommand::Drive(a) => super::campaign_drive::drive(a).await,
    }
}

fn new(output: Option<&std::path::Path>) -> Result<i32> {
    match output {
        None => print!("{}", campaign::TEMPLATE),
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .wrap_err_with(|| {
                    format!(
                        "writing the campaign template to {} (an existing file is not overwritten: choose another name)",
                        path.display()
                    )
                })?;
            std::io::Write::write_all(&mut file, campaign::TEMPLATE.as_bytes())
                .wrap_err_with(|| format!("writing the campaign template to {}", path.display()))?;
            eprintln!(
                "Wrote {}. Fill in your clusters and windows, then: upshift campaign check {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(0)
}

async fn check(args: &CampaignCheckArgs) -> Result<i32> {
    let c = match Campaign::load(&args.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let checked = campaign::check::check(&c, args.offline).await;
    for e in checked.invalid.iter().chain(&checked.unchecked) {
        eprintln!("{e}");
    }
    let clusters = c.clusters().count();
    match checked.exit_code() {
        0 => {
            println!(
                "{}: valid{} ({} stages, {} clusters, {} windows, target {})",
                args.file.display(),
                if args.offline {
                    " (the file and its plans; the clusters not reached)"
                } else {
                    ""
                },
                c.stages.len(),
                clusters,
                c.windows.len(),
                c.target
            );
            for p in &checked.passed {
                println!("  {p}");
            }
        }
        1 => eprintln!("{}: invalid", args.file.display()),
        _ => eprintln!(
            "{}: not every cluster could be checked (run it again when they answer, or --offline for the file alone)",
            args.file.display()
        ),
    }
    Ok(checked.exit_code())
}

async fn status(args: &CampaignStatusArgs) -> Result<i32> {
    let c = match Campaign::load(&args.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let now = match &args.at {
        None if args.offline => jiff::Timestamp::now(),
        None => campaign::live::cluster_now(&c)
            .await
            .unwrap_or_else(jiff::Timestamp::now),
        Some(t) => t.parse::<jiff::Timestamp>().map_err(|e| {
            eyre!("--at {t:?}: {e}; write an instant with its offset, e.g. 2026-12-08T22:30Z or 2026-12-08T22:30+01:00")
        })?,
    };
    let states = campaign::live::states(&c, args.offline).await;
    let status = campaign::status::build(&c, &states, now);
    print!(
        "{}",
        match args.format {
            Format::Text => status.text(),
            Format::Json => status.json(),
            Format::Markdown => status.markdown(),
        }
    );
    Ok(0)
}
