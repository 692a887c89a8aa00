//! What each command does, on top of the library.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::cli::{DemoArgs, DriveArgs, Format, PreflightArgs, ServeArgs, WatchArgs};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `upshift-sim.kubeconfig` → `upshift-sim.aws.env`, beside it.
fn aws_env_path(kubeconfig: &Path) -> PathBuf {
    kubeconfig.with_extension("aws.env")
}

/// The minor after the simulated control plane's, for the examples printed.
fn next_minor(sim: &Simulator) -> String {
    let v = sim.world().lock().cluster.version.clone();
    match upshift::preflight::parse_minor(&v) {
        Some((major, minor)) => format!("{major}.{}", minor + 1),
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
async fn start_sim(scenario: Scenario, speed: f64, port: u16, kubeconfig: &Path) -> Result<(Simulator, PathBuf)> {
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = speed;
    cfg.port = port;
    let sim = Simulator::start(cfg).await?;
    let kc = absolute(kubeconfig);
    sim.write_kubeconfig(&kc).wrap_err_with(|| {
        format!(
            "writing the kubeconfig to {} (choose another path with --kubeconfig)",
            kc.display()
        )
    })?;
    Ok((sim, kc))
}

async fn run(scenario: Scenario, speed: f64, port: u16, kubeconfig: &Path, counts_file: Option<&Path>) -> Result<()> {
    let description = scenario.description.clone();
    let name = scenario.name.clone();
    let started = std::time::Instant::now();
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
    println!("Ctrl-C stops the simulator.");
    tracing::info!(%url, kubeconfig = %kc.display(), "simulator serving");
    tokio::signal::ctrl_c().await.wrap_err("waiting for Ctrl-C")?;
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

pub async fn demo(args: DemoArgs) -> Result<()> {
    use std::io::IsTerminal;
    check_speed(args.speed)?;
    let scenario = Scenario::load("demo").map_err(|e| eyre!("{e}"))?;
    if args.serve_only || !std::io::stdout().is_terminal() {
        if !args.serve_only {
            println!("stdout is not a terminal: serving the demo cluster without the cockpit.");
            println!();
        }
        return run(scenario, args.speed, args.port, &args.kubeconfig, None).await;
    }
    let (sim, kc) = start_sim(scenario, args.speed, args.port, &args.kubeconfig).await?;
    let result = if args.watch_only {
        demo_watch(&sim).await
    } else {
        demo_drive(&sim, &kc).await
    };
    let counts = sim.request_counts();
    sim.shutdown().await;
    let _ = std::fs::remove_file(&kc);
    let said = result?;
    if !said.is_empty() {
        println!("{said}");
    }
    println!("{}", summary_of_demo(&counts));
    Ok(())
}

/// The read-only cockpit on the demo cluster.
async fn demo_watch(sim: &Simulator) -> Result<String> {
    let client = sim.client("viewer").await?;
    let connection = upshift::cluster::Connection {
        context: "viewer".into(),
        cluster: sim.world().lock().cluster.name.clone(),
        server: sim.url(),
        user: "viewer".into(),
    };
    let clock = sim.world().lock().clock.clone();
    let cockpit = upshift::cockpit::Cockpit::new(connection, true, clock.now());
    let reader = upshift::cluster::ClusterReader::new(client);
    upshift::app::run(reader, cockpit, move || clock.now(), None)
        .await
        .wrap_err("running the cockpit")?;
    Ok(String::new())
}

/// Plans the demo cluster's upgrade and opens the lead's cockpit on it.
async fn demo_drive(sim: &Simulator, kc: &Path) -> Result<String> {
    use upshift::rollout::plan::{self, Environment, ProposeOptions, Strategy};
    let client = sim.client("lead").await?;
    let cloud: Arc<dyn upshift::cloud::Cloud> = Arc::new(
        upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
            .await?,
    );
    let name = sim.cluster_name().to_string();
    let target = next_minor(sim);
    let live = plan::discover(&client, &name, Some((cloud.as_ref(), &name)), &target)
        .await
        .wrap_err("reading the demo cluster")?;
    let mut proposed = plan::propose(
        &live,
        &ProposeOptions {
            target: target.clone(),
            environment: Environment::Production,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
        },
    );
    // a rehearsal: shorter waits than a real window's, in the simulator's virtual time
    proposed.gates.settle_seconds = 30;
    proposed.drain.pod_timeout_seconds = 300;
    let dir = kc.parent().unwrap_or(Path::new("."));
    let plan_path = dir.join("upshift-demo.plan.yaml");
    std::fs::write(&plan_path, proposed.to_yaml(Some(&live)))
        .wrap_err_with(|| format!("writing the demo's plan to {}", plan_path.display()))?;
    let journal = dir.join("upshift-demo.journal.jsonl");
    // a new simulated cluster: last rehearsal's journal does not apply to it
    let _ = std::fs::remove_file(&journal);
    let clock = sim.world().lock().clock.clone();
    let rollout_clock = clock.clone();
    let setup = upshift::rollout::drive::Setup {
        plan: plan::Plan::load(&plan_path).map_err(|e| eyre!("{e}"))?,
        client: client.clone(),
        cloud,
        journal: journal.clone(),
        who: upshift::rollout::journal::operator_identity(),
        now: Arc::new(move || rollout_clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: Default::default(),
    };
    let drive = upshift::rollout::drive::prepare(setup)
        .await
        .map_err(|e| eyre!("{e}"))?;
    let handle = drive.start();
    let connection = upshift::cluster::Connection {
        context: "lead".into(),
        cluster: name,
        server: sim.url(),
        user: "lead".into(),
    };
    let cockpit = upshift::cockpit::Cockpit::new(connection, false, clock.now());
    let reader = upshift::cluster::ClusterReader::new(client);
    let state = handle.state.clone();
    upshift::app::run(reader, cockpit, move || clock.now(), Some(handle))
        .await
        .wrap_err("running the cockpit")?;
    let st = state.borrow().clone();
    let (done, all) = st.progress();
    Ok(format!(
        "The rehearsal stopped {} ({done} of {all} steps done). Plan: {}; journal: {}.",
        st.phase.name(),
        plan_path.display(),
        journal.display()
    ))
}

fn summary_of_demo(counts: &upshift::sim::api::RequestCounts) -> String {
    format!(
        "The demo cluster is stopped. The cockpit (identity \"viewer\") sent {} mutating requests; \
         kubectl as \"lead\" sent {}.",
        counts.mutating("viewer"),
        counts.mutating("lead")
    )
}

fn check_speed(speed: f64) -> Result<()> {
    if !(upshift::sim::clock::MIN_SPEED..=upshift::sim::clock::MAX_SPEED).contains(&speed) {
        return Err(eyre!(
            "--speed {speed}: must be between 1 and 600 (virtual seconds per real second)"
        ));
    }
    Ok(())
}

pub fn scenarios() -> Result<()> {
    for name in Scenario::builtin_names() {
        let s = Scenario::load(name).map_err(|e| eyre!("{e}"))?;
        println!("{name:<8} {}", s.description);
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

pub async fn watch(args: WatchArgs) -> Result<()> {
    if !(args.interval > 0.0 && args.interval <= 3600.0) {
        return Err(eyre!(
            "--interval {}: must be between 0 and 3600 seconds",
            args.interval
        ));
    }
    let (client, connection) = upshift::cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    tracing::info!(context = %connection.context, server = %connection.server, "watching");
    let reader = upshift::cluster::ClusterReader::new(client);
    if args.headless {
        let opts = upshift::headless::Options {
            every: std::time::Duration::from_secs_f64(args.interval),
            until_synced: args.until_synced,
        };
        upshift::headless::run(reader, connection, opts, std::io::stdout().lock())
            .await
            .wrap_err("writing to stdout")?;
        return Ok(());
    }
    let cockpit = upshift::cockpit::Cockpit::new(connection, true, jiff::Timestamp::now());
    upshift::app::run(reader, cockpit, jiff::Timestamp::now, None)
        .await
        .wrap_err("running the cockpit")
}

/// Runs preflight; returns the exit code (0 no blockers, 1 blockers).
pub async fn preflight(args: PreflightArgs) -> Result<i32> {
    use upshift::preflight;
    if preflight::parse_minor(&args.target).is_none() {
        return Err(eyre!(
            "--target {:?}: give a Kubernetes minor version such as 1.31",
            args.target
        ));
    }
    let target = args.target.trim_start_matches('v').to_string();
    let tables = preflight::tables::Tables::load(args.apis.as_deref())?;
    let (client, connection) = upshift::cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let started = std::time::Instant::now();
    let snapshot = preflight::gather::gather(&client).await.wrap_err_with(|| {
        format!(
            "reading the cluster of context {:?} ({})",
            connection.context, connection.server
        )
    })?;
    let eks = match &args.cluster {
        Some(name) => {
            let opts = upshift::cloud::AwsOptions {
                region: args.region.clone(),
                profile: args.profile.clone(),
                ..Default::default()
            };
            let cloud = upshift::cloud::AwsCloud::connect(&opts).await?;
            Some(
                preflight::eks::gather(&cloud, name, &target)
                    .await
                    .wrap_err_with(|| format!("asking EKS about cluster {name}"))?,
            )
        }
        None => None,
    };
    let mut unreadable = snapshot.unreadable.clone();
    if let Some(e) = &eks {
        unreadable.extend(e.unreadable.iter().cloned());
    }
    let (findings, checks) = preflight::run(&snapshot, &target, &tables, args.batch, eks.as_ref());
    let report = preflight::Report {
        context: connection.context,
        server: connection.server,
        current: snapshot.current_minor(),
        target,
        findings,
        checks,
        took_ms: started.elapsed().as_millis(),
    };
    let out = match args.format {
        Format::Text => preflight::render::text(&report, &unreadable),
        Format::Json => preflight::render::json(&report, &unreadable),
        Format::Markdown => preflight::render::markdown(&report, &unreadable),
    };
    println!("{out}");
    Ok(report.exit_code())
}

/// `upshift plan` writes a plan (returns 0); `upshift plan check` returns 0 when the
/// plan is valid against the cluster and 1 when it is not.
pub async fn plan(args: upshift::cli::PlanArgs) -> Result<i32> {
    use upshift::rollout::plan::{self, Plan, ProposeOptions, Strategy};
    if let Some(upshift::cli::PlanCommand::Check(c)) = args.check {
        let loaded = match Plan::load(&c.file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return Ok(1);
            }
        };
        if c.offline {
            println!(
                "{}: valid (the file alone; not checked against a cluster)",
                c.file.display()
            );
            print!("{}", loaded.summary());
            return Ok(0);
        }
        let context = c.context.clone().or_else(|| loaded.cluster.context.clone());
        let (client, connection) = upshift::cluster::connect(c.kubeconfig.as_deref(), context.as_deref()).await?;
        let eks_cluster = c
            .cluster
            .clone()
            .or_else(|| loaded.cluster.region.as_ref().map(|_| loaded.cluster.name.clone()));
        let region = c.region.clone().or_else(|| loaded.cluster.region.clone());
        let cloud = match &eks_cluster {
            Some(_) => Some(
                upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions {
                    region,
                    profile: c.profile.clone(),
                    ..Default::default()
                })
                .await?,
            ),
            None => None,
        };
        let eks = cloud
            .as_ref()
            .zip(eks_cluster.as_deref())
            .map(|(cl, n)| (cl as &dyn upshift::cloud::Cloud, n));
        let live = plan::discover(&client, &connection.cluster, eks, &loaded.target)
            .await
            .wrap_err_with(|| format!("reading the cluster of context {:?}", connection.context))?;
        if let Err(e) = loaded.validate(&live) {
            eprintln!("{e}");
            return Ok(1);
        }
        println!(
            "{}: valid against context {:?} (control plane {}{})",
            c.file.display(),
            connection.context,
            live.control_plane,
            if live.addons.is_some() { ", with EKS's view" } else { "" }
        );
        print!("{}", loaded.summary());
        for (what, why) in &live.unreadable {
            println!("  not checked: {what}: {why}");
        }
        return Ok(0);
    }
    let target = args.target.clone().unwrap_or_default();
    let Some((major, minor)) = upshift::preflight::parse_minor(&target) else {
        return Err(eyre!(
            "--target {target:?}: give a Kubernetes minor version such as 1.31"
        ));
    };
    let target = format!("{major}.{minor}");
    let (client, connection) = upshift::cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let cloud = match &args.cluster {
        Some(_) => Some(
            upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions {
                region: args.region.clone(),
                profile: args.profile.clone(),
                ..Default::default()
            })
            .await?,
        ),
        None => None,
    };
    let eks = cloud
        .as_ref()
        .zip(args.cluster.as_deref())
        .map(|(cl, n)| (cl as &dyn upshift::cloud::Cloud, n));
    let live = plan::discover(&client, &connection.cluster, eks, &target)
        .await
        .wrap_err_with(|| format!("reading the cluster of context {:?}", connection.context))?;
    let next = upshift::preflight::parse_minor(&live.control_plane).map(|(a, b)| format!("{a}.{}", b + 1));
    if target != live.control_plane && Some(&target) != next.as_ref() {
        return Err(eyre!(
            "--target {target}: the control plane runs {}; EKS upgrades one minor at a time, so plan --target {} first",
            live.control_plane,
            next.unwrap_or_default()
        ));
    }
    let region = match (&args.region, &cloud) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(c)) => Some(c.region().to_string()).filter(|r| !r.is_empty()),
        (None, None) => None,
    };
    let opts = ProposeOptions {
        target,
        environment: args.environment,
        context: Some(connection.context.clone()),
        region,
        batch_size: args.batch,
        self_managed: if args.self_managed == "instance-refresh" {
            Strategy::InstanceRefresh
        } else {
            Strategy::Replace
        },
    };
    let proposed = plan::propose(&live, &opts);
    let yaml = proposed.to_yaml(Some(&live));
    for (what, why) in &live.unreadable {
        eprintln!("warning: could not read {what}: {why}");
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &yaml).wrap_err_with(|| format!("writing the plan to {}", path.display()))?;
            eprintln!(
                "Wrote {} ({} steps, {} → {}). Review it, then: upshift plan check {}",
                path.display(),
                proposed.steps.len(),
                proposed.from,
                proposed.target,
                path.display()
            );
        }
        None => print!("{yaml}"),
    }
    Ok(0)
}

