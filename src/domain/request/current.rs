//! Whether a queued message still describes the request as it stands. Chat messages wait in the
//! outbox (outages, rate limits, a restart), so the outbox asks this at delivery time and never
//! reports a state that is over: "access is active" for access that has expired, an ACTIVE card
//! for a grant past its end.

use super::{AccessRequest, Notice, State};
use jiff::Timestamp;

impl AccessRequest {
    /// Whether a deadline that ends the current state has passed without being handled yet
    /// (access past its expiry, a pending request past its round): the stored state is about to
    /// change, and showing it would show the past.
    pub fn overdue(&self, now: Timestamp) -> bool {
        match self.state {
            State::Active => self.expires_at.is_some_and(|t| t <= now),
            State::Pending => self.pending_until <= now,
            _ => false,
        }
    }
}

impl Notice {
    /// Whether this notice is still true of `req` at `now`. Notices about live access need the
    /// access to be live still (a warning also needs the warning to be the current one: an
    /// extension since then moved the end); a notice that a request ended stays true.
    pub fn is_current(&self, req: &AccessRequest, now: Timestamp) -> bool {
        let live = req.state == State::Active && !req.overdue(now);
        match self {
            Notice::Approved
            | Notice::Extended
            | Notice::ExtensionDenied { .. }
            | Notice::ExtensionTimedOut => live,
            Notice::ExpiringSoon => live && req.warned,
            Notice::CardUndelivered { .. } => req.state == State::Pending && !req.overdue(now),
            Notice::Denied { .. }
            | Notice::Expired
            | Notice::Revoked { .. }
            | Notice::RevokedByRule { .. }
            | Notice::TimedOut
            | Notice::Failed { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;
    use jiff::SignedDuration;

    fn active_until(end: Timestamp) -> AccessRequest {
        let mut req = in_state(State::Active);
        req.expires_at = Some(end);
        req.warned = true;
        req
    }

    #[test]
    fn active_access_past_its_end_is_overdue_and_its_live_notices_are_not_current() {
        let end = Timestamp::from_second(1_000).unwrap();
        let req = active_until(end);
        let before = end - SignedDuration::from_secs(1);
        assert!(!req.overdue(before));
        assert!(req.overdue(end));
        for notice in [Notice::Approved, Notice::ExpiringSoon, Notice::Extended] {
            assert!(notice.is_current(&req, before), "{notice:?}");
            assert!(!notice.is_current(&req, end), "{notice:?}");
        }
    }

    #[test]
    fn a_warning_from_before_an_extension_and_live_notices_of_ended_access_are_not_current() {
        let end = Timestamp::from_second(1_000).unwrap();
        let now = end - SignedDuration::from_secs(60);
        let mut extended = active_until(end);
        extended.warned = false;
        assert!(!Notice::ExpiringSoon.is_current(&extended, now));
        let mut expired = active_until(end);
        expired.state = State::Expired;
        assert!(!Notice::Approved.is_current(&expired, now));
        assert!(
            Notice::Expired.is_current(&expired, now),
            "an ending stays true"
        );
    }

    #[test]
    fn a_pending_request_past_its_round_is_overdue() {
        let req = in_state(State::Pending);
        assert!(!req.overdue(req.pending_until - SignedDuration::from_secs(1)));
        assert!(req.overdue(req.pending_until));
    }
}
