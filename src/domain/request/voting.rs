//! Votes and extensions: who may approve, quorum of distinct approvers, and the extension
//! round of an active grant. Called by the state machine in `lifecycle.rs`.

use super::transition::{Outcome, add, draft};
use super::{AccessRequest, Effect, Extension, Notice, State, Vote};
use crate::domain::duration::format_duration;
use crate::domain::error::{DomainError, ExtensionTooLong};
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::policy::{Policy, Role, Rules};
use jiff::Timestamp;
use std::time::Duration;

pub(super) fn check_approver(role: &Role, policy: &Policy, by: &Actor) -> Result<(), DomainError> {
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
    // People, not chat ids: the requester's other platform is still the requester.
    if policy.same_person(by, &req.requester) && !role.allow_self_approval {
        return Err(DomainError::SelfApproval);
    }
    if votes.iter().any(|v| policy.same_person(&v.by, by)) {
        return Err(DomainError::AlreadyVoted(req.id));
    }
    Ok(())
}

pub(super) fn approve(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    now: Timestamp,
) -> Result<Outcome, DomainError> {
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

pub(super) fn approve_extension(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    now: Timestamp,
) -> Result<Outcome, DomainError> {
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

/// Refuses an extension that would leave more than the maximum (the role's, or a risk tier's of
/// the namespace when shorter); the refusal names the longest extension that fits, rounded down
/// to a minute (a moment later, a little more fits).
fn check_extension(
    id: RequestId,
    rules: &Rules<'_>,
    left: Duration,
    asked: Duration,
) -> Result<(), DomainError> {
    let max = rules.max_duration();
    if left.saturating_add(asked) <= max {
        return Ok(());
    }
    let room = max.saturating_sub(left).as_secs() / 60 * 60;
    Err(DomainError::ExtensionTooLong(Box::new(ExtensionTooLong {
        id,
        role: rules.role.name.clone(),
        asked: format_duration(asked),
        left: format_duration(left),
        max: format_duration(max),
        tier: rules.capped_by().map(str::to_string),
        room: (room > 0).then(|| format_duration(Duration::from_secs(room))),
    })))
}

pub(super) fn request_extension(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    duration: Duration,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, DomainError> {
    if *by != next.requester {
        return Err(DomainError::NotRequester("extend"));
    }
    if next.extension.is_some() {
        return Err(DomainError::ExtensionPending(next.id));
    }
    let left = next.time_left(now).unwrap_or(Duration::ZERO);
    check_extension(
        next.id,
        &policy.rules(role, &next.namespace),
        left,
        duration,
    )?;
    next.extension = Some(Extension {
        duration,
        reason: reason.to_string(),
        requested_at: now,
        pending_until: add(now, policy.pending_ttl())?,
        approvals: Vec::new(),
    });
    let audit = draft(by, "extension_requested", next)
        .with("duration", format_duration(duration))
        .with("reason", reason);
    Ok((vec![Effect::PostCard], audit))
}
