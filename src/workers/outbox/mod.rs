//! The chat delivery worker: drains the durable outbox to the chat platforms.
//!
//! Every message was stored before anyone tried to send it, so a restart loses nothing. Delivery
//! keeps FIFO order per channel (each entry is read from the store once into per-channel
//! queues, `queues.rs`, so a pass costs the channels waiting, not the backlog) and sends at
//! most one message per `spacing` per channel. A rate limit is waited out without counting as a
//! failure; outages back off exponentially (`retry.rs`); a message is given up only when the
//! platform refuses it or after `give_up_after` of failures (`give_up.rs`: audited, and the
//! requester told when it was a card). What is sent is rendered at delivery time and never
//! reports a state that is over (`send.rs`). Delivery is at-least-once. Between
//! passes it sleeps until the earliest moment a waiting message may go out, and the service
//! wakes it when a commit queues new messages. Expiry runs in its own worker, so chat being
//! down never delays it; the audit channels are fed by [`super::audit_feed`].

mod give_up;
mod queues;
mod retry;
mod send;

pub use retry::{FIRST_BACKOFF, MAX_BACKOFF, MAX_UNANSWERED, retry_backoff};

use super::{Worker, WorkerError, WorkerState};
use crate::domain::identity::Platform;
use crate::domain::ids::RequestId;
use crate::domain::policy::Policy;
use crate::domain::request::AccessRequest;
use crate::metrics::{Metrics, Outcome as Delivered};
use crate::ports::{Chat, ChatError, Clock, OutboxEntry, OutboxMessage, StoreError};
use crate::store::threads::StoreThreads;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use queues::{Head, Queues};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Longest idle sleep: a message queued without a wake-up still goes out within this.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// Outbox entries read per store call when catching up with new messages.
const READ_PAGE: usize = 512;

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Minimum time between two messages to one channel (Slack: one per second).
    pub spacing: Duration,
    /// How long a message may keep failing before it is given up (and the failure audited).
    pub give_up_after: Duration,
}

/// The delivery worker's state.
pub struct Outbox {
    store: StoreThreads,
    clock: Arc<dyn Clock>,
    chats: BTreeMap<Platform, Arc<dyn Chat>>,
    policy: Arc<Policy>,
    settings: OutboxSettings,
    metrics: Arc<Metrics>,
    last_sent: Mutex<HashMap<String, Timestamp>>,
    queues: Mutex<Queues>,
    wake: Arc<Notify>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Messages sent.
    pub sent: usize,
    /// Messages postponed (rate limit, outage, spacing).
    pub postponed: usize,
    /// Messages given up.
    pub dropped: usize,
    /// Messages dropped because what they say is no longer true.
    pub stale: usize,
}

enum Outcome {
    Sent,
    /// Not sent; try again later.
    Retry(ChatError),
    /// Refused for good.
    Drop(String),
    /// No longer true; not to be sent.
    Stale,
    /// Not to be sent yet: the request's state is about to change.
    Wait(Duration),
}

