//! Capacity per zone for stateful pods: a pod whose volume is pinned to one zone
//! (an EBS volume lives in one Availability Zone) can only run again on a node of
//! that zone. For each node group and each zone holding such volumes, the batch is
//! the group's nodes in that zone (up to the batch size, those whose volume pods ask
//! for the most first); the pods are placed, largest first, on the other Ready,
//! schedulable nodes of the zone they may run on, with the room they have left.

use std::collections::{BTreeMap, HashMap};

use super::super::gather::{NodeFacts, PodFacts, Snapshot};
use super::super::{Check, Finding, Severity};
use super::{Use, gib, room, take_room};

/// A running pod and the zone its volume is in, with the claim that pins it.
pub(super) fn zone_of<'s>(s: &'s Snapshot, p: &PodFacts) -> Option<(&'s str, String)> {
    p.claims.iter().find_map(|c| {
        let key = format!("{}/{c}", p.namespace);
        s.claim_zones.get(&key).map(|z| (z.zone.as_str(), c.clone()))
    })
}

fn cpu(m: u64) -> String {
    format!("{:.1} CPU", m as f64 / 1000.0)
}

/// The findings: per group and zone, the volume pods a batch would leave with
/// nowhere to run. `used` is what each node's pods ask for now.
pub(super) fn check(s: &Snapshot, batch: usize, used: &HashMap<&str, Use>) -> (Vec<Finding>, Vec<String>) {
    // zone → its pods with volumes there, on the node they run on
    let mut zonal: BTreeMap<&str, Vec<(&PodFacts, String)>> = BTreeMap::new();
    for p in s.pods.iter().filter(|p| !p.finished() && p.node.is_some()) {
        if let Some((zone, claim)) = zone_of(s, p) {
            zonal.entry(zone).or_default().push((p, claim));
        }
    }
    let mut findings = Vec::new();
    let mut examined = Vec::new();
    for (zone, pods) in &zonal {
        // the groups whose nodes in this zone hold these pods
        let mut groups: BTreeMap<&str, Vec<&NodeFacts>> = BTreeMap::new();
        for n in s.nodes.iter().filter(|n| n.zone == *zone) {
            groups.entry(n.group.as_str()).or_default().push(n);
        }
        let demand = |n: &NodeFacts| {
            pods.iter()
                .filter(|(p, _)| p.node.as_deref() == Some(n.name.as_str()))
                .map(|(p, _)| p.cpu_millis.max(1))
                .sum::<u64>()
        };
        for (group, mut nodes) in groups {
            if nodes.iter().all(|n| demand(n) == 0) {
                continue;
            }
            nodes.sort_by_key(|n| std::cmp::Reverse(demand(n)));
            let drained: Vec<&str> = nodes.iter().take(batch).map(|n| n.name.as_str()).collect();
            let mut moving: Vec<&(&PodFacts, String)> = pods
                .iter()
                .filter(|(p, _)| p.node.as_deref().is_some_and(|n| drained.contains(&n)))
                .collect();
            moving.sort_by_key(|(p, _)| std::cmp::Reverse((p.cpu_millis, p.memory)));
            let mut free = room(&s.nodes, used, |n| {
                n.zone == *zone && !drained.contains(&n.name.as_str())
            });
            let open_nodes = free.len();
            let mut stuck = Vec::new();
            for &(p, claim) in &moving {
                if !take_room(&mut free, p) {
                    stuck.push((p, claim));
                }
            }
            examined.push(format!(
                "{zone}: {} volume pod(s) on {} node(s) of {group}",
                moving.len(),
                drained.len()
            ));
            if stuck.is_empty() {
                continue;
            }
            let blocker = open_nodes == 0;
            let mut evidence = vec![format!(
                "the batch ({}) in {zone} moves {} pod(s) whose volumes are in {zone}",
                drained.join(", "),
                moving.len()
            )];
            evidence.extend(stuck.iter().map(|(p, c)| {
                format!(
                    "Pod {} (claim {c}) asks {} and {}",
                    p.key(),
                    cpu(p.cpu_millis),
                    gib(p.memory)
                )
            }));
            if blocker {
                evidence.push(format!("no other Ready, schedulable node of any group is in {zone}"));
            } else {
                evidence.extend(free.iter().map(|(n, f)| {
                    format!(
                        "{} ({}) in {zone}: {} and {} free{}",
                        n.name,
                        n.group,
                        cpu(f.cpu),
                        gib(f.mem),
                        if stuck.iter().all(|(p, _)| !p.fits_on(n)) {
                            ", but the pods may not run there (node selector or taints)"
                        } else {
                            ""
                        }
                    )
                }));
            }
            let mut resources: Vec<String> = stuck.iter().take(10).map(|(p, _)| format!("Pod {}", p.key())).collect();
            resources.extend(
                stuck
                    .iter()
                    .take(10)
                    .map(|(p, c)| format!("PersistentVolumeClaim {}/{c}", p.namespace)),
            );
            findings.push(Finding {
                check: Check::Capacity,
                severity: if blocker { Severity::Blocker } else { Severity::Warning },
                confidence: None,
                title: format!(
                    "Draining {} node(s) of group {group} in {zone} leaves {} pod(s) whose volumes are in {zone} with nowhere to run",
                    drained.len(),
                    stuck.len()
                ),
                resources,
                why: format!(
                    "An EBS volume lives in one Availability Zone, so its pod can only run on a node in {zone}; {}. \
                     They stay Pending (\"volume node affinity conflict\") until a node with room joins in {zone}.",
                    if blocker {
                        format!("after the batch no Ready, schedulable node of any group is left in {zone}")
                    } else {
                        format!("the nodes left in {zone} lack room for them or may not take them")
                    }
                ),
                action: format!(
                    "Before the window, make sure a node they may run on has room in {zone} during the drain: scale group {group} up so a node joins in {zone} (an Auto Scaling group spreads over its subnets' zones), \
                     or replace {zone}'s nodes with their replacements first; with eks-update, check that the surge's new nodes land in {zone}."
                ),
                evidence,
            });
        }
    }
    (findings, examined)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::super::gather::{ClaimZone, NodeFacts, PodFacts, Snapshot};
    use super::super::super::{Check, Severity};

    fn node(name: &str, group: &str, zone: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            group: group.into(),
            zone: zone.into(),
            minor: "1.32".into(),
            ready: true,
            labels: BTreeMap::from([("eks.amazonaws.com/nodegroup".to_string(), group.to_string())]),
            cpu_millis: 2000,
            memory: 8 << 30,
            max_pods: 29,
            ..Default::default()
        }
    }

    fn db(name: &str, node: &str, group: Option<&str>) -> PodFacts {
        PodFacts {
            namespace: "data".into(),
            name: name.into(),
            node: Some(node.into()),
            phase: "Running".into(),
            owner: Some(("StatefulSet".into(), "postgres".into())),
            cpu_millis: 500,
            memory: 1 << 30,
            node_selector: group
                .map(|g| BTreeMap::from([("eks.amazonaws.com/nodegroup".to_string(), g.to_string())]))
                .unwrap_or_default(),
            claims: vec![format!("data-{name}")],
            ..Default::default()
        }
    }

    fn snapshot(nodes: Vec<NodeFacts>, pods: Vec<PodFacts>, zones: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            server_version: "v1.32.1-eks-1".into(),
            nodes,
            pods,
            claim_zones: zones
                .iter()
                .map(|(c, z)| {
                    (
                        format!("data/{c}"),
                        ClaimZone {
                            volume: format!("pvc-{c}"),
                            zone: z.to_string(),
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_zone_whose_only_other_node_is_another_groups_is_a_warning_naming_zone_pod_claim_and_group() {
        let s = snapshot(
            vec![
                node("data-a", "data", "eu-west-1a"),
                node("apps-a", "apps", "eu-west-1a"),
                node("data-b", "data", "eu-west-1b"),
            ],
            vec![
                db("postgres-0", "data-a", Some("data")),
                db("postgres-1", "data-b", Some("data")),
            ],
            &[("data-postgres-0", "eu-west-1a"), ("data-postgres-1", "eu-west-1b")],
        );
        let (f, _) = super::super::check(&s, 1);
        let a = f
            .iter()
            .find(|f| f.title.contains("in eu-west-1a"))
            .unwrap_or_else(|| panic!("{f:#?}"));
        assert_eq!(a.check, Check::Capacity);
        assert_eq!(a.severity, Severity::Warning, "apps-a is still in the zone");
        assert!(a.title.contains("group data"), "{}", a.title);
        assert!(
            a.resources.contains(&"Pod data/postgres-0".to_string()),
            "{:?}",
            a.resources
        );
        assert!(
            a.resources
                .contains(&"PersistentVolumeClaim data/data-postgres-0".to_string()),
            "{:?}",
            a.resources
        );
        assert!(
            a.evidence.iter().any(|e| e.contains("may not run there")),
            "{:?}",
            a.evidence
        );
        // eu-west-1b has no node left at all: a blocker
        let b = f.iter().find(|f| f.title.contains("in eu-west-1b")).expect("zone b");
        assert_eq!(b.severity, Severity::Blocker);
    }

    #[test]
    fn a_node_with_room_in_the_zone_takes_them() {
        let s = snapshot(
            vec![
                node("data-a1", "data", "eu-west-1a"),
                node("data-a2", "data", "eu-west-1a"),
            ],
            vec![db("postgres-0", "data-a1", Some("data"))],
            &[("data-postgres-0", "eu-west-1a")],
        );
        let (f, run) = super::super::check(&s, 1);
        assert!(f.is_empty(), "{f:#?}");
        assert!(
            run.examined
                .contains("eu-west-1a: 1 volume pod(s) on 1 node(s) of data"),
            "{}",
            run.examined
        );
        // a batch of two takes both: nowhere left
        let (f, _) = super::super::check(&s, 2);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Blocker);
    }

    #[test]
    fn a_volume_pod_is_not_placed_in_another_zone() {
        // plenty of room in eu-west-1b, none in eu-west-1a
        let s = snapshot(
            vec![
                node("data-a", "data", "eu-west-1a"),
                node("data-b", "data", "eu-west-1b"),
            ],
            vec![db("postgres-0", "data-a", None)],
            &[("data-postgres-0", "eu-west-1a")],
        );
        let (f, _) = super::super::check(&s, 1);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].title.contains("in eu-west-1a"));
    }
}
