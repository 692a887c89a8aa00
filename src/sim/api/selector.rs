//! Label and field selectors with the Kubernetes API's grammar and semantics:
//! `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a` for labels;
//! `a=b`, `a!=b` with `\,` `\=` `\\` escapes for fields.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key));
        match &self.op {
            Op::In(vals) => value.is_some_and(|v| vals.contains(v)),
            Op::NotIn(vals) => value.is_none_or(|v| !vals.contains(v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
        }
    }
}

/// A label selector; the empty one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(valid_name))
    {
        return Err(SelectorError(format!(
            "invalid label key {key:?}: prefix part must be a DNS subdomain"
        )));
    }
    if !valid_name(name) {
        return Err(SelectorError(format!(
            "invalid label key {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)"
        )));
    }
    Ok(())
}

fn check_value(v: &str) -> Result<(), SelectorError> {
    if v.is_empty() || valid_name(v) {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "invalid label value {v:?}: must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
        )))
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, SelectorError> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(SelectorError(format!(
                        "unable to parse requirement: unbalanced ')' in {s:?}"
                    )));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError(format!(
            "unable to parse requirement: unbalanced '(' in {s:?}"
        )));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn parse_set(part: &str, rest: &str) -> Result<BTreeSet<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            SelectorError(format!(
                "unable to parse requirement: {part:?}: expected a set of values in parentheses"
            ))
        })?;
    let mut set = BTreeSet::new();
    for v in inner.split(',') {
        let v = v.trim();
        check_value(v)?;
        set.insert(v.to_string());
    }
    Ok(set)
}

impl LabelSelector {
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    pub fn is_everything(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Parses the query-string form kubectl sends with `-l`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top(s)? {
            let p = part.trim();
            if p.is_empty() {
                return Err(SelectorError(format!(
                    "unable to parse requirement: empty requirement in {s:?}"
                )));
            }
            let req = if let Some(key) = p.strip_prefix('!') {
                let key = key.trim();
                check_key(key)?;
                Requirement {
                    key: key.into(),
                    op: Op::DoesNotExist,
                }
            } else if let Some((k, v)) = p.split_once("!=") {
                let (k, v) = (k.trim(), v.trim());
                check_key(k)?;
                check_value(v)?;
                Requirement {
                    key: k.into(),
                    op: Op::NotIn(BTreeSet::from([v.to_string()])),
                }
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                let (k, v) = (k.trim(), v.trim());
                check_key(k)?;
                check_value(v)?;
                Requirement {
                    key: k.into(),
                    op: Op::In(BTreeSet::from([v.to_string()])),
                }
            } else if let Some(i) = p.find(" notin ").or_else(|| p.find(" notin(")) {
                let k = p[..i].trim();
                check_key(k)?;
                Requirement {
                    key: k.into(),
                    op: Op::NotIn(parse_set(p, &p[i + 6..])?),
                }
            } else if let Some(i) = p.find(" in ").or_else(|| p.find(" in(")) {
                let k = p[..i].trim();
                check_key(k)?;
                Requirement {
                    key: k.into(),
                    op: Op::In(parse_set(p, &p[i + 3..])?),
                }
            } else if p.contains(['(', ')', ' ', '<', '>']) {
                return Err(SelectorError(format!(
                    "unable to parse requirement: {p:?}: expected =, ==, !=, in, notin or a bare key"
                )));
            } else {
                check_key(p)?;
                Requirement {
                    key: p.into(),
                    op: Op::Exists,
                }
            };
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// From a `metav1.LabelSelector`; `{}` selects everything.
    pub fn from_k8s(sel: &K8sSelector) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement {
                key: k.clone(),
                op: Op::In(BTreeSet::from([v.clone()])),
            });
        }
        for e in sel.match_expressions.iter().flatten() {
            let values: BTreeSet<String> = e.values.iter().flatten().cloned().collect();
            let op = match e.operator.as_str() {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{other:?} is not a valid label selector operator"
                    )));
                }
            };
            reqs.push(Requirement { key: e.key.clone(), op });
        }
        Ok(LabelSelector { reqs })
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.reqs.iter().all(|r| r.matches(labels))
    }
}

/// A field selector; the empty one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Splits `s` on unescaped `sep`, unescaping `\,` `\=` `\!` `\\`.
fn split_escaped(s: &str, sep: char) -> Result<Vec<String>, SelectorError> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ (',' | '=' | '\\' | '!')) => {
                    if let Some(o) = out.last_mut() {
                        o.push('\\');
                        o.push(e);
                    }
                }
                other => {
                    return Err(SelectorError(format!(
                        "invalid field selector {s:?}: bad escape \\{}",
                        other.unwrap_or(' ')
                    )));
                }
            }
        } else if c == sep {
            out.push(String::new());
        } else if let Some(o) = out.last_mut() {
            o.push(c);
        }
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Finds the first unescaped occurrence of `pat`.
fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

