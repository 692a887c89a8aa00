//! The generic webhook's optional template: any body with `{{field}}` placeholders,
//! filled from each event. Fields are a fixed, documented list (docs/notify.md); an
//! unknown one is refused when the plan is loaded, and a JSON template is checked to
//! make valid JSON, its values escaped as JSON strings.

/// A placeholder's field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    At,
    Type,
    Severity,
    Headline,
    /// The labelled lines under the headline, one per line.
    Details,
    /// Headline and details.
    Text,
    Cluster,
    Environment,
    From,
    To,
    PlanDigest,
    Driver,
    Stage,
    /// The documented JSON payload, inserted as JSON (not as a string).
    Json,
}

const FIELDS: [(&str, Field); 15] = [
    ("id", Field::Id),
    ("at", Field::At),
    ("type", Field::Type),
    ("severity", Field::Severity),
    ("headline", Field::Headline),
    ("details", Field::Details),
    ("text", Field::Text),
    ("cluster", Field::Cluster),
    ("environment", Field::Environment),
    ("from", Field::From),
    ("to", Field::To),
    ("planDigest", Field::PlanDigest),
    ("driver", Field::Driver),
    ("stage", Field::Stage),
    ("json", Field::Json),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// Values are escaped as JSON string contents.
    json: bool,
}

impl Template {
    /// Parses `text`; with `json`, checks that it makes valid JSON once filled in.
    pub fn parse(text: &str, json: bool) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "a {{{{ at character {} is never closed with }}}}",
                    text.len() - rest.len() + open
                )
            })?;
            let name = after[..close].trim();
            let field = FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                    format!("unknown field {{{{{name}}}}}: the fields are {}", known.join(", "))
                })?;
            parts.push(Part::Field(field));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let t = Template { parts, json };
        if json {
            let sample = t.render(&|f| match f {
                Field::Json => "{}".to_string(),
                _ => "sample \"text\"\nwith lines".to_string(),
            });
            serde_json::from_str::<serde_json::Value>(&sample).map_err(|e| {
                format!("does not make valid JSON once filled in ({e}); put string fields inside quotes")
            })?;
        }
        Ok(t)
    }

    /// Fills the template in; `value` gives each field's plain text (or, for
    /// [`Field::Json`], JSON).
    pub fn render(&self, value: &dyn Fn(Field) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(Field::Json) => out.push_str(&value(Field::Json)),
                Part::Field(f) if self.json => {
                    let quoted = serde_json::Value::String(value(*f)).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                Part::Field(f) => out.push_str(&value(*f)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(f: Field) -> String {
        match f {
            Field::Headline => "Gate \"before apps\" passed\nred".into(),
            Field::Cluster => "demo".into(),
            Field::Json => r#"{"version":1}"#.into(),
            _ => "x".into(),
        }
    }

    #[test]
    fn fills_fields_with_json_escaping() {
        let t = Template::parse(r#"{"text": "{{ headline }} on {{cluster}}", "raw": {{json}}}"#, true).expect("parses");
        let out = t.render(&values);
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(v["text"], "Gate \"before apps\" passed\nred on demo");
        assert_eq!(v["raw"]["version"], 1);
    }

    #[test]
    fn plain_templates_are_filled_verbatim() {
        let t = Template::parse("{{cluster}}: {{headline}}", false).expect("parses");
        assert_eq!(t.render(&values), "demo: Gate \"before apps\" passed\nred");
    }

    #[test]
    fn mistakes_are_named() {
        let err = Template::parse("{{nope}}", false).unwrap_err();
        assert!(
            err.starts_with("unknown field {{nope}}: the fields are id, at"),
            "{err}"
        );
        assert!(
            Template::parse("{{headline", false)
                .unwrap_err()
                .contains("never closed")
        );
        let err = Template::parse(r#"{"text": {{headline}}}"#, true).unwrap_err();
        assert!(err.contains("valid JSON"), "{err}");
    }
}
