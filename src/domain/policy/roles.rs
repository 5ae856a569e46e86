//! Validation of the `[policy.roles.<name>]` tables: durations, bindings, approvers, scoped
//! rules and auto-approval, each problem recorded with its dotted key.

use super::issues::Issues;
use super::raw::{RawAutoApprove, RawBinding, RawRole, RawScopedRule};
use super::shape;
use super::{AutoApprove, BindingTarget, Role, ScopedRule};
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::{Namespace, RoleName};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

fn channels(
    is: &mut Issues,
    key: &str,
    raw: &BTreeMap<String, String>,
) -> BTreeMap<Platform, String> {
    let mut out = BTreeMap::new();
    for (p, ch) in raw {
        match p.as_str() {
            "slack" => out.insert(Platform::Slack, ch.clone()),
            "mattermost" => out.insert(Platform::Mattermost, ch.clone()),
            other => {
                is.push(format!("{key}.{other}"), "use `slack` or `mattermost`");
                None
            }
        };
    }
    out
}

/// The role `name` as written, or `None` with its problems in `is`; `deny` is the policy's
/// namespace deny list, where no fixed binding may point.
pub(super) fn role(
    is: &mut Issues,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    deny: &[(String, Regex)],
    name: &str,
    r: &RawRole,
) -> Option<Role> {
    let key = format!("policy.roles.{name}");
    let role_name = RoleName::parse(name)
        .map_err(|e| is.push(&key, e.to_string()))
        .ok();
    let default = is.duration(&format!("{key}.default_duration"), &r.default_duration);
    let max = is.duration(&format!("{key}.max_duration"), &r.max_duration);
    if let (Some(d), Some(m)) = (default, max)
        && d > m
    {
        is.push(
            format!("{key}.default_duration"),
            "is longer than max_duration: make it shorter or equal",
        );
    }
    let targets = targets(is, &key, &r.bindings, deny);
    let approvers = is.actors(&format!("{key}.approvers"), &r.approvers);
    let approver_groups = known_groups(
        is,
        groups,
        &format!("{key}.approver_groups"),
        &r.approver_groups,
    );
    if r.approvals == 0 {
        is.push(
            format!("{key}.approvals"),
            "must be at least 1 (use auto_approve for approval without a vote)",
        );
    }
    if approvers.is_empty() && approver_groups.is_empty() {
        is.push(
            format!("{key}.approvers"),
            "nobody can approve this role: list approvers or approver_groups",
        );
    }
    let reason_pattern = r.reason_pattern.as_deref().and_then(|p| {
        Regex::new(p)
            .map_err(|e| {
                is.push(
                    format!("{key}.reason_pattern"),
                    format!("not a valid regular expression: {e}"),
                )
            })
            .ok()
    });
    let scoped_rules = r.scoped_rules.as_ref().map(|rules| scoped(is, &key, rules));
    let auto_approve = r
        .auto_approve
        .as_ref()
        .and_then(|a| auto(is, groups, &key, a));
    let approvers_channels = channels(
        is,
        &format!("{key}.approvers_channel"),
        &r.approvers_channel,
    );
    Some(Role {
        name: role_name?,
        description: r.description.clone(),
        targets,
        default_duration: default?,
        max_duration: max?,
        approvals_needed: r.approvals,
        approvers,
        approver_groups,
        allow_self_approval: r.allow_self_approval,
        auto_approve,
        reason_pattern,
        scoped_rules,
        approvers_channels,
    })
}

fn targets(
    is: &mut Issues,
    key: &str,
    raw: &[RawBinding],
    deny: &[(String, Regex)],
) -> Vec<BindingTarget> {
    if raw.is_empty() {
        is.push(
            format!("{key}.bindings"),
            "the role grants nothing: add at least one `[[...bindings]]` with a cluster_role",
        );
    }
    let mut out = Vec::new();
    for (i, b) in raw.iter().enumerate() {
        let bkey = format!("{key}.bindings[{i}]");
        if b.cluster_role.trim().is_empty() {
            is.push(
                format!("{bkey}.cluster_role"),
                "name the ClusterRole to bind",
            );
            continue;
        }
        shape::cluster_role(is, &format!("{bkey}.cluster_role"), &b.cluster_role);
        let namespace = match b.namespace.as_deref() {
            None => None,
            Some(n) => match Namespace::parse(n) {
                Ok(ns) => {
                    shape::binding_namespace(is, &format!("{bkey}.namespace"), &ns, deny);
                    Some(ns)
                }
                Err(e) => {
                    is.push(format!("{bkey}.namespace"), e.to_string());
                    continue;
                }
            },
        };
        out.push(BindingTarget {
            cluster_role: b.cluster_role.clone(),
            namespace,
        });
    }
    out
}

fn scoped(is: &mut Issues, key: &str, rules: &[RawScopedRule]) -> Vec<ScopedRule> {
    if rules.is_empty() {
        is.push(
            format!("{key}.scoped_rules"),
            "is empty: list at least one rule, or remove it",
        );
    }
    for (i, s) in rules.iter().enumerate() {
        shape::scoped_rule(is, &format!("{key}.scoped_rules[{i}]"), s);
    }
    rules
        .iter()
        .map(|s| ScopedRule {
            api_groups: s.api_groups.clone(),
            resources: s.resources.clone(),
            verbs: s.verbs.clone(),
        })
        .collect()
}

fn auto(
    is: &mut Issues,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    key: &str,
    a: &RawAutoApprove,
) -> Option<AutoApprove> {
    let akey = format!("{key}.auto_approve");
    let users = is.actors(&format!("{akey}.users"), &a.users);
    let groups = known_groups(is, groups, &format!("{akey}.groups"), &a.groups);
    let max_duration = is.duration(&format!("{akey}.max_duration"), &a.max_duration)?;
    Some(AutoApprove {
        users,
        groups,
        max_duration,
        per_day: a.per_day,
    })
}

fn known_groups(
    is: &mut Issues,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    key: &str,
    names: &[String],
) -> BTreeSet<String> {
    for g in names.iter().filter(|g| !groups.contains_key(*g)) {
        is.push(key, format!("there is no group `{g}` in `[policy.groups]`"));
    }
    names.iter().cloned().collect()
}
