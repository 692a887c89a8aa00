//! The `upshift` command: parses the command line, sets up error reports and logging
//! to a file, and runs the chosen command.

use std::path::PathBuf;

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::cli::{Cli, Command, SimCommand};

mod commands;

fn default_log_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("upshift").join("upshift.log")
}

/// Logs go to a file: the terminal belongs to the cockpit.
fn init_logging(path: &std::path::Path) -> Result<tracing_appender::non_blocking::WorkerGuard> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating the log directory {}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .wrap_err_with(|| {
            format!(
                "opening the log file {} (choose another with --log-file)",
                path.display()
            )
        })?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("UPSHIFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Ok(guard)
}

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let log_path = cli.log_file.clone().unwrap_or_else(default_log_file);
    let _guard = init_logging(&log_path)?;
    tracing::info!(command = ?cli.command, "upshift starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| eyre!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => commands::demo(args).await,
            Command::Watch(args) => commands::watch(args).await,
            Command::Drive(args) => commands::drive(args).await,
            Command::Preflight(args) => {
                // exit codes say what preflight found: 0 nothing blocking, 1 blockers, 2 could not run
                let code = match commands::preflight(args).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("Error: {e:#}");
                        2
                    }
                };
                drop(_guard);
                std::process::exit(code)
            }
            Command::Plan(args) => {
                // exit codes: 0 written or valid, 1 the plan is invalid, 2 could not run
                let code = match commands::plan(args).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("Error: {e:#}");
                        2
                    }
                };
                drop(_guard);
                std::process::exit(code)
            }
            Command::Sim(SimCommand::Serve(args)) => commands::serve(args).await,
            Command::Sim(SimCommand::Scenarios) => commands::scenarios(),
            Command::Sim(SimCommand::Check { scenario }) => commands::check(&scenario),
        }
    })
}
