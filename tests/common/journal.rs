//! Checks on a journal that every rollout test makes.

use std::collections::BTreeMap;
use std::path::Path;

use upshift::model::journal::What;
use upshift::rollout::journal::Journal;

/// Every action that finished well, as (step, action, target), with how often.
pub fn finished_actions(path: &Path) -> BTreeMap<(String, String, String), usize> {
    let j = Journal::open(path).expect("the journal reads back whole");
    let mut seen = BTreeMap::new();
    for e in j.entries() {
        if let What::Result {
            step,
            action,
            target,
            ok: true,
            ..
        } = &e.what
        {
            *seen
                .entry((step.to_string(), action.clone(), target.clone()))
                .or_insert(0) += 1;
        }
    }
    seen
}

/// The journal reads back whole (numbered 1, 2, 3, … with no gap), and every action
/// that finished well appears once per target (evictions a budget refused are retried,
/// so only successes count).
pub fn assert_no_repeats(path: &Path) {
    let j = Journal::open(path).expect("the journal reads back whole");
    for (i, e) in j.entries().iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    let seen = finished_actions(path);
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "actions repeated: {repeated:?}");
}

/// How many lines `DIR/journal.jsonl` holds (0 before it exists).
pub fn lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}
