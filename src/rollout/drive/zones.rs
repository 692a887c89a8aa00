//! A batch that empties a zone of room for a volume's pods: before a node group's
//! next batch is drained, each pod on those nodes whose volume is pinned to one zone
//! (an EBS volume lives in one Availability Zone) needs a node left in that zone
//! that takes pods and that it may run on. When none is left, the gate gets a red
//! item naming the zone and the pods, so that the lead overrides with a reason or
//! changes the order (lets a replacement join in that zone first). Pure functions
//! of the cockpit's [`Health`].

use std::collections::BTreeMap;

use crate::model::Health;
use crate::model::health::NodePlace;
use crate::model::journal::Accepted;
use crate::model::rollout::Criterion;
use crate::model::volume::{ZonalPod, label_matches};
use crate::rollout::steps::bluegreen::copy_name;

/// The criterion's name on the gate.
pub const NAME: &str = "room for zonal volumes";

/// Which batch a gate judges: the node group's next, of `size` nodes, on its way to `target`.
#[derive(Clone, Copy, Debug)]
pub struct ZonalBatch<'a> {
    pub group: &'a str,
    pub target: &'a str,
    pub size: u32,
}

/// The nodes the group's next batch takes, as the cockpit can tell them: its nodes
/// not on the target and not being removed, oldest first (then by name), as the
/// node-group steps take them; a cordoned node that holds no pod on a zonal volume is
/// taken as drained already.
pub fn next_batch<'h>(h: &'h Health, b: &ZonalBatch) -> Vec<&'h NodePlace> {
    let holds = |n: &NodePlace| h.zonal.iter().any(|p| p.node == n.name);
    let mut old: Vec<&NodePlace> = h
        .places
        .iter()
        .filter(|n| n.group == b.group && n.minor != b.target && !n.terminating)
        .filter(|n| !n.cordoned || holds(n))
        .collect();
    old.sort_by(|a, c| (a.created, &a.name).cmp(&(c.created, &c.name)));
    old.truncate(b.size.max(1) as usize);
    old
}

/// Whether the pod may run on `n` by its node selector; a label the cockpit does not
/// keep is taken as met on the nodes of `home`, the group it runs in now, and of
/// `home`'s blue-green copy (which carries the same labels).
fn may_run_on(p: &ZonalPod, n: &NodePlace, home: Option<&str>, target: &str) -> bool {
    let home_or_copy = |h: &str| n.group == h || n.group == copy_name(h, target);
    p.selector.iter().all(|(k, v)| {
        label_matches(&n.group, &n.zone, &n.instance_type, k, v).unwrap_or_else(|| home.is_none_or(home_or_copy))
    })
}