/// `upshift drive PLAN`: the lead's cockpit on a real cluster and AWS.
pub async fn drive(args: DriveArgs) -> Result<()> {
    use upshift::rollout::plan::Plan;
    let plan = Plan::load(&args.plan).map_err(|e| eyre!("{e}"))?;
    let context = args.context.clone().or_else(|| plan.cluster.context.clone());
    let (client, connection) = upshift::cluster::connect(args.kubeconfig.as_deref(), context.as_deref()).await?;
    let cloud: Arc<dyn upshift::cloud::Cloud> = Arc::new(
        upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions {
            region: args.region.clone().or_else(|| plan.cluster.region.clone()),
            profile: args.profile.clone(),
            ..Default::default()
        })
        .await?,
    );
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("upshift-{}-{}.journal.jsonl", plan.cluster.name, plan.target)));
    let setup = upshift::rollout::drive::Setup {
        plan,
        client: client.clone(),
        cloud,
        journal: journal.clone(),
        who: upshift::rollout::journal::operator_identity(),
        now: Arc::new(jiff::Timestamp::now),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: args.take_over,
        options: Default::default(),
    };
    let drive = upshift::rollout::drive::prepare(setup)
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err_with(|| format!("starting the drive on context {:?}", connection.context))?;
    eprintln!("journal: {}", journal.display());
    let handle = drive.start();
    let cockpit = upshift::cockpit::Cockpit::new(connection, false, jiff::Timestamp::now());
    let reader = upshift::cluster::ClusterReader::new(client);
    if args.headless {
        return headless_drive(reader, cockpit, handle).await;
    }
    let state = handle.state.clone();
    upshift::app::run(reader, cockpit, jiff::Timestamp::now, Some(handle))
        .await
        .wrap_err("running the cockpit")?;
    let st = state.borrow().clone();
    let (done, all) = st.progress();
    println!(
        "Stopped {} ({done} of {all} steps done). Run the same command again to resume; journal: {}",
        st.phase.name(),
        journal.display()
    );
    Ok(())
}

