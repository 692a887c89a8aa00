//! Karpenter's NodePools through an upgrade. `drift-hold`, before the control
//! plane, sets each planned NodePool's budget for reason `Drifted` to 0 (the budgets
//! found are journaled first), so that nothing is replaced while the control plane
//! moves. Each `nodepool` step then releases drift in waves: upshift's budget raised
//! to the wave size, the wave's drifted nodes replaced by Karpenter (launch, drain
//! through the eviction API, delete), the budget back to 0, a gate before the next
//! wave; at the end the budgets are restored exactly as found. An abort restores
//! every NodePool's budgets. Every patch is journaled before it is sent and after.

mod budgets;
mod observe;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::drain::kube_failed;
use super::eviction_blockers;
use super::{Progress, StepCtx, StepError};
use crate::cluster::karpenter;
use crate::model::Level;
use crate::model::journal::{GateId, StepId, StepState, What};
use crate::model::rollout::{Criterion, HeldBudgets};
use crate::rollout::journal::Journal;
use crate::rollout::plan::NodepoolStep;
use budgets::{CLOSE, HOLD, Held, OPEN, RESTORE, UNDO};
pub use budgets::{SAVED as BUDGETS_SAVED, undo_command};
use observe::PoolView;

/// How long a wave waits for Karpenter to find a drifted node before it ends with
/// the nodes left as they are (a pinned AMI passed at its gate; nothing drifts).
const DRIFT_WAIT_SECS: i64 = 15 * 60;
/// The journal's reason on the note that a NodePool's AMI selection was seen pinned.
const PINNED: &str = "PinnedAmiSeen";

fn client(ctx: &StepCtx<'_>) -> Result<kube::Client, StepError> {
    ctx.client.clone().ok_or_else(|| StepError::Failed {
        why: "a NodePool step needs a Kubernetes client, and this step context has none".into(),
        what_to_do: "run the drive with a cluster connection".into(),
    })
}

fn gone(pool: &str) -> StepError {
    StepError::Failed {
        why: format!("Karpenter NodePool {pool} is not in the cluster"),
        what_to_do: "check `kubectl get nodepools`; if it was removed on purpose, skip the step with a reason".into(),
    }
}

fn changed(pool: &str, original: &Value, current: &Value) -> StepError {
    StepError::Failed {
        why: format!(
            "NodePool {pool}'s disruption budgets changed while upshift held its drift: upshift found {original}, \
             and now sees {current}"
        ),
        what_to_do: format!(
            "put back what upshift found ({}) or tell whoever changed them; then retry (r)",
            undo_command(pool, original)
        ),
    }
}

fn event(ctx: &mut StepCtx<'_>, level: Level, object: String, reason: &str, message: String) -> Result<(), StepError> {
    let at = (ctx.now)();
    ctx.journal.append(
        ctx.who,
        at,
        What::Event {
            level,
            object,
            reason: reason.into(),
            message,
        },
    )?;
    Ok(())
}

/// Sets `pool`'s budgets to `list`, journaled as `action` on `target` before and after.
#[allow(clippy::too_many_arguments)]
async fn set_budgets(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    step: &StepId,
    action: &str,
    target: &str,
    pool: &str,
    list: &Value,
) -> Result<(), StepError> {
    ctx.action(step, action, target)?;
    let patch = json!({"spec": {"disruption": {"budgets": list}}});
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &karpenter::nodepools());
    match api.patch(pool, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => ctx.result(step, action, target, true, list.to_string()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            ctx.result(step, action, target, false, "the NodePool is gone".into())?;
            Err(gone(pool))
        }
        Err(e) => {
            ctx.result(step, action, target, false, e.to_string())?;
            Err(kube_failed(
                &format!(
                    "setting NodePool {pool}'s disruption budgets (the lead needs patch on nodepools.karpenter.sh)"
                ),
                e,
            ))
        }
    }
}

