//! Slack messages for events and for a rollout thread's parent: Block Kit `section`
//! and `context` blocks in mrkdwn, with a plain `text` fallback for notifications.
//! Limits honoured (Slack's Block Kit reference): a section's text at most 3,000
//! characters (we stop at 2,900), at most 50 blocks a message; `&`, `<` and `>` escaped
//! everywhere text is shown, the only markup sent being our own bold and dates.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::event::{Event, Severity, Verdict, What};
use super::summary::{Stage, Summary};
use super::text::{escape_mrkdwn, truncate_mrkdwn, units};

/// A section's text stays under this (Slack refuses more than 3,000 characters).
pub const SECTION_MAX: usize = 2_900;
/// Blocks in one message (Slack allows 50).
pub const MAX_BLOCKS: usize = 50;
/// The plain `text` fallback (Slack advises at most 4,000 characters).
pub const TEXT_MAX: usize = 3_000;
/// All the detail lines of one message together. Slack refuses messages whose blocks
/// are too long in all (`msg_blocks_too_long`) at a limit it does not document; users
/// report it near 13,000 characters, so a message's details stop well before.
pub const DETAILS_MAX: usize = 10_000;

/// What `chat.postMessage`, `chat.update` and an incoming webhook take (besides the
/// channel and thread).
#[derive(Clone, Debug, PartialEq)]
pub struct SlackMessage {
    pub text: String,
    pub blocks: Vec<Value>,
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_mrkdwn(mrkdwn, SECTION_MAX)}})
}

fn context(mrkdwn: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_mrkdwn(mrkdwn, SECTION_MAX)}]})
}

/// A date Slack shows in each reader's time zone, with a UTC fallback.
fn date(at: Timestamp) -> String {
    let fallback = at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    format!(
        "<!date^{}^{{date_short_pretty}} {{time_secs}}|{fallback}>",
        at.as_second()
    )
}

fn severity_mark(e: &Event) -> &'static str {
    match (&e.what, e.severity()) {
        (What::Finished { verdict: Verdict::Done }, _) => ":white_check_mark:",
        (_, Severity::Info) => ":information_source:",
        (_, Severity::Warning) => ":warning:",
        (_, Severity::Failure) => ":x:",
    }
}

fn stage_mark(stage: Stage) -> &'static str {
    match stage {
        Stage::NotStarted | Stage::Running => ":arrows_counterclockwise:",
        Stage::Paused => ":double_vertical_bar:",
        Stage::Held | Stage::DoneWithProblems => ":warning:",
        Stage::StepFailed | Stage::Aborting | Stage::Aborted => ":x:",
        Stage::Done => ":white_check_mark:",
    }
}

/// Packs escaped lines into as few sections as fit, within `room` blocks and
/// [`DETAILS_MAX`] units in all; what does not fit is counted in a last line.
fn sections(lines: &[String], room: usize) -> Vec<Value> {
    let mut texts: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut total, mut shown) = (0, 0);
    for line in lines {
        let line = truncate_mrkdwn(line, SECTION_MAX);
        let n = units(&line) + 1;
        let new_section = !current.is_empty() && units(&current) + n > SECTION_MAX;
        let sections_needed = texts.len() + usize::from(new_section) + 1;
        // Keep one block for the "not shown" line when anything is left out.
        if total + n > DETAILS_MAX || sections_needed > room.saturating_sub(1) {
            break;
        }
        if new_section {
            texts.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
        total += n;
        shown += 1;
    }
    if !current.is_empty() {
        texts.push(current);
    }
    if shown < lines.len() {
        texts.push(format!("_… and {} more lines not shown_", lines.len() - shown));
    }
    texts.iter().map(|t| section(t)).collect()
}

/// An event as its own message: a reply in the thread, or (`standalone`, for an
/// incoming webhook) a message that also names the rollout.
pub fn event_message(e: &Event, summary: &Summary, standalone: bool) -> SlackMessage {
    let headline = escape_mrkdwn(&e.headline());
    let mut blocks = vec![section(&format!("{} *{headline}*", severity_mark(e)))];
    let lines: Vec<String> = e
        .details()
        .into_iter()
        .map(|d| format!("*{}:* {}", d.label, escape_mrkdwn(&d.value)))
        .collect();
    blocks.extend(sections(&lines, MAX_BLOCKS - 2));
    let mut ctx = Vec::new();
    if standalone {
        ctx.push(escape_mrkdwn(&summary.title()));
    }
    ctx.push(date(e.at));
    ctx.push(format!("event {}", escape_mrkdwn(e.id.as_str())));
    blocks.push(context(&ctx.join(" · ")));
    let mut text = e.headline();
    if standalone {
        text = format!("{}: {text}", summary.title());
    }
    SlackMessage {
        text: truncate_mrkdwn(&escape_mrkdwn(&text), TEXT_MAX),
        blocks,
    }
}

