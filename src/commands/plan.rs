//! `upshift plan`: a rollout plan for review, proposed from what discovery reads;
//! `upshift plan check`: a plan file validated on its own and against the cluster.

use color_eyre::eyre::{Result, WrapErr, eyre};

/// `upshift plan` writes a plan (returns 0); `upshift plan check` returns 0 when the
/// plan is valid against the cluster and 1 when it is not.
pub async fn plan(args: crate::cli::PlanArgs) -> Result<i32> {
    use upshift::rollout::plan::{self, Plan, ProposeOptions, Strategy};
    if let Some(crate::cli::PlanCommand::Check(c)) = args.check {
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
        let (client, connection) = super::connect(&c.cluster_args, loaded.cluster.context.clone()).await?;
        let from_context = eks_of_context(&connection);
        let eks_cluster = c
            .cluster
            .clone()
            .or_else(|| loaded.cluster.region.as_ref().map(|_| loaded.cluster.name.clone()))
            .or_else(|| from_context.as_ref().map(|(n, _)| n.clone()));
        let region = loaded
            .cluster
            .region
            .clone()
            .or_else(|| from_context.as_ref().map(|(_, r)| r.clone()));
        let cloud = match &eks_cluster {
            Some(_) => Some(super::aws(&c.aws, region).await?),
            None => {
                println!("{}", no_eks(&connection));
                None
            }
        };
        let eks = cloud
            .as_ref()
            .zip(eks_cluster.as_deref())
            .map(|(cl, n)| (cl as &dyn upshift::cloud::CloudRead, n));
        let reader = upshift::cluster::ClusterReader::new(client);
        let live = plan::discover(&reader, &connection.cluster, eks, &loaded.target)
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
    let Some(target) = upshift::units::Minor::parse_exact(&target) else {
        return Err(eyre!(
            "--target {target:?}: give a Kubernetes minor version such as 1.31"
        ));
    };
    let target = target.to_string();
    let (client, connection) = super::connect(&args.cluster_args, None).await?;
    let from_context = eks_of_context(&connection);
    let eks_cluster = args
        .cluster
        .clone()
        .or_else(|| from_context.as_ref().map(|(n, _)| n.clone()));
    let cloud = match &eks_cluster {
        Some(_) => Some(super::aws(&args.aws, from_context.as_ref().map(|(_, r)| r.clone())).await?),
        None => None,
    };
    let eks = cloud
        .as_ref()
        .zip(eks_cluster.as_deref())
        .map(|(cl, n)| (cl as &dyn upshift::cloud::CloudRead, n));
    let missing = eks_cluster.is_none().then(|| no_eks(&connection));
    if let Some(m) = &missing {
        eprintln!("{m}");
    }
    let reader = upshift::cluster::ClusterReader::new(client);
    let live = plan::discover(&reader, &connection.cluster, eks, &target)
        .await
        .wrap_err_with(|| format!("reading the cluster of context {:?}", connection.context))?;
    let next = upshift::units::Minor::parse_exact(&live.control_plane).map(|m| m.next().to_string());
    if target != live.control_plane && Some(&target) != next.as_ref() {
        return Err(eyre!(
            "--target {target}: the control plane runs {}; EKS upgrades one minor at a time, so plan --target {} first",
            live.control_plane,
            next.unwrap_or_default()
        ));
    }
    let region = match (&args.aws.region, &cloud) {
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
        managed: args.managed.as_deref().map(|m| {
            if m == "eks-update" {
                Strategy::EksUpdate
            } else {
                Strategy::BlueGreen
            }
        }),
    };
    let proposed = plan::propose(&live, &opts);
    let mut yaml = proposed.to_yaml(Some(&live));
    if let Some(m) = &missing {
        // at the very top, where a reviewer looks first
        yaml = format!("# {m}\n{yaml}");
    }
    for (what, why) in &live.unreadable {
        eprintln!("warning: could not read {what}: {why}");
    }
    match &args.output {
        Some(path) => {
            plan::save(path, &yaml).wrap_err_with(|| format!("writing the plan to {}", path.display()))?;
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

/// The EKS cluster a kubeconfig context points at, and its region: from the cluster
/// entry's name when it is an EKS ARN (`arn:aws:eks:REGION:ACCOUNT:cluster/NAME`, as
/// `aws eks update-kubeconfig` names it). None when the context does not say.
fn eks_of_context(c: &upshift::cluster::Connection) -> Option<(String, String)> {
    let arn = c.cluster.strip_prefix("arn:")?;
    let mut parts = arn.splitn(5, ':');
    let (_partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("cluster/")?;
    (service == "eks" && !region.is_empty() && !name.is_empty()).then(|| (name.to_string(), region.to_string()))
}

/// What is missing when no EKS cluster is known, said loudly.
fn no_eks(c: &upshift::cluster::Connection) -> String {
    format!(
        "WARNING: no EKS cluster known: --cluster was not given and context {:?} (cluster entry {:?}, server {}) names no EKS cluster ARN. \
         Without EKS's view the add-ons (vpc-cni, coredns, kube-proxy, ...) are left out and node groups are not matched with EKS: \
         give --cluster NAME (and --region)",
        c.context, c.cluster, c.server
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(cluster: &str) -> upshift::cluster::Connection {
        upshift::cluster::Connection {
            context: "ctx".into(),
            cluster: cluster.into(),
            server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com".into(),
            user: "u".into(),
            clock: Default::default(),
        }
    }

    #[test]
    fn an_eks_arn_in_the_context_names_the_cluster_and_region() {
        assert_eq!(
            eks_of_context(&conn("arn:aws:eks:eu-west-1:123456789012:cluster/shop-prod")),
            Some(("shop-prod".into(), "eu-west-1".into()))
        );
        assert_eq!(eks_of_context(&conn("shop-prod")), None);
        assert_eq!(eks_of_context(&conn("arn:aws:iam::123456789012:role/x")), None);
        assert!(no_eks(&conn("kind-local")).contains("--cluster"));
    }
}
