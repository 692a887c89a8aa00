//! Gates: what the cockpit sees of the cluster's health ([`Health`], taken from the
//! signals) judged against the plan's criteria and the cluster as it was when the
//! rollout began ([`Baseline`]). Each red criterion names its red items; an override
//! accepts those items as they were then ([`Acceptance`]), and a later gate shows
//! them as accepted while they are no worse. Pure functions; the drive keeps the
//! time every criterion has been green, the baseline and the acceptances.

use std::collections::BTreeMap;

use crate::model::baseline::Baseline;
use crate::model::journal::Accepted;
use crate::model::rollout::Criterion;
use crate::model::workload::Level;
use crate::model::{Health, Timestamp};
use crate::rollout::plan::Gates;

/// A red item an override accepted: by whom, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub item: Accepted,
    pub who: String,
    pub reason: String,
}

/// The CloudWatch alarms a gate watches, as last read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmReading {
    /// Alarm name → state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub states: BTreeMap<String, String>,
    /// Why they could not be read, if they could not.
    pub error: Option<String>,
}

/// What a gate is judged for.
pub struct GateInput<'a> {
    pub health: &'a Health,
    pub gates: &'a Gates,
    /// Pods in error when the rollout began.
    pub baseline: usize,
    pub alarms: &'a AlarmReading,
    /// Node group gates also look at the budgets that would block a drain.
    pub drains: bool,
    /// The cluster when the rollout began (None before it is taken).
    pub start: Option<&'a Baseline>,
    /// What overrides accepted so far.
    pub accepted: &'a [Acceptance],
    pub now: Timestamp,
    /// The gate before a managed node group's update: its pods with no controller
    /// will be lost (EKS deletes them without asking).
    pub managed_group: Option<&'a str>,
}

fn item(item: String, level: u64) -> Accepted {
    Accepted { item, level }
}

/// Workloads that were up and are down now, and those degraded below their budget
/// (or the plan's share) for longer than the grace, worse than at the baseline.
fn workloads(i: &GateInput) -> Criterion {
    let g = i.gates;
    let mut items = Vec::new();
    let mut named = Vec::new();
    let mut known = Vec::new();
    for w in &i.health.workloads {
        let was = i.start.and_then(|b| b.available(&w.id));
        let up_then = i.start.is_none_or(|b| b.was_up(&w.id));
        let why = if w.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", w.reason)
        };
        match w.level {
            Level::Down if up_then => {
                items.push(item(format!("{} down", w.id), 2));
                named.push(format!("{} down 0/{}{why}", w.id, w.desired));
            }
            Level::Down => known.push(w.id.clone()),
            Level::Degraded => {
                let below_budget = w.pdb_min.is_some_and(|m| w.available < m);
                let below_share = g.min_available_percent > 0
                    && u64::from(w.available) * 100 < u64::from(w.desired) * u64::from(g.min_available_percent);
                let long = w
                    .since
                    .is_none_or(|t| i.now.as_second() - t.as_second() >= g.degraded_grace_seconds as i64);
                let worse = was.is_none_or(|a| w.available < a);
                if (below_budget || below_share) && long && worse {
                    items.push(item(format!("{} degraded", w.id), 1));
                    let budget = match (&w.pdb, w.pdb_min) {
                        (Some(p), Some(m)) => format!(", budget {p} wants {m}"),
                        _ => format!(", under {}%", g.min_available_percent),
                    };
                    named.push(format!("{} {}/{}{budget}{why}", w.id, w.available, w.desired));
                }
            }
            Level::Available => {}
        }
    }
    let detail = if named.is_empty() {
        let mut d = format!(
            "{} down or degraded; none down that was up before the rollout",
            i.health.workloads.len()
        );
        if !known.is_empty() {
            d.push_str(&format!(" (down before it: {})", list(&known, 2)));
        }
        d
    } else {
        list(&named, 3)
    };
    Criterion {
        name: "workloads available".into(),
        ok: items.is_empty(),
        detail,
        items,
        accepted: None,
    }
}

/// Services that select pods and have no ready endpoint (those already so before the
/// rollout are named, not red).
fn services(i: &GateInput) -> Criterion {
    let before = |s: &String| i.start.is_some_and(|b| b.services_down.contains(s));
    let (known, red): (Vec<String>, Vec<String>) = i.health.services_down.iter().cloned().partition(before);
    let mut detail = if red.is_empty() {
        "every Service that selects pods has a ready endpoint".to_string()
    } else {
        format!("no ready endpoint: {}", list(&red, 3))
    };
    if !known.is_empty() {
        detail.push_str(&format!(" (none before the rollout either: {})", list(&known, 2)));
    }
    Criterion {
        name: "Services with endpoints".into(),
        ok: red.is_empty(),
        detail,
        items: red
            .iter()
            .map(|s| item(format!("Service {s} without endpoints"), 1))
            .collect(),
        accepted: None,
    }
}

