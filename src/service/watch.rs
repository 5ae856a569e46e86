//! The use cases of dynamic revocation: revoking a grant because a rule matched what its
//! grantee did, and writing a grant's use report once it has ended. Both go through `commit`
//! like every transition: bindings deleted before the record, one audit event each.

use super::{Error, Result, Service};
use crate::domain::DomainError;
use crate::domain::anomaly::{Usage, Verdict};
use crate::domain::ids::RequestId;
use crate::domain::request::{AccessRequest, Event};
use tracing::{info, instrument};

impl Service {
    /// Revokes the grant a rule matched. `Ok(None)` when the grant had already ended (expired,
    /// revoked by someone else, or by an earlier verdict): there is nothing left to take back.
    #[instrument(skip_all, fields(request_id = %v.request_id, rule = %v.rule))]
    pub async fn revoke_by_rule(&self, v: &Verdict) -> Result<Option<AccessRequest>> {
        let event = Event::RuleRevoke {
            rule: v.rule.clone(),
            evidence: v.evidence.clone(),
        };
        match self.apply(v.request_id, event).await {
            Ok(req) => {
                info!("grant revoked by rule");
                Ok(Some(req))
            }
            Err(e) if already_over(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the use report of grant `id`, which has ended, and refreshes its card. `Ok(false)`
    /// when there is nothing to report on (never active, or reported already).
    pub async fn report_usage(&self, id: RequestId, usage: Usage) -> Result<bool> {
        match self.apply(id, Event::ReportUsage { usage }).await {
            Ok(_) => Ok(true),
            Err(e) if already_over(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether `e` says the request is past the point where the event applies.
fn already_over(e: &Error) -> bool {
    matches!(
        e,
        Error::Domain(DomainError::AlreadyDecided { .. } | DomainError::NotFound(_))
    )
}
