//! Karpenter's NodePools in a plan: discovery (each NodePool, its node class, whether
//! that class pins the AMI, its nodes per minor and its budgets), the `drift-hold`
//! and `nodepool` steps read from a plan file, where they may stand, and their checks
//! against what is live. A cluster without Karpenter has no NodePools, and a plan
//! without these steps reads as it always did.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::load::{Errors, PlanError};
use super::{Live, LiveNodePool, NodepoolStep, Step, WaveSize};
use crate::cluster::ClusterReader;
use crate::cluster::karpenter;

/// The wave a proposed `nodepool` step releases: one node at a time.
pub const DEFAULT_WAVE: WaveSize = WaveSize::Nodes(1);

/// The NodePools, read through `reader`; `nodes` holds each NodePool's nodes per
/// kubelet minor (from the nodes' `karpenter.sh/nodepool` label). A cluster that
/// serves no NodePools (no Karpenter) has none; what cannot be read is said.
pub(super) async fn discover(
    reader: &ClusterReader,
    mut nodes: BTreeMap<String, BTreeMap<String, u32>>,
) -> Result<Vec<LiveNodePool>, (String, String)> {
    let unreadable = |what: &str, e: kube::Error| {
        (
            what.to_string(),
            format!(
                "{e} (planning NodePools needs get/list on nodepools.karpenter.sh and ec2nodeclasses.karpenter.k8s.aws; see docs/rbac)"
            ),
        )
    };
    let pools = match reader.list_dynamic(&karpenter::nodepools()).await {
        Ok(p) => p,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Vec::new()),
        Err(e) => return Err(unreadable("Karpenter NodePools", e)),
    };
    let mut classes = Vec::new();
    if pools
        .iter()
        .filter_map(karpenter::node_class_ref)
        .any(|(_, kind, _)| kind == "EC2NodeClass")
    {
        classes = reader
            .list_dynamic(&karpenter::ec2nodeclasses())
            .await
            .map_err(|e| unreadable("Karpenter EC2NodeClasses", e))?;
    }
    let mut out = Vec::new();
    for p in &pools {
        let name = p.metadata.name.clone().unwrap_or_default();
        let (_, kind, class) = karpenter::node_class_ref(p).unwrap_or_default();
        let pinned = if kind == "EC2NodeClass" {
            classes
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(class.as_str()))
                .and_then(karpenter::pinned_ami)
                .map(|terms| (class.clone(), terms))
        } else {
            // EKS Auto Mode's NodeClass: AWS picks the AMI, which follows the control plane
            None
        };
        out.push(LiveNodePool {
            node_class: format!("{kind}/{class}"),
            pinned,
            minors: nodes.remove(&name).unwrap_or_default(),
            budgets: karpenter::budgets(p).to_string(),
            name,
        });
    }
    Ok(out)
}

/// A `waveSize:` as written: a count (`2`) or a percent (`"10%"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum WaveFile {
    Nodes(u32),
    Text(String),
}

/// Reads a `waveSize:`; the error names what to write.
fn wave(w: WaveFile) -> Result<WaveSize, String> {
    let bad =
        |w: &str| format!("{w:?}: give a number of nodes (e.g. 1) or a percent of the NodePool's nodes (e.g. \"10%\")");
    match w {
        WaveFile::Nodes(0) => Err("0: a wave replaces at least 1 node".into()),
        WaveFile::Nodes(n) => Ok(WaveSize::Nodes(n)),
        WaveFile::Text(t) => match t.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<u32>() {
                Ok(p @ 1..=100) => Ok(WaveSize::Percent(p)),
                _ => Err(bad(&t)),
            },
            None => match t.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(WaveSize::Nodes(n)),
                _ => Err(bad(&t)),
            },
        },
    }
}