/// Pods with no controller on the managed group's nodes: EKS deletes them.
fn lost(i: &GateInput, group: &str) -> Criterion {
    let pods: Vec<String> = i
        .health
        .ownerless
        .iter()
        .filter(|p| p.group.as_deref() == Some(group))
        .map(|p| p.pod.clone())
        .collect();
    Criterion {
        name: "pods that will be lost".into(),
        ok: pods.is_empty(),
        detail: if pods.is_empty() {
            format!("every pod on {group}'s nodes has a controller")
        } else {
            format!(
                "no controller, will be lost when EKS replaces {group}'s nodes: {}",
                list(&pods, 3)
            )
        },
        items: pods.iter().map(|p| item(format!("pod {p} will be lost"), 1)).collect(),
        accepted: None,
    }
}

/// Marks green the red criteria whose every item an override accepted at its
/// level or worse; the rest stay red with only what is new or worse as items.
pub fn apply_acceptances(criteria: &mut [Criterion], accepted: &[Acceptance]) {
    for c in criteria.iter_mut().filter(|c| !c.ok) {
        if c.items.is_empty() {
            // a criterion that names nothing is its own item
            c.items.push(item(c.name.clone(), 1));
        }
        let covering = |it: &Accepted| {
            accepted
                .iter()
                .rev()
                .find(|a| a.item.item == it.item && a.item.level >= it.level)
        };
        let open: Vec<Accepted> = c.items.iter().filter(|it| covering(it).is_none()).cloned().collect();
        if open.is_empty() {
            let by: Vec<String> = c
                .items
                .iter()
                .filter_map(covering)
                .map(|a| format!("accepted by {}: {}", a.who, a.reason))
                .fold(Vec::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                });
            c.ok = true;
            c.accepted = Some(by.join("; "));
        } else if open.len() < c.items.len() {
            c.detail = format!(
                "{} (new or worse since the override: {})",
                c.detail,
                open.iter().map(|a| a.item.as_str()).collect::<Vec<_>>().join(", ")
            );
            c.items = open;
        }
    }
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items.iter().take(max).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// The gate's criteria, each green or red with what it saw.
pub fn criteria(i: &GateInput) -> Vec<Criterion> {
    let h = i.health;
    let g = i.gates;
    let mut out = Vec::new();
    if !h.synced {
        out.push(Criterion {
            name: "cluster view".into(),
            ok: false,
            detail: "the watches have not listed everything yet".into(),
            ..Default::default()
        });
    }
    let reasons = h
        .unscheduled_reasons
        .iter()
        .map(|(r, n)| format!("{r} ×{n}"))
        .collect::<Vec<_>>();
    out.push(Criterion {
        name: "unscheduled pods".into(),
        ok: h.unscheduled as u64 <= u64::from(g.max_unscheduled_pods),
        detail: if h.unscheduled == 0 {
            format!("0 (limit {})", g.max_unscheduled_pods)
        } else {
            format!(
                "{} (limit {}): {}",
                h.unscheduled,
                g.max_unscheduled_pods,
                list(&reasons, 2)
            )
        },
        items: vec![item("unscheduled pods".into(), h.unscheduled as u64)],
        accepted: None,
    });
    let above = h.pod_errors.saturating_sub(i.baseline);
    let errors_ok = above as u64 <= u64::from(g.max_pod_errors_above_baseline);
    out.push(Criterion {
        name: "pod errors above baseline".into(),
        ok: errors_ok,
        items: if errors_ok {
            Vec::new()
        } else {
            vec![item("pod errors above baseline".into(), above as u64)]
        },
        accepted: None,
        detail: if above == 0 {
            format!(
                "{} in error, baseline {} (limit +{})",
                h.pod_errors, i.baseline, g.max_pod_errors_above_baseline
            )
        } else {
            format!(
                "{} in error, {above} above the rollout's baseline of {} (limit +{}): {}",
                h.pod_errors,
                i.baseline,
                g.max_pod_errors_above_baseline,
                list(&h.error_workloads, 2)
            )
        },
    });
    if g.all_nodes_ready {
        out.push(Criterion {
            name: "nodes Ready".into(),
            ok: h.not_ready.is_empty() && h.nodes > 0,
            detail: if h.not_ready.is_empty() {
                format!("{} of {}", h.nodes, h.nodes)
            } else {
                format!(
                    "{} of {}; NotReady: {}",
                    h.nodes - h.not_ready.len(),
                    h.nodes,
                    list(&h.not_ready, 3)
                )
            },
            items: vec![item("nodes NotReady".into(), h.not_ready.len() as u64)],
            accepted: None,
        });
    }
    if g.components_available {
        out.push(Criterion {
            name: "critical components".into(),
            ok: h.components_down.is_empty(),
            detail: if h.components_down.is_empty() {
                "DNS, pod networking, ingress, autoscaling available".into()
            } else {
                list(&h.components_down, 2)
            },
            items: h.components_down.iter().map(|c| item(c.clone(), 1)).collect(),
            accepted: None,
        });
    }
    if !g.alarms.is_empty() {
        let (ok, detail) = alarm_criterion(&g.alarms, i.alarms);
        out.push(Criterion {
            name: "CloudWatch alarms".into(),
            ok,
            detail,
            ..Default::default()
        });
    }
    out.push(workloads(i));
    out.push(services(i));
    if let Some(group) = i.managed_group {
        out.push(lost(i, group));
    }
    if i.drains {
        out.push(Criterion {
            name: "drain blockers".into(),
            ok: h.blocking_pdbs.is_empty(),
            detail: if h.blocking_pdbs.is_empty() {
                "every PodDisruptionBudget allows a disruption".into()
            } else {
                format!(
                    "PodDisruptionBudget {} allows no eviction: a drain of its nodes will wait",
                    list(&h.blocking_pdbs, 2)
                )
            },
            ..Default::default()
        });
    }
    if !h.synced {
        // nothing is green before every watch has listed the cluster
        for c in out.iter_mut().skip(1) {
            c.ok = false;
            c.items.clear();
            c.detail = format!("not judged until the cluster view is synced (so far: {})", c.detail);
        }
    }
    apply_acceptances(&mut out, i.accepted);
    out
}