/// Holds drift on `pool` (upshift's budget at 0), recording the budgets found
/// first. Returns whether it acted (false: held already).
async fn hold(ctx: &mut StepCtx<'_>, client: &kube::Client, step: &StepId, pool: &str) -> Result<bool, StepError> {
    let Some(p) = observe::pool(client, pool).await? else {
        return Err(gone(pool));
    };
    let current = karpenter::budgets(&p);
    let original = match budgets::saved(ctx.journal, pool) {
        Some((_, v)) => v,
        None => {
            // recorded before the first patch: whatever happens next, it can be restored
            event(
                ctx,
                Level::Info,
                budgets::object(pool),
                budgets::SAVED,
                current.to_string(),
            )?;
            current.clone()
        }
    };
    match budgets::read(&original, &current) {
        Held::Ours(0) => Ok(false),
        Held::Original | Held::Ours(_) => {
            let list = budgets::with_ours(&original, 0);
            set_budgets(ctx, client, step, HOLD, &budgets::target(pool, 0), pool, &list).await?;
            Ok(true)
        }
        Held::Other => Err(changed(pool, &original, &current)),
    }
}

/// The `drift-hold` step: every NodePool's drift held, one patch a call.
pub async fn reconcile_hold(ctx: &mut StepCtx<'_>, pools: &[String]) -> Result<Progress, StepError> {
    let client = client(ctx)?;
    let step = StepId::DriftHold;
    ctx.state(&step, StepState::Running)?;
    for pool in pools {
        if hold(ctx, &client, &step, pool).await? {
            return Ok(Progress::Waiting {
                what: format!("drift held on NodePool {pool}"),
                detail: "its Drifted budget is 0; the budgets it had are in the journal".into(),
            });
        }
    }
    ctx.state(&step, StepState::Done)?;
    Ok(Progress::Done {
        what: format!(
            "drift held on NodePool(s) {}: Karpenter replaces no drifted node until their steps",
            pools.join(", ")
        ),
    })
}

/// Restores `pool`'s budgets as they were found: `RESTORE` at its step's end,
/// `UNDO` on abort or at the rollout's end.
async fn restore(
    ctx: &mut StepCtx<'_>,
    client: &kube::Client,
    step: &StepId,
    action: &str,
    pool: &str,
    original: &Value,
) -> Result<(), StepError> {
    set_budgets(ctx, client, step, action, pool, pool, original).await
}

