//! Node selector requirements as Karpenter reads them (`In`, `NotIn`, `Exists`,
//! `DoesNotExist`, `Gt`, `Lt`, `Gte`, `Lte`): whether a set of labels satisfies them,
//! and whether a launched node is still compatible with its NodePool's (drift).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Operator {
    pub const ALL: [&'static str; 8] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"];
}

/// One requirement of a NodePool or NodeClaim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_values: Option<u32>,
}

impl Requirement {
    pub fn new_in(key: &str, values: &[&str]) -> Self {
        Requirement {
            key: key.into(),
            operator: Operator::In,
            values: values.iter().map(|v| v.to_string()).collect(),
            min_values: None,
        }
    }

    fn number(&self) -> Option<i64> {
        self.values.first()?.parse().ok()
    }

    /// Whether a node with this label value (or without the label) satisfies it.
    pub fn allows(&self, value: Option<&str>) -> bool {
        let num = || value.and_then(|v| v.parse::<i64>().ok());
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt => matches!((num(), self.number()), (Some(a), Some(b)) if a > b),
            Operator::Lt => matches!((num(), self.number()), (Some(a), Some(b)) if a < b),
            Operator::Gte => matches!((num(), self.number()), (Some(a), Some(b)) if a >= b),
            Operator::Lte => matches!((num(), self.number()), (Some(a), Some(b)) if a <= b),
        }
    }
}

/// Whether `labels` satisfy every requirement.
pub fn satisfied(reqs: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    reqs.iter().all(|r| r.allows(labels.get(&r.key).map(String::as_str)))
}

/// The first requirement `labels` do not satisfy.
pub fn first_unsatisfied<'a>(reqs: &'a [Requirement], labels: &BTreeMap<String, String>) -> Option<&'a Requirement> {
    reqs.iter().find(|r| !r.allows(labels.get(&r.key).map(String::as_str)))
}

/// Checks the values a requirement must have for its operator, in the words of the
/// NodePool schema's validation rules; `path` names the requirement.
pub fn validate(r: &Requirement, path: &str) -> Result<(), String> {
    match r.operator {
        Operator::In if r.values.is_empty() => Err(format!(
            "{path}: Invalid value: \"object\": requirements with operator 'In' must have a value defined"
        )),
        Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte
            if r.values.len() != 1 || r.number().is_none_or(|n| n < 0) =>
        {
            Err(format!(
                "{path}: Invalid value: \"object\": requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value"
            ))
        }
        _ => match r.min_values {
            Some(m) if (r.values.len() as u32) < m => Err(format!(
                "{path}: Invalid value: \"object\": requirements with 'minValues' must have at least that many values specified in the 'values' field"
            )),
            _ => Ok(()),
        },
    }
}

/// `key=value` pairs as kubectl prints a selector, for messages.
pub fn describe(reqs: &[Requirement]) -> String {
    reqs.iter()
        .map(|r| match r.operator {
            Operator::Exists => format!("{} Exists", r.key),
            Operator::DoesNotExist => format!("{} DoesNotExist", r.key),
            op => format!("{} {:?} [{}]", r.key, op, r.values.join(" ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator: op,
            values: values.iter().map(|v| v.to_string()).collect(),
            min_values: None,
        }
    }

    #[test]
    fn operators_match_like_karpenter() {
        let labels = BTreeMap::from([
            ("gen".to_string(), "5".to_string()),
            ("cat".to_string(), "m".to_string()),
        ]);
        assert!(satisfied(&[req("cat", Operator::In, &["c", "m"])], &labels));
        assert!(!satisfied(&[req("cat", Operator::NotIn, &["m"])], &labels));
        assert!(satisfied(&[req("zone", Operator::NotIn, &["a"])], &labels));
        assert!(satisfied(&[req("gen", Operator::Gt, &["4"])], &labels));
        assert!(!satisfied(&[req("gen", Operator::Gt, &["5"])], &labels));
        assert!(satisfied(
            &[req("gen", Operator::Gte, &["5"]), req("gen", Operator::Lte, &["5"])],
            &labels
        ));
        assert!(!satisfied(&[req("gpu", Operator::Exists, &[])], &labels));
        assert!(satisfied(&[req("gpu", Operator::DoesNotExist, &[])], &labels));
        assert_eq!(
            first_unsatisfied(&[req("cat", Operator::In, &["c"])], &labels).map(|r| r.key.as_str()),
            Some("cat")
        );
        assert!(validate(&req("x", Operator::In, &[]), "r[0]").is_err());
        assert!(validate(&req("x", Operator::Gt, &["a"]), "r[0]").is_err());
        assert!(validate(&req("x", Operator::Gt, &["3"]), "r[0]").is_ok());
    }
}
