//! The request state machine: `decide(request, event, policy, now)` returns the next request, the
//! effects to carry out and the audit event, or a refusal. Pure: no I/O, `now` is an argument.

use super::audit::AuditDraft;
use super::error::DomainError;
use super::identity::Actor;
#[cfg(test)]
use super::identity::Platform;
use super::ids::{Namespace, RequestId, ResourceName, RoleName};
use super::policy::{Policy, Role};
use super::request::{AccessRequest, Effect, Event, Extension, Notice, State, Vote};
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

/// A new request as typed, before the policy check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// Who asks.
    pub requester: Actor,
    /// Which role.
    pub role: RoleName,
    /// Where.
    pub namespace: Namespace,
    /// The one Ingress, if scoped.
    pub resource: Option<ResourceName>,
    /// For how long (the role's default if absent).
    pub duration: Option<Duration>,
    /// Why.
    pub reason: String,
}

/// Adds a std duration to a timestamp, refusing overflow.
pub fn add(t: Timestamp, d: Duration) -> Result<Timestamp, DomainError> {
    t.checked_add(d)
        .map_err(|_| DomainError::TimeOutOfRange(format!("{t} + {d:?}")))
}

/// Checks a new request against the policy and builds it, Pending or (auto-approved) Approved.
/// `auto_approved_today` is how many automatic approvals the requester already had this UTC day.
pub fn submit(
    id: RequestId,
    new: NewRequest,
    policy: &Policy,
    now: Timestamp,
    auto_approved_today: u32,
) -> Result<Transition, DomainError> {
    let admitted = policy.admit(
        &new.requester,
        &new.role,
        &new.namespace,
        new.resource.as_ref(),
        new.duration,
        &new.reason,
    )?;
    let role = policy.role(&new.role)?;
    let auto = policy.auto_approves(role, &new.requester, admitted.duration, auto_approved_today);
    let mut req = AccessRequest {
        id,
        requester: new.requester.clone(),
        subject: admitted.subject,
        role: new.role,
        namespace: new.namespace,
        resource: new.resource,
        duration: admitted.duration,
        reason: new.reason,
        created_at: now,
        state: State::Pending,
        approvals: Vec::new(),
        approvals_needed: role.approvals_needed,
        auto_approved: false,
        pending_until: add(now, policy.pending_ttl())?,
        approved_at: None,
        activated_at: None,
        expires_at: None,
        warn_at: None,
        warned: false,
        extension: None,
        ended_at: None,
        ended_by: None,
        end_reason: None,
    };
    let mut audit = AuditDraft::new(new.requester, "requested", Some(id))
        .with("role", &req.role)
        .with("namespace", &req.namespace)
        .with("duration", super::duration::format_duration(req.duration))
        .with("reason", &req.reason);
    if let Some(r) = &req.resource {
        audit = audit.with("resource", r);
    }
    let mut effects = vec![Effect::PostCard];
    if auto {
        req.state = State::Approved;
        req.auto_approved = true;
        req.approved_at = Some(now);
        audit = audit.with("auto_approved", "true");
        effects.push(Effect::ApplyBindings);
    }
    Ok(Transition {
        request: req,
        effects,
        audit,
    })
}

