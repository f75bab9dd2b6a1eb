//! `aws:branch`: choices over variables with the string, numeric and
//! boolean operators, combined with `And`, `Or` and `Not`.

use serde_json::{Map, Value};

use super::types::show;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    EqualsIgnoreCase,
    StartsWith,
    EndsWith,
    Contains,
    NumericEquals,
    NumericGreater,
    NumericLesser,
    NumericGreaterOrEquals,
    NumericLesserOrEquals,
    BooleanEquals,
}

const OPERATORS: &[(&str, Operator)] = &[
    ("StringEquals", Operator::StringEquals),
    ("EqualsIgnoreCase", Operator::EqualsIgnoreCase),
    ("StartsWith", Operator::StartsWith),
    ("EndsWith", Operator::EndsWith),
    ("Contains", Operator::Contains),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericGreater", Operator::NumericGreater),
    ("NumericLesser", Operator::NumericLesser),
    ("NumericGreaterOrEquals", Operator::NumericGreaterOrEquals),
    ("NumericLesserOrEquals", Operator::NumericLesserOrEquals),
    ("BooleanEquals", Operator::BooleanEquals),
];

/// A condition; variables and operands may hold references.
#[derive(Debug, Clone)]
pub enum Condition {
    Compare {
        variable: Value,
        operator: Operator,
        operand: Value,
    },
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

/// One entry of `Choices`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub next_step: String,
    pub condition: Condition,
}

/// Reads a branch step's `Choices` and `Default`.
pub fn parse_inputs(inputs: &Map<String, Value>) -> Result<(Vec<Choice>, Option<String>), String> {
    for key in inputs.keys() {
        if key != "Choices" && key != "Default" {
            return Err(format!("aws:branch takes Choices and Default, not {key:?}"));
        }
    }
    let Some(Value::Array(raw)) = inputs.get("Choices") else {
        return Err("aws:branch needs Choices: a list of conditions with NextStep".into());
    };
    let mut choices = Vec::new();
    for (index, raw) in raw.iter().enumerate() {
        let Value::Object(map) = raw else {
            return Err(format!("choice {}: expected a mapping", index + 1));
        };
        let next_step = map
            .get("NextStep")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("choice {}: NextStep is missing", index + 1))?
            .to_string();
        let mut rest = map.clone();
        rest.remove("NextStep");
        let condition = parse_condition(&rest).map_err(|e| format!("choice {}: {e}", index + 1))?;
        choices.push(Choice {
            next_step,
            condition,
        });
    }
    let default = match inputs.get("Default") {
        None => None,
        Some(Value::String(step)) => Some(step.clone()),
        Some(_) => return Err("Default must name a step".into()),
    };
    Ok((choices, default))
}

fn parse_condition(map: &Map<String, Value>) -> Result<Condition, String> {
    let list = |value: &Value| -> Result<Vec<Condition>, String> {
        let Value::Array(items) = value else {
            return Err("And and Or take a list of conditions".into());
        };
        items
            .iter()
            .map(|item| match item {
                Value::Object(inner) => parse_condition(inner),
                _ => Err("a condition is a mapping".into()),
            })
            .collect()
    };
    if let Some(items) = map.get("And") {
        return Ok(Condition::And(list(items)?));
    }
    if let Some(items) = map.get("Or") {
        return Ok(Condition::Or(list(items)?));
    }
    if let Some(inner) = map.get("Not") {
        let Value::Object(inner) = inner else {
            return Err("Not takes one condition".into());
        };
        return Ok(Condition::Not(Box::new(parse_condition(inner)?)));
    }
    let variable = map
        .get("Variable")
        .cloned()
        .ok_or("a condition needs Variable and an operator, or And / Or / Not")?;
    let mut found = None;
    for (key, operand) in map {
        if key == "Variable" {
            continue;
        }
        let Some((_, operator)) = OPERATORS.iter().find(|(name, _)| name == key) else {
            let names: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown operator {key:?}; use one of {}",
                names.join(", ")
            ));
        };
        if found.is_some() {
            return Err("a condition takes one operator; combine several with And".into());
        }
        found = Some((*operator, operand.clone()));
    }
    let (operator, operand) = found.ok_or("the condition has no operator such as StringEquals")?;
    Ok(Condition::Compare {
        variable,
        operator,
        operand,
    })
}

