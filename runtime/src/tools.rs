//! Host tools: named functions the embedding program hands the guest.
//! Guest code calls them as `from sandrun import tools; tools.lookup(city=
//! "Paris")`; arguments are checked against the tool's JSON Schema before
//! the host function runs, an optional gate sees every call first, and
//! calls are counted and capped per invocation.
//!
//! ```
//! use sandrun_runtime::{ToolError, ToolSet};
//! let tools = ToolSet::new()
//!     .tool(
//!         "lookup",
//!         "The population of a city",
//!         serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}},
//!                            "required": ["city"]}),
//!         |args| match args["city"].as_str() {
//!             Some("Paris") => Ok(serde_json::json!(2_100_000)),
//!             _ => Err(ToolError::new("unknown city")),
//!         },
//!     )
//!     .max_calls(10);
//! assert_eq!(tools.names(), ["lookup"]);
//! ```

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a tool call failed: a message the guest may see, and a detail that
/// stays in the host's record.
#[derive(Debug, Clone)]
pub struct ToolError {
    message: String,
    detail: Option<String>,
}

impl ToolError {
    /// A failure whose message the guest may see.
    pub fn new(message: impl Into<String>) -> ToolError {
        ToolError {
            message: message.into(),
            detail: None,
        }
    }

    /// An internal failure: the guest sees `message`, the record keeps
    /// `detail`.
    pub fn internal(message: impl Into<String>, detail: impl Into<String>) -> ToolError {
        ToolError {
            message: message.into(),
            detail: Some(detail.into()),
        }
    }
}

type Handler = Arc<dyn Fn(&Value) -> Result<Value, ToolError> + Send + Sync>;
type Gate = Arc<dyn Fn(&str, &Value) -> Result<(), String> + Send + Sync>;

struct Tool {
    name: String,
    description: String,
    parameters: Value,
    handler: Handler,
}

/// The tools of a run, with the gate and the call cap. Cheap to share
/// (wrap it in an `Arc`) between invocations and threads.
#[derive(Clone)]
pub struct ToolSet {
    tools: Vec<Arc<Tool>>,
    gate: Option<Gate>,
    max_calls: u32,
    /// What the guest is told, built once (every request carries it).
    described: std::sync::OnceLock<Value>,
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSet")
            .field("tools", &self.names())
            .field("max_calls", &self.max_calls)
            .finish_non_exhaustive()
    }
}

impl Default for ToolSet {
    fn default() -> Self {
        ToolSet::new()
    }
}

/// One call, as the host's record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool's name.
    pub tool: String,
    /// The arguments the guest passed.
    pub arguments: Value,
    /// Whether the tool answered.
    pub ok: bool,
    /// What the guest was told when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The host-side detail of a failure (never shown to the guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the host function took.
    pub duration_ms: f64,
}

impl ToolSet {
    /// No tools; at most 64 calls per invocation.
    pub fn new() -> ToolSet {
        ToolSet {
            tools: Vec::new(),
            gate: None,
            max_calls: 64,
            described: std::sync::OnceLock::new(),
        }
    }

    /// Adds a tool: its name (a Python identifier), a description, a JSON
    /// Schema for its keyword arguments, and the host function.
    pub fn tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        handler: impl Fn(&Value) -> Result<Value, ToolError> + Send + Sync + 'static,
    ) -> ToolSet {
        self.tools.push(Arc::new(Tool {
            name: name.into(),
            description: description.into(),
            parameters,
            handler: Arc::new(handler),
        }));
        self.described = std::sync::OnceLock::new();
        self
    }

    /// A function that sees every call (tool name and arguments) before
    /// it runs and may refuse it with a message the guest sees.
    pub fn gate(
        mut self,
        gate: impl Fn(&str, &Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> ToolSet {
        self.gate = Some(Arc::new(gate));
        self
    }

    /// The most calls one invocation (or one session call) may make.
    pub fn max_calls(mut self, calls: u32) -> ToolSet {
        self.max_calls = calls;
        self
    }

    /// The tools' names.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }

    /// What the guest is told about the tools (for `help(tools)`).
    pub(crate) fn describe(&self) -> &Value {
        self.described.get_or_init(|| {
            Value::Array(
                self.tools
                    .iter()
                    .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
                    .collect(),
            )
        })
    }

    /// Runs one call from the guest: the answer as JSON text, or the
    /// message for its exception. `calls` counts this invocation's calls.
    pub(crate) fn call(
        &self,
        name: &str,
        arguments: &str,
        records: &mut Vec<ToolCall>,
    ) -> Result<String, String> {
        let started = Instant::now();
        let arguments: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let made = records.len();
        let mut record = |ok: bool, error: Option<String>, detail: Option<String>| {
            records.push(ToolCall {
                tool: name.to_string(),
                arguments: arguments.clone(),
                ok,
                error,
                detail,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            });
        };
        if made >= self.max_calls as usize {
            let message = format!(
                "this run may call host tools at most {} times",
                self.max_calls
            );
            record(false, Some(message.clone()), None);
            return Err(message);
        }
        let Some(tool) = self.tools.iter().find(|t| t.name == name) else {
            let message = format!(
                "no host tool {name:?}; the tools are {}",
                self.names().join(", ")
            );
            record(false, Some(message.clone()), None);
            return Err(message);
        };
        if let Err(why) = validate(&tool.parameters, &arguments, "arguments") {
            let message = format!("{name}: {why}");
            record(false, Some(message.clone()), None);
            return Err(message);
        }
        if let Some(gate) = &self.gate
            && let Err(why) = gate(name, &arguments)
        {
            let message = format!("{name} was refused: {why}");
            record(false, Some(message.clone()), None);
            return Err(message);
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (tool.handler)(&arguments)));
        match outcome {
            Ok(Ok(value)) => {
                record(true, None, None);
                Ok(value.to_string())
            }
            Ok(Err(error)) => {
                record(false, Some(error.message.clone()), error.detail);
                Err(error.message)
            }
            Err(_) => {
                let message = format!("{name} failed inside the host");
                record(
                    false,
                    Some(message.clone()),
                    Some("the host function panicked".into()),
                );
                Err(message)
            }
        }
    }
}

