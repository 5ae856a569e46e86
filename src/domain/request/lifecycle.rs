//! The request state machine: `decide(request, event, policy, now)` returns the next request, the
//! effects to carry out and the audit event, or a refusal. Pure: no I/O, `now` is an argument.

pub use super::transition::{Transition, add};

use super::transition::{Outcome, draft};
use super::voting;
use super::{AccessRequest, AppliedTier, Effect, Event, Labels, Notice, State};
use crate::domain::audit::AuditDraft;
use crate::domain::error::DomainError;
use crate::domain::identity::Actor;
#[cfg(test)]
use crate::domain::identity::Platform;
use crate::domain::ids::{Namespace, RequestId, ResourceName, RoleName};
use crate::domain::policy::{Policy, Role};
use jiff::Timestamp;
use std::time::Duration;

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
    /// What a system said about itself (empty from chat).
    pub labels: Labels,
}

/// A new request the policy accepted, waiting only for its id. Building it from here cannot
/// fail, so the service allocates an id only for requests it will store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    new: NewRequest,
    subject: crate::domain::identity::KubeSubject,
    duration: Duration,
    approvals_needed: usize,
    pending_until: Timestamp,
    auto_approved: bool,
    tiers: Vec<AppliedTier>,
    max_duration: Option<Duration>,
    now: Timestamp,
}

/// Checks a new request against the policy: who may ask for which role where, for how long,
/// and whether the policy approves it by itself. `auto_approved_today` is how many automatic
/// approvals the requester already had this UTC day.
pub fn accept(
    new: NewRequest,
    policy: &Policy,
    now: Timestamp,
    auto_approved_today: u32,
) -> Result<Accepted, DomainError> {
    let admitted = policy.admit(
        &new.requester,
        &new.role,
        &new.namespace,
        new.resource.as_ref(),
        new.duration,
        &new.reason,
    )?;
    let role = policy.role(&new.role)?;
    let rules = policy.rules(role, &new.namespace);
    let auto = match new.requester.as_service_account() {
        // A system's first matching rule decides (admit found one), never the role's people;
        // a tier that turns auto-approval off holds for systems too.
        Some(sa) => {
            rules.tiers.iter().all(|t| t.auto_approve)
                && policy
                    .system_rule(&sa, &new.role, &new.namespace)
                    .is_some_and(|r| r.auto_approves(admitted.duration, auto_approved_today))
        }
        None => policy.auto_approves(
            &rules,
            &new.requester,
            admitted.duration,
            auto_approved_today,
        ),
    };
    let tiers: Vec<AppliedTier> = rules
        .tiers
        .iter()
        .map(|t| AppliedTier {
            name: t.name.clone(),
            description: t.description.clone(),
        })
        .collect();
    Ok(Accepted {
        subject: admitted.subject,
        duration: admitted.duration,
        approvals_needed: rules.approvals_needed(),
        pending_until: add(now, policy.pending_ttl())?,
        auto_approved: auto,
        max_duration: (!tiers.is_empty()).then(|| rules.max_duration()),
        tiers,
        now,
        new,
    })
}

/// Checks a new request against the policy and builds it as request `id` (see [`accept`]).
pub fn submit(
    id: RequestId,
    new: NewRequest,
    policy: &Policy,
    now: Timestamp,
    auto_approved_today: u32,
) -> Result<Transition, DomainError> {
    Ok(accept(new, policy, now, auto_approved_today)?.submit(id))
}

