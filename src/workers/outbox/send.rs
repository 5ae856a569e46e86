//! Sending one outbox entry, rendered from the request as it stands at delivery time. Messages
//! wait (outages, rate limits, a restart), so what was true when one was queued may be over:
//! a notice that is no longer true is dropped, and a card of a request whose state is about to
//! change (access past its end, a round past its deadline) waits for the change instead of
//! showing the past. Delivery is at-least-once: a card posted again after a post that got no
//! answer says which copy it is, and only the copy whose id jitpe knows is kept up to date.

use super::{Outbox, Outcome, request_of};
use crate::domain::identity::Platform;
use crate::domain::ids::RequestId;
use crate::domain::request::AccessRequest;
use crate::domain::view::{RequestView, notice_text};
use crate::ports::{CardRef, Chat, ChatError, OutboxEntry, OutboxMessage, StoreError, Versioned};
use jiff::Timestamp;
use std::time::Duration;

/// How long a card of an overdue request waits for the expiry worker to record the change.
const OVERDUE_WAIT: Duration = Duration::from_secs(1);

/// The cursor holding the copy number of the card jitpe keeps up to date (set only when a card
/// had to be posted again after a lost answer).
fn copy_cursor(platform: Platform, id: RequestId) -> String {
    format!("card-copy/{platform}/{id}")
}

impl Outbox {
    /// Sends `entry` as of `now`.
    pub(super) async fn send(&self, entry: &OutboxEntry, now: Timestamp) -> Outcome {
        let Some(chat) = self.chats.get(&entry.item.platform).cloned() else {
            return Outcome::Drop(format!("{} is not configured", entry.item.platform));
        };
        let id = request_of(&entry.item.message);
        let req = match self.store.run(move |s| s.get(id)).await {
            Ok(Some(r)) => r,
            Ok(None) => return Outcome::Drop(format!("request #{id} is gone")),
            Err(e) => return Outcome::Retry(ChatError::Unavailable(e.to_string())),
        };
        let view = RequestView::of(&req.value, req.version);
        let result = match &entry.item.message {
            OutboxMessage::Notify { user, notice, .. } => {
                if !notice.is_current(&req.value, now) {
                    return Outcome::Stale;
                }
                chat.direct_message(user, &notice_text(notice, &view, now))
                    .await
            }
            OutboxMessage::Alert { .. } => {
                let channel = self.role_channel(chat.platform(), &req.value);
                let channel = channel.as_deref().unwrap_or(chat.approvers_channel());
                chat.post_line(channel, &alert_line(&req.value)).await
            }
            OutboxMessage::PostCard { .. } | OutboxMessage::UpdateCard { .. } => {
                if req.value.overdue(now) {
                    return self.overdue_card(entry);
                }
                self.card(chat.as_ref(), &req, view, entry).await
            }
        };
        match result {
            Ok(()) => Outcome::Sent,
            Err(ChatError::Refused(why)) => Outcome::Drop(why),
            Err(e) => Outcome::Retry(e),
        }
    }

    /// A card message of a request whose state is about to change: the change queues its own
    /// card update, so an update is dropped; a first post waits for the change.
    fn overdue_card(&self, entry: &OutboxEntry) -> Outcome {
        match entry.item.message {
            OutboxMessage::PostCard { .. } => Outcome::Wait(OVERDUE_WAIT),
            _ => Outcome::Stale,
        }
    }

    /// Posts a card, or updates the existing ones (a re-post after a crash, or an update).
    async fn card(
        &self,
        chat: &dyn Chat,
        req: &Versioned<AccessRequest>,
        view: RequestView,
        entry: &OutboxEntry,
    ) -> Result<(), ChatError> {
        let unavailable = |e: StoreError| ChatError::Unavailable(e.to_string());
        let (id, platform) = (view.id, chat.platform());
        let cursor = copy_cursor(platform, id);
        let (cards, copy) = self
            .store
            .run(move |s| Ok((s.cards(id)?, s.cursor(&cursor)?)))
            .await
            .map_err(unavailable)?;
        let cards: Vec<CardRef> = cards
            .into_iter()
            .filter(|c| c.platform == platform)
            .collect();
        if !cards.is_empty() {
            let view = view.as_copy(u32::try_from(copy).unwrap_or(u32::MAX));
            for card in &cards {
                chat.update_card(card, &view).await?;
            }
            return Ok(());
        }
        if !matches!(entry.item.message, OutboxMessage::PostCard { .. }) {
            return Ok(()); // the post itself was given up; nothing to update
        }
        let channel = self.role_channel(platform, &req.value);
        let channel = channel.as_deref().unwrap_or(chat.approvers_channel());
        // Every post before this one that got no answer may be in the channel too.
        let copy = entry.unanswered.saturating_add(1);
        let card = chat.post_card(channel, &view.as_copy(copy)).await?;
        let cursor = copy_cursor(platform, id);
        self.store
            .run(move |s| {
                if copy > 1 {
                    s.set_cursor(&cursor, u64::from(copy))?;
                }
                s.put_card(id, &card)
            })
            .await
            // Posted but not remembered: the next post is another copy.
            .map_err(|e| ChatError::NoAnswer(format!("card posted but not recorded: {e}")))
    }
}

/// The alert posted to the approvers channel when a revocation rule ended a grant. A plain line
/// (the adapters escape it whole): it carries names from the audit stream.
pub(super) fn alert_line(req: &AccessRequest) -> String {
    let target = match &req.resource {
        Some(r) => format!("{}/{r}", req.namespace),
        None => req.namespace.to_string(),
    };
    format!(
        "ALERT: jitpe revoked request #{} ({} on {target}) of Kubernetes user {} (requested by {}) \
         at once by rule {}: {}",
        req.id,
        req.role,
        req.subject.user,
        req.requester,
        req.revoked_by_rule.as_deref().unwrap_or("?"),
        req.end_reason.as_deref().unwrap_or("no reason recorded"),
    )
}
