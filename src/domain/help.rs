//! `/jit help` for one person: the grammar, then what the policy lets *this* person do: the
//! roles they may request with their durations and approvals (and auto-approval where it applies
//! to them), the namespaces open to requests, the risk tiers that tighten them, and for an
//! approver the roles they approve. Built from the policy alone, so it costs a few string
//! operations per call whatever the store holds.

use super::command::help_text;
use super::duration::format_duration;
use super::identity::{Actor, Platform};
use super::policy::{Policy, Role, Tier};
use super::text::Text;

/// The help text for `who`.
pub fn help_for(policy: &Policy, who: &Actor) -> Text {
    let mut text = Text::ours(help_text());
    if who.platform == Platform::Kubernetes {
        return text;
    }
    text = text.and("\n\n");
    text = match policy.subject_for(who) {
        Ok(_) => text.then(requestable(policy, who)),
        Err(_) => text.and(format!(
            "*You cannot request access yet:* your chat account (`{who}`) is not mapped to a \
             Kubernetes user. Ask the jitpe operators to add it to the policy's identities."
        )),
    };
    let approves: Vec<&str> = policy
        .roles()
        .filter(|r| policy.is_approver(r, who))
        .map(|r| r.name.as_str())
        .collect();
    if !approves.is_empty() {
        text = text.and(format!(
            "\n*You approve* requests for {}; `/jit list` shows what waits for you.",
            code_list(approves.iter().copied())
        ));
    }
    text
}

/// The roles, namespaces and tiers open to a mapped person.
fn requestable(policy: &Policy, who: &Actor) -> Text {
    let mut text = Text::ours("*Roles you may request:*");
    for role in policy.roles() {
        text = text
            .and(format!("\n• `{}`", role.name.as_str()))
            .then(described(role))
            .and(format!(" — {}", terms(policy, role, who)));
    }
    // NB: validation refuses a policy that allows no namespace, so the list is never empty.
    let allow = code_list(policy.namespaces().allow_patterns());
    let deny: Vec<&str> = policy.namespaces().deny_patterns().collect();
    text = text.and(format!("\n*Namespaces:* {allow}"));
    if !deny.is_empty() {
        text = text.and(format!(", never {}", code_list(deny.into_iter())));
    }
    for tier in policy.tiers() {
        text = text
            .and(format!(
                "\n*Stricter in* {} (tier `{}`",
                code_list(tier.namespace_patterns()),
                tier.name
            ))
            .then(match tier.description.is_empty() {
                true => Text::default(),
                false => Text::ours(", ").typed(tier.description.as_str()),
            })
            .and(format!("): {}", tier_terms(tier)));
    }
    text
}

/// `: <description>` when the role has one (the operators' words, escaped like typed text).
fn described(role: &Role) -> Text {
    match role.description.is_empty() {
        true => Text::default(),
        false => Text::ours(": ").typed(role.description.as_str()),
    }
}

/// `15m by default, at most 1h, 1 approval` and the auto-approval that applies to `who`.
fn terms(policy: &Policy, role: &Role, who: &Actor) -> String {
    let n = role.approvals_needed;
    let mut out = format!(
        "{} by default, at most {}, {n} approval{}",
        format_duration(role.default_duration),
        format_duration(role.max_duration),
        if n == 1 { "" } else { "s" }
    );
    if let Some(auto) = &role.auto_approve {
        let yours = auto.users.contains(who) || auto.groups.iter().any(|g| policy.in_group(who, g));
        if yours {
            out.push_str(&format!(
                "; approved at once for you up to {}, {} a day",
                format_duration(auto.max_duration),
                auto.per_day
            ));
        }
    }
    if let Some(re) = &role.reason_pattern {
        out.push_str(&format!("; the reason must match {}", code(re.as_str())));
    }
    out
}

/// What a tier changes, in the words of `check-config`.
fn tier_terms(tier: &Tier) -> String {
    let mut parts = Vec::new();
    if tier.extra_approvals > 0 {
        parts.push(format!("{} more approval(s)", tier.extra_approvals));
    }
    if tier.min_approvals > 0 {
        parts.push(format!("at least {} approvals", tier.min_approvals));
    }
    if let Some(max) = tier.max_duration {
        parts.push(format!("at most {}", format_duration(max)));
    }
    if !tier.auto_approve {
        parts.push("never approved at once".to_string());
    }
    if let Some(re) = &tier.reason_pattern {
        parts.push(format!("the reason must also match {}", code(re.as_str())));
    }
    match parts.is_empty() {
        true => "the roles' own rules".to_string(),
        false => parts.join(", "),
    }
}

/// `` `a`, `b` `` — names and patterns as code spans.
fn code_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(code).collect::<Vec<_>>().join(", ")
}

/// One code span; a backtick inside would end it early, so it becomes a quote.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

#[cfg(test)]
#[path = "help_tests.rs"]
mod tests;
