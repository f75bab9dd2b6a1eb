//! The value types of SSM parameters and step outputs, and the conversion
//! of a value to one of them.

use serde::Deserialize;
use serde_json::Value;

/// `String`, `Integer`, `Boolean`, `StringList`, `StringMap` or `MapList`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ValueType {
    String,
    Integer,
    Boolean,
    StringList,
    StringMap,
    MapList,
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A value in a message: JSON, cut short.
pub fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

impl ValueType {
    /// Converts `value` to this type, the way SSM reads parameter values
    /// typed on a command line: numbers and booleans from their text, lists
    /// from JSON or comma-separated text, maps from JSON text. The AWS CLI's
    /// one-string list (`["value"]`) stands for its single value.
    pub fn convert(self, value: &Value) -> Result<Value, String> {
        let mismatch = || format!("expected {}, got {}", self.describe(), show(value));
        if let Value::Array(items) = value
            && items.len() == 1
            && items[0].is_string()
            && !matches!(self, ValueType::StringList | ValueType::MapList)
        {
            return self.convert(&items[0]);
        }
        match self {
            ValueType::String => match value {
                Value::String(_) => Ok(value.clone()),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                Value::Bool(b) => Ok(Value::String(b.to_string())),
                _ => Err(mismatch()),
            },
            ValueType::Integer => match value {
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
                Value::Number(n) => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| Value::from(f as i64))
                    .ok_or_else(mismatch),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| mismatch()),
                _ => Err(mismatch()),
            },
            ValueType::Boolean => match value {
                Value::Bool(_) => Ok(value.clone()),
                Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
                    Ok(Value::Bool(false))
                }
                _ => Err(mismatch()),
            },
            ValueType::StringList => match value {
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(_) => Ok(item.clone()),
                        Value::Number(n) => Ok(Value::String(n.to_string())),
                        Value::Bool(b) => Ok(Value::String(b.to_string())),
                        _ => Err(mismatch()),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                Value::String(s) if s.trim_start().starts_with('[') => {
                    let parsed: Value = serde_json::from_str(s).map_err(|_| mismatch())?;
                    self.convert(&parsed)
                }
                Value::String(s) if s.trim().is_empty() => Ok(Value::Array(Vec::new())),
                Value::String(s) => Ok(Value::Array(
                    s.split(',')
                        .map(|item| Value::String(item.trim().to_string()))
                        .collect(),
                )),
                _ => Err(mismatch()),
            },
            ValueType::StringMap => match value {
                Value::Object(_) => Ok(value.clone()),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(parsed @ Value::Object(_)) => Ok(parsed),
                    _ => Err(mismatch()),
                },
                _ => Err(mismatch()),
            },
            ValueType::MapList => match value {
                Value::Array(items) if items.iter().all(Value::is_object) => Ok(value.clone()),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(parsed @ Value::Array(_)) => self.convert(&parsed),
                    _ => Err(mismatch()),
                },
                _ => Err(mismatch()),
            },
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ValueType::String => "a String",
            ValueType::Integer => "an Integer",
            ValueType::Boolean => "a Boolean (true or false)",
            ValueType::StringList => "a StringList (a list of strings)",
            ValueType::StringMap => "a StringMap (a JSON object)",
            ValueType::MapList => "a MapList (a list of JSON objects)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_convert_from_command_line_text() {
        assert_eq!(ValueType::Integer.convert(&json!("42")).unwrap(), json!(42));
        assert_eq!(ValueType::Integer.convert(&json!(["7"])).unwrap(), json!(7));
        assert!(ValueType::Integer.convert(&json!("4.5")).is_err());
        assert_eq!(
            ValueType::Boolean.convert(&json!("True")).unwrap(),
            json!(true)
        );
        assert!(ValueType::Boolean.convert(&json!("yes")).is_err());
        assert_eq!(
            ValueType::StringList.convert(&json!("a, b,c")).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            ValueType::StringList.convert(&json!("[\"x\", 2]")).unwrap(),
            json!(["x", "2"])
        );
        assert_eq!(
            ValueType::StringMap.convert(&json!("{\"k\": 1}")).unwrap(),
            json!({"k": 1})
        );
        assert!(ValueType::StringMap.convert(&json!([1])).is_err());
        assert!(ValueType::MapList.convert(&json!([{"a": 1}, 2])).is_err());
        assert_eq!(ValueType::String.convert(&json!(3)).unwrap(), json!("3"));
        assert!(ValueType::String.convert(&json!({"a": 1})).is_err());
    }
}
