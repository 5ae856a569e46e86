//! What every stored transition tells the operator: one info line with the request id, the step,
//! the actor and its platform, and the lifecycle counters and expiry lateness of `/metrics`.
//! Called only after the store took the transition, so a compare-and-swap that lost is neither
//! logged as done nor counted.

use super::Service;
use crate::domain::audit::AuditDraft;
use crate::domain::identity::Platform;
use crate::domain::request::{AccessRequest, Event, State};
use crate::metrics::{Cause, Step};
use jiff::Timestamp;
use tracing::info;

impl Service {
    /// A new request was stored (auto-approved ones count as approved too).
    pub(crate) fn count_new(&self, req: &AccessRequest) {
        self.metrics.step(Step::requested);
        if req.state == State::Approved {
            self.metrics.step(Step::approved);
        }
        info!(
            request_id = %req.id,
            state = req.state.as_str(),
            actor = %req.requester.id,
            platform = %req.requester.platform,
            role = %req.role,
            namespace = %req.namespace,
            "request stored"
        );
    }

    /// A transition from `before` to `after` was stored; `deleted_at` is when its bindings were
    /// deleted, if this transition deleted them.
    pub(crate) fn count_transition(
        &self,
        before: State,
        after: &AccessRequest,
        event: &Event,
        audit: &AuditDraft,
        deleted_at: Option<Timestamp>,
    ) {
        info!(
            request_id = %after.id,
            action = %audit.action,
            from = before.as_str(),
            state = after.state.as_str(),
            actor = %audit.actor.id,
            platform = %audit.actor.platform,
            "request changed"
        );
        if before == after.state {
            return;
        }
        if let Some(step) = step(after.state) {
            self.metrics.step(step);
        }
        if after.state == State::Revoked {
            self.metrics.revoked(cause(event));
        }
        if let (State::Expired, Some(deleted), Some(due)) =
            (after.state, deleted_at, after.expires_at)
        {
            let late = deleted.duration_since(due);
            let late = std::time::Duration::try_from(late).unwrap_or_default();
            self.metrics.expiry_lateness(late);
        }
    }
}

/// The lifecycle step a state is the result of.
fn step(state: State) -> Option<Step> {
    Some(match state {
        State::Pending => return None,
        State::Approved => Step::approved,
        State::Active => Step::activated,
        State::Expired => Step::expired,
        State::Denied => Step::denied,
        State::TimedOut => Step::timed_out,
        State::Cancelled => Step::cancelled,
        State::Failed => Step::failed,
        State::Revoked => Step::revoked,
    })
}

/// Why a grant was revoked, by the event that revoked it.
fn cause(event: &Event) -> Cause {
    match event {
        Event::RuleRevoke { .. } => Cause::rule,
        Event::Revoke { by, .. } => match by.platform {
            Platform::Slack | Platform::Mattermost => Cause::chat,
            Platform::Kubernetes => Cause::api,
            Platform::Cli => Cause::breakglass,
            Platform::System => Cause::reconcile,
        },
        // NB: no other event revokes; counted as jitpe's own doing should one ever do.
        _ => Cause::reconcile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Actor;

    #[test]
    fn every_revoking_actor_has_its_own_cause() {
        let revoke = |platform| Event::Revoke {
            by: Actor::new(platform, "x"),
            reason: "r".into(),
        };
        assert_eq!(cause(&revoke(Platform::Slack)), Cause::chat);
        assert_eq!(cause(&revoke(Platform::Mattermost)), Cause::chat);
        assert_eq!(cause(&revoke(Platform::Kubernetes)), Cause::api);
        assert_eq!(cause(&revoke(Platform::Cli)), Cause::breakglass);
        assert_eq!(cause(&revoke(Platform::System)), Cause::reconcile);
        let rule = Event::RuleRevoke {
            rule: "secrets".into(),
            evidence: vec![],
        };
        assert_eq!(cause(&rule), Cause::rule);
    }

    #[test]
    fn only_a_state_reached_by_a_transition_is_a_step() {
        assert_eq!(step(State::Pending), None);
        assert_eq!(step(State::TimedOut), Some(Step::timed_out));
        assert_eq!(step(State::Active), Some(Step::activated));
    }
}
