//! The campaign file: its types, its parsing (unknown fields refused) and the checks
//! that need only the file (window references, duplicate names, durations, time
//! zones, drivers, accepted problems). Every error names the file, the line and the
//! field, and says what to do.

mod read;

use std::path::{Path, PathBuf};

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::rollout::plan::locate::locate;
use crate::units::Minor;

use read::{Errors, RawCampaign, parse_error};
pub use read::{parse_duration, show_duration};

/// The largest campaign file read: a few hundred clusters fit in far less.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// A campaign: the target, the windows, the stages in order.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub name: String,
    /// The minor every cluster goes to, e.g. `1.35`.
    pub target: Minor,
    pub windows: Vec<Window>,
    pub stages: Vec<Stage>,
    /// The zone times are shown in (the file's `timezone`, else UTC).
    pub zone: TimeZone,
    /// The file it was read from (errors name it; relative paths start at its folder).
    pub file: PathBuf,
    /// Its text, to point later errors (the clusters' checks) at lines.
    pub text: String,
}

/// A maintenance window: once, or every week on some days.
#[derive(Clone, Debug)]
pub struct Window {
    pub name: String,
    pub rule: Rule,
}

#[derive(Clone, Debug)]
pub enum Rule {
    /// One window: from `start` for `duration`.
    Once { start: Timestamp, duration: SignedDuration },
    /// Every week on `days`, from `start` (local time in `zone`) for `duration`.
    Weekly {
        days: Vec<Weekday>,
        start: Time,
        duration: SignedDuration,
        zone: TimeZone,
    },
}

/// Which windows a stage may run in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageWindows {
    /// Any window of the file (any time at all when the file has none).
    Any,
    /// These windows, by name.
    Named(Vec<String>),
}

/// A stage: clusters upgraded one after the other, in the file's order.
#[derive(Clone, Debug)]
pub struct Stage {
    pub name: String,
    pub windows: StageWindows,
    /// How long after the stage's last cluster finished the next stage waits.
    pub soak: SignedDuration,
    /// Who may drive its clusters (operator user names); empty: anyone.
    pub drivers: Vec<String>,
    /// Problems left open in earlier stages that this stage accepts.
    pub accept: Vec<Accept>,
    pub clusters: Vec<Cluster>,
}

/// An earlier cluster's open problems, accepted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accept {
    pub cluster: String,
    /// Parts of the problems' text accepted; empty: every open problem of the cluster.
    pub problems: Vec<String>,
    pub reason: String,
    pub by: String,
}

/// One cluster of a stage, and where to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Its name in the campaign (unique in the file).
    pub name: String,
    /// The kubeconfig context (default: the name).
    pub context: String,
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    pub aws_profile: Option<String>,
    pub aws_region: Option<String>,
    /// The EKS cluster's name (default: the name).
    pub eks: String,
    /// The plan file; None: `generate` (the drive writes one).
    pub plan: Option<PathBuf>,
    /// The drive's journal (default: `NAME.journal.jsonl` beside the campaign file).
    pub journal: PathBuf,
}

/// What is wrong with a campaign file, and where.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("reading the campaign {file}: {error} (write one with `upshift campaign new -o {file}`)")]
    Read { file: String, error: String },
    #[error("{}: {field}: {message}", at(.file, .line))]
    Invalid {
        file: String,
        /// 1-based; None when the line is not found.
        line: Option<usize>,
        /// The field's path, e.g. `stages[1].clusters[0].context`.
        field: String,
        message: String,
    },
}

impl CampaignError {
    pub fn line(&self) -> Option<usize> {
        match self {
            CampaignError::Invalid { line, .. } => *line,
            CampaignError::Read { .. } => None,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            CampaignError::Invalid { field, .. } => Some(field),
            CampaignError::Read { .. } => None,
        }
    }
}