impl Outbox {
    /// A worker over the given platforms.
    pub fn new(
        store: impl Into<StoreThreads>,
        clock: Arc<dyn Clock>,
        chats: Vec<Arc<dyn Chat>>,
        policy: Arc<Policy>,
        settings: OutboxSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let chats = chats.into_iter().map(|c| (c.platform(), c)).collect();
        Self {
            store: store.into(),
            clock,
            chats,
            policy,
            settings,
            metrics,
            last_sent: Mutex::new(HashMap::new()),
            queues: Mutex::new(Queues::default()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The same worker, woken by `wake` (the service's [`crate::service::Service::outbox_signal`])
    /// when new messages are queued instead of finding them on its next timer.
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// One pass over the outbox, FIFO per channel: reads what was queued since the last pass,
    /// then sends at most one message per channel.
    pub async fn deliver(&self) -> Result<Delivery, StoreError> {
        self.read_new().await?;
        let now = self.clock.now();
        let mut report = Delivery::default();
        let heads = self.queues().heads();
        for Head {
            channel,
            entry,
            behind,
        } in heads
        {
            // NB: a later message to a channel never overtakes an earlier one still waiting.
            report.postponed += behind;
            if entry.not_before > now || !self.spaced(&channel, now) {
                report.postponed += 1;
                continue;
            }
            let outcome = self.send(&entry, now).await;
            if !matches!(outcome, Outcome::Stale | Outcome::Wait(_)) {
                self.last_sent().insert(channel.clone(), now);
            }
            self.settle(&channel, &entry, outcome, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Reads the entries queued since the last read into the channel queues, with the requests
    /// whose role names a card's channel, one store call per page.
    async fn read_new(&self) -> Result<(), StoreError> {
        loop {
            let from = self.queues().next_key();
            let page = self
                .store
                .run(move |s| {
                    let entries = s.outbox_from(from, READ_PAGE)?;
                    entries
                        .into_iter()
                        .map(|e| {
                            let card = match e.item.message {
                                OutboxMessage::Notify { .. } => None,
                                OutboxMessage::PostCard { request_id }
                                | OutboxMessage::UpdateCard { request_id }
                                | OutboxMessage::Alert { request_id } => s.get(request_id)?,
                            };
                            Ok((e, card.map(|v| v.value)))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()
                })
                .await?;
            let full = page.len() == READ_PAGE;
            let mut queues = self.queues();
            for (entry, card) in page {
                queues.add(self.channel_key(&entry, card.as_ref()), entry);
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn settle(
        &self,
        channel: &str,
        entry: &OutboxEntry,
        outcome: Outcome,
        now: Timestamp,
        report: &mut Delivery,
    ) -> Result<(), StoreError> {
        let platform = entry.item.platform.as_str();
        match outcome {
            Outcome::Sent => {
                self.metrics.delivery(platform, Delivered::ok);
                report.sent += 1;
                self.remove(channel, entry).await
            }
            Outcome::Stale => {
                self.metrics.delivery(platform, Delivered::stale);
                report.stale += 1;
                self.remove(channel, entry).await
            }
            Outcome::Wait(wait) => {
                self.metrics.delivery(platform, Delivered::rate_limited);
                report.postponed += 1;
                let mut later = entry.clone();
                let wait = SignedDuration::try_from(wait).unwrap_or(SignedDuration::ZERO);
                later.not_before = now.checked_add(wait).unwrap_or(now);
                self.queues().reschedule(channel, later);
                Ok(())
            }
            Outcome::Retry(e) => self.retry(channel, entry, &e, now, report).await,
            Outcome::Drop(why) => self.give_up(channel, entry, &why, report).await,
        }
    }

    /// Removes a channel's head from the store and its queue (sent, or no longer true).
    async fn remove(&self, channel: &str, entry: &OutboxEntry) -> Result<(), StoreError> {
        let key = entry.key;
        self.store.run(move |s| s.outbox_done(key)).await?;
        self.queues().pop(channel);
        Ok(())
    }

    /// Reschedules a channel's head after `error`, or gives it up once it has been failing for
    /// `give_up_after`.
    async fn retry(
        &self,
        channel: &str,
        entry: &OutboxEntry,
        error: &ChatError,
        now: Timestamp,
        report: &mut Delivery,
    ) -> Result<(), StoreError> {
        let next = retry::postponed(entry, error, now);
        if let Some(why) = retry::give_up_reason(&next, now, self.settings.give_up_after) {
            let why = format!("{error} ({why})");
            return self.give_up(channel, entry, &why, report).await;
        }
        self.metrics
            .delivery(entry.item.platform.as_str(), Delivered::retry);
        report.postponed += 1;
        let stored = next.clone();
        self.store.run(move |s| s.outbox_retry(&stored)).await?;
        self.queues().reschedule(channel, next);
        Ok(())
    }

    fn spaced(&self, channel: &str, now: Timestamp) -> bool {
        self.spaced_from(channel).is_none_or(|at| now >= at)
    }

    /// When `channel` may get its next message, if it got one recently.
    fn spaced_from(&self, channel: &str) -> Option<Timestamp> {
        let last = self.last_sent().get(channel).copied()?;
        let spacing =
            SignedDuration::try_from(self.settings.spacing).unwrap_or(SignedDuration::ZERO);
        Some(last.checked_add(spacing).unwrap_or(last))
    }

    /// The earliest moment a waiting message may be sent: the first one of each channel (FIFO)
    /// at its `not_before` or its channel's spacing, whichever is later.
    fn next_send_at(&self) -> Option<Timestamp> {
        self.queues()
            .heads()
            .iter()
            .map(|h| {
                self.spaced_from(&h.channel)
                    .map_or(h.entry.not_before, |s| s.max(h.entry.not_before))
            })
            .min()
    }

    /// The spacing map; a panic elsewhere while holding it leaves plain data, so use it anyway.
    fn last_sent(&self) -> MutexGuard<'_, HashMap<String, Timestamp>> {
        self.last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel queues; never held across an await.
    fn queues(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel an entry goes to; `card` is the request of a card message (its role may name
    /// its own approvers channel).
    fn channel_key(&self, entry: &OutboxEntry, card: Option<&AccessRequest>) -> String {
        let p = entry.item.platform;
        match &entry.item.message {
            OutboxMessage::Notify { user, .. } => format!("{p}:dm:{}", user.id),
            // An alert goes to the card's channel, in its queue, so it follows the card update.
            OutboxMessage::PostCard { .. }
            | OutboxMessage::UpdateCard { .. }
            | OutboxMessage::Alert { .. } => {
                let channel = self.chats.get(&p).zip(card).map(|(chat, req)| {
                    self.role_channel(p, req)
                        .unwrap_or_else(|| chat.approvers_channel().to_string())
                });
                format!("{p}:card:{}", channel.unwrap_or_default())
            }
        }
    }

    /// The role's own approvers channel on `platform`, if the policy sets one.
    pub(super) fn role_channel(&self, platform: Platform, req: &AccessRequest) -> Option<String> {
        let role = self.policy.role(&req.role).ok()?;
        role.approvers_channel(platform).map(str::to_string)
    }
}

/// The request a message is about.
fn request_of(m: &OutboxMessage) -> RequestId {
    match m {
        OutboxMessage::PostCard { request_id }
        | OutboxMessage::UpdateCard { request_id }
        | OutboxMessage::Alert { request_id }
        | OutboxMessage::Notify { request_id, .. } => *request_id,
    }
}

#[async_trait]
impl Worker for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    /// One pass, then Busy if a message may go out already, else Idle until the next may.
    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        self.deliver().await?;
        let now = self.clock.now();
        let state = match self.next_send_at() {
            Some(at) if at <= now => WorkerState::Busy,
            Some(at) => WorkerState::Idle {
                until: Duration::try_from(at.duration_since(now))
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_IDLE),
            },
            None => WorkerState::Idle { until: MAX_IDLE },
        };
        Ok(state)
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }
}
