//! [`Ctx`], what every validation step writes to: the issues and warnings found so far and the
//! environment to read, with the checks that several sections share (socket addresses,
//! durations, base URLs, secrets). A leaf: the section validators (`validate.rs`, `chat.rs`,
//! `tls.rs`) use it, it uses none of them.

use super::Env;
use super::secret::{Secret, SecretSource};
use crate::domain::duration::parse_duration;
use crate::domain::policy::ConfigIssue;
use reqwest::Url;
use std::net::SocketAddr;
use std::time::Duration;

/// The issues and warnings found so far, and the environment to read.
pub(super) struct Ctx<'a> {
    /// Where environment overrides and secrets are read.
    pub env: &'a Env<'a>,
    /// Problems that make the config invalid.
    pub issues: Vec<ConfigIssue>,
    /// Problems worth fixing that do not stop jitpe.
    pub warnings: Vec<ConfigIssue>,
}

impl Ctx<'_> {
    /// Records a problem with `key`.
    pub fn issue(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records a warning about `key`.
    pub fn warn(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }

    /// The env override if set and not empty, else the file value; with a note on where it came
    /// from, for messages.
    pub(super) fn overridden(&self, var: &str, file: Option<String>) -> (Option<String>, String) {
        match (self.env)(var).filter(|v| !v.is_empty()) {
            Some(v) => (Some(v), format!(" (from {var})")),
            None => (file, String::new()),
        }
    }

    /// The socket address `value` (from `from`), else `default`; an unparsable one is an issue with
    /// `key`, and the default stands in (validation fails anyway, and later checks still run).
    pub fn socket_addr(
        &mut self,
        key: &str,
        value: Option<&str>,
        from: &str,
        default: &str,
    ) -> SocketAddr {
        let fallback = default.parse().expect("the default is a socket address");
        let Some(value) = value else {
            return fallback;
        };
        value.parse::<SocketAddr>().unwrap_or_else(|_| {
            self.issue(
                key,
                format!("`{value}`{from} is not a socket address: write IP:port, like `{default}`"),
            );
            fallback
        })
    }

    /// A duration key, or its default.
    pub fn duration(&mut self, key: &str, value: Option<&str>, default: Duration) -> Duration {
        let Some(v) = value else { return default };
        match parse_duration(v) {
            Ok(d) if d.is_zero() => {
                self.issue(key, "must be longer than zero");
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.issue(key, e.to_string());
                default
            }
        }
    }

    /// An `http`/`https` base URL with a host and no credentials, query or fragment; normalised
    /// to end with `/` so that `Url::join` appends instead of replacing the last segment.
    pub fn base_url(&mut self, key: &str, value: &str, from: &str) -> Option<Url> {
        let mut url = match Url::parse(value) {
            Ok(u) => u,
            Err(e) => {
                self.issue(key, format!("`{value}`{from} is not a URL: {e}"));
                return None;
            }
        };
        let problem = if !matches!(url.scheme(), "http" | "https") {
            Some("use an http:// or https:// URL")
        } else if url.host_str().is_none_or(str::is_empty) {
            Some("the URL needs a host")
        } else if !url.username().is_empty() || url.password().is_some() {
            Some("do not put credentials in the URL")
        } else if url.query().is_some() || url.fragment().is_some() {
            Some("remove the `?query` or `#fragment`")
        } else {
            None
        };
        if let Some(p) = problem {
            // Credentials are not echoed: only the scheme and host are safe to show.
            self.issue(key, format!("{p}{from}"));
            return None;
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Some(url)
    }

    /// A required secret; `None` after recording the issue.
    pub fn secret(&mut self, src: SecretSource<'_>) -> Option<Secret> {
        src.require(self.env).map_err(|i| self.issues.push(i)).ok()
    }
}
