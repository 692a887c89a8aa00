//! What each command does, on top of the library: one file per command. The
//! simulator is started here (`sim`, `demo`) and nowhere else in upshift; the
//! screenless drive and watch live in the library's `headless`.

pub mod campaign;
mod campaign_drive;
pub mod demo;
mod demo_campaign;
pub mod drive;
pub mod plan;
pub mod preflight;
pub mod redact;
pub mod replay;
pub mod report;
pub mod sim;
pub mod watch;

use color_eyre::eyre::Result;
use upshift::cloud::{AwsCloud, AwsOptions};

use crate::cli::{AwsArgs, ClusterArgs};

/// A client for the context and kubeconfig the flags name (`context` overrides
/// theirs, e.g. a plan's), and where it is connected.
pub async fn connect(
    args: &ClusterArgs,
    context: Option<String>,
) -> Result<(kube::Client, upshift::cluster::Connection)> {
    let context = args.context.clone().or(context);
    Ok(upshift::cluster::connect(args.kubeconfig.as_deref(), context.as_deref()).await?)
}

/// The AWS client for the flags (`region` when they name none, e.g. a plan's).
pub async fn aws(args: &AwsArgs, region: Option<String>) -> Result<AwsCloud> {
    Ok(AwsCloud::connect(&AwsOptions {
        region: args.region.clone().or(region),
        profile: args.profile.clone(),
        ..Default::default()
    })
    .await?)
}

/// Gives the cockpit EKS's support calendar for its header (the cluster's minor and
/// the next, and `also`: a plan's). When AWS does not answer within 10 seconds or
/// refuses, the cockpit's log says why and the header says nothing of support.
pub async fn support_calendar(
    cockpit: &mut upshift::cockpit::Cockpit,
    cloud: &dyn upshift::cloud::CloudRead,
    cluster: &str,
    also: &[String],
) {
    use upshift::model::{Level, LogEntry};
    let read = upshift::preflight::support::read_calendar(cloud, cluster, also);
    let said = match tokio::time::timeout(std::time::Duration::from_secs(10), read).await {
        Ok(Ok(calendar)) => {
            cockpit.support = Some(calendar);
            return;
        }
        Ok(Err(e)) => format!("EKS support calendar of cluster {cluster} not read: {e}"),
        Err(_) => format!("EKS support calendar of cluster {cluster} not read: AWS did not answer within 10 s"),
    };
    tracing::warn!("{said}");
    cockpit
        .log
        .push(LogEntry::local(Level::Warning, "SupportCalendar", said));
}
