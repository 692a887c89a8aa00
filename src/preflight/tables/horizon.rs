//! What every knowledge table says about itself: the newest Kubernetes release it
//! was checked against, the day, and its sources; and the minor-version helpers the
//! tables share (ranges, contiguity, the minors a table leaves unverified).

use jiff::civil::Date;

use super::{TableError, invalid};
use crate::units::Minor;

/// How far a table's knowledge reaches. A target beyond `checked_against` is a
/// warning in preflight ("last checked against 1.37; 1.38 may ..."), never an "ok".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// The file it was read from, for messages.
    pub file: String,
    /// What the table is, in words: "removed-API table".
    pub table: String,
    /// The newest Kubernetes minor it was checked against, e.g. `1.37`.
    pub checked_against: String,
    pub checked_on: Date,
    pub sources: Vec<String>,
}

impl Horizon {
    /// Builds a horizon from a file's fields, naming the file and the field at fault.
    pub fn from_fields(
        file: &str,
        table: &str,
        checked_against: Option<&str>,
        checked_on: Option<&str>,
        sources: &[String],
    ) -> Result<Horizon, TableError> {
        let checked_against = checked_against.ok_or_else(|| {
            invalid(
                file,
                "checkedAgainst is missing: give the newest Kubernetes release this table was checked against, e.g. checkedAgainst: \"1.37\"".into(),
            )
        })?;
        if Minor::parse_exact(checked_against).is_none() {
            return Err(invalid(
                file,
                format!("checkedAgainst {checked_against:?} is not a version like \"1.37\""),
            ));
        }
        let checked_on = checked_on.ok_or_else(|| {
            invalid(
                file,
                "checkedOn is missing: give the day the table was last checked, e.g. checkedOn: 2026-12-01".into(),
            )
        })?;
        let checked_on: Date = checked_on
            .parse()
            .map_err(|_| invalid(file, format!("checkedOn {checked_on:?} is not a date like 2026-12-01")))?;
        if sources.iter().all(|s| s.trim().is_empty()) {
            return Err(invalid(
                file,
                "sources is empty: say where the table's facts come from".into(),
            ));
        }
        Ok(Horizon {
            file: file.to_string(),
            table: table.to_string(),
            checked_against: checked_against.to_string(),
            checked_on,
            sources: sources.to_vec(),
        })
    }

    /// Whether the table reaches `minor`.
    pub fn covers(&self, minor: &str) -> bool {
        Minor::key(minor) <= Minor::key(&self.checked_against)
    }

    /// `checked against 1.37 on 2026-12-01`
    pub fn describe(&self) -> String {
        format!("checked against {} on {}", self.checked_against, self.checked_on)
    }
}

/// Minors `from` to `through`, both included, as a table writes them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorRange {
    pub from: String,
    pub through: String,
}

impl MinorRange {
    pub fn contains(&self, minor: &str) -> bool {
        let k = Minor::key(minor);
        Minor::key(&self.from) <= k && k <= Minor::key(&self.through)
    }

    pub fn check(&self, file: &str, at: &str) -> Result<(), TableError> {
        if Minor::parse_exact(&self.from).is_none() || Minor::parse_exact(&self.through).is_none() {
            return Err(invalid(
                file,
                format!(
                    "{at}: {} to {} is not a range of versions like \"1.28\"",
                    self.from, self.through
                ),
            ));
        }
        if Minor::key(&self.from) > Minor::key(&self.through) {
            return Err(invalid(
                file,
                format!("{at}: from {} is after through {}", self.from, self.through),
            ));
        }
        Ok(())
    }
}

/// Minors from `from` to `to`, both included: `1.28`, `1.30` → 1.28, 1.29, 1.30.
pub fn minors(from: &str, to: &str) -> Vec<String> {
    let (a, b) = (Minor::key(from), Minor::key(to));
    if a.major != b.major || a.minor > b.minor {
        return Vec::new();
    }
    (a.minor..=b.minor)
        .map(|m| Minor::new(a.major, m).to_string())
        .collect()
}

/// Refuses minors that do not parse, naming the field.
pub fn check_minors<'a>(file: &str, at: &str, list: impl IntoIterator<Item = &'a String>) -> Result<(), TableError> {
    for m in list {
        if Minor::parse_exact(m).is_none() {
            return Err(invalid(file, format!("{at}: {m:?} is not a version like \"1.28\"")));
        }
    }
    Ok(())
}

/// Refuses an `unverified` list that names a minor the entry also claims to know, or
/// one beyond the table's horizon.
pub fn check_unverified(
    file: &str,
    at: &str,
    unverified: &[String],
    horizon: &Horizon,
    knows: impl Fn(&str) -> bool,
) -> Result<(), TableError> {
    check_minors(file, &format!("{at}.unverified"), unverified)?;
    for m in unverified {
        if knows(m) {
            return Err(invalid(
                file,
                format!("{at}: {m} is listed as unverified but the entry has data for it"),
            ));
        }
        if !horizon.covers(m) {
            return Err(invalid(
                file,
                format!(
                    "{at}: unverified {m} is beyond checkedAgainst {}: raise checkedAgainst or drop it",
                    horizon.checked_against
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_horizon_needs_each_field_and_names_it() {
        let src = vec!["a source".to_string()];
        let h = Horizon::from_fields("t.yaml", "test table", Some("1.37"), Some("2026-12-01"), &src).unwrap();
        assert!(h.covers("1.37") && h.covers("1.9") && !h.covers("1.38"));
        assert_eq!(h.describe(), "checked against 1.37 on 2026-12-01");
        let e = Horizon::from_fields("t.yaml", "t", None, Some("2026-12-01"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml") && e.contains("checkedAgainst is missing"), "{e}");
        let e = Horizon::from_fields("t.yaml", "t", Some("1.37"), None, &src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml") && e.contains("checkedOn is missing"), "{e}");
        let e = Horizon::from_fields("t.yaml", "t", Some("soon"), Some("2026-12-01"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("checkedAgainst \"soon\""), "{e}");
        let e = Horizon::from_fields("t.yaml", "t", Some("1.37"), Some("12/01/2026"), &src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("checkedOn \"12/01/2026\""), "{e}");
        let e = Horizon::from_fields("t.yaml", "t", Some("1.37"), Some("2026-12-01"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sources is empty"), "{e}");
    }

    #[test]
    fn ranges_and_lists_of_minors() {
        let r = MinorRange {
            from: "1.12".into(),
            through: "1.36".into(),
        };
        assert!(r.contains("1.12") && r.contains("1.36") && r.contains("1.20"));
        assert!(!r.contains("1.11") && !r.contains("1.37"));
        assert!(r.check("f", "x").is_ok());
        let backwards = MinorRange {
            from: "1.36".into(),
            through: "1.12".into(),
        };
        assert!(backwards.check("f", "x").unwrap_err().to_string().contains("after"));
        assert_eq!(minors("1.28", "1.30"), ["1.28", "1.29", "1.30"]);
        assert!(minors("1.30", "1.28").is_empty());
    }
}
