//! Output selectors: the JSONPath subset that SSM step outputs use, such as
//! `$.Payload.count`, `$.Payload.items[0].id`, `$['Payload']['a b']` and
//! `$.Payload.items[*].id` (a wildcard collects a list).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(i64),
    Wildcard,
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    text: String,
    segments: Vec<Segment>,
}

impl Selector {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let bad = |why: &str| {
            format!(
                "selector {text:?} is not valid JSONPath ({why}); e.g. $.Payload.count or $.Payload.items[0].id"
            )
        };
        let rest = text
            .trim()
            .strip_prefix('$')
            .ok_or_else(|| bad("it must start with $"))?;
        let chars: Vec<char> = rest.chars().collect();
        let mut segments = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                        end += 1;
                    }
                    let name: String = chars[start..end].iter().collect();
                    if name.is_empty() {
                        return Err(bad("a name is missing after ."));
                    }
                    segments.push(if name == "*" {
                        Segment::Wildcard
                    } else {
                        Segment::Key(name)
                    });
                    i = end;
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| p + i)
                        .ok_or_else(|| bad("a [ is not closed"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    let quoted =
                        |q: char| inner.len() >= 2 && inner.starts_with(q) && inner.ends_with(q);
                    segments.push(if inner == "*" {
                        Segment::Wildcard
                    } else if quoted('\'') || quoted('"') {
                        Segment::Key(inner[1..inner.len() - 1].to_string())
                    } else {
                        Segment::Index(inner.parse().map_err(|_| {
                            bad(&format!("[{inner}] is neither an index nor a quoted name"))
                        })?)
                    });
                    i = close + 1;
                }
                other => return Err(bad(&format!("unexpected {other:?}"))),
            }
        }
        Ok(Selector {
            text: text.trim().to_string(),
            segments,
        })
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value the selector picks from `root`, or `None` when it matches
    /// nothing.
    pub fn select(&self, root: &Value) -> Option<Value> {
        select(root, &self.segments)
    }
}

fn select(value: &Value, segments: &[Segment]) -> Option<Value> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(value.clone());
    };
    match first {
        Segment::Key(key) => select(value.as_object()?.get(key)?, rest),
        Segment::Index(index) => {
            let items = value.as_array()?;
            let at = if *index < 0 {
                items.len().checked_sub(index.unsigned_abs() as usize)?
            } else {
                *index as usize
            };
            select(items.get(at)?, rest)
        }
        Segment::Wildcard => {
            let children: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(map) => map.values().collect(),
                _ => return None,
            };
            Some(Value::Array(
                children
                    .into_iter()
                    .filter_map(|child| select(child, rest))
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_pick_values() {
        let root =
            json!({"Payload": {"count": 3, "items": [{"id": "a"}, {"id": "b"}], "a b": true}});
        let pick = |s: &str| Selector::parse(s).unwrap().select(&root);
        assert_eq!(pick("$.Payload.count"), Some(json!(3)));
        assert_eq!(pick("$.Payload.items[1].id"), Some(json!("b")));
        assert_eq!(pick("$.Payload.items[-1].id"), Some(json!("b")));
        assert_eq!(pick("$['Payload']['a b']"), Some(json!(true)));
        assert_eq!(pick("$.Payload.items[*].id"), Some(json!(["a", "b"])));
        assert_eq!(pick("$"), Some(root.clone()));
        assert_eq!(pick("$.Payload.missing"), None);
        assert_eq!(pick("$.Payload.items[5]"), None);
    }

    #[test]
    fn bad_selectors_say_why() {
        for bad in ["Payload.count", "$.", "$.a[", "$.a[x]", "$..a"] {
            let error = Selector::parse(bad).unwrap_err();
            assert!(error.contains("not valid JSONPath"), "{bad}: {error}");
        }
    }
}