/// The thread's parent: the rollout and where it stands now.
pub fn parent_message(summary: &Summary) -> SlackMessage {
    let title = escape_mrkdwn(&summary.title());
    let status = escape_mrkdwn(&summary.status());
    let mut blocks = vec![section(&format!(
        "{} *{title}*\n*{}*",
        stage_mark(summary.stage),
        capitalised(&status)
    ))];
    let mut lines = Vec::new();
    let mut fact = |label: &str, value: &Option<String>| {
        if let Some(v) = value {
            lines.push(format!("*{label}:* {}", escape_mrkdwn(v)));
        }
    };
    fact("Driven by", &summary.driver);
    fact("Environment", &summary.environment);
    fact("Plan", &summary.plan_digest);
    lines.push(format!("*Steps done:* {}", summary.steps_done));
    if let Some(last) = &summary.last {
        lines.push(format!("*Latest:* {}", escape_mrkdwn(last)));
    }
    if !summary.open_problems.is_empty() {
        lines.push("*Open problems:*".to_string());
        lines.extend(summary.open_problems.iter().map(|p| format!("• {}", escape_mrkdwn(p))));
    }
    blocks.extend(sections(&lines, MAX_BLOCKS - 2));
    let updated = summary.last_at.map(date).unwrap_or_else(|| "not started".to_string());
    blocks.push(context(&format!(
        "upshift · updated {updated} · every event is in the thread"
    )));
    let text = format!("{}: {}", summary.title(), summary.status());
    SlackMessage {
        text: truncate_mrkdwn(&escape_mrkdwn(&text), TEXT_MAX),
        blocks,
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::{Criterion, EventId, GateDecision};

    fn at() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid")
    }

    fn gate(criteria: Vec<Criterion>) -> Event {
        Event::new(
            EventId::from_journal(7),
            at(),
            What::GateDecided {
                gate: "before <apps> & co".into(),
                criteria,
                decision: GateDecision::Override,
                who: "ana@laptop".into(),
                reason: Some("budget <ledger> known & accepted".into()),
            },
        )
    }

    fn all_texts(m: &SlackMessage) -> Vec<String> {
        let mut out = vec![m.text.clone()];
        for b in &m.blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                out.push(t.to_string());
            }
            for e in b["elements"].as_array().into_iter().flatten() {
                out.push(e["text"].as_str().unwrap_or_default().to_string());
            }
        }
        out
    }

    #[test]
    fn user_text_is_escaped_and_only_dates_are_markup() {
        let m = event_message(
            &gate(vec![Criterion {
                name: "pods <pending>".into(),
                ok: false,
                detail: "3 > 0".into(),
            }]),
            &Summary::default(),
            true,
        );
        for t in all_texts(&m) {
            let without_dates: String = t
                .split("<!date^")
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_string()
                    } else {
                        part.split_once('>').map(|(_, r)| r.to_string()).unwrap_or_default()
                    }
                })
                .collect();
            assert!(!without_dates.contains('<') && !without_dates.contains('>'), "{t}");
        }
        assert!(
            m.blocks[0]["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("before &lt;apps&gt; &amp; co")
        );
        assert!(m.text.contains("&lt;ledger&gt; known &amp; accepted"), "{}", m.text);
    }

    #[test]
    fn long_gates_stay_within_block_limits() {
        let criteria: Vec<Criterion> = (0..400)
            .map(|i| Criterion {
                name: format!("criterion {i}"),
                ok: i % 2 == 0,
                detail: "x".repeat(200),
            })
            .collect();
        let m = event_message(&gate(criteria), &Summary::default(), false);
        assert!(m.blocks.len() <= MAX_BLOCKS, "{} blocks", m.blocks.len());
        let mut total = 0;
        for b in &m.blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(units(t) < 3000, "{} units", units(t));
                total += units(t);
            }
        }
        assert!(total <= DETAILS_MAX + 400, "{total} units in all");
        let last = m.blocks[m.blocks.len() - 2]["text"]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(last.contains("more lines not shown"), "{last}");
        // One very long value is cut, not refused.
        let long = gate(vec![Criterion {
            name: "n".into(),
            ok: false,
            detail: "&".repeat(5000),
        }]);
        let m = event_message(&long, &Summary::default(), false);
        let t = m.blocks[1]["text"]["text"].as_str().unwrap_or_default();
        assert!(units(t) <= SECTION_MAX && t.ends_with('…'), "{}", units(t));
        assert!(!t.trim_end_matches('…').ends_with('&'));
    }

    #[test]
    fn the_parent_tells_the_rollout_and_its_state() {
        let mut s = Summary::default();
        s.apply(&Event::new(
            EventId::from_journal(1),
            at(),
            What::RolloutStarted {
                who: "ana@laptop".into(),
                cluster: "prod-eu".into(),
                environment: "production".into(),
                from: "1.30".into(),
                to: "1.31".into(),
                plan_digest: "sha256:ab12".into(),
            },
        ));
        let m = parent_message(&s);
        let first = m.blocks[0]["text"]["text"].as_str().unwrap_or_default();
        assert!(
            first.contains("*Upgrade of prod-eu: 1.30 → 1.31*") && first.contains("*Running*"),
            "{first}"
        );
        assert_eq!(m.text, "Upgrade of prod-eu: 1.30 → 1.31: running");
        assert_eq!(m.blocks.last().map(|b| b["type"].clone()), Some(json!("context")));
    }
}