/// A `nodepool` step from its fields.
pub(super) fn nodepool_step(
    i: usize,
    e: &Errors,
    name: Option<String>,
    wave_size: Option<WaveFile>,
    auto_continue: Option<bool>,
    pinned_node_class: Option<String>,
) -> Result<Step, PlanError> {
    let name = name.ok_or_else(|| {
        e.at(
            &format!("steps[{i}]"),
            "a nodepool step needs `name:` (the Karpenter NodePool's name)",
        )
    })?;
    let wave = match wave_size {
        Some(w) => wave(w).map_err(|why| e.at(&format!("steps[{i}].waveSize"), why))?,
        None => DEFAULT_WAVE,
    };
    if pinned_node_class.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(e.at(
            &format!("steps[{i}].pinnedNodeClass"),
            "empty: give the EC2NodeClass that pins the AMI, or remove the field",
        ));
    }
    Ok(Step::Nodepool(NodepoolStep {
        name,
        wave,
        auto_continue: auto_continue.unwrap_or(false),
        pinned_node_class,
    }))
}

/// Where the NodePool steps stand in a plan read from a file: the drift hold before
/// the control plane, each NodePool after it, and a hold when there is a NodePool
/// step. Fills the hold's NodePools from the `nodepool` steps.
pub(super) fn check_order(steps: &mut [Step], e: &Errors, moves: bool) -> Result<(), PlanError> {
    let control_plane = steps.iter().position(|s| matches!(s, Step::ControlPlane));
    let pools: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Nodepool(p) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    let hold = steps.iter().position(|s| matches!(s, Step::DriftHold { .. }));
    for (i, s) in steps.iter().enumerate() {
        if let Step::Nodepool(p) = s
            && moves
            && control_plane.is_none_or(|cp| i < cp)
        {
            return Err(e.at(
                &format!("steps[{i}].kind"),
                format!(
                    "nodepool {} comes before the control-plane step: its nodes drift once the control plane moves; \
                     move it after `- kind: control-plane`",
                    p.name
                ),
            ));
        }
    }
    match (hold, control_plane) {
        (Some(h), Some(cp)) if h > cp => {
            return Err(e.at(
                &format!("steps[{h}].kind"),
                "drift-hold comes after the control-plane step: Karpenter replaces drifted nodes as soon as the \
                 control plane moves; move `- kind: drift-hold` above `- kind: control-plane`",
            ));
        }
        (None, _) if moves && !pools.is_empty() => {
            return Err(e.at(
                "steps",
                format!(
                    "nodepool steps ({}) but no drift-hold step: without it Karpenter replaces drifted nodes on its own \
                     as soon as the control plane moves; add `- kind: drift-hold` before `- kind: control-plane`",
                    pools.join(", ")
                ),
            ));
        }
        _ => {}
    }
    if let Some(h) = hold
        && let Step::DriftHold { nodepools } = &mut steps[h]
    {
        *nodepools = pools;
    }
    Ok(())
}