/// A `nodepool` step, one action a call: hold if not held, the gate before a wave,
/// open a wave, wait for its nodes, close it, restore the budgets at the end.
pub async fn reconcile(ctx: &mut StepCtx<'_>, p: &NodepoolStep) -> Result<Progress, StepError> {
    let client = client(ctx)?;
    let step = StepId::Nodepool(p.name.clone());
    let pool = p.name.as_str();
    let target = ctx.target.to_string();
    if budgets::restored(ctx.journal, pool) {
        ctx.state(&step, StepState::Done)?;
        return Ok(Progress::Done {
            what: format!("NodePool {pool}: drift released, its budgets restored"),
        });
    }
    ctx.state(&step, StepState::Running)?;
    let Some(view) = observe::view(&client, pool).await? else {
        return Err(gone(pool));
    };
    let (since, original) = match budgets::saved(ctx.journal, pool) {
        Some(s) => s,
        None => {
            hold(ctx, &client, &step, pool).await?;
            return Ok(waiting(format!("NodePool {pool}: drift held"), String::new()));
        }
    };
    let held = budgets::read(&original, &view.budgets);
    let waves = budgets::waves(ctx.journal, pool, since);
    let old: Vec<String> = view.old(&target).map(|n| n.name.clone()).collect();
    let wave_nodes = p.wave.of(view.nodes.len() as u32);
    let open = u32::from(matches!(held, Held::Ours(n) if n > 0) && !waves.is_empty());
    let started = waves.len() as u32;
    let of = (started - open + (old.len() as u32).div_ceil(wave_nodes)).max(started);
    progress(ctx, &view, &target, started, of);
    match held {
        Held::Other => Err(changed(pool, &original, &view.budgets)),
        Held::Original => {
            hold(ctx, &client, &step, pool).await?;
            Ok(waiting(format!("NodePool {pool}: drift held again"), String::new()))
        }
        Held::Ours(n) if n > 0 => {
            let Some(w) = waves.last() else {
                // a budget open with no wave journaled: close it
                set_budgets(
                    ctx,
                    &client,
                    &step,
                    CLOSE,
                    &budgets::target(pool, 0),
                    pool,
                    &budgets::with_ours(&original, 0),
                )
                .await?;
                return Ok(waiting(
                    format!("NodePool {pool}: an open drift budget closed"),
                    String::new(),
                ));
            };
            let here: Vec<&str> = view.nodes.iter().map(|n| n.name.as_str()).collect();
            let busy = view.disrupting();
            let replaced = w.old.iter().filter(|n| !here.contains(&n.as_str())).count() as u32;
            // Karpenter finishes a disruption it began whatever the budget says later:
            // the budget closes as soon as the wave's nodes are under way, so that no
            // node beyond the wave starts before the gate
            let started = w
                .old
                .iter()
                .filter(|n| !here.contains(&n.as_str()) || busy.contains(n))
                .count() as u32;
            let need = w.size.min(w.old.len() as u32);
            let drifted = view.old(&target).filter(|n| n.drifted).count();
            let waited = (ctx.now)().as_second() - w.at.as_second();
            let idle = drifted == 0 && busy.is_empty() && view.launching == 0 && waited >= DRIFT_WAIT_SECS;
            if started >= need || old.is_empty() || idle {
                let list = budgets::with_ours(&original, 0);
                set_budgets(ctx, &client, &step, CLOSE, &budgets::target(pool, 0), pool, &list).await?;
                return Ok(waiting(
                    format!(
                        "NodePool {pool}: wave {} of {of}: {started} of {need} under way, {replaced} replaced",
                        w.number
                    ),
                    "its Drifted budget is back at 0: no node beyond the wave starts".into(),
                ));
            }
            let blockers = eviction_blockers::on_nodes(&client, &busy).await;
            if let Some(b) = blockers.first() {
                ctx.group.holding = Some(format!("node {}: pod {} held by {}", b.node, b.pod, b.budget));
            }
            Ok(waiting(
                format!(
                    "NodePool {pool}: wave {} of {of}: {replaced} of {need} replaced; {drifted} drifted, {} being replaced, {} launching",
                    w.number,
                    busy.len(),
                    view.launching
                ),
                if blockers.is_empty() {
                    format!("Karpenter replaces up to {n} drifted node(s) at once")
                } else {
                    format!("Karpenter cannot drain {}", eviction_blockers::say(&blockers))
                },
            ))
        }
        Held::Ours(_) => {
            let busy = view.disrupting();
            if !waves.is_empty() && (!busy.is_empty() || view.launching > 0) {
                return Ok(waiting(
                    format!(
                        "NodePool {pool}: wave {} closed; {} node(s) still being replaced, {} launching",
                        waves.len(),
                        busy.len(),
                        view.launching
                    ),
                    busy.join(", "),
                ));
            }
            // the last wave replaced nothing and nothing is drifted: Karpenter will
            // not replace the rest (a pinned AMI passed as it is)
            let nothing_drifted = waves
                .last()
                .is_some_and(|w| w.old.iter().all(|n| old.contains(n)) && !w.old.is_empty())
                && !view.old(&target).any(|n| n.drifted);
            if old.is_empty() || nothing_drifted {
                restore(ctx, &client, &step, RESTORE, pool, &original).await?;
                ctx.state(&step, StepState::Done)?;
                let what = if old.is_empty() {
                    format!("NodePool {pool}: every node on {target}; its budgets restored as found")
                } else {
                    format!(
                        "NodePool {pool}: {} node(s) stay off {target} (Karpenter found none drifted); its budgets restored as found",
                        old.len()
                    )
                };
                return Ok(Progress::Done { what });
            }
            let batch = waves.len() as u32 + 1;
            if batch == 1
                && let Some(class) = &p.pinned_node_class
            {
                note_pinned(ctx, &client, pool, class).await?;
            }
            let gated = batch > 1 || p.pinned_node_class.is_some();
            if gated && ctx.journal.gate_decision(&GateId::batch(step.clone(), batch)).is_none() {
                return Ok(Progress::Gate { batch, of });
            }
            let message = budgets::wave_message(batch, wave_nodes, &old);
            event(ctx, Level::Info, budgets::object(pool), budgets::WAVE, message)?;
            let list = budgets::with_ours(&original, wave_nodes);
            set_budgets(
                ctx,
                &client,
                &step,
                OPEN,
                &budgets::target(pool, wave_nodes),
                pool,
                &list,
            )
            .await?;
            Ok(waiting(
                format!("NodePool {pool}: wave {batch} of {of} opened: {wave_nodes} drifted node(s) at once"),
                format!("{} node(s) not on {target}", old.len()),
            ))
        }
    }
}

