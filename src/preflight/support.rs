//! The support calendar: when the current and the target minor leave EKS's standard
//! and extended support (`DescribeClusterVersions`), judged against the cluster's
//! upgrade policy (`STANDARD`: EKS upgrades the cluster itself when standard support
//! ends; `EXTENDED`: the cluster stays and pays for extended support). Standard support
//! lasts about 14 months per minor and extended support 12 more, at extra cost
//! (reported as $0.60 per cluster-hour against $0.10; Amazon EKS user guide,
//! "Understand the Kubernetes version lifecycle on EKS").

use jiff::Timestamp;

use super::eks::EksFacts;
use super::{Check, Finding, Severity};
use crate::cloud::{CloudError, CloudRead, ClusterInfo, VersionSupport};
use crate::model::support::{MinorSupport, Policy, SupportCalendar};
use crate::units::Minor;

/// Reads the calendar a cockpit's header shows: the cluster's upgrade policy and
/// minor (DescribeCluster), and the dates of that minor, the next, and `also` (a
/// plan's from and target) from DescribeClusterVersions. Only reads.
pub async fn read_calendar(
    cloud: &dyn CloudRead,
    cluster: &str,
    also: &[String],
) -> Result<SupportCalendar, CloudError> {
    let info = cloud.describe_cluster(cluster).await?;
    let mut minors: Vec<Minor> = also.iter().filter_map(|v| Minor::parse(v)).collect();
    if let Some(on) = Minor::parse(&info.version) {
        minors.extend([on, on.next()]);
    }
    minors.sort();
    minors.dedup();
    let asked: Vec<String> = minors.iter().map(Minor::to_string).collect();
    let versions = cloud.cluster_versions(&asked).await?;
    Ok(calendar(&info, &versions))
}

/// The calendar as the model keeps it, from what EKS said.
pub fn calendar(info: &ClusterInfo, versions: &[VersionSupport]) -> SupportCalendar {
    SupportCalendar {
        policy: Policy::from_api(&info.support_type),
        cluster_minor: Minor::parse(&info.version),
        minors: versions
            .iter()
            .filter_map(|v| {
                Some(MinorSupport {
                    minor: Minor::parse(&v.version)?,
                    end_of_standard: v.end_of_standard,
                    end_of_extended: v.end_of_extended,
                })
            })
            .collect(),
    }
}

/// A target whose standard support ends sooner than this leaves little room for the
/// next upgrade.
const SOON_DAYS: i64 = 90;

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

fn days_between(a: Timestamp, b: Timestamp) -> i64 {
    b.duration_since(a).as_secs() / 86_400
}

fn finding(severity: Severity, title: String, cluster: &str, why: String, action: String) -> Finding {
    Finding {
        check: Check::Eks,
        severity,
        confidence: None,
        title,
        resources: vec![format!("EKS cluster {cluster}")],
        why,
        action,
        evidence: vec!["source: EKS DescribeClusterVersions and the cluster's upgrade policy".into()],
    }
}

/// Where a minor stands on a day.
enum Stage {
    /// In standard support, for this many more days.
    Standard { left: i64, until: Timestamp },
    /// Past standard support, in extended support until then.
    Extended { since: Timestamp, until: Option<Timestamp> },
    /// Past extended support too.
    Unsupported { since: Timestamp },
}

fn stage(v: &VersionSupport, now: Timestamp) -> Option<Stage> {
    let standard = v.end_of_standard?;
    Some(match v.end_of_extended {
        Some(ext) if now >= ext => Stage::Unsupported { since: ext },
        _ if now >= standard => Stage::Extended {
            since: standard,
            until: v.end_of_extended,
        },
        _ => Stage::Standard {
            left: days_between(now, standard),
            until: standard,
        },
    })
}

