//! `{{ … }}` references inside document values: parameters, step outputs,
//! `global:` and `automation:` variables, and `ssm-secure:` secrets.
//!
//! A string that is exactly one reference takes the referenced value with
//! its type (a StringList stays a list); a reference inside longer text is
//! replaced by its text (lists and maps as JSON).

use serde_json::Value;

/// What a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<'a> {
    /// `{{ Name }}`
    Parameter(&'a str),
    /// `{{ step.Output }}`
    StepOutput { step: &'a str, output: &'a str },
    /// `{{ global:NAME }}`
    Global(&'a str),
    /// `{{ automation:NAME }}`
    Automation(&'a str),
    /// `{{ ssm-secure:NAME }}` or `{{ ssm:NAME }}`
    Secret(&'a str),
}

impl<'a> Reference<'a> {
    /// Reads the text between the braces.
    pub fn parse(inner: &'a str) -> Reference<'a> {
        let inner = inner.trim();
        if let Some(name) = inner.strip_prefix("global:") {
            Reference::Global(name.trim())
        } else if let Some(name) = inner.strip_prefix("automation:") {
            Reference::Automation(name.trim())
        } else if let Some(name) = inner
            .strip_prefix("ssm-secure:")
            .or_else(|| inner.strip_prefix("ssm:"))
        {
            Reference::Secret(name.trim())
        } else if let Some((step, output)) = inner.split_once('.') {
            Reference::StepOutput {
                step: step.trim(),
                output: output.trim(),
            }
        } else {
            Reference::Parameter(inner)
        }
    }
}

/// A resolved reference: its value, and what the record may show of it
/// (`****` for secrets).
pub struct Resolved {
    pub value: Value,
    pub shown: Value,
}

impl Resolved {
    /// A value that may be shown as it is.
    pub fn plain(value: Value) -> Resolved {
        Resolved {
            shown: value.clone(),
            value,
        }
    }
}

/// The text between each `{{` and `}}` in `text`, in order.
pub fn references(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        found.push(&after[..end]);
        rest = &after[end + 2..];
    }
    found
}

/// Every string inside `value`, keys included, for checking references.
pub fn strings(value: &Value) -> Vec<&str> {
    let mut found = Vec::new();
    fn walk<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
        match value {
            Value::String(s) => found.push(s),
            Value::Array(items) => items.iter().for_each(|item| walk(item, found)),
            Value::Object(map) => {
                for (key, item) in map {
                    found.push(key);
                    walk(item, found);
                }
            }
            _ => {}
        }
    }
    walk(value, &mut found);
    found
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces every reference in `value`; returns the value to use and the
/// value to show.
pub fn interpolate(
    value: &Value,
    resolve: &mut dyn FnMut(Reference<'_>) -> Result<Resolved, String>,
) -> Result<(Value, Value), String> {
    Ok(match value {
        Value::String(text) => {
            let refs = references(text);
            if refs.is_empty() {
                return Ok((value.clone(), value.clone()));
            }
            let trimmed = text.trim();
            if refs.len() == 1 && trimmed.starts_with("{{") && trimmed.ends_with("}}") {
                let resolved = resolve(Reference::parse(refs[0]))?;
                return Ok((resolved.value, resolved.shown));
            }
            let (mut used, mut shown) = (String::new(), String::new());
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else { break };
                used.push_str(&rest[..start]);
                shown.push_str(&rest[..start]);
                let resolved = resolve(Reference::parse(&after[..end]))?;
                used.push_str(&as_text(&resolved.value));
                shown.push_str(&as_text(&resolved.shown));
                rest = &after[end + 2..];
            }
            used.push_str(rest);
            shown.push_str(rest);
            (Value::String(used), Value::String(shown))
        }
        Value::Array(items) => {
            let (mut used, mut shown) = (Vec::new(), Vec::new());
            for item in items {
                let (u, s) = interpolate(item, resolve)?;
                used.push(u);
                shown.push(s);
            }
            (Value::Array(used), Value::Array(shown))
        }
        Value::Object(map) => {
            let (mut used, mut shown) = (serde_json::Map::new(), serde_json::Map::new());
            for (key, item) in map {
                let (key_used, key_shown) = interpolate(&Value::String(key.clone()), resolve)?;
                let (u, s) = interpolate(item, resolve)?;
                used.insert(as_text(&key_used), u);
                shown.insert(as_text(&key_shown), s);
            }
            (Value::Object(used), Value::Object(shown))
        }
        other => (other.clone(), other.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolver(reference: Reference<'_>) -> Result<Resolved, String> {
        match reference {
            Reference::Parameter("Ids") => Ok(Resolved::plain(json!(["i-1", "i-2"]))),
            Reference::Parameter("Name") => Ok(Resolved::plain(json!("web"))),
            Reference::StepOutput {
                step: "count",
                output: "n",
            } => Ok(Resolved::plain(json!(3))),
            Reference::Secret("token") => Ok(Resolved {
                value: json!("s3cret"),
                shown: json!("****"),
            }),
            other => Err(format!("undefined {other:?}")),
        }
    }

    #[test]
    fn whole_references_keep_their_type_and_embedded_ones_become_text() {
        let input = json!({
            "ids": "{{ Ids }}",
            "n": "{{count.n}}",
            "label": "host-{{ Name }}-{{ count.n }} of {{Ids}}",
            "auth": "Bearer {{ssm-secure:token}}",
            "{{Name}}": [ " {{ Name }} " ],
        });
        let (used, shown) = interpolate(&input, &mut resolver).unwrap();
        assert_eq!(
            used,
            json!({
                "ids": ["i-1", "i-2"],
                "n": 3,
                "label": "host-web-3 of [\"i-1\",\"i-2\"]",
                "auth": "Bearer s3cret",
                "web": ["web"],
            })
        );
        assert_eq!(shown["auth"], json!("Bearer ****"));
        assert_eq!(shown["ids"], json!(["i-1", "i-2"]));
    }

    #[test]
    fn an_undefined_reference_is_an_error() {
        let error = interpolate(&json!("{{ Nope }}"), &mut resolver).unwrap_err();
        assert!(error.contains("Nope"), "{error}");
    }

    #[test]
    fn references_are_classified() {
        assert_eq!(Reference::parse(" global:DATE "), Reference::Global("DATE"));
        assert_eq!(
            Reference::parse("automation:EXECUTION_ID"),
            Reference::Automation("EXECUTION_ID")
        );
        assert_eq!(
            Reference::parse("step1.Out"),
            Reference::StepOutput {
                step: "step1",
                output: "Out"
            }
        );
        assert_eq!(references("a {{x}} b {{ y.z }}"), vec!["x", " y.z "]);
    }
}