/// The gate's criterion for the group's next batch; None when no pod on a zonal
/// volume runs on the batch's nodes.
pub fn criterion(h: &Health, b: &ZonalBatch) -> Option<Criterion> {
    let batch = next_batch(h, b);
    let names: Vec<&str> = batch.iter().map(|n| n.name.as_str()).collect();
    let moving: Vec<&ZonalPod> = h.zonal.iter().filter(|p| names.contains(&p.node.as_str())).collect();
    if moving.is_empty() {
        return None;
    }
    let group_of = |node: &str| h.places.iter().find(|n| n.name == node).map(|n| n.group.as_str());
    // zone → the pods (with their claims) that would have no node left there
    let mut stranded: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &moving {
        let home = group_of(&p.node);
        for c in &p.claims {
            let left = h.places.iter().any(|n| {
                n.zone == c.zone
                    && n.schedulable
                    && !names.contains(&n.name.as_str())
                    && may_run_on(p, n, home, b.target)
            });
            if !left {
                stranded
                    .entry(c.zone.as_str())
                    .or_default()
                    .push(format!("{} (volume {})", p.pod, c.claim));
            }
        }
    }
    let batch_text = names.join(", ");
    if stranded.is_empty() {
        return Some(Criterion {
            name: NAME.into(),
            ok: true,
            detail: format!(
                "the next batch of {} ({batch_text}) leaves a node in their zone for its {} pod(s) on zonal volumes",
                b.group,
                moving.len()
            ),
            items: Vec::new(),
            accepted: None,
        });
    }
    let items = stranded
        .iter()
        .flat_map(|(zone, pods)| {
            pods.iter().map(move |p| Accepted {
                item: format!("{zone} without room for {p}"),
                level: 1,
            })
        })
        .collect();
    let zones: Vec<String> = stranded
        .iter()
        .map(|(zone, pods)| {
            let shown: Vec<&str> = pods.iter().take(3).map(String::as_str).collect();
            let more = if pods.len() > 3 {
                format!(" and {} more", pods.len() - 3)
            } else {
                String::new()
            };
            format!("{zone}: {}{more}", shown.join(", "))
        })
        .collect();
    Some(Criterion {
        name: NAME.into(),
        ok: false,
        detail: format!(
            "the next batch of {} ({batch_text}) empties a zone of nodes its volume pods may run on — {}; \
             they would stay Pending until a node joins there: override with a reason, or let a replacement join in that zone first",
            b.group,
            zones.join("; ")
        ),
        items,
        accepted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::volume::ZonedClaim;

    fn place(name: &str, group: &str, zone: &str, minor: &str, created: i64) -> NodePlace {
        NodePlace {
            name: name.into(),
            group: group.into(),
            zone: zone.into(),
            instance_type: "r5.large".into(),
            minor: minor.into(),
            created: crate::model::Timestamp::from_second(created).ok(),
            schedulable: true,
            cordoned: false,
            terminating: false,
        }
    }

    fn pod(name: &str, node: &str, zone: &str, selector: Option<&str>) -> ZonalPod {
        ZonalPod {
            pod: format!("data/{name}"),
            node: node.into(),
            claims: vec![ZonedClaim {
                claim: format!("data-{name}"),
                volume: format!("pvc-{name}"),
                zone: zone.into(),
            }],
            selector: selector
                .map(|g| vec![("eks.amazonaws.com/nodegroup".to_string(), g.to_string())])
                .unwrap_or_default(),
        }
    }

    /// The `stateful` scenario's shape: a data and an apps node per zone.
    fn stateful() -> Health {
        Health {
            synced: true,
            places: vec![
                place("data-a", "data", "eu-west-1a", "1.32", 100),
                place("data-b", "data", "eu-west-1b", "1.32", 200),
                place("apps-a", "apps", "eu-west-1a", "1.32", 50),
                place("apps-b", "apps", "eu-west-1b", "1.32", 60),
            ],
            zonal: vec![
                pod("postgres-0", "data-a", "eu-west-1a", Some("data")),
                pod("postgres-1", "data-b", "eu-west-1b", Some("data")),
            ],
            ..Default::default()
        }
    }

    const DATA: ZonalBatch = ZonalBatch {
        group: "data",
        target: "1.33",
        size: 1,
    };

    #[test]
    fn a_batch_that_leaves_its_zone_no_node_for_the_pod_is_red_naming_zone_and_pod() {
        let h = stateful();
        let names: Vec<&str> = next_batch(&h, &DATA).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["data-a"], "the oldest of the group first");
        let c = criterion(&h, &DATA).expect("judged");
        assert!(!c.ok, "{c:?}");
        assert!(
            c.detail
                .contains("eu-west-1a: data/postgres-0 (volume data-postgres-0)"),
            "{}",
            c.detail
        );
        assert_eq!(
            c.items,
            [Accepted {
                item: "eu-west-1a without room for data/postgres-0 (volume data-postgres-0)".into(),
                level: 1
            }]
        );
    }

    #[test]
    fn a_node_of_the_group_left_in_the_zone_is_room() {
        let mut h = stateful();
        // a replacement on the target joined in eu-west-1a
        h.places.push(place("data-a2", "data", "eu-west-1a", "1.33", 900));
        let c = criterion(&h, &DATA).expect("judged");
        assert!(c.ok, "{c:?}");
        // a label the cockpit does not keep: met in the pod's group and its blue-green copy
        let mut h = stateful();
        h.zonal[0].selector = vec![("role".into(), "data".into())];
        assert!(
            criterion(&h, &DATA).is_some_and(|c| !c.ok),
            "apps-a is not of its group"
        );
        h.places
            .push(place("data-1-33-a", "data-1-33", "eu-west-1a", "1.33", 900));
        assert!(
            criterion(&h, &DATA).is_some_and(|c| c.ok),
            "the copy's node in the zone"
        );
        // a pod with no selector may go to the apps node of its zone
        let mut h = stateful();
        h.zonal[0].selector.clear();
        assert!(criterion(&h, &DATA).is_some_and(|c| c.ok));
        // but not if that node is cordoned
        h.places[2].schedulable = false;
        h.places[2].cordoned = true;
        assert!(criterion(&h, &DATA).is_some_and(|c| !c.ok));
    }

    #[test]
    fn drained_and_replaced_nodes_are_not_the_next_batch() {
        let mut h = stateful();
        // data-a drained (cordoned, its pod gone to a new node): data-b is next
        h.places[0].cordoned = true;
        h.places[0].schedulable = false;
        h.places.push(place("data-a2", "data", "eu-west-1a", "1.33", 900));
        h.zonal[0].node = "data-a2".into();
        let names: Vec<&str> = next_batch(&h, &DATA).iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["data-b"]);
        let c = criterion(&h, &DATA).expect("judged");
        assert!(c.detail.contains("eu-west-1b: data/postgres-1"), "{}", c.detail);
        // a group with no volume pods on its batch adds nothing to the gate
        let apps = ZonalBatch { group: "apps", ..DATA };
        assert_eq!(criterion(&h, &apps), None);
    }
}
