//! `upshift drive PLAN`: the lead's cockpit on a real cluster and AWS, on a terminal
//! or screenless (`--headless`, in the library's `headless::drive`).

use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::DriveArgs;

/// The drive was refused for something the operator can see and change (another
/// rollout's journal, a drive already running): `upshift` exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// `upshift drive PLAN`: the lead's cockpit on a real cluster and AWS.
pub async fn drive(args: DriveArgs) -> Result<()> {
    use upshift::rollout::plan::Plan;
    let plan = Plan::load(&args.plan).map_err(|e| eyre!("{e}"))?;
    let (client, connection) = super::connect(&args.cluster_args, plan.cluster.context.clone()).await?;
    let cloud: Arc<dyn upshift::cloud::Cloud> = Arc::new(super::aws(&args.aws, plan.cluster.region.clone()).await?);
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("upshift-{}-{}.journal.jsonl", plan.cluster.name, plan.target)));
    let operator = upshift::rollout::identity::operator(&client).await;
    if let Some(source) = &operator.source {
        eprintln!("identity: {source}");
    }
    let notify = notify_config(&args, &plan)?;
    run(Run {
        plan,
        client,
        connection,
        cloud,
        journal,
        who: operator.who,
        take_over: args.take_over,
        options: upshift::rollout::drive::DriveOptions {
            window: args
                .window_closes
                .map(|closes| upshift::rollout::drive::WindowLimit::new(&args.window_name, closes)),
            ..Default::default()
        },
        notify,
        headless: args.headless,
    })
    .await
}

/// A drive about to start: the plan, where it runs, who drives, and how.
pub(super) struct Run {
    pub plan: upshift::rollout::plan::Plan,
    pub client: kube::Client,
    pub connection: upshift::cluster::Connection,
    pub cloud: Arc<dyn upshift::cloud::Cloud>,
    pub journal: PathBuf,
    /// The operator (`user@host`).
    pub who: String,
    pub take_over: bool,
    pub options: upshift::rollout::drive::DriveOptions,
    /// The notifications and where their configuration was read.
    pub notify: Option<(upshift::notify::NotifyConfig, String)>,
    pub headless: bool,
}

/// Runs a drive in the lead's cockpit (or screenless) until it ends or stops.
pub(super) async fn run(r: Run) -> Result<()> {
    let Run {
        plan,
        client,
        connection,
        cloud,
        journal,
        who,
        take_over,
        options,
        notify,
        headless,
    } = r;
    let setup = upshift::rollout::drive::Setup {
        plan: plan.clone(),
        client: client.clone(),
        cloud: cloud.clone(),
        journal: journal.clone(),
        who: who.clone(),
        now: connection.clock.as_now(),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over,
        options,
    };
    let drive = match upshift::rollout::drive::prepare(setup).await {
        Ok(drive) => drive,
        Err(e) if e.is_refusal() => return Err(Refused(e.to_string()).into()),
        Err(e) => {
            return Err(eyre!("{e}"))
                .wrap_err_with(|| format!("starting the drive on context {:?}", connection.context));
        }
    };
    eprintln!("journal: {}", journal.display());
    let mut handle = drive.start();
    let thread = match notify {
        Some((config, at)) => {
            let (thread, entries, warnings) = upshift::rollout::thread::Thread::start(
                upshift::rollout::thread::ThreadSetup {
                    plan: &plan,
                    config: &config,
                    at,
                    journal: &journal,
                    who: who.clone(),
                    now: connection.clock.as_now(),
                },
                handle.entries,
                handle.state.clone(),
            )
            .map_err(|e| eyre!("{e}"))?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            eprintln!(
                "notifications: {} sink(s); deliveries recorded in {}",
                config.sinks.len(),
                upshift::rollout::thread::record_path(&journal).display()
            );
            handle.entries = entries;
            Some(thread)
        }
        None => None,
    };
    let (controls, feed, task) = seat(handle, &journal);
    let mut cockpit = upshift::cockpit::Cockpit::lead(connection.clone(), controls, connection.clock.now());
    let reader = upshift::cluster::ClusterReader::new(client);
    if headless {
        let result = upshift::headless::drive::run(reader, cockpit, feed, task)
            .await
            .map_err(|e| eyre!("{e}"));
        finish_thread(thread).await;
        return result;
    }
    // the header's support calendar: only a screen shows it
    let minors = [plan.from.clone(), plan.target.clone()];
    super::support_calendar(&mut cockpit, cloud.as_ref(), &plan.cluster.name, &minors).await;
    let state = feed.state.clone();
    let ended = upshift::app::run(reader, cockpit, move || connection.clock.now(), Some(feed))
        .await
        .wrap_err("running the cockpit");
    finish_thread(thread).await;
    if let upshift::app::Ended::Signal(sig) = ended? {
        // the terminal is restored; give the drive a moment to journal that it stopped
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        eprintln!(
            "Stopped by {}. Run the same command again to resume; journal: {}",
            sig.name(),
            journal.display()
        );
        std::process::exit(sig.exit_code());
    }
    let st = state.borrow().clone();
    let (done, all) = st.progress();
    if let Some(to) = &st.handed_to {
        println!(
            "Handed over to {to} ({done} of {all} steps done): they resume with the same `upshift drive` command; follow the rollout read-only with `upshift watch` on this cluster. Journal: {}",
            journal.display()
        );
        return Ok(());
    }
    match upshift::ui::quit::carries_on(&st) {
        Some(goes_on) => println!(
            "Stopped {} ({done} of {all} steps done). {goes_on} {} Journal: {}",
            st.phase.name(),
            upshift::ui::quit::RESUME,
            journal.display()
        ),
        None => println!(
            "Stopped {} ({done} of {all} steps done). Run the same command again to resume; journal: {}",
            st.phase.name(),
            journal.display()
        ),
    }
    Ok(())
}

/// The lead's seat on a started drive: the controls the cockpit's decisions go
/// through, what the cockpit's loop reads from the drive, and the drive's task.
pub(super) fn seat(
    h: upshift::rollout::drive::DriveHandle,
    journal: &std::path::Path,
) -> (
    upshift::cockpit::lead::Controls,
    upshift::cockpit::lead::DriveFeed,
    tokio::task::JoinHandle<std::result::Result<upshift::model::RolloutState, upshift::rollout::drive::DriveError>>,
) {
    let feed = upshift::cockpit::lead::DriveFeed {
        state: h.state,
        entries: h.entries,
        health: h.health,
        timeline: Some(upshift::timeline::path_for(journal)),
    };
    (upshift::cockpit::lead::Controls::new(h.commands), feed, h.task)
}

/// The notifications the drive sends: `--notify FILE`, else the plan's `notify:`
/// section, else none; with where errors point.
fn notify_config(
    args: &DriveArgs,
    plan: &upshift::rollout::plan::Plan,
) -> Result<Option<(upshift::notify::NotifyConfig, String)>> {
    if let Some(path) = &args.notify {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading --notify {shown}"))?;
        let config = upshift::notify::NotifyConfig::from_yaml(&text, &shown).map_err(|e| eyre!("{e}"))?;
        return Ok(Some((config, shown)));
    }
    let file = plan
        .origin
        .as_ref()
        .map_or_else(|| "the plan".to_string(), |o| o.file.clone());
    Ok(plan.notify.clone().map(|c| (c, format!("{file}: notify"))))
}

/// Lets the thread deliver what it holds, and says what it could not.
async fn finish_thread(thread: Option<upshift::rollout::thread::Thread>) {
    if let Some(t) = thread {
        for line in t.finish().await {
            eprintln!("warning: {line}");
        }
    }
}
