//! NodePool disruption budgets: how many of a NodePool's nodes may be disrupted at
//! once for a reason, on the virtual clock. A budget gives a count or a percentage of
//! the NodePool's nodes (rounded up), applies to the reasons it lists (all when it
//! lists none), and is active always or for `duration` after each hit of its
//! `schedule`; the most restrictive active budget wins; no budget limits nothing.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::cron::Cron;

/// Why Karpenter disrupts a node, as budgets name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Underutilized,
    Empty,
    Drifted,
}

impl Reason {
    pub const ALL: [&'static str; 3] = ["Underutilized", "Empty", "Drifted"];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Underutilized => "Underutilized",
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
        }
    }
}

/// One entry of `spec.disruption.budgets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    #[serde(default = "ten_percent")]
    pub nodes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

fn ten_percent() -> String {
    "10%".into()
}

/// A Go duration of hours, minutes and seconds (`720h`, `1h30m`, `24h0m0s`, `30s`).
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total = total.checked_add(match c {
            'h' => n.checked_mul(3600)?,
            'm' => n.checked_mul(60)?,
            's' => n,
            _ => return None,
        })?;
    }
    num.is_empty().then(|| SignedDuration::from_secs(total))
}

/// `nodes` as a count of `total` nodes: a count, or a percentage rounded up.
pub fn scaled(nodes: &str, total: u32) -> Option<u32> {
    match nodes.strip_suffix('%') {
        Some(p) => {
            let p: u64 = p.parse().ok().filter(|p| *p <= 100)?;
            Some((u64::from(total) * p).div_ceil(100) as u32)
        }
        None => nodes.parse().ok(),
    }
}

impl Budget {
    /// Whether the budget applies now: always without a schedule, else for
    /// `duration` after each hit of the schedule.
    pub fn active(&self, now: Timestamp) -> Result<bool, String> {
        if self.schedule.is_none() && self.duration.is_none() {
            return Ok(true);
        }
        let cron = Cron::parse(self.schedule.as_deref().unwrap_or_default())?;
        let window = self
            .duration
            .as_deref()
            .and_then(parse_duration)
            .ok_or_else(|| format!("invalid duration {:?}", self.duration))?;
        let checkpoint = now.checked_sub(window).map_err(|e| e.to_string())?;
        Ok(cron.next_after(checkpoint, now).is_some())
    }

    fn applies_to(&self, reason: Reason) -> bool {
        self.reasons.as_ref().is_none_or(|r| r.contains(&reason))
    }
}

/// How many of `total` nodes may be disrupted for `reason` now: the minimum over the
/// active budgets that apply (u32::MAX when none does). A budget that cannot be
/// evaluated allows nothing, as in Karpenter.
pub fn allowed(budgets: &[Budget], now: Timestamp, total: u32, reason: Reason) -> u32 {
    let mut allowed = u32::MAX;
    for b in budgets {
        let value = match b.active(now) {
            Ok(true) => match scaled(&b.nodes, total) {
                Some(v) => v,
                None => return 0,
            },
            Ok(false) => u32::MAX,
            Err(_) => return 0,
        };
        if b.applies_to(reason) {
            allowed = allowed.min(value);
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(nodes: &str, reasons: Option<&[Reason]>, schedule: Option<&str>, duration: Option<&str>) -> Budget {
        Budget {
            nodes: nodes.into(),
            reasons: reasons.map(|r| r.to_vec()),
            schedule: schedule.map(str::to_string),
            duration: duration.map(str::to_string),
        }
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("720h"), Some(SignedDuration::from_hours(720)));
        assert_eq!(parse_duration("1h30m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_duration("24h0m0s"), Some(SignedDuration::from_hours(24)));
        assert_eq!(parse_duration("Never"), None);
        assert_eq!(parse_duration("10"), None);
    }

    #[test]
    fn percentages_round_up_and_the_most_restrictive_wins() {
        let now: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        assert_eq!(allowed(&[b("10%", None, None, None)], now, 20, Reason::Drifted), 2);
        assert_eq!(allowed(&[b("10%", None, None, None)], now, 3, Reason::Drifted), 1);
        assert_eq!(allowed(&[b("0%", None, None, None)], now, 3, Reason::Drifted), 0);
        let two = [b("50%", None, None, None), b("3", None, None, None)];
        assert_eq!(allowed(&two, now, 20, Reason::Drifted), 3);
        // a budget for other reasons leaves drift alone
        let reasons = [
            b("0", Some(&[Reason::Empty, Reason::Underutilized]), None, None),
            b("5", None, None, None),
        ];
        assert_eq!(allowed(&reasons, now, 20, Reason::Drifted), 5);
        assert_eq!(allowed(&reasons, now, 20, Reason::Empty), 0);
        assert_eq!(allowed(&[], now, 20, Reason::Drifted), u32::MAX);
        // an unparsable schedule allows nothing
        assert_eq!(
            allowed(&[b("5", None, Some("nope"), Some("1h"))], now, 20, Reason::Drifted),
            0
        );
    }

    #[test]
    fn schedules_open_windows_on_the_clock() {
        // zero drift during business hours on weekdays, 9:00 for 8 hours
        let hold = [
            b("0", Some(&[Reason::Drifted]), Some("0 9 * * mon-fri"), Some("8h")),
            b("10%", None, None, None),
        ];
        let monday_10 = "2026-12-07T10:00:00Z".parse().unwrap();
        let monday_18 = "2026-12-07T18:00:00Z".parse().unwrap();
        let saturday_10 = "2026-12-12T10:00:00Z".parse().unwrap();
        assert_eq!(allowed(&hold, monday_10, 20, Reason::Drifted), 0);
        assert_eq!(allowed(&hold, monday_18, 20, Reason::Drifted), 2);
        assert_eq!(allowed(&hold, saturday_10, 20, Reason::Drifted), 2);
        let at_nine: Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
        assert!(hold[0].active(at_nine).unwrap());
        let before: Timestamp = "2026-12-07T08:59:00Z".parse().unwrap();
        assert!(!hold[0].active(before).unwrap());
    }
}