impl Accepted {
    /// The new request as `id`: Pending, or Approved when the policy approved it by itself.
    pub fn submit(self, id: RequestId) -> Transition {
        let Accepted {
            new,
            now,
            tiers,
            max_duration,
            ..
        } = self;
        let mut req = AccessRequest {
            id,
            requester: new.requester,
            subject: self.subject,
            role: new.role,
            namespace: new.namespace,
            resource: new.resource,
            duration: self.duration,
            reason: new.reason,
            created_at: now,
            state: State::Pending,
            approvals: Vec::new(),
            approvals_needed: self.approvals_needed,
            auto_approved: false,
            pending_until: self.pending_until,
            approved_at: None,
            activated_at: None,
            expires_at: None,
            warn_at: None,
            warned: false,
            extension: None,
            ended_at: None,
            ended_by: None,
            end_reason: None,
            revoked_by_rule: None,
            usage: None,
            labels: new.labels,
            tiers,
            max_duration,
        };
        let mut audit = requested(&req);
        let mut effects = vec![Effect::PostCard];
        if self.auto_approved {
            req.state = State::Approved;
            req.auto_approved = true;
            req.approved_at = Some(now);
            audit = audit.with("auto_approved", "true");
            effects.push(Effect::ApplyBindings);
        }
        Transition {
            request: req,
            effects,
            audit,
        }
    }
}

/// The audit event of a new request, with what was asked for.
fn requested(req: &AccessRequest) -> AuditDraft {
    let audit = AuditDraft::new(req.requester.clone(), "requested", Some(req.id))
        .with("role", &req.role)
        .with("namespace", &req.namespace)
        .with(
            "duration",
            crate::domain::duration::format_duration(req.duration),
        )
        .with("reason", &req.reason);
    let audit = match req.labels.is_empty() {
        true => audit,
        false => audit.with("labels", &req.labels),
    };
    let audit = match req.tiers.is_empty() {
        true => audit,
        false => audit.with("tiers", tier_names(req)),
    };
    match &req.resource {
        Some(r) => audit.with("resource", r),
        None => audit,
    }
}

/// The names of the tiers that applied to `req`, comma separated, for the audit log.
fn tier_names(req: &AccessRequest) -> String {
    let names: Vec<&str> = req.tiers.iter().map(|t| t.name.as_str()).collect();
    names.join(",")
}

/// Decides what `event` does to `req` at `now` under `policy`.
pub fn decide(
    req: &AccessRequest,
    event: &Event,
    policy: &Policy,
    now: Timestamp,
) -> Result<Transition, DomainError> {
    // Neither needs the role: a rule must revoke even a grant whose role left the policy.
    match event {
        Event::RuleRevoke { rule, evidence } => {
            return super::watched::rule_revoke(req, rule, evidence, now);
        }
        Event::ReportUsage { usage } => return super::watched::report_usage(req, usage),
        _ => {}
    }
    let role = policy.role(&req.role)?;
    let mut next = req.clone();
    let n = &mut next;
    let system = Actor::system();
    let extending = req.extension.is_some();
    let (effects, audit) = match (req.state, event) {
        (State::Pending, Event::Approve { by }) => voting::approve(n, role, policy, by, now)?,
        (State::Active, Event::Approve { by }) if extending => {
            voting::approve_extension(n, role, policy, by, now)?
        }
        (State::Pending, Event::Deny { by }) => {
            voting::check_approver(role, policy, by)?;
            let notice = Notice::Denied { by: by.clone() };
            finish(n, State::Denied, by, now, None, Some(notice), "denied")
        }
        (State::Active, Event::Deny { by }) if extending => {
            voting::check_approver(role, policy, by)?;
            let notice = Notice::ExtensionDenied { by: by.clone() };
            close_extension(n, by, notice, "extension_denied")
        }
        (State::Pending, Event::Cancel { by }) if *by == req.requester => {
            finish(n, State::Cancelled, by, now, None, None, "cancelled")
        }
        (State::Pending, Event::Cancel { .. }) => return Err(DomainError::NotRequester("cancel")),
        (State::Approved | State::Active, Event::Revoke { by, reason }) => {
            revoke(n, role, policy, by, reason, now)?
        }
        (State::Pending, Event::Revoke { .. }) => return Err(DomainError::NotActive(req.id)),
        (
            State::Active,
            Event::RequestExtension {
                by,
                duration,
                reason,
            },
        ) => voting::request_extension(n, role, policy, by, *duration, reason, now)?,
        (State::Approved, Event::Activated { expires_at }) => {
            activated(n, policy, *expires_at, now)
        }
        (State::Approved, Event::ActivationFailed { error }) => {
            let notice = Notice::Failed {
                error: error.clone(),
            };
            let (fx, a) = finish(
                n,
                State::Failed,
                &system,
                now,
                Some(error.clone()),
                Some(notice),
                "activation_failed",
            );
            (fx, a.with("error", error))
        }
        (State::Active, Event::Expire) => {
            due(req, req.expires_at, now)?;
            finish(
                n,
                State::Expired,
                &system,
                now,
                None,
                Some(Notice::Expired),
                "expired",
            )
        }
        (State::Pending, Event::PendingTimeout) => {
            due(req, Some(req.pending_until), now)?;
            finish(
                n,
                State::TimedOut,
                &system,
                now,
                None,
                Some(Notice::TimedOut),
                "timed_out",
            )
        }
        (State::Active, Event::ExtensionTimeout) if extending => {
            due(req, req.extension.as_ref().map(|e| e.pending_until), now)?;
            close_extension(n, &system, Notice::ExtensionTimedOut, "extension_timed_out")
        }
        (State::Active, Event::WarnExpiry) if !req.warned => {
            due(req, req.warn_at, now)?;
            n.warned = true;
            let fx = vec![Effect::Notify(Notice::ExpiringSoon)];
            (fx, draft(&system, "expiry_warned", req))
        }
        _ => {
            return Err(DomainError::AlreadyDecided {
                id: req.id,
                state: req.state,
            });
        }
    };
    Ok(Transition {
        request: next,
        effects,
        audit,
    })
}

