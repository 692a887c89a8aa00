//! `kill -9` in the middle of a rollout loses no journal entry: a child process
//! appends entries as fast as it can and reports each one once `append` returned;
//! it is killed at a random moment; every entry it reported is in the journal when
//! reopened, and the journal opens cleanly (a torn last line is cut off).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use upshift::model::journal::What;
use upshift::rollout::journal::Journal;

const CHILD: &str = "UPSHIFT_JOURNAL_KILL_CHILD";

#[test]
fn child_appends_until_killed() {
    // runs only as the child of the test below
    let Ok(path) = std::env::var(CHILD) else { return };
    let mut j = Journal::open(std::path::Path::new(&path)).expect("journal opens");
    for i in 0.. {
        let e = j
            .append(
                "upshift",
                jiff::Timestamp::now(),
                What::Action {
                    step: upshift::model::journal::StepId::Nodegroup("apps".into()),
                    action: "evict".into(),
                    target: format!("pod-{i}"),
                },
            )
            .expect("append");
        println!("{}", e.seq);
    }
}

#[test]
fn a_killed_writer_loses_no_recorded_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.jsonl");
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_appends_until_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut reported = 0u64;
        // let it write a varying number of entries, then SIGKILL it mid-stream
        let want = 20 + round * 37;
        for line in lines.by_ref() {
            if let Ok(seq) = line.unwrap_or_default().trim().parse::<u64>() {
                reported = seq;
                if seq >= want {
                    break;
                }
            }
        }
        assert!(
            reported >= want,
            "round {round}: the child wrote only {reported} entries"
        );
        child.kill().expect("killed");
        // entries appended after our last read but before the kill were reported too
        for line in lines.map_while(Result::ok) {
            if let Ok(seq) = line.trim().parse::<u64>() {
                reported = reported.max(seq);
            }
        }
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(20));
        let j = Journal::open(&path).expect("the journal opens after a kill");
        let last = j.entries().last().map_or(0, |e| e.seq);
        assert!(
            last >= reported,
            "round {round}: reported {reported} but the journal ends at {last}"
        );
        assert!(
            j.entries().iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1),
            "no gaps"
        );
    }
}
