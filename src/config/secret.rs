//! Secrets: a redacting newtype and the lookup of each secret in the environment or a file.
//!
//! ```text
//! JITPE_SLACK_BOT_TOKEN ──▶ JITPE_SLACK_BOT_TOKEN_FILE ──▶ [slack] bot_token_file ──▶ missing
//!   (the value itself)        (a path, read and trimmed)     (a path, read and trimmed)
//! ```
//!
//! The first source that is set wins; a set but empty source is an error rather than a fall-through,
//! so a broken Kubernetes Secret mount never silently selects another value.

use super::Env;
use crate::domain::policy::ConfigIssue;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value (token, signing secret). `Debug` and `Display` print `[redacted]`, it has no
/// `Serialize`, and no `PartialEq` either: compare with `subtle` in constant time instead.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (used by tests and fakes; the config builds secrets itself).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for signing or an `Authorization` header. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (for minimum-length checks without exposing the value).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty (never true for a secret from [`load`](super::load)).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where one secret may come from.
pub(super) struct SecretSource<'a> {
    /// Config section, e.g. `slack`.
    pub section: &'a str,
    /// Secret name in that section, e.g. `bot_token`.
    pub name: &'a str,
    /// The `<name>_file` key of the section, if written.
    pub file: Option<&'a Path>,
    /// Whether the file wrongly holds the secret itself (`bot_token = "..."`).
    pub inline: bool,
}

impl SecretSource<'_> {
    /// `JITPE_SLACK_BOT_TOKEN`.
    pub fn env_var(&self) -> String {
        format!("JITPE_{}_{}", self.section, self.name).to_ascii_uppercase()
    }

    /// `slack.bot_token`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    fn how_to_set(&self) -> String {
        let var = self.env_var();
        format!(
            "set {var} or {var}_FILE, or {}.{}_file",
            self.section, self.name
        )
    }

    /// The secret if set anywhere; `Ok(None)` if set nowhere.
    pub fn lookup(&self, env: &Env) -> Result<Option<Secret>, ConfigIssue> {
        let var = self.env_var();
        let issue = |message: String| ConfigIssue {
            key: self.key(),
            message,
        };
        if self.inline {
            return Err(issue(format!(
                "secrets are never read from the config file: remove `{}` and {}",
                self.name,
                self.how_to_set()
            )));
        }
        if let Some(value) = env(&var) {
            return match value.trim().is_empty() {
                true => Err(issue(format!("{var} is set but empty"))),
                false => Ok(Some(Secret(value))),
            };
        }
        let file_var = format!("{var}_FILE");
        if let Some(path) = env(&file_var) {
            if path.trim().is_empty() {
                return Err(issue(format!("{file_var} is set but empty")));
            }
            return read_file(Path::new(&path), &file_var)
                .map(Some)
                .map_err(issue);
        }
        match self.file {
            Some(path) => read_file(path, &format!("{}.{}_file", self.section, self.name))
                .map(Some)
                .map_err(issue),
            None => Ok(None),
        }
    }

    /// Like [`lookup`](Self::lookup), but missing is an issue too.
    pub fn require(&self, env: &Env) -> Result<Secret, ConfigIssue> {
        self.lookup(env)?.ok_or_else(|| ConfigIssue {
            key: self.key(),
            message: format!("missing: {}", self.how_to_set()),
        })
    }
}

/// Reads a secret file; errors name the path and where it was configured, never the contents.
fn read_file(path: &Path, from: &str) -> Result<Secret, String> {
    let shown = PathBuf::from(path).display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {shown} (from {from}): {e}"))?;
    // Files written by `echo` or editors end with a newline that is not part of the secret.
    let value = text.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        return Err(format!(
            "secret file {shown} (from {from}) is empty: write the secret into it"
        ));
    }
    Ok(Secret(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn source(file: Option<&Path>) -> SecretSource<'_> {
        SecretSource {
            section: "slack",
            name: "bot_token",
            file,
            inline: false,
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn secret_prints_redacted_in_debug_and_display() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "xoxb-very-secret");
    }

    #[test]
    fn env_value_wins_over_files() {
        let env = env_of(&[
            ("JITPE_SLACK_BOT_TOKEN", "from-env"),
            ("JITPE_SLACK_BOT_TOKEN_FILE", "/nonexistent"),
        ]);
        let got = source(Some(Path::new("/nonexistent"))).require(&env);
        assert_eq!(got.unwrap().expose(), "from-env");
    }

    #[test]
    fn file_is_trimmed_of_its_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc def \r\n").unwrap();
        let got = source(Some(&path)).require(&env_of(&[])).unwrap();
        assert_eq!(got.expose(), "  abc def ");
    }

    #[test]
    fn missing_secret_names_env_var_file_var_and_file_key() {
        let issue = source(None).require(&env_of(&[])).unwrap_err();
        assert_eq!(issue.key, "slack.bot_token");
        assert_eq!(
            issue.message,
            "missing: set JITPE_SLACK_BOT_TOKEN or JITPE_SLACK_BOT_TOKEN_FILE, or slack.bot_token_file"
        );
    }

    #[test]
    fn empty_env_value_is_refused_rather_than_falling_through() {
        let issue = source(None)
            .lookup(&env_of(&[("JITPE_SLACK_BOT_TOKEN", "")]))
            .unwrap_err();
        assert!(issue.message.contains("set but empty"), "{issue}");
    }

    #[test]
    fn unreadable_file_names_the_path_and_its_origin() {
        let env = env_of(&[("JITPE_SLACK_BOT_TOKEN_FILE", "/no/such/token")]);
        let issue = source(None).require(&env).unwrap_err();
        assert!(issue.message.contains("/no/such/token"), "{issue}");
        assert!(
            issue.message.contains("JITPE_SLACK_BOT_TOKEN_FILE"),
            "{issue}"
        );
    }

    #[test]
    fn secret_written_in_the_config_file_is_refused() {
        let mut src = source(None);
        src.inline = true;
        let issue = src
            .lookup(&env_of(&[("JITPE_SLACK_BOT_TOKEN", "x")]))
            .unwrap_err();
        assert!(issue.message.contains("never read from the config file"));
    }
}
