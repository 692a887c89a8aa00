//! The header's support calendar row: when the rollout's minors (or, with no rollout,
//! the control plane's and the next) leave EKS's standard and extended support, and
//! what the cluster's upgrade policy makes of the minor it runs. Said as fully as the
//! width allows; nothing at all when the cockpit has no calendar (no cloud).

use ratatui::text::{Line, Span};

use super::theme;
use crate::cockpit::Cockpit;
use crate::model::support::{Billing, MinorSupport, SupportCalendar};
use crate::units::{Minor, Timestamp};

/// A date to plan by is near when fewer days than this are left.
const NEAR_DAYS: i64 = 90;

/// How much is said: the first that fits the width is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Full,
    Short,
    Terse,
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

fn days_until(now: Timestamp, t: Timestamp) -> i64 {
    t.duration_since(now).as_secs() / 86_400
}

/// The minors the row speaks of, each with its role: the rollout's from and target,
/// else the control plane's and the next one EKS gave dates for.
fn minors(c: &Cockpit, cal: &SupportCalendar) -> (Option<Minor>, Option<Minor>) {
    if let Some(r) = &c.rollout
        && let (Some(from), Some(to)) = (Minor::parse(&r.from), Minor::parse(&r.target))
    {
        return (Some(from), Some(to));
    }
    let on = running(c, cal);
    let next = on.map(Minor::next).filter(|n| cal.of(*n).is_some());
    (on, next)
}

/// The minor the control plane runs: as the cockpit sees it, else as EKS said.
fn running(c: &Cockpit, cal: &SupportCalendar) -> Option<Minor> {
    c.model
        .server_version
        .as_deref()
        .and_then(Minor::parse)
        .or(cal.cluster_minor)
}

fn minor_text(m: &MinorSupport, role: &str, form: Form, now: Timestamp) -> String {
    let mut out = match (form, role) {
        (Form::Full, role) if !role.is_empty() => format!("{role} {}", m.minor),
        _ => m.minor.to_string(),
    };
    let until = |what_full: &str, what_short: &str, t: Timestamp| {
        let past = now >= t;
        match (form, past) {
            (Form::Full, false) => format!(" {what_full} until {}", day(t)),
            (Form::Full, true) => format!(" {what_full} ended {}", day(t)),
            (_, false) => format!(" {what_short} {}", day(t)),
            (_, true) => format!(" {what_short} ended {}", day(t)),
        }
    };
    if let Some(s) = m.end_of_standard {
        out.push_str(&until("standard", "std", s));
    }
    if form != Form::Terse
        && let Some(e) = m.end_of_extended
    {
        if form == Form::Full && m.end_of_standard.is_some() {
            out.push(',');
        }
        out.push_str(&until("extended", "ext", e));
    }
    out
}

fn billing_span(b: Billing, form: Form, now: Timestamp) -> Span<'static> {
    // (full, short, terse) words, and the style
    let (full, short, terse, style) = match b {
        Billing::Pays { since } => (
            format!("policy EXTENDED: pays extended support since {}", day(since)),
            format!("pays extended since {}", day(since)),
            format!("ext. paid since {}", day(since)),
            theme::warn(),
        ),
        Billing::WillPay { from } => (
            format!("policy EXTENDED: extended support charged from {}", day(from)),
            format!("pays extended from {}", day(from)),
            format!("ext. paid from {}", day(from)),
            if days_until(now, from) < NEAR_DAYS {
                theme::warn()
            } else {
                theme::plain()
            },
        ),
        Billing::AutoUpgrade { after } => (
            format!("policy STANDARD: EKS upgrades it after {}", day(after)),
            format!("EKS upgrades it after {}", day(after)),
            format!("auto-upgrade after {}", day(after)),
            if days_until(now, after) < NEAR_DAYS {
                theme::warn()
            } else {
                theme::plain()
            },
        ),
        Billing::Unsupported { since } => (
            format!(
                "past extended support since {}: EKS upgrades it when it chooses",
                day(since)
            ),
            format!("unsupported since {}", day(since)),
            format!("unsupported since {}", day(since)),
            theme::bad(),
        ),
    };
    let text = match form {
        Form::Full => full,
        Form::Short => short,
        Form::Terse => terse,
    };
    Span::styled(text, style)
}

fn spans(c: &Cockpit, cal: &SupportCalendar, form: Form) -> Vec<Span<'static>> {
    let sep = || Span::styled(" · ", theme::dim());
    let now = c.now;
    let (first, second) = minors(c, cal);
    let mut out = vec![Span::styled(
        if form == Form::Terse {
            " support "
        } else {
            " EKS support "
        },
        theme::dim(),
    )];
    let mut said = false;
    let second_role = if c.rollout.is_some() { "target" } else { "next" };
    for (m, role) in [(first, ""), (second, second_role)] {
        let Some(m) = m.and_then(|m| cal.of(m)) else { continue };
        if said {
            out.push(sep());
        }
        out.push(Span::raw(minor_text(m, role, form, now)));
        said = true;
    }
    if let Some(b) = running(c, cal).and_then(|on| cal.billing(on, now)) {
        if said {
            out.push(sep());
        }
        out.push(billing_span(b, form, now));
        said = true;
    }
    if said { out } else { Vec::new() }
}

/// The row, as full as `width` allows; None when there is nothing true to say.
pub fn line(c: &Cockpit, width: u16) -> Option<Line<'static>> {
    let cal = c.support.as_ref()?;
    let mut last = None;
    for form in [Form::Full, Form::Short, Form::Terse] {
        let s = spans(c, cal, form);
        if s.is_empty() {
            return None;
        }
        let len: usize = s.iter().map(|x| x.content.chars().count()).sum();
        if len <= usize::from(width) {
            return Some(Line::from(s));
        }
        last = Some(Line::from(s));
    }
    last
}
