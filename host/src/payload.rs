//! The event a handler receives: JSON or YAML, inline or from a file.

use std::path::Path;

use serde_json::Value;

use crate::exit::bad_input;

/// Parses `--payload`: JSON text, or `@FILE` holding JSON or YAML (by
/// extension; YAML is a superset, so `.yaml`/`.yml` may hold either).
/// Inline text that is not JSON is accepted as YAML only when it is a YAML
/// mapping or list, as `aws:executeScript`'s InputPayload accepts both.
pub fn parse(arg: &str) -> anyhow::Result<Value> {
    if let Some(file) = arg.strip_prefix('@') {
        let text = std::fs::read_to_string(file)
            .map_err(|e| bad_input!("cannot read the payload file {file}: {e}"))?;
        let yaml = Path::new(file)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        return if yaml {
            serde_yaml::from_str(&text)
                .map_err(|e| bad_input!("malformed YAML payload in {file}: {e}"))
        } else {
            serde_json::from_str(&text)
                .map_err(|e| bad_input!("malformed JSON payload in {file}: {e}"))
        };
    }
    match serde_json::from_str(arg) {
        Ok(value) => Ok(value),
        Err(json_error) => match serde_yaml::from_str::<Value>(arg) {
            Ok(value @ (Value::Object(_) | Value::Array(_))) => Ok(value),
            _ => Err(bad_input!(
                "malformed payload: {json_error}; give JSON such as '{{\"key\": \"value\"}}' or @FILE.json"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_yaml_payloads_parse() {
        assert_eq!(parse(r#"{"a": [1, 2]}"#).unwrap(), json!({"a": [1, 2]}));
        assert_eq!(
            parse("{a: 1, b: [x]}").unwrap(),
            json!({"a": 1, "b": ["x"]})
        );
        assert_eq!(parse("42").unwrap(), json!(42));
    }

    #[test]
    fn malformed_payload_names_the_problem() {
        let message = parse(r#"{"a": "#).unwrap_err().to_string();
        assert!(message.starts_with("malformed payload"), "{message}");
        assert!(parse("just words").is_err());
    }
}
