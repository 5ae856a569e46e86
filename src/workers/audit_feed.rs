//! The audit feed: posts every audit record, in order, to each platform's audit channel, and
//! periodically the head of the hash chain, so the log can be checked against what the channel
//! saw. A stored cursor per platform remembers the last record posted, so a restart neither
//! skips nor repeats lines; at most one line per `spacing` goes to each audit channel.

use super::{Worker, WorkerError, WorkerState};
use crate::domain::identity::Platform;
use crate::ports::{Chat, Clock, StoreError};
use crate::store::threads::StoreThreads;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::warn;

/// How often the feed looks for new records when it has nothing to post. Records are appended
/// from many places (every transition, refusal and auth failure), so the feed polls instead of
/// being woken; a line reaching the channel a second late costs nothing.
const POLL: Duration = Duration::from_secs(1);

/// Feed settings.
#[derive(Debug, Clone)]
pub struct AuditFeedSettings {
    /// Minimum time between two lines to one audit channel.
    pub spacing: Duration,
    /// How often the audit chain head is posted to the audit channels.
    pub chain_head_interval: Duration,
}

/// The audit feed's state.
pub struct AuditFeed {
    store: StoreThreads,
    clock: Arc<dyn Clock>,
    chats: BTreeMap<Platform, Arc<dyn Chat>>,
    settings: AuditFeedSettings,
    last_sent: Mutex<HashMap<Platform, Timestamp>>,
}

impl AuditFeed {
    /// A feed to the audit channels of the given platforms.
    pub fn new(
        store: impl Into<StoreThreads>,
        clock: Arc<dyn Clock>,
        chats: Vec<Arc<dyn Chat>>,
        settings: AuditFeedSettings,
    ) -> Self {
        let chats = chats.into_iter().map(|c| (c.platform(), c)).collect();
        Self {
            store: store.into(),
            clock,
            chats,
            settings,
            last_sent: Mutex::new(HashMap::new()),
        }
    }

    /// Posts the next new audit record (or, when there is none and it is time, the chain head)
    /// to every audit channel whose spacing allows; returns how many lines were posted.
    pub async fn post_audit(&self) -> Result<usize, StoreError> {
        let mut sent = 0;
        for (platform, chat) in &self.chats {
            let now = self.clock.now();
            if !self.spaced(*platform, now) {
                continue;
            }
            let name = format!("audit:{platform}");
            let cursor = name.clone();
            let next = self
                .store
                .run(move |s| Ok(s.audit_from(s.cursor(&cursor)? + 1, 1)?.into_iter().next()))
                .await?;
            if let Some(rec) = next {
                match chat.post_line(chat.audit_channel(), &rec.line()).await {
                    Ok(()) => {
                        let seq = rec.seq;
                        self.store.run(move |s| s.set_cursor(&name, seq)).await?;
                        sent += 1;
                    }
                    Err(e) => warn!(error = %e, %platform, "audit line not posted; will retry"),
                }
                // NB: a failed post counts too, so a chat outage is not hammered.
                self.last_sent().insert(*platform, now);
            } else {
                sent += self.post_chain_head(platform, chat.as_ref(), now).await?;
            }
        }
        Ok(sent)
    }

    async fn post_chain_head(
        &self,
        platform: &Platform,
        chat: &dyn Chat,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let name = format!("chain_head_at:{platform}");
        let cursor = name.clone();
        let (last, head) = self
            .store
            .run(move |s| Ok((s.cursor(&cursor)?, s.audit_head()?)))
            .await?;
        let due = now.as_second() as u64 >= last + self.settings.chain_head_interval.as_secs();
        let Some((seq, hash)) = head else {
            return Ok(0);
        };
        if !due {
            return Ok(0);
        }
        let text = format!("audit chain head: record {seq}, sha256 {hash}");
        match chat.post_line(chat.audit_channel(), &text).await {
            Ok(()) => {
                let at = now.as_second() as u64;
                self.store.run(move |s| s.set_cursor(&name, at)).await?;
                Ok(1)
            }
            Err(e) => {
                warn!(error = %e, "chain head not posted; will retry");
                Ok(0)
            }
        }
    }

    fn spaced(&self, platform: Platform, now: Timestamp) -> bool {
        let last = self.last_sent().get(&platform).copied();
        let spacing =
            SignedDuration::try_from(self.settings.spacing).unwrap_or(SignedDuration::ZERO);
        last.is_none_or(|t| now.duration_since(t) >= spacing)
    }

    /// The spacing map; a panic elsewhere while holding it leaves plain data, so use it anyway.
    fn last_sent(&self) -> MutexGuard<'_, HashMap<Platform, Timestamp>> {
        self.last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Worker for AuditFeed {
    fn name(&self) -> &'static str {
        "audit_feed"
    }

    /// One line per channel, then the spacing before the next (more records may be waiting);
    /// with nothing posted, the next look is a poll interval (1 s) away.
    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        let sent = self.post_audit().await?;
        Ok(match sent {
            0 => WorkerState::Idle { until: POLL },
            _ if self.settings.spacing.is_zero() => WorkerState::Busy,
            _ => WorkerState::Idle {
                until: self.settings.spacing,
            },
        })
    }
}
