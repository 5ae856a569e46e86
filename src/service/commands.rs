//! Chat commands and card clicks, platform-neutral: the web layer turns a verified request into
//! an [`Actor`] plus a [`Command`] or a click, and shows the returned [`Reply`] to that user only.

use super::effects::FollowUp;
use super::{Error, Result, Service};
use crate::domain::DomainError;
use crate::domain::audit::AuditDraft;
use crate::domain::command::{Command, help_text};
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{self, NewRequest};
use crate::domain::request::{AccessRequest, Event, State};
use crate::domain::view::{CardAction, RequestView};
use crate::ports::CardRef;
use jiff::tz::TimeZone;
use tracing::instrument;

/// Text for the user who typed the command or clicked (ephemeral).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The message.
    pub text: String,
}

impl Reply {
    fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}

/// Turns an actor into a mention in the caller's platform syntax.
pub type Mention<'a> = &'a (dyn Fn(&Actor) -> String + Sync);

impl Service {
    /// Runs a `/jit` command for `actor`. `dedupe_key` (e.g. Slack's `trigger_id`) makes retried
    /// deliveries of the same command a no-op. Refused requests are audited.
    #[instrument(skip_all, fields(actor = %actor))]
    pub async fn command(
        &self,
        actor: &Actor,
        cmd: Command,
        dedupe_key: Option<&str>,
        mention: Mention<'_>,
    ) -> Result<Reply> {
        match cmd {
            Command::Help => Ok(Reply::new(help_text())),
            Command::Request {
                role,
                namespace,
                resource,
                duration,
                reason,
            } => {
                let new = NewRequest {
                    requester: actor.clone(),
                    role,
                    namespace,
                    resource,
                    duration,
                    reason,
                };
                self.submit(new, dedupe_key).await
            }
            Command::List => self.list(actor, mention),
            Command::Status { id } => self.status(actor, id, mention),
            Command::Revoke { id } => {
                let event = Event::Revoke {
                    by: actor.clone(),
                    reason: "revoked from chat".into(),
                };
                self.refusable(actor, id, event).await?;
                Ok(Reply::new(format!(
                    "Request #{id} is revoked; its access was removed."
                )))
            }
            Command::Extend {
                id,
                duration,
                reason,
            } => {
                let event = Event::RequestExtension {
                    by: actor.clone(),
                    duration,
                    reason,
                };
                self.refusable(actor, id, event).await?;
                Ok(Reply::new(format!(
                    "Extension of #{id} sent to the approvers."
                )))
            }
            Command::Cancel { id } => {
                self.refusable(actor, id, Event::Cancel { by: actor.clone() })
                    .await?;
                Ok(Reply::new(format!("Request #{id} is cancelled.")))
            }
        }
    }

    /// Handles a click on a card button that came from `origin` (the channel and message the
    /// platform says it was on). The click must come from the card jitpe posted for the request;
    /// authorisation comes from the policy at click time, never from the card. Refused clicks
    /// are audited.
    #[instrument(skip_all, fields(actor = %actor, request_id = %id))]
    pub async fn click(
        &self,
        actor: &Actor,
        id: RequestId,
        action: CardAction,
        origin: &CardRef,
    ) -> Result<Reply> {
        if !self.store.cards(id)?.contains(origin) {
            let refusal = DomainError::NotOurCard(id);
            self.refuse_click(actor, Some(id), &refusal.to_string());
            return Err(refusal.into());
        }
        let event = match action {
            CardAction::Approve => Event::Approve { by: actor.clone() },
            CardAction::Deny => Event::Deny { by: actor.clone() },
            CardAction::Revoke => Event::Revoke {
                by: actor.clone(),
                reason: "revoked from the card".into(),
            },
        };
        let req = self.refusable(actor, id, event).await?;
        let text = match (action, req.state) {
            (CardAction::Approve, State::Pending) => format!(
                "You approved #{id}; it needs {} more approval(s).",
                req.approvals_needed.saturating_sub(req.approvals.len())
            ),
            (CardAction::Approve, State::Active) if req.extension.is_some() => {
                format!("You approved the extension of #{id}; it needs more approvals.")
            }
            (CardAction::Approve, _) => format!("You approved #{id}."),
            (CardAction::Deny, _) => format!("You denied #{id}."),
            (CardAction::Revoke, _) => format!("You revoked #{id}."),
        };
        Ok(Reply::new(text))
    }

