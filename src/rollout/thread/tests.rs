use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use super::translate::{Seen, Translator};
use super::*;
use crate::model::journal::Entry;
use crate::model::rollout::RolloutState;
use crate::notify::What;

const FIXTURE: &str = include_str!("../../../tests/fixtures/journal-v0.1-main.jsonl");
const PLAN: &str = include_str!("../../../tests/fixtures/journal-v0.1-main.plan.yaml");

fn plan() -> Plan {
    Plan::from_yaml(PLAN, "plan.yaml").unwrap()
}

fn entries() -> Vec<Entry> {
    FIXTURE.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn the_journal_becomes_the_events_the_team_hears() {
    let mut t = Translator::new(&plan());
    let events: Vec<crate::notify::Event> = entries().iter().flat_map(|e| t.events(e, &Seen::default())).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.what.kind()).collect();
    for k in [
        "gate-decided",
        "step-started",
        "step-done",
        "step-failed",
        "step-skipped",
        "paused",
        "resumed",
        "aborted",
        "finished",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // the verdict is the last event, and the abort's
    assert_eq!(kinds.last(), Some(&"finished"));
    assert!(t.finished());
    let skipped = events.iter().find_map(|e| match &e.what {
        What::StepSkipped { reason, who, .. } => Some((who.clone(), reason.clone())),
        _ => None,
    });
    assert_eq!(
        skipped,
        Some(("ana@laptop".into(), "rehearsal: the insight was reviewed".into()))
    );
    let overrides = events
        .iter()
        .filter(|e| {
            matches!(
                &e.what,
                What::GateDecided {
                    decision: crate::notify::event::GateDecision::Override,
                    reason: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(overrides, 2);
    // ids come from the journal: the same history gives the same ids
    let mut again = Translator::new(&plan());
    let ids: Vec<String> = entries()
        .iter()
        .flat_map(|e| again.events(e, &Seen::default()))
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>());
}

/// A loopback endpoint standing in for a team's webhook: records every event id.
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                if let Ok(v) = serde_json::from_slice(&body) {
                    keep.lock().push(v);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn run_thread(dir: &Path, url_file: &Path, upto: usize) -> Vec<String> {
    let config = NotifyConfig::from_yaml(
        &format!("sinks:\n  - kind: webhook\n    urlFile: {}\n", url_file.display()),
        "plan.yaml",
    )
    .unwrap();
    let journal = dir.join("j.jsonl");
    let plan = plan();
    let (tx, rx) = mpsc::unbounded_channel();
    let (_state_tx, state) = watch::channel(RolloutState::default());
    let (thread, mut out, _warnings) = Thread::start(
        ThreadSetup {
            plan: &plan,
            config: &config,
            at: "plan.yaml: notify".into(),
            journal: &journal,
            who: "ana@laptop".into(),
            now: Arc::new(Timestamp::now),
        },
        rx,
        state,
    )
    .unwrap();
    for e in entries().into_iter().take(upto) {
        tx.send(e).unwrap();
    }
    // the cockpit still sees every entry, in order
    for want in 1..=upto as u64 {
        let e = out.recv().await.unwrap();
        assert_eq!(e.seq, want);
    }
    thread.finish().await
}

#[tokio::test]
async fn a_resumed_thread_sends_nothing_twice_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver().await;
    let url_file = dir.path().join("url");
    std::fs::write(&url_file, &url).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // the first drive stops half way
    let undelivered = run_thread(dir.path(), &url_file, 50).await;
    assert!(undelivered.is_empty(), "{undelivered:?}");
    let first: Vec<String> = got
        .lock()
        .iter()
        .map(|v| v["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(first.contains(&"start".to_string()), "{first:?}");
    // the resumed drive reads the whole journal again
    let undelivered = run_thread(dir.path(), &url_file, 103).await;
    assert!(undelivered.is_empty(), "{undelivered:?}");
    let all: Vec<String> = got
        .lock()
        .iter()
        .map(|v| v["id"].as_str().unwrap_or("").to_string())
        .collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "sent twice: {all:?}");
    // everything the whole journal comes to was delivered
    let mut t = Translator::new(&plan());
    let mut want: Vec<String> = entries()
        .iter()
        .flat_map(|e| t.events(e, &Seen::default()))
        .map(|e| e.id.to_string())
        .collect();
    want.push("start".into());
    want.sort();
    assert_eq!(unique, want);
    let record = Record::open(&record_path(&dir.path().join("j.jsonl"))).unwrap();
    assert_eq!(record.delivered("webhook").len(), want.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(record_path(&dir.path().join("j.jsonl")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