/// Decides what `event` does to `req` at `now` under `policy`.
pub fn decide(
    req: &AccessRequest,
    event: &Event,
    policy: &Policy,
    now: Timestamp,
) -> Result<Transition, DomainError> {
    let role = policy.role(&req.role)?;
    let mut next = req.clone();
    let refused = || DomainError::AlreadyDecided {
        id: req.id,
        state: req.state,
    };
    let (effects, audit) = match (req.state, event) {
        (State::Pending, Event::Approve { by }) => approve(&mut next, role, policy, by, now)?,
        (State::Active, Event::Approve { by }) if req.extension.is_some() => {
            approve_extension(&mut next, role, policy, by, now)?
        }
        (State::Pending, Event::Deny { by }) => {
            check_approver(role, policy, by)?;
            end(&mut next, State::Denied, by, now, None);
            let fx = vec![
                Effect::UpdateCard,
                Effect::Notify(Notice::Denied { by: by.clone() }),
            ];
            (fx, draft(by, "denied", req))
        }
        (State::Active, Event::Deny { by }) if req.extension.is_some() => {
            check_approver(role, policy, by)?;
            next.extension = None;
            let fx = vec![
                Effect::UpdateCard,
                Effect::Notify(Notice::ExtensionDenied { by: by.clone() }),
            ];
            (fx, draft(by, "extension_denied", req))
        }
        (State::Pending, Event::Cancel { by }) => {
            if *by != req.requester {
                return Err(DomainError::NotRequester("cancel"));
            }
            end(&mut next, State::Cancelled, by, now, None);
            (vec![Effect::UpdateCard], draft(by, "cancelled", req))
        }
        (State::Approved | State::Active, Event::Revoke { by, reason }) => {
            let allowed =
                !by.is_chat_user() || *by == req.requester || policy.is_approver(role, by);
            if !allowed {
                return Err(DomainError::NotRequesterOrApprover(role.name.clone()));
            }
            end(&mut next, State::Revoked, by, now, Some(reason.clone()));
            let notice = Notice::Revoked {
                by: by.clone(),
                reason: reason.clone(),
            };
            let fx = vec![
                Effect::DeleteBindings,
                Effect::UpdateCard,
                Effect::Notify(notice),
            ];
            (fx, draft(by, "revoked", req).with("reason", reason))
        }
        (State::Pending, Event::Revoke { .. }) => return Err(DomainError::NotActive(req.id)),
        (
            State::Active,
            Event::RequestExtension {
                by,
                duration,
                reason,
            },
        ) => request_extension(&mut next, role, policy, by, *duration, reason, now)?,
        (State::Approved, Event::Activated { expires_at }) => {
            next.state = State::Active;
            next.activated_at = Some(now);
            next.expires_at = Some(*expires_at);
            next.warn_at = expires_at
                .checked_sub(policy.expiry_warning())
                .ok()
                .filter(|w| *w > now);
            next.warned = next.warn_at.is_none();
            let fx = vec![Effect::UpdateCard, Effect::Notify(Notice::Approved)];
            (
                fx,
                draft(&Actor::system(), "activated", req).with("expires_at", expires_at),
            )
        }
        (State::Approved, Event::ActivationFailed { error }) => {
            end(
                &mut next,
                State::Failed,
                &Actor::system(),
                now,
                Some(error.clone()),
            );
            let notice = Notice::Failed {
                error: error.clone(),
            };
            let fx = vec![
                Effect::DeleteBindings,
                Effect::UpdateCard,
                Effect::Notify(notice),
            ];
            (
                fx,
                draft(&Actor::system(), "activation_failed", req).with("error", error),
            )
        }
        (State::Active, Event::Expire) => {
            due(req, req.expires_at, now)?;
            end(&mut next, State::Expired, &Actor::system(), now, None);
            let fx = vec![
                Effect::DeleteBindings,
                Effect::UpdateCard,
                Effect::Notify(Notice::Expired),
            ];
            (fx, draft(&Actor::system(), "expired", req))
        }
        (State::Pending, Event::PendingTimeout) => {
            due(req, Some(req.pending_until), now)?;
            end(&mut next, State::TimedOut, &Actor::system(), now, None);
            let fx = vec![Effect::UpdateCard, Effect::Notify(Notice::TimedOut)];
            (fx, draft(&Actor::system(), "timed_out", req))
        }
        (State::Active, Event::ExtensionTimeout) if req.extension.is_some() => {
            due(req, req.extension.as_ref().map(|e| e.pending_until), now)?;
            next.extension = None;
            let fx = vec![
                Effect::UpdateCard,
                Effect::Notify(Notice::ExtensionTimedOut),
            ];
            (fx, draft(&Actor::system(), "extension_timed_out", req))
        }
        (State::Active, Event::WarnExpiry) if !req.warned => {
            due(req, req.warn_at, now)?;
            next.warned = true;
            let fx = vec![Effect::Notify(Notice::ExpiringSoon)];
            (fx, draft(&Actor::system(), "expiry_warned", req))
        }
        _ => return Err(refused()),
    };
    Ok(Transition {
        request: next,
        effects,
        audit,
    })
}

fn draft(by: &Actor, action: &str, req: &AccessRequest) -> AuditDraft {
    AuditDraft::new(by.clone(), action, Some(req.id))
}

