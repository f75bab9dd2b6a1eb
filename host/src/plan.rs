//! Turns a source and the entry flags into an [`Invocation`]: a handler
//! call, a command line, or a single file run as `__main__`.

use sandrun_runtime::Invocation;

use crate::cli::EntryArgs;
use crate::exit::bad_input;
use crate::language::Language;
use crate::payload;
use crate::source::ScriptSource;

/// How the script is entered, which decides the default timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `handler(events, context)`: 600 s by default.
    Handler,
    /// A command line or `__main__`: 3600 s by default.
    Command,
}

impl Mode {
    /// The default timeout, as the AWS documents set it.
    pub fn default_timeout_secs(self) -> f64 {
        match self {
            Mode::Handler => 600.0,
            Mode::Command => 3600.0,
        }
    }
}

/// Builds the invocation for `source`.
pub fn invocation(
    source: &ScriptSource,
    entry: &EntryArgs,
    command_line: Option<&str>,
) -> anyhow::Result<(Invocation, Mode)> {
    if let Some(runtime) = &entry.runtime {
        Language::from_name(runtime)?;
    }
    let by_extension = entry.runtime.is_none();

    if let Some(handler) = &entry.handler {
        if by_extension && let Some(file) = &source.entry {
            Language::for_script(file)?;
        }
        let event = match &entry.payload {
            Some(text) => payload::parse(text)?,
            None => serde_json::Value::Object(Default::default()),
        };
        let mut call = Invocation::handler(&source.dir, handler.clone()).event(event);
        if let Some(file) = &source.entry {
            call = call.entry_file(file.clone());
        }
        return Ok((call, Mode::Handler));
    }

    let argv = match command_line {
        Some(line) => parse_command_line(line)?,
        None => match &source.entry {
            Some(file) => vec![file.clone()],
            None if source.dir.join("__main__.py").is_file() => vec!["__main__.py".into()],
            None => {
                return Err(bad_input!(
                    "{} is a folder: name what to run with --handler module.function \
                     or --command-line \"main.py ARGS\"",
                    source.origin
                ));
            }
        },
    };
    if by_extension {
        Language::for_script(&argv[0])?;
    }
    if let Some(file) = &source.entry
        && argv[0] != *file
    {
        return Err(bad_input!(
            "the command line runs {:?}, but the source is the single file {file:?}; \
             start the command line with {file:?} or pass the folder",
            argv[0]
        ));
    }
    Ok((Invocation::command(&source.dir, argv), Mode::Command))
}

/// Splits a command line as a POSIX shell would (quotes, escapes), and
/// drops a leading `python`/`python3`, which the seed's command lines may
/// carry.
fn parse_command_line(line: &str) -> anyhow::Result<Vec<String>> {
    let mut argv = shlex::split(line)
        .ok_or_else(|| bad_input!("cannot parse the command line {line:?}: unbalanced quotes"))?;
    if argv
        .first()
        .is_some_and(|first| first == "python" || first == "python3")
    {
        argv.remove(0);
    }
    if argv.is_empty() {
        return Err(bad_input!(
            "the command line is empty; give the script and its arguments, e.g. \"main.py arg1\""
        ));
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell() {
        assert_eq!(
            parse_command_line(r#"mainFile.py "arg one" 'two' three"#).unwrap(),
            ["mainFile.py", "arg one", "two", "three"]
        );
        assert_eq!(
            parse_command_line("python3 main.py -v").unwrap(),
            ["main.py", "-v"]
        );
        assert!(parse_command_line("main.py \"open").is_err());
        assert!(parse_command_line("  ").is_err());
    }
}
