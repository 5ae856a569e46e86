//! The neutral render model of a request, for cards, DMs and status replies on any platform.
//!
//! The service builds a [`RequestView`]; each chat adapter only turns it into its own format
//! (Block Kit, Mattermost attachments) and turns [`Actor`]s into mentions.

use super::duration::format_duration;
use super::identity::Actor;
use super::ids::RequestId;
use super::request::{AccessRequest, State};
use super::text::Text;
use jiff::Timestamp;

/// A button a card offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    /// Vote yes.
    Approve,
    /// Vote no (any deny wins).
    Deny,
    /// End active access now.
    Revoke,
}

impl CardAction {
    /// Stable machine name (`approve`, `deny`, `revoke`), used in action ids and signatures.
    pub fn as_str(self) -> &'static str {
        match self {
            CardAction::Approve => "approve",
            CardAction::Deny => "deny",
            CardAction::Revoke => "revoke",
        }
    }

    /// Parses a machine name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(CardAction::Approve),
            "deny" => Some(CardAction::Deny),
            "revoke" => Some(CardAction::Revoke),
            _ => None,
        }
    }
}

/// Everything a card shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    /// Request id.
    pub id: RequestId,
    /// Store version; adapters use it to make block ids unique per update.
    pub revision: u64,
    /// Who asked.
    pub requester: Actor,
    /// Role name.
    pub role: String,
    /// Namespace, with `/resource` when scoped.
    pub target: String,
    /// Duration, formatted (`15m`).
    pub duration: String,
    /// Reason as typed.
    pub reason: String,
    /// State.
    pub state: State,
    /// Votes so far in the current round.
    pub votes: Vec<Actor>,
    /// Votes needed.
    pub votes_needed: usize,
    /// Whether the policy approved without a vote.
    pub auto_approved: bool,
    /// Who ended it (denier, revoker, jitpe).
    pub ended_by: Option<Actor>,
    /// Why it ended, when not obvious.
    pub end_reason: Option<String>,
    /// The revocation rule that ended it.
    pub revoked_by_rule: Option<String>,
    /// What the grant was used for, once it has ended and been reported.
    pub usage: Option<String>,
    /// When the approval round times out.
    pub pending_until: Timestamp,
    /// When access ends (active) or ended.
    pub expires_at: Option<Timestamp>,
    /// When it reached a final state.
    pub ended_at: Option<Timestamp>,
    /// A pending extension: (duration, reason).
    pub extension: Option<(String, String)>,
    /// Buttons to show; empty once final.
    pub actions: Vec<CardAction>,
    /// The risk tiers that applied, with the rules they led to (`prod (production) — 2
    /// approvals, max 30m`); `None` when no tier applied.
    pub tier: Option<String>,
    /// What a system said about itself (`pipeline-url=https://…`), as it sent it.
    pub labels: Vec<String>,
    /// Set on a card posted again after an earlier post got no answer (and so may be in the
    /// channel too): this card's copy number, shown so readers know the highest is the live one.
    pub copy: Option<u32>,
}

impl RequestView {
    /// Builds the view of a stored request.
    pub fn of(req: &AccessRequest, revision: u64) -> Self {
        let actions = match req.state {
            State::Pending => vec![CardAction::Approve, CardAction::Deny],
            State::Active if req.extension.is_some() => {
                vec![CardAction::Approve, CardAction::Deny, CardAction::Revoke]
            }
            State::Active | State::Approved => vec![CardAction::Revoke],
            _ => vec![],
        };
        let target = match &req.resource {
            Some(r) => format!("{}/{}", req.namespace, r),
            None => req.namespace.to_string(),
        };
        Self {
            id: req.id,
            revision,
            requester: req.requester.clone(),
            role: req.role.to_string(),
            target,
            duration: format_duration(req.duration),
            reason: req.reason.clone(),
            state: req.state,
            votes: req.current_votes().iter().map(|v| v.by.clone()).collect(),
            votes_needed: req.approvals_needed,
            auto_approved: req.auto_approved,
            ended_by: req.ended_by.clone(),
            end_reason: req.end_reason.clone(),
            revoked_by_rule: req.revoked_by_rule.clone(),
            usage: req.usage.as_ref().map(|u| u.summary()),
            pending_until: req
                .extension
                .as_ref()
                .map_or(req.pending_until, |e| e.pending_until),
            expires_at: req.expires_at,
            ended_at: req.ended_at,
            extension: req
                .extension
                .as_ref()
                .map(|e| (format_duration(e.duration), e.reason.clone())),
            actions,
            tier: tier_line(req),
            labels: req.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            copy: None,
        }
    }

