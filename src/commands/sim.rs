//! `upshift sim serve`, `sim scenarios`, `sim check`: the simulated EKS cluster as a
//! server for kubectl and other tools, and its scenarios.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

use crate::cli::ServeArgs;

fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `upshift-sim.kubeconfig` → `upshift-sim.aws.env`, beside it.
pub(super) fn aws_env_path(kubeconfig: &Path) -> PathBuf {
    kubeconfig.with_extension("aws.env")
}

/// The minor after the simulated control plane's, for the examples printed.
pub(super) fn next_minor(sim: &Simulator) -> String {
    let v = sim.world().lock().cluster.version.clone();
    match upshift::units::Minor::parse_exact(&v) {
        Some(m) => m.next().to_string(),
        None => v,
    }
}

fn summary(sim: &Simulator) -> String {
    let world = sim.world();
    let w = world.lock();
    format!(
        "cluster {} (EKS {}, {}): {} nodes in {} node groups, {} pods",
        w.cluster.name,
        w.cluster.version,
        w.cluster.region,
        w.nodes.len(),
        w.groups.len(),
        w.pods.len()
    )
}

/// Starts the simulator on `scenario` and writes its kubeconfig; returns both.
pub(super) async fn start_sim(
    scenario: Scenario,
    speed: f64,
    port: u16,
    kubeconfig: &Path,
) -> Result<(Simulator, PathBuf)> {
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = speed;
    cfg.port = port;
    let sim = Simulator::start(cfg).await?;
    let kc = absolute(kubeconfig);
    if kc.exists() {
        eprintln!(
            "note: {} exists and is replaced by the simulator's kubeconfig (choose another path with --kubeconfig)",
            kc.display()
        );
    }
    sim.write_kubeconfig(&kc).wrap_err_with(|| {
        format!(
            "writing the kubeconfig to {} (choose another path with --kubeconfig)",
            kc.display()
        )
    })?;
    Ok((sim, kc))
}

pub(super) async fn run(
    scenario: Scenario,
    speed: f64,
    port: u16,
    kubeconfig: &Path,
    counts_file: Option<&Path>,
) -> Result<()> {
    let description = scenario.description.clone();
    let name = scenario.name.clone();
    let started = std::time::Instant::now();
    let stop = Stop::listen()?;
    let (sim, kc) = start_sim(scenario, speed, port, kubeconfig).await?;
    let aws_env = aws_env_path(&kc);
    sim.write_aws_env(&aws_env)
        .wrap_err_with(|| format!("writing the AWS environment file {}", aws_env.display()))?;
    let url = sim.url();
    println!("upshift simulator: scenario \"{name}\" ({description})");
    println!("  {}", summary(&sim));
    println!(
        "  API server  {url}   (built in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  kubeconfig  {}   contexts: lead (read-write, current), viewer (read-only), restricted",
        kc.display()
    );
    println!(
        "  AWS         {}   (EKS, Auto Scaling, CloudWatch; region {}; settings in {})",
        sim.aws_url(),
        sim.aws_region(),
        aws_env.display()
    );
    println!("  speed       {speed}x real time");
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={}", kc.display());
    println!("  kubectl get nodes -L eks.amazonaws.com/nodegroup");
    println!("  kubectl get pods -A");
    println!("  kubectl --context viewer delete pod -n default debug-shell   # refused: read-only");
    println!("  curl -sk {url}/sim/requests                                 # requests by identity and verb");
    println!(
        "  . {}; upshift preflight --target {} --cluster {}",
        aws_env.display(),
        next_minor(&sim),
        sim.cluster_name()
    );
    println!();
    println!("Ctrl-C (or SIGTERM) stops the simulator and removes the files it wrote.");
    tracing::info!(%url, kubeconfig = %kc.display(), "simulator serving");
    stop.stopped().await?;
    let counts = sim.request_counts();
    sim.shutdown().await;
    let _ = std::fs::remove_file(&kc);
    let _ = std::fs::remove_file(&aws_env);
    println!();
    println!("Stopped. Requests served, by identity and verb:");
    for (who, verbs) in &counts.0 {
        let line: Vec<String> = verbs
            .iter()
            .map(|(verb, per)| format!("{verb} {}", per.values().sum::<u64>()))
            .collect();
        println!("  {who:<8} {}", line.join(", "));
    }
    if let Some(path) = counts_file {
        let json = serde_json::to_vec_pretty(&counts)?;
        std::fs::write(path, json).wrap_err_with(|| format!("writing request counts to {}", path.display()))?;
        println!("Request counts written to {}", path.display());
    }
    println!(
        "The kubeconfig {} was removed (its tokens are no longer valid).",
        kc.display()
    );
    Ok(())
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    check_speed(args.speed)?;
    if let Some(campaign) = &args.campaign {
        return serve_campaign(campaign, args.speed, &args.kubeconfig).await;
    }
    let scenario = Scenario::load(&args.scenario).map_err(|e| eyre!("{e}"))?;
    run(
        scenario,
        args.speed,
        args.port,
        &args.kubeconfig,
        args.counts_file.as_deref(),
    )
    .await
}

