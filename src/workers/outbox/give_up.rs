//! Giving a message up, after a refusal or once it has failed for `give_up_after`: the failure
//! is audited, and when the message was a request's card, the requester is told that the
//! approvers may not know of the request.

use super::{Delivery, Outbox, request_of};
use crate::domain::audit::AuditDraft;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::request::{Notice, State};
use crate::metrics::Outcome as Delivered;
use crate::ports::{OutboxEntry, OutboxItem, OutboxMessage, Store, StoreError};
use jiff::Timestamp;
use tracing::warn;

/// Tries to commit the requester's message alongside a concurrently changing request.
const CONFLICT_TRIES: usize = 3;

impl Outbox {
    /// Removes the channel's head `entry` for good, because of `why`.
    pub(super) async fn give_up(
        &self,
        channel: &str,
        entry: &OutboxEntry,
        why: &str,
        report: &mut Delivery,
    ) -> Result<(), StoreError> {
        warn!(key = entry.key, error = why, "chat message given up");
        self.metrics
            .delivery(entry.item.platform.as_str(), Delivered::given_up);
        report.dropped += 1;
        let id = request_of(&entry.item.message);
        let draft = AuditDraft::new(Actor::system(), "chat_delivery_failed", Some(id))
            .with("platform", entry.item.platform)
            .with("error", why);
        let (key, at, why) = (entry.key, self.clock.now(), why.to_string());
        let card = matches!(entry.item.message, OutboxMessage::PostCard { .. });
        self.store
            .run(move |s| {
                if card {
                    card_given_up(s, id, draft, at, &why)?;
                } else {
                    s.append_audit(draft, at)?;
                }
                s.outbox_done(key)
            })
            .await?;
        self.queues().pop(channel);
        Ok(())
    }
}

/// Audits a card given up and, while the request still waits for approvers, queues a direct
/// message to its requester in the same commit: the request is written back unchanged with the
/// audit record and the message, so neither can be lost without the other.
fn card_given_up(
    s: &dyn Store,
    id: RequestId,
    draft: AuditDraft,
    at: Timestamp,
    why: &str,
) -> Result<(), StoreError> {
    for _ in 0..CONFLICT_TRIES {
        let Some(cur) = s.get(id)? else { break };
        if cur.value.state != State::Pending {
            break;
        }
        let requester = cur.value.requester.clone();
        let dm = OutboxItem {
            platform: requester.platform,
            message: OutboxMessage::Notify {
                request_id: id,
                user: requester,
                notice: Notice::CardUndelivered {
                    error: why.to_string(),
                },
            },
        };
        match s.update(cur.version, &cur.value, draft.clone(), at, &[dm]) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    s.append_audit(draft, at).map(|_| ())
}