    /// The same view as copy `n` of the card (see [`RequestView::copy`]).
    pub fn as_copy(mut self, n: u32) -> Self {
        self.copy = Some(n).filter(|n| *n > 1);
        self
    }

    /// The status line of a card: [`RequestView::status`], the risk tier if one applied, a
    /// system's labels, and which copy it is if it was posted again after a lost answer.
    pub fn card_status(&self) -> Text {
        let mut status = match &self.tier {
            Some(t) => self.status().and(format!("\nTier: {t}")),
            None => self.status(),
        };
        // Typed by the system, so escaped like a reason.
        for (i, label) in self.labels.iter().enumerate() {
            status = status.and(if i == 0 { "\nLabels: " } else { ", " });
            status = status.typed(label.as_str());
        }
        match self.copy {
            Some(n) => status.and(format!(
                ". Copy {n} of this card: an earlier post got no answer, so copies with a lower \
                 number may be in this channel too. Only the copy jitpe heard back about is kept \
                 up to date (the highest number); buttons on the others do nothing."
            )),
            None => status,
        }
    }

    /// One-line summary, used as notification fallback text and in `/jit status`.
    pub fn summary(&self) -> Text {
        Text::ours(format!("JIT request #{} from ", self.id))
            .person(&self.requester)
            .and(format!(
                ": {} on {} for {} (",
                self.role, self.target, self.duration
            ))
            .then(self.status())
            .and(")")
    }

    /// The status line: state, who decided, and the relevant time; once a grant has ended and
    /// its use was reported, what it was used for.
    pub fn status(&self) -> Text {
        let status = self.state_status();
        match &self.usage {
            Some(u) => status.and(". Used for: ").typed(u.as_str()),
            None => status,
        }
    }

    fn state_status(&self) -> Text {
        let by = |prefix: &str| match &self.ended_by {
            Some(a) => Text::ours(format!(" {prefix} ")).person(a),
            None => Text::default(),
        };
        let votes = || {
            let mut t = Text::ours(format!(
                "{} of {} approvals",
                self.votes.len(),
                self.votes_needed
            ));
            for (i, v) in self.votes.iter().enumerate() {
                t = t.and(if i == 0 { ": " } else { ", " }).person(v);
            }
            t
        };
        match self.state {
            State::Pending => Text::ours("PENDING, ")
                .then(votes())
                .and(", until ")
                .time(self.pending_until),
            State::Approved => Text::ours("APPROVED (")
                .then(votes())
                .and("), granting access…"),
            State::Active => self.active_status(votes),
            State::Expired => match self.ended_at {
                Some(t) => Text::ours("EXPIRED at ").time(t),
                None => Text::ours("EXPIRED"),
            },
            State::Denied => Text::ours("DENIED").then(by("by")),
            State::TimedOut => Text::ours("TIMED OUT: nobody decided in time"),
            State::Cancelled => Text::ours("CANCELLED by the requester"),
            State::Failed => Text::ours("FAILED: ").typed(
                self.end_reason
                    .as_deref()
                    .unwrap_or("access could not be granted"),
            ),
            State::Revoked if self.revoked_by_rule.is_some() => {
                let rule = self.revoked_by_rule.as_deref().unwrap_or_default();
                let why = self.end_reason.as_deref().unwrap_or_default();
                Text::ours("REVOKED by rule ")
                    .typed(rule)
                    .and(" (")
                    .typed(why)
                    .and(")")
            }
            State::Revoked => {
                let why = match &self.end_reason {
                    Some(r) => Text::ours(" (").typed(r.as_str()).and(")"),
                    None => Text::default(),
                };
                Text::ours("REVOKED").then(by("by")).then(why)
            }
        }
    }

