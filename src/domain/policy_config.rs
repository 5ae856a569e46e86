//! The policy as written in the config file, and its validation into a [`Policy`].
//!
//! Validation collects every problem with the key it concerns, so an operator fixes a config in
//! one pass instead of one error per start.

use super::duration::parse_duration;
use super::identity::{Actor, KubeSubject};
use super::policy::{NamespaceRules, Policy};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// The `[policy]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// How long a request may wait for approval (default `1h`).
    pub pending_ttl: Option<String>,
    /// How long before expiry the requester is warned (default `5m`).
    pub expiry_warning: Option<String>,
    /// Namespace allow and deny patterns.
    #[serde(default)]
    pub namespaces: RawNamespaces,
    /// Named groups of chat users, usable as approvers.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Chat users mapped to Kubernetes users.
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    /// Roles by name.
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
}

/// `[policy.namespaces]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespaces {
    /// Patterns that may be requested (`shop`, `shop-*`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Patterns that never may, even if allowed above.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[[policy.identities]]`: one person.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// Kubernetes user name.
    pub kube_user: String,
    /// Refused when not empty: a grant binds exactly the requester, never a group (whose every
    /// member would be granted). Kept as a key only so the refusal can say so.
    #[serde(default)]
    pub kube_groups: Vec<String>,
    /// The person's chat ids (`slack:U…`, `mattermost:…`).
    pub chat: Vec<String>,
}

/// `[policy.roles.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// One line shown in help and on cards.
    #[serde(default)]
    pub description: String,
    /// Duration used when none is typed.
    pub default_duration: String,
    /// Longest duration allowed.
    pub max_duration: String,
    /// Distinct approvals needed (default 1).
    #[serde(default = "one")]
    pub approvals: usize,
    /// Approver chat ids.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Policy groups whose members approve.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// Whether requesters may approve their own requests (default false).
    #[serde(default)]
    pub allow_self_approval: bool,
    /// Pattern the whole reason must contain a match of.
    pub reason_pattern: Option<String>,
    /// ClusterRoles to bind.
    #[serde(default)]
    pub bindings: Vec<RawBinding>,
    /// Rules for a Role limited to one resource; absent means the role cannot be scoped.
    pub scoped_rules: Option<Vec<RawScopedRule>>,
    /// Automatic approval.
    pub auto_approve: Option<RawAutoApprove>,
    /// Per-platform approvers channel (`slack = "C…"`, `mattermost = "…"`).
    #[serde(default)]
    pub approvers_channel: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}

/// `[[policy.roles.<name>.bindings]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    /// The ClusterRole to reference.
    pub cluster_role: String,
    /// A fixed namespace; absent means the requested one.
    pub namespace: Option<String>,
}

/// `[[policy.roles.<name>.scoped_rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScopedRule {
    /// API groups.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// `[policy.roles.<name>.auto_approve]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoApprove {
    /// Users who qualify.
    #[serde(default)]
    pub users: Vec<String>,
    /// Policy groups who qualify.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Longest duration that qualifies.
    pub max_duration: String,
    /// Per user per UTC day.
    pub per_day: u32,
}

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
pub(super) struct Issues(Vec<ConfigIssue>);

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

    fn pattern(&mut self, key: &str, glob: &str) -> Option<(String, Regex)> {
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

impl TryFrom<RawPolicy> for Policy {
    type Error = PolicyErrors;

    fn try_from(raw: RawPolicy) -> Result<Self, PolicyErrors> {
        let mut is = Issues::default();
        let pending_ttl = raw
            .pending_ttl
            .as_deref()
            .map_or(Some(Duration::from_secs(3600)), |v| {
                is.duration("policy.pending_ttl", v)
            });
        let expiry_warning = raw
            .expiry_warning
            .as_deref()
            .map_or(Some(Duration::from_secs(300)), |v| {
                is.duration("policy.expiry_warning", v)
            });
        let namespaces = namespaces(&mut is, &raw.namespaces);
        let groups: BTreeMap<String, BTreeSet<Actor>> = raw
            .groups
            .iter()
            .map(|(g, members)| (g.clone(), is.actors(&format!("policy.groups.{g}"), members)))
            .collect();
        let identities = identities(&mut is, &raw.identities);
        let mut roles = BTreeMap::new();
        for (name, r) in &raw.roles {
            if let Some(role) = super::policy_roles::role(&mut is, &groups, name, r) {
                roles.insert(role.name.clone(), role);
            }
        }
        if raw.roles.is_empty() {
            is.push(
                "policy.roles",
                "no roles are defined: add at least one `[policy.roles.<name>]` table",
            );
        }
        match (pending_ttl, expiry_warning, is.0.is_empty()) {
            (Some(pending_ttl), Some(expiry_warning), true) => Ok(Policy {
                roles,
                namespaces,
                identities,
                groups,
                pending_ttl,
                expiry_warning,
            }),
            _ => Err(PolicyErrors(is.0)),
        }
    }
}

fn namespaces(is: &mut Issues, raw: &RawNamespaces) -> NamespaceRules {
    let allow = raw
        .allow
        .iter()
        .filter_map(|p| is.pattern("policy.namespaces.allow", p))
        .collect::<Vec<_>>();
    let deny = raw
        .deny
        .iter()
        .filter_map(|p| is.pattern("policy.namespaces.deny", p))
        .collect();
    if raw.allow.is_empty() {
        is.push("policy.namespaces.allow", "no namespace is allowed: list the namespaces (or patterns like `shop-*`) that may be requested");
    }
    NamespaceRules { allow, deny }
}

fn identities(is: &mut Issues, raw: &[RawIdentity]) -> BTreeMap<Actor, KubeSubject> {
    let mut map = BTreeMap::new();
    for (i, id) in raw.iter().enumerate() {
        let key = format!("policy.identities[{i}]");
        if id.kube_user.trim().is_empty() || id.kube_user.starts_with("system:") {
            is.push(
                format!("{key}.kube_user"),
                "give a Kubernetes user name that is not empty and not a `system:` name",
            );
            continue;
        }
        if !id.kube_groups.is_empty() {
            is.push(
                format!("{key}.kube_groups"),
                "jitpe grants exactly the requester, never a group (every member of it would be \
                 granted): remove kube_groups; policy.groups decides who may approve",
            );
        }
        let subject = KubeSubject {
            user: id.kube_user.clone(),
            groups: Vec::new(),
        };
        for actor in is.actors(&format!("{key}.chat"), &id.chat) {
            if map.insert(actor.clone(), subject.clone()).is_some() {
                // NB: an id mapped twice is ambiguous; refusing the config fails closed.
                is.push(
                    format!("{key}.chat"),
                    format!("`{actor}` is mapped more than once"),
                );
            }
        }
    }
    map
}
