//! Live notifications end to end, against a receiver on loopback standing in for
//! Slack's Web API, a Slack incoming webhook, a Teams workflow and a generic endpoint.
//! Every payload the receiver gets is checked against the service's documented shape
//! and limits; waits are measured on Tokio's paused clock, never the wall clock.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use upshift::notify::event::{Criterion, GateDecision, HoldKind, Step, Verdict};
use upshift::notify::{Event, EventId, Notifier, NotifyConfig, Outcome, ResolvedConfig, Resume, What};

#[path = "notify/checks.rs"]
mod checks;
#[path = "notify/receiver.rs"]
mod receiver;

use checks::{check_card, check_generic, check_slack_message};
use receiver::{Answer, CHANNEL_ID, Call, Receiver, TOKEN};

// ---------------------------------------------------------------------------------
// A rollout's events

fn at(s: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + s).expect("valid")
}

fn step(id: &str, label: &str) -> Step {
    Step {
        id: id.into(),
        label: label.into(),
    }
}

/// A rollout with a red gate passed, a held drain, a failed step, a take-over and
/// open problems at the end; text with `& < >` where operators type it.
fn history() -> Vec<Event> {
    let whats = vec![
        What::RolloutStarted {
            who: "ana@laptop".into(),
            cluster: "prod-eu".into(),
            environment: "production".into(),
            from: "1.30".into(),
            to: "1.31".into(),
            plan_digest: "sha256:3f2a9c".into(),
        },
        What::GateDecided {
            gate: "before control plane".into(),
            criteria: vec![
                Criterion {
                    name: "unscheduled pods".into(),
                    ok: true,
                    detail: "0 (limit 0)".into(),
                },
                Criterion {
                    name: "pod errors".into(),
                    ok: false,
                    detail: "3 above the baseline <6> & rising".into(),
                },
            ],
            decision: GateDecision::Override,
            who: "ana@laptop".into(),
            reason: Some("known crash-loop in <shop/cart> & accepted".into()),
        },
        What::StepStarted {
            step: step("control-plane", "control plane 1.30 → 1.31"),
        },
        What::StepDone {
            step: step("control-plane", "control plane 1.30 → 1.31"),
            took_seconds: Some(912),
        },
        What::Held {
            hold: HoldKind::DrainHeld,
            step: Some(step("nodegroup/apps", "node group apps")),
            node: "ip-10-0-1-5".into(),
            pod: Some("payments/ledger-0".into()),
            budget: Some("PodDisruptionBudget payments/ledger (0 disruptions allowed)".into()),
            since: at(1000),
        },
        What::StepFailed {
            step: step("nodegroup/apps", "node group apps"),
            why: "UpdateNodegroupVersion failed: PodEvictionFailure".into(),
            what_to_do: "retry, skip with a reason, force, or abort".into(),
        },
        What::TookOver {
            from: "ana@laptop".into(),
            to: "bo@desk".into(),
        },
        What::Finished {
            verdict: Verdict::DoneWithProblems {
                problems: vec![
                    "payments/ledger 1/2 ready".into(),
                    "shop/cart crash-looping (CrashLoopBackOff) <since 1.31>".into(),
                ],
            },
        },
    ];
    whats
        .into_iter()
        .enumerate()
        .map(|(i, w)| Event::new(EventId::from_journal(i as u64 + 1), at(100 * i as i64 + 1500), w))
        .collect()
}

fn resolve(yaml: &str, env: &[(&str, String)]) -> ResolvedConfig {
    let cfg = NotifyConfig::from_yaml(yaml, "test plan").expect("parses");
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    cfg.resolve("notify", &|n| env.get(n).cloned()).expect("resolves")
}

/// Outcomes as they arrive.
struct Outcomes {
    rx: UnboundedReceiver<Outcome>,
    seen: Vec<Outcome>,
}

impl Outcomes {
    fn new(rx: UnboundedReceiver<Outcome>) -> Outcomes {
        Outcomes { rx, seen: Vec::new() }
    }