/// A line of stdin as a command for the drive.
fn parse_command(line: &str) -> std::result::Result<upshift::model::rollout::Command, String> {
    use upshift::model::rollout::Command;
    let line = line.trim();
    let (word, rest) = line.split_once(' ').map_or((line, ""), |(w, r)| (w, r.trim()));
    Ok(match word {
        "proceed" => Command::Proceed,
        "override" => Command::Override { reason: rest.into() },
        "confirm" => Command::ConfirmCluster { name: rest.into() },
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "abort" => Command::Abort,
        "retry" => Command::Retry,
        "force" => Command::Force { confirm: rest.into() },
        "wait" => Command::KeepWaiting,
        "skip-node" => Command::SkipNode,
        "delete-pod" => Command::DeletePod { confirm: rest.into() },
        "auto" => Command::AutoContinue(rest == "on"),
        other => {
            return Err(format!(
                "unknown command {other:?}: proceed, override REASON, confirm CLUSTER, pause, resume, abort, retry, force GROUP, wait, skip-node, delete-pod POD, auto on|off"
            ));
        }
    })
}

/// One line for a state: the phase, the current step, and the gate.
fn state_line(s: &upshift::model::RolloutState) -> String {
    use upshift::model::rollout::Phase;
    let step = s
        .current_step()
        .map(|v| {
            if v.what.is_empty() {
                format!(" · {} {}", v.label, v.state.as_str())
            } else {
                format!(" · {} {}: {}", v.label, v.state.as_str(), v.what)
            }
        })
        .unwrap_or_default();
    let extra = match &s.phase {
        Phase::Gate => s
            .gate
            .as_ref()
            .map(|g| {
                let red: Vec<String> = g
                    .criteria
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect();
                if red.is_empty() {
                    format!(" · gate {} green{}", g.title, if g.passable { ", settled" } else { "" })
                } else {
                    format!(" · gate {} red: {}", g.title, red.join("; "))
                }
            })
            .unwrap_or_default(),
        Phase::Held { node, pod, why, .. } => format!(" · node {node}: pod {pod} held by {why}"),
        Phase::Failed { why, what_to_do, .. } => format!(" · {why}. {what_to_do}"),
        Phase::Aborted { detail } => format!(" · {detail}"),
        _ => String::new(),
    };
    let notice = s.notice.as_ref().map(|n| format!(" · {n}")).unwrap_or_default();
    format!("{}{step}{extra}{notice}", s.phase.name())
}