fn waiting(what: String, detail: String) -> Progress {
    Progress::Waiting { what, detail }
}

/// Fills the step's progress for the cockpit: nodes off and on the target, the
/// wave (as a batch), the nodes being replaced.
fn progress(ctx: &mut StepCtx<'_>, view: &PoolView, target: &str, wave: u32, of: u32) {
    let old = view.old(target).count() as u32;
    ctx.group.old = old;
    ctx.group.new = view.nodes.len() as u32 - old;
    ctx.group.batch = wave;
    ctx.group.batches = of;
    ctx.group.draining = view.disrupting();
}

/// Journals once what a pinned EC2NodeClass selects, for its gate to see a change.
async fn note_pinned(ctx: &mut StepCtx<'_>, client: &kube::Client, pool: &str, class: &str) -> Result<(), StepError> {
    let object = format!("EC2NodeClass/{class}");
    let noted = ctx
        .journal
        .entries()
        .iter()
        .any(|e| matches!(&e.what, What::Event { object: o, reason, .. } if *o == object && reason == PINNED));
    if noted {
        return Ok(());
    }
    let terms = class_terms(client, class).await?;
    event(
        ctx,
        Level::Info,
        object,
        PINNED,
        format!("NodePool {pool} waits for {class}'s AMI selection to change from: {terms}"),
    )
}

async fn class_terms(client: &kube::Client, class: &str) -> Result<String, StepError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &karpenter::ec2nodeclasses());
    let c = api
        .get_opt(class)
        .await
        .map_err(|e| kube_failed(&format!("reading EC2NodeClass {class}"), e))?;
    Ok(c.map(|c| {
        c.data
            .pointer("/spec/amiSelectorTerms")
            .cloned()
            .unwrap_or(Value::Null)
            .to_string()
    })
    .unwrap_or_else(|| "(the class is gone)".into()))
}

