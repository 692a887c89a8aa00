//! `upshift preflight`: the research phase, read through a reader (and, with
//! `--cluster`, EKS's view), rendered as text, JSON or Markdown.

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::{Format, PreflightArgs};

/// Runs preflight; returns the exit code (0 no blockers, 1 blockers).
pub async fn preflight(args: PreflightArgs) -> Result<i32> {
    use upshift::preflight;
    if upshift::units::Minor::parse_exact(&args.target).is_none() {
        return Err(eyre!(
            "--target {:?}: give a Kubernetes minor version such as 1.31",
            args.target
        ));
    }
    let target = args.target.trim_start_matches('v').to_string();
    let tables = preflight::tables::Tables::load(args.apis.as_deref())?;
    let (client, connection) = super::connect(&args.cluster_args, None).await?;
    let started = std::time::Instant::now();
    let reader = upshift::cluster::ClusterReader::new(client);
    let snapshot = preflight::gather::gather(&reader).await.wrap_err_with(|| {
        format!(
            "reading the cluster of context {:?} ({})",
            connection.context, connection.server
        )
    })?;
    let mut drainers = None;
    let eks = match &args.cluster {
        Some(name) => {
            let cloud = super::aws(&args.aws, None).await?;
            // what would drain an instance refresh of each self-managed group
            let mut groups: Vec<(String, Option<preflight::drainers::Drainer>)> = snapshot
                .nodes
                .iter()
                .filter(|n| {
                    n.labels.contains_key(preflight::drainers::GROUP_LABEL)
                        && !n.labels.contains_key("eks.amazonaws.com/nodegroup")
                })
                .map(|n| (n.group.clone(), None))
                .collect();
            groups.sort();
            groups.dedup();
            drainers = Some(preflight::drainers::gather(&reader, &cloud, &groups).await);
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
    let (mut findings, mut checks) = preflight::run(&snapshot, &target, &tables, args.batch, eks.as_ref());
    if let Some(facts) = &drainers {
        let (f, r) = preflight::drainers::check(facts);
        findings.extend(f);
        findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.check.cmp(&b.check)));
        checks.push(r);
    }
    let window = i64::from(args.window) * 3600;
    let now = eks
        .as_ref()
        .and_then(|e| e.read_at)
        .unwrap_or_else(jiff::Timestamp::now);
    let eks_cluster = eks.as_ref().map(|e| &e.cluster);
    match preflight::karpenter::gather::gather(&reader, &snapshot, eks_cluster, now, window).await {
        Some(facts) => {
            unreadable.extend(facts.unreadable.iter().cloned());
            let (f, r) = preflight::karpenter::check(&facts, &target);
            findings.extend(f);
            findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.check.cmp(&b.check)));
            checks.push(r);
        }
        None => checks.push(preflight::CheckRun {
            check: preflight::Check::Karpenter,
            examined: "no Karpenter: no NodePool CRD, controller or Auto Mode".into(),
            complete: true,
        }),
    }
    let cluster = args.cluster.clone().unwrap_or_else(|| connection.cluster.clone());
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
        Format::Markdown => {
            let on = jiff::Zoned::now().date().to_string();
            preflight::render::markdown(&report, &unreadable, &cluster, &on)
        }
    };
    println!("{out}");
    Ok(report.exit_code())
}
