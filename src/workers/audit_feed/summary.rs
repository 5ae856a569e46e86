//! The audit channel's summary of authentication failures: unauthenticated requests are
//! audited in the store (capped, `service::limit`), but posting each as its own line would let a
//! flood of forged requests keep the channel minutes behind the real events. The feed skips
//! them and posts at most one line a minute that counts them per route and kind.

use crate::domain::audit::AuditRecord;
use std::collections::BTreeMap;

/// The audit action of an unauthenticated request (`chat::inbound::Inbound::refuse`).
pub const AUTH_FAILED: &str = "auth_failed";

/// Whether `rec` is posted as a count in the summary rather than as its own line.
pub fn summarised(rec: &AuditRecord) -> bool {
    rec.action == AUTH_FAILED
}

/// Counts of authentication failures per route and kind, over a run of records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuthFailures {
    counts: BTreeMap<(String, String), u64>,
    first: Option<u64>,
    last: u64,
}

impl AuthFailures {
    /// Counts `rec` if it is an authentication failure, with the failures its capped audit
    /// left out (`not_audited_before`).
    pub fn add(&mut self, rec: &AuditRecord) {
        if !summarised(rec) {
            return;
        }
        let field = |k: &str| rec.details.get(k).cloned().unwrap_or_else(|| "-".into());
        let left_out: u64 = rec
            .details
            .get("not_audited_before")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        *self
            .counts
            .entry((field("route"), field("kind")))
            .or_default() += 1 + left_out;
        self.first.get_or_insert(rec.seq);
        self.last = rec.seq;
    }

    /// The summary line, or `None` if there was no failure.
    pub fn line(&self) -> Option<String> {
        let first = self.first?;
        let total: u64 = self.counts.values().sum();
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|((route, kind), n)| format!("{n} × {route} {kind}"))
            .collect();
        let records = if first == self.last {
            format!("record #{first}")
        } else {
            format!("records #{first} to #{}", self.last)
        };
        Some(format!(
            "{total} refused unauthenticated request(s) since the last summary: {} ({records})",
            parts.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditDraft;
    use crate::domain::identity::Actor;
    use jiff::Timestamp;

    fn rec(seq: u64, action: &str, route: &str, kind: &str, left_out: u64) -> AuditRecord {
        let mut d = AuditDraft::new(Actor::system(), action, None)
            .with("route", route)
            .with("kind", kind);
        if left_out > 0 {
            d = d.with("not_audited_before", left_out);
        }
        AuditRecord::chain(d, seq, Timestamp::UNIX_EPOCH, "0")
    }

    #[test]
    fn failures_are_counted_per_route_and_kind_with_the_ones_left_out() {
        let mut f = AuthFailures::default();
        assert_eq!(f.line(), None);
        f.add(&rec(3, AUTH_FAILED, "/slack/commands", "signature", 0));
        f.add(&rec(4, "approved", "/x", "y", 0));
        f.add(&rec(7, AUTH_FAILED, "/slack/commands", "signature", 5));
        f.add(&rec(9, AUTH_FAILED, "/mattermost/actions", "malformed", 0));
        assert_eq!(
            f.line().unwrap(),
            "8 refused unauthenticated request(s) since the last summary: \
             1 × /mattermost/actions malformed, 7 × /slack/commands signature (records #3 to #9)"
        );
    }
}
