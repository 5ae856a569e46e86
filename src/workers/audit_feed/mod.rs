//! The audit feed: posts every audit record, in order, to each platform's audit channel, and
//! periodically the head of the hash chain, so the log can be checked against what the channel
//! saw. A stored cursor per platform remembers the last record posted, so a restart neither
//! skips nor repeats lines; at most one line per `spacing` goes to each audit channel.
//!
//! Real events come first: authentication failures (unauthenticated requests) are not posted
//! one by one but counted, per route and kind, in one summary line at most once a minute,
//! posted when no real record is waiting ([`summary`]). A second stored cursor remembers how
//! far they were summarised.
//!
//! A failed post holds that channel for its `Retry-After`, or a backoff that doubles from 5 s to
//! 5 min ([`hold`]). Lines are delivered at least once: an answer lost after the post went
//! through repeats that line once per retry, and the retries back off (each copy names its
//! record number, so a repeat is recognisable).

mod hold;
mod summary;

use super::{Worker, WorkerError, WorkerState};
use crate::domain::identity::Platform;
use crate::ports::{Chat, Clock, Store, StoreError};
use crate::store::threads::StoreThreads;
use async_trait::async_trait;
use hold::Holds;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use summary::{AuthFailures, summarised};
use tracing::warn;

/// How often the feed looks for new records when it has nothing to post. Records are appended
/// from many places (every transition, refusal and auth failure), so the feed polls instead of
/// being woken; a line reaching the channel a second late costs nothing.
const POLL: Duration = Duration::from_secs(1);
/// At most one summary of authentication failures per this long, per audit channel.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
/// Records read at once when looking past authentication failures for the next real one.
const PAGE: usize = 256;
/// The most records one summary looks back over (the first summary after an upgrade would
/// otherwise read the whole log).
const SUMMARY_SCAN: u64 = 10_000;

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
    last_summary: Mutex<HashMap<Platform, Timestamp>>,
    holds: Mutex<Holds>,
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
            last_summary: Mutex::new(HashMap::new()),
            holds: Mutex::new(Holds::default()),
        }
    }

    /// Posts the next new audit record (or, when there is none, the summary of authentication
    /// failures or the chain head, if due) to every audit channel whose spacing allows; returns
    /// how many lines were posted.
    pub async fn post_audit(&self) -> Result<usize, StoreError> {
        let mut sent = 0;
        for (platform, chat) in &self.chats {
            let now = self.clock.now();
            if !self.spaced(*platform, now) {
                continue;
            }
            sent += match self.post_next(*platform, chat.as_ref(), now).await? {
                Some(posted) => posted,
                None => match self.post_summary(*platform, chat.as_ref(), now).await? {
                    0 => self.post_chain_head(platform, chat.as_ref(), now).await?,
                    n => n,
                },
            };
        }
        Ok(sent)
    }

    /// Posts the next real record past any authentication failures (which the cursor then
    /// passes); `None` if no real record is waiting.
    async fn post_next(
        &self,
        platform: Platform,
        chat: &dyn Chat,
        now: Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        let name = format!("audit:{platform}");
        let cursor = name.clone();
        let page = self
            .store
            .run(move |s| s.audit_from(s.cursor(&cursor)? + 1, PAGE))
            .await?;
        let Some(rec) = page.iter().find(|r| !summarised(r)).cloned() else {
            if let Some(last) = page.last().map(|r| r.seq) {
                self.store.run(move |s| s.set_cursor(&name, last)).await?;
            }
            return Ok(None);
        };
        // NB: a failed post counts for the spacing too, so a chat outage is not hammered.
        self.last_sent().insert(platform, now);
        match chat.post_line(chat.audit_channel(), &rec.line()).await {
            Ok(()) => {
                let seq = rec.seq;
                self.holds().succeeded(platform);
                self.store.run(move |s| s.set_cursor(&name, seq)).await?;
                Ok(Some(1))
            }
            Err(e) => {
                warn!(error = %e, %platform, "audit line not posted; will retry");
                self.holds().failed(platform, now, &e);
                Ok(Some(0))
            }
        }
    }

    /// Posts one line counting the authentication failures the feed passed since the last
    /// summary, if there were any and the last summary is [`SUMMARY_INTERVAL`] old.
    async fn post_summary(
        &self,
        platform: Platform,
        chat: &dyn Chat,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let last = self.summaries().get(&platform).copied();
        let interval = SignedDuration::try_from(SUMMARY_INTERVAL).unwrap_or(SignedDuration::ZERO);
        if last.is_some_and(|t| now.duration_since(t) < interval) {
            return Ok(0);
        }
        let (main, name) = (
            format!("audit:{platform}"),
            format!("auth_summary:{platform}"),
        );
        let read = name.clone();
        let (done, upto, failures) = self
            .store
            .run(move |s| passed_failures(s, &read, &main))
            .await?;
        let Some(line) = failures.line() else {
            if upto > done {
                self.store.run(move |s| s.set_cursor(&name, upto)).await?;
            }
            return Ok(0);
        };
        self.last_sent().insert(platform, now);
        match chat.post_line(chat.audit_channel(), &line).await {
            Ok(()) => {
                self.summaries().insert(platform, now);
                self.holds().succeeded(platform);
                self.store.run(move |s| s.set_cursor(&name, upto)).await?;
                Ok(1)
            }
            Err(e) => {
                warn!(error = %e, %platform, "audit summary not posted; will retry");
                self.holds().failed(platform, now, &e);
                Ok(0)
            }
        }
    }

    /// When each channel last got a summary.
    fn summaries(&self) -> MutexGuard<'_, HashMap<Platform, Timestamp>> {
        self.last_summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
                self.holds().failed(*platform, now, &e);
                Ok(0)
            }
        }
    }

    /// Whether `platform`'s channel may get a line at `now`: the spacing since the last one has
    /// passed and no failure holds it.
    fn spaced(&self, platform: Platform, now: Timestamp) -> bool {
        if !self.holds().open(platform, now) {
            return false;
        }
        let last = self.last_sent().get(&platform).copied();
        let spacing =
            SignedDuration::try_from(self.settings.spacing).unwrap_or(SignedDuration::ZERO);
        last.is_none_or(|t| now.duration_since(t) >= spacing)
    }

    fn holds(&self) -> MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spacing map; a panic elsewhere while holding it leaves plain data, so use it anyway.
    fn last_sent(&self) -> MutexGuard<'_, HashMap<Platform, Timestamp>> {
        self.last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The summary cursor `summarised`, the feed's cursor `posted`, and the authentication
/// failures between them (at most [`SUMMARY_SCAN`] records back).
fn passed_failures(
    s: &dyn Store,
    summarised: &str,
    posted: &str,
) -> Result<(u64, u64, AuthFailures), StoreError> {
    let (done, upto) = (s.cursor(summarised)?, s.cursor(posted)?);
    let mut failures = AuthFailures::default();
    let mut next = done.max(upto.saturating_sub(SUMMARY_SCAN)) + 1;
    while next <= upto {
        let page = s.audit_from(next, PAGE)?;
        let Some(end) = page.last().map(|r| r.seq) else {
            break;
        };
        page.iter()
            .filter(|r| r.seq <= upto)
            .for_each(|r| failures.add(r));
        next = end + 1;
    }
    Ok((done, upto, failures))
}

#[cfg(test)]
mod tests;

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
