//! Typed views of the Karpenter specs, the CRDs' defaults the API server fills in on
//! every write (budgets `nodes: 10%`, `expireAfter: 720h`, …), and how an
//! EC2NodeClass selects its AMIs; the validation is in `validation.rs`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::budgets::Budget;
use super::requirements::Requirement;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClassRef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMeta {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.template.spec` of a NodePool, and most of a NodeClaim's spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    #[serde(default)]
    pub taints: Vec<Taint>,
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    #[serde(default)]
    pub node_class_ref: NodeClassRef,
    #[serde(default)]
    pub termination_grace_period: Option<String>,
    #[serde(default)]
    pub expire_after: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    #[serde(default)]
    pub metadata: TemplateMeta,
    #[serde(default)]
    pub spec: TemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    #[serde(default)]
    pub consolidate_after: Option<String>,
    #[serde(default)]
    pub consolidation_policy: Option<String>,
    #[serde(default)]
    pub budgets: Vec<Budget>,
}

/// A NodePool's spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    #[serde(default)]
    pub template: Template,
    #[serde(default)]
    pub disruption: Disruption,
    #[serde(default)]
    pub limits: BTreeMap<String, Value>,
    #[serde(default)]
    pub weight: Option<i32>,
    #[serde(default)]
    pub replicas: Option<i64>,
}

impl PoolSpec {
    pub fn parse(spec: &Value) -> Option<PoolSpec> {
        serde_json::from_value(spec.clone()).ok()
    }

    /// The reasons' most restrictive active budget (see `budgets::allowed`).
    pub fn budgets(&self) -> &[Budget] {
        &self.disruption.budgets
    }

    /// A limit as a number in its base unit (millicores for cpu, bytes for memory).
    pub fn limit(&self, resource: &str) -> Option<u64> {
        let v = self.limits.get(resource)?;
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        match resource {
            "cpu" => crate::units::quantity::cpu_millis(&s),
            "memory" => crate::units::quantity::bytes(&s),
            _ => s.parse().ok(),
        }
    }
}

/// A NodeClaim's spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSpec {
    #[serde(flatten)]
    pub template: TemplateSpec,
    #[serde(default)]
    pub resources: Value,
}

impl ClaimSpec {
    pub fn parse(spec: &Value) -> Option<ClaimSpec> {
        serde_json::from_value(spec.clone()).ok()
    }
}

// ---- defaults -------------------------------------------------------------

fn default_in(obj: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = obj
        && !m.contains_key(key)
    {
        m.insert(key.to_string(), value);
    }
}

/// The NodePool CRD's defaults.
pub fn default_pool(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_in(spec, "disruption", json!({"consolidateAfter": "0s"}));
    let d = &mut spec["disruption"];
    default_in(d, "consolidateAfter", json!("0s"));
    default_in(d, "consolidationPolicy", json!("WhenEmptyOrUnderutilized"));
    default_in(d, "budgets", json!([{"nodes": "10%"}]));
    if let Some(budgets) = d.get_mut("budgets").and_then(Value::as_array_mut) {
        for b in budgets {
            default_in(b, "nodes", json!("10%"));
        }
    }
    if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        default_in(t, "expireAfter", json!("720h"));
    }
}

/// The NodeClaim CRD's defaults.
pub fn default_claim(spec: &mut Value) {
    default_in(spec, "expireAfter", json!("720h"));
}

/// The EC2NodeClass CRD's defaults.
pub fn default_ec2_class(spec: &mut Value) {
    default_in(
        spec,
        "metadataOptions",
        json!({"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"}),
    );
}

pub use super::validation::{ALIAS_FAMILIES, Invalid, nodes_ok, validate_claim, validate_ec2_class, validate_pool};

/// How an EC2NodeClass selects its AMIs, read from its spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmiTerm {
    /// `family@version`: `latest` follows new releases; both follow the control plane's minor.
    Alias {
        family: String,
        version: String,
    },
    Id(String),
    Name(String),
    /// Tags, SSM parameters, owners: custom AMIs the simulated EC2 has none of.
    Other,
}

pub fn ami_terms(spec: &Value) -> Vec<AmiTerm> {
    spec.get("amiSelectorTerms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            if let Some((f, v)) = t.get("alias").and_then(Value::as_str).and_then(|a| a.split_once('@')) {
                AmiTerm::Alias {
                    family: f.to_string(),
                    version: v.to_string(),
                }
            } else if let Some(id) = t.get("id").and_then(Value::as_str) {
                AmiTerm::Id(id.to_string())
            } else if let Some(n) = t.get("name").and_then(Value::as_str) {
                AmiTerm::Name(n.to_string())
            } else {
                AmiTerm::Other
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::budgets::Reason;
    use super::super::validation::window_ok;
    use super::*;

    fn pool(v: Value) -> Value {
        let mut v = v;
        default_pool(&mut v);
        v
    }

    const TEMPLATE: &str = r#"{"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}, "requirements": []}}}"#;

    #[test]
    fn defaults_are_the_crds() {
        let v = pool(serde_json::from_str(TEMPLATE).unwrap());
        assert_eq!(v["disruption"]["budgets"], json!([{"nodes": "10%"}]));
        assert_eq!(v["disruption"]["consolidationPolicy"], "WhenEmptyOrUnderutilized");
        assert_eq!(v["template"]["spec"]["expireAfter"], "720h");
        let mut explicit: Value = serde_json::from_str(TEMPLATE).unwrap();
        explicit["disruption"] =
            json!({"budgets": [{"reasons": ["Drifted"], "nodes": "0"}, {"schedule": "@daily", "duration": "1h"}]});
        let v = pool(explicit);
        assert_eq!(v["disruption"]["budgets"][1]["nodes"], "10%");
        assert_eq!(v["disruption"]["consolidateAfter"], "0s");
        assert!(validate_pool(&v, None).is_ok());
        let parsed = PoolSpec::parse(&v).unwrap();
        assert_eq!(parsed.budgets()[0].reasons, Some(vec![Reason::Drifted]));
    }

    #[test]
    fn validation_names_the_field_like_the_apiserver() {
        let mut v: Value = serde_json::from_str(TEMPLATE).unwrap();
        v["disruption"] = json!({"budgets": [{"nodes": "ten"}, {"nodes": "1", "schedule": "@daily"}, {"nodes": "1", "reasons": ["Bored"]}]});
        let e = validate_pool(&pool(v), None).unwrap_err().to_string();
        assert!(e.contains("spec.disruption.budgets[0].nodes: Invalid value: \"ten\": spec.disruption.budgets[0].nodes in body should match '^((100|[0-9]{1,2})%|[0-9]+)$'"), "{e}");
        assert!(e.contains("'schedule' must be set with 'duration'"), "{e}");
        assert!(
            e.contains("spec.disruption.budgets[2].reasons[0]: Unsupported value: \"Bored\""),
            "{e}"
        );
        assert!(e.starts_with('['), "{e}");
        let mut v: Value = serde_json::from_str(TEMPLATE).unwrap();
        v["template"]["spec"]["expireAfter"] = json!("21d");
        let e = validate_pool(&pool(v), None).unwrap_err().to_string();
        assert!(
            e.starts_with("spec.template.spec.expireAfter: Invalid value: \"21d\""),
            "{e}"
        );
        assert!(nodes_ok("100%") && nodes_ok("5") && nodes_ok("0") && !nodes_ok("101%") && !nodes_ok("5 %"));
        assert!(window_ok("8h") && window_ok("30m") && window_ok("1h30m") && window_ok("10h0m0s") && !window_ok("30s"));
        let old = pool(serde_json::from_str(TEMPLATE).unwrap());
        let mut changed = old.clone();
        changed["template"]["spec"]["nodeClassRef"]["group"] = json!("eks.amazonaws.com");
        assert!(
            validate_pool(&changed, Some(&old))
                .unwrap_err()
                .to_string()
                .contains("nodeClassRef.group is immutable")
        );
    }

    #[test]
    fn ec2_node_classes_need_their_selectors() {
        let ok = json!({"amiSelectorTerms": [{"alias": "al2023@latest"}], "subnetSelectorTerms": [{"tags": {"a": "b"}}], "securityGroupSelectorTerms": [{"tags": {"a": "b"}}], "role": "r"});
        assert!(validate_ec2_class(&ok).is_ok());
        let mut bad = ok.clone();
        bad["amiSelectorTerms"] = json!([{"alias": "ubuntu@latest"}]);
        assert!(
            validate_ec2_class(&bad)
                .unwrap_err()
                .to_string()
                .contains("family is not supported")
        );
        let mut bad = ok.clone();
        bad["instanceProfile"] = json!("p");
        assert!(
            validate_ec2_class(&bad)
                .unwrap_err()
                .to_string()
                .contains("exactly one of ['role', 'instanceProfile']")
        );
        assert_eq!(
            ami_terms(&ok),
            vec![AmiTerm::Alias {
                family: "al2023".into(),
                version: "latest".into()
            }]
        );
    }
}
