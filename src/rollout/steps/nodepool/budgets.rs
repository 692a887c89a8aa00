//! A NodePool's disruption budgets as upshift holds them: the budgets it found, and
//! upshift's own budget for reason `Drifted` appended after them (`nodes: "0"` while
//! drift is held, the wave size while a wave runs). The most restrictive budget
//! wins, so the others keep applying to every other reason. Pure functions, and the
//! journal's record of what was found: an event per NodePool written before the
//! first patch, so that a kill at any moment leaves what to restore.

use serde_json::{Value, json};

use crate::cluster::karpenter::DRIFTED;
use crate::model::journal::What;
use crate::rollout::journal::Journal;

/// The journal's action words.
pub const HOLD: &str = "hold-drift";
pub const OPEN: &str = "open-wave";
pub const CLOSE: &str = "close-wave";
pub const RESTORE: &str = "restore-budgets";
/// Budgets put back by an abort or at the rollout's end, not by the NodePool's step:
/// the step still has its waves to run when the rollout goes on.
pub const UNDO: &str = "undo-budgets";

/// The event that records a NodePool's budgets before upshift first changes them:
/// object `NodePool/NAME`, message the `spec.disruption.budgets` list as JSON
/// (`null` when it had none).
pub const SAVED: &str = "DriftBudgetsSaved";
/// The event that records a wave's start: object `NodePool/NAME`, message
/// `wave K size W: node-a,node-b` (the nodes not on the target then).
pub const WAVE: &str = "DriftWaveOpened";

/// upshift's budget for drift, `nodes` nodes at once.
pub fn ours(nodes: u32) -> Value {
    json!({"nodes": nodes.to_string(), "reasons": [DRIFTED]})
}

/// The budgets found with upshift's appended.
pub fn with_ours(original: &Value, nodes: u32) -> Value {
    let mut list = original.as_array().cloned().unwrap_or_default();
    list.push(ours(nodes));
    Value::Array(list)
}

/// What a NodePool's budgets are, against those upshift found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// As found: nothing of upshift's.
    Original,
    /// As found, with upshift's drift budget of this many nodes.
    Ours(u32),
    /// Something else: changed by someone since upshift found them.
    Other,
}

/// Reads `current` against `original`.
pub fn read(original: &Value, current: &Value) -> Held {
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    if current == original || (empty(current) && empty(original)) {
        return Held::Original;
    }
    let found = original.as_array().cloned().unwrap_or_default();
    let Some(list) = current.as_array() else {
        return Held::Other;
    };
    if list.len() != found.len() + 1 || list[..found.len()] != found[..] {
        return Held::Other;
    }
    let last = &list[found.len()];
    let reasons_ok = last.get("reasons") == Some(&json!([DRIFTED]));
    let only = last.as_object().is_some_and(|o| o.len() == 2);
    match last.get("nodes").and_then(Value::as_str).map(str::parse::<u32>) {
        Some(Ok(n)) if reasons_ok && only => Held::Ours(n),
        _ => Held::Other,
    }
}

/// `NodePool/NAME`: the object of the journal's events about a NodePool.
pub fn object(pool: &str) -> String {
    format!("NodePool/{pool}")
}

/// `NAME=N`: the target of an action that sets upshift's drift budget to N.
pub fn target(pool: &str, nodes: u32) -> String {
    format!("{pool}={nodes}")
}

/// The budgets journaled for `pool` and still to be restored: the newest record,
/// unless a restore of it succeeded after it. (sequence number, budgets)
pub fn saved(journal: &Journal, pool: &str) -> Option<(u64, Value)> {
    let obj = object(pool);
    let mut found: Option<(u64, Value)> = None;
    for e in journal.entries() {
        match &e.what {
            What::Event {
                object,
                reason,
                message,
                ..
            } if *object == obj && reason == SAVED => {
                found = serde_json::from_str(message).ok().map(|v| (e.seq, v));
            }
            What::Result {
                action,
                target,
                ok: true,
                ..
            } if (action == RESTORE || action == UNDO) && target == pool => found = None,
            _ => {}
        }
    }
    found
}