    fn active_status(&self, votes: impl Fn() -> Text) -> Text {
        let how = if self.auto_approved {
            "auto-approved"
        } else {
            "approved"
        };
        let text = Text::ours(format!("ACTIVE ({how})"));
        let text = match self.expires_at {
            Some(t) => text.and(", ends ").time(t),
            None => text,
        };
        match &self.extension {
            Some((d, _)) => text
                .and(format!("; extension by {d} requested ("))
                .then(votes())
                .and(")"),
            None => text,
        }
    }
}

/// The card's tier line, from what was stored on the request (the policy may have changed).
fn tier_line(req: &AccessRequest) -> Option<String> {
    if req.tiers.is_empty() {
        return None;
    }
    let names: Vec<String> = req
        .tiers
        .iter()
        .map(|t| match t.description.is_empty() {
            true => t.name.clone(),
            false => format!("{} ({})", t.name, t.description),
        })
        .collect();
    let max = req
        .max_duration
        .map_or(String::new(), |m| format!(", max {}", format_duration(m)));
    Some(format!(
        "{} — {} approval{}{max}",
        names.join(", "),
        req.approvals_needed,
        if req.approvals_needed == 1 { "" } else { "s" }
    ))
}

mod notices;
pub use notices::notice_text;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;

    fn plain(t: &Text) -> String {
        t.render(str::to_string, str::to_string, |a| format!("<{}>", a.id))
    }

    #[test]
    fn a_pending_card_offers_approve_and_deny_and_counts_votes() {
        let v = RequestView::of(&in_state(State::Pending), 1);
        assert_eq!(v.actions, vec![CardAction::Approve, CardAction::Deny]);
        assert!(plain(&v.status()).starts_with("PENDING, 0 of 1 approvals"));
        assert!(plain(&v.summary()).contains("debug on shop for 15m"));
    }

    #[test]
    fn only_a_card_posted_again_says_which_copy_it_is_and_status_replies_never_do() {
        let v = RequestView::of(&in_state(State::Pending), 1);
        assert_eq!(v.clone().as_copy(1).card_status(), v.status());
        let copy = v.clone().as_copy(3);
        assert!(plain(&copy.card_status()).contains("Copy 3 of this card"));
        assert_eq!(copy.status(), v.status(), "/jit status shows no copy note");
    }

    #[test]
    fn a_card_revoked_by_a_rule_names_the_rule_and_shows_the_use_report_as_typed_text() {
        let mut req = in_state(State::Revoked);
        req.revoked_by_rule = Some("secrets".into());
        req.end_reason = Some("rule secrets: 403 get secrets shop/*db*".into());
        req.usage = Some(crate::domain::anomaly::Usage {
            requests: 2,
            ..Default::default()
        });
        let status = RequestView::of(&req, 5).status();
        assert!(
            plain(&status).starts_with("REVOKED by rule secrets (rule secrets: 403 get secrets shop/*db*). Used for: 2 API requests"),
            "{}",
            plain(&status)
        );
        let typed: Vec<&str> = status
            .spans()
            .iter()
            .filter_map(|s| match s {
                crate::domain::text::Span::Typed(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(typed.iter().any(|t| t.contains("*db*")), "{typed:?}");
    }

    #[test]
    fn an_active_card_offers_revoke_and_final_cards_offer_nothing() {
        assert_eq!(
            RequestView::of(&in_state(State::Active), 3).actions,
            vec![CardAction::Revoke]
        );
        for s in ALL_STATES.into_iter().filter(|s| s.is_final()) {
            assert!(RequestView::of(&in_state(s), 9).actions.is_empty(), "{s:?}");
        }
        let revoked = RequestView::of(&in_state(State::Revoked), 4);
        assert_eq!(plain(&revoked.status()), "REVOKED by <UAPP1> (done)");
    }

    #[test]
    fn card_actions_round_trip_their_names() {
        for a in [CardAction::Approve, CardAction::Deny, CardAction::Revoke] {
            assert_eq!(CardAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(CardAction::parse("escalate"), None);
    }
}

#[cfg(test)]
#[path = "view_tier_tests.rs"]
mod tier_tests;
