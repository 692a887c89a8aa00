//! The EKS support calendar as the cockpit's header shows it: when the minors of the
//! upgrade leave standard and extended support, and what the cluster's upgrade
//! policy makes of that (it pays for extended support, will from a date, or is
//! upgraded by EKS). Read once from the cloud by whoever builds the cockpit; a
//! cockpit with no cloud has none and shows nothing.

use crate::units::{Minor, Timestamp};

/// The upgrade policy's support type (`upgradePolicy.supportType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// EKS upgrades the cluster itself when standard support ends.
    Standard,
    /// The cluster stays on its minor after standard support and pays for it.
    Extended,
    /// Not said (an older API, or a reader that could not tell).
    Unknown,
}

impl Policy {
    /// From the API's word: `STANDARD`, `EXTENDED`, anything else unknown.
    pub fn from_api(word: &str) -> Policy {
        match word {
            "STANDARD" => Policy::Standard,
            "EXTENDED" => Policy::Extended,
            _ => Policy::Unknown,
        }
    }
}

/// One minor's dates on EKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinorSupport {
    pub minor: Minor,
    pub end_of_standard: Option<Timestamp>,
    pub end_of_extended: Option<Timestamp>,
}

/// What EKS said of the cluster's minors, and its policy, when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportCalendar {
    pub policy: Policy,
    /// The cluster's minor when the calendar was read (DescribeCluster).
    pub cluster_minor: Option<Minor>,
    pub minors: Vec<MinorSupport>,
}

/// What the cluster pays, or what happens to it, on the minor it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    /// Policy EXTENDED, past standard support: extended support is charged since then.
    Pays { since: Timestamp },
    /// Policy EXTENDED, still in standard support: extended support is charged from then.
    WillPay { from: Timestamp },
    /// Policy STANDARD: EKS upgrades the cluster when standard support ends.
    AutoUpgrade { after: Timestamp },
    /// Past extended support: EKS upgrades it on its own schedule.
    Unsupported { since: Timestamp },
}

impl SupportCalendar {
    pub fn of(&self, minor: Minor) -> Option<&MinorSupport> {
        self.minors.iter().find(|m| m.minor == minor)
    }

    /// What the policy makes of running `on` at `now`; None when the policy or the
    /// dates are unknown (then nothing is said rather than a guess).
    pub fn billing(&self, on: Minor, now: Timestamp) -> Option<Billing> {
        let m = self.of(on)?;
        let standard = m.end_of_standard?;
        if let Some(ext) = m.end_of_extended
            && now >= ext
        {
            return Some(Billing::Unsupported { since: ext });
        }
        match self.policy {
            Policy::Unknown => None,
            Policy::Standard => Some(Billing::AutoUpgrade { after: standard }),
            Policy::Extended if now >= standard => Some(Billing::Pays { since: standard }),
            Policy::Extended => Some(Billing::WillPay { from: standard }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn minor(s: &str) -> Minor {
        Minor::parse(s).unwrap()
    }

    fn cal(policy: Policy) -> SupportCalendar {
        SupportCalendar {
            policy,
            cluster_minor: Some(minor("1.34")),
            minors: vec![MinorSupport {
                minor: minor("1.34"),
                end_of_standard: Some(t("2026-12-02T00:00:00Z")),
                end_of_extended: Some(t("2027-12-02T00:00:00Z")),
            }],
        }
    }

    #[test]
    fn the_policy_decides_what_the_end_of_standard_support_means() {
        let before = t("2026-11-01T00:00:00Z");
        let after = t("2027-01-01T00:00:00Z");
        let end = t("2026-12-02T00:00:00Z");
        let v = minor("1.34");
        assert_eq!(
            cal(Policy::Extended).billing(v, before),
            Some(Billing::WillPay { from: end })
        );
        assert_eq!(
            cal(Policy::Extended).billing(v, after),
            Some(Billing::Pays { since: end })
        );
        assert_eq!(
            cal(Policy::Standard).billing(v, before),
            Some(Billing::AutoUpgrade { after: end })
        );
        assert_eq!(cal(Policy::Unknown).billing(v, after), None);
        assert_eq!(
            cal(Policy::Extended).billing(v, t("2028-01-01T00:00:00Z")),
            Some(Billing::Unsupported {
                since: t("2027-12-02T00:00:00Z")
            })
        );
        // a minor EKS gave no dates for: nothing is said
        assert_eq!(cal(Policy::Extended).billing(minor("1.35"), before), None);
    }
}