fn at(file: &str, line: &Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// Every problem found in a file, in the file's order.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct CampaignErrors(pub Vec<CampaignError>);

impl Campaign {
    /// Reads and checks a campaign file (the file alone: see `check` for the clusters).
    pub fn load(path: &Path) -> Result<Campaign, CampaignErrors> {
        let file = path.display().to_string();
        let read = |error: String| {
            CampaignErrors(vec![CampaignError::Read {
                file: file.clone(),
                error,
            }])
        };
        let size = std::fs::metadata(path).map_err(|e| read(e.to_string()))?.len();
        if size > MAX_BYTES {
            return Err(read(format!(
                "{size} bytes, more than a campaign file may have ({MAX_BYTES}): is it the campaign?"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        Campaign::from_yaml(&text, path)
    }

    /// Parses and checks campaign text; `path` names it in errors and anchors its
    /// relative paths.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Campaign, CampaignErrors> {
        let file = path.display().to_string();
        let de = serde_norway::Deserializer::from_str(text);
        let raw: RawCampaign =
            serde_path_to_error::deserialize(de).map_err(|e| CampaignErrors(vec![parse_error(e, &file, text)]))?;
        let mut errors = Errors {
            file: &file,
            text,
            found: Vec::new(),
        };
        let mut campaign = raw.check(&mut errors, path);
        campaign.text = text.to_string();
        if errors.found.is_empty() {
            Ok(campaign)
        } else {
            Err(CampaignErrors(errors.found))
        }
    }

    /// An error about `field` (`stages[1].clusters[0].context`), at its line.
    pub fn error_at(&self, field: &str, message: impl Into<String>) -> CampaignError {
        CampaignError::Invalid {
            file: self.file.display().to_string(),
            line: locate(&self.text, field),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The field path of a cluster's field: `stages[1].clusters[0].plan`.
    pub fn cluster_field(&self, name: &str, field: &str) -> String {
        for (i, s) in self.stages.iter().enumerate() {
            if let Some(k) = s.clusters.iter().position(|c| c.name == name) {
                return format!("stages[{i}].clusters[{k}].{field}");
            }
        }
        field.to_string()
    }

    /// `2026-12-08 22:00 CET`: an instant in the campaign's zone.
    pub fn show(&self, t: Timestamp) -> String {
        t.to_zoned(self.zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// The folder relative paths in the file start at.
    pub fn dir(&self) -> &Path {
        match self.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// Every cluster with the index of its stage, in the file's order.
    pub fn clusters(&self) -> impl Iterator<Item = (usize, &Cluster)> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.clusters.iter().map(move |c| (i, c)))
    }

    /// The windows a stage may run in (all of them for `any`).
    pub fn windows_of(&self, stage: &Stage) -> Vec<&Window> {
        match &stage.windows {
            StageWindows::Any => self.windows.iter().collect(),
            StageWindows::Named(names) => self.windows.iter().filter(|w| names.contains(&w.name)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read::{parse_start, zone};
    use super::*;

    #[test]
    fn durations_read_and_show_as_the_file_writes_them() {
        for (text, secs) in [
            ("4h", 14_400),
            ("30m", 1_800),
            ("1h30m", 5_400),
            ("2d", 172_800),
            ("90s", 90),
        ] {
            assert_eq!(parse_duration(text), Some(SignedDuration::from_secs(secs)), "{text}");
        }
        for bad in ["", "4", "h", "4x", "4 h", "-4h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(show_duration(SignedDuration::from_secs(5_400)), "1h30m");
        assert_eq!(show_duration(SignedDuration::from_secs(93_600)), "26h");
        assert_eq!(show_duration(SignedDuration::from_secs(180_000)), "2d2h");
    }

    #[test]
    fn a_start_reads_local_offset_or_zoned() {
        let berlin = zone("Europe/Berlin").expect("zone");
        let want: Timestamp = "2026-12-08T21:00:00Z".parse().expect("time");
        assert_eq!(parse_start("2026-12-08T22:00", &berlin), Some(want));
        assert_eq!(parse_start("2026-12-08T22:00+01:00", &TimeZone::UTC), Some(want));
        assert_eq!(
            parse_start("2026-12-08T22:00[Europe/Berlin]", &TimeZone::UTC),
            Some(want)
        );
        assert_eq!(parse_start("tuesday", &berlin), None);
    }
}