    async fn until(&mut self, what: &str, done: impl Fn(&[Outcome]) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(300), async {
            while !done(&self.seen) {
                match self.rx.recv().await {
                    Some(o) => self.seen.push(o),
                    None => break,
                }
            }
        })
        .await;
        assert!(
            waited.is_ok() && done(&self.seen),
            "gave up waiting for {what}; outcomes: {:#?}",
            self.seen
        );
    }

    /// Takes whatever has arrived without waiting.
    fn take_ready(&mut self) {
        while let Ok(o) = self.rx.try_recv() {
            self.seen.push(o);
        }
    }
}

fn delivered(seen: &[Outcome], sink: &str) -> Vec<String> {
    seen.iter()
        .filter_map(|o| match o {
            Outcome::Delivered { event_id, sink: s, .. } if s.as_str() == sink => Some(event_id.to_string()),
            _ => None,
        })
        .collect()
}

fn errors(seen: &[Outcome]) -> Vec<String> {
    seen.iter()
        .filter_map(|o| match o {
            Outcome::Failed { error, .. } | Outcome::GaveUp { error, .. } | Outcome::ThreadNotUpdated { error, .. } => {
                Some(error.clone())
            }
            _ => None,
        })
        .collect()
}

/// The event a successful Slack reply, Teams card or generic body carries.
fn event_of(c: &Call) -> Option<String> {
    match c.route.as_str() {
        "generic" | "generic-2" => c.json["id"].as_str().map(str::to_string),
        "teams" => {
            let body = c.json["attachments"][0]["content"]["body"].as_array()?;
            let footer = body.last()?["text"].as_str()?;
            footer.rsplit("event ").next().map(str::to_string)
        }
        "chat.postMessage" | "hooks" => {
            let ctx = c.json["blocks"].as_array()?.last()?;
            let text = ctx["elements"][0]["text"].as_str()?;
            text.rsplit("event ").next().map(str::to_string)
        }
        _ => None,
    }
}

fn slack_sink(recv: &Receiver) -> String {
    format!(
        "  - kind: slack\n    name: ops\n    channel: '#upgrades'\n    tokenEnv: SLACK_TOKEN\n    apiUrl: {}\n",
        recv.url("/api")
    )
}

// ---------------------------------------------------------------------------------

