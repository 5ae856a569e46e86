//! Labels a system attaches to its request (a pipeline run URL, a commit): shown on the card and
//! kept in the audit record, so approvers see which run asks and auditors can trace it back.
//! Checked like every other input: a few short keys and values, no control characters.

use crate::domain::error::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// At most this many labels per request.
pub const MAX_LABELS: usize = 16;
/// Longest key.
pub const MAX_KEY: usize = 63;
/// Longest value.
pub const MAX_VALUE: usize = 512;

/// Checked labels, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Checks `raw`: at most [`MAX_LABELS`]; keys of 1 to [`MAX_KEY`] lowercase letters, digits,
    /// `.`, `_`, `/` and `-`, starting and ending with a letter or digit; values of at most
    /// [`MAX_VALUE`] characters without control characters.
    pub fn parse(raw: BTreeMap<String, String>) -> Result<Self, DomainError> {
        if raw.len() > MAX_LABELS {
            return Err(DomainError::BadLabel(format!(
                "{} labels given: at most {MAX_LABELS} are kept",
                raw.len()
            )));
        }
        for (key, value) in &raw {
            let edge =
                |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            let key_ok = key.len() <= MAX_KEY
                && edge(key.chars().next())
                && edge(key.chars().last())
                && key.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, '.' | '_' | '/' | '-')
                });
            if !key_ok {
                return Err(DomainError::BadLabel(format!(
                    "`{}` is not a label key: use up to {MAX_KEY} lowercase letters, digits, \
                     `.`, `_`, `/` and `-`, starting and ending with a letter or digit \
                     (for example `pipeline-url`)",
                    key.chars().take(80).collect::<String>()
                )));
            }
            if value.chars().count() > MAX_VALUE || value.chars().any(char::is_control) {
                return Err(DomainError::BadLabel(format!(
                    "the value of `{key}` must be at most {MAX_VALUE} characters without \
                     control characters (newlines, tabs)"
                )));
            }
        }
        Ok(Self(raw))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Display for Labels {
    /// `key=value, key=value`, for the audit record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Result<Labels, DomainError> {
        Labels::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn short_keys_and_values_are_kept_in_key_order() {
        let l = labels(&[("run", "42"), ("pipeline-url", "https://ci.example/run/42")]).unwrap();
        assert_eq!(
            l.to_string(),
            "pipeline-url=https://ci.example/run/42, run=42"
        );
        assert!(labels(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_keys_values_and_too_many_labels_say_what_to_write() {
        for (k, v) in [
            ("Run", "1"),
            ("-a", "1"),
            ("a-", "1"),
            ("", "1"),
            ("a b", "1"),
        ] {
            let e = labels(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains("is not a label key"), "{k}: {e}");
        }
        let e = labels(&[("a", "line\nbreak")]).unwrap_err().to_string();
        assert!(e.contains("control characters"), "{e}");
        let long = "x".repeat(MAX_VALUE + 1);
        assert!(labels(&[("a", long.as_str())]).is_err());
        let key = "k".repeat(MAX_KEY + 1);
        assert!(labels(&[(key.as_str(), "1")]).is_err());
        let many: Vec<(String, String)> = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        let e = Labels::parse(many.into_iter().collect())
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 16"), "{e}");
    }
}
