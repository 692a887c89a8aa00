//! `upshift report` as a user runs it: on a journal a drive wrote (the fixture from an
//! earlier upshift), in each format, and on files that are not journals.

mod common;

use std::path::Path;

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/journal-v0.1-main.jsonl")
        .display()
        .to_string()
}

#[test]
fn every_format_tells_the_same_rollout() {
    let md = common::bin::upshift().args(["report", &fixture()]).output().unwrap();
    assert!(md.status.success(), "{}", String::from_utf8_lossy(&md.stderr));
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.starts_with("# Rollout of demo to 1.31: aborted by ana@laptop"),
        "{md}"
    );
    assert!(
        md.contains("**skip** preflight: rehearsal: the insight was reviewed"),
        "{md}"
    );

    let text = common::bin::upshift()
        .args(["report", &fixture(), "--format", "text"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("Rollout of demo to 1.31: aborted by ana@laptop\n"),
        "{text}"
    );
    assert!(!text.contains("**"), "no markup in text: {text}");

    let json = common::bin::upshift()
        .args(["report", &fixture(), "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["outcome"]["outcome"], "aborted");
    assert_eq!(v["cluster"], "demo");
    let overrides = v["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["decision"] == "override")
        .count();
    assert_eq!(overrides, 2);
    assert_eq!(v["numbers"]["instancesTerminated"], 2);
}

#[test]
fn a_file_that_is_not_a_journal_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("j.jsonl");
    let good = std::fs::read_to_string(fixture()).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(3, "<<<<<<< HEAD");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let before = std::fs::read(&bad).unwrap();
    let out = common::bin::upshift()
        .args(["report", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("j.jsonl, line 4: not a journal line"), "{err}");
    assert_eq!(
        std::fs::read(&bad).unwrap(),
        before,
        "the report never writes the journal"
    );

    let out = common::bin::upshift()
        .args(["report", dir.path().join("missing.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));
}
