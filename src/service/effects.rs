//! The follow-ups of committed transitions, and the one loop that carries them out.
//!
//! A use case commits one transition and returns what must happen next as a [`FollowUp`];
//! [`Service::run_effects`] carries the chain out step by step (create bindings, record the
//! activation or the failure, clean up after a grant that ended meanwhile), so no async function
//! calls itself back through another.
//!
//! Crash-safe order: `Approved` is stored before the bindings are created, and `Active` only
//! after they exist; ending access deletes the bindings before the final state is stored (inside
//! [`Service::commit`]). A crash between two steps leaves a record the deadline worker resumes.

use super::{Error, Result, Service};
use crate::domain::grant;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{Transition, add};
use crate::domain::request::{AccessRequest, Effect, Event, State};
use jiff::Timestamp;
use tracing::{instrument, warn};

/// What must happen after a commit, one step at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// Create the bindings of an Approved request, or refresh those of an Active one (after an
    /// extension moved its expiry).
    Activate(RequestId),
    /// The bindings planned from `planned` exist until `expires_at`: record the request Active.
    RecordActive {
        /// The request as it was when its bindings were planned.
        planned: AccessRequest,
        /// The expiry written into the bindings.
        expires_at: Timestamp,
    },
    /// The cluster refused the bindings for good: end the request Failed.
    RecordFailed {
        /// The request.
        id: RequestId,
        /// The cluster's refusal.
        error: String,
    },
    /// The request ended while its bindings were being created: delete them again.
    DeleteEnded(AccessRequest),
}

impl FollowUp {
    /// The follow-up a committed transition asks for, if any.
    pub(crate) fn of(t: &Transition) -> Option<Self> {
        t.effects
            .contains(&Effect::ApplyBindings)
            .then_some(Self::Activate(t.request.id))
    }
}

impl Service {
    /// Carries out `next` and every follow-up it leads to, in order, until none is left.
    pub(crate) async fn run_effects(&self, mut next: Option<FollowUp>) -> Result<()> {
        while let Some(step) = next.take() {
            next = self.step(step).await?;
        }
        Ok(())
    }

    /// Carries out the follow-ups of a transition of request `id` that is already stored. Their
    /// failure does not undo it: the record stays Approved (or Active with the old expiry) and
    /// the deadline worker retries, so it is logged rather than returned.
    pub(crate) async fn follow_through(&self, id: RequestId, next: Option<FollowUp>) {
        if let Err(e) = self.run_effects(next).await {
            warn!(request_id = %id, error = %e, "activation deferred");
        }
    }

    /// Creates the bindings of an approved request and marks it Active; refreshes the bindings
    /// of an active one (after an extension). Permanent cluster errors end the request Failed.
    #[instrument(skip_all, fields(request_id = %id))]
    pub async fn activate(&self, id: RequestId) -> Result<()> {
        self.run_effects(Some(FollowUp::Activate(id))).await
    }

    /// One step; returns the next one.
    async fn step(&self, step: FollowUp) -> Result<Option<FollowUp>> {
        match step {
            FollowUp::Activate(id) => self.create_bindings(id).await,
            FollowUp::RecordActive {
                planned,
                expires_at,
            } => self.record_active(planned, expires_at).await,
            FollowUp::RecordFailed { id, error } => {
                let (_, next) = self.commit(id, Event::ActivationFailed { error }).await?;
                Ok(next)
            }
            FollowUp::DeleteEnded(req) => {
                self.delete_grant(&req).await?;
                Ok(None)
            }
        }
    }

    /// Creates (or refreshes) the bindings of request `id`.
    async fn create_bindings(&self, id: RequestId) -> Result<Option<FollowUp>> {
        let req = self.load(id).await?.value;
        let expires_at = match (req.state, req.expires_at) {
            (State::Approved, _) => add(self.clock.now(), req.duration)?,
            (State::Active, Some(exp)) => exp,
            _ => return Ok(None),
        };
        let plan = grant::plan(&req, &self.policy, &self.instance, expires_at)?;
        match self.cluster.apply(&plan).await {
            Ok(()) if req.state == State::Active => Ok(None),
            Ok(()) => Ok(Some(FollowUp::RecordActive {
                planned: req,
                expires_at,
            })),
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => Ok(Some(FollowUp::RecordFailed {
                id,
                error: e.to_string(),
            })),
        }
    }

    /// Records the request Active now that its bindings exist.
    async fn record_active(
        &self,
        planned: AccessRequest,
        expires_at: Timestamp,
    ) -> Result<Option<FollowUp>> {
        match self
            .commit(planned.id, Event::Activated { expires_at })
            .await
        {
            Ok((_, next)) => Ok(next),
            Err(Error::Domain(e)) => {
                // Another activation won (the worker and a click race): its bindings are the ones
                // just refreshed, so they stay. Only a request that ended meanwhile (revoked while
                // its bindings were being created) has them removed again.
                if self.load(planned.id).await?.value.state.is_final() {
                    warn!(request_id = %planned.id, error = %e,
                        "request ended during activation; deleting its bindings");
                    return Ok(Some(FollowUp::DeleteEnded(planned)));
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
