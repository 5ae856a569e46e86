//! The outbox as the delivery worker holds it: the stored entries grouped by channel, each
//! channel in FIFO order. Every entry is read from the store once, so a delivery pass costs the
//! number of channels with waiting messages, not the length of the backlog.
//!
//! The worker is the only one that removes or reschedules entries, so after the first read the
//! store and these queues change together; a restart reads the store again from the start.

use crate::ports::OutboxEntry;
use std::collections::{BTreeMap, VecDeque};

/// Entries by channel, and where the next store read starts.
#[derive(Debug, Default)]
pub(super) struct Queues {
    /// The smallest outbox key not read yet.
    next_key: u64,
    channels: BTreeMap<String, VecDeque<OutboxEntry>>,
}

/// The first waiting entry of a channel.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub channel: String,
    pub entry: OutboxEntry,
    /// Entries waiting behind it on the same channel.
    pub behind: usize,
}

impl Queues {
    /// Where the next read of new entries starts.
    pub fn next_key(&self) -> u64 {
        self.next_key
    }

    /// Queues an entry read from the store; keys only grow, so FIFO order is kept.
    pub fn add(&mut self, channel: String, entry: OutboxEntry) {
        self.next_key = self.next_key.max(entry.key.saturating_add(1));
        self.channels.entry(channel).or_default().push_back(entry);
    }

    /// The head of every channel, oldest first (the order the outbox was written in).
    pub fn heads(&self) -> Vec<Head> {
        let mut heads: Vec<Head> = self
            .channels
            .iter()
            .filter_map(|(channel, queue)| {
                Some(Head {
                    channel: channel.clone(),
                    entry: queue.front()?.clone(),
                    behind: queue.len() - 1,
                })
            })
            .collect();
        heads.sort_by_key(|h| h.entry.key);
        heads
    }

    /// Removes a channel's head (delivered or given up).
    pub fn pop(&mut self, channel: &str) {
        if let Some(queue) = self.channels.get_mut(channel) {
            queue.pop_front();
            if queue.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    /// Replaces a channel's head with itself rescheduled (after a failed attempt, as the store
    /// did), keeping its place.
    pub fn reschedule(&mut self, channel: &str, entry: OutboxEntry) {
        if let Some(head) = self.channels.get_mut(channel).and_then(VecDeque::front_mut) {
            *head = entry;
        }
    }

    /// Entries waiting, over all channels.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.channels.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Platform;
    use crate::domain::ids::RequestId;
    use crate::ports::{OutboxItem, OutboxMessage};
    use jiff::Timestamp;

    fn entry(key: u64) -> OutboxEntry {
        let item = OutboxItem {
            platform: Platform::Slack,
            message: OutboxMessage::PostCard {
                request_id: RequestId(key),
            },
        };
        OutboxEntry::new(key, item, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn heads_are_the_oldest_entry_of_each_channel_in_write_order() {
        let mut q = Queues::default();
        for (key, channel) in [(1, "b"), (2, "a"), (3, "b"), (4, "c")] {
            q.add(channel.into(), entry(key));
        }
        let heads: Vec<(String, u64, usize)> = q
            .heads()
            .into_iter()
            .map(|h| (h.channel, h.entry.key, h.behind))
            .collect();
        assert_eq!(
            heads,
            [("b".into(), 1, 1), ("a".into(), 2, 0), ("c".into(), 4, 0)]
        );
        assert_eq!(q.next_key(), 5);
        q.pop("b");
        q.pop("a");
        assert_eq!(q.heads()[0].entry.key, 3);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_rescheduled_head_keeps_its_place_and_its_bookkeeping() {
        let mut q = Queues::default();
        q.add("a".into(), entry(1));
        q.add("a".into(), entry(2));
        let later = Timestamp::from_second(60).unwrap();
        let mut retried = entry(1);
        (retried.not_before, retried.attempts) = (later, 1);
        retried.last_error = Some("429".into());
        q.reschedule("a", retried);
        let head = &q.heads()[0];
        assert_eq!((head.entry.key, head.entry.attempts), (1, 1));
        assert_eq!(head.entry.not_before, later);
        assert_eq!(head.entry.last_error.as_deref(), Some("429"));
    }
}
