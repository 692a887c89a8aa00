//! Maintenance windows in time (pure): for a stage and an instant, the window open
//! now and when it closes, or the next one to open. Weekly windows start at a local
//! time in their zone, so a window after a change to or from daylight saving time
//! starts at the same wall-clock time and lasts its duration of real time.

use jiff::{SignedDuration, Timestamp};

use super::file::{Campaign, Rule, Stage, Window};

/// One window, open from `opens` to `closes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub name: String,
    pub opens: Timestamp,
    pub closes: Timestamp,
}

/// A stage's windows at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowNow {
    /// The campaign has no windows: any time.
    Anytime,
    /// A window is open (the one closing last, when several are).
    Open(Opening),
    /// None is open; the next one to open, if any is left.
    Closed { next: Option<Opening> },
}

impl WindowNow {
    /// The open window, if any.
    pub fn open(&self) -> Option<&Opening> {
        match self {
            WindowNow::Open(o) => Some(o),
            WindowNow::Anytime | WindowNow::Closed { .. } => None,
        }
    }
}

/// The openings of `window` that have not closed by `from` and open before `until`,
/// in order.
pub fn openings(window: &Window, from: Timestamp, until: Timestamp) -> Vec<Opening> {
    let mut out = Vec::new();
    match &window.rule {
        Rule::Once { start, duration } => {
            let closes = start.saturating_add(*duration).unwrap_or(*start);
            if closes > from && *start < until {
                out.push(Opening {
                    name: window.name.clone(),
                    opens: *start,
                    closes,
                });
            }
        }
        Rule::Weekly {
            days,
            start,
            duration,
            zone,
        } => {
            // from the day a window opening that long ago could still be open
            let back = duration.as_hours() / 24 + 2;
            let first = from.to_zoned(zone.clone()).date();
            let Ok(mut day) = first.checked_sub(jiff::Span::new().days(back)) else {
                return out;
            };
            loop {
                if days.contains(&day.weekday()) {
                    // a start in a gap (spring forward) is taken after it, in an overlap the first
                    if let Ok(z) = day.to_datetime(*start).to_zoned(zone.clone()) {
                        let opens = z.timestamp();
                        if opens >= until {
                            break;
                        }
                        let closes = opens.saturating_add(*duration).unwrap_or(opens);
                        if closes > from {
                            out.push(Opening {
                                name: window.name.clone(),
                                opens,
                                closes,
                            });
                        }
                    }
                }
                match day.tomorrow() {
                    Ok(d) => day = d,
                    Err(_) => break,
                }
                if day
                    .to_datetime(jiff::civil::Time::midnight())
                    .to_zoned(zone.clone())
                    .is_ok_and(|z| z.timestamp() >= until)
                {
                    break;
                }
            }
        }
    }
    out
}

/// How far ahead the next window is looked for.
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 400);

/// The stage's windows at `now`.
pub fn window_now(campaign: &Campaign, stage: &Stage, now: Timestamp) -> WindowNow {
    let windows = campaign.windows_of(stage);
    if campaign.windows.is_empty() {
        return WindowNow::Anytime;
    }
    let until = now.saturating_add(HORIZON).unwrap_or(now);
    let mut open: Option<Opening> = None;
    let mut next: Option<Opening> = None;
    for w in windows {
        for o in openings(w, now, until) {
            if o.opens <= now && now < o.closes {
                if open.as_ref().is_none_or(|b| o.closes > b.closes) {
                    open = Some(o);
                }
            } else if o.opens > now && next.as_ref().is_none_or(|b| o.opens < b.opens) {
                next = Some(o);
            }
        }
    }
    match open {
        Some(o) => WindowNow::Open(o),
        None => WindowNow::Closed { next },
    }
}

/// The next window to open after `after` (the one after the open one, say).
pub fn next_after(campaign: &Campaign, stage: &Stage, after: Timestamp) -> Option<Opening> {
    let until = after.saturating_add(HORIZON).unwrap_or(after);
    campaign
        .windows_of(stage)
        .into_iter()
        .flat_map(|w| openings(w, after, until))
        .filter(|o| o.opens >= after)
        .min_by_key(|o| o.opens)
}

