//! Document parameters: their declarations, and binding the values a run
//! gives (`-p NAME=VALUE`, `--parameters JSON`) before any step runs.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::types::{ValueType, show};

/// One entry of a document's `parameters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterSpec {
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub allowed_values: Option<Vec<Value>>,
    #[serde(default)]
    pub allowed_pattern: Option<String>,
    #[serde(default)]
    pub min_items: Option<usize>,
    #[serde(default)]
    pub max_items: Option<usize>,
    #[serde(default)]
    pub min_chars: Option<usize>,
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// A console hint (`textarea`), accepted for compatibility.
    #[serde(default)]
    #[allow(dead_code)]
    pub display_type: Option<String>,
}

impl ParameterSpec {
    /// Converts `value` to the declared type and checks every constraint;
    /// the error names the parameter and what it expected.
    pub fn check(&self, name: &str, value: &Value) -> Result<Value, String> {
        let value = self
            .kind
            .convert(value)
            .map_err(|e| format!("parameter {name}: {e}"))?;
        let items: Vec<&Value> = match &value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        if let Some(allowed) = &self.allowed_values {
            let allowed_text: Vec<String> = allowed.iter().map(scalar_text).collect();
            for item in &items {
                if !allowed_text.contains(&scalar_text(item)) {
                    return Err(format!(
                        "parameter {name}: {} is not one of its allowedValues ({})",
                        show(item),
                        allowed_text.join(", ")
                    ));
                }
            }
        }
        if let Some(pattern) = &self.allowed_pattern {
            let regex = regex_lite::Regex::new(pattern)
                .map_err(|e| format!("parameter {name}: allowedPattern {pattern:?} is not a valid regular expression: {e}"))?;
            for item in &items {
                if item.is_string() && !regex.is_match(&scalar_text(item)) {
                    return Err(format!(
                        "parameter {name}: {} does not match its allowedPattern {pattern}",
                        show(item)
                    ));
                }
            }
        }
        let count = match &value {
            Value::Array(items) => Some((items.len(), "items", "Items")),
            Value::Object(map) => Some((map.len(), "items", "Items")),
            Value::String(text) => Some((text.chars().count(), "characters", "Chars")),
            _ => None,
        };
        if let Some((count, unit, suffix)) = count {
            let (min, max) = if suffix == "Items" {
                (self.min_items, self.max_items)
            } else {
                (self.min_chars, self.max_chars)
            };
            if let Some(min) = min.filter(|&min| count < min) {
                return Err(format!(
                    "parameter {name}: has {count} {unit}; give at least {min} (min{suffix})"
                ));
            }
            if let Some(max) = max.filter(|&max| count > max) {
                return Err(format!(
                    "parameter {name}: has {count} {unit}; give at most {max} (max{suffix})"
                ));
            }
        }
        Ok(value)
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Binds the given values to the declared parameters: every given name
/// must be declared, every declared one without a default must be given,
/// and every value must pass its checks.
pub fn bind(
    declared: &[(String, ParameterSpec)],
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let names = || {
        declared
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in given.keys() {
        if !declared.iter().any(|(declared, _)| declared == name) {
            return Err(format!(
                "the document has no parameter {name}; its parameters are: {}",
                if declared.is_empty() {
                    "(none)".to_string()
                } else {
                    names()
                }
            ));
        }
    }
    let mut bound = Map::new();
    for (name, spec) in declared {
        let value = match (given.get(name), &spec.default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => default.clone(),
            (None, None) => {
                let about = spec
                    .description
                    .as_deref()
                    .map(|d| format!(" ({})", d.trim()))
                    .unwrap_or_default();
                return Err(format!(
                    "parameter {name}{about} is required (it has no default); give it with -p {name}=VALUE"
                ));
            }
        };
        bound.insert(name.clone(), spec.check(name, &value)?);
    }
    Ok(bound)
}

/// Parses `-p NAME=VALUE` pairs and a `--parameters` object into one map
/// (the pairs win). Values stay text until [`bind`] converts them.
pub fn given(pairs: &[String], json: Option<Value>) -> Result<Map<String, Value>, String> {
    let mut given = match json {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(format!(
                "--parameters must be a JSON object such as '{{\"Name\": \"value\"}}', not {}",
                show(&other)
            ));
        }
    };
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .filter(|(name, _)| !name.trim().is_empty())
            .ok_or_else(|| format!("-p {pair:?}: expected NAME=VALUE"))?;
        given.insert(name.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> ParameterSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn parameters_bind_with_defaults_and_checks() {
        let declared = vec![
            (
                "Count".to_string(),
                spec(json!({"type": "Integer", "default": 1})),
            ),
            (
                "Env".to_string(),
                spec(json!({"type": "String", "allowedValues": ["dev", "prod"]})),
            ),
            (
                "Ids".to_string(),
                spec(
                    json!({"type": "StringList", "allowedPattern": "^i-[0-9a-f]+$", "maxItems": 2, "default": []}),
                ),
            ),
        ];
        let bound = bind(&declared, &given(&["Env=dev".into()], None).unwrap()).unwrap();
        assert_eq!(
            Value::Object(bound),
            json!({"Count": 1, "Env": "dev", "Ids": []})
        );

        let fails = |pairs: &[&str]| {
            let pairs: Vec<String> = pairs.iter().map(|s| s.to_string()).collect();
            bind(&declared, &given(&pairs, None).unwrap()).unwrap_err()
        };
        assert!(fails(&[]).contains("parameter Env is required"));
        assert!(fails(&["Env=test"]).contains("allowedValues"));
        assert!(fails(&["Env=dev", "Count=many"]).contains("expected an Integer"));
        assert!(fails(&["Env=dev", "Ids=i-1,x-2"]).contains("allowedPattern"));
        assert!(fails(&["Env=dev", "Ids=i-1,i-2,i-3"]).contains("maxItems"));
        assert!(fails(&["Env=dev", "Colour=red"]).contains("no parameter Colour"));
    }
}