/// What a gate of a `nodepool` step also judges, read now: the NodePool's drifted
/// nodes that a PodDisruptionBudget holds (pod and budget named), and before its
/// first wave, whether a pinned EC2NodeClass changed since the step began.
pub async fn gate_criteria(
    client: &kube::Client,
    journal: &Journal,
    p: &NodepoolStep,
    target: &str,
    batch: Option<u32>,
) -> Vec<Criterion> {
    let mut out = Vec::new();
    if let Ok(Some(view)) = observe::view(client, &p.name).await {
        let drifted: Vec<String> = view.old(target).filter(|n| n.drifted).map(|n| n.name.clone()).collect();
        let blockers = eviction_blockers::on_nodes(client, &drifted).await;
        out.push(Criterion {
            name: "drifted nodes held".into(),
            ok: blockers.is_empty(),
            detail: if blockers.is_empty() {
                format!(
                    "no PodDisruptionBudget holds NodePool {}'s {} drifted node(s)",
                    p.name,
                    drifted.len()
                )
            } else {
                format!("Karpenter cannot drain {}", eviction_blockers::say(&blockers))
            },
            items: blockers
                .iter()
                .map(|b| crate::model::journal::Accepted {
                    item: format!("node {}: pod {} held by {}", b.node, b.pod, b.budget),
                    level: 1,
                })
                .collect(),
            accepted: None,
        });
    }
    if let (Some(class), Some(1)) = (&p.pinned_node_class, batch) {
        let object = format!("EC2NodeClass/{class}");
        let seen = journal.entries().iter().rev().find_map(|e| match &e.what {
            What::Event {
                object: o,
                reason,
                message,
                ..
            } if *o == object && reason == PINNED => message.rsplit_once("change from: ").map(|(_, t)| t.to_string()),
            _ => None,
        });
        let now = class_terms(client, class).await.unwrap_or_default();
        let same = seen.as_deref().is_none_or(|s| s == now);
        out.push(Criterion {
            name: "pinned AMI".into(),
            ok: !same,
            detail: if same {
                format!(
                    "EC2NodeClass {class} still selects {now}: nothing drifts until it names an AMI for {target} \
                     (kubectl edit ec2nodeclass {class}); or pass with a typed reason to release drift as it is"
                )
            } else {
                format!("EC2NodeClass {class} changed: it selects {now}")
            },
            items: Vec::new(),
            accepted: None,
        });
    }
    out
}

/// Restores every NodePool's budgets journaled and not restored yet (an abort, the
/// rollout's end). One line per NodePool.
pub async fn restore_all(ctx: &mut StepCtx<'_>, step: &StepId) -> Result<Vec<String>, StepError> {
    let client = client(ctx)?;
    let mut lines = Vec::new();
    for (pool, original) in budgets::all_saved(ctx.journal) {
        match restore(ctx, &client, step, UNDO, &pool, &original).await {
            Ok(()) => lines.push(format!(
                "NodePool {pool}'s disruption budgets restored as found ({original})"
            )),
            Err(StepError::Journal(e)) => return Err(e.into()),
            Err(e) => lines.push(format!(
                "NodePool {pool}'s budgets NOT restored ({e}): run {}",
                undo_command(&pool, &original)
            )),
        }
    }
    Ok(lines)
}

/// The budgets to restore, for the rollout's ConfigMap.
pub fn held_budgets(journal: &Journal) -> Vec<HeldBudgets> {
    budgets::all_saved(journal)
        .into_iter()
        .map(|(pool, b)| HeldBudgets {
            undo: undo_command(&pool, &b),
            budgets: b.to_string(),
            nodepool: pool,
        })
        .collect()
}

/// What the real state says of a NodePool action in doubt; None for other actions.
pub async fn doubt(ctx: &StepCtx<'_>, action: &str, target: &str) -> Result<Option<super::doubt::Found>, StepError> {
    use super::doubt::Found;
    if ![HOLD, OPEN, CLOSE, RESTORE, UNDO].contains(&action) {
        return Ok(None);
    }
    let (pool, want) = match target.split_once('=') {
        Some((p, n)) => (p, n.parse::<u32>().ok()),
        None => (target, None),
    };
    let Some(original) = budgets::saved(ctx.journal, pool).map(|(_, v)| v) else {
        return Ok(Some(Found::done(format!(
            "NodePool {pool}'s budgets were restored since"
        ))));
    };
    let client = client(ctx)?;
    let Some(p) = observe::pool(&client, pool).await? else {
        return Ok(Some(Found::not(format!("NodePool {pool} is gone"))));
    };
    let now = budgets::read(&original, &karpenter::budgets(&p));
    let found = match (action, want) {
        (RESTORE | UNDO, _) if now == Held::Original => Found::done(format!("NodePool {pool}'s budgets are as found")),
        (_, Some(n)) if now == Held::Ours(n) => Found::done(format!("NodePool {pool}'s Drifted budget is {n}")),
        _ => Found::not(format!(
            "NodePool {pool}'s budgets read {now:?} against what upshift found"
        )),
    };
    Ok(Some(found))
}
