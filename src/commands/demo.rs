//! `upshift demo`: the rehearsal. The simulator on the `demo` scenario, its upgrade
//! planned and opened in the lead's cockpit (or the read-only one with
//! `--watch-only`, or only served with `--serve-only`).

use std::path::Path;
use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use upshift::sim::Simulator;
use upshift::sim::scenario::Scenario;

use super::drive::seat;
use super::sim::{aws_env_path, check_speed, next_minor, run, start_sim};
use crate::cli::DemoArgs;

pub async fn demo(args: DemoArgs) -> Result<()> {
    use std::io::IsTerminal;
    check_speed(args.speed)?;
    if args.campaign {
        if !std::io::stdout().is_terminal() {
            return Err(eyre!(
                "--campaign rehearses on this terminal and stdout is not one: run it in a terminal, or serve the clusters with `upshift sim serve --campaign rehearsal`"
            ));
        }
        return super::demo_campaign::demo_campaign(&args).await;
    }
    let scenario = Scenario::load("demo").map_err(|e| eyre!("{e}"))?;
    if args.serve_only || !std::io::stdout().is_terminal() {
        if !args.serve_only {
            println!("stdout is not a terminal: serving the demo cluster without the cockpit.");
            println!();
        }
        return run(scenario, args.speed, args.port, &args.kubeconfig, None).await;
    }
    let (sim, kc) = start_sim(scenario, args.speed, args.port, &args.kubeconfig).await?;
    // the AWS settings beside the kubeconfig, so that a hint such as `upshift preflight
    // --cluster demo` can be run from another terminal as the cockpit ran it
    let aws_env = aws_env_path(&kc);
    sim.write_aws_env(&aws_env)
        .wrap_err_with(|| format!("writing the AWS environment file {}", aws_env.display()))?;
    let result = if args.watch_only {
        demo_watch(&sim).await
    } else {
        demo_drive(&sim, &kc).await
    };
    let counts = sim.request_counts_by_agent();
    sim.shutdown().await;
    let _ = std::fs::remove_file(&kc);
    let _ = std::fs::remove_file(&aws_env);
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
    let connection_cluster = sim.cluster_name().to_string();
    let connection = upshift::cluster::Connection {
        context: "viewer".into(),
        cluster: connection_cluster.clone(),
        server: sim.url(),
        user: "viewer".into(),
        clock: Default::default(),
    };
    let clock = sim.world().lock().clock.clone();
    let mut cockpit = upshift::cockpit::Cockpit::new(connection, clock.now());
    let cloud =
        upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
            .await?;
    super::support_calendar(&mut cockpit, &cloud, &connection_cluster, &[]).await;
    let reader = upshift::cluster::ClusterReader::new(client);
    upshift::app::run(reader, cockpit, move || clock.now(), None)
        .await
        .wrap_err("running the cockpit")?;
    Ok(String::new())
}

