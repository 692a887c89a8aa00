//! What the API server checks on every write of a Karpenter object, in its words:
//! the CRDs' patterns, enums and validation rules, each refusal naming its field
//! (`spec.disruption.budgets[0].nodes: Invalid value: "ten": … should match '…'`).

use serde_json::Value;

use super::budgets::{Reason, parse_duration};
use super::requirements::{self, Operator, Requirement};
use super::spec::PoolSpec;

/// Validation errors, joined as the apiserver joins them.
#[derive(Default)]
pub struct Errors(Vec<String>);

impl Errors {
    fn push(&mut self, e: String) {
        self.0.push(e);
    }
    fn pattern(&mut self, path: &str, value: &str, pattern: &str) {
        self.push(format!(
            "{path}: Invalid value: \"{value}\": {path} in body should match '{pattern}'"
        ));
    }
    fn required(&mut self, path: &str) {
        self.push(format!("{path}: Required value"));
    }
    fn unsupported(&mut self, path: &str, value: &str, supported: &[&str]) {
        let s: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        self.push(format!(
            "{path}: Unsupported value: \"{value}\": supported values: {}",
            s.join(", ")
        ));
    }
    fn rule(&mut self, path: &str, what: &str, message: &str) {
        self.push(format!("{path}: Invalid value: \"{what}\": {message}"));
    }
    pub fn result(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }
}

/// Why the API server refuses an object: one `field: message` per problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

const NODES_PATTERN: &str = "^((100|[0-9]{1,2})%|[0-9]+)$";
const WINDOW_PATTERN: &str = "^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$";
const AFTER_PATTERN: &str = "^(([0-9]+(s|m|h))+|Never)$";
const GRACE_PATTERN: &str = "^([0-9]+(s|m|h))+$";
const SCHEDULE_PATTERN: &str =
    "^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\\s(.+)\\s(.+)\\s(.+)\\s(.+))$";

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn nodes_ok(s: &str) -> bool {
    match s.strip_suffix('%') {
        Some(p) => p == "100" || (digits(p) && p.len() <= 2),
        None => digits(s),
    }
}

pub(crate) fn window_ok(s: &str) -> bool {
    let s = s.strip_suffix("0s").filter(|r| !r.is_empty()).unwrap_or(s);
    let (h, rest) = match s.split_once('h') {
        Some((h, rest)) => (Some(h), rest),
        None => (None, s),
    };
    if h.is_some_and(|h| !digits(h)) {
        return false;
    }
    match (h, rest) {
        (Some(_), "") => true,
        (_, m) => m.strip_suffix('m').is_some_and(digits),
    }
}

fn units_ok(s: &str) -> bool {
    !s.is_empty() && parse_duration(s).is_some() && s.chars().last().is_some_and(|c| "smh".contains(c))
}

fn schedule_ok(s: &str) -> bool {
    const DESCRIPTORS: [&str; 7] = ["annually", "yearly", "monthly", "weekly", "daily", "midnight", "hourly"];
    if let Some(d) = s.strip_prefix('@') {
        return DESCRIPTORS.contains(&d);
    }
    s.split_whitespace().count() >= 5
}

fn label_key_restricted(key: &str) -> Option<&'static str> {
    let domain = key.split_once('/').map(|(d, _)| d).unwrap_or("");
    if key == "karpenter.sh/nodepool" {
        Some("label \"karpenter.sh/nodepool\" is restricted")
    } else if key == "kubernetes.io/hostname" {
        Some("label \"kubernetes.io/hostname\" is restricted")
    } else if domain.ends_with("karpenter.sh") && key != "karpenter.sh/capacity-type" {
        Some("label domain \"karpenter.sh\" is restricted")
    } else {
        None
    }
}

fn check_taints(e: &mut Errors, v: Option<&Value>, path: &str) {
    for (i, t) in v.and_then(Value::as_array).into_iter().flatten().enumerate() {
        let p = format!("{path}[{i}]");
        match t.get("effect").and_then(Value::as_str) {
            None => e.required(&format!("{p}.effect")),
            Some(x) if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&x) => e.unsupported(
                &format!("{p}.effect"),
                x,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ),
            _ => {}
        }
        if t.get("key").and_then(Value::as_str).is_none_or(str::is_empty) {
            e.required(&format!("{p}.key"));
        }
    }
}

fn check_requirements(e: &mut Errors, v: Option<&Value>, path: &str) {
    let Some(list) = v.and_then(Value::as_array) else {
        e.required(path);
        return;
    };
    for (i, r) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let op = r.get("operator").and_then(Value::as_str).unwrap_or_default();
        if !Operator::ALL.contains(&op) {
            e.unsupported(&format!("{p}.operator"), op, &Operator::ALL);
            continue;
        }
        if let Some(k) = r.get("key").and_then(Value::as_str)
            && let Some(m) = label_key_restricted(k)
        {
            e.rule(&format!("{p}.key"), k, m);
        }
        match serde_json::from_value::<Requirement>(r.clone()) {
            Ok(req) => {
                if let Err(m) = requirements::validate(&req, path) {
                    e.push(m);
                }
            }
            Err(err) => e.push(format!("{p}: Invalid value: {err}")),
        }
    }
}