/// Whether `pool`'s step restored its budgets after the last record of them (the
/// step ended; an abort's restore does not end it).
pub fn restored(journal: &Journal, pool: &str) -> bool {
    let obj = object(pool);
    let mut restored = false;
    for e in journal.entries() {
        match &e.what {
            What::Event { object, reason, .. } if *object == obj && reason == SAVED => restored = false,
            What::Result {
                action,
                target,
                ok: true,
                ..
            } if action == RESTORE && target == pool => restored = true,
            _ => {}
        }
    }
    restored
}

/// Every NodePool whose budgets are journaled and not restored, by name.
pub fn all_saved(journal: &Journal) -> Vec<(String, Value)> {
    let mut pools: Vec<String> = journal
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            What::Event { object, reason, .. } if reason == SAVED => {
                object.strip_prefix("NodePool/").map(str::to_string)
            }
            _ => None,
        })
        .collect();
    pools.sort();
    pools.dedup();
    pools
        .into_iter()
        .filter_map(|p| saved(journal, &p).map(|(_, v)| (p, v)))
        .collect()
}

/// A wave as journaled: its number, its size, the nodes not on the target when it
/// opened, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wave {
    pub number: u32,
    pub size: u32,
    pub old: Vec<String>,
    pub at: jiff::Timestamp,
}

/// The waves of `pool` since its budgets were recorded (`since`: that record's seq).
pub fn waves(journal: &Journal, pool: &str, since: u64) -> Vec<Wave> {
    let obj = object(pool);
    journal
        .entries()
        .iter()
        .filter(|e| e.seq > since)
        .filter_map(|e| match &e.what {
            What::Event {
                object,
                reason,
                message,
                ..
            } if *object == obj && reason == WAVE => parse_wave(message).map(|(number, size, old)| Wave {
                number,
                size,
                old,
                at: e.at,
            }),
            _ => None,
        })
        .collect()
}

/// The message of a wave's event.
pub fn wave_message(number: u32, size: u32, old: &[String]) -> String {
    format!("wave {number} size {size}: {}", old.join(","))
}

fn parse_wave(m: &str) -> Option<(u32, u32, Vec<String>)> {
    let rest = m.strip_prefix("wave ")?;
    let (number, rest) = rest.split_once(" size ")?;
    let (size, nodes) = rest.split_once(": ")?;
    let old = nodes.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect();
    Some((number.parse().ok()?, size.parse().ok()?, old))
}

/// The command that puts `pool`'s budgets back by hand.
pub fn undo_command(pool: &str, budgets: &Value) -> String {
    let patch = json!({"spec": {"disruption": {"budgets": budgets}}});
    format!("kubectl patch nodepools.karpenter.sh {pool} --type merge -p '{patch}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_found_held_open_or_changed() {
        let found = json!([{"nodes": "10%"}, {"nodes": "0", "schedule": "@daily", "duration": "1h"}]);
        assert_eq!(read(&found, &found), Held::Original);
        assert_eq!(read(&found, &with_ours(&found, 0)), Held::Ours(0));
        assert_eq!(read(&found, &with_ours(&found, 3)), Held::Ours(3));
        assert_eq!(read(&found, &json!([{"nodes": "10%"}])), Held::Other);
        let mut edited = with_ours(&found, 0);
        edited[0]["nodes"] = json!("20%");
        assert_eq!(read(&found, &edited), Held::Other);
        assert_eq!(read(&Value::Null, &with_ours(&Value::Null, 0)), Held::Ours(0));
        assert_eq!(read(&Value::Null, &json!([])), Held::Original);
    }

    #[test]
    fn a_wave_message_reads_back() {
        let old = vec!["ip-1".to_string(), "ip-2".to_string()];
        assert_eq!(parse_wave(&wave_message(2, 1, &old)), Some((2, 1, old)));
        assert_eq!(parse_wave(&wave_message(1, 3, &[])), Some((1, 3, vec![])));
    }

    #[test]
    fn the_undo_command_sets_the_list_found() {
        let c = undo_command("general", &json!([{"nodes": "10%"}]));
        assert_eq!(
            c,
            r#"kubectl patch nodepools.karpenter.sh general --type merge -p '{"spec":{"disruption":{"budgets":[{"nodes":"10%"}]}}}'"#
        );
    }
}
