//! Kubernetes versions as upshift reasons about them: a minor such as `1.31`. Every
//! version string upshift meets (an API server's `v1.30.5-eks-ce1d5eb`, a kubelet's
//! `v1.30.4-eks-a737599`, EKS's `1.30`, a plan's `"1.31"`, a scenario's `"1.30"`) is
//! read here and nowhere else. Minors order numerically: `1.9` comes before `1.10`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kubernetes minor version, written `1.31`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    pub major: u32,
    pub minor: u32,
}

impl Minor {
    pub const fn new(major: u32, minor: u32) -> Minor {
        Minor { major, minor }
    }

    /// The minor of a version as any tool writes it: `1.30`, `v1.30.4`,
    /// `v1.30.4-eks-a737599`, `1.30+`. None when it names no minor.
    pub fn parse(version: &str) -> Option<Minor> {
        let v = version.trim().trim_start_matches('v');
        let (major, rest) = v.split_once('.')?;
        let minor = rest.split(['.', '-', '+']).next()?;
        Some(Minor {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    /// Exactly `MAJOR.MINOR` (a leading `v` and surrounding spaces allowed): what a
    /// user gives as a target or a plan's `from`. `1.31.2` is refused.
    pub fn parse_exact(s: &str) -> Option<Minor> {
        let v = s.trim().trim_start_matches('v');
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Minor { major, minor })
    }

    /// The minor of `version` for ordering, `0.0` when it names none (an empty or
    /// unknown version sorts first).
    pub fn key(version: &str) -> Minor {
        Minor::parse(version).unwrap_or_default()
    }

    /// The minor after this one: `1.30` → `1.31`.
    pub fn next(self) -> Minor {
        Minor {
            major: self.major,
            minor: self.minor + 1,
        }
    }

    /// The minors after this one up to and including `to`, on the same major:
    /// `1.29` through `1.31` → `1.30`, `1.31`.
    pub fn through(self, to: Minor) -> Vec<Minor> {
        if self.major != to.major {
            return Vec::new();
        }
        (self.minor + 1..=to.minor).map(|m| Minor::new(self.major, m)).collect()
    }

    /// How many minors this one is behind `newer` (0 when not behind), or None on
    /// another major.
    pub fn behind(self, newer: Minor) -> Option<u32> {
        (self.major == newer.major).then(|| newer.minor.saturating_sub(self.minor))
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a text is not a minor version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kubernetes minor version such as \"1.31\"")]
pub struct NotAMinor(pub String);

impl FromStr for Minor {
    type Err = NotAMinor;

    /// Exactly `MAJOR.MINOR`, as [`Minor::parse_exact`].
    fn from_str(s: &str) -> Result<Minor, NotAMinor> {
        Minor::parse_exact(s).ok_or_else(|| NotAMinor(s.to_string()))
    }
}

/// Written as a string, `"1.31"`.
impl Serialize for Minor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Read from a string; a YAML number is refused with a hint to quote it (an
/// unquoted `1.30` is the number 1.3).
impl<'de> Deserialize<'de> for Minor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            F(f64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => Minor::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid version {s:?}: expected MAJOR.MINOR such as \"1.30\""))
            }),
            Raw::F(f) => Err(serde::de::Error::custom(format!(
                "version written as the number {f}: quote it, e.g. \"1.30\" (YAML reads 1.30 as 1.3)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_a_version_is_written_names_its_minor() {
        for v in [
            "1.30",
            "v1.30",
            "v1.30.4",
            "v1.30.4-eks-a737599",
            "1.30.2",
            "1.30+",
            " v1.30 ",
        ] {
            assert_eq!(Minor::parse(v), Some(Minor::new(1, 30)), "{v}");
        }
        for v in ["", "1", "v1", "one.two", "1.x", "latest"] {
            assert_eq!(Minor::parse(v), None, "{v}");
        }
        assert_eq!(Minor::key("latest"), Minor::default());
    }

    #[test]
    fn exact_minors_refuse_patches() {
        assert_eq!(Minor::parse_exact("1.31"), Some(Minor::new(1, 31)));
        assert_eq!(Minor::parse_exact("v1.31"), Some(Minor::new(1, 31)));
        assert_eq!(Minor::parse_exact("1.31.2"), None);
        assert_eq!(Minor::parse_exact("1.31-eks"), None);
        assert_eq!("1.31".parse::<Minor>(), Ok(Minor::new(1, 31)));
        let err = "1.31.0".parse::<Minor>().unwrap_err().to_string();
        assert!(err.contains("\"1.31.0\"") && err.contains("1.31"), "{err}");
    }

    #[test]
    fn minors_order_numerically_and_step_one_at_a_time() {
        assert!(Minor::new(1, 9) < Minor::new(1, 10));
        assert!(Minor::new(1, 33) < Minor::new(2, 0));
        assert_eq!(Minor::new(1, 30).next(), Minor::new(1, 31));
        assert_eq!(Minor::new(1, 30).next().to_string(), "1.31");
        assert_eq!(
            Minor::new(1, 29).through(Minor::new(1, 31)),
            [Minor::new(1, 30), Minor::new(1, 31)]
        );
        assert!(Minor::new(1, 31).through(Minor::new(1, 30)).is_empty());
        assert!(Minor::new(1, 31).through(Minor::new(2, 1)).is_empty());
        assert_eq!(Minor::new(1, 28).behind(Minor::new(1, 31)), Some(3));
        assert_eq!(Minor::new(1, 32).behind(Minor::new(1, 31)), Some(0));
        assert_eq!(Minor::new(1, 28).behind(Minor::new(2, 1)), None);
    }

    #[test]
    fn written_as_a_quoted_string_and_a_number_is_refused_with_a_hint() {
        assert_eq!(serde_json::to_string(&Minor::new(1, 30)).unwrap(), "\"1.30\"");
        let m: Minor = serde_norway::from_str("\"1.30\"").unwrap();
        assert_eq!(m, Minor::new(1, 30));
        let e = serde_norway::from_str::<Minor>("1.30").unwrap_err().to_string();
        assert!(e.contains("quote it"), "{e}");
        let e = serde_norway::from_str::<Minor>("\"one\"").unwrap_err().to_string();
        assert!(e.contains("expected MAJOR.MINOR"), "{e}");
    }
}
