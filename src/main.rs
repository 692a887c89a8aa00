//! The `upshift` command: parses the command line, sets up error reports and logging
//! to a file, and runs the chosen command.

use std::path::PathBuf;

use clap::Parser;
use cli::{Cli, Commands, SimCommand};
use color_eyre::eyre::{Result, WrapErr, eyre};

mod cli;
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
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        // logs name people, clusters and reasons: readable by their owner only
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).wrap_err_with(|| {
        format!(
            "opening the log file {} (choose another with --log-file)",
            path.display()
        )
    })?;
    // the AWS SDKs log what they sign at trace: keys and signatures never reach the file
    let file = commands::redact::Redacting::new(file, commands::redact::Redactor::from_env());
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

/// Whether errors are shown in full: `--debug`, or UPSHIFT_LOG asking for debug or trace.
fn debug_wanted(flag: bool) -> bool {
    flag || std::env::var("UPSHIFT_LOG").is_ok_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("debug") || v.contains("trace")
    })
}

/// How an error reads on stderr. For a person: one line, the causes joined, and for
/// missing AWS credentials only what is missing and how to provide it (not the SDK's
/// chain of providers tried). With `debug`: the whole report, backtrace included
/// when RUST_BACKTRACE asks for one. The log file always gets the whole report.
fn error_text(e: &color_eyre::eyre::Report, debug: bool) -> String {
    tracing::error!("{e:?}");
    if debug {
        return format!("Error: {e:?}");
    }
    let credentials = e
        .chain()
        .find_map(|c| match c.downcast_ref::<upshift::cloud::CloudError>() {
            Some(upshift::cloud::CloudError::Credentials { action, .. }) => Some(action.clone()),
            _ => None,
        });
    match credentials {
        Some(action) => format!(
            "Error: no AWS credentials were found for {action}: set AWS_PROFILE to a configured \
             profile (run `aws sso login --profile NAME` first for an SSO profile), or set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; --debug shows what the AWS SDK tried"
        ),
        None => format!("Error: {e:#}"),
    }
}

fn main() {
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "{}",
                error_text(&e, debug_wanted(std::env::args().any(|a| a == "--debug")))
            );
            1
        }
    };
    std::process::exit(code)
}

fn run() -> Result<()> {
    use std::io::IsTerminal;
    // colours only for a person at a terminal: a pipe or a file gets plain text
    let theme = if std::io::stderr().is_terminal() {
        color_eyre::config::Theme::dark()
    } else {
        color_eyre::config::Theme::new()
    };
    color_eyre::config::HookBuilder::default().theme(theme).install()?;
    let cli = Cli::parse();
    let debug = debug_wanted(cli.debug);
    let log_path = cli.log_file.clone().unwrap_or_else(default_log_file);
    // taken (and so flushed) before any exit
    let mut guard = Some(init_logging(&log_path)?);
    tracing::info!(command = ?cli.command, "upshift starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| eyre!("starting the async runtime: {e}"))?;
    let result = runtime.block_on(async {
        match cli.command {
            Commands::Demo(args) => commands::demo::demo(args).await,
            Commands::Replay(args) => commands::replay::replay(&args).await,
            Commands::Watch(args) => commands::watch::watch(args).await,
            Commands::Drive(args) => match commands::drive::drive(args).await {
                // exit codes: 2 when the drive was refused (another rollout's journal, a drive running)
                Err(e) if e.downcast_ref::<commands::drive::Refused>().is_some() => {
                    eprintln!("{}", error_text(&e, debug));
                    drop(guard.take());
                    std::process::exit(2)
                }
                other => other,
            },
            Commands::Preflight(args) => {
                // exit codes say what preflight found: 0 nothing blocking, 1 blockers, 2 could not run
                let code = match commands::preflight::preflight(args).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("{}", error_text(&e, debug));
                        2
                    }
                };
                drop(guard.take());
                std::process::exit(code)
            }
            Commands::Plan(args) => {
                // exit codes: 0 written or valid, 1 the plan is invalid, 2 could not run
                let code = match commands::plan::plan(args).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("{}", error_text(&e, debug));
                        2
                    }
                };
                drop(guard.take());
                std::process::exit(code)
            }
            Commands::Report(args) => {
                // exit codes: 0 written, 2 the journal could not be read
                let code = match commands::report::report(&args) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("{}", error_text(&e, debug));
                        2
                    }
                };
                drop(guard.take());
                std::process::exit(code)
            }
            Commands::Campaign(args) => {
                // exit codes: 0 valid or written, 1 the campaign is invalid, 2 could not check or read
                let code = match commands::campaign::campaign(args).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("{}", error_text(&e, debug));
                        2
                    }
                };
                drop(guard.take());
                std::process::exit(code)
            }
            Commands::Sim(SimCommand::Serve(args)) => commands::sim::serve(args).await,
            Commands::Sim(SimCommand::Scenarios) => commands::sim::scenarios(),
            Commands::Sim(SimCommand::Check { scenario }) => commands::sim::check(&scenario),
        }
    });
    if let Err(e) = result {
        eprintln!("{}", error_text(&e, debug));
        drop(guard.take());
        std::process::exit(1)
    }
    Ok(())
}