/// The calendar's findings for an upgrade to `target`: where both minors stand, and
/// warnings for what costs money or time.
pub fn check(f: &EksFacts, target: &str) -> Vec<Finding> {
    let Some(now) = f.read_at else { return Vec::new() };
    let find = |v: &str| f.versions.iter().find(|s| s.version == v);
    let cluster = f.cluster.name.as_str();
    let mut out = Vec::new();
    let policy = match f.cluster.support_type.as_str() {
        "" => "unknown".to_string(),
        p => p.to_string(),
    };
    let upgrade_now = format!("Upgrade to {target} now; plan the next minor soon after.");
    if let Some(cur) = find(&f.cluster.version) {
        match stage(cur, now) {
            Some(Stage::Unsupported { since }) => out.push(finding(
                Severity::Warning,
                format!("{} left extended support on {}: it is no longer supported", cur.version, day(since)),
                cluster,
                "EKS upgrades clusters on a minor past its extended support on its own schedule, not in your window.".into(),
                upgrade_now.clone(),
            )),
            Some(Stage::Extended { since, until }) if policy == "EXTENDED" => out.push(finding(
                Severity::Warning,
                format!(
                    "{} left standard support on {}: the cluster pays for extended support",
                    cur.version,
                    day(since)
                ),
                cluster,
                format!(
                    "Its upgrade policy is EXTENDED: EKS keeps it on {} until {} and charges extended support for every hour of it.",
                    cur.version,
                    until.map_or_else(|| "the end of extended support".into(), day)
                ),
                upgrade_now.clone(),
            )),
            Some(Stage::Extended { since, .. }) => out.push(finding(
                Severity::Warning,
                format!("{} left standard support on {}", cur.version, day(since)),
                cluster,
                format!(
                    "With the upgrade policy {policy}, EKS upgrades a cluster whose minor has left standard support on its own schedule, not in your window."
                ),
                upgrade_now.clone(),
            )),
            Some(Stage::Standard { left, until }) if policy == "EXTENDED" => out.push(finding(
                Severity::Info,
                format!(
                    "{} is in standard support until {} ({left} days); then extended support is charged",
                    cur.version,
                    day(until)
                ),
                cluster,
                "The upgrade policy EXTENDED keeps the cluster on its minor after standard support ends, at extra cost.".into(),
                "Upgrade before that date to stay on standard pricing.".into(),
            )),
            Some(Stage::Standard { .. }) | None => {}
        }
    }
    match find(target) {
        Some(t) => out.extend(target_line(t, now, cluster)),
        None if !f.versions.is_empty() => out.push(finding(
            Severity::Warning,
            format!("EKS gives no support dates for {target}"),
            cluster,
            "DescribeClusterVersions did not list the target: EKS may not offer it yet in this region.".into(),
            format!("Check `aws eks describe-cluster-versions --cluster-versions {target}` before the window."),
        )),
        None => {}
    }
    out
}

