//! `upshift demo --campaign`: a whole campaign rehearsed on the simulator. Three
//! clusters (one pre-production, two production) served at once on one clock, a
//! campaign file with windows on that clock, and between drives the campaign's
//! status and what to do next: open the cockpit on the cluster due, accept a
//! problem the pre-production run left open, or move the clock to the soak's end or
//! the next window instead of waiting for it.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr, eyre};
use jiff::{SignedDuration, Timestamp};
use upshift::campaign::{self, Campaign, Due, WindowNow};
use upshift::sim::campaign::SimCampaign;

use crate::cli::DemoArgs;

/// The rehearsal's folder, beside the kubeconfig: its campaign file, plans and journals.
const FOLDER: &str = "upshift-rehearsal";
/// The campaign file in it.
const FILE: &str = "campaign.yaml";

pub async fn demo_campaign(args: &DemoArgs) -> Result<()> {
    let (sim, kc, aws_config, aws_env) = super::sim::start_campaign("rehearsal", args.speed, &args.kubeconfig).await?;
    let dir = kc.parent().unwrap_or(Path::new(".")).join(FOLDER);
    let result = rehearse(&sim, &kc, &aws_config, &dir).await;
    sim.shutdown().await;
    for f in [&kc, &aws_config, &aws_env] {
        let _ = std::fs::remove_file(f);
    }
    result?;
    println!(
        "The rehearsal's campaign file, plans and journals are in {} (`upshift report` reads a journal).",
        dir.display()
    );
    Ok(())
}

/// The campaign file of the rehearsal: the pre-production window open now, two
/// production windows a day apart, a soak of an hour, on the simulators' clock.
pub fn rehearsal_file(now: Timestamp, kubeconfig: &Path) -> String {
    let at = |hours: i64| {
        let t = now
            .saturating_add(SignedDuration::from_mins(hours * 60 - 5))
            .unwrap_or(now);
        t.strftime("%Y-%m-%dT%H:%M").to_string()
    };
    let kc = kubeconfig.display();
    format!(
        "# The campaign rehearsal: written by `upshift demo --campaign`, its times on the
# simulators' clock. Edit it as you would a real one; docs/campaign.md has every field.
name: rehearsal
target: \"1.35\"
timezone: UTC
windows:
  - {{name: staging-day, start: {s}, duration: 4h}}
  - {{name: prod-night-1, start: {p1}, duration: 90m}}
  - {{name: prod-night-2, start: {p2}, duration: 90m}}
stages:
  - name: pre-production
    windows: [staging-day]
    soak: 1h
    clusters:
      - {{name: staging-eu, kubeconfig: {kc}, aws: {{profile: staging-eu}}}}
  - name: production
    windows: [prod-night-1, prod-night-2]
    accept: []
    clusters:
      - {{name: prod-eu, kubeconfig: {kc}, aws: {{profile: prod-eu}}}}
      - {{name: prod-us, kubeconfig: {kc}, aws: {{profile: prod-us}}}}
",
        s = at(0),
        p1 = at(6),
        p2 = at(30),
    )
}

/// Writes `accept` entries for `problems` (cluster, problem) into the rehearsal's
/// file, under the production stage's `accept: []`.
pub fn with_accepted(text: &str, problems: &[(String, String)], reason: &str, by: &str) -> String {
    let mut clusters: Vec<&str> = problems.iter().map(|(c, _)| c.as_str()).collect();
    clusters.dedup();
    let mut entries = String::from("    accept:\n");
    for c in clusters {
        entries.push_str(&format!(
            "      - {{cluster: {c}, reason: {}, by: {}}}\n",
            serde_json::Value::String(reason.to_string()),
            serde_json::Value::String(by.to_string())
        ));
    }
    text.replacen("    accept: []\n", &entries, 1)
}

async fn ask(prompt: String) -> Result<Option<String>> {
    use std::io::Write;
    print!("{prompt} ");
    std::io::stdout().flush()?;
    let line = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s).map(|n| (n > 0).then_some(s))
    })
    .await??;
    Ok(line.map(|s| s.trim().to_string()).filter(|s| s != "q" && s != "quit"))
}