fn check_class_ref(e: &mut Errors, v: Option<&Value>, path: &str) {
    let Some(r) = v.filter(|r| r.is_object()) else {
        e.required(path);
        return;
    };
    for k in ["group", "kind", "name"] {
        match r.get(k).and_then(Value::as_str) {
            None => e.required(&format!("{path}.{k}")),
            Some("") => e.rule(&format!("{path}.{k}"), "string", &format!("{k} may not be empty")),
            _ => {}
        }
    }
}

fn check_template_spec(e: &mut Errors, s: &Value, path: &str) {
    check_class_ref(e, s.get("nodeClassRef"), &format!("{path}.nodeClassRef"));
    check_requirements(e, s.get("requirements"), &format!("{path}.requirements"));
    check_taints(e, s.get("taints"), &format!("{path}.taints"));
    check_taints(e, s.get("startupTaints"), &format!("{path}.startupTaints"));
    if let Some(x) = s.get("expireAfter").and_then(Value::as_str)
        && x != "Never"
        && !units_ok(x)
    {
        e.pattern(&format!("{path}.expireAfter"), x, AFTER_PATTERN);
    }
    if let Some(x) = s.get("terminationGracePeriod").and_then(Value::as_str)
        && !units_ok(x)
    {
        e.pattern(&format!("{path}.terminationGracePeriod"), x, GRACE_PATTERN);
    }
}