fn target_line(t: &VersionSupport, now: Timestamp, cluster: &str) -> Option<Finding> {
    let next = "Plan the next minor's window now.".to_string();
    Some(match stage(t, now)? {
        Stage::Unsupported { since } => finding(
            Severity::Warning,
            format!(
                "{} left extended support on {}: the target itself is unsupported",
                t.version,
                day(since)
            ),
            cluster,
            "Upgrading to it leaves the cluster on a minor EKS may upgrade on its own at any time.".into(),
            "Go on to the next minors in consecutive windows.".into(),
        ),
        Stage::Extended { since, until } => finding(
            Severity::Warning,
            format!(
                "{} left standard support on {}: on it the cluster is in extended support{}",
                t.version,
                day(since),
                until.map_or_else(String::new, |u| format!(" (until {})", day(u)))
            ),
            cluster,
            "Extended support is charged for every hour the cluster stays on this minor.".into(),
            next,
        ),
        Stage::Standard { left, until } if left < SOON_DAYS => finding(
            Severity::Warning,
            format!(
                "{} leaves standard support on {} ({left} days from now){}",
                t.version,
                day(until),
                t.end_of_extended
                    .map_or_else(String::new, |e| format!(", extended support until {}", day(e)))
            ),
            cluster,
            "A minor near the end of its standard support needs another upgrade soon after this one.".into(),
            next,
        ),
        Stage::Standard { until, .. } => finding(
            Severity::Info,
            format!(
                "{} is in standard support until {}{}",
                t.version,
                day(until),
                t.end_of_extended
                    .map_or_else(String::new, |e| format!(", extended support until {}", day(e)))
            ),
            cluster,
            "When this minor leaves standard support, the cluster needs its next upgrade.".into(),
            "Nothing to do now.".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ClusterInfo;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn facts(policy: &str, now: &str) -> EksFacts {
        EksFacts {
            cluster: ClusterInfo {
                name: "prod-eu".into(),
                version: "1.30".into(),
                support_type: policy.into(),
                ..Default::default()
            },
            versions: vec![
                VersionSupport {
                    version: "1.30".into(),
                    status: "EXTENDED_SUPPORT".into(),
                    release: Some(t("2024-05-23T00:00:00Z")),
                    end_of_standard: Some(t("2025-07-23T00:00:00Z")),
                    end_of_extended: Some(t("2026-07-23T00:00:00Z")),
                },
                VersionSupport {
                    version: "1.31".into(),
                    status: "STANDARD_SUPPORT".into(),
                    release: Some(t("2024-09-26T00:00:00Z")),
                    end_of_standard: Some(t("2025-11-26T00:00:00Z")),
                    end_of_extended: Some(t("2026-11-26T00:00:00Z")),
                },
            ],
            read_at: Some(t(now)),
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_past_standard_support_on_extended_is_told_it_pays() {
        let f = check(&facts("EXTENDED", "2025-08-01T00:00:00Z"), "1.31");
        assert!(
            f.iter()
                .any(|x| x.severity == Severity::Warning && x.title.contains("pays for extended support")),
            "{f:#?}"
        );
        // 1.31 ends standard support within 90 days of 2025-08-01 (117 days: no), so it is info
        let target = f.iter().find(|x| x.title.starts_with("1.31")).unwrap();
        assert_eq!(target.severity, Severity::Info, "{target:#?}");
        assert!(target.title.contains("2025-11-26"));
    }

    #[test]
    fn a_target_near_its_end_is_a_warning_and_standard_policy_is_named() {
        let f = check(&facts("STANDARD", "2025-10-01T00:00:00Z"), "1.31");
        let cur = f.iter().find(|x| x.title.starts_with("1.30")).unwrap();
        assert!(cur.why.contains("STANDARD"), "{cur:#?}");
        let target = f.iter().find(|x| x.title.starts_with("1.31")).unwrap();
        assert_eq!(target.severity, Severity::Warning);
        assert!(target.title.contains("56 days"), "{}", target.title);
    }

    #[test]
    fn past_extended_support_both_minors_say_so() {
        let f = check(&facts("EXTENDED", "2026-12-01T00:00:00Z"), "1.31");
        let titles: Vec<&str> = f.iter().map(|x| x.title.as_str()).collect();
        assert!(
            titles.contains(&"1.30 left extended support on 2026-07-23: it is no longer supported"),
            "{titles:#?}"
        );
        assert!(
            titles.contains(&"1.31 left extended support on 2026-11-26: the target itself is unsupported"),
            "{titles:#?}"
        );
    }

    #[test]
    fn a_target_eks_does_not_list_is_named() {
        let f = check(&facts("STANDARD", "2024-10-01T00:00:00Z"), "1.32");
        assert!(
            f.iter().any(|x| x.title == "EKS gives no support dates for 1.32"),
            "{f:#?}"
        );
        // before 1.30's end of standard support, a STANDARD cluster hears nothing of its own minor
        assert!(!f.iter().any(|x| x.title.starts_with("1.30")));
    }
}
