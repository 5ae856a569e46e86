//! The outbox's records: what waits to be sent to a chat platform, with its delivery
//! bookkeeping, and where a posted card lives. Stored by the `Store`, drained by
//! `workers::outbox`.

use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::request::Notice;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A message waiting in the durable outbox. The worker renders it from the current request at
/// delivery time, so a late card update still shows the latest state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxMessage {
    /// Post the approval card of a request to the approvers channel.
    PostCard {
        /// The request.
        request_id: RequestId,
    },
    /// Refresh the cards of a request.
    UpdateCard {
        /// The request.
        request_id: RequestId,
    },
    /// Alert the request's approvers channel that a revocation rule ended the grant.
    Alert {
        /// The request.
        request_id: RequestId,
    },
    /// Message the requester.
    Notify {
        /// The request.
        request_id: RequestId,
        /// The recipient.
        user: Actor,
        /// What to say.
        notice: Notice,
    },
}

/// An outbox item for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Which chat platform delivers it.
    pub platform: Platform,
    /// What to deliver.
    pub message: OutboxMessage,
}

/// An outbox item as stored, with its delivery bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Store key; FIFO order.
    pub key: u64,
    /// The item.
    pub item: OutboxItem,
    /// Not to be sent before this time (backoff, `Retry-After`).
    pub not_before: Timestamp,
    /// Failed attempts so far; a rate limit (`Retry-After`) is a wait, not a failure, and does
    /// not count. Sets the backoff.
    pub attempts: u32,
    /// The last delivery error, for operators.
    pub last_error: Option<String>,
    /// Failed attempts that got no answer, so the platform may have carried them out (a card
    /// posted again after one is marked as a copy).
    #[serde(default)]
    pub unanswered: u32,
    /// When delivery first failed; the message is given up once this is long enough ago.
    #[serde(default)]
    pub failing_since: Option<Timestamp>,
}

impl OutboxEntry {
    /// A new entry, due at `at`.
    pub fn new(key: u64, item: OutboxItem, at: Timestamp) -> Self {
        Self {
            key,
            item,
            not_before: at,
            attempts: 0,
            last_error: None,
            unanswered: 0,
            failing_since: None,
        }
    }
}

/// Where a request's card was posted, so it can be updated in place later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    /// The platform.
    pub platform: Platform,
    /// Channel id.
    pub channel: String,
    /// Slack `ts` (a string, never a number) or Mattermost post id.
    pub message_id: String,
}