/// Ends the request in a final `state`. Ending access deletes the bindings first.
fn finish(
    next: &mut AccessRequest,
    state: State,
    by: &Actor,
    now: Timestamp,
    why: Option<String>,
    notice: Option<Notice>,
    action: &str,
) -> Outcome {
    next.state = state;
    next.ended_at = Some(now);
    next.ended_by = Some(by.clone());
    next.end_reason = why;
    next.extension = None;
    let mut fx = Vec::new();
    if matches!(state, State::Revoked | State::Failed | State::Expired) {
        fx.push(Effect::DeleteBindings);
    }
    fx.push(Effect::UpdateCard);
    fx.extend(notice.map(Effect::Notify));
    (fx, draft(by, action, next))
}

/// Drops a pending extension (denied or timed out); access still ends at the old expiry.
fn close_extension(next: &mut AccessRequest, by: &Actor, notice: Notice, action: &str) -> Outcome {
    next.extension = None;
    (
        vec![Effect::UpdateCard, Effect::Notify(notice)],
        draft(by, action, next),
    )
}

fn revoke(
    next: &mut AccessRequest,
    role: &Role,
    policy: &Policy,
    by: &Actor,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome, DomainError> {
    // People must be the requester or an approver; the shell and jitpe itself may always revoke.
    let allowed = !by.is_chat_user() || *by == next.requester || policy.is_approver(role, by);
    if !allowed {
        return Err(DomainError::NotRequesterOrApprover(role.name.clone()));
    }
    let notice = Notice::Revoked {
        by: by.clone(),
        reason: reason.to_string(),
    };
    let (fx, a) = finish(
        next,
        State::Revoked,
        by,
        now,
        Some(reason.to_string()),
        Some(notice),
        "revoked",
    );
    Ok((fx, a.with("reason", reason)))
}

fn activated(
    next: &mut AccessRequest,
    policy: &Policy,
    expires_at: Timestamp,
    now: Timestamp,
) -> Outcome {
    next.state = State::Active;
    next.activated_at = Some(now);
    next.expires_at = Some(expires_at);
    next.warn_at = expires_at
        .checked_sub(policy.expiry_warning())
        .ok()
        .filter(|w| *w > now);
    next.warned = next.warn_at.is_none();
    let fx = vec![Effect::UpdateCard, Effect::Notify(Notice::Approved)];
    (
        fx,
        draft(&Actor::system(), "activated", next).with("expires_at", expires_at),
    )
}

fn due(req: &AccessRequest, at: Option<Timestamp>, now: Timestamp) -> Result<(), DomainError> {
    match at {
        Some(at) if now >= at => Ok(()),
        _ => Err(DomainError::NotDue(req.id)),
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tier_tests.rs"]
mod tier_tests;
