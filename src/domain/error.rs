//! Expected refusals of the domain: each says what is wrong and what to do instead.

use super::ids::{RequestId, RoleName};
use super::request::State;

/// Why the domain refused a command or an event. Nothing is stored when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The role is not in the policy.
    #[error("there is no role `{role}`: use one of {known} (see `/jit help`)")]
    UnknownRole {
        /// The role asked for.
        role: RoleName,
        /// The roles the policy has, comma separated.
        known: String,
    },
    /// The namespace is outside the allow list or on the deny list.
    #[error(
        "namespace `{0}` is not open for just-in-time access; ask the jitpe operators to add it to the policy"
    )]
    NamespaceNotAllowed(String),
    /// The duration asked for is longer than the role allows.
    #[error("{asked} is longer than role `{role}` allows: ask for at most {max}")]
    DurationTooLong {
        /// The role.
        role: RoleName,
        /// What was asked, formatted.
        asked: String,
        /// The maximum, formatted.
        max: String,
    },
    /// The duration is within the role's maximum but longer than a risk tier of the namespace
    /// allows.
    #[error(
        "{asked} is longer than tier `{tier}` allows in namespace `{namespace}` for role `{role}`: ask for at most {max}"
    )]
    TierDurationTooLong {
        /// The tier whose maximum is the shortest.
        tier: String,
        /// The namespace asked for.
        namespace: String,
        /// The role.
        role: RoleName,
        /// What was asked, formatted.
        asked: String,
        /// The tier's maximum, formatted.
        max: String,
    },
    /// An extension would take the grant past the role's maximum; says how much can still be
    /// asked (whole minutes, so the advice still holds a moment later) and why.
    #[error("{}", extension_too_long(.0))]
    ExtensionTooLong(Box<ExtensionTooLong>),
    /// The chat user has no Kubernetes identity in the policy.
    #[error(
        "your chat account ({0}) is not mapped to a Kubernetes user; ask the jitpe operators to add it to the policy's identities"
    )]
    UnmappedUser(String),
    /// A label of a system request is malformed.
    #[error("{0}")]
    BadLabel(String),
    /// A ServiceAccount no `[[policy.systems]]` rule names.
    #[error(
        "{0} may not ask for access: no [[policy.systems]] rule names it; ask the jitpe operators to add one"
    )]
    UnknownSystem(String),
    /// A ServiceAccount asked for a role or namespace its rules do not give it.
    #[error(
        "{who} may not ask for role `{role}` in namespace `{namespace}`: no [[policy.systems]] rule allows that combination"
    )]
    SystemNotAllowed {
        /// The ServiceAccount's username.
        who: String,
        /// The role asked for.
        role: RoleName,
        /// The namespace asked for.
        namespace: String,
    },
    /// The reason does not match the role's pattern.
    #[error("the reason must match `{pattern}` for role `{role}` (for example a ticket id)")]
    ReasonPattern {
        /// The role.
        role: RoleName,
        /// The pattern from the policy.
        pattern: String,
    },
    /// The reason does not match the pattern of a risk tier of the namespace.
    #[error(
        "the reason must match `{pattern}` in tier `{tier}` (its namespaces need it, for example a change or incident id)"
    )]
    TierReasonPattern {
        /// The tier.
        tier: String,
        /// The tier's pattern.
        pattern: String,
    },
    /// The role cannot be narrowed to a single Ingress.
    #[error(
        "role `{0}` cannot be limited to one Ingress: ask for the whole namespace, or use a role that allows it"
    )]
    NotScopable(RoleName),
    /// The actor may not approve or deny for this role.
    #[error("you are not an approver for role `{0}`")]
    NotAnApprover(RoleName),
    /// The requester tried to approve their own request.
    #[error("you cannot approve your own request; another approver has to")]
    SelfApproval,
    /// The approver already voted in this round.
    #[error("you already approved request #{0}; it needs another approver")]
    AlreadyVoted(RequestId),
    /// The request is not in a state where this event applies.
    #[error("request #{id} is already {state}; nothing was changed")]
    AlreadyDecided {
        /// The request.
        id: RequestId,
        /// Its current state.
        state: State,
    },
    /// Only the requester may do this.
    #[error("only the requester can {0} this request")]
    NotRequester(&'static str),
    /// Only the requester or an approver may do this.
    #[error("only the requester or an approver of role `{0}` can do that")]
    NotRequesterOrApprover(RoleName),
    /// An extension is already waiting for approval.
    #[error("request #{0} already has an extension waiting for approval")]
    ExtensionPending(RequestId),
    /// There is no such request.
    #[error("there is no request #{0}: `/jit list` shows yours")]
    NotFound(RequestId),
    /// Revoke was used on a request that is not active yet.
    #[error("request #{0} is not active yet: `/jit cancel {0}` withdraws a pending request")]
    NotActive(RequestId),
    /// A timed event arrived before its time (a clock went backwards, or a stale worker).
    #[error("request #{0} is not due yet")]
    NotDue(RequestId),
    /// A click came from somewhere other than the card jitpe posted for the request.
    #[error("that button is not on the card jitpe posted for #{0}; nothing was done")]
    NotOurCard(RequestId),
    /// A time computation went out of range (a clock far in the future).
    #[error("the time {0} is out of range")]
    TimeOutOfRange(String),
}

/// The text of [`DomainError::ExtensionTooLong`].
fn extension_too_long(e: &ExtensionTooLong) -> String {
    let limit = match &e.tier {
        Some(t) => format!("tier `{t}` allows role `{}`", e.role),
        None => format!("role `{}` allows", e.role),
    };
    let why = format!(
        "request #{} has {} left and {limit} at most {} of access from now, so {} more is too long",
        e.id, e.left, e.max, e.asked
    );
    match &e.room {
        Some(room) => format!("{why}: extend by at most {room}"),
        None => format!("{why}: it cannot be extended further; when it ends, make a new request"),
    }
}

/// The details of [`DomainError::ExtensionTooLong`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionTooLong {
    /// The request.
    pub id: RequestId,
    /// The role.
    pub role: RoleName,
    /// The extension asked for, formatted.
    pub asked: String,
    /// The time the grant has left, formatted.
    pub left: String,
    /// The maximum time left after an extension (the role's, or a tier's), formatted.
    pub max: String,
    /// The risk tier whose maximum is shorter than the role's, if one is.
    pub tier: Option<String>,
    /// The longest extension that still fits, whole minutes; `None` when less than a minute fits.
    pub room: Option<String>,
}
