//! Reading the rollout's journal (gates passed, steps ended, batches) and the report
//! printed from it.

#[allow(unused_imports)]
use super::*;

pub fn secs(a: Timestamp, b: Timestamp) -> f64 {
    b.duration_since(a).as_secs_f64()
}

/// When the gate `id` was passed.
pub fn passed(journal: &[Entry], id: &GateId) -> Option<Timestamp> {
    journal.iter().find_map(|e| match &e.what {
        What::Decision {
            step: Some(Subject::Gate(g)),
            decision,
            ..
        } if g == id && decision.passes_gate() => Some(e.at),
        _ => None,
    })
}

/// When step `id` ended (done or skipped).
pub fn ended(journal: &[Entry], id: &StepId) -> Option<Timestamp> {
    journal.iter().rev().find_map(|e| match &e.what {
        What::Step { step, state } if step == id && state.finished() => Some(e.at),
        _ => None,
    })
}

/// One batch of a self-managed group replaced by upshift.
pub struct Batch {
    pub start: Timestamp,
    /// The last of its nodes' instances terminated.
    pub terminated: Option<Timestamp>,
    /// The last of their replacements joined Ready.
    pub joined: Option<Timestamp>,
    /// The next batch's gate passed, or the step's end.
    pub next: Option<Timestamp>,
    /// What the budgets force: (waves - 1) × the slowest start + a pod's stop.
    pub drain_bound: f64,
}

pub fn batches(run: &Run, w: &World, group: &str) -> Vec<Batch> {
    let step = StepId::Nodegroup(group.to_string());
    let j = &run.journal;
    let starts: Vec<Timestamp> = j
        .iter()
        .filter_map(|e| match &e.what {
            What::Action { step: s, action, .. } if *s == step && action == "start-batch" => Some(e.at),
            _ => None,
        })
        .collect();
    let end = ended(j, &step);
    // when each replacement joined: the group's nodes created during the step
    let mut joins: Vec<Timestamp> = w
        .nodes
        .items()
        .values()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SELF_MANAGED_LABEL))
                .is_some_and(|g| g == group)
        })
        .filter_map(|n| n.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .filter(|t| starts.first().is_some_and(|s| t >= s))
        .collect();
    joins.sort();
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let until = starts.get(i + 1).copied().or(end);
        let within = |t: Timestamp| t >= start && until.is_none_or(|u| t <= u);
        let terminated = j
            .iter()
            .filter(|e| matches!(&e.what, What::Action { step: s, action, .. } if *s == step && action == "terminate-instance"))
            .map(|e| e.at)
            .filter(|t| within(*t))
            .max();
        let joined = joins.iter().copied().filter(|t| within(*t)).max();
        let next = passed(j, &GateId::batch(step.clone(), i as u32 + 2)).or(end);
        // evictions that went through in this batch, per budget: waves of `allowed`
        let evicted: Vec<&str> = j
            .iter()
            .filter(|e| within(e.at))
            .filter_map(|e| match &e.what {
                What::Result {
                    step: s,
                    action,
                    target,
                    ok: true,
                    ..
                } if *s == step && action == "evict" => Some(target.as_str()),
                _ => None,
            })
            .collect();
        let forced = run
            .facts
            .budgets
            .iter()
            .map(|b| {
                let prefix = format!("{}/{}-", b.namespace, b.app);
                let pods = evicted.iter().filter(|k| k.starts_with(&prefix)).count() as u32;
                f64::from(pods.div_ceil(b.allowed).saturating_sub(1)) * b.start
            })
            .fold(0.0, f64::max);
        out.push(Batch {
            start,
            terminated,
            joined,
            next,
            drain_bound: forced + run.facts.stop,
        });
    }
    out
}

// ---------------------------------------------------------------- the report

pub fn fmt_secs(s: f64) -> String {
    if s.is_nan() { "-".into() } else { format!("{s:.0}") }
}

