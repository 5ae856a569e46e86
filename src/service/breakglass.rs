//! Applying break-glass revocations: a `jitpe revoke` run while `serve` held the store (its note
//! is read by `workers::breakglass`) becomes a revocation by that operator with their reason, as
//! if it had run here.

use super::{Error, Result, Service};
use crate::domain::audit::AuditDraft;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::request::Event;
use jiff::Timestamp;
use tracing::info;

impl Service {
    /// Records a break-glass revocation of `id` by `operator`, run at `run_at`: revokes the request as `cli:<operator>` (bindings first, as always: the
    /// command line deleted them already, so this finds none left). A request that had already
    /// ended, or that does not exist, still gets an audit record naming the operator, the reason
    /// and why nothing changed. Fails only when the store or the cluster did, so the caller keeps
    /// the note and tries again.
    pub async fn apply_break_glass(
        &self,
        id: RequestId,
        operator: &str,
        reason: &str,
        run_at: Timestamp,
    ) -> Result<()> {
        let by = Actor::new(Platform::Cli, operator);
        let event = Event::Revoke {
            by: by.clone(),
            reason: reason.to_string(),
        };
        match self.apply(id, event).await {
            Ok(req) => {
                info!(request_id = %req.id, operator, "break-glass revocation recorded");
                Ok(())
            }
            Err(Error::Domain(refused)) => {
                let draft = AuditDraft::new(by, "break_glass_revoke", Some(id))
                    .with("reason", reason)
                    .with("run_at", run_at)
                    .with("outcome", format!("nothing to change: {refused}"));
                self.audit(draft).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Audits a spool file that is not a note (it is set aside, not applied).
    pub async fn reject_break_glass(&self, file: &str, problem: &str) {
        let draft = AuditDraft::new(Actor::system(), "break_glass_note_rejected", None)
            .with("file", file)
            .with("problem", problem);
        self.audit(draft).await;
    }
}
