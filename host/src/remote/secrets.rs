//! `{{ssm-secure:NAME}}` and `{{ssm:NAME}}` references, resolved locally:
//! from `SANDRUN_SECRET_<NAME>` or from a secrets file that only its owner
//! can read. A secret's value is never printed: [`Secret`] redacts itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::bad_input;

/// A resolved secret value. Its `Debug` shows `***`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where secrets come from.
#[derive(Debug, Clone, Default)]
pub struct SecretProvider {
    /// A file of `NAME=VALUE` lines (`#` starts a comment), mode 0600.
    pub file: Option<PathBuf>,
    /// A fixed set (one tenant's secrets in `sandrun serve`); when given it
    /// is the only place looked in: no environment, no file.
    pub only: Option<std::sync::Arc<BTreeMap<String, String>>>,
}

/// The name inside `{{ssm-secure:NAME}}` or `{{ssm:NAME}}`, if `text` is one.
pub fn reference_name(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner
        .strip_prefix("ssm-secure:")
        .or_else(|| inner.strip_prefix("ssm:"))?
        .trim();
    (!name.is_empty()).then_some(name)
}

/// The environment variable that holds secret `name`: `SANDRUN_SECRET_`
/// and the name in upper case with every other character than A-Z and 0-9
/// replaced by `_` (`/prod/github-token` → `SANDRUN_SECRET__PROD_GITHUB_TOKEN`).
pub fn env_var_name(name: &str) -> String {
    let normalized: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SANDRUN_SECRET_{normalized}")
}

impl SecretProvider {
    /// Resolves a `{{ssm-secure:NAME}}` reference, or takes `text` itself as
    /// the value when it is not a reference.
    pub fn resolve(&self, text: &str) -> anyhow::Result<Secret> {
        match reference_name(text) {
            Some(name) => self.lookup(name),
            None => Ok(Secret(text.to_string())),
        }
    }

    /// The secret called `name`.
    pub fn lookup(&self, name: &str) -> anyhow::Result<Secret> {
        if let Some(only) = &self.only {
            return only
                .get(name)
                .map(|v| Secret(v.clone()))
                .ok_or_else(|| bad_input!("secret {name:?} is not one of this tenant's secrets"));
        }
        let var = env_var_name(name);
        if let Ok(value) = std::env::var(&var) {
            return Ok(Secret(value));
        }
        if let Some(file) = &self.file
            && let Some(value) = read_secrets_file(file)?.remove(name)
        {
            return Ok(Secret(value));
        }
        let file_hint = match &self.file {
            Some(file) => format!(" or add `{name}=…` to {}", file.display()),
            None => " or name a secrets file with --secrets-file".to_string(),
        };
        Err(bad_input!(
            "secret {name:?} is not set: export {var}{file_hint}"
        ))
    }
}

fn read_secrets_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| bad_input!("cannot read the secrets file {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad_input!(
                "the secrets file {} can be read by others (mode {mode:o}); run chmod 600 on it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input!("cannot read the secrets file {}: {e}", path.display()))?;
    let mut secrets = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or_else(|| {
            // Never quote the line: it may hold a secret.
            bad_input!(
                "{} line {}: expected NAME=VALUE",
                path.display(),
                number + 1
            )
        })?;
        secrets.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_recognised() {
        assert_eq!(reference_name("{{ssm-secure:gh-token}}"), Some("gh-token"));
        assert_eq!(reference_name("{{ ssm:plain }}"), Some("plain"));
        assert_eq!(reference_name("ghp_literal"), None);
        assert_eq!(
            env_var_name("/prod/gh-token"),
            "SANDRUN_SECRET__PROD_GH_TOKEN"
        );
    }

    #[test]
    fn secrets_file_must_be_private_and_values_stay_hidden() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        std::fs::write(&file, "# tokens\nrepo-token = s3cr3t\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let provider = SecretProvider {
            file: Some(file.clone()),
            only: None,
        };
        let error = provider
            .resolve("{{ssm-secure:repo-token}}")
            .unwrap_err()
            .to_string();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = provider.resolve("{{ssm-secure:repo-token}}").unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        let missing = provider
            .resolve("{{ssm-secure:absent}}")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("SANDRUN_SECRET_ABSENT"), "{missing}");
        assert!(!missing.contains("s3cr3t"));
    }
}
