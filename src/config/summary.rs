//! A human summary of validated settings for `jitpe check-config`; secrets appear only as `set`.

use super::settings::Settings;
use crate::domain::duration::format_duration as fd;
use crate::domain::policy::{Policy, Role, Rules, Tier};
use std::fmt::Write;

/// What the config means, for an operator to eyeball: roles, namespaces, identities, channels,
/// and which secrets are set (never their values), then any warnings.
pub fn summary(s: &Settings) -> String {
    let mut out = String::new();
    let public = s
        .server
        .public_url
        .as_ref()
        .map_or("not set".into(), |u| u.to_string());
    let kubeconfig = s
        .kubernetes
        .kubeconfig
        .as_ref()
        .map_or("in-cluster or default kubeconfig".into(), |p| {
            p.display().to_string()
        });
    // Writing to a String cannot fail; `let _` keeps the lines short.
    let _ = writeln!(
        out,
        "server: listen {}, public URL {public}, body limit {} bytes, {} chat requests at once (more are answered \"busy\")",
        s.server.listen, s.server.body_limit, s.server.max_in_flight
    );
    let _ = match s.server.metrics_listen {
        Some(m) => writeln!(
            out,
            "metrics: /metrics on its own listener {m} (not on {})",
            s.server.listen
        ),
        None => writeln!(
            out,
            "metrics: /metrics on {} (set server.metrics_listen to serve it apart)",
            s.server.listen
        ),
    };
    let _ = writeln!(
        out,
        "slow clients: request head within {}, chat body within {}, at most {} connections (when full, the oldest idle one is closed)",
        fd(s.server.header_read_timeout),
        fd(s.server.body_read_timeout),
        s.server.max_connections
    );
    let _ = match &s.server.tls {
        Some(tls) => writeln!(
            out,
            "https: listen {}, the same routes, certificate {} and key {} (checked; re-read when they change)",
            tls.listen,
            tls.files.cert.display(),
            tls.files.key.display()
        ),
        None => writeln!(out, "https: off (no [server.tls])"),
    };
    let _ = writeln!(
        out,
        "store: {}, cache {} MiB, {} store threads",
        s.store.path.display(),
        s.store.cache_bytes / (1024 * 1024),
        s.store.threads
    );
    let _ = match &s.store.admin_socket {
        Some(path) => writeln!(
            out,
            "admin socket: {} (read-only; this user and root)",
            path.display()
        ),
        None => writeln!(out, "admin socket: off"),
    };
    let _ = writeln!(
        out,
        "kubernetes: {kubeconfig}, instance `{}`, reconcile every {}, field manager `{}`, {} deadlines handled at once",
        s.kubernetes.instance,
        fd(s.kubernetes.reconcile_interval),
        s.kubernetes.field_manager,
        s.kubernetes.max_in_flight
    );
    policy(&mut out, s);
    chat(&mut out, s);
    let _ = writeln!(
        out,
        "audit: chain head every {}",
        fd(s.audit.chain_head_interval)
    );
    observe(&mut out, s);
    systems(&mut out, s);
    let _ = writeln!(
        out,
        "outbox: one message per {} per channel, given up after {} of failures",
        fd(s.outbox.per_channel_interval),
        fd(s.outbox.give_up_after)
    );
    for w in s.warnings() {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// The systems API and each `[[policy.systems]]` rule, in the order they are tried.
fn systems(out: &mut String, s: &Settings) {
    let rules = s.policy.systems();
    if rules.is_empty() {
        let _ = writeln!(out, "api: /api/v1 off (no [[policy.systems]])");
        return;
    }
    let _ = writeln!(
        out,
        "api: /api/v1 on, tokens verified by TokenReview for audience {}, body limit {} bytes",
        s.api.audiences.join(" or "),
        s.api.body_limit
    );
    for (i, r) in rules.iter().enumerate() {
        let accounts: Vec<&str> = r.service_accounts.iter().map(|(p, _)| p.as_str()).collect();
        let roles: Vec<&str> = r.roles.iter().map(|r| r.as_str()).collect();
        let namespaces: Vec<&str> = r.namespaces.iter().map(|(p, _)| p.as_str()).collect();
        let approval = match &r.auto_approve {
            Some(a) => format!(
                "auto-approved up to {}, {} per day per account, else the role's approvers",
                fd(a.max_duration),
                a.per_day
            ),
            None => "approved in chat by the role's approvers".into(),
        };
        let _ = writeln!(
            out,
            "system rule {} ({}): {} may ask for {} in {}; {approval}",
            i + 1,
            r.description,
            accounts.join(", "),
            roles.join(", "),
            namespaces.join(", ")
        );
    }
}

/// Which observation routes are served (each only with its token), never the tokens.
fn observe(out: &mut String, s: &Settings) {
    let on = |set: bool, secret: &str| {
        if set {
            format!("on ({secret} set)")
        } else {
            format!("off (no {secret})")
        }
    };
    let _ = writeln!(
        out,
        "observation: POST /k8s/audit {}, POST /falco {}; bodies up to {} bytes",
        on(s.audit.k8s_audit_token.is_some(), "k8s_audit_token"),
        on(s.audit.falco_token.is_some(), "falco_token"),
        s.audit.body_limit
    );
}

fn policy(out: &mut String, s: &Settings) {
    let p = &s.policy;
    let ns = p.namespaces();
    let _ = writeln!(
        out,
        "policy: {} chat ids mapped to Kubernetes users, pending requests time out after {}, expiry warning {} before",
        p.identity_count(),
        fd(p.pending_ttl()),
        fd(p.expiry_warning())
    );
    let _ = writeln!(
        out,
        "  namespaces: allow {}; deny {}",
        join(ns.allow_patterns()),
        join(ns.deny_patterns())
    );
    for role in p.roles() {
        role_lines(out, role);
    }
    tier_lines(out, p);
    revocation_lines(out, s);
}

/// The revocation rules in force, and whether anything feeds them.
fn revocation_lines(out: &mut String, s: &Settings) {
    let r = s.policy.revocation();
    let fed = match s.audit.k8s_audit_token.is_some() {
        true => "applied to the audit webhook (POST /k8s/audit)",
        false => {
            "NOT applied to API calls: no audit.k8s_audit_token_file, so POST /k8s/audit is off"
        }
    };
    let _ = writeln!(out, "  revocation rules ({fed}):");
    for rule in &r.rules {
        let _ = writeln!(out, "    {}", rule.describe());
    }
    if !r.disabled.is_empty() {
        let _ = writeln!(out, "    switched off: {}", r.disabled.join(", "));
    }
    let _ = writeln!(out, "    {}", r.falco.describe());
}

fn role_lines(out: &mut String, r: &Role) {
    let _ = writeln!(
        out,
        "  role {}: default {}, max {}, {} approval(s) from {}{}",
        r.name,
        fd(r.default_duration),
        fd(r.max_duration),
        r.approvals_needed,
        approvers(r),
        if r.allow_self_approval {
            ", self-approval allowed"
        } else {
            ""
        }
    );
    for b in &r.targets {
        let ns = b
            .namespace
            .as_ref()
            .map_or("the requested namespace".into(), |n| n.to_string());
        let _ = writeln!(out, "    binds ClusterRole {} in {ns}", b.cluster_role);
    }
    if let Some(rules) = &r.scoped_rules {
        for rule in rules {
            let _ = writeln!(
                out,
                "    scoped to one resource: {} {} [{}]",
                join(rule.api_groups.iter().map(String::as_str)),
                rule.resources.join(","),
                rule.verbs.join(",")
            );
        }
    }
    if let Some(re) = &r.reason_pattern {
        let _ = writeln!(out, "    reason must match `{}`", re.as_str());
    }
    if let Some(a) = &r.auto_approve {
        let _ = writeln!(
            out,
            "    auto-approved up to {} for {} user(s) and group(s) {}, at most {} per day",
            fd(a.max_duration),
            a.users.len(),
            join(a.groups.iter().map(String::as_str)),
            a.per_day
        );
    }
    for (platform, ch) in &r.approvers_channels {
        let _ = writeln!(out, "    {platform} approvers channel {ch}");
    }
}

/// Each risk tier, what it tightens, and the rules every role ends up with in its namespaces.
fn tier_lines(out: &mut String, p: &Policy) {
    if p.tiers().is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  risk tiers (a namespace in several gets the strictest of each):"
    );
    for t in p.tiers() {
        let _ = writeln!(
            out,
            "    tier {}: namespaces {}; {}",
            t.label(),
            join(t.namespace_patterns()),
            tightens(t)
        );
        for role in p.roles() {
            let rules = Rules {
                role,
                tiers: vec![t],
            };
            let _ = writeln!(out, "      role {} here: {}", role.name, effective(&rules));
        }
    }
}

/// What a tier changes, in its own terms.
fn tightens(t: &Tier) -> String {
    let mut parts = Vec::new();
    if t.extra_approvals > 0 {
        parts.push(format!("{} more approval(s)", t.extra_approvals));
    }
    if t.min_approvals > 0 {
        parts.push(format!("at least {} approval(s)", t.min_approvals));
    }
    if let Some(m) = t.max_duration {
        parts.push(format!("max {}", fd(m)));
    }
    if !t.auto_approve {
        parts.push("no auto-approval".into());
    }
    if let Some(re) = &t.reason_pattern {
        parts.push(format!("reason must also match `{}`", re.as_str()));
    }
    if parts.is_empty() {
        parts.push("tightens nothing".into());
    }
    parts.join(", ")
}

/// The effective rules of a role under some tiers.
fn effective(r: &Rules<'_>) -> String {
    let auto = match r.auto_approve() {
        Some(a) => format!(
            "auto-approved up to {}",
            fd(a.max_duration.min(r.max_duration()))
        ),
        None => "no auto-approval".into(),
    };
    let patterns: Vec<String> = r
        .reason_patterns()
        .map(|(_, re)| format!("`{}`", re.as_str()))
        .collect();
    let reason = match patterns.is_empty() {
        true => "any reason".into(),
        false => format!("reason must match {}", patterns.join(" and ")),
    };
    format!(
        "{} approval(s), default {}, max {}, {auto}, {reason}",
        r.approvals_needed(),
        fd(r.default_duration()),
        fd(r.max_duration())
    )
}

fn approvers(r: &Role) -> String {
    let mut parts = Vec::new();
    if !r.approver_groups.is_empty() {
        parts.push(format!(
            "group(s) {}",
            join(r.approver_groups.iter().map(String::as_str))
        ));
    }
    if !r.approvers.is_empty() {
        parts.push(format!("{} listed user(s)", r.approvers.len()));
    }
    parts.join(" and ")
}

fn chat(out: &mut String, s: &Settings) {
    match &s.slack {
        Some(sl) => {
            let _ = writeln!(
                out,
                "slack: enabled, API {}, approvers channel {}, audit channel {}; secrets bot_token set, signing_secret set",
                sl.api_base_url, sl.approvers_channel, sl.audit_channel
            );
        }
        None => out.push_str("slack: disabled\n"),
    }
    match &s.mattermost {
        Some(m) => {
            let _ = writeln!(
                out,
                "mattermost: enabled, server {}, team {}, approvers channel {}, audit channel {}, buttons call {}; secrets bot_token set, command_token set, action_secret set",
                m.url, m.team_id, m.approvers_channel, m.audit_channel, m.actions_url,
            );
        }
        None => out.push_str("mattermost: disabled\n"),
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