/// Plans the demo cluster's upgrade and opens the lead's cockpit on it.
async fn demo_drive(sim: &Simulator, kc: &Path) -> Result<String> {
    use upshift::rollout::plan::{self, Environment, ProposeOptions, Strategy};
    // through the kubeconfig as `drive` connects: transient answers retried
    let (client, _) = upshift::cluster::connect(Some(kc), Some("lead")).await?;
    let cloud: Arc<dyn upshift::cloud::Cloud> = Arc::new(
        upshift::cloud::AwsCloud::connect(&upshift::cloud::AwsOptions::local(&sim.aws_url(), &sim.aws_region()))
            .await?,
    );
    let name = sim.cluster_name().to_string();
    let target = next_minor(sim);
    let reader = upshift::cluster::ClusterReader::new(client.clone());
    let live = plan::discover(&reader, &name, Some((cloud.as_ref(), &name)), &target)
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
            // the rehearsal shows EKS's own update of the managed groups
            managed: Some(Strategy::EksUpdate),
        },
    );
    // a rehearsal: shorter waits than a real window's, in the simulator's virtual time
    proposed.gates.settle_seconds = 30;
    proposed.drain.pod_timeout_seconds = 300;
    let dir = kc.parent().unwrap_or(Path::new("."));
    let plan_path = dir.join("upshift-demo.plan.yaml");
    plan::save(&plan_path, &proposed.to_yaml(Some(&live)))
        .wrap_err_with(|| format!("writing the demo's plan to {}", plan_path.display()))?;
    let journal = dir.join("upshift-demo.journal.jsonl");
    // a new simulated cluster: last rehearsal's journal does not apply to it
    let _ = std::fs::remove_file(&journal);
    let _ = std::fs::remove_file(upshift::timeline::path_for(&journal));
    let clock = sim.world().lock().clock.clone();
    let rollout_clock = clock.clone();
    let setup = upshift::rollout::drive::Setup {
        plan: plan::Plan::load(&plan_path).map_err(|e| eyre!("{e}"))?,
        client: client.clone(),
        cloud: cloud.clone(),
        journal: journal.clone(),
        // as `drive` names its operator: $USER, else the system's user and the cluster's
        who: upshift::rollout::identity::operator(&client).await.who,
        now: Arc::new(move || rollout_clock.now()),
        lease_now: Arc::new(jiff::Timestamp::now),
        take_over: false,
        options: Default::default(),
    };
    let drive = upshift::rollout::drive::prepare(setup)
        .await
        .map_err(|e| eyre!("{e}"))?;
    let (controls, feed, _task) = seat(drive.start(), &journal);
    let connection = upshift::cluster::Connection {
        context: "lead".into(),
        cluster: name,
        server: sim.url(),
        user: "lead".into(),
        clock: Default::default(),
    };
    let mut cockpit = upshift::cockpit::Cockpit::lead(connection, controls, clock.now());
    super::support_calendar(&mut cockpit, cloud.as_ref(), sim.cluster_name(), &[target]).await;
    let reader = upshift::cluster::ClusterReader::new(client);
    let state = feed.state.clone();
    upshift::app::run(reader, cockpit, move || clock.now(), Some(feed))
        .await
        .wrap_err("running the cockpit")?;
    let st = state.borrow().clone();
    let (done, all) = st.progress();
    let goes_on = upshift::ui::quit::carries_on(&st)
        .map(|g| format!(" On a real cluster: {g}"))
        .unwrap_or_default();
    Ok(format!(
        "The rehearsal stopped {} ({done} of {all} steps done).{goes_on} Plan: {}; journal: {}.",
        st.phase.name(),
        plan_path.display(),
        journal.display()
    ))
}

/// Who changed what, told apart by user agent: upshift's own clients send none (the
/// simulator counts them as `unknown`), kubectl sends `kubectl/…`.
fn summary_of_demo(counts: &upshift::sim::api::counts::AgentCounts) -> String {
    use upshift::sim::api::counts::UNKNOWN_AGENT;
    let kubectl = |who: &str| counts.mutating(who, "kubectl/");
    let upshift = |who: &str| counts.mutating(who, UNKNOWN_AGENT) + counts.mutating(who, "upshift/");
    let others = |who: &str| counts.mutating(who, "").saturating_sub(kubectl(who) + upshift(who));
    let mut out = format!(
        "The demo cluster is stopped. Mutating requests: upshift's drive (identity \"lead\") {}; \
         kubectl as \"lead\" {}; the read-only cockpit (\"viewer\") {}",
        upshift("lead"),
        kubectl("lead"),
        upshift("viewer")
    );
    if kubectl("viewer") > 0 {
        out.push_str(&format!("; kubectl as \"viewer\" {}", kubectl("viewer")));
    }
    let other = others("lead") + others("viewer");
    if other > 0 {
        out.push_str(&format!("; other clients {other}"));
    }
    out.push('.');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use upshift::sim::api::counts::{AgentCounts, UNKNOWN_AGENT};

    #[test]
    fn the_summary_tells_upshift_from_kubectl_by_user_agent() {
        let mut c = AgentCounts::default();
        for _ in 0..230 {
            c.add("lead", UNKNOWN_AGENT, "patch", "nodes");
        }
        for _ in 0..3 {
            c.add("lead", "kubectl/v1.32.4", "patch", "deployments");
        }
        c.add("viewer", UNKNOWN_AGENT, "list", "pods");
        let said = summary_of_demo(&c);
        assert!(said.contains("upshift's drive (identity \"lead\") 230"), "{said}");
        assert!(said.contains("kubectl as \"lead\" 3"), "{said}");
        assert!(said.contains("the read-only cockpit (\"viewer\") 0"), "{said}");
        assert!(!said.contains("other clients"), "{said}");
    }
}
