//! Applying events to stored requests: decide, order the side effects, compare-and-swap.

use super::{Error, Result, Service};
use crate::domain::audit::AuditDraft;
use crate::domain::grant;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{self, Transition, add};
use crate::domain::request::{AccessRequest, Effect, Event, State};
use crate::ports::{OutboxItem, OutboxMessage, StoreError, Versioned};
use tracing::{info, instrument, warn};

/// How often a compare-and-swap is retried against concurrent writers before giving up.
const CAS_ATTEMPTS: usize = 8;

impl Service {
    /// Loads a request or refuses with "no such request".
    pub(crate) fn load(&self, id: RequestId) -> Result<Versioned<AccessRequest>> {
        self.store
            .get(id)?
            .ok_or(Error::Domain(crate::domain::DomainError::NotFound(id)))
    }

    /// Applies `event` to request `id`: decides, deletes bindings first when the transition ends
    /// access, commits by compare-and-swap (reloading and deciding again on conflict), queues the
    /// chat messages, then creates bindings when the transition approved access.
    #[instrument(skip_all, fields(request_id = %id))]
    pub async fn apply(&self, id: RequestId, event: Event) -> Result<AccessRequest> {
        for _ in 0..CAS_ATTEMPTS {
            let cur = self.load(id)?;
            let now = self.clock.now();
            let t = lifecycle::decide(&cur.value, &event, &self.policy, now)?;
            if t.effects.contains(&Effect::DeleteBindings) {
                // NB: before the commit, so a crash never leaves access behind a final record.
                let n = self.delete_grant(&cur.value).await?;
                info!(deleted = n, "bindings deleted");
            }
            let outbox = self.outbox_for(&t);
            match self
                .store
                .update(cur.version, &t.request, t.audit.clone(), now, &outbox)
            {
                Ok(_) => {
                    self.after_commit(&t).await;
                    return Ok(t.request);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended(id))
    }

    /// What happens after a commit: wake the workers for new deadlines and new chat messages,
    /// create bindings.
    pub(crate) async fn after_commit(&self, t: &Transition) {
        self.wake.notify_one();
        if !self.outbox_for(t).is_empty() {
            self.outbox_wake.notify_one();
        }
        if t.effects.contains(&Effect::ApplyBindings) {
            // Boxed: activate → apply → after_commit is a cycle of async fns.
            if let Err(e) = Box::pin(self.activate(t.request.id)).await {
                // The record stays Approved (or Active with the old annotation); the worker retries.
                warn!(request_id = %t.request.id, error = %e, "activation deferred");
            }
        }
    }

    /// Creates the bindings of an approved request and marks it Active; refreshes the bindings
    /// of an active one (after an extension). Permanent cluster errors end the request Failed.
    #[instrument(skip_all, fields(request_id = %id))]
    pub async fn activate(&self, id: RequestId) -> Result<()> {
        let cur = self.load(id)?;
        let req = &cur.value;
        let now = self.clock.now();
        let expires_at = match (req.state, req.expires_at) {
            (State::Approved, _) => add(now, req.duration)?,
            (State::Active, Some(exp)) => exp,
            _ => return Ok(()),
        };
        let plan = grant::plan(req, &self.policy, &self.instance, expires_at)?;
        match self.cluster.apply(&plan).await {
            Ok(()) if req.state == State::Active => Ok(()),
            Ok(()) => match self.apply(id, Event::Activated { expires_at }).await {
                Ok(_) => Ok(()),
                Err(Error::Domain(e)) => {
                    // Another activation won (the worker and a click race), or the request was
                    // revoked while its bindings were being created: only then remove them again.
                    if self.load(id)?.value.state.is_final() {
                        warn!(error = %e, "request ended during activation; deleting its bindings");
                        self.delete_grant(req).await?;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                let error = e.to_string();
                self.apply(id, Event::ActivationFailed { error }).await?;
                Ok(())
            }
        }
    }

    /// Deletes the objects of a request's grant by name, bindings first; returns how many still
    /// existed. If the request's role has left the policy since, its names cannot be derived,
    /// so this instance's objects labelled with the request id are deleted instead.
    pub(crate) async fn delete_grant(&self, req: &AccessRequest) -> Result<usize> {
        let objects = match grant::objects(req, &self.policy, &self.instance) {
            Ok(objects) => objects,
            Err(e) => {
                warn!(request_id = %req.id, error = %e, "deleting the grant's objects by label");
                let found = self
                    .cluster
                    .list_managed(&self.instance, Some(req.id))
                    .await?;
                let mut objects: Vec<_> = found.iter().map(|o| o.object_ref()).collect();
                objects.sort_by_key(|o| o.kind);
                objects
            }
        };
        Ok(self.cluster.delete_objects(&objects).await?)
    }

    /// The chat messages of a transition, for the requester's platform if it is enabled.
    pub(crate) fn outbox_for(&self, t: &Transition) -> Vec<OutboxItem> {
        let req = &t.request;
        let platform = req.requester.platform;
        if !self.chat.approvers_channels.contains_key(&platform) {
            return Vec::new();
        }
        let request_id = req.id;
        t.effects
            .iter()
            .filter_map(|e| match e {
                Effect::PostCard => Some(OutboxMessage::PostCard { request_id }),
                Effect::UpdateCard => Some(OutboxMessage::UpdateCard { request_id }),
                Effect::Notify(notice) => Some(OutboxMessage::Notify {
                    request_id,
                    user: req.requester.clone(),
                    notice: notice.clone(),
                }),
                Effect::ApplyBindings | Effect::DeleteBindings => None,
            })
            .map(|message| OutboxItem { platform, message })
            .collect()
    }

    /// Records an audit event that is not a transition (refusals, auth failures, reconcile).
    pub fn audit(&self, draft: AuditDraft) {
        if let Err(e) = self.store.append_audit(draft, self.clock.now()) {
            warn!(error = %e, "audit event could not be stored");
        }
    }
}