/// `sim serve --campaign`: every cluster of a campaign scenario until Ctrl-C.
async fn serve_campaign(name_or_path: &str, speed: f64, kubeconfig: &Path) -> Result<()> {
    let stop = Stop::listen()?;
    let (sim, kc, aws_config, aws_env) = start_campaign(name_or_path, speed, kubeconfig).await?;
    println!("upshift simulator: campaign scenario \"{}\"", sim.name);
    for m in &sim.members {
        println!(
            "  {:<16} {:<15} {}   AWS {}",
            m.name,
            m.stage,
            summary(&m.sim),
            m.sim.aws_url()
        );
    }
    println!(
        "  kubeconfig  {}   contexts: NAME (read-write), NAME-viewer (read-only)",
        kc.display()
    );
    println!("  AWS         {}   a profile per cluster", aws_config.display());
    println!("  speed       {speed}x real time, one clock for all");
    println!();
    println!("Try:");
    println!("  export KUBECONFIG={}; . {}", kc.display(), aws_env.display());
    if let Some(m) = sim.members.first() {
        println!("  kubectl --context {} get nodes", m.name);
        println!(
            "  upshift preflight --context {n} --target {} --cluster {n} --profile {n}",
            next_minor(&m.sim),
            n = m.name
        );
    }
    println!();
    println!("Ctrl-C (or SIGTERM) stops the simulators and removes the files they wrote.");
    stop.stopped().await?;
    sim.shutdown().await;
    for f in [&kc, &aws_config, &aws_env] {
        let _ = std::fs::remove_file(f);
    }
    println!("Stopped; {} and the AWS files beside it were removed.", kc.display());
    Ok(())
}

/// Starts a campaign scenario's clusters and writes their files: the kubeconfig,
/// the AWS configuration and the environment file.
pub(super) async fn start_campaign(
    name_or_path: &str,
    speed: f64,
    kubeconfig: &Path,
) -> Result<(upshift::sim::campaign::SimCampaign, PathBuf, PathBuf, PathBuf)> {
    use upshift::sim::campaign::{CampaignScenario, SimCampaign};
    let spec = CampaignScenario::load(name_or_path).map_err(|e| eyre!("{e}"))?;
    let sim = SimCampaign::start(&spec, speed).await?;
    let kc = absolute(kubeconfig);
    let (aws_config, aws_env) = sim.write_files(&kc).wrap_err_with(|| {
        format!(
            "writing the kubeconfig {} and the AWS files beside it (choose another path with --kubeconfig)",
            kc.display()
        )
    })?;
    Ok((sim, kc, aws_config, aws_env))
}

pub(super) fn check_speed(speed: f64) -> Result<()> {
    if !(upshift::sim::clock::MIN_SPEED..=upshift::sim::clock::MAX_SPEED).contains(&speed) {
        return Err(eyre!(
            "--speed {speed}: must be between 1 and 600 (virtual seconds per real second)"
        ));
    }
    Ok(())
}

pub fn scenarios() -> Result<()> {
    let width = Scenario::builtin_names().iter().map(|n| n.len()).max().unwrap_or(8);
    for name in Scenario::builtin_names() {
        let s = Scenario::load(name).map_err(|e| eyre!("{e}"))?;
        println!("{name:<width$}  {}", s.description);
    }
    println!();
    println!("A scenario can also be a YAML file: see docs/scenarios.md.");
    Ok(())
}

pub fn check(name_or_path: &str) -> Result<()> {
    let s = Scenario::load(name_or_path).map_err(|e| eyre!("{e}"))?;
    let nodes: u32 = s.node_groups.iter().map(|g| g.size).sum();
    println!(
        "{name_or_path}: scenario \"{}\" is valid: EKS {} with {} node groups ({nodes} nodes), {} workloads, {} faults",
        s.name,
        s.cluster.version,
        s.node_groups.len(),
        s.workloads.len(),
        s.faults.len()
    );
    Ok(())
}

/// Ctrl-C and, on Unix, SIGTERM, listened for from the moment it is made: a signal
/// that comes while the simulator is still starting or printing is not lost.
struct Stop {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    fn listen() -> Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Stop {
                interrupt: signal(SignalKind::interrupt()).wrap_err("listening for Ctrl-C")?,
                terminate: signal(SignalKind::terminate()).wrap_err("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Stop {})
        }
    }

    /// Until Ctrl-C or SIGTERM: either way the simulator stops and removes its files.
    async fn stopped(mut self) -> Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.wrap_err("waiting for Ctrl-C")
        }
    }
}
