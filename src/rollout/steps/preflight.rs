//! The preflight step: the research phase again, right before the first action, read
//! through a [`ClusterReader`] and a [`CloudRead`]. Blockers fail the step (the lead
//! retries once they are fixed, or skips it with a reason); warnings are counted.
//! The plan's `instance-refresh` groups are checked for a drainer too
//! ([`preflight::drainers`]).

use super::{Progress, StepCtx, StepError};
use crate::cloud::CloudRead;
use crate::cluster::ClusterReader;
use crate::model::Level;
use crate::model::journal::What;
use crate::preflight::{self, Severity};
use crate::rollout::plan::{Drainer, Plan, Step, Strategy};

/// The journal's object and reason on each warning the preflight step found.
pub const OBJECT: &str = "preflight";
pub const WARNING: &str = "PreflightWarning";

/// One call, as the drive makes it: [`reconcile`], with every warning journaled once
/// (object `preflight`, reason `PreflightWarning`), so that the lead and the shadows
/// can read them from the step's detail and the journal keeps them.
pub async fn reconcile_journaled(
    reader: &ClusterReader,
    ctx: &mut StepCtx<'_>,
    refreshes: &[(String, Option<Drainer>)],
    ami_moves: &[(String, String)],
) -> Result<Progress, StepError> {
    let cloud: &dyn CloudRead = ctx.cloud;
    let planned = Planned { refreshes, ami_moves };
    let (progress, warnings) = judged(reader, cloud, ctx.cluster, ctx.target, planned).await;
    for message in warnings {
        let seen = ctx.journal.entries().iter().any(|e| {
            matches!(&e.what, What::Event { object, reason, message: m, .. }
                if object == OBJECT && reason == WARNING && *m == message)
        });
        if !seen {
            let at = (ctx.now)();
            ctx.journal.append(
                ctx.who,
                at,
                What::Event {
                    level: Level::Warning,
                    object: OBJECT.into(),
                    reason: WARNING.into(),
                    message,
                },
            )?;
        }
    }
    progress
}

/// One call: Done when preflight finds no blocker.
pub async fn reconcile(
    reader: &ClusterReader,
    cloud: &dyn CloudRead,
    cluster: &str,
    target: &str,
) -> Result<Progress, StepError> {
    judged(reader, cloud, cluster, target, Planned::default()).await.0
}

/// What the plan does that preflight judges differently: the self-managed groups an
/// instance refresh replaces (with their drainer), and the managed groups a
/// `blue-green` step copies onto another AMI type (group → `amiType`).
#[derive(Clone, Copy, Default)]
struct Planned<'a> {
    refreshes: &'a [(String, Option<Drainer>)],
    ami_moves: &'a [(String, String)],
}

/// The plan's managed groups copied onto another AMI type, with that type.
pub fn ami_moves(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::Nodegroup(g) if g.strategy == Strategy::BlueGreen => {
                g.ami_type.clone().map(|ami| (g.name.clone(), ami))
            }
            _ => None,
        })
        .collect()
}

/// The plan's self-managed groups replaced by an instance refresh, with their drainer.
pub fn refreshes(plan: &Plan) -> Vec<(String, Option<Drainer>)> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::Nodegroup(g) if g.strategy == Strategy::InstanceRefresh => {
                Some((g.name.clone(), Some(g.drainer.unwrap_or(Drainer::TerminationHandler))))
            }
            _ => None,
        })
        .collect()
}

/// One call, also checking that something drains each group of `refreshes` (a
/// group's name and its plan's drainer).
pub async fn reconcile_with_refreshes(
    reader: &ClusterReader,
    cloud: &dyn CloudRead,
    cluster: &str,
    target: &str,
    refreshes: &[(String, Option<Drainer>)],
) -> Result<Progress, StepError> {
    let planned = Planned {
        refreshes,
        ami_moves: &[],
    };
    judged(reader, cloud, cluster, target, planned).await.0
}

/// One call, and the warnings it found (`title: why`).
async fn judged(
    reader: &ClusterReader,
    cloud: &dyn CloudRead,
    cluster: &str,
    target: &str,
    planned: Planned<'_>,
) -> (Result<Progress, StepError>, Vec<String>) {
    let refreshes = planned.refreshes;
    let failed = |why: String| StepError::Failed {
        why,
        what_to_do: "retry (r), or skip the preflight with a reason (S)".into(),
    };
    let snapshot = match preflight::gather::gather(reader).await {
        Ok(s) => s,
        Err(e) => {
            return (
                Err(failed(format!("reading the cluster for the preflight: {e}"))),
                Vec::new(),
            );
        }
    };
    let eks = preflight::eks::gather(cloud, cluster, target).await.ok();
    let tables = match preflight::tables::Tables::load(None) {
        Ok(t) => t,
        Err(e) => return (Err(failed(e.to_string())), Vec::new()),
    };
    let (mut findings, _) = preflight::run(&snapshot, target, &tables, 1, eks.as_ref());
    preflight::nodeos::answered_by_plan(&mut findings, planned.ami_moves);
    if !refreshes.is_empty() {
        let facts = preflight::drainers::gather(reader, cloud, refreshes).await;
        findings.extend(preflight::drainers::check(&facts).0);
    }
    let blockers: Vec<_> = findings.iter().filter(|f| f.severity == Severity::Blocker).collect();
    let noted: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| format!("{}: {}", f.title, f.why))
        .collect();
    let warnings = noted.len();
    let progress = if blockers.is_empty() {
        Ok(Progress::Done {
            what: format!(
                "no blockers, {warnings} warning(s), journaled (d in the rollout pane shows them; so does upshift preflight --target {target} --cluster {cluster})"
            ),
        })
    } else {
        Err(StepError::Failed {
            why: format!(
                "preflight found {} blocker(s): {}",
                blockers.len(),
                blockers.iter().map(|f| f.title.as_str()).collect::<Vec<_>>().join("; ")
            ),
            what_to_do: format!(
                "see `upshift preflight --target {target} --cluster {cluster}` (with the drive's kubeconfig context and AWS settings); fix them and retry (r), or skip with a reason (S)"
            ),
        })
    };
    (progress, noted)
}
