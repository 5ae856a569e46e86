//! The ledger of use reports: what each watched grant's grantee did, counted as observations
//! are evaluated, and written onto the grant (`Service::report_usage`) a grace period after it
//! ended, so that calls still in the apiserver's batch when it ended are counted too. Memory
//! follows the live grants, never the history.

use crate::domain::anomaly::{GrantIndex, Observation, Usage, WatchedGrant};
use crate::domain::ids::RequestId;
use crate::service::Service;
use jiff::Timestamp;
use std::collections::HashMap;
use std::time::Duration;
use tracing::warn;

/// How long after a grant ended its report waits for late batches (the apiserver sends one
/// at least every `--audit-webhook-batch-max-wait`, 1 s as recommended, and retries).
pub const REPORT_GRACE: Duration = Duration::from_secs(10);

struct Closing {
    grant: WatchedGrant,
    usage: Usage,
    ended: Timestamp,
    report_at: Timestamp,
}

/// Usage of the live grants, and of the ended ones waiting for their report.
pub(super) struct Ledger {
    /// When this worker started: a grant active before then is counted from here.
    started: Timestamp,
    live: HashMap<RequestId, (WatchedGrant, Usage)>,
    closing: HashMap<RequestId, Closing>,
}

impl Ledger {
    pub(super) fn new(started: Timestamp) -> Self {
        Self {
            started,
            live: HashMap::new(),
            closing: HashMap::new(),
        }
    }

    /// Starts counting for grants new in `index`; grants gone from it wait for their report.
    pub(super) fn follow(&mut self, index: &GrantIndex, now: Timestamp) {
        for g in index.all() {
            if !self.live.contains_key(&g.id) && !self.closing.contains_key(&g.id) {
                let usage = Usage {
                    counted_from: (self.started > g.since).then_some(self.started),
                    ..Usage::default()
                };
                self.live.insert(g.id, (g.clone(), usage));
            }
        }
        let gone: Vec<RequestId> = self
            .live
            .keys()
            .filter(|id| !index.contains(**id))
            .copied()
            .collect();
        for id in gone {
            if let Some((grant, usage)) = self.live.remove(&id) {
                let report_at = now.checked_add(REPORT_GRACE).unwrap_or(now);
                self.closing.insert(
                    id,
                    Closing {
                        grant,
                        usage,
                        ended: now,
                        report_at,
                    },
                );
            }
        }
    }

    /// Counts one observation for the grants (live, or ended after it was made) of its user.
    pub(super) fn count(&mut self, index: &GrantIndex, obs: &Observation) {
        match obs {
            Observation::Call(call) => {
                for g in index.grants_of(call) {
                    if let Some((_, u)) = self.live.get_mut(&g.id) {
                        u.count(call);
                    }
                }
                for c in self.closing.values_mut() {
                    if call.is_by(&c.grant.user) && call.at >= c.grant.since && call.at <= c.ended {
                        c.usage.count(call);
                    }
                }
            }
            Observation::Falco(alert) => {
                let Some(user) = &alert.user else { return };
                let live = self.live.values_mut().map(|(g, u)| (&*g, u));
                let closing = self.closing.values_mut().map(|c| (&c.grant, &mut c.usage));
                for (g, u) in live.chain(closing) {
                    if g.user == *user && alert.at >= g.since {
                        u.falco_alerts += 1;
                    }
                }
            }
        }
    }

    /// Writes the reports whose grace period is over; a failed write is tried again later.
    pub(super) async fn report_due(&mut self, service: &Service, now: Timestamp) {
        let due: Vec<RequestId> = self
            .closing
            .iter()
            .filter(|(_, c)| c.report_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let usage = self.closing[&id].usage.clone();
            match service.report_usage(id, usage).await {
                Ok(_) => drop(self.closing.remove(&id)),
                Err(e) => warn!(request_id = %id, error = %e, "use report not written; retrying"),
            }
        }
    }

    /// Grants counted, live and closing (for tests and metrics).
    #[cfg(test)]
    pub(super) fn tracked(&self) -> (usize, usize) {
        (self.live.len(), self.closing.len())
    }
}
