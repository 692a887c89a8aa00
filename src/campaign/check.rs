//! `campaign check` beyond the file itself: each cluster's plan (it loads, and it is
//! for this cluster and this target) and, unless offline, each cluster (its context
//! answers; its control plane is at the target or one minor below). Every problem
//! names the campaign file's line and field.

use super::file::{Campaign, CampaignError};
use super::live;
use crate::rollout::plan::Plan;
use crate::units::Minor;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Checked {
    /// What is wrong: the campaign cannot run as written.
    pub invalid: Vec<CampaignError>,
    /// What could not be checked (a context that does not answer).
    pub unchecked: Vec<CampaignError>,
    /// One line per cluster that passed: what was found.
    pub passed: Vec<String>,
}

impl Checked {
    /// 0 valid, 1 invalid, 2 could not check everything.
    pub fn exit_code(&self) -> i32 {
        if !self.invalid.is_empty() {
            1
        } else if !self.unchecked.is_empty() {
            2
        } else {
            0
        }
    }
}

/// Whether a control plane on `running` can go to `target`: at it, or one minor below.
pub fn version_fits(running: Minor, target: Minor) -> Result<(), String> {
    if running == target {
        return Ok(());
    }
    if running.next() == target {
        return Ok(());
    }
    if running > target {
        return Err(format!(
            "its control plane runs {running}, newer than the campaign's target {target}: take it out of the campaign or raise the target"
        ));
    }
    let before = Minor::new(target.major, target.minor.saturating_sub(1));
    Err(format!(
        "its control plane runs {running}, more than one minor below the target {target}: EKS upgrades one minor at a time, so upgrade it to {before} first (another campaign)"
    ))
}

/// Checks the clusters' plans, and the clusters themselves unless `offline`.
pub async fn check(campaign: &Campaign, offline: bool) -> Checked {
    let mut out = Checked::default();
    for (_, c) in campaign.clusters() {
        let mut said = Vec::new();
        let mut fine = true;
        if let Some(path) = &c.plan {
            let field = campaign.cluster_field(&c.name, "plan");
            match Plan::load(path) {
                Err(e) => {
                    out.invalid
                        .push(campaign.error_at(&field, format!("the plan does not load: {e}")));
                    fine = false;
                }
                Ok(p) => {
                    if p.target != campaign.target.to_string() {
                        out.invalid.push(campaign.error_at(
                            &field,
                            format!(
                                "the plan {} goes to {}, not the campaign's target {}: write it again with `upshift plan --target {}`",
                                path.display(),
                                p.target,
                                campaign.target,
                                campaign.target
                            ),
                        ));
                        fine = false;
                    }
                    if p.cluster.name != c.eks {
                        out.invalid.push(campaign.error_at(
                            &field,
                            format!(
                                "the plan {} is for cluster {}, not {} (the cluster's `eks`, default its name): give this cluster its own plan",
                                path.display(),
                                p.cluster.name,
                                c.eks
                            ),
                        ));
                        fine = false;
                    }
                    if let Some(ctx) = p.cluster.context.as_ref().filter(|ctx| **ctx != c.context) {
                        out.invalid.push(campaign.error_at(
                            &field,
                            format!(
                                "the plan {} was made through context {ctx}, not {} (the cluster's `context`): check that both name the same cluster",
                                path.display(),
                                c.context
                            ),
                        ));
                        fine = false;
                    }
                    said.push(format!("plan {} ({} steps)", path.display(), p.steps.len()));
                }
            }
        } else {
            said.push("plan generated when driven".to_string());
        }
        if !offline {
            let field = campaign.cluster_field(&c.name, "context");
            let reader = match live::reader(c).await {
                Ok(r) => Some(r),
                Err(e) => {
                    out.unchecked
                        .push(campaign.error_at(&field, format!("cannot reach the cluster: {e}")));
                    fine = false;
                    None
                }
            };
            if let Some(reader) = reader {
                match live::version(&reader, c).await {
                    Err(e) => {
                        out.unchecked
                            .push(campaign.error_at(&field, format!("cannot reach the cluster: {e}")));
                        fine = false;
                    }
                    Ok(v) => match Minor::parse(&v) {
                        None => {
                            out.unchecked.push(
                                campaign.error_at(&field, format!("the API server's version {v:?} names no minor")),
                            );
                            fine = false;
                        }
                        Some(m) => match version_fits(m, campaign.target) {
                            Ok(()) => said.insert(0, format!("context {} answers, control plane {m}", c.context)),
                            Err(why) => {
                                out.invalid
                                    .push(campaign.error_at(&field, format!("cluster {}: {why}", c.name)));
                                fine = false;
                            }
                        },
                    },
                }
            }
        }
        if fine {
            out.passed.push(format!("{}: {}", c.name, said.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_plane_at_the_target_or_one_below_fits() {
        let t = Minor::new(1, 35);
        assert!(version_fits(Minor::new(1, 35), t).is_ok());
        assert!(version_fits(Minor::new(1, 34), t).is_ok());
        let e = version_fits(Minor::new(1, 33), t).expect_err("two below");
        assert!(e.contains("upgrade it to 1.34 first"), "{e}");
        let e = version_fits(Minor::new(1, 36), t).expect_err("newer");
        assert!(e.contains("newer"), "{e}");
    }
}