pub fn report(sim: &Simulator, run: &Run, speed: f64, poll: Duration) {
    let w = sim.world();
    let w = w.lock();
    let j = &run.journal;
    let first = j
        .iter()
        .find(|e| matches!(&e.what, What::Decision { step: Some(_), decision, .. } if decision.passes_gate()))
        .map(|e| e.at)
        .expect("a gate was passed");
    let last_id = run.plan.steps.last().map(Step::id).expect("a plan with steps");
    let done = ended(j, &last_id).expect("the last step ended");
    let total = secs(first, done);

    println!(
        "upgrade: {:<34} {:>7} {:>7}  {:>7} {:>7}  lower bound counts",
        "step", "gate s", "bound", "run s", "bound"
    );
    let mut bound_total = 0.0;
    let mut gates = (0.0, 0.0);
    let mut previous_end: Option<Timestamp> = None;
    let mut replaced: Vec<(String, Vec<Batch>)> = Vec::new();
    for (i, step) in run.plan.steps.iter().enumerate() {
        let id = step.id();
        let gate_at = passed(j, &GateId::before(id.clone()));
        let end = ended(j, &id);
        let gate = match (previous_end, gate_at) {
            (Some(p), Some(g)) => secs(p, g),
            _ => f64::NAN,
        };
        // every gate after the first holds green for the plan's settle time
        let gate_bound = if i == 0 { 0.0 } else { run.facts.settle };
        let ran = match (gate_at, end) {
            (Some(g), Some(e)) => secs(g, e),
            _ => f64::NAN,
        };
        let bs = match step {
            Step::Nodegroup(g) if g.strategy == Strategy::Replace => batches(run, &w, &g.name),
            _ => Vec::new(),
        };
        let (run_bound, why) = step_bound(&run.facts, step, &bs);
        bound_total += gate_bound + run_bound;
        if i > 0 {
            gates.0 += gate;
            gates.1 += gate_bound;
        }
        let skipped = j
            .iter()
            .any(|e| matches!(&e.what, What::Step { step, state: StepState::Skipped } if *step == id));
        println!(
            "upgrade: {:<34} {:>7} {:>7}  {:>7} {:>7}  {}",
            step.label(),
            if i == 0 { "-".into() } else { fmt_secs(gate) },
            fmt_secs(gate_bound),
            fmt_secs(ran),
            fmt_secs(run_bound),
            if skipped {
                format!("{why} (skipped by the lead)")
            } else {
                why
            }
        );
        if let Step::Nodegroup(g) = step
            && !bs.is_empty()
        {
            replaced.push((g.name.clone(), bs));
        }
        previous_end = end;
    }
    println!(
        "upgrade: virtual duration {} s ({:.2} h), first gate passed to Done; lower bound {} s; ratio {:.2} (goal: at most 1.20)",
        fmt_secs(total),
        total / 3600.0,
        fmt_secs(bound_total),
        total / bound_total
    );
    println!(
        "upgrade: at the gates between steps {} s (bound {} s: the plan's {} s settle each)",
        fmt_secs(gates.0),
        fmt_secs(gates.1),
        fmt_secs(run.facts.settle)
    );

    // where the replaced groups' batches spent their time
    let (mut drain, mut drain_b, mut boot, mut boot_b, mut after, mut after_b, mut n) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
    for (name, bs) in &replaced {
        let boot_secs = run.facts.groups.get(name).map_or(0.0, |g| g.boot);
        for (i, b) in bs.iter().enumerate() {
            let (Some(t), Some(jn), Some(next)) = (b.terminated, b.joined, b.next) else {
                continue;
            };
            n += 1;
            drain += secs(b.start, t);
            drain_b += b.drain_bound;
            boot += secs(t, jn);
            boot_b += boot_secs;
            after += secs(jn, next);
            if i + 1 < bs.len() {
                after_b += run.facts.settle;
            }
        }
    }
    if n > 0 {
        println!(
            "upgrade: {n} batches replaced by upshift: start to last instance terminated {} s (bound {}: budgets' waves and a pod's stop), to last replacement Ready {} s (bound {}: boot), to the next batch or the step's end {} s (bound {}: settle)",
            fmt_secs(drain),
            fmt_secs(drain_b),
            fmt_secs(boot),
            fmt_secs(boot_b),
            fmt_secs(after),
            fmt_secs(after_b),
        );
    }
    // the simulator's own lateness: replacements join at its tick after their boot time
    let mut late = Vec::new();
    for g in &w.groups {
        for inst in &g.instances {
            if inst.launched < first {
                continue;
            }
            if let Some(node) = w.nodes.get(&inst.node_name)
                && let Some(t) = node.metadata.creation_timestamp.as_ref()
            {
                late.push(secs(inst.launched, t.0) - g.boot_seconds);
            }
        }
    }
    if !late.is_empty() {
        let mean = late.iter().sum::<f64>() / late.len() as f64;
        println!(
            "upgrade: the {} instances launched during the rollout joined {:.1} s after their boot time on average",
            late.len(),
            mean,
        );
    }
    println!(
        "upgrade: the drive turns every {} ms of real time: {:.0} virtual s at {speed}x",
        poll.as_millis(),
        poll.as_secs_f64() * speed
    );
    if !run.overrides.is_empty() {
        println!(
            "upgrade: passed by the lead with a reason: {}",
            run.overrides.join("; ")
        );
    }
    let wall = run.wall.as_secs_f64();
    println!(
        "upgrade: the simulator's world was locked at {:.0}% of the probes: about {:.1} s of real time, {:.0} virtual s at {speed}x, in which it answered no request",
        run.busy * 100.0,
        run.busy * wall,
        run.busy * wall * speed,
    );
    let (simulator, ours) = (run.cpu.of("sim"), run.cpu.of("upshift"));
    println!(
        "upgrade: real time {wall:.1} s from the drive's start to Done; CPU {:.1} s for the process ({:.1} of 2 cores): simulator threads {simulator:.1} s, upshift threads {ours:.1} s (drive, health feed, their clients), the rest {:.1} s",
        run.cpu.process,
        run.cpu.process / wall,
        run.cpu.process - simulator - ours,
    );
    println!(
        "upgrade: requests during the rollout: the drive {} Kubernetes and {} AWS; the health feed {} Kubernetes",
        run.k8s.get("lead").copied().unwrap_or(0),
        run.aws,
        run.k8s.get("viewer").copied().unwrap_or(0),
    );
    let mut writes: Vec<(&String, &u64)> = run.writes.iter().filter(|(_, n)| **n > 0).collect();
    writes.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "upgrade: the drive's writes: {}; the published ConfigMap is {:.0} KB",
        writes
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        run.published_bytes as f64 / 1024.0
    );
}