/// Checks `value` against the JSON Schema keywords tools use: `type`,
/// `properties`, `required`, `additionalProperties: false`, `enum`,
/// `items`, `minimum`/`maximum`, `minLength`/`maxLength`.
pub(crate) fn validate(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let fits = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            _ => true,
        };
        if !fits {
            return Err(format!("{at} must be of type {kind}, not {value}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!(
            "{at} must be one of {}",
            Value::Array(options.clone())
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{at} must be at least {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{at} must be at most {max}"));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            return Err(format!("{at} must be at least {min} characters long"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            return Err(format!("{at} must be at most {max} characters long"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = required.as_str()
                && !object.contains_key(key)
            {
                return Err(format!("{at}.{key} is required"));
            }
        }
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => validate(sub, item, &format!("{at}.{key}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}.{key} is not an argument of this tool"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            validate(schema, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ToolSet {
        ToolSet::new()
            .tool(
                "add",
                "Adds two integers",
                json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "maximum": 100}},
                       "required": ["a", "b"], "additionalProperties": false}),
                |args| Ok(json!(args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0))),
            )
            .tool("fail", "Fails", json!({"type": "object"}), |_| {
                Err(ToolError::internal("the lookup failed", "db timeout at 10.0.0.5"))
            })
            .gate(|name, args| if args.get("secret").is_some() { Err(format!("{name} may not see secrets")) } else { Ok(()) })
            .max_calls(4)
    }

    #[test]
    fn calls_are_validated_gated_recorded_and_capped() {
        let tools = set();
        let mut records = Vec::new();
        assert_eq!(
            tools.call("add", r#"{"a": 2, "b": 3}"#, &mut records),
            Ok("5".into())
        );
        let bad = tools
            .call("add", r#"{"a": "2", "b": 3}"#, &mut records)
            .unwrap_err();
        assert!(bad.contains("arguments.a must be of type integer"), "{bad}");
        let refused = tools
            .call("fail", r#"{"secret": 1}"#, &mut records)
            .unwrap_err();
        assert!(refused.contains("may not see secrets"), "{refused}");
        let failed = tools.call("fail", "{}", &mut records).unwrap_err();
        assert_eq!(failed, "the lookup failed");
        assert_eq!(records[3].detail.as_deref(), Some("db timeout at 10.0.0.5"));
        let capped = tools
            .call("add", r#"{"a": 1, "b": 1}"#, &mut records)
            .unwrap_err();
        assert!(capped.contains("at most 4 times"), "{capped}");
        assert_eq!(records.iter().filter(|r| r.ok).count(), 1);
    }

    #[test]
    fn schemas_check_the_common_keywords() {
        let schema = json!({"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            "mode": {"enum": ["a", "b"]}}, "required": ["mode"]});
        assert!(validate(&schema, &json!({"mode": "a", "tags": ["x"]}), "args").is_ok());
        assert!(
            validate(&schema, &json!({"tags": []}), "args")
                .unwrap_err()
                .contains("args.mode is required")
        );
        assert!(
            validate(&schema, &json!({"mode": "c"}), "args")
                .unwrap_err()
                .contains("one of")
        );
        assert!(
            validate(&schema, &json!({"mode": "a", "tags": ["long"]}), "args")
                .unwrap_err()
                .contains("args.tags[0]")
        );
    }
}