async fn rehearse(sim: &SimCampaign, kc: &Path, aws_config: &Path, dir: &Path) -> Result<()> {
    // a new rehearsal: the clusters are new, so are the journals and plans
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let file = dir.join(FILE);
    std::fs::write(&file, rehearsal_file(sim.clock().now(), kc))
        .wrap_err_with(|| format!("writing {}", file.display()))?;
    println!("Campaign rehearsal: three simulated EKS clusters on 1.34, to 1.35, pre-production first.");
    println!("  campaign file  {}", file.display());
    println!(
        "  kubeconfig     {} (a context per cluster; NAME-viewer read-only)",
        kc.display()
    );
    println!("  AWS            {} (a profile per cluster)", aws_config.display());
    println!(
        "Shadow a drive from another terminal: upshift watch --kubeconfig {} --context prod-eu-viewer",
        kc.display()
    );
    loop {
        let c = Campaign::load(&file).map_err(|e| eyre!("{e}"))?;
        let states = campaign::live::states(&c, false).await;
        let now = sim.clock().now();
        println!();
        print!("{}", campaign::status::build(&c, &states, now).text());
        println!();
        match campaign::due(&c, &states, now) {
            Due::Done => {
                println!("The campaign is done: every cluster is on {}.", c.target);
                return Ok(());
            }
            Due::Blocked { soak_until, .. } => {
                let stage = c.stages.iter().position(|s| {
                    s.clusters
                        .iter()
                        .any(|cl| !states.get(&cl.name).is_some_and(|st| st.progress.finished()))
                });
                let open: Vec<(String, String)> = stage
                    .map(|i| campaign::next::unaccepted(&c, i, &states))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                if !open.is_empty() {
                    let asked = ask(format!(
                        "Production waits on {} problem(s) left open in pre-production. Type a reason to accept them by name (written to the file's accept:), or q to stop:",
                        open.len()
                    ))
                    .await?;
                    let reason = match asked {
                        None => return Ok(()),
                        Some(r) if r.is_empty() => continue,
                        Some(r) => r,
                    };
                    let by = std::env::var("USER").unwrap_or_else(|_| "lead".into());
                    let text = std::fs::read_to_string(&file)?;
                    std::fs::write(&file, with_accepted(&text, &open, &reason, &by))?;
                } else if let Some(end) = soak_until {
                    if ask(format!(
                        "Enter: move the clock to the soak's end ({}); q: stop",
                        c.show(end)
                    ))
                    .await?
                    .is_none()
                    {
                        return Ok(());
                    }
                    advance_to(sim, end);
                } else if ask("Enter: check again; q: stop".into()).await?.is_none() {
                    return Ok(());
                }
            }
            Due::Drive { cluster, window, .. } => match window {
                WindowNow::Closed { next: Some(o) } => {
                    if ask(format!(
                        "Enter: move the clock to window {} ({}); q: stop",
                        o.name,
                        c.show(o.opens)
                    ))
                    .await?
                    .is_none()
                    {
                        return Ok(());
                    }
                    advance_to(sim, o.opens);
                }
                WindowNow::Closed { next: None } => {
                    println!(
                        "No window is left for {cluster}: add one to {} and run again.",
                        file.display()
                    );
                    return Ok(());
                }
                WindowNow::Open(_) | WindowNow::Anytime => {
                    if ask(format!("Enter: open the lead's cockpit on {cluster}; q: stop"))
                        .await?
                        .is_none()
                    {
                        return Ok(());
                    }
                    drive(&file, aws_config, dir).await?;
                }
            },
        }
    }
}

/// Moves the simulators' clock to a minute past `at`.
fn advance_to(sim: &SimCampaign, at: Timestamp) {
    let now = sim.clock().now();
    let by = at.duration_since(now) + SignedDuration::from_mins(1);
    if let Ok(by) = std::time::Duration::try_from(by) {
        sim.clock().advance(by);
    }
}

/// `upshift campaign drive FILE` in a process of its own, on this terminal.
async fn drive(file: &Path, aws_config: &Path, dir: &Path) -> Result<()> {
    let exe: PathBuf = std::env::current_exe().wrap_err("finding the upshift binary")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("campaign")
        .arg("drive")
        .arg(file)
        .current_dir(dir)
        .env("AWS_CONFIG_FILE", aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let status = cmd.status().await.wrap_err("running upshift campaign drive")?;
    if !status.success() {
        println!("(the drive ended with {status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rehearsal_file_is_a_valid_campaign_and_takes_an_acceptance() {
        let now: Timestamp = "2026-12-01T20:00:00Z".parse().unwrap();
        let text = rehearsal_file(now, Path::new("/tmp/kc"));
        let c = Campaign::from_yaml(&text, Path::new("c.yaml")).unwrap();
        assert_eq!(c.stages.len(), 2);
        assert_eq!(c.windows.len(), 3);
        let accepted = with_accepted(
            &text,
            &[("staging-eu".into(), "Deployment shop/recommendations down".into())],
            "a known bug: fixed in 3.0.2",
            "ana",
        );
        let c = Campaign::from_yaml(&accepted, Path::new("c.yaml")).unwrap();
        assert_eq!(c.stages[1].accept.len(), 1);
        assert_eq!(c.stages[1].accept[0].cluster, "staging-eu");
        assert_eq!(c.stages[1].accept[0].reason, "a known bug: fixed in 3.0.2");
    }
}