/// Validates a NodePool spec (after defaults); `old` is the stored spec on update.
pub fn validate_pool(spec: &Value, old: Option<&Value>) -> Result<(), Invalid> {
    let mut e = Errors::default();
    if !spec.is_object() {
        e.required("spec");
        return e.result();
    }
    match spec.pointer("/template/spec") {
        Some(ts) if ts.is_object() => check_template_spec(&mut e, ts, "spec.template.spec"),
        _ => e.required("spec.template.spec"),
    }
    if let Some(labels) = spec.pointer("/template/metadata/labels").and_then(Value::as_object) {
        for k in labels.keys() {
            if let Some(m) = label_key_restricted(k) {
                e.rule("spec.template.metadata.labels", "object", m);
            }
        }
    }
    let d = spec.get("disruption").cloned().unwrap_or(Value::Null);
    if let Some(x) = d.get("consolidateAfter").and_then(Value::as_str)
        && x != "Never"
        && !units_ok(x)
    {
        e.pattern("spec.disruption.consolidateAfter", x, AFTER_PATTERN);
    }
    if let Some(x) = d.get("consolidationPolicy").and_then(Value::as_str)
        && !["WhenEmpty", "WhenEmptyOrUnderutilized"].contains(&x)
    {
        e.unsupported(
            "spec.disruption.consolidationPolicy",
            x,
            &["WhenEmpty", "WhenEmptyOrUnderutilized"],
        );
    }
    let budgets = d.get("budgets").and_then(Value::as_array).cloned().unwrap_or_default();
    if budgets.len() > 50 {
        e.push(format!(
            "spec.disruption.budgets: Too many: {}: must have at most 50 items",
            budgets.len()
        ));
    }
    for (i, b) in budgets.iter().enumerate() {
        let p = format!("spec.disruption.budgets[{i}]");
        match b.get("nodes") {
            Some(Value::String(n)) if !nodes_ok(n) => e.pattern(&format!("{p}.nodes"), n, NODES_PATTERN),
            Some(Value::String(_)) => {}
            Some(other) => e.push(format!(
                "{p}.nodes: Invalid value: \"{}\": {p}.nodes in body must be of type string: \"{}\"",
                kind_of(other),
                kind_of(other)
            )),
            None => e.required(&format!("{p}.nodes")),
        }
        for (j, r) in b
            .get("reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let r = r.as_str().unwrap_or_default();
            if !Reason::ALL.contains(&r) {
                e.unsupported(&format!("{p}.reasons[{j}]"), r, &Reason::ALL);
            }
        }
        if let Some(s) = b.get("schedule").and_then(Value::as_str)
            && !schedule_ok(s)
        {
            e.pattern(&format!("{p}.schedule"), s, SCHEDULE_PATTERN);
        }
        if let Some(s) = b.get("duration").and_then(Value::as_str)
            && !window_ok(s)
        {
            e.pattern(&format!("{p}.duration"), s, WINDOW_PATTERN);
        }
    }
    if budgets
        .iter()
        .any(|b| b.get("schedule").is_some() != b.get("duration").is_some())
    {
        e.rule(
            "spec.disruption.budgets",
            "array",
            "'schedule' must be set with 'duration'",
        );
    }
    for (k, v) in spec.get("limits").and_then(Value::as_object).into_iter().flatten() {
        let q = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if q.as_deref()
            .and_then(|q| crate::units::quantity::parse_scaled(q, 1.0))
            .is_none()
        {
            e.push(format!(
                "spec.limits.{k}: Invalid value: \"{}\": spec.limits.{k} in body should match a quantity",
                q.unwrap_or_else(|| kind_of(v).into())
            ));
        }
    }
    if let Some(w) = spec.get("weight").and_then(Value::as_i64)
        && !(1..=100).contains(&w)
    {
        e.push(format!(
            "spec.weight: Invalid value: {w}: spec.weight in body should be {} 100",
            if w < 1 {
                "greater than or equal to 1, and less than or equal to"
            } else {
                "less than or equal to"
            }
        ));
    }
    if let Some(old) = old {
        for k in ["group", "kind"] {
            let now = spec.pointer(&format!("/template/spec/nodeClassRef/{k}"));
            let was = old.pointer(&format!("/template/spec/nodeClassRef/{k}"));
            if was.is_some() && now != was {
                e.rule(
                    "spec.template.spec.nodeClassRef",
                    "object",
                    &format!("nodeClassRef.{k} is immutable"),
                );
            }
        }
    }
    if serde_json::from_value::<PoolSpec>(spec.clone()).is_err() && e.0.is_empty() {
        e.push("spec: Invalid value: \"object\": does not decode as a NodePool spec".into());
    }
    e.result()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates a NodeClaim spec; its spec may not change once created.
pub fn validate_claim(spec: &Value, old: Option<&Value>) -> Result<(), Invalid> {
    let mut e = Errors::default();
    if !spec.is_object() {
        e.required("spec");
        return e.result();
    }
    check_template_spec(&mut e, spec, "spec");
    if let Some(old) = old
        && old != spec
    {
        e.rule("spec", "object", "spec is immutable");
    }
    e.result()
}

/// Alias families the EC2NodeClass schema accepts.
pub const ALIAS_FAMILIES: &[&str] = &[
    "al2",
    "al2023",
    "bottlerocket",
    "windows2019",
    "windows2022",
    "windows2025",
];

/// Validates an EC2NodeClass spec.
pub fn validate_ec2_class(spec: &Value) -> Result<(), Invalid> {
    let mut e = Errors::default();
    if !spec.is_object() {
        e.required("spec");
        return e.result();
    }
    let terms = spec.get("amiSelectorTerms").and_then(Value::as_array);
    match terms {
        None => e.required("spec.amiSelectorTerms"),
        Some(t) if t.is_empty() => e.rule(
            "spec.amiSelectorTerms",
            "array",
            "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
        ),
        Some(t) => {
            let aliases = t.iter().filter(|x| x.get("alias").is_some()).count();
            if aliases > 0 && t.len() > 1 {
                e.rule(
                    "spec.amiSelectorTerms",
                    "array",
                    "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms",
                );
            }
            for (i, term) in t.iter().enumerate() {
                let p = format!("spec.amiSelectorTerms[{i}]");
                let set: Vec<&str> = ["alias", "id", "name", "tags", "ssmParameter", "owner"]
                    .into_iter()
                    .filter(|k| term.get(*k).is_some())
                    .collect();
                if set.is_empty() {
                    e.rule(
                        &p,
                        "object",
                        "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
                    );
                }
                if let Some(a) = term.get("alias").and_then(Value::as_str) {
                    if set.len() > 1 {
                        e.rule(&p, "object", "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
                    }
                    match a.split_once('@') {
                        Some((family, version)) if !family.is_empty() && !version.is_empty() => {
                            if !ALIAS_FAMILIES.contains(&family) {
                                e.rule(&format!("{p}.alias"), a, "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'");
                            } else if family.starts_with("windows") && version != "latest" {
                                e.rule(
                                    &format!("{p}.alias"),
                                    a,
                                    "windows families may only specify version 'latest'",
                                );
                            }
                        }
                        _ => e.rule(
                            &format!("{p}.alias"),
                            a,
                            "'alias' is improperly formatted, must match the format 'family@version'",
                        ),
                    }
                }
                if term.get("id").is_some() && set.len() > 1 {
                    e.rule(&p, "object", "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
                }
            }
            if aliases == 0 && spec.get("amiFamily").is_none() {
                e.rule(
                    "spec",
                    "object",
                    "must specify amiFamily if amiSelectorTerms does not contain an alias",
                );
            }
        }
    }
    for (field, name) in [
        ("subnetSelectorTerms", "subnetSelectorTerms"),
        ("securityGroupSelectorTerms", "securityGroupSelectorTerms"),
    ] {
        match spec.get(field).and_then(Value::as_array) {
            None => e.required(&format!("spec.{field}")),
            Some(t) if t.is_empty() => e.rule(&format!("spec.{field}"), "array", &format!("{name} cannot be empty")),
            _ => {}
        }
    }
    if spec.get("role").is_some() == spec.get("instanceProfile").is_some() {
        e.rule(
            "spec",
            "object",
            "must specify exactly one of ['role', 'instanceProfile']",
        );
    }
    e.result()
}
