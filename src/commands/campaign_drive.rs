//! `upshift campaign drive FILE`: the lead's cockpit on the cluster a campaign has
//! due, inside its stage's window, with the campaign's strip; refused, with the
//! reason, when nothing may start.

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::campaign::file::Cluster;
use upshift::campaign::{self, Campaign, Due, WindowNow};
use upshift::cloud::{AwsCloud, AwsOptions};
use upshift::rollout::drive::{DriveOptions, WindowLimit};
use upshift::rollout::plan::{self, Environment, Plan, ProposeOptions, Strategy};

use super::drive::Refused;
use crate::cli::CampaignDriveArgs;

/// Runs the drive of the cluster due; returns the exit code (2: refused).
pub async fn drive(args: CampaignDriveArgs) -> Result<i32> {
    let c = match Campaign::load(&args.file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let states = campaign::live::states(&c, false).await;
    let now = campaign::live::cluster_now(&c)
        .await
        .unwrap_or_else(jiff::Timestamp::now);
    let (stage_name, name, resume, window, drivers) = match campaign::due(&c, &states, now) {
        Due::Done => {
            println!("Campaign {} is done: every cluster is on {}.", c.name, c.target);
            return Ok(0);
        }
        Due::Blocked { stage, reasons, .. } => {
            eprintln!("Campaign {}: stage {stage} may not start:", c.name);
            for r in &reasons {
                eprintln!("  - {r}");
            }
            eprintln!("`upshift campaign status {}` shows every cluster.", args.file.display());
            return Ok(2);
        }
        Due::Drive {
            stage,
            cluster,
            resume,
            window,
            drivers,
        } => (stage, cluster, resume, window, drivers),
    };
    let cluster = c
        .clusters()
        .map(|(_, cl)| cl)
        .find(|cl| cl.name == name)
        .ok_or_else(|| eyre!("cluster {name} is due but not in {}", args.file.display()))?
        .clone();
    let (client, connection) = upshift::cluster::connect(cluster.kubeconfig.as_deref(), Some(&cluster.context))
        .await
        .wrap_err_with(|| format!("connecting to cluster {name} (context {:?})", cluster.context))?;
    let operator = upshift::rollout::identity::operator(&client).await;
    if let Some(source) = &operator.source {
        eprintln!("identity: {source}");
    }
    let user = operator.who.split('@').next().unwrap_or_default().to_string();
    if !drivers.is_empty() && !drivers.contains(&user) {
        eprintln!(
            "Refused: stage {stage_name} is driven by {} (its `drivers:`); you are {user}. Ask one of them, or add {user} to the stage's drivers.",
            drivers.join(", ")
        );
        return Ok(2);
    }
    let now = connection.clock.now();
    let mut limit = match &window {
        WindowNow::Anytime => None,
        WindowNow::Open(o) => Some(WindowLimit::new(&o.name, o.closes)),
        WindowNow::Closed { next } => {
            let Some(reason) = args.outside_window.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
                let next = match next {
                    Some(o) => format!(
                        "the next, {}, opens {} (in {})",
                        o.name,
                        c.show(o.opens),
                        campaign::window::left(o.opens.duration_since(now))
                    ),
                    None => "none is left in the file: add one".to_string(),
                };
                eprintln!(
                    "Refused: no window of stage {stage_name} is open for cluster {name}; {next}. Run it then, or give --outside-window REASON (journaled)."
                );
                return Ok(2);
            };
            // started early by the lead's word: it must still end with the next window
            let mut l = match next {
                Some(o) => WindowLimit::new(&o.name, o.closes),
                None => WindowLimit::new(
                    "none",
                    now.saturating_add(jiff::SignedDuration::from_hours(24)).unwrap_or(now),
                ),
            };
            l.outside_override = Some(reason.to_string());
            Some(l)
        }
    };
    if let Some(l) = &mut limit {
        l.expected = campaign::expected_durations(&c, &states);
    }
    // the drive keeps the state of the cluster it drives up to date on the strip
    let strip = campaign::strip(&c, &states, &name, now);
    let cloud = AwsCloud::connect(&AwsOptions {
        region: cluster.aws_region.clone(),
        profile: cluster.aws_profile.clone(),
        ..Default::default()
    })
    .await
    .wrap_err_with(|| format!("the AWS configuration of cluster {name} (its `aws:` in the campaign file)"))?;
    let plan = plan_of(&c, &cluster, &stage_name, &client, &connection, &cloud).await?;
    if plan.target != c.target.to_string() {
        return Err(Refused(format!(
            "the plan of cluster {name} goes to {}, the campaign to {}: fix its `plan:`",
            plan.target, c.target
        ))
        .into());
    }
    eprintln!(
        "campaign {}: {} cluster {name} (stage {stage_name}){}",
        c.name,
        if resume { "resuming" } else { "starting" },
        match &limit {
            Some(l) => format!(", {}", l.phrase(now)),
            None => String::new(),
        }
    );
    let notify = plan.notify.clone().map(|n| (n, format!("{}: notify", name)));
    super::drive::run(super::drive::Run {
        plan,
        client,
        connection,
        cloud: Arc::new(cloud),
        journal: cluster.journal.clone(),
        who: operator.who,
        take_over: args.take_over,
        options: DriveOptions {
            window: limit,
            campaign: Some(strip),
            ..Default::default()
        },
        notify,
        headless: args.headless,
    })
    .await?;
    Ok(0)
}

