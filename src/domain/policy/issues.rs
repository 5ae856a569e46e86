//! Problems found in a config file, each with its dotted key, and [`Issues`], the collector the
//! policy checks write to, with the small checks they share. A leaf: it depends on no other
//! policy module, so the section checks (`config.rs`, `roles.rs`) can both use it.

use crate::domain::duration::parse_duration;
use crate::domain::identity::Actor;
use regex::Regex;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// One problem in a config file, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key, e.g. `policy.roles.debug.max_duration`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found while validating a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the policy:\n{}", .0.len(), .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<ConfigIssue>);

/// Collects issues under a key prefix.
#[derive(Default)]
pub(super) struct Issues(pub(super) Vec<ConfigIssue>);

impl Issues {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(&mut self, key: &str, value: &str) -> Option<Duration> {
        parse_duration(value)
            .map_err(|e| self.push(key, e.to_string()))
            .ok()
    }

    pub(super) fn actors(&mut self, key: &str, values: &[String]) -> BTreeSet<Actor> {
        let mut out = BTreeSet::new();
        for v in values {
            match v.parse::<Actor>() {
                Ok(a) if a.is_chat_user() => {
                    out.insert(a);
                }
                Ok(_) => self.push(key, format!("`{v}` is not a chat user")),
                Err(e) => self.push(key, e.to_string()),
            }
        }
        out
    }

    pub(super) fn pattern(&mut self, key: &str, glob: &str) -> Option<(String, Regex)> {
        let ok = !glob.is_empty()
            && glob
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*');
        if !ok {
            self.push(key, format!("`{glob}` is not a namespace pattern: use lowercase letters, digits, '-' and '*' (for example `shop-*`)"));
            return None;
        }
        let re = format!("^{}$", regex::escape(glob).replace(r"\*", "[a-z0-9-]*"));
        Regex::new(&re).ok().map(|r| (glob.to_string(), r))
    }
}
