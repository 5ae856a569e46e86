//! `[policy.revocation.falco]`: which Falco alerts revoke a grant. An alert revokes the grants
//! of the Kubernetes user it names (Falco's k8saudit plugins name one) when its priority is at
//! least `min_priority` and, if `rules` is set, its rule is one of them. Alerts that name no
//! user (syscall rules such as a shell in a container) revoke the grants in the alert's
//! namespace only when `match_namespace` is on: that is a site's choice, since the person behind
//! such an alert is not known.

use super::observation::{FalcoAlert, FalcoPriority};
use crate::domain::policy::ConfigIssue;
use serde::Deserialize;

/// `[policy.revocation.falco]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawFalco {
    /// `false` ignores Falco alerts (they are still counted).
    pub enabled: Option<bool>,
    /// The least severe priority that revokes (default `critical`).
    pub min_priority: Option<String>,
    /// Falco rule names that revoke; absent or empty: any rule.
    pub rules: Option<Vec<String>>,
    /// Whether an alert naming no user revokes every grant in its namespace (default false).
    pub match_namespace: Option<bool>,
}

/// The validated Falco settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FalcoRules {
    /// Whether alerts revoke at all.
    pub enabled: bool,
    /// The least severe priority that revokes.
    pub min_priority: FalcoPriority,
    /// Rule names that revoke; empty: any.
    pub rules: Vec<String>,
    /// Whether user-less alerts revoke the grants in their namespace.
    pub match_namespace: bool,
}

impl TryFrom<RawFalco> for FalcoRules {
    type Error = Vec<ConfigIssue>;

    fn try_from(raw: RawFalco) -> Result<Self, Vec<ConfigIssue>> {
        let min_priority = match raw.min_priority.as_deref() {
            None => FalcoPriority::Critical,
            Some(p) => p.parse().map_err(|e: super::PriorityError| {
                vec![ConfigIssue {
                    key: "policy.revocation.falco.min_priority".into(),
                    message: e.to_string(),
                }]
            })?,
        };
        Ok(Self {
            enabled: raw.enabled.unwrap_or(true),
            min_priority,
            rules: raw.rules.unwrap_or_default(),
            match_namespace: raw.match_namespace.unwrap_or(false),
        })
    }
}

impl FalcoRules {
    /// Whether `alert` is one that revokes (before looking at whose grant it is).
    pub fn fires_on(&self, alert: &FalcoAlert) -> bool {
        self.enabled
            && alert.priority.at_least(self.min_priority)
            && (self.rules.is_empty() || self.rules.contains(&alert.rule))
    }

    /// One line for `check-config`.
    pub fn describe(&self) -> String {
        if !self.enabled {
            return "falco: off (alerts are counted, never revoke)".into();
        }
        let rules = match self.rules.is_empty() {
            true => "any rule".to_string(),
            false => self.rules.join(", "),
        };
        let ns = match self.match_namespace {
            true => "; alerts naming no user revoke the grants in their namespace",
            false => "; alerts naming no user revoke nothing",
        };
        format!(
            "falco: {rules} at priority {} or more severe revokes the named user's grants{ns}",
            self.min_priority
        )
    }
}
