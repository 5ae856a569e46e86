//! The use report of a grant: what its grantee did while access was live, counted from the
//! audit stream. Bounded whatever the traffic: at most [`MAX_KINDS`] kinds of call are counted
//! by name (the rest together), and at most [`MAX_INGRESSES`] changed Ingresses are named.

use super::observation::ApiCall;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Kinds of call (`verb resource`) counted by name.
pub const MAX_KINDS: usize = 24;
/// Changed Ingresses named.
pub const MAX_INGRESSES: usize = 16;

/// What a grant was used for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// API calls counted.
    pub requests: u64,
    /// Of which answered 403.
    pub forbidden: u64,
    /// Calls by `verb resource` (`get networking.k8s.io/ingresses`).
    pub by_kind: BTreeMap<String, u64>,
    /// Calls of kinds beyond [`MAX_KINDS`].
    pub other: u64,
    /// Ingresses changed successfully (`namespace/name`), at most [`MAX_INGRESSES`].
    pub ingresses_changed: BTreeSet<String>,
    /// Changed Ingresses beyond [`MAX_INGRESSES`].
    pub more_ingresses: u64,
    /// When counting began, if later than the grant's start (jitpe restarted meanwhile).
    pub counted_from: Option<Timestamp>,
    /// Falco alerts about the grantee.
    #[serde(default)]
    pub falco_alerts: u64,
}

const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

impl Usage {
    /// Counts one call of the grantee.
    pub fn count(&mut self, call: &ApiCall) {
        self.requests += 1;
        if call.code == Some(403) {
            self.forbidden += 1;
        }
        let kind = match call.resource.is_empty() {
            true => format!("{} (non-resource)", call.verb),
            false => format!("{} {}", call.verb, call.resource_path()),
        };
        let room = self.by_kind.len() < MAX_KINDS;
        match self.by_kind.get_mut(&kind) {
            Some(n) => *n += 1,
            None if room => drop(self.by_kind.insert(kind, 1)),
            None => self.other += 1,
        }
        let ok = call.code.is_some_and(|c| (200..300).contains(&c));
        let ingress = call.group == "networking.k8s.io" && call.resource == "ingresses";
        if ok && ingress && call.subresource.is_empty() && WRITES.contains(&call.verb.as_str()) {
            let name = format!(
                "{}/{}",
                call.namespace.as_deref().unwrap_or("-"),
                call.name.as_deref().unwrap_or("*")
            );
            if !self.ingresses_changed.contains(&name) {
                match self.ingresses_changed.len() < MAX_INGRESSES {
                    true => drop(self.ingresses_changed.insert(name)),
                    false => self.more_ingresses += 1,
                }
            }
        }
    }

    /// One line: `12 API requests (get networking.k8s.io/ingresses ×10, list services ×2),
    /// 1 forbidden; Ingresses changed: shop/web`.
    pub fn summary(&self) -> String {
        if self.requests == 0 && self.falco_alerts == 0 {
            return "no API requests seen".into();
        }
        let mut kinds: Vec<(&String, &u64)> = self.by_kind.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut top: Vec<String> = kinds
            .iter()
            .take(5)
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        let rest = self.requests - kinds.iter().take(5).map(|(_, n)| **n).sum::<u64>();
        if rest > 0 {
            top.push(format!("{rest} other"));
        }
        let mut s = format!("{} API requests ({})", self.requests, top.join(", "));
        s.push_str(&format!(", {} forbidden", self.forbidden));
        if self.falco_alerts > 0 {
            s.push_str(&format!(", {} Falco alerts", self.falco_alerts));
        }
        if !self.ingresses_changed.is_empty() {
            let names: Vec<&str> = self.ingresses_changed.iter().map(String::as_str).collect();
            s.push_str(&format!("; Ingresses changed: {}", names.join(", ")));
            if self.more_ingresses > 0 {
                s.push_str(&format!(" and {} more", self.more_ingresses));
            }
        }
        if let Some(from) = self.counted_from {
            s.push_str(&format!(" (counted from {from}, when jitpe restarted)"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::anomaly::fixtures::call;

    #[test]
    fn counts_calls_by_kind_forbidden_and_changed_ingresses() {
        let mut u = Usage::default();
        u.count(&call("delete", "networking.k8s.io", "ingresses", ""));
        let mut ok = call("update", "networking.k8s.io", "ingresses", "");
        ok.code = Some(200);
        u.count(&ok);
        u.count(&ok);
        assert_eq!((u.requests, u.forbidden), (3, 1));
        assert_eq!(u.by_kind["update networking.k8s.io/ingresses"], 2);
        assert_eq!(u.ingresses_changed.iter().collect::<Vec<_>>(), ["shop/web"]);
        let s = u.summary();
        assert!(s.starts_with("3 API requests (update networking.k8s.io/ingresses ×2, delete networking.k8s.io/ingresses ×1), 1 forbidden; Ingresses changed: shop/web"), "{s}");
    }

    #[test]
    fn stays_bounded_under_many_kinds_and_ingresses() {
        let mut u = Usage::default();
        for i in 0..1_000 {
            let mut c = call(
                &format!("verb{}", i % 100).replace(|c: char| c.is_ascii_digit(), "x"),
                "",
                &format!("r{i}"),
                "",
            );
            c.code = Some(201);
            c.group = "networking.k8s.io".into();
            c.resource = if i % 2 == 0 {
                "ingresses".into()
            } else {
                format!("r{i}")
            };
            c.verb = "create".into();
            c.name = Some(format!("ing{i}"));
            u.count(&c);
        }
        assert!(u.by_kind.len() <= MAX_KINDS);
        assert_eq!(u.ingresses_changed.len(), MAX_INGRESSES);
        assert_eq!(u.requests, 1_000);
        assert_eq!(u.by_kind.values().sum::<u64>() + u.other, 1_000);
        assert!(u.summary().contains("and 484 more"), "{}", u.summary());
    }
}
