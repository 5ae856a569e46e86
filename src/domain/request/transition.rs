//! What an accepted event produces, and the small builders that both the state machine
//! (`lifecycle.rs`) and the voting rules (`voting.rs`) use. A leaf: it uses neither of them.

use super::{AccessRequest, Effect};
use crate::domain::audit::AuditDraft;
use crate::domain::error::DomainError;
use crate::domain::identity::Actor;
use jiff::Timestamp;
use std::time::Duration;

/// The outcome of an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The request after the event.
    pub request: AccessRequest,
    /// What the adapters must do (see [`Effect`] for ordering).
    pub effects: Vec<Effect>,
    /// The one audit event of this transition.
    pub audit: AuditDraft,
}

/// Adds a std duration to a timestamp, refusing overflow.
pub fn add(t: Timestamp, d: Duration) -> Result<Timestamp, DomainError> {
    t.checked_add(d)
        .map_err(|_| DomainError::TimeOutOfRange(format!("{t} + {d:?}")))
}

/// Effects and audit draft of an accepted event.
pub(super) type Outcome = (Vec<Effect>, AuditDraft);

/// The audit draft of `action` on `req` by `by`, which a transition's details are added to.
pub(super) fn draft(by: &Actor, action: &str, req: &AccessRequest) -> AuditDraft {
    AuditDraft::new(by.clone(), action, Some(req.id))
}