/// The step the branch goes to: the first choice that holds, else the
/// default. `resolve` replaces references in a variable or operand.
pub fn choose(
    choices: &[Choice],
    default: Option<&str>,
    resolve: &mut dyn FnMut(&Value) -> Result<Value, String>,
) -> Result<String, String> {
    for choice in choices {
        if holds(&choice.condition, resolve)? {
            return Ok(choice.next_step.clone());
        }
    }
    default
        .map(str::to_string)
        .ok_or_else(|| "no choice matched and the branch has no Default".to_string())
}

fn holds(
    condition: &Condition,
    resolve: &mut dyn FnMut(&Value) -> Result<Value, String>,
) -> Result<bool, String> {
    match condition {
        Condition::And(items) => {
            for item in items {
                if !holds(item, resolve)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(items) => {
            for item in items {
                if holds(item, resolve)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(inner) => Ok(!holds(inner, resolve)?),
        Condition::Compare {
            variable,
            operator,
            operand,
        } => compare(&resolve(variable)?, *operator, &resolve(operand)?)
            // Name the variable as written: its value may be a secret.
            .map_err(|why| format!("{} {why}", show(variable))),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| "is not a number".to_string())
}

fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
    .ok_or_else(|| "is not a Boolean (true or false)".to_string())
}

fn compare(variable: &Value, operator: Operator, operand: &Value) -> Result<bool, String> {
    use Operator::*;
    Ok(match operator {
        StringEquals => text(variable) == text(operand),
        EqualsIgnoreCase => text(variable).to_lowercase() == text(operand).to_lowercase(),
        StartsWith => text(variable).starts_with(&text(operand)),
        EndsWith => text(variable).ends_with(&text(operand)),
        Contains => match variable {
            Value::Array(items) => items.iter().any(|item| text(item) == text(operand)),
            other => text(other).contains(&text(operand)),
        },
        NumericEquals => number(variable)? == number(operand)?,
        NumericGreater => number(variable)? > number(operand)?,
        NumericLesser => number(variable)? < number(operand)?,
        NumericGreaterOrEquals => number(variable)? >= number(operand)?,
        NumericLesserOrEquals => number(variable)? <= number(operand)?,
        BooleanEquals => boolean(variable)? == boolean(operand)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn branch(inputs: Value) -> (Vec<Choice>, Option<String>) {
        parse_inputs(inputs.as_object().unwrap()).unwrap()
    }

    fn pick(inputs: Value, count: i64, env: &str) -> Result<String, String> {
        let (choices, default) = branch(inputs);
        choose(&choices, default.as_deref(), &mut |v: &Value| {
            Ok(match v.as_str() {
                Some("{{count}}") => json!(count),
                Some("{{env}}") => json!(env),
                _ => v.clone(),
            })
        })
    }

    #[test]
    fn choices_are_tried_in_order_then_the_default() {
        let inputs = json!({
            "Choices": [
                {"NextStep": "many", "And": [
                    {"Variable": "{{count}}", "NumericGreater": 10},
                    {"Not": {"Variable": "{{env}}", "EqualsIgnoreCase": "PROD"}}]},
                {"NextStep": "prod", "Variable": "{{env}}", "StartsWith": "pro"},
                {"NextStep": "some", "Or": [
                    {"Variable": "{{count}}", "NumericEquals": "3"},
                    {"Variable": "{{count}}", "NumericLesserOrEquals": 1}]},
            ],
            "Default": "other"
        });
        assert_eq!(pick(inputs.clone(), 11, "dev").unwrap(), "many");
        assert_eq!(pick(inputs.clone(), 11, "prod").unwrap(), "prod");
        assert_eq!(pick(inputs.clone(), 3, "dev").unwrap(), "some");
        assert_eq!(pick(inputs.clone(), 0, "dev").unwrap(), "some");
        assert_eq!(pick(inputs, 5, "dev").unwrap(), "other");
        let no_default =
            json!({"Choices": [{"NextStep": "a", "Variable": "{{env}}", "StringEquals": "x"}]});
        assert!(pick(no_default, 0, "y").unwrap_err().contains("no Default"));
        let not_a_number =
            json!({"Choices": [{"NextStep": "a", "Variable": "{{env}}", "NumericGreater": 1}]});
        assert!(
            pick(not_a_number, 0, "y")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn malformed_choices_are_refused() {
        let bad = |inputs: Value| parse_inputs(inputs.as_object().unwrap()).unwrap_err();
        assert!(
            bad(json!({"Choices": [{"NextStep": "a", "Variable": "x", "Equals": "y"}]}))
                .contains("unknown operator")
        );
        assert!(
            bad(json!({"Choices": [{"Variable": "x", "StringEquals": "y"}]})).contains("NextStep")
        );
        assert!(bad(json!({})).contains("Choices"));
    }
}