#[tokio::test]
async fn slack_keeps_one_thread_per_rollout_and_edits_its_parent_in_place() {
    let recv = Receiver::start().await;
    let cfg = resolve(
        &format!("sinks:\n{}", slack_sink(&recv)),
        &[("SLACK_TOKEN", TOKEN.into())],
    );
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    let events = history();
    for e in events.clone() {
        handle.send(e);
    }
    out.until("every event in the thread", |seen| {
        delivered(seen, "ops").len() == events.len()
    })
    .await;
    handle.drain(Instant::now() + Duration::from_secs(10)).await;

    let calls = recv.calls();
    assert!(calls.iter().all(|c| c.answer["ok"] == true), "{:#?}", calls);
    for c in &calls {
        check_slack_message(&c.json);
    }
    let posts = recv.calls_to("chat.postMessage");
    assert!(posts.iter().all(|c| c.json["unfurl_links"] == false));
    let parents: Vec<&Call> = posts.iter().filter(|c| c.json.get("thread_ts").is_none()).collect();
    assert_eq!(parents.len(), 1, "one parent message per rollout");
    assert_eq!(calls[0].path, parents[0].path);
    assert!(calls[0].json.get("thread_ts").is_none(), "the parent comes first");
    assert_eq!(parents[0].json["channel"], "#upgrades");
    let parent_ts = parents[0].answer["ts"].as_str().expect("ts").to_string();

    // Every other event is a reply in that thread, in order, to the channel's id.
    let replies: Vec<&Call> = posts.iter().filter(|c| c.json.get("thread_ts").is_some()).collect();
    assert_eq!(replies.len(), events.len() - 1);
    let order: Vec<String> = replies.iter().filter_map(|c| event_of(c)).collect();
    let expected: Vec<String> = events[1..].iter().map(|e| e.id.to_string()).collect();
    assert_eq!(order, expected);
    for r in &replies {
        assert_eq!(r.json["thread_ts"], parent_ts.as_str());
        assert_eq!(r.json["channel"], CHANNEL_ID);
    }
    // Failures and the verdict are echoed to the channel; nothing else is.
    let broadcast: Vec<String> = replies
        .iter()
        .filter(|c| c.json["reply_broadcast"] == true)
        .filter_map(|c| event_of(c))
        .collect();
    assert_eq!(broadcast, ["j6", "j8"]);

    // The parent is edited in place, by its ts, and ends showing the verdict.
    let updates = recv.calls_to("chat.update");
    assert!(!updates.is_empty(), "the parent is updated");
    for u in &updates {
        assert_eq!(u.json["ts"], parent_ts.as_str());
        assert_eq!(u.json["channel"], CHANNEL_ID);
    }
    let last = updates.last().expect("an update");
    assert!(last.at >= replies.last().expect("a reply").at);
    let shown = last.json["blocks"].to_string();
    assert!(shown.contains("Done with open problems"), "{shown}");
    assert!(shown.contains("*Driven by:* bo@desk"), "{shown}");
    assert!(
        shown.contains("shop/cart crash-looping (CrashLoopBackOff) &lt;since 1.31&gt;"),
        "{shown}"
    );

    // Operators' text arrives escaped, not as markup.
    let gate = replies
        .iter()
        .find(|c| event_of(c).as_deref() == Some("j2"))
        .expect("the gate");
    let gate_text = gate.json["blocks"].to_string();
    assert!(
        gate_text.contains("known crash-loop in &lt;shop/cart&gt; &amp; accepted"),
        "{gate_text}"
    );
    assert!(
        gate_text.contains("3 above the baseline &lt;6&gt; &amp; rising"),
        "{gate_text}"
    );

    // Each receipt names the thread, so a resumed drive can go on in it.
    for o in &out.seen {
        if let Outcome::Delivered { receipt, event_id, .. } = o {
            let thread = receipt.slack_thread().expect("a Slack receipt");
            assert_eq!(
                (thread.channel.as_str(), thread.ts.as_str()),
                (CHANNEL_ID, parent_ts.as_str())
            );
            if event_id.as_str() == "j1" {
                assert_eq!(receipt.to_string(), format!("thread {CHANNEL_ID}/{parent_ts}"));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_is_honoured() {
    let recv = Receiver::start().await;
    let cfg = resolve(
        &format!(
            "sinks:\n{}  - kind: slackWebhook\n    urlEnv: HOOK\n",
            slack_sink(&recv)
        ),
        &[("SLACK_TOKEN", TOKEN.into()), ("HOOK", recv.url("/hooks/T0/B0/XYZ"))],
    );
    // Slack's Web API: HTTP 429 with Retry-After; then HTTP 200 with ok:false ratelimited.
    recv.script(
        "chat.postMessage",
        Answer::new(429, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "2"),
    );
    recv.script(
        "chat.postMessage",
        Answer::new(200, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "3"),
    );
    // The incoming webhook: a plain 429.
    recv.script("hooks", Answer::new(429, "rate_limited").header("retry-after", "2"));
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    let first = history().remove(0);
    handle.send(first);
    out.until("the first event delivered to both", |seen| {
        delivered(seen, "ops").len() == 1 && delivered(seen, "slack-webhook").len() == 1
    })
    .await;

    let posts = recv.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 3, "two rate-limited tries, then the post");
    let gaps = [posts[1].at - posts[0].at, posts[2].at - posts[1].at];
    assert!(
        gaps[0] >= Duration::from_secs(2) && gaps[0] < Duration::from_millis(2_100),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_secs(3) && gaps[1] < Duration::from_millis(3_100),
        "{gaps:?}"
    );
    let hooks = recv.calls_to("hooks");
    assert_eq!(hooks.len(), 2);
    let gap = hooks[1].at - hooks[0].at;
    assert!(
        gap >= Duration::from_secs(2) && gap < Duration::from_millis(2_100),
        "{gap:?}"
    );

    let failed: Vec<(u32, bool, String)> = out
        .seen
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed {
                attempt,
                will_retry,
                error,
                sink,
                ..
            } if sink.as_str() == "ops" => Some((*attempt, *will_retry, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!((failed[0].0, failed[0].1), (1, true));
    assert!(failed[0].2.contains("HTTP 429"), "{}", failed[0].2);
    assert!(failed[1].2.contains("failed: ratelimited"), "{}", failed[1].2);
    handle.drain(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn transient_failures_back_off_exponentially_with_jitter() {
    let recv = Receiver::start().await;
    let cfg = resolve(
        "sinks:\n  - kind: webhook\n    urlEnv: HOOK\nretry: {initialBackoffSeconds: 1, maxBackoffSeconds: 60}\n",
        &[("HOOK", recv.url("/generic/abc"))],
    );
    for _ in 0..3 {
        recv.script("generic", Answer::new(500, "upstream down"));
    }
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    handle.send(history().remove(0));
    out.until("delivered after three failures", |seen| {
        delivered(seen, "webhook").len() == 1
    })
    .await;
    let calls = recv.calls_to("generic");
    assert_eq!(calls.len(), 4);
    // Equal jitter: the n-th wait is between half of and all of 1 s × 2^(n-1).
    for (n, pair) in calls.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let full = Duration::from_secs(1 << n);
        assert!(
            gap >= full / 2 && gap <= full + Duration::from_millis(50),
            "wait {n}: {gap:?}"
        );
    }
    let attempts: Vec<u32> = out
        .seen
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed {
                attempt,
                will_retry: true,
                ..
            } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    handle.drain(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn slack_errors_are_read_and_reported() {
    let recv = Receiver::start().await;
    let cfg = resolve(
        &format!(
            "sinks:\n{}  - kind: slackWebhook\n    urlEnv: HOOK\n",
            slack_sink(&recv)
        ),
        &[("SLACK_TOKEN", TOKEN.into()), ("HOOK", recv.url("/hooks/T0/B0/XYZ"))],
    );
    // HTTP 200 with ok:false is a failure; not_in_channel is final, internal_error is not.
    recv.script(
        "chat.postMessage",
        Answer::new(200, r#"{"ok":false,"error":"not_in_channel"}"#),
    );
    recv.script(
        "chat.postMessage",
        Answer::new(200, r#"{"ok":false,"error":"internal_error"}"#),
    );
    recv.script(
        "chat.postMessage",
        Answer::new(200, r#"{"ok":false,"error":"missing_scope","needed":"chat:write"}"#),
    );
    // The incoming webhook's plain-text errors: 404 is final, a 500 rollup_error is not.
    recv.script("hooks", Answer::new(404, "channel_not_found"));
    recv.script("hooks", Answer::new(500, "rollup_error"));
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    let events = history();
    for e in events[..3].iter().cloned() {
        handle.send(e);
    }
    // j1: not_in_channel, given up. j2: internal_error, tried again: missing_scope,
    // given up. j3: the parent is posted at last, and j3 replies in its thread.
    out.until("j1 and j2 given up, j3 delivered", |seen| {
        let gave_up = |id: &str| {
            seen.iter()
                .any(|o| matches!(o, Outcome::GaveUp { event_id, sink, .. } if event_id.as_str() == id && sink.as_str() == "ops"))
        };
        gave_up("j1") && gave_up("j2") && delivered(seen, "ops") == ["j3"] && delivered(seen, "slack-webhook").len() == 2
    })
    .await;
    let ops_errors: Vec<(String, bool)> = out
        .seen
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed {
                sink,
                error,
                will_retry,
                ..
            } if sink.as_str() == "ops" => Some((error.clone(), *will_retry)),
            _ => None,
        })
        .collect();
    assert_eq!(ops_errors.len(), 3, "{ops_errors:#?}");
    assert!(ops_errors[0].0.contains("chat.postMessage failed: not_in_channel") && ops_errors[0].0.contains("/invite"));
    assert!(!ops_errors[0].1);
    assert!(ops_errors[1].0.contains("internal_error") && ops_errors[1].1);
    assert!(ops_errors[2].0.contains("missing_scope") && ops_errors[2].0.contains("chat:write"));
    let hook_errors: Vec<String> = out
        .seen
        .iter()
        .filter_map(|o| match o {
            Outcome::GaveUp { sink, error, .. } if sink.as_str() == "slack-webhook" => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(hook_errors.len(), 1);
    assert!(hook_errors[0].contains("HTTP 404: channel_not_found") && hook_errors[0].contains("create a new one"));
    assert!(delivered(&out.seen, "slack-webhook") == ["j2", "j3"]);
    // j1 was tried once, j2 twice; then j3's parent and reply.
    let posts = recv.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 5);
    assert!(posts[..4].iter().all(|c| c.json.get("thread_ts").is_none()));
    assert_eq!(posts[4].json["thread_ts"], posts[3].answer["ts"]);
    handle.drain(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_receiver_never_blocks_send_and_drops_are_reported() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    let cfg = resolve(
        &format!(
            "sinks:\n  - kind: slack\n    channel: C1\n    tokenEnv: T\n    apiUrl: {dead}/api\n  - kind: slackWebhook\n    urlEnv: U\n  - kind: teams\n    urlEnv: U\n  - kind: webhook\n    urlEnv: U\nqueue: 100\n"
        ),
        &[("T", TOKEN.into()), ("U", format!("{dead}/hook/abc"))],
    );
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    let started = Instant::now();
    let wall = std::time::Instant::now();
    const N: u64 = 10_000;
    for n in 1..=N {
        let what = if n == N {
            What::Finished { verdict: Verdict::Done }
        } else if n % 1000 == 0 {
            What::StepFailed {
                step: step("nodegroup/apps", "node group apps"),
                why: format!("failure {n}"),
                what_to_do: "retry".into(),
            }
        } else {
            What::StepStarted {
                step: step("nodegroup/apps", "node group apps"),
            }
        };
        handle.send(Event::new(EventId::from_journal(n), at(n as i64), what));
    }
    let wall = wall.elapsed();
    // `send` never awaited: not a single tick of the (paused) clock went by.
    assert_eq!(Instant::now(), started);
    println!("{N} events sent into 4 dead sinks in {wall:?} of real time");

    out.take_ready();
    let dropped: Vec<(&str, &str)> = out
        .seen
        .iter()
        .filter_map(|o| match o {
            Outcome::Dropped {
                sink,
                event_id,
                severity,
            } => {
                assert_eq!(
                    *severity,
                    upshift::notify::Severity::Info,
                    "only info events are dropped"
                );
                Some((sink.as_str(), event_id.as_str()))
            }
            _ => None,
        })
        .collect();
    // Each sink keeps its queue of 100 (its 9 failures, the verdict, the newest info
    // events) and reports every other event as dropped.
    for sink in ["slack", "slack-webhook", "teams", "webhook"] {
        let n = dropped.iter().filter(|(s, _)| *s == sink).count();
        assert_eq!(n as u64, N - 100, "{sink}");
    }
    for (sink, queued) in handle.queued() {
        assert_eq!(queued, 100, "{sink}");
    }
    // Shutting down ends at its deadline, naming what never got out.
    let report = handle.drain(Instant::now() + Duration::from_secs(3)).await;
    assert!(Instant::now() <= started + Duration::from_secs(4));
    for sink in ["slack", "slack-webhook", "teams", "webhook"] {
        let left: Vec<&str> = report
            .undelivered
            .iter()
            .filter(|(s, _)| s.as_str() == sink)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(left.len(), 100, "{sink}");
        for must in ["j1000", "j5000", "j9000", "j10000"] {
            assert!(left.contains(&must), "{sink} lost {must}");
        }
    }
    out.take_ready();
    assert!(
        out.seen
            .iter()
            .any(|o| matches!(o, Outcome::Failed { will_retry: true, .. })),
        "the dead sinks' failures are reported"
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_with_the_delivered_ids_sends_nothing_twice_and_loses_nothing() {
    let recv = Receiver::start().await;
    let yaml = format!(
        "sinks:\n{}  - kind: teams\n    urlEnv: TEAMS\n  - kind: webhook\n    urlEnv: HOOK\n",
        slack_sink(&recv)
    );
    let env = [
        ("SLACK_TOKEN", TOKEN.to_string()),
        ("TEAMS", recv.url("/teams/flow-1")),
        ("HOOK", recv.url("/generic/abc")),
    ];
    let sinks = ["ops", "teams", "webhook"];
    let events = history();

    // First run: the first four events get out, then every service goes down.
    let (handle, rx) = Notifier::start(resolve(&yaml, &env), Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    for e in events[..4].iter().cloned() {
        handle.send(e);
    }
    out.until("four events at every sink", |seen| {
        sinks.iter().all(|s| delivered(seen, s).len() == 4)
    })
    .await;
    recv.down(Some(Answer::new(503, "maintenance")));
    for e in events[4..].iter().cloned() {
        handle.send(e);
    }
    out.until("j5 failing at every sink", |seen| {
        sinks.iter().all(|s| {
            seen.iter().any(
                |o| matches!(o, Outcome::Failed { event_id, sink, .. } if event_id.as_str() == "j5" && sink.as_str() == *s),
            )
        })
    })
    .await;
    // The process stops: a short drain, then gone.
    let report = handle.drain(Instant::now() + Duration::from_millis(200)).await;
    drop(handle);
    for s in sinks {
        let left: Vec<&str> = report
            .undelivered
            .iter()
            .filter(|(n, _)| n.as_str() == s)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(left, ["j5", "j6", "j7", "j8"], "{s}");
    }

    // What the journal would hold: each delivery and its receipt.
    let mut resume = Resume::default();
    for o in &out.seen {
        if let Outcome::Delivered {
            event_id,
            sink,
            receipt,
        } = o
        {
            resume.delivered(sink, event_id, receipt);
        }
    }

    // Second run: the services are back; the drive sends its whole history again.
    recv.down(None);
    let first_run_calls = recv.calls().len();
    let (handle, rx) = Notifier::start(resolve(&yaml, &env), resume).expect("starts");
    let mut out2 = Outcomes::new(rx);
    for e in events.iter().cloned() {
        handle.send(e);
    }
    out2.until("the rest at every sink", |seen| {
        sinks.iter().all(|s| delivered(seen, s).len() == 4)
    })
    .await;
    handle.drain(Instant::now() + Duration::from_secs(10)).await;
    for s in sinks {
        assert_eq!(delivered(&out2.seen, s), ["j5", "j6", "j7", "j8"], "{s}");
    }

    // The receiver's view: every event exactly once at every sink, over both runs.
    let calls = recv.calls();
    let ok = |c: &&Call| (200..300).contains(&c.status) && c.answer.get("ok") != Some(&json!(false));
    for (route, name) in [("chat.postMessage", "ops"), ("teams", "teams"), ("generic", "webhook")] {
        let mut ids: Vec<String> = calls
            .iter()
            .filter(|c| c.route == route)
            .filter(ok)
            .filter_map(|c| {
                if c.route == "chat.postMessage" && c.json.get("thread_ts").is_none() {
                    Some("j1".to_string()) // the parent is the rollout's first event
                } else {
                    event_of(c)
                }
            })
            .collect();
        ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap_or(0));
        let all: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, all, "{name}: each event once");
    }
    for c in calls.iter().filter(|c| c.route == "teams") {
        check_card(c);
    }
    for c in calls.iter().filter(|c| c.route == "generic") {
        check_generic(c);
    }
    // One thread: the second run replied and edited in the first run's thread.
    let parents: Vec<&Call> = calls
        .iter()
        .filter(|c| c.route == "chat.postMessage" && c.json.get("thread_ts").is_none())
        .collect();
    assert_eq!(parents.len(), 1);
    let parent_ts = parents[0].answer["ts"].clone();
    let second: Vec<&Call> = calls[first_run_calls..]
        .iter()
        .filter(|c| c.route.starts_with("chat."))
        .collect();
    assert!(second.iter().any(|c| c.route == "chat.update"));
    for c in second {
        let ts = if c.route == "chat.update" {
            &c.json["ts"]
        } else {
            &c.json["thread_ts"]
        };
        assert_eq!(ts, &parent_ts, "{}", c.route);
    }
}

#[tokio::test]
async fn webhooks_send_the_documented_shapes_signed_and_templated() {
    let recv = Receiver::start().await;
    let key = "whsec-SIGNING-KEY-42";
    let cfg = resolve(
        r#"sinks:
  - kind: slackWebhook
    urlEnv: SLACK_HOOK
  - kind: teams
    urlEnv: TEAMS
  - kind: webhook
    urlEnv: HOOK
    secretEnv: SIGNING
    headers:
      X-Team: platform
      Authorization: {env: BEARER}
  - kind: webhook
    name: chat-relay
    urlEnv: HOOK2
    template: '{"text": "{{headline}}", "where": "{{cluster}} {{from}}→{{to}}", "raw": {{json}}}'
    minSeverity: warning
"#,
        &[
            ("SLACK_HOOK", recv.url("/hooks/T0/B0/XYZ")),
            ("TEAMS", recv.url("/teams/flow-1")),
            ("HOOK", recv.url("/generic/abc")),
            ("HOOK2", recv.url("/generic-2/def")),
            ("SIGNING", key.to_string()),
            ("BEARER", "Bearer relay-token-77".to_string()),
        ],
    );
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    let events = history();
    for e in events.clone() {
        handle.send(e);
    }
    // The relay takes warnings and failures (and the verdict always): j2 j5 j6 j7 j8.
    out.until("every event at every sink", |seen| {
        ["slack-webhook", "teams", "webhook"]
            .iter()
            .all(|s| delivered(seen, s).len() == events.len())
            && delivered(seen, "chat-relay") == ["j2", "j5", "j6", "j7", "j8"]
    })
    .await;
    handle.drain(Instant::now() + Duration::from_secs(10)).await;

    let hooks = recv.calls_to("hooks");
    assert_eq!(hooks.len(), events.len());
    for c in &hooks {
        check_slack_message(&c.json);
        assert!(c.json.get("thread_ts").is_none(), "incoming webhooks cannot thread");
        // Without a thread, each message names its rollout.
        let ctx = c.json["blocks"]
            .as_array()
            .and_then(|b| b.last())
            .map(|b| b.to_string())
            .unwrap_or_default();
        assert!(ctx.contains("Upgrade of prod-eu: 1.30 → 1.31"), "{ctx}");
    }
    for c in &recv.calls_to("teams") {
        check_card(c);
    }
    let failed_card = recv
        .calls_to("teams")
        .into_iter()
        .find(|c| event_of(c).as_deref() == Some("j6"))
        .expect("the failure's card");
    assert_eq!(
        failed_card.json["attachments"][0]["content"]["body"][1]["color"],
        "Attention"
    );

    let generic = recv.calls_to("generic");
    assert_eq!(generic.len(), events.len());
    for c in &generic {
        check_generic(c);
        let h = |n: &str| c.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(h("x-team").as_deref(), Some("platform"));
        assert_eq!(h("authorization").as_deref(), Some("Bearer relay-token-77"));
        assert_eq!(h("content-type").as_deref(), Some("application/json"));
        // The signature is HMAC-SHA256 of the exact body received.
        let mac = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes()), &c.raw);
        let hex: String = mac.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(h("x-upshift-signature"), Some(format!("sha256={hex}")));
    }
    let gate = generic.iter().find(|c| c.json["id"] == "j2").expect("the gate");
    assert_eq!(gate.json["data"]["decision"], "override");
    assert_eq!(gate.json["data"]["criteria"][1]["ok"], false);
    assert_eq!(gate.json["rollout"]["cluster"], "prod-eu");

    let relayed = recv.calls_to("generic-2");
    assert_eq!(relayed.len(), 5);
    let verdict = relayed
        .iter()
        .find(|c| c.json["raw"]["id"] == "j8")
        .expect("the verdict");
    assert_eq!(verdict.json["text"], "Upgrade done with 2 open problems");
    assert_eq!(verdict.json["where"], "prod-eu 1.30→1.31");
    assert_eq!(verdict.json["raw"]["version"], 1);
    assert!(relayed.iter().all(|c| c.headers.get("x-upshift-signature").is_none()));
}

#[tokio::test(start_paused = true)]
async fn secrets_never_appear_in_reported_errors() {
    let recv = Receiver::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let secrets = [
        TOKEN.to_string(),
        "/hooks/T0SECRET/B0SECRET/XYZSECRET".to_string(),
        "/teams/flow-SECRET-9".to_string(),
        "/generic/SECRET-PATH".to_string(),
        "whsec-SECRET-KEY".to_string(),
        "SECRET-HEADER-VALUE".to_string(),
        "/dead/SECRET-DEAD".to_string(),
    ];
    let cfg = resolve(
        &format!(
            "sinks:\n{}  - kind: slackWebhook\n    urlEnv: SH\n  - kind: teams\n    urlEnv: TE\n  - kind: webhook\n    urlEnv: GE\n    secretEnv: KEY\n    headers: {{X-Api-Key: {{env: APIKEY}}}}\n  - kind: webhook\n    name: dead\n    urlEnv: DEAD\nretry: {{maxAttempts: 2}}\n",
            slack_sink(&recv)
        ),
        &[
            ("SLACK_TOKEN", TOKEN.into()),
            ("SH", recv.url(&secrets[1])),
            ("TE", recv.url(&secrets[2])),
            ("GE", recv.url(&secrets[3])),
            ("KEY", secrets[4].clone()),
            ("APIKEY", secrets[5].clone()),
            ("DEAD", format!("http://127.0.0.1:{port}{}", secrets[6])),
        ],
    );
    // A redacted Debug of the whole configuration shows none of them either.
    let shown = format!("{cfg:?}");
    for s in &secrets {
        assert!(!shown.contains(s.as_str()), "{s} in {shown}");
    }
    // Services that echo what they were sent in their errors.
    recv.script(
        "chat.postMessage",
        Answer::new(500, &format!("bad token {TOKEN} for /api/chat.postMessage")),
    );
    recv.script(
        "hooks",
        Answer::new(400, &format!("invalid_payload at {}{}", recv.base, secrets[1])),
    );
    recv.script(
        "teams",
        Answer::new(401, &format!("no flow at {}", recv.url(&secrets[2]))),
    );
    recv.script(
        "generic",
        Answer::new(
            403,
            &format!("denied {} with key {} signed by {}", secrets[3], secrets[5], secrets[4]),
        ),
    );
    let (handle, rx) = Notifier::start(cfg, Resume::default()).expect("starts");
    let mut out = Outcomes::new(rx);
    handle.send(history().remove(0));
    out.until("a failure from every sink", |seen| {
        ["ops", "slack-webhook", "teams", "webhook", "dead"].iter().all(|s| {
            seen.iter()
                .any(|o| matches!(o, Outcome::Failed { sink, .. } if sink.as_str() == *s))
        }) && seen
            .iter()
            .any(|o| matches!(o, Outcome::GaveUp { sink, .. } if sink.as_str() == "dead"))
    })
    .await;
    handle.drain(Instant::now() + Duration::from_secs(5)).await;
    out.take_ready();
    let errs = errors(&out.seen);
    assert!(errs.len() >= 5);
    for e in &errs {
        for s in &secrets {
            assert!(!e.contains(s.as_str()), "secret {s} in: {e}");
        }
    }
    // The errors still say what happened, and where.
    let all = errs.join("\n");
    assert!(all.contains("HTTP 401"), "{all}");
    assert!(all.contains("[redacted]"), "{all}");
    assert!(all.contains(&format!("http://127.0.0.1:{port}/…")), "{all}");
}
