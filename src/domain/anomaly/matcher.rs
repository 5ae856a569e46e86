//! Matching observations against the rules. The [`GrantIndex`] says who holds which Active
//! grant; the [`Matcher`] keeps, per grant and rule, the last `count` matching calls so that a
//! "5 in 2 minutes" rule costs a few timestamps per grant, whatever the traffic. A grant is
//! revoked at most once: after a verdict its later calls do not produce another.

use super::observation::{ApiCall, FalcoAlert, Observation};
use super::rules::{RevocationRules, Rule};
use crate::domain::ids::{RequestId, RoleName};
use crate::domain::request::{AccessRequest, State};
use jiff::Timestamp;
use std::collections::{HashMap, HashSet, VecDeque};

/// One Active grant as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedGrant {
    /// The request.
    pub id: RequestId,
    /// The grantee's Kubernetes user name.
    pub user: String,
    /// The grant's namespace.
    pub namespace: String,
    /// The grant's role.
    pub role: RoleName,
    /// When access began; earlier calls are not the grant's.
    pub since: Timestamp,
}

/// The Active grants by grantee.
#[derive(Debug, Clone, Default)]
pub struct GrantIndex {
    by_user: HashMap<String, Vec<WatchedGrant>>,
}

impl GrantIndex {
    /// The index of the Active requests among `requests`.
    pub fn of<'a>(requests: impl IntoIterator<Item = &'a AccessRequest>) -> Self {
        let mut by_user: HashMap<String, Vec<WatchedGrant>> = HashMap::new();
        for r in requests.into_iter().filter(|r| r.state == State::Active) {
            let grant = WatchedGrant {
                id: r.id,
                user: r.subject.user.clone(),
                namespace: r.namespace.to_string(),
                role: r.role.clone(),
                since: r.activated_at.unwrap_or(r.created_at),
            };
            by_user.entry(grant.user.clone()).or_default().push(grant);
        }
        Self { by_user }
    }

    /// The grants `call` was made under: those of its user and of the user it impersonated,
    /// that were active when it was made.
    pub fn grants_of<'a>(&'a self, call: &'a ApiCall) -> impl Iterator<Item = &'a WatchedGrant> {
        let names = [Some(call.user.as_str()), call.impersonated.as_deref()];
        names
            .into_iter()
            .enumerate()
            // Someone impersonating themselves must not count twice.
            .filter(move |(i, n)| *i == 0 || *n != Some(call.user.as_str()))
            .filter_map(|(_, n)| n.and_then(|n| self.by_user.get(n)))
            .flatten()
            .filter(move |g| call.at >= g.since)
    }

    /// Every grant, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &WatchedGrant> {
        self.by_user.values().flatten()
    }

    /// Whether grant `id` is in the index.
    pub fn contains(&self, id: RequestId) -> bool {
        self.all().any(|g| g.id == id)
    }
}

/// A rule fired: grant `request_id` is to be revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The grant.
    pub request_id: RequestId,
    /// The rule's name (`falco:<rule>` for a Falco alert).
    pub rule: String,
    /// The matching calls or alert, one compact line each, oldest first.
    pub evidence: Vec<String>,
}

/// The matching state: recent matching calls per (grant, rule), and grants already revoked.
#[derive(Debug, Default)]
pub struct Matcher {
    windows: HashMap<(RequestId, usize), VecDeque<(Timestamp, String)>>,
    fired: HashSet<RequestId>,
}

impl Matcher {
    /// Evaluates one observation; returns the grants it revokes.
    pub fn observe(
        &mut self,
        rules: &RevocationRules,
        grants: &GrantIndex,
        obs: &Observation,
    ) -> Vec<Verdict> {
        match obs {
            Observation::Call(call) => self.call(rules, grants, call),
            Observation::Falco(alert) => self.falco(rules, grants, alert),
        }
    }

