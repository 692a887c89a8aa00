//! EKS's Kubernetes version calendar (`DescribeClusterVersions`): when each minor
//! reached EKS, and when its standard (14 months) and extended (12 more months)
//! support end. Dates through 1.35 are EKS's published calendar ("Understand the
//! Kubernetes version lifecycle on EKS", docs.aws.amazon.com/eks, checked 2026-12);
//! 1.36 and 1.37 are projected from the cadence and marked as such in
//! docs/simulator.md. A version's status is read against the world's clock.

use jiff::Timestamp;
use jiff::civil::date;

/// One minor on EKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EksVersion {
    pub minor: &'static str,
    pub release: Timestamp,
    pub end_of_standard: Timestamp,
    pub end_of_extended: Timestamp,
    /// Dates estimated from the cadence, not published.
    pub projected: bool,
}

/// Where a version stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Not yet on EKS.
    Unreleased,
    Standard,
    Extended,
    Unsupported,
}

impl Support {
    /// `versionStatus`.
    pub fn version_status(self) -> &'static str {
        match self {
            Support::Standard => "STANDARD_SUPPORT",
            Support::Extended => "EXTENDED_SUPPORT",
            Support::Unsupported | Support::Unreleased => "UNSUPPORTED",
        }
    }
    /// The older `status` field.
    pub fn status(self) -> &'static str {
        match self {
            Support::Standard => "standard-support",
            Support::Extended => "extended-support",
            Support::Unsupported | Support::Unreleased => "unsupported",
        }
    }
}

fn day(y: i16, m: i8, d: i8) -> Timestamp {
    date(y, m, d)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The calendar, oldest first.
pub fn calendar() -> Vec<EksVersion> {
    let v = |minor, r: (i16, i8, i8), s: (i16, i8, i8), e: (i16, i8, i8), projected| EksVersion {
        minor,
        release: day(r.0, r.1, r.2),
        end_of_standard: day(s.0, s.1, s.2),
        end_of_extended: day(e.0, e.1, e.2),
        projected,
    };
    vec![
        v("1.28", (2023, 9, 26), (2024, 11, 26), (2025, 11, 26), false),
        v("1.29", (2024, 1, 23), (2025, 3, 23), (2026, 3, 23), false),
        v("1.30", (2024, 5, 23), (2025, 7, 23), (2026, 7, 23), false),
        v("1.31", (2024, 9, 26), (2025, 11, 26), (2026, 11, 26), false),
        v("1.32", (2025, 1, 23), (2026, 3, 23), (2027, 3, 23), false),
        v("1.33", (2025, 5, 29), (2026, 7, 29), (2027, 7, 29), false),
        v("1.34", (2025, 10, 2), (2026, 12, 2), (2027, 12, 2), false),
        v("1.35", (2026, 1, 27), (2027, 3, 27), (2028, 3, 27), false),
        v("1.36", (2026, 6, 2), (2027, 8, 2), (2028, 8, 2), true),
        v("1.37", (2026, 10, 6), (2027, 12, 6), (2028, 12, 6), true),
    ]
}

impl EksVersion {
    pub fn support_at(&self, now: Timestamp) -> Support {
        if now < self.release {
            Support::Unreleased
        } else if now < self.end_of_standard {
            Support::Standard
        } else if now < self.end_of_extended {
            Support::Extended
        } else {
            Support::Unsupported
        }
    }
}

/// The version EKS picks for a new cluster at `now`: the newest in standard support.
pub fn default_minor(now: Timestamp) -> Option<&'static str> {
    calendar()
        .iter()
        .rev()
        .find(|v| v.support_at(now) == Support::Standard)
        .map(|v| v.minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_support_lasts_fourteen_months_and_extended_twelve_more() {
        for v in calendar() {
            let r = v.release.to_zoned(jiff::tz::TimeZone::UTC);
            let s = v.end_of_standard.to_zoned(jiff::tz::TimeZone::UTC);
            let e = v.end_of_extended.to_zoned(jiff::tz::TimeZone::UTC);
            let months = |a: &jiff::Zoned, b: &jiff::Zoned| {
                (i32::from(b.year()) - i32::from(a.year())) * 12 + i32::from(b.month()) - i32::from(a.month())
            };
            assert_eq!(months(&r, &s), 14, "{}", v.minor);
            assert_eq!(months(&s, &e), 12, "{}", v.minor);
        }
    }

    #[test]
    fn status_follows_the_clock() {
        let cal = calendar();
        let v131 = cal.iter().find(|v| v.minor == "1.31").unwrap();
        assert_eq!(v131.support_at(day(2025, 1, 1)), Support::Standard);
        assert_eq!(v131.support_at(day(2026, 1, 1)), Support::Extended);
        assert_eq!(v131.support_at(day(2026, 12, 1)), Support::Unsupported);
        assert_eq!(default_minor(day(2026, 2, 1)), Some("1.35"));
    }
}