fn alarm_criterion(names: &[String], r: &AlarmReading) -> (bool, String) {
    if let Some(e) = &r.error {
        return (false, format!("could not read the alarms: {e}"));
    }
    let mut firing = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match r.states.get(n).map(String::as_str) {
            Some("ALARM") => firing.push(n.clone()),
            Some(_) => {}
            None => missing.push(n.clone()),
        }
    }
    if !firing.is_empty() {
        (false, format!("in ALARM: {}", list(&firing, 3)))
    } else if !missing.is_empty() {
        (false, format!("not found in CloudWatch: {}", list(&missing, 3)))
    } else {
        (true, format!("{} watched, none in ALARM", names.len()))
    }
}

/// Since when every criterion has been green, given since when it was before.
pub fn green_since(criteria: &[Criterion], before: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    if criteria.iter().all(|c| c.ok) {
        Some(before.unwrap_or(now))
    } else {
        None
    }
}

/// Whether a gate green since `since` has settled at `now`.
pub fn settled(since: Option<Timestamp>, settle_seconds: u64, now: Timestamp) -> bool {
    since.is_some_and(|t| now.as_second() - t.as_second() >= settle_seconds as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::availability::WorkloadRow;

    fn healthy() -> Health {
        Health {
            synced: true,
            nodes: 3,
            ..Default::default()
        }
    }

    fn judge(h: &Health, baseline: usize, drains: bool) -> Vec<Criterion> {
        criteria(&GateInput {
            health: h,
            gates: &Gates::default(),
            baseline,
            alarms: &AlarmReading::default(),
            drains,
            start: None,
            accepted: &[],
            now: Timestamp::from_second(10_000).unwrap(),
            managed_group: None,
        })
    }

    #[test]
    fn nothing_is_green_before_the_cluster_view_is_synced() {
        let h = Health {
            synced: false,
            ..healthy()
        };
        let c = judge(&h, 0, true);
        assert!(c.len() > 3, "{c:?}");
        assert!(c.iter().all(|k| !k.ok), "{c:?}");
        let components = c.iter().find(|k| k.name == "critical components").expect("judged");
        assert!(
            components
                .detail
                .starts_with("not judged until the cluster view is synced"),
            "{components:?}"
        );
    }

    #[test]
    fn a_healthy_cluster_is_green() {
        let c = judge(&healthy(), 0, true);
        assert!(c.iter().all(|c| c.ok), "{c:?}");
        assert_eq!(c.len(), 7);
    }

    #[test]
    fn errors_count_only_above_the_baseline() {
        let mut h = healthy();
        h.pod_errors = 4;
        h.error_workloads = vec!["shop/recommendations CrashLoopBackOff ×4".into()];
        let at_baseline = judge(&h, 4, false);
        assert!(at_baseline.iter().all(|c| c.ok));
        let above = judge(&h, 1, false);
        let e = above.iter().find(|c| c.name == "pod errors above baseline").unwrap();
        assert!(!e.ok);
        assert!(e.detail.contains("3 above the rollout's baseline of 1"), "{}", e.detail);
        assert!(e.detail.contains("shop/recommendations"), "{}", e.detail);
    }

    #[test]
    fn each_red_criterion_names_what_it_saw() {
        let mut h = healthy();
        h.unscheduled = 2;
        h.unscheduled_reasons = vec![("Insufficient cpu".into(), 2)];
        h.not_ready = vec!["ip-10-0-1-7".into()];
        h.components_down = vec!["DNS kube-system/coredns 1/2 available".into()];
        h.blocking_pdbs = vec!["payments/ledger (2 healthy, 2 required, 0 disruptions allowed)".into()];
        let c = judge(&h, 0, true);
        let red: Vec<_> = c.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
        assert_eq!(
            red,
            [
                "unscheduled pods",
                "nodes Ready",
                "critical components",
                "drain blockers"
            ]
        );
        assert!(c[0].detail.contains("Insufficient cpu ×2"));
        assert!(c[2].detail.contains("ip-10-0-1-7"));
    }

    #[test]
    fn unsynced_is_never_green() {
        let h = Health::default();
        assert!(judge(&h, 0, false).iter().any(|c| !c.ok));
    }

    #[test]
    fn alarms_in_alarm_or_missing_are_red() {
        let gates = Gates {
            alarms: vec!["api-5xx".into(), "latency-p99".into()],
            ..Default::default()
        };
        let mut r = AlarmReading::default();
        r.states.insert("api-5xx".into(), "OK".into());
        let judge = |r: &AlarmReading| {
            criteria(&GateInput {
                health: &healthy(),
                gates: &gates,
                baseline: 0,
                alarms: r,
                drains: false,
                start: None,
                accepted: &[],
                now: Timestamp::from_second(10_000).unwrap(),
                managed_group: None,
            })
            .into_iter()
            .find(|c| c.name == "CloudWatch alarms")
            .unwrap()
        };
        let c = judge(&r);
        assert!(
            !c.ok && c.detail.contains("not found in CloudWatch: latency-p99"),
            "{c:?}"
        );
        r.states.insert("latency-p99".into(), "ALARM".into());
        assert!(judge(&r).detail.contains("in ALARM: latency-p99"));
        r.states.insert("latency-p99".into(), "OK".into());
        assert!(judge(&r).ok);
    }

    fn row(id: &str, available: u32, desired: u32, pdb_min: Option<u32>, since: i64) -> WorkloadRow {
        WorkloadRow {
            id: id.into(),
            kind: crate::model::workload::Kind::Deployment,
            key: id.split_once(' ').unwrap().1.into(),
            level: Level::of(desired, available),
            desired,
            ready: available,
            available,
            since: Timestamp::from_second(since).ok(),
            pdb: pdb_min.map(|_| "shop/budget".to_string()),
            pdb_min,
            reason: "CrashLoopBackOff".into(),
        }
    }

    struct Judge {
        health: Health,
        start: Baseline,
        accepted: Vec<Acceptance>,
        group: Option<&'static str>,
    }

    impl Judge {
        fn new(start: &Health) -> Judge {
            Judge {
                health: healthy(),
                start: Baseline::take(start),
                accepted: Vec::new(),
                group: None,
            }
        }

        fn run(&self) -> Vec<Criterion> {
            criteria(&GateInput {
                health: &self.health,
                gates: &Gates::default(),
                baseline: self.start.pod_errors,
                alarms: &AlarmReading::default(),
                drains: false,
                start: Some(&self.start),
                accepted: &self.accepted,
                now: Timestamp::from_second(10_000).unwrap(),
                managed_group: self.group,
            })
        }

        fn get(&self, name: &str) -> Criterion {
            self.run().into_iter().find(|c| c.name == name).unwrap()
        }

        /// An override now: every red item accepted.
        fn accept(&mut self, reason: &str) {
            for c in self.run().into_iter().filter(|c| !c.ok) {
                for item in c.items {
                    self.accepted.push(Acceptance {
                        item,
                        who: "ana@laptop".into(),
                        reason: reason.into(),
                    });
                }
            }
        }
    }

    #[test]
    fn a_workload_up_at_the_baseline_and_down_now_is_red_naming_it() {
        let mut start = healthy();
        start.workloads = vec![row("Deployment shop/legacy", 0, 1, None, 0)];
        let mut j = Judge::new(&start);
        j.health.workloads = vec![
            row("Deployment shop/legacy", 0, 1, None, 0),
            row("Deployment shop/recommendations", 0, 6, None, 9_990),
        ];
        let c = j.get("workloads available");
        assert!(!c.ok);
        assert!(
            c.detail.contains("Deployment shop/recommendations down 0/6"),
            "{}",
            c.detail
        );
        assert!(
            !c.detail.contains("legacy down 0/1"),
            "down before the rollout: {}",
            c.detail
        );
        assert_eq!(c.items.len(), 1);
    }

    #[test]
    fn degraded_below_its_budget_is_red_only_after_the_grace() {
        let mut j = Judge::new(&healthy());
        j.health.workloads = vec![row("Deployment shop/web", 1, 3, Some(2), 9_900)];
        assert!(j.get("workloads available").ok, "within the grace of 300 s");
        j.health.workloads = vec![row("Deployment shop/web", 1, 3, Some(2), 9_000)];
        let c = j.get("workloads available");
        assert!(!c.ok && c.detail.contains("budget shop/budget wants 2"), "{c:?}");
        j.health.workloads = vec![row("Deployment shop/web", 2, 3, Some(2), 9_000)];
        assert!(j.get("workloads available").ok, "at its budget");
    }

    #[test]
    fn a_service_without_ready_endpoints_is_red() {
        let mut j = Judge::new(&healthy());
        j.health.services_down = vec!["shop/recommendations".into()];
        let c = j.get("Services with endpoints");
        assert!(!c.ok && c.detail.contains("shop/recommendations"), "{c:?}");
    }

    #[test]
    fn an_override_accepts_what_it_named_and_nothing_new_or_worse() {
        let mut j = Judge::new(&healthy());
        j.health.workloads = vec![row("Deployment shop/recommendations", 0, 6, None, 9_990)];
        j.health.pod_errors = 6;
        j.accept("known crash loop, fixed after the window");
        let c = j.get("workloads available");
        assert!(c.ok, "{c:?}");
        assert_eq!(
            c.accepted.as_deref(),
            Some("accepted by ana@laptop: known crash loop, fixed after the window")
        );
        assert!(j.get("pod errors above baseline").ok);
        // something new: red again, naming only the new one
        j.health.workloads.push(row("Deployment shop/cart", 0, 2, None, 9_990));
        let c = j.get("workloads available");
        assert!(!c.ok);
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.items[0].item, "Deployment shop/cart down");
        // worse: more pods in error than accepted
        j.health.pod_errors = 8;
        assert!(!j.get("pod errors above baseline").ok);
    }

    #[test]
    fn an_override_of_something_else_leaves_a_crash_loop_red() {
        let mut j = Judge::new(&healthy());
        j.health.not_ready = vec!["ip-10-0-1-7".into()];
        j.accept("node is being replaced");
        assert!(j.get("nodes Ready").ok);
        j.health.workloads = vec![row("Deployment shop/recommendations", 0, 6, None, 9_990)];
        assert!(!j.get("workloads available").ok);
    }

    #[test]
    fn pods_with_no_controller_on_a_managed_group_will_be_lost() {
        let mut j = Judge::new(&healthy());
        j.group = Some("system");
        j.health.ownerless = vec![crate::model::health::OwnerlessPod {
            pod: "default/debug-shell".into(),
            node: Some("ip-1".into()),
            group: Some("system".into()),
        }];
        let c = j.get("pods that will be lost");
        assert!(!c.ok && c.detail.contains("default/debug-shell"), "{c:?}");
        j.group = Some("apps");
        assert!(j.get("pods that will be lost").ok);
    }

    #[test]
    fn nothing_is_green_before_the_view_is_synced() {
        let mut j = Judge::new(&healthy());
        j.health.synced = false;
        assert!(j.run().iter().all(|c| !c.ok));
    }

    #[test]
    fn a_gate_settles_after_its_settle_time() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let green = vec![Criterion {
            ok: true,
            ..Default::default()
        }];
        let since = green_since(&green, None, t0);
        assert_eq!(since, Some(t0));
        let later = Timestamp::from_second(1_059).unwrap();
        assert_eq!(green_since(&green, since, later), Some(t0));
        assert!(!settled(since, 60, later));
        assert!(settled(since, 60, Timestamp::from_second(1_060).unwrap()));
        let red = vec![Criterion::default()];
        assert_eq!(green_since(&red, since, later), None);
    }
}