/// The drive without a screen: state lines on stdout, commands from stdin.
async fn headless_drive(
    reader: upshift::cluster::ClusterReader,
    cockpit: upshift::cockpit::Cockpit,
    mut handle: upshift::rollout::drive::DriveHandle,
) -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    let feeder = tokio::spawn(upshift::app::feed_health(reader, cockpit, handle.health.clone()));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut last = String::new();
    let finished = loop {
        tokio::select! {
            changed = handle.state.changed() => {
                if changed.is_err() {
                    break handle.state.borrow().clone();
                }
                let s = handle.state.borrow_and_update().clone();
                let line = state_line(&s);
                if line != last {
                    println!("{line}");
                    last = line;
                }
                if s.finished() {
                    break s;
                }
            }
            Some(e) = handle.entries.recv() => {
                let l = upshift::cockpit::journal_log_entry(&e);
                eprintln!("journal: {} {} {}", l.object, l.reason, l.message);
            }
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) if l.trim().is_empty() => {}
                Ok(Some(l)) => match parse_command(&l) {
                    Ok(c) => { let _ = handle.commands.send(c); }
                    Err(e) => eprintln!("{e}"),
                },
                _ => stdin_open = false,
            },
        }
    };
    drop(handle.commands);
    let result = handle.task.await;
    feeder.abort();
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(eyre!("{e}")),
        Err(e) => return Err(eyre!("the drive stopped: {e}")),
    }
    println!("{}", state_line(&finished));
    Ok(())
}