/// Checks a `nodepool` step against what is live: the NodePool exists, and a pinned
/// AMI is named as such.
pub(super) fn validate(i: usize, p: &NodepoolStep, live: &Live, e: &Errors) -> Result<(), PlanError> {
    let Some(lp) = live.nodepool(&p.name) else {
        let names: Vec<&str> = live.nodepools.iter().map(|p| p.name.as_str()).collect();
        return Err(e.at(
            &format!("steps[{i}].name"),
            format!(
                "no Karpenter NodePool {:?} in this cluster; it has: {}. Fix the name or remove the step",
                p.name,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    match (&lp.pinned, &p.pinned_node_class) {
        (Some((class, terms)), None) => Err(e.at(
            &format!("steps[{i}]"),
            format!(
                "NodePool {}'s EC2NodeClass {class} pins its AMI ({terms}): its nodes do not drift until the class \
                 changes; write `pinnedNodeClass: {class}` so that the step waits for you at its first wave",
                p.name
            ),
        )),
        (_, Some(written)) if lp.pinned.as_ref().is_none_or(|(c, _)| c != written) => Err(e.at(
            &format!("steps[{i}].pinnedNodeClass"),
            format!(
                "NodePool {} uses {}, which {}: remove pinnedNodeClass{}",
                p.name,
                lp.node_class,
                if lp.pinned.is_some() {
                    "is another class"
                } else {
                    "follows the control plane (an @latest alias)"
                },
                match &lp.pinned {
                    Some((c, _)) => format!(" or write {c}"),
                    None => String::new(),
                }
            ),
        )),
        _ => Ok(()),
    }
}

/// A `nodepool` step as YAML, with what it does in comments.
pub(super) fn write_step(w: &mut String, p: &NodepoolStep, live: Option<&Live>) {
    use std::fmt::Write as _;
    let facts = live
        .and_then(|l| l.nodepool(&p.name))
        .map(|lp| {
            let minors: Vec<String> = lp.minors.iter().map(|(m, n)| format!("{n} on {m}")).collect();
            format!(" ({} nodes: {}; {})", lp.nodes(), minors.join(", "), lp.node_class)
        })
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "  # Karpenter NodePool {}{facts}: upshift raises its Drifted budget to the wave size, waits until that\n  # many drifted nodes are replaced (Karpenter launches, drains and deletes them), sets it back to 0;\n  # a gate between waves; at the end its budgets are restored as they were",
        p.name
    );
    let _ = writeln!(w, "  - kind: nodepool");
    let _ = writeln!(w, "    name: {}", p.name);
    let _ = writeln!(
        w,
        "    # drifted nodes replaced per wave: a count (1) or a percent of the NodePool's nodes (\"10%\")"
    );
    match p.wave {
        WaveSize::Nodes(n) => {
            let _ = writeln!(w, "    waveSize: {n}");
        }
        WaveSize::Percent(n) => {
            let _ = writeln!(w, "    waveSize: \"{n}%\"");
        }
    }
    if let Some(class) = &p.pinned_node_class {
        let terms = live
            .and_then(|l| l.nodepool(&p.name))
            .and_then(|lp| lp.pinned.as_ref())
            .map(|(_, t)| format!(" ({t})"))
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "    # EC2NodeClass {class} pins the AMI{terms}: nothing drifts until it changes. The first wave\n    # waits at a gate: change the class to an AMI for the target (the gate turns green), or pass it\n    # with a typed reason"
        );
        let _ = writeln!(w, "    pinnedNodeClass: {class}");
    }
    let _ = writeln!(w, "    autoContinue: {}", p.auto_continue);
}

#[cfg(test)]
mod tests {
    use super::super::Plan;
    use super::*;

    const HEAD: &str = "apiVersion: upshift.dev/v1\nkind: Plan\ncluster: {name: np, environment: pre-production}\nfrom: '1.30'\ntarget: '1.31'\nsteps:\n";

    fn load(steps: &str) -> Result<Plan, PlanError> {
        Plan::from_yaml(&format!("{HEAD}{steps}"), "plan.yaml")
    }

    fn err(steps: &str) -> String {
        load(steps).unwrap_err().to_string()
    }

    #[test]
    fn the_hold_lists_the_nodepool_steps_and_the_plan_writes_back_the_same() {
        let p = load(
            "  - kind: drift-hold\n  - kind: control-plane\n  - {kind: nodepool, name: general, waveSize: \"10%\"}\n  - {kind: nodepool, name: critical, waveSize: 2, pinnedNodeClass: pinned, autoContinue: true}\n",
        )
        .unwrap();
        assert_eq!(
            p.steps[0],
            Step::DriftHold {
                nodepools: vec!["general".into(), "critical".into()]
            }
        );
        assert_eq!(
            p.steps[3],
            Step::Nodepool(NodepoolStep {
                name: "critical".into(),
                wave: WaveSize::Nodes(2),
                auto_continue: true,
                pinned_node_class: Some("pinned".into()),
            })
        );
        let again = Plan::from_yaml(&p.to_yaml(None), "again.yaml").unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn misplaced_or_malformed_nodepool_steps_are_refused_by_step_and_field() {
        let e = err("  - kind: drift-hold\n  - {kind: nodepool, name: general}\n  - kind: control-plane\n");
        assert!(
            e.contains("step 2 (steps[1].kind)") && e.contains("before the control-plane step"),
            "{e}"
        );
        let e = err("  - kind: control-plane\n  - kind: drift-hold\n  - {kind: nodepool, name: general}\n");
        assert!(
            e.contains("steps[1].kind") && e.contains("move `- kind: drift-hold` above"),
            "{e}"
        );
        let e = err("  - kind: control-plane\n  - {kind: nodepool, name: general}\n");
        assert!(e.contains("no drift-hold step") && e.contains("general"), "{e}");
        let e = err(
            "  - kind: drift-hold\n  - kind: control-plane\n  - {kind: nodepool, name: general, waveSize: \"0%\"}\n",
        );
        assert!(e.contains("step 3 (steps[2].waveSize)") && e.contains("percent"), "{e}");
        let e =
            err("  - kind: drift-hold\n  - kind: control-plane\n  - {kind: nodepool, name: general, waveSize: 0}\n");
        assert!(e.contains("steps[2].waveSize") && e.contains("at least 1 node"), "{e}");
        let e =
            err("  - kind: drift-hold\n  - kind: control-plane\n  - {kind: nodepool, name: general, batchSize: 2}\n");
        assert!(e.contains("steps[2].batchSize") && e.contains("waveSize"), "{e}");
        let e = err("  - kind: drift-hold\n  - kind: control-plane\n  - {kind: nodepool}\n");
        assert!(e.contains("steps[2]") && e.contains("needs `name:`"), "{e}");
    }

    fn live() -> Live {
        Live {
            control_plane: "1.30".into(),
            nodepools: vec![
                LiveNodePool {
                    name: "general".into(),
                    node_class: "EC2NodeClass/default".into(),
                    ..Default::default()
                },
                LiveNodePool {
                    name: "critical".into(),
                    node_class: "EC2NodeClass/pinned".into(),
                    pinned: Some(("pinned".into(), "id: ami-0abc".into())),
                    ..Default::default()
                },
            ],
            ..Live::default()
        }
    }

    #[test]
    fn validation_names_a_missing_nodepool_and_an_unanswered_pinned_ami() {
        let hold = "  - kind: drift-hold\n  - kind: control-plane\n";
        let ok = load(&format!(
            "{hold}  - {{kind: nodepool, name: general}}\n  - {{kind: nodepool, name: critical, pinnedNodeClass: pinned}}\n"
        ))
        .unwrap();
        ok.validate(&live()).unwrap();
        let p = load(&format!("{hold}  - {{kind: nodepool, name: genral}}\n")).unwrap();
        let e = p.validate(&live()).unwrap_err().to_string();
        assert!(e.contains("steps[2].name") && e.contains("general, critical"), "{e}");
        let p = load(&format!("{hold}  - {{kind: nodepool, name: critical}}\n")).unwrap();
        let e = p.validate(&live()).unwrap_err().to_string();
        assert!(e.contains("pinnedNodeClass: pinned") && e.contains("ami-0abc"), "{e}");
        let p = load(&format!(
            "{hold}  - {{kind: nodepool, name: general, pinnedNodeClass: default}}\n"
        ))
        .unwrap();
        let e = p.validate(&live()).unwrap_err().to_string();
        assert!(e.contains("steps[2].pinnedNodeClass") && e.contains("@latest"), "{e}");
    }

    #[test]
    fn a_percent_wave_rounds_up_and_is_at_least_one_node() {
        assert_eq!(WaveSize::Percent(10).of(14), 2);
        assert_eq!(WaveSize::Percent(10).of(3), 1);
        assert_eq!(WaveSize::Nodes(3).of(2), 3);
    }
}
