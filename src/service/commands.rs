//! Chat commands and card clicks, platform-neutral: the web layer turns a verified request into
//! an [`Actor`] plus a [`Command`] or a click, and shows the returned [`Reply`] to that user only.

use super::effects::FollowUp;
use super::{Error, Result, Service};
use crate::domain::DomainError;
use crate::domain::audit::AuditDraft;
use crate::domain::command::Command;
use crate::domain::help::help_for;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::lifecycle::{self, NewRequest};
use crate::domain::request::{AccessRequest, Event, State};
use crate::domain::text::Text;
use crate::domain::view::{CardAction, RequestView};
use crate::ports::{CardRef, NewRecord, Submission, SubmitOutcome};
use jiff::tz::TimeZone;
use tracing::instrument;

/// Text for the user who typed the command or clicked (ephemeral); the platform renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The message.
    pub text: Text,
}

impl Reply {
    fn new(text: impl Into<Text>) -> Self {
        Self { text: text.into() }
    }
}

impl Service {
    /// Runs a `/jit` command for `actor`. `dedupe_key` (e.g. Slack's `trigger_id`) makes retried
    /// deliveries of the same command a no-op. Refused requests are audited.
    #[instrument(skip_all, fields(actor = %actor))]
    pub async fn command(
        &self,
        actor: &Actor,
        cmd: Command,
        dedupe_key: Option<&str>,
    ) -> Result<Reply> {
        match cmd {
            Command::Help => Ok(Reply::new(help_for(&self.policy, actor))),
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
                    labels: Default::default(),
                };
                self.submit(new, dedupe_key).await
            }
            Command::List => self.list(actor).await,
            Command::Status { id } => self.status(actor, id).await,
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
        if !self.db.run(move |s| s.cards(id)).await?.contains(origin) {
            let refusal = DomainError::NotOurCard(id);
            self.refuse_click(actor, Some(id), &refusal.to_string())
                .await;
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
    pub async fn refuse_click(&self, actor: &Actor, id: Option<RequestId>, why: &str) {
        let draft = AuditDraft::new(actor.clone(), "click_refused", id).with("reason", why);
        self.audit_refusal("click", draft).await;
    }

    /// Applies an event on behalf of a person, auditing a refusal with its reason.
    pub(crate) async fn refusable(
        &self,
        actor: &Actor,
        id: RequestId,
        event: Event,
    ) -> Result<AccessRequest> {
        let result = self.apply(id, event).await;
        if let Err(Error::Domain(e)) = &result {
            let draft = AuditDraft::new(actor.clone(), "refused", Some(id)).with("reason", e);
            self.audit_refusal("event", draft).await;
        }
        result
    }

    async fn submit(&self, new: NewRequest, dedupe_key: Option<&str>) -> Result<Reply> {
        Ok(match self.store_new(new, dedupe_key).await? {
            Some(req) => submitted(&req),
            None => {
                Reply::new("This command was already received; `/jit list` shows your requests.")
            }
        })
    }

    /// Checks `new` against the policy and stores it (de-duplicated by `dedupe_key`, counted
    /// toward its auto-approval tally); `None` for a duplicate. A refusal is audited.
    pub(crate) async fn store_new(
        &self,
        new: NewRequest,
        dedupe_key: Option<&str>,
    ) -> Result<Option<AccessRequest>> {
        let now = self.clock.now();
        let actor = new.requester.clone();
        let submission = Submission {
            dedupe: None,
            forget_before: now
                .checked_sub(jiff::SignedDuration::from_hours(24))
                .unwrap_or(now),
            tally: "",
            at: now,
        };
        let (dedupe, tally) = (dedupe_key.map(str::to_string), tally_key(&new, now));
        let (service, candidate) = (self.clone(), new.clone());
        // De-duplication, the tally, the id and the request: one transaction, one flush.
        let outcome = self
            .db
            .run(move |s| {
                let submission = Submission {
                    dedupe: dedupe.as_deref(),
                    tally: &tally,
                    ..submission
                };
                s.submit(&submission, &|id, today| {
                    service.build(&candidate, id, today, now)
                })
            })
            .await?;
        let t = match outcome {
            SubmitOutcome::Stored { record, .. } => record,
            SubmitOutcome::Duplicate => return Ok(None),
            SubmitOutcome::Refused(e) => {
                let draft = AuditDraft::new(actor, "refused", None)
                    .with("command", "request")
                    .with("role", &new.role)
                    .with("namespace", &new.namespace)
                    .with("reason", &e);
                self.audit_refusal("request", draft).await;
                return Err(e.into());
            }
        };
        self.wake.notify_one();
        if !t.outbox.is_empty() {
            self.outbox_wake.notify_one();
        }
        self.count_new(&t.request);
        let next = t
            .request
            .auto_approved
            .then_some(FollowUp::Activate(t.request.id));
        self.follow_through(t.request.id, next).await;
        Ok(Some(t.request))
    }

    /// Checks `new` against the policy and builds it as request `id`; pure, so the store may run
    /// it again inside its transaction.
    fn build(
        &self,
        new: &NewRequest,
        id: RequestId,
        auto_approved_today: u32,
        now: jiff::Timestamp,
    ) -> std::result::Result<NewRecord, DomainError> {
        let t = lifecycle::accept(new.clone(), &self.policy, now, auto_approved_today)?.submit(id);
        Ok(NewRecord {
            outbox: self.outbox_for(&t),
            audit: t.audit,
            request: t.request,
        })
    }

    async fn list(&self, actor: &Actor) -> Result<Reply> {
        let approver = self.policy.is_any_approver(actor);
        let open = self.db.run(|s| s.list_open()).await?;
        let mut text = Text::default();
        for r in open
            .into_iter()
            .filter(|r| approver || r.value.requester == *actor)
        {
            let v = RequestView::of(&r.value, r.version);
            let sep = if text.spans().is_empty() { "" } else { "\n" };
            text = text
                .and(format!("{sep}#{} ", v.id))
                .person(&v.requester)
                .and(format!(" {} on {} for {}: ", v.role, v.target, v.duration))
                .then(v.status());
        }
        Ok(Reply::new(if text.spans().is_empty() {
            Text::ours("No pending or active requests.")
        } else {
            text
        }))
    }

    async fn status(&self, actor: &Actor, id: RequestId) -> Result<Reply> {
        let cur = self.load(id).await?;
        self.check_can_see(actor, &cur.value)?;
        let view = RequestView::of(&cur.value, cur.version);
        let text = view.summary().and("\nReason: ").typed(view.reason.as_str());
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

/// The auto-approval tally a new request counts toward: its requester, role and UTC day, the
/// unit of a role's `auto_approve.per_day`.
fn tally_key(new: &NewRequest, now: jiff::Timestamp) -> String {
    let day = now.to_zoned(TimeZone::UTC).date();
    format!("{}|{}|{day}", new.requester, new.role)
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
