//! The plan, scenario and journal parsers fed arbitrary bytes and mutated valid
//! documents (proptest, a bounded number of cases each so CI stays fast): none
//! panics, and every refusal names its place: the file and the line or field for a
//! plan, the source and the line or path for a scenario, the file and the line for
//! a journal.

use proptest::prelude::*;
use upshift::rollout::journal::{Journal, JournalError};
use upshift::rollout::plan::{Plan, PlanError};
use upshift::sim::scenario::{Scenario, ScenarioError};

const PLAN: &str = include_str!("fixtures/journal-v0.1-main.plan.yaml");
const JOURNAL: &str = include_str!("fixtures/journal-v0.1-main.jsonl");
const SCENARIO: &str = include_str!("../assets/scenarios/demo.yaml");

/// One edit of a document: at a place given as a share of its length.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: f64, len: usize },
    Insert { at: f64, text: String },
    Replace { at: f64, byte: u8 },
    DuplicateLine { at: f64 },
    SwapLines { a: f64, b: f64 },
    Truncate { at: f64 },
}

fn edit() -> impl Strategy<Value = Edit> {
    let share = 0.0..1.0f64;
    prop_oneof![
        (share.clone(), 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (share.clone(), "[ -~\n\t]{1,12}|\\PC{1,4}").prop_map(|(at, text)| Edit::Insert { at, text }),
        (share.clone(), any::<u8>()).prop_map(|(at, byte)| Edit::Replace { at, byte }),
        share.clone().prop_map(|at| Edit::DuplicateLine { at }),
        (share.clone(), share.clone()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
        share.prop_map(|at| Edit::Truncate { at }),
    ]
}

/// `doc` with `edits` applied, as bytes (an edit may break UTF-8).
fn mutate(doc: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = doc.as_bytes().to_vec();
    let pos = |bytes: &Vec<u8>, at: f64| ((bytes.len() as f64) * at) as usize;
    for e in edits {
        match e {
            Edit::Delete { at, len } => {
                let from = pos(&bytes, *at);
                let to = (from + len).min(bytes.len());
                bytes.drain(from..to);
            }
            Edit::Insert { at, text } => {
                let p = pos(&bytes, *at);
                bytes.splice(p..p, text.bytes());
            }
            Edit::Replace { at, byte } => {
                let p = pos(&bytes, *at);
                if p < bytes.len() {
                    bytes[p] = *byte;
                }
            }
            Edit::DuplicateLine { at } | Edit::SwapLines { a: at, .. } => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let i = ((lines.len() as f64) * at) as usize % lines.len().max(1);
                if let Edit::SwapLines { b, .. } = e {
                    let j = ((lines.len() as f64) * b) as usize % lines.len().max(1);
                    lines.swap(i, j);
                } else {
                    lines.insert(i, lines[i]);
                }
                bytes = lines.join("\n").into_bytes();
            }
            Edit::Truncate { at } => {
                let p = pos(&bytes, *at);
                bytes.truncate(p);
            }
        }
    }
    bytes
}

/// A plan's refusal names the file, and the field it is about (with its line when
/// the text has it); reading names the file.
fn check_plan(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(&path, bytes).unwrap();
    match Plan::load(&path) {
        Ok(_) => {}
        Err(e @ PlanError::Invalid { .. }) => {
            let shown = e.to_string();
            prop_assert!(shown.starts_with(&path.display().to_string()), "{shown}");
            prop_assert!(!e.field().unwrap_or_default().is_empty(), "no field named: {shown}");
        }
        Err(e @ PlanError::Read { .. }) => {
            let shown = e.to_string();
            prop_assert!(shown.contains(&path.display().to_string()), "{shown}");
        }
    }
    Ok(())
}

/// A scenario's refusal names its source, and a line or the path of the field.
fn check_scenario(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    match Scenario::from_yaml(&text, "fuzzed.yaml") {
        Ok(_) => {}
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(shown.starts_with("fuzzed.yaml"), "{shown}");
            let placed = match &e {
                ScenarioError::Parse { line, path, .. } => *line > 0 || !path.is_empty(),
                ScenarioError::Invalid { line, path, .. } => line.is_some() || !path.is_empty(),
                ScenarioError::Read { .. } => false,
            };
            prop_assert!(placed, "no line or field named: {shown}");
        }
    }
    Ok(())
}

/// A journal opens, or is refused naming the file and the line.
fn check_journal(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    std::fs::write(&path, bytes).unwrap();
    match Journal::open(&path) {
        Ok(j) => {
            prop_assert!(j.entries().iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        }
        Err(e @ (JournalError::Corrupt { .. } | JournalError::Gap { .. })) => {
            let shown = e.to_string();
            prop_assert!(
                shown.starts_with(&format!("journal {}, line ", path.display())),
                "{shown}"
            );
        }
        Err(e) => prop_assert!(false, "refused without a line: {e}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_plan_of_arbitrary_bytes_is_refused_with_its_place(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_plan(&bytes)?;
    }

    #[test]
    fn a_mutated_plan_is_read_or_refused_with_its_place(edits in proptest::collection::vec(edit(), 1..6)) {
        check_plan(&mutate(PLAN, &edits))?;
    }

    #[test]
    fn a_scenario_of_arbitrary_text_is_refused_with_its_place(text in "\\PC{0,300}") {
        check_scenario(text.as_bytes())?;
    }

    #[test]
    fn a_mutated_scenario_is_read_or_refused_with_its_place(edits in proptest::collection::vec(edit(), 1..6)) {
        check_scenario(&mutate(SCENARIO, &edits))?;
    }

    #[test]
    fn a_journal_of_arbitrary_bytes_opens_or_is_refused_with_its_line(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_journal(&bytes)?;
    }

    #[test]
    fn a_mutated_journal_opens_or_is_refused_with_its_line(edits in proptest::collection::vec(edit(), 1..6)) {
        check_journal(&mutate(JOURNAL, &edits))?;
    }
}
