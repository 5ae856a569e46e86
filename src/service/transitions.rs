//! Applying events to stored requests: decide, delete bindings first when access ends,
//! compare-and-swap, queue the chat messages. What follows a commit is in `effects.rs`.

use super::effects::FollowUp;
use super::{Error, Result, Service};
use crate::domain::audit::AuditDraft;
use crate::domain::grant;
use crate::domain::identity::Platform;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{self, Transition};
use crate::domain::request::{AccessRequest, Effect, Event, State};
use crate::ports::{OutboxItem, OutboxMessage, StoreError, Versioned};
use tracing::{info, instrument, warn};

/// How often a compare-and-swap is retried against concurrent writers before giving up.
const CAS_ATTEMPTS: usize = 8;

impl Service {
    /// Loads a request or refuses with "no such request".
    pub(crate) async fn load(&self, id: RequestId) -> Result<Versioned<AccessRequest>> {
        self.db
            .run(move |s| s.get(id))
            .await?
            .ok_or(Error::Domain(crate::domain::DomainError::NotFound(id)))
    }

    /// Applies `event` to request `id` and carries out what follows from it (creating the
    /// bindings of an approval, refreshing them after an extension). Returns the request as the
    /// event left it; a follow-up that fails is retried by the deadline worker.
    #[instrument(skip_all, fields(request_id = %id))]
    pub async fn apply(&self, id: RequestId, event: Event) -> Result<AccessRequest> {
        let (req, next) = self.commit(id, event).await?;
        self.follow_through(id, next).await;
        Ok(req)
    }

    /// Commits one transition: decides, deletes bindings first when the transition ends access,
    /// stores the result by compare-and-swap (reloading and deciding again on conflict) with its
    /// chat messages. Returns the stored request and what must happen next.
    pub(crate) async fn commit(
        &self,
        id: RequestId,
        event: Event,
    ) -> Result<(AccessRequest, Option<FollowUp>)> {
        // Whether this call deleted the bindings for a decision that a concurrent writer then
        // overtook (an extension approved while the expiry deleted them).
        let mut deleted = false;
        // When this call deleted the bindings, for the expiry lateness.
        let mut deleted_at = None;
        for _ in 0..CAS_ATTEMPTS {
            let cur = self.load(id).await?;
            let now = self.clock.now();
            let decided = lifecycle::decide(&cur.value, &event, &self.policy, now);
            let ends_access = decided
                .as_ref()
                .is_ok_and(|t| t.effects.contains(&Effect::DeleteBindings));
            if deleted && !ends_access {
                // The request stayed Active after all: give it its bindings back before anyone
                // is told anything, so a grant is never Active without them.
                self.restore_grant(&cur.value).await?;
                deleted = false;
                deleted_at = None;
            }
            let t = decided?;
            if ends_access {
                // NB: before the commit, so a crash never leaves access behind a final record.
                let n = self.delete_grant(&cur.value).await?;
                deleted = true;
                deleted_at = Some(self.clock.now());
                info!(deleted = n, "bindings deleted");
            }
            let outbox = self.outbox_for(&t);
            let (req, audit, items) = (t.request.clone(), t.audit.clone(), outbox.clone());
            let written = self
                .db
                .run(move |s| s.update(cur.version, &req, audit, now, &items))
                .await;
            match written {
                Ok(_) => {
                    self.count_transition(
                        cur.value.state,
                        &t.request,
                        &event,
                        &t.audit,
                        deleted_at,
                    );
                    if cur.value.state == State::Active || t.request.state == State::Active {
                        self.grants_generation
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    // A new deadline may be earlier than the one the worker sleeps on, and new
                    // chat messages wait for the outbox.
                    self.wake.notify_one();
                    if !outbox.is_empty() {
                        self.outbox_wake.notify_one();
                    }
                    let next = FollowUp::of(&t);
                    return Ok((t.request, next));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended(id))
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

    /// Re-creates the bindings of an Active request whose bindings were deleted for a decision
    /// that lost its compare-and-swap; a request in any other state keeps none.
    async fn restore_grant(&self, req: &AccessRequest) -> Result<()> {
        let (State::Active, Some(expires_at)) = (req.state, req.expires_at) else {
            return Ok(());
        };
        warn!(request_id = %req.id, "a concurrent change kept the grant; restoring its bindings");
        let plan = grant::plan(req, &self.policy, &self.instance, expires_at)?;
        Ok(self.cluster.apply(&plan).await?)
    }

    /// The chat messages of a transition: for a person, on their platform if it is enabled; for
    /// a system (a ServiceAccount asking through the API), the cards and alerts on every
    /// enabled platform, and no direct messages (nobody to send them to: the caller polls).
    pub(crate) fn outbox_for(&self, t: &Transition) -> Vec<OutboxItem> {
        let req = &t.request;
        let platforms: Vec<Platform> = match req.requester.platform {
            Platform::Kubernetes => self.chat.approvers_channels.keys().copied().collect(),
            p if self.chat.approvers_channels.contains_key(&p) => vec![p],
            _ => Vec::new(),
        };
        let person = req.requester.is_chat_user();
        let request_id = req.id;
        let messages: Vec<OutboxMessage> = t
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::PostCard => Some(OutboxMessage::PostCard { request_id }),
                Effect::UpdateCard => Some(OutboxMessage::UpdateCard { request_id }),
                Effect::Notify(notice) if person => Some(OutboxMessage::Notify {
                    request_id,
                    user: req.requester.clone(),
                    notice: notice.clone(),
                }),
                Effect::Notify(_) => None,
                Effect::Alert => Some(OutboxMessage::Alert { request_id }),
                Effect::ApplyBindings | Effect::DeleteBindings => None,
            })
            .collect();
        platforms
            .iter()
            .flat_map(|&platform| {
                messages.iter().map(move |message| OutboxItem {
                    platform,
                    message: message.clone(),
                })
            })
            .collect()
    }

    /// Audits a refusal of `kind` (a fixed word) unless this minute's cap for it is reached
    /// (`limit.rs`); the next audited one says how many were left out. A person jitpe knows can
    /// still not grow the log without bound by repeating a refused command.
    pub(crate) async fn audit_refusal(&self, kind: &'static str, draft: AuditDraft) {
        let now = self.clock.now();
        if let Some(left_out) = self.refusals.admit(("service", kind), now.as_second()) {
            let draft = match left_out {
                0 => draft,
                n => draft.with("not_audited_before", n),
            };
            self.audit(draft).await;
        }
    }

    /// Records an audit event that is not a transition (refusals, auth failures, reconcile).
    pub async fn audit(&self, draft: AuditDraft) {
        let at = self.clock.now();
        if let Err(e) = self.db.run(move |s| s.append_audit(draft, at)).await {
            warn!(error = %e, "audit event could not be stored");
        }
    }
}
