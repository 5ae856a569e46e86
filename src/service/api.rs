//! The use cases of the systems API (`/api/v1`): the lifecycle and policy of chat, for a
//! ServiceAccount, answering with the request itself instead of chat text. A caller sees and
//! acts on its own requests only.

use super::{Result, Service};
use crate::domain::DomainError;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::NewRequest;
use crate::domain::request::{AccessRequest, Event, State};
use std::time::Duration;

impl Service {
    /// Checks and stores `new` for its requester, a system; `None` when the caller already used
    /// `idempotency_key` (a retried call). Answers the request as it stands once its follow-up
    /// (activation after auto-approval) ran.
    pub async fn api_submit(
        &self,
        new: NewRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Option<AccessRequest>> {
        // Scoped to the caller, so one system's key can never collide with another's (or with a
        // chat platform's delivery ids).
        let key = idempotency_key.map(|k| format!("api|{}|{k}", new.requester));
        let Some(stored) = self.store_new(new, key.as_deref()).await? else {
            return Ok(None);
        };
        Ok(Some(self.load(stored.id).await?.value))
    }

    /// Request `id`, if `caller` asked for it; anyone else's is "not found", so a system cannot
    /// learn about other requests.
    pub async fn api_get(&self, caller: &Actor, id: RequestId) -> Result<AccessRequest> {
        let cur = self.load(id).await?;
        if cur.value.requester != *caller {
            return Err(DomainError::NotFound(id).into());
        }
        Ok(cur.value)
    }

    /// Ends `caller`'s request `id` now (a pipeline step finished early, or was interrupted):
    /// an active (or approved) one is revoked, a pending one cancelled, so nobody approves
    /// access that is no longer wanted.
    pub async fn api_revoke(&self, caller: &Actor, id: RequestId) -> Result<AccessRequest> {
        let current = self.api_get(caller, id).await?;
        let by = caller.clone();
        let event = match current.state {
            State::Pending => Event::Cancel { by },
            _ => Event::Revoke {
                by,
                reason: "revoked through the API".into(),
            },
        };
        self.refusable(caller, id, event).await
    }

    /// Asks the approvers to extend `caller`'s Active request `id` by `duration`.
    pub async fn api_extend(
        &self,
        caller: &Actor,
        id: RequestId,
        duration: Duration,
        reason: String,
    ) -> Result<AccessRequest> {
        self.api_get(caller, id).await?;
        let event = Event::RequestExtension {
            by: caller.clone(),
            duration,
            reason,
        };
        self.refusable(caller, id, event).await
    }
}