fn end(next: &mut AccessRequest, state: State, by: &Actor, now: Timestamp, why: Option<String>) {
    next.state = state;
    next.ended_at = Some(now);
    next.ended_by = Some(by.clone());
    next.end_reason = why;
    next.extension = None;
}

fn due(req: &AccessRequest, at: Option<Timestamp>, now: Timestamp) -> Result<(), DomainError> {
    match at {
        Some(at) if now >= at => Ok(()),
        _ => Err(DomainError::NotDue(req.id)),
    }
}

fn check_approver(role: &Role, policy: &Policy, by: &Actor) -> Result<(), DomainError> {
    if policy.is_approver(role, by) {
        Ok(())
    } else {
        Err(DomainError::NotAnApprover(role.name.clone()))
    }
}

fn check_vote(
    req: &AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    votes: &[Vote],
) -> Result<(), DomainError> {
    check_approver(role, policy, by)?;
    if *by == req.requester && !role.allow_self_approval {
        return Err(DomainError::SelfApproval);
    }
    if votes.iter().any(|v| v.by == *by) {
        return Err(DomainError::AlreadyVoted(req.id));
    }
    Ok(())
}

fn approve(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    now: Timestamp,
) -> Result<(Vec<Effect>, AuditDraft), DomainError> {
    check_vote(next, role, policy, by, &next.approvals)?;
    if now >= next.pending_until {
        return Err(DomainError::AlreadyDecided {
            id: next.id,
            state: State::TimedOut,
        });
    }
    next.approvals.push(Vote {
        by: by.clone(),
        at: now,
    });
    let votes = format!("{} of {}", next.approvals.len(), next.approvals_needed);
    if next.approvals.len() < next.approvals_needed {
        return Ok((
            vec![Effect::UpdateCard],
            draft(by, "approval_recorded", next).with("votes", votes),
        ));
    }
    next.state = State::Approved;
    next.approved_at = Some(now);
    let fx = vec![Effect::UpdateCard, Effect::ApplyBindings];
    Ok((fx, draft(by, "approved", next).with("votes", votes)))
}

fn approve_extension(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    now: Timestamp,
) -> Result<(Vec<Effect>, AuditDraft), DomainError> {
    let ext = next
        .extension
        .clone()
        .expect("caller checked an extension is pending");
    check_vote(next, role, policy, by, &ext.approvals)?;
    let mut ext = ext;
    ext.approvals.push(Vote {
        by: by.clone(),
        at: now,
    });
    let votes = format!("{} of {}", ext.approvals.len(), next.approvals_needed);
    if ext.approvals.len() < next.approvals_needed {
        next.extension = Some(ext);
        let audit = draft(by, "extension_approval_recorded", next).with("votes", votes);
        return Ok((vec![Effect::UpdateCard], audit));
    }
    let old = next.expires_at.unwrap_or(now);
    let new_expiry = add(old, ext.duration)?;
    next.expires_at = Some(new_expiry);
    next.duration += ext.duration;
    next.warn_at = new_expiry
        .checked_sub(policy.expiry_warning())
        .ok()
        .filter(|w| *w > now);
    next.warned = next.warn_at.is_none();
    next.extension = None;
    let fx = vec![
        Effect::ApplyBindings,
        Effect::UpdateCard,
        Effect::Notify(Notice::Extended),
    ];
    let audit = draft(by, "extended", next)
        .with("votes", votes)
        .with("expires_at", new_expiry);
    Ok((fx, audit))
}

fn request_extension(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    duration: Duration,
    reason: &str,
    now: Timestamp,
) -> Result<(Vec<Effect>, AuditDraft), DomainError> {
    if *by != next.requester {
        return Err(DomainError::NotRequester("extend"));
    }
    if next.extension.is_some() {
        return Err(DomainError::ExtensionPending(next.id));
    }
    let left = next.time_left(now).unwrap_or(Duration::ZERO);
    role.check_duration(left + duration)?;
    next.extension = Some(Extension {
        duration,
        reason: reason.to_string(),
        requested_at: now,
        pending_until: add(now, policy.pending_ttl())?,
        approvals: Vec::new(),
    });
    let audit = draft(by, "extension_requested", next)
        .with("duration", super::duration::format_duration(duration))
        .with("reason", reason);
    Ok((vec![Effect::PostCard], audit))
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