    fn call(
        &mut self,
        rules: &RevocationRules,
        grants: &GrantIndex,
        call: &ApiCall,
    ) -> Vec<Verdict> {
        let mut out = Vec::new();
        for grant in grants.grants_of(call) {
            if self.fired.contains(&grant.id) {
                continue;
            }
            for (i, rule) in rules.rules.iter().enumerate() {
                if !matches(rule, grant, call) {
                    continue;
                }
                let window = self.windows.entry((grant.id, i)).or_default();
                window.push_back((call.at, evidence(call)));
                while window.len() > rule.count as usize {
                    window.pop_front();
                }
                let span = window.back().map(|b| b.0).zip(window.front().map(|f| f.0));
                let within = span.is_some_and(|(last, first)| {
                    last.duration_since(first).unsigned_abs() <= rule.window
                });
                if window.len() == rule.count as usize && within {
                    let evidence = window.iter().map(|(_, e)| e.clone()).collect();
                    self.fired.insert(grant.id);
                    out.push(Verdict {
                        request_id: grant.id,
                        rule: rule.name.clone(),
                        evidence,
                    });
                    break;
                }
            }
        }
        out
    }

    fn falco(
        &mut self,
        rules: &RevocationRules,
        grants: &GrantIndex,
        alert: &FalcoAlert,
    ) -> Vec<Verdict> {
        let falco = &rules.falco;
        if !falco.fires_on(alert) {
            return Vec::new();
        }
        let hit = |g: &WatchedGrant| match (&alert.user, &alert.namespace) {
            (Some(user), _) => *user == g.user,
            (None, Some(ns)) => falco.match_namespace && *ns == g.namespace,
            (None, None) => false,
        };
        let evidence = format!("falco {} {}: {}", alert.priority, alert.rule, alert.output);
        let hits: Vec<RequestId> = grants
            .all()
            .filter(|g| hit(g) && alert.at >= g.since && !self.fired.contains(&g.id))
            .map(|g| g.id)
            .collect();
        hits.into_iter()
            .map(|id| {
                self.fired.insert(id);
                Verdict {
                    request_id: id,
                    rule: format!("falco:{}", alert.rule),
                    evidence: vec![evidence.clone()],
                }
            })
            .collect()
    }

    /// Forgets the state of grants no longer in `grants`, so memory follows the live grants.
    pub fn retain(&mut self, grants: &GrantIndex) {
        let live: HashSet<RequestId> = grants.all().map(|g| g.id).collect();
        self.windows.retain(|(id, _), _| live.contains(id));
        self.fired.retain(|id| live.contains(id));
    }

    /// Whether the matcher holds no state (every grant forgotten).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.fired.is_empty()
    }

    /// Allows grant `id` to fire again (its revocation failed and will be retried).
    pub fn rearm(&mut self, id: RequestId) {
        self.fired.remove(&id);
    }
}

fn matches(rule: &Rule, grant: &WatchedGrant, call: &ApiCall) -> bool {
    (rule.roles.is_empty() || rule.roles.contains(&grant.role))
        && (rule.verbs.is_empty() || rule.verbs.contains(&call.verb))
        && (rule.resources.is_empty() || rule.resources.iter().any(|p| p.matches(call)))
        && (rule.codes.is_empty() || call.code.is_some_and(|c| rule.codes.contains(&c)))
        && rule
            .namespace
            .admits(call.namespace.as_deref(), &grant.namespace)
}

/// One compact line per call: `403 delete networking.k8s.io/ingresses shop/web (audit 1a2b3c4d)`.
pub fn evidence(call: &ApiCall) -> String {
    let code = call.code.map_or("-".to_string(), |c| c.to_string());
    let target = match (&call.namespace, &call.name) {
        (Some(ns), Some(n)) => format!(" {ns}/{n}"),
        (Some(ns), None) => format!(" in {ns}"),
        (None, Some(n)) => format!(" {n}"),
        (None, None) => String::new(),
    };
    let by = match &call.impersonated {
        Some(i) if *i != call.user => format!(" as {i} by {}", call.user),
        _ => String::new(),
    };
    let id: String = call.audit_id.chars().take(8).collect();
    format!(
        "{code} {} {}{target}{by} (audit {id})",
        call.verb,
        call.resource_path()
    )
}
