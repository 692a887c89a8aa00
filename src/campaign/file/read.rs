//! Reading the campaign file: the file as written (flat, so that the parser keeps
//! line numbers and refuses unknown fields) and the checks that turn it into a
//! [`Campaign`], each problem collected with its field's line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{Accept, Campaign, CampaignError, Cluster, Rule, Stage, StageWindows, Window};
use crate::rollout::plan::locate::locate;
use crate::units::Minor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCampaign {
    name: String,
    target: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    name: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    weekly: Option<RawWeekly>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeekly {
    days: Vec<String>,
    start: String,
    duration: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStageWindows {
    One(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    #[serde(default)]
    windows: Option<RawStageWindows>,
    #[serde(default)]
    soak: Option<String>,
    #[serde(default)]
    drivers: Vec<String>,
    #[serde(default)]
    accept: Vec<RawAccept>,
    clusters: Vec<RawCluster>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccept {
    cluster: String,
    #[serde(default)]
    problems: Vec<String>,
    reason: String,
    by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    kubeconfig: Option<String>,
    #[serde(default)]
    aws: Option<RawAws>,
    #[serde(default)]
    eks: Option<String>,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    journal: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

/// Collects errors that point into one text.
pub(super) struct Errors<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) found: Vec<CampaignError>,
}

impl Errors<'_> {
    fn at(&mut self, field: &str, message: impl Into<String>) {
        self.found.push(CampaignError::Invalid {
            file: self.file.to_string(),
            line: locate(self.text, field),
            field: field.to_string(),
            message: message.into(),
        });
    }
}

/// Reads `4h`, `30m`, `1h30m`, `2d`, `90s` (days are 24 hours).
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut secs: i64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        secs = secs.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() {
        return None;
    }
    Some(SignedDuration::from_secs(secs))
}

/// `4h`, `1h30m`, `2d`: a duration as the file writes it.
pub fn show_duration(d: SignedDuration) -> String {
    let mut s = d.as_secs().max(0);
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        // days from two on: 24h reads better than 1d
        if s >= len && (unit != "d" || s >= 2 * len) {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    if out.is_empty() { "0s".to_string() } else { out }
}

pub(super) fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// A window's start: `2026-12-08T22:00` (local time in `tz`), with an offset
/// (`2026-12-08T22:00+01:00`) or a zone (`2026-12-08T22:00[Europe/Berlin]`).
pub(super) fn parse_start(s: &str, tz: &TimeZone) -> Option<Timestamp> {
    if s.contains('[') {
        return s.parse::<jiff::Zoned>().ok().map(|z| z.timestamp());
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: jiff::civil::DateTime = s.parse().ok()?;
    dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// A name the file uses as a key: letters, digits, `-`, `_`, `.`.
fn good_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

/// The parser's message, once, with what to do.
pub(super) fn parse_error(e: serde_path_to_error::Error<serde_norway::Error>, file: &str, text: &str) -> CampaignError {
    let crate::rollout::plan::locate::ParseError {
        field,
        line,
        mut message,
    } = crate::rollout::plan::locate::parse_error(e, text, "docs/campaign.md");
    if field.ends_with(".windows") && message.contains("did not match any variant") {
        message = "give `any` or a list of window names, e.g. [tue-night]".to_string();
    }
    CampaignError::Invalid {
        file: file.to_string(),
        line,
        field,
        message,
    }
}

impl RawCampaign {
    pub(super) fn check(self, e: &mut Errors, path: &Path) -> Campaign {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !good_name(&self.name) {
            e.at(
                "name",
                "give the campaign a name of letters, digits and `-`, e.g. winter-1.35",
            );
        }
        let target = Minor::parse_exact(&self.target).unwrap_or_else(|| {
            e.at(
                "target",
                format!(
                    "{:?} is not a Kubernetes minor: write it as \"1.35\" (quoted)",
                    self.target
                ),
            );
            Minor::new(0, 0)
        });
        let default_zone = match &self.timezone {
            Some(z) => zone(z).unwrap_or_else(|| {
                e.at(
                    "timezone",
                    format!("{z:?} is not a time zone: use an IANA name such as Europe/Berlin or UTC"),
                );
                TimeZone::UTC
            }),
            None => TimeZone::UTC,
        };
        let mut windows = Vec::new();
        let mut window_names = BTreeSet::new();
        for (i, w) in self.windows.into_iter().enumerate() {
            let at = |f: &str| format!("windows[{i}].{f}");
            if !good_name(&w.name) {
                e.at(
                    &at("name"),
                    "give the window a name of letters, digits and `-`, e.g. tue-night",
                );
            } else if !window_names.insert(w.name.clone()) {
                e.at(
                    &at("name"),
                    format!("a second window named {:?}: give each window its own name", w.name),
                );
            }
            let tz = match &w.timezone {
                Some(z) => zone(z).unwrap_or_else(|| {
                    e.at(
                        &at("timezone"),
                        format!("{z:?} is not a time zone: use an IANA name such as Europe/Berlin"),
                    );
                    default_zone.clone()
                }),
                None => default_zone.clone(),
            };
            let rule = match (w.weekly, w.start, w.duration) {
                (Some(weekly), None, None) => {
                    let mut days = Vec::new();
                    for (d, day) in weekly.days.iter().enumerate() {
                        match weekday(day) {
                            Some(wd) if !days.contains(&wd) => days.push(wd),
                            Some(_) => e.at(&at(&format!("weekly.days[{d}]")), format!("{day:?} is listed twice")),
                            None => e.at(
                                &at(&format!("weekly.days[{d}]")),
                                format!("{day:?} is not a day: write mon, tue, wed, thu, fri, sat or sun"),
                            ),
                        }
                    }
                    if weekly.days.is_empty() {
                        e.at(&at("weekly.days"), "name at least one day, e.g. [thu]");
                    }
                    let start = weekly.start.parse::<Time>().unwrap_or_else(|_| {
                        e.at(
                            &at("weekly.start"),
                            format!(
                                "{:?} is not a time of day: write it as \"22:00\" (quoted)",
                                weekly.start
                            ),
                        );
                        Time::midnight()
                    });
                    let duration = window_duration(e, &at("weekly.duration"), &weekly.duration, true);
                    Rule::Weekly {
                        days,
                        start,
                        duration,
                        zone: tz,
                    }
                }
                (None, Some(start), Some(duration)) => {
                    let start = parse_start(&start, &tz).unwrap_or_else(|| {
                        e.at(
                            &at("start"),
                            format!(
                                "{start:?} is not a date and time: write 2026-12-08T22:00 (local time in the window's \
                                 timezone), 2026-12-08T22:00+01:00 or 2026-12-08T22:00[Europe/Berlin]"
                            ),
                        );
                        Timestamp::UNIX_EPOCH
                    });
                    let duration = window_duration(e, &at("duration"), &duration, false);
                    Rule::Once { start, duration }
                }
                _ => {
                    e.at(
                        &at("name"),
                        "a window has either `start` and `duration`, or `weekly: {days, start, duration}`",
                    );
                    Rule::Once {
                        start: Timestamp::UNIX_EPOCH,
                        duration: SignedDuration::ZERO,
                    }
                }
            };
            windows.push(Window { name: w.name, rule });
        }

        if self.stages.is_empty() {
            e.at("stages", "list at least one stage with its clusters");
        }
        let mut stages: Vec<Stage> = Vec::new();
        let mut stage_names = BTreeSet::new();
        let mut cluster_names = BTreeSet::new();
        let mut journals = BTreeSet::new();
        for (i, s) in self.stages.into_iter().enumerate() {
            let at = |f: &str| format!("stages[{i}].{f}");
            if !good_name(&s.name) {
                e.at(
                    &at("name"),
                    "give the stage a name of letters, digits and `-`, e.g. pre-production",
                );
            } else if !stage_names.insert(s.name.clone()) {
                e.at(
                    &at("name"),
                    format!("a second stage named {:?}: give each stage its own name", s.name),
                );
            }
            let stage_windows = match s.windows {
                None => StageWindows::Any,
                Some(RawStageWindows::One(w)) if w == "any" => StageWindows::Any,
                Some(RawStageWindows::One(w)) => {
                    e.at(
                        &at("windows"),
                        format!("{w:?}: write `any` or a list of window names, e.g. [{w}]"),
                    );
                    StageWindows::Any
                }
                Some(RawStageWindows::List(list)) => {
                    if list.is_empty() {
                        e.at(
                            &at("windows"),
                            "an empty list lets the stage run in no window: name some, or write `any`",
                        );
                    }
                    for (k, w) in list.iter().enumerate() {
                        if !window_names.contains(w) {
                            let known = window_names.iter().cloned().collect::<Vec<_>>().join(", ");
                            e.at(
                                &at(&format!("windows[{k}]")),
                                format!(
                                    "no window is named {w:?} (the file's windows: {}): define it under `windows:` or fix the name",
                                    if known.is_empty() { "none" } else { &known }
                                ),
                            );
                        }
                    }
                    StageWindows::Named(list)
                }
            };
            let soak = match &s.soak {
                Some(t) => match parse_duration(t) {
                    Some(d) => d,
                    None => {
                        e.at(
                            &at("soak"),
                            format!("{t:?} is not a duration: write it as 24h, 2d or 90m"),
                        );
                        SignedDuration::ZERO
                    }
                },
                None => SignedDuration::ZERO,
            };
            let mut drivers = BTreeSet::new();
            for (k, d) in s.drivers.iter().enumerate() {
                if !good_name(d) {
                    e.at(
                        &at(&format!("drivers[{k}]")),
                        format!("{d:?} is not an operator's user name (the USER the drive runs as, e.g. dana)"),
                    );
                } else if !drivers.insert(d.clone()) {
                    e.at(&at(&format!("drivers[{k}]")), format!("{d:?} is listed twice"));
                }
            }
            let mut accept = Vec::new();
            for (k, a) in s.accept.into_iter().enumerate() {
                let af = |f: &str| at(&format!("accept[{k}].{f}"));
                let earlier = stages.iter().any(|st| st.clusters.iter().any(|c| c.name == a.cluster));
                if !earlier {
                    e.at(
                        &af("cluster"),
                        format!(
                            "{:?} is no cluster of an earlier stage: a stage accepts the problems its predecessors left open",
                            a.cluster
                        ),
                    );
                }
                if a.reason.trim().is_empty() {
                    e.at(&af("reason"), "say why the problems may stay open");
                }
                if !s.drivers.is_empty() && !s.drivers.contains(&a.by) {
                    e.at(
                        &af("by"),
                        format!(
                            "{:?} is not among this stage's drivers ({}): the stage's drivers accept",
                            a.by,
                            s.drivers.join(", ")
                        ),
                    );
                } else if !good_name(&a.by) {
                    e.at(&af("by"), "name who accepts (an operator's user name)");
                }
                accept.push(Accept {
                    cluster: a.cluster,
                    problems: a.problems,
                    reason: a.reason,
                    by: a.by,
                });
            }
            if s.clusters.is_empty() {
                e.at(&at("clusters"), "list at least one cluster");
            }
            let mut clusters = Vec::new();
            for (k, c) in s.clusters.into_iter().enumerate() {
                let cf = |f: &str| at(&format!("clusters[{k}].{f}"));
                if !good_name(&c.name) {
                    e.at(
                        &cf("name"),
                        "give the cluster a name of letters, digits and `-`, e.g. staging-eu",
                    );
                } else if !cluster_names.insert(c.name.clone()) {
                    e.at(
                        &cf("name"),
                        format!(
                            "a second cluster named {:?}: each cluster is in one stage, once",
                            c.name
                        ),
                    );
                }
                let (aws_profile, aws_region) = c.aws.map(|a| (a.profile, a.region)).unwrap_or_default();
                let plan = match c.plan.as_deref() {
                    None | Some("generate") => None,
                    Some("") => {
                        e.at(&cf("plan"), "give a plan file, or `generate`");
                        None
                    }
                    Some(p) => Some(dir.join(p)),
                };
                let journal = match c.journal.as_deref() {
                    Some(j) if !j.is_empty() => dir.join(j),
                    Some(_) => {
                        e.at(&cf("journal"), "give a file for the journal, or leave the field out");
                        PathBuf::new()
                    }
                    None => dir.join(format!("{}.journal.jsonl", c.name)),
                };
                // a default journal follows the name, whose duplicate is said already
                let fresh = journal.as_os_str().is_empty() || journals.insert(journal.clone());
                if !fresh && c.journal.is_some() {
                    e.at(
                        &cf("journal"),
                        "another cluster writes this journal: give each cluster its own",
                    );
                }
                clusters.push(Cluster {
                    context: c.context.unwrap_or_else(|| c.name.clone()),
                    kubeconfig: c.kubeconfig.map(|k| dir.join(k)),
                    aws_profile,
                    aws_region,
                    eks: c.eks.unwrap_or_else(|| c.name.clone()),
                    plan,
                    journal,
                    name: c.name,
                });
            }
            stages.push(Stage {
                name: s.name,
                windows: stage_windows,
                soak,
                drivers: s.drivers,
                accept,
                clusters,
            });
        }
        Campaign {
            name: self.name,
            target,
            windows,
            stages,
            zone: default_zone,
            file: path.to_path_buf(),
            text: String::new(),
        }
    }
}

fn window_duration(e: &mut Errors, field: &str, text: &str, weekly: bool) -> SignedDuration {
    match parse_duration(text) {
        Some(d) if d <= SignedDuration::ZERO => {
            e.at(field, "a window lasts more than no time: write 4h, 90m");
            d
        }
        Some(d) if weekly && d > SignedDuration::from_hours(24 * 7) => {
            e.at(field, "a weekly window lasts at most a week (7d)");
            d
        }
        Some(d) => d,
        None => {
            e.at(
                field,
                format!("{text:?} is not a duration: write it as 4h, 90m or 1h30m"),
            );
            SignedDuration::ZERO
        }
    }
}
