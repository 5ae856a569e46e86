//! `[[policy.systems]]`: which Kubernetes ServiceAccounts (CI/CD pipelines calling the API with
//! their own token) may ask for which roles in which namespaces, and whether such a request is
//! approved by itself within limits or waits for the role's approvers in chat.
//!
//! Rules are read in order and the **first** whose ServiceAccount patterns, roles and namespaces
//! all match a request decides it, like a firewall's; a ServiceAccount no rule names is refused
//! (deny by default). The grantee of a system request is the ServiceAccount itself.

use super::issues::Issues;
use super::raw::RawSystem;
use crate::domain::identity::{SERVICE_ACCOUNT_PREFIX, ServiceAccountName};
use crate::domain::ids::{Namespace, RoleName};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One validated `[[policy.systems]]` entry.
#[derive(Debug, Clone)]
pub struct SystemRule {
    /// Shown on cards and in `check-config` (`policy.systems[0]` when not given).
    pub description: String,
    /// ServiceAccount patterns as written (`system:serviceaccount:ci:*`), with their matchers.
    pub service_accounts: Vec<(String, Regex)>,
    /// Roles it may ask for.
    pub roles: BTreeSet<RoleName>,
    /// Namespace patterns it may ask in (also subject to `[policy.namespaces]`).
    pub namespaces: Vec<(String, Regex)>,
    /// Approval without a vote; `None`: the role's approvers decide in chat.
    pub auto_approve: Option<SystemAutoApprove>,
}

/// When a system request is approved without a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemAutoApprove {
    /// Longest duration that qualifies.
    pub max_duration: Duration,
    /// At most this many automatic approvals of the role per ServiceAccount per UTC day.
    pub per_day: u32,
}

impl SystemRule {
    /// Whether `sa` is one of this rule's ServiceAccounts.
    pub fn names(&self, sa: &ServiceAccountName) -> bool {
        let username = sa.username();
        self.service_accounts
            .iter()
            .any(|(_, re)| re.is_match(&username))
    }

    /// Whether this rule lets `sa` ask for `role` in `namespace`.
    pub fn allows(&self, sa: &ServiceAccountName, role: &RoleName, namespace: &Namespace) -> bool {
        self.names(sa)
            && self.roles.contains(role)
            && self
                .namespaces
                .iter()
                .any(|(_, re)| re.is_match(namespace.as_str()))
    }

    /// Whether a request of `duration` qualifies for automatic approval, given how many the
    /// ServiceAccount already had today.
    pub fn auto_approves(&self, duration: Duration, approved_today: u32) -> bool {
        self.auto_approve
            .as_ref()
            .is_some_and(|a| duration <= a.max_duration && approved_today < a.per_day)
    }
}

/// The entries of `[[policy.systems]]`, or `None` for each with its problems in `is`. `roles`
/// are the valid roles' names.
pub(super) fn systems<V>(
    is: &mut Issues,
    raw: &[RawSystem],
    roles: &BTreeMap<RoleName, V>,
) -> Vec<SystemRule> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| system(is, &format!("policy.systems[{i}]"), r, roles))
        .collect()
}

fn system<V>(
    is: &mut Issues,
    key: &str,
    r: &RawSystem,
    roles: &BTreeMap<RoleName, V>,
) -> Option<SystemRule> {
    let before = is.0.len();
    let service_accounts = required(is, &format!("{key}.service_accounts"), &r.service_accounts)
        .iter()
        .filter_map(|p| sa_pattern(is, &format!("{key}.service_accounts"), p))
        .collect();
    let role_names = required(is, &format!("{key}.roles"), &r.roles)
        .iter()
        .filter_map(|name| known_role(is, &format!("{key}.roles"), name, roles))
        .collect();
    let namespaces = required(is, &format!("{key}.namespaces"), &r.namespaces)
        .iter()
        .filter_map(|p| is.pattern(&format!("{key}.namespaces"), p))
        .collect();
    let auto_approve = r.auto_approve.as_ref().and_then(|a| {
        let max_duration =
            is.duration(&format!("{key}.auto_approve.max_duration"), &a.max_duration);
        if a.per_day == 0 {
            is.push(
                format!("{key}.auto_approve.per_day"),
                "must be at least 1 (remove auto_approve to have every request approved in chat)",
            );
        }
        Some(SystemAutoApprove {
            max_duration: max_duration?,
            per_day: a.per_day,
        })
    });
    let description = match r.description.trim() {
        "" => key.to_string(),
        d => d.to_string(),
    };
    (is.0.len() == before).then_some(SystemRule {
        description,
        service_accounts,
        roles: role_names,
        namespaces,
        auto_approve,
    })
}

/// `values`, with an issue if there are none.
fn required<'a>(is: &mut Issues, key: &str, values: &'a [String]) -> &'a [String] {
    if values.is_empty() {
        is.push(
            key,
            "must not be empty: a system rule that names nothing allows nothing",
        );
    }
    values
}

fn known_role<V>(
    is: &mut Issues,
    key: &str,
    name: &str,
    roles: &BTreeMap<RoleName, V>,
) -> Option<RoleName> {
    let role = RoleName::parse(name).ok().filter(|r| roles.contains_key(r));
    if role.is_none() {
        let known: Vec<_> = roles.keys().map(|r| format!("`{r}`")).collect();
        is.push(
            key,
            format!(
                "`{name}` is not a role of this policy (roles: {})",
                known.join(", ")
            ),
        );
    }
    role
}

/// `system:serviceaccount:<namespace>:<name>`, each part lowercase letters, digits, `-` (and
/// `.` in names) or `*` for any run of them. A namespace part that is only `*` is refused: it
/// would let a workload in any namespace ask.
fn sa_pattern(is: &mut Issues, key: &str, pattern: &str) -> Option<(String, Regex)> {
    let parts = pattern
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'));
    let valid = |s: &str, dot: bool| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, '-' | '*')
                    || (dot && c == '.')
            })
    };
    let Some((namespace, name)) = parts.filter(|(ns, n)| valid(ns, false) && valid(n, true)) else {
        is.push(
            key,
            format!(
                "`{pattern}` is not a ServiceAccount pattern: write \
                 `system:serviceaccount:<namespace>:<name>`, `*` for any run of characters in \
                 either part (for example `system:serviceaccount:ci:deploy-*`)"
            ),
        );
        return None;
    };
    if namespace.chars().all(|c| c == '*') {
        is.push(
            key,
            format!(
                "`{pattern}` matches ServiceAccounts of every namespace, so any workload in the \
                 cluster could ask: name the namespace (patterns like `ci-*` are fine)"
            ),
        );
        return None;
    }
    let part = |s: &str, any: &str| regex::escape(s).replace(r"\*", any);
    let re = format!(
        "^{}{}:{}$",
        regex::escape(SERVICE_ACCOUNT_PREFIX),
        part(namespace, "[a-z0-9-]*"),
        part(name, "[a-z0-9.-]*")
    );
    Regex::new(&re).ok().map(|re| (pattern.to_string(), re))
}

#[cfg(test)]
#[path = "systems_tests.rs"]
mod tests;