impl FieldSelector {
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector { reqs });
        }
        for part in split_escaped(s, ',')? {
            let (k, eq, v) = if let Some(i) = find_unescaped(&part, "!=") {
                (&part[..i], false, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "==") {
                (&part[..i], true, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "=") {
                (&part[..i], true, &part[i + 1..])
            } else {
                return Err(SelectorError(format!(
                    "invalid field selector: {part:?}: expected field=value or field!=value"
                )));
            };
            let k = unescape(k.trim());
            if k.is_empty() {
                return Err(SelectorError(format!(
                    "invalid field selector: {part:?}: empty field name"
                )));
            }
            reqs.push((k, eq, unescape(v)));
        }
        Ok(FieldSelector { reqs })
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.reqs.iter().map(|(k, _, _)| k.as_str())
    }

    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.reqs
            .iter()
            .all(|(k, eq, v)| (get(k).unwrap_or_default() == *v) == *eq)
    }

    /// The value `field` is pinned to with `=`, if it is.
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.reqs
            .iter()
            .find(|(k, eq, _)| k == field && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_operators() {
        let l = labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("eks.amazonaws.com/nodegroup", "apps"),
        ]);
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(m(""));
        assert!(m("app=web") && m("app==web") && m("app = web"));
        assert!(!m("app=api"));
        assert!(m("app!=api") && !m("app!=web"));
        assert!(m("missing!=x"), "!= matches an absent key");
        assert!(m("app in (web, api)") && !m("app in (api)"));
        assert!(m("app notin (api)") && !m("app notin (api,web)"));
        assert!(m("missing notin (x)"), "notin matches an absent key");
        assert!(!m("missing in (x)"));
        assert!(m("tier") && !m("missing"));
        assert!(m("!missing") && !m("!tier"));
        assert!(m("app=web,tier in (front,back),eks.amazonaws.com/nodegroup=apps"));
        assert!(!m("app=web,tier=back"));
        assert!(!LabelSelector::parse("app=web").unwrap().matches(None));
        assert!(LabelSelector::parse("!app").unwrap().matches(None));
    }

    #[test]
    fn bad_label_selectors_are_refused_with_the_part_at_fault() {
        for bad in [
            "app=web,",
            "app in web",
            "app in (web",
            "-bad=x",
            "app=we b",
            "a=b)",
            "x in (a b)",
        ] {
            let e = LabelSelector::parse(bad);
            assert!(e.is_err(), "{bad:?} should not parse");
        }
        let e = LabelSelector::parse("app=-x").unwrap_err().to_string();
        assert!(e.contains("-x"), "{e}");
    }

    #[test]
    fn from_k8s_selectors() {
        let sel: K8sSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["back"]}, {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        let s = LabelSelector::from_k8s(&sel).unwrap();
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "front")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("canary", "1")]))));
        assert!(
            LabelSelector::from_k8s(&K8sSelector::default())
                .unwrap()
                .is_everything()
        );
        let bad: K8sSelector =
            serde_json::from_value(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Near"}]}))
                .unwrap();
        assert!(LabelSelector::from_k8s(&bad).is_err());
    }

    #[test]
    fn field_selectors_with_escapes() {
        let f = FieldSelector::parse("spec.nodeName=ip-10-0-1-2,status.phase!=Running").unwrap();
        assert_eq!(f.fields().collect::<Vec<_>>(), vec!["spec.nodeName", "status.phase"]);
        assert_eq!(f.exact("spec.nodeName"), Some("ip-10-0-1-2"));
        assert_eq!(f.exact("status.phase"), None);
        let get = |phase: &'static str| {
            move |k: &str| match k {
                "spec.nodeName" => Some("ip-10-0-1-2".to_string()),
                "status.phase" => Some(phase.to_string()),
                _ => None,
            }
        };
        assert!(f.matches(get("Pending")));
        assert!(!f.matches(get("Running")));
        let e = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(e.exact("metadata.name"), Some("a,b=c"));
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse(r"a=b\x").is_err());
        assert!(FieldSelector::parse("").unwrap().matches(|_| None));
        assert!(
            FieldSelector::parse("spec.nodeName=").unwrap().matches(|_| None),
            "absent compares as empty"
        );
    }
}
