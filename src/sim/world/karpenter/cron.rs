//! The cron schedules of disruption budgets: five fields (minute, hour, day of month,
//! month, day of week) with `*`, lists, ranges, steps and names, or a descriptor
//! (`@daily`, `@hourly`, …), in UTC, as Karpenter's cron library reads them.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day of month or day of week was `*` (or `?`): both must then match, else either.
    day_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + offset);
    }
    s.parse().map_err(|_| format!("failed to parse int from {s}"))
}

/// Parses one field into a bit set; the bool says whether it was a bare star.
fn field(expr: &str, min: u32, max: u32, names: &[&str], offset: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                Some(s.parse::<u32>().map_err(|_| format!("failed to parse int from {s}"))?),
            ),
            None => (part, None),
        };
        let (lo, hi, is_star) = if range == "*" || range == "?" {
            (min, max, step.is_none_or(|s| s == 1))
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset)?, value(b, names, offset)?, false)
        } else {
            let v = value(range, names, offset)?;
            (v, if step.is_some() { max } else { v }, false)
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("end of range ({hi}) above maximum ({max}): {part}"));
        }
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(format!("step of range should be a positive number: {part}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
        star |= is_star;
    }
    Ok((bits, star))
}

impl Cron {
    pub fn parse(spec: &str) -> Result<Cron, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                f.len(),
                f.join(" ")
            ));
        }
        let (minute, _) = field(f[0], 0, 59, &[], 0)?;
        let (hour, _) = field(f[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(f[2], 1, 31, &[], 0)?;
        let (month, _) = field(f[3], 1, 12, &MONTHS, 1)?;
        let (dow, dow_star) = field(f[4], 0, 6, &DAYS, 0)?;
        Ok(Cron {
            minute,
            hour,
            dom,
            month,
            dow,
            day_star: dom_star || dow_star,
        })
    }

    /// The first minute strictly after `after` that the schedule hits, if one comes
    /// no later than `limit`.
    pub fn next_after(&self, after: Timestamp, limit: Timestamp) -> Option<Timestamp> {
        let mut s = after.as_second().div_euclid(60) * 60 + 60;
        let end = limit.as_second();
        while s <= end {
            let t = Timestamp::from_second(s).ok()?;
            let dt = t.to_zoned(TimeZone::UTC).datetime();
            let day_start = s - s.rem_euclid(86_400);
            if self.month & (1 << dt.month()) == 0 {
                let first = dt
                    .date()
                    .first_of_month()
                    .checked_add(jiff::Span::new().months(1))
                    .ok()?;
                s = first.to_zoned(TimeZone::UTC).ok()?.timestamp().as_second();
                continue;
            }
            let dom = self.dom & (1 << dt.day()) != 0;
            let dow = self.dow & (1 << dt.weekday().to_sunday_zero_offset()) != 0;
            let day_ok = if self.day_star { dom && dow } else { dom || dow };
            if !day_ok {
                s = day_start + 86_400;
                continue;
            }
            if self.hour & (1 << dt.hour()) == 0 {
                s = s - s.rem_euclid(3600) + 3600;
                continue;
            }
            if self.minute & (1 << dt.minute()) == 0 {
                s += 60;
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn schedules_hit_where_cron_says() {
        let daily = Cron::parse("@daily").unwrap();
        assert_eq!(
            daily.next_after(ts("2026-12-01T10:00:00Z"), ts("2026-12-03T00:00:00Z")),
            Some(ts("2026-12-02T00:00:00Z"))
        );
        // strictly after: a hit exactly at `after` does not count
        assert_eq!(
            daily.next_after(ts("2026-12-02T00:00:00Z"), ts("2026-12-02T12:00:00Z")),
            None
        );
        let weekdays = Cron::parse("30 9 * * mon-fri").unwrap();
        // 2026-12-05 is a Saturday
        assert_eq!(
            weekdays.next_after(ts("2026-12-04T10:00:00Z"), ts("2026-12-09T00:00:00Z")),
            Some(ts("2026-12-07T09:30:00Z"))
        );
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            every15.next_after(ts("2026-12-04T10:01:10Z"), ts("2026-12-04T11:00:00Z")),
            Some(ts("2026-12-04T10:15:00Z"))
        );
        let feb = Cron::parse("0 0 1 feb *").unwrap();
        assert_eq!(
            feb.next_after(ts("2026-12-04T10:00:00Z"), ts("2027-03-01T00:00:00Z")),
            Some(ts("2027-02-01T00:00:00Z"))
        );
        // day of month and day of week both restricted: either matches
        let either = Cron::parse("0 0 13 * 5").unwrap();
        assert_eq!(
            either.next_after(ts("2026-12-01T00:00:00Z"), ts("2026-12-31T00:00:00Z")),
            Some(ts("2026-12-04T00:00:00Z"))
        );
        assert!(Cron::parse("0 0 * *").is_err());
        assert!(Cron::parse("61 0 * * *").is_err());
        assert!(Cron::parse("@sometimes").is_err());
    }
}