/// `2h05m`, `3d4h`: a time left, to the minute.
pub fn left(d: SignedDuration) -> String {
    let m = (d.as_secs().max(0) + 59) / 60;
    let (days, hours, mins) = (m / 1440, (m % 1440) / 60, m % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, _) => format!("{hours}h{mins:02}m"),
        _ => format!("{days}d{hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    fn campaign(windows: &str, stage_windows: &str) -> Campaign {
        let yaml = format!(
            "name: c\ntarget: \"1.35\"\ntimezone: Europe/Berlin\nwindows:\n{windows}\nstages:\n  - name: s\n    windows: {stage_windows}\n    clusters:\n      - name: a\n"
        );
        Campaign::from_yaml(&yaml, Path::new("c.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    const WINDOWS: &str = "  - name: tue-night\n    start: 2026-12-08T22:00\n    duration: 4h\n  - name: weekly-thursday\n    weekly: { days: [thu], start: \"22:00\", duration: 3h }\n";

    #[test]
    fn a_stage_sees_its_windows_open_closed_and_next() {
        let c = campaign(WINDOWS, "any");
        let s = &c.stages[0];
        // Berlin is UTC+1 in December
        let table = [
            // before anything: Thursday Dec 3rd 22:00 Berlin comes first
            (
                "2026-12-03T12:00:00Z",
                None,
                Some(("weekly-thursday", "2026-12-03T21:00:00Z")),
            ),
            (
                "2026-12-03T21:30:00Z",
                Some(("weekly-thursday", "2026-12-04T00:00:00Z")),
                None,
            ),
            (
                "2026-12-04T00:00:00Z",
                None,
                Some(("tue-night", "2026-12-08T21:00:00Z")),
            ),
            (
                "2026-12-08T23:59:00Z",
                Some(("tue-night", "2026-12-09T01:00:00Z")),
                None,
            ),
            (
                "2026-12-09T01:00:00Z",
                None,
                Some(("weekly-thursday", "2026-12-10T21:00:00Z")),
            ),
        ];
        for (now, open, next) in table {
            let got = window_now(&c, s, t(now));
            match (open, next) {
                (Some((name, closes)), _) => {
                    let o = got
                        .open()
                        .unwrap_or_else(|| panic!("{now}: want {name} open, got {got:?}"));
                    assert_eq!((o.name.as_str(), o.closes), (name, t(closes)), "{now}");
                }
                (None, Some((name, opens))) => match got {
                    WindowNow::Closed { next: Some(o) } => {
                        assert_eq!((o.name.as_str(), o.opens), (name, t(opens)), "{now}")
                    }
                    other => panic!("{now}: want {name} next, got {other:?}"),
                },
                (None, None) => unreachable!(),
            }
        }
    }

    #[test]
    fn a_stage_limited_to_named_windows_ignores_the_others() {
        let c = campaign(WINDOWS, "[tue-night]");
        let got = window_now(&c, &c.stages[0], t("2026-12-03T21:30:00Z"));
        assert_eq!(
            got,
            WindowNow::Closed {
                next: Some(Opening {
                    name: "tue-night".into(),
                    opens: t("2026-12-08T21:00:00Z"),
                    closes: t("2026-12-09T01:00:00Z"),
                })
            }
        );
        // after the one-off window nothing is left
        assert_eq!(
            window_now(&c, &c.stages[0], t("2026-12-10T00:00:00Z")),
            WindowNow::Closed { next: None }
        );
    }

    #[test]
    fn weekly_windows_keep_their_wall_clock_time_across_daylight_saving_changes() {
        // Sundays 01:30 Berlin for 3h: 2027-03-28 springs forward at 02:00, 2027-10-31 falls back at 03:00
        let c = campaign(
            "  - name: sunday\n    weekly: { days: [sun], start: \"01:30\", duration: 3h }\n",
            "any",
        );
        let s = &c.stages[0];
        let table = [
            // winter (UTC+1) the Sunday before
            ("2027-03-21T00:00:00Z", "2027-03-21T00:30:00Z"),
            // the night of the change: 01:30 is still winter time
            ("2027-03-27T12:00:00Z", "2027-03-28T00:30:00Z"),
            // summer (UTC+2)
            ("2027-03-29T00:00:00Z", "2027-04-03T23:30:00Z"),
            // fall back night: 01:30 is before the change, still summer time
            ("2027-10-30T12:00:00Z", "2027-10-30T23:30:00Z"),
            ("2027-11-01T00:00:00Z", "2027-11-07T00:30:00Z"),
        ];
        for (now, opens) in table {
            match window_now(&c, s, t(now)) {
                WindowNow::Closed { next: Some(o) } => {
                    assert_eq!(o.opens, t(opens), "{now}");
                    assert_eq!(o.closes.duration_since(o.opens), SignedDuration::from_hours(3), "{now}");
                }
                other => panic!("{now}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_start_in_the_spring_gap_opens_after_it() {
        // 02:30 does not exist in Berlin on 2027-03-28: the window opens at 03:30 summer time
        let c = campaign(
            "  - name: gap\n    weekly: { days: [sun], start: \"02:30\", duration: 1h }\n",
            "any",
        );
        match window_now(&c, &c.stages[0], t("2027-03-27T12:00:00Z")) {
            WindowNow::Closed { next: Some(o) } => assert_eq!(o.opens, t("2027-03-28T01:30:00Z")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_windows_a_stage_runs_any_time() {
        let yaml = "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    clusters:\n      - name: a\n";
        let c = Campaign::from_yaml(yaml, Path::new("c.yaml")).expect("valid");
        assert_eq!(
            window_now(&c, &c.stages[0], t("2026-12-03T12:00:00Z")),
            WindowNow::Anytime
        );
    }

    proptest! {
        #[test]
        fn open_means_inside_and_next_means_later_and_nothing_open_between(
            secs in 1_780_000_000i64..1_860_000_000i64,
            day in 0usize..7,
            hour in 0i8..24,
            minute in 0i8..60,
            hours in 1i64..30,
        ) {
            let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let windows = format!(
                "  - name: w\n    weekly: {{ days: [{}], start: \"{hour:02}:{minute:02}\", duration: {hours}h }}\n",
                days[day]
            );
            let c = campaign(&windows, "any");
            let now = Timestamp::from_second(secs).expect("time");
            match window_now(&c, &c.stages[0], now) {
                WindowNow::Open(o) => {
                    prop_assert!(o.opens <= now && now < o.closes);
                    prop_assert_eq!(o.closes.duration_since(o.opens), SignedDuration::from_hours(hours));
                }
                WindowNow::Closed { next: Some(o) } => {
                    prop_assert!(o.opens > now);
                    // at most a week and a day-length change away
                    prop_assert!(o.opens.duration_since(now) <= SignedDuration::from_hours(24 * 7 + 1));
                    // and nothing open just before it
                    let before = o.opens.saturating_sub(SignedDuration::from_secs(1)).expect("time");
                    prop_assert!(before < now || window_now(&c, &c.stages[0], before).open().is_none());
                }
                other => prop_assert!(false, "no window found: {:?}", other),
            }
        }
    }
}
