//! The revocation rules of `[policy.revocation]`: which API calls of a grantee end the grant at
//! once. Four rules ship on by default (any attempt on Secrets; creating or changing RBAC
//! objects; `pods/exec` and `pods/attach`; deleting an Ingress under the `debug` role; a burst of
//! forbidden answers); each can be switched off or tuned field by field under its own name, and
//! sites add their own. Falco alerts have their own table (`falco.rs`).

use super::falco::{FalcoRules, RawFalco};
use super::pattern::{ResourcePattern, Scope};
use crate::domain::duration::{format_duration, parse_duration};
use crate::domain::ids::RoleName;
use crate::domain::policy::ConfigIssue;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[policy.revocation]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRevocation {
    /// `[policy.revocation.rules.<name>]`: the shipped rules by their names, and new ones.
    #[serde(default)]
    pub rules: BTreeMap<String, RawRule>,
    /// `[policy.revocation.falco]`.
    #[serde(default)]
    pub falco: RawFalco,
}

/// `[policy.revocation.rules.<name>]`. For a shipped rule every key is optional and replaces
/// only that part of it; a new rule must say what it matches (verbs, resources or codes).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRule {
    /// `false` switches the rule off.
    pub enabled: Option<bool>,
    /// One line for `check-config` and the alert.
    pub description: Option<String>,
    /// Verbs (`get`, `delete`, ...); absent or empty: any verb.
    pub verbs: Option<Vec<String>>,
    /// `[group/]resource[/subresource]` patterns (`secrets`, `pods/exec`,
    /// `rbac.authorization.k8s.io/*`); absent or empty: any resource.
    pub resources: Option<Vec<String>>,
    /// `any` (default), `inside` or `outside` the grant's namespace.
    pub namespace: Option<String>,
    /// Response codes (`403`); absent or empty: any answer.
    pub codes: Option<Vec<u16>>,
    /// Only grants of these roles; absent or empty: every role.
    pub roles: Option<Vec<String>>,
    /// How many matching calls within `window` revoke (default 1).
    pub count: Option<u32>,
    /// The window for `count` (default `1m`).
    pub window: Option<String>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name, shown on the card ("REVOKED by rule <name>").
    pub name: String,
    /// One line for `check-config` and the alert.
    pub description: String,
    /// Lowercase verbs; empty matches any.
    pub verbs: Vec<String>,
    /// Resource patterns; empty matches any.
    pub resources: Vec<ResourcePattern>,
    /// Where the call's namespace must be, relative to the grant's.
    pub namespace: Scope,
    /// Response codes; empty matches any.
    pub codes: Vec<u16>,
    /// Roles whose grants the rule watches; empty: all.
    pub roles: Vec<RoleName>,
    /// Matching calls within `window` that revoke.
    pub count: u32,
    /// The window for `count`.
    pub window: Duration,
}

/// Every rule in force, and the Falco settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRules {
    /// The enabled API-call rules, by name.
    pub rules: Vec<Rule>,
    /// The names of shipped rules switched off, for `check-config`.
    pub disabled: Vec<String>,
    /// Which Falco alerts revoke.
    pub falco: FalcoRules,
}

impl Default for RevocationRules {
    /// The shipped rules, all on.
    fn default() -> Self {
        Self::try_from(RawRevocation::default()).expect("the shipped rules are valid")
    }
}

/// The rules jitpe ships, as raw tables so a site's table merges into them key by key.
pub fn shipped() -> Vec<(&'static str, RawRule)> {
    let s = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    vec![
        (
            "secrets",
            RawRule {
                description: Some("any attempt on Secrets".into()),
                resources: s(&["secrets"]),
                ..RawRule::default()
            },
        ),
        (
            "rbac-change",
            RawRule {
                description: Some("an attempt to create or change RBAC objects".into()),
                verbs: s(&["create", "update", "patch", "escalate", "bind"]),
                resources: s(&["rbac.authorization.k8s.io/*"]),
                ..RawRule::default()
            },
        ),
        (
            "pods-exec",
            RawRule {
                description: Some("an attempt to exec or attach into a pod".into()),
                resources: s(&["pods/exec", "pods/attach"]),
                ..RawRule::default()
            },
        ),
        (
            "ingress-delete-under-debug",
            RawRule {
                description: Some("a delete of an Ingress under the read-only debug role".into()),
                verbs: s(&["delete", "deletecollection"]),
                resources: s(&["networking.k8s.io/ingresses"]),
                roles: s(&["debug"]),
                ..RawRule::default()
            },
        ),
        (
            "forbidden-burst",
            RawRule {
                description: Some("repeated forbidden (403) answers: probing for access".into()),
                codes: Some(vec![403]),
                count: Some(5),
                window: Some("2m".into()),
                ..RawRule::default()
            },
        ),
    ]
}

impl TryFrom<RawRevocation> for RevocationRules {
    type Error = Vec<ConfigIssue>;

