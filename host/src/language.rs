//! Which interpreter runs a script: by `--runtime`, or by the file's
//! extension. Only Python exists so far; every other name gets an error that
//! lists what is supported.

use std::path::Path;

use crate::exit::bad_input;

/// The interpreters sandrun can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// CPython 3.14 (it also runs scripts written for python3.8 – python3.13).
    Python,
}

const SUPPORTED: &str = "python, python3, python3.8 … python3.14 (all run on CPython 3.14)";

impl Language {
    /// Parses a `--runtime` value, including `aws:executeScript` names such
    /// as `python3.11`.
    pub fn from_name(name: &str) -> anyhow::Result<Language> {
        let lower = name.trim().to_ascii_lowercase();
        let python_minor = lower
            .strip_prefix("python3.")
            .is_some_and(|minor| minor.parse::<u32>().is_ok_and(|m| (6..=14).contains(&m)));
        if lower == "python" || lower == "python3" || python_minor {
            return Ok(Language::Python);
        }
        let hint = if lower.starts_with("powershell") || lower == "pwsh" {
            " (PowerShell is not available in sandrun)"
        } else {
            ""
        };
        Err(bad_input!(
            "unsupported runtime {name:?}{hint}; supported runtimes: {SUPPORTED}"
        ))
    }

    /// The interpreter for a script file, by its extension.
    pub fn for_script(file: &str) -> anyhow::Result<Language> {
        let ext = Path::new(file)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("py") => Ok(Language::Python),
            Some(other) => Err(bad_input!(
                "no supported runtime runs .{other} files ({file}); supported runtimes: {SUPPORTED}. \
                 Name one with --runtime if the file is Python"
            )),
            None => Err(bad_input!(
                "cannot tell which runtime runs {file}: it has no extension; name one with --runtime ({SUPPORTED})"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_python_runtime_names_are_accepted() {
        for name in ["python", "python3", "python3.8", "Python3.11", "python3.14"] {
            assert_eq!(
                Language::from_name(name).unwrap(),
                Language::Python,
                "{name}"
            );
        }
    }

    #[test]
    fn other_runtimes_are_refused_with_the_supported_list() {
        for name in ["PowerShell 7.4", "ruby3.3", "python2.7", "ansible"] {
            let message = Language::from_name(name).unwrap_err().to_string();
            assert!(message.contains("supported runtimes: python"), "{message}");
        }
        let message = Language::for_script("deploy.ps1").unwrap_err().to_string();
        assert!(message.contains(".ps1"), "{message}");
    }
}