    /// Audits a click that was refused before it reached a request (not jitpe's button, not
    /// jitpe's card, a clicker the platform does not vouch for).
    pub fn refuse_click(&self, actor: &Actor, id: Option<RequestId>, why: &str) {
        self.audit(AuditDraft::new(actor.clone(), "click_refused", id).with("reason", why));
    }

    /// Applies an event on behalf of a person, auditing a refusal with its reason.
    async fn refusable(&self, actor: &Actor, id: RequestId, event: Event) -> Result<AccessRequest> {
        let result = self.apply(id, event).await;
        if let Err(Error::Domain(e)) = &result {
            self.audit(AuditDraft::new(actor.clone(), "refused", Some(id)).with("reason", e));
        }
        result
    }

    async fn submit(&self, new: NewRequest, dedupe_key: Option<&str>) -> Result<Reply> {
        let now = self.clock.now();
        let actor = new.requester.clone();
        if let Some(key) = dedupe_key {
            let forget = now
                .checked_sub(jiff::SignedDuration::from_hours(24))
                .unwrap_or(now);
            if self
                .store
                .seen_once(&format!("{}:{key}", actor.platform), now, forget)?
            {
                return Ok(Reply::new(
                    "This command was already received; `/jit list` shows your requests.",
                ));
            }
        }
        let today = self.auto_approved_today(&actor, now)?;
        // The policy is checked before an id is allocated, so a refusal stores nothing at all.
        let accepted = match lifecycle::accept(new.clone(), &self.policy, now, today) {
            Ok(accepted) => accepted,
            Err(e) => {
                self.audit(
                    AuditDraft::new(actor, "refused", None)
                        .with("command", "request")
                        .with("role", &new.role)
                        .with("namespace", &new.namespace)
                        .with("reason", &e),
                );
                return Err(e.into());
            }
        };
        let id = self.store.next_id()?;
        let t = accepted.submit(id);
        let outbox = self.outbox_for(&t);
        self.store
            .create(&t.request, t.audit.clone(), now, &outbox)?;
        self.wake.notify_one();
        if !outbox.is_empty() {
            self.outbox_wake.notify_one();
        }
        self.follow_through(id, FollowUp::of(&t)).await;
        Ok(submitted(&t.request))
    }

    fn auto_approved_today(&self, actor: &Actor, now: jiff::Timestamp) -> Result<u32> {
        let midnight = now
            .to_zoned(TimeZone::UTC)
            .start_of_day()
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let n = self
            .store
            .list()?
            .iter()
            .filter(|r| {
                r.value.requester == *actor
                    && r.value.auto_approved
                    && r.value.created_at >= midnight
            })
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn list(&self, actor: &Actor, mention: Mention<'_>) -> Result<Reply> {
        let approver = self.policy.is_any_approver(actor);
        let lines: Vec<String> = self
            .store
            .list_open()?
            .into_iter()
            .filter(|r| approver || r.value.requester == *actor)
            .map(|r| {
                let v = RequestView::of(&r.value, r.version);
                format!(
                    "#{} {} {} on {} for {}: {}",
                    v.id,
                    mention(&v.requester),
                    v.role,
                    v.target,
                    v.duration,
                    v.status(mention)
                )
            })
            .collect();
        Ok(Reply::new(if lines.is_empty() {
            "No pending or active requests.".to_string()
        } else {
            lines.join("\n")
        }))
    }

    fn status(&self, actor: &Actor, id: RequestId, mention: Mention<'_>) -> Result<Reply> {
        let cur = self.load(id)?;
        self.check_can_see(actor, &cur.value)?;
        let view = RequestView::of(&cur.value, cur.version);
        let text = format!("{}\nReason: {}", view.summary(mention), view.reason);
        Ok(Reply::new(text))
    }

    fn check_can_see(&self, actor: &Actor, req: &AccessRequest) -> Result<()> {
        let role = self.policy.role(&req.role)?;
        if *actor == req.requester || self.policy.is_approver(role, actor) {
            Ok(())
        } else {
            Err(DomainError::NotRequesterOrApprover(role.name.clone()).into())
        }
    }
}

/// What the requester is told about a request just stored.
fn submitted(req: &AccessRequest) -> Reply {
    let id = req.id;
    let what = format!(
        "{} on {} for {}",
        req.role,
        RequestView::of(req, 1).target,
        crate::domain::duration::format_duration(req.duration)
    );
    Reply::new(if req.auto_approved {
        format!("Request #{id} ({what}) was approved by policy; access is being granted.")
    } else {
        format!(
            "Request #{id} ({what}) was sent to the approvers. `/jit status {id}` shows where it stands."
        )
    })
}