    fn try_from(raw: RawRevocation) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut site = raw.rules;
        let mut merged: Vec<(String, RawRule, bool)> = shipped()
            .into_iter()
            .map(|(name, base)| {
                let over = site.remove(name);
                (name.to_string(), merge(base, over), true)
            })
            .collect();
        merged.extend(site.into_iter().map(|(n, r)| (n, r, false)));
        let (mut rules, mut disabled) = (Vec::new(), Vec::new());
        for (name, r, shipped) in merged {
            if r.enabled == Some(false) {
                disabled.push(name);
                continue;
            }
            if let Some(rule) = rule(&mut issues, &name, r, shipped) {
                rules.push(rule);
            }
        }
        let falco = FalcoRules::try_from(raw.falco).map_err(|i| issues.extend(i));
        match (falco, issues.is_empty()) {
            (Ok(falco), true) => Ok(Self {
                rules,
                disabled,
                falco,
            }),
            _ => Err(issues),
        }
    }
}

/// A shipped rule with a site's keys laid over it.
fn merge(base: RawRule, over: Option<RawRule>) -> RawRule {
    let Some(o) = over else { return base };
    RawRule {
        enabled: o.enabled.or(base.enabled),
        description: o.description.or(base.description),
        verbs: o.verbs.or(base.verbs),
        resources: o.resources.or(base.resources),
        namespace: o.namespace.or(base.namespace),
        codes: o.codes.or(base.codes),
        roles: o.roles.or(base.roles),
        count: o.count.or(base.count),
        window: o.window.or(base.window),
    }
}

fn rule(issues: &mut Vec<ConfigIssue>, name: &str, r: RawRule, shipped: bool) -> Option<Rule> {
    let key = |k: &str| format!("policy.revocation.rules.{name}{k}");
    let mut bad = |k: &str, m: String| {
        issues.push(ConfigIssue {
            key: key(k),
            message: m,
        })
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        bad(
            "",
            "a rule name uses lowercase letters, digits and '-' (at most 63)".into(),
        );
    }
    let verbs: Vec<String> = r.verbs.unwrap_or_default();
    if let Some(v) = verbs.iter().find(|v| !is_verb(v)) {
        bad(
            ".verbs",
            format!(
                "`{v}` is not a Kubernetes verb: write lowercase verbs such as `get`, `delete`, `create`"
            ),
        );
    }
    let mut resources = Vec::new();
    for p in r.resources.unwrap_or_default() {
        match p.parse::<ResourcePattern>() {
            Ok(pattern) => resources.push(pattern),
            Err(e) => bad(".resources", e.to_string()),
        }
    }
    let namespace = match r.namespace.as_deref().map(str::parse::<Scope>) {
        None => Scope::Any,
        Some(Ok(scope)) => scope,
        Some(Err(e)) => {
            bad(".namespace", e.to_string());
            Scope::Any
        }
    };
    let codes = r.codes.unwrap_or_default();
    if let Some(c) = codes.iter().find(|c| !(100..=599).contains(*c)) {
        bad(
            ".codes",
            format!("{c} is not an HTTP status code: use codes such as 403"),
        );
    }
    let mut roles = Vec::new();
    for role in r.roles.unwrap_or_default() {
        match role.parse::<RoleName>() {
            Ok(role) => roles.push(role),
            Err(e) => bad(".roles", e.to_string()),
        }
    }
    let count = r.count.unwrap_or(1);
    if count == 0 || count > 10_000 {
        bad(
            ".count",
            format!("{count} calls cannot trigger a rule: use 1 to 10000"),
        );
    }
    let window = match r.window.as_deref() {
        None => Duration::from_secs(60),
        Some(w) => parse_duration(w).unwrap_or_else(|e| {
            bad(".window", e.to_string());
            Duration::from_secs(60)
        }),
    };
    if !shipped && verbs.is_empty() && resources.is_empty() && codes.is_empty() {
        bad("", "this rule matches every call of every grantee: say what it matches with `verbs`, `resources` or `codes`".into());
    }
    let description = r.description.unwrap_or_default();
    let rule = Rule {
        name: name.to_string(),
        description,
        verbs,
        resources,
        namespace,
        codes,
        roles,
        count,
        window,
    };
    name_ok.then_some(rule)
}

fn is_verb(v: &str) -> bool {
    !v.is_empty() && v.len() <= 32 && v.chars().all(|c| c.is_ascii_lowercase())
}

impl Rule {
    /// One line for `check-config`: what the rule matches and how many calls revoke.
    pub fn describe(&self) -> String {
        let list = |v: Vec<String>, any: &str| match v.is_empty() {
            true => any.to_string(),
            false => v.join(","),
        };
        let verbs = list(self.verbs.clone(), "any verb");
        let resources = list(
            self.resources.iter().map(|r| r.to_string()).collect(),
            "any resource",
        );
        let codes = list(
            self.codes.iter().map(u16::to_string).collect(),
            "any answer",
        );
        let roles = list(
            self.roles.iter().map(|r| r.to_string()).collect(),
            "every role",
        );
        let times = match self.count {
            1 => "once".to_string(),
            n => format!("{n} times within {}", format_duration(self.window)),
        };
        format!(
            "{}: {verbs} on {resources}, {} namespace, {codes}, grants of {roles}, {times}{}",
            self.name,
            self.namespace,
            match self.description.is_empty() {
                true => String::new(),
                false => format!(" ({})", self.description),
            }
        )
    }
}
