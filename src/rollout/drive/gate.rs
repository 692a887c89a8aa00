//! Gates: what the cockpit sees of the cluster's health ([`Health`], taken from the
//! signals) judged against the plan's criteria. Pure functions; the drive keeps the
//! time every criterion has been green and the baseline of pod errors.

use std::collections::BTreeMap;

use crate::model::rollout::Criterion;
use crate::model::{Signals, Timestamp};
use crate::rollout::plan::Gates;

/// The cluster's health as a gate judges it: a small extract of the signals, sent
/// from the cockpit's loop to the drive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Every watch has listed once: before that, nothing is judged green.
    pub synced: bool,
    pub unscheduled: usize,
    /// The scheduler's reasons with counts, most frequent first.
    pub unscheduled_reasons: Vec<(String, usize)>,
    pub pod_errors: usize,
    /// "shop/recommendations CrashLoopBackOff ×3"
    pub error_workloads: Vec<String>,
    pub nodes: usize,
    pub not_ready: Vec<String>,
    /// "DNS kube-system/coredns 1/2 available"
    pub components_down: Vec<String>,
    /// "payments/ledger (0 disruptions allowed)"
    pub blocking_pdbs: Vec<String>,
    /// Per node group: nodes per kubelet minor.
    pub groups: BTreeMap<String, BTreeMap<String, u32>>,
}

impl Health {
    pub fn from_signals(s: &Signals) -> Health {
        let components_down = s
            .components
            .items
            .iter()
            .filter(|c| !c.healthy())
            .map(|c| {
                format!(
                    "{} {} {}/{} available",
                    c.category.label(),
                    c.key(),
                    c.available,
                    c.desired
                )
            })
            .collect();
        let groups = s
            .nodes
            .groups
            .iter()
            .map(|g| {
                let minors = g.versions.iter().map(|(v, n)| (v.clone(), *n as u32)).collect();
                (g.name.clone(), minors)
            })
            .collect();
        Health {
            synced: s.synced,
            unscheduled: s.unscheduled.count,
            unscheduled_reasons: s.unscheduled.reasons.clone(),
            pod_errors: s.errors.pods,
            error_workloads: s
                .errors
                .top
                .iter()
                .map(|o| format!("{} {} ×{}", o.workload, o.reason, o.pods))
                .collect(),
            nodes: s.nodes.all.total,
            not_ready: s
                .nodes
                .rows
                .iter()
                .filter(|r| !r.ready && !r.terminating)
                .map(|r| r.name.clone())
                .collect(),
            components_down,
            blocking_pdbs: s
                .components
                .blocking_pdbs
                .iter()
                .map(|p| {
                    format!(
                        "{}/{} ({} healthy, {} required, {} disruptions allowed)",
                        p.namespace, p.name, p.current_healthy, p.desired_healthy, p.disruptions_allowed
                    )
                })
                .collect(),
            groups,
        }
    }

    /// Nodes of `group` on `minor`, and on any other minor.
    pub fn group_counts(&self, group: &str, minor: &str) -> (u32, u32) {
        let Some(m) = self.groups.get(group) else {
            return (0, 0);
        };
        let new = m.get(minor).copied().unwrap_or(0);
        let old = m.values().sum::<u32>() - new;
        (old, new)
    }
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
    /// Pods in error before the step that came before this gate.
    pub baseline: usize,
    pub alarms: &'a AlarmReading,
    /// Node group gates also look at the budgets that would block a drain.
    pub drains: bool,
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
    });
    let above = h.pod_errors.saturating_sub(i.baseline);
    out.push(Criterion {
        name: "pod errors above baseline".into(),
        ok: above as u64 <= u64::from(g.max_pod_errors_above_baseline),
        detail: if above == 0 {
            format!(
                "{} in error, baseline {} (limit +{})",
                h.pod_errors, i.baseline, g.max_pod_errors_above_baseline
            )
        } else {
            format!(
                "{} in error, {above} above the baseline of {} (limit +{}): {}",
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
        });
    }
    if !g.alarms.is_empty() {
        let (ok, detail) = alarm_criterion(&g.alarms, i.alarms);
        out.push(Criterion {
            name: "CloudWatch alarms".into(),
            ok,
            detail,
        });
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
        });
    }
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
        })
    }

    #[test]
    fn a_healthy_cluster_is_green() {
        let c = judge(&healthy(), 0, true);
        assert!(c.iter().all(|c| c.ok), "{c:?}");
        assert_eq!(c.len(), 5);
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
        assert!(e.detail.contains("3 above the baseline of 1"), "{}", e.detail);
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