/// The cluster's plan: its file, or the one generated for it (written once beside
/// the campaign file and reused, so that a resumed drive runs the same plan).
async fn plan_of(
    c: &Campaign,
    cluster: &Cluster,
    stage: &str,
    client: &kube::Client,
    connection: &upshift::cluster::Connection,
    cloud: &AwsCloud,
) -> Result<Plan> {
    let path = match &cluster.plan {
        Some(p) => p.clone(),
        None => {
            let path = c.dir().join(format!("{}.plan.yaml", cluster.name));
            if !path.exists() {
                let target = c.target.to_string();
                let reader = upshift::cluster::ClusterReader::new(client.clone());
                let live = plan::discover(
                    &reader,
                    &connection.cluster,
                    Some((cloud as &dyn upshift::cloud::CloudRead, cluster.eks.as_str())),
                    &target,
                )
                .await
                .wrap_err_with(|| format!("reading cluster {} to plan it", cluster.name))?;
                let mut proposed = plan::propose(
                    &live,
                    &ProposeOptions {
                        target,
                        environment: environment(stage),
                        context: Some(cluster.context.clone()),
                        region: Some(cloud.region().to_string()),
                        batch_size: 1,
                        self_managed: Strategy::Replace,
                        managed: None,
                    },
                );
                proposed.cluster.name = cluster.eks.clone();
                plan::save(&path, &proposed.to_yaml(Some(&live)))
                    .wrap_err_with(|| format!("writing the plan of cluster {} to {}", cluster.name, path.display()))?;
                eprintln!(
                    "plan: {} written ({} steps); it is reused when the drive resumes",
                    path.display(),
                    proposed.steps.len()
                );
            }
            path
        }
    };
    Plan::load(&path).map_err(|e| eyre!("{e}"))
}

/// A stage named for production drives its clusters as production (the cluster's
/// name typed before the first action); any other as pre-production.
fn environment(stage: &str) -> Environment {
    let s = stage.to_ascii_lowercase();
    if s.contains("prod") && !s.contains("pre") && !s.contains("non") {
        Environment::Production
    } else {
        Environment::PreProduction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_named_for_production_drives_as_production() {
        assert_eq!(environment("production"), Environment::Production);
        assert_eq!(environment("prod-eu"), Environment::Production);
        assert_eq!(environment("pre-production"), Environment::PreProduction);
        assert_eq!(environment("non-prod"), Environment::PreProduction);
        assert_eq!(environment("staging"), Environment::PreProduction);
    }
}
