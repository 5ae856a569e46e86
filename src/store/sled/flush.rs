//! Group commit: writers that finished their transaction while a flush was running share the
//! next flush instead of each paying for their own fsync.
//!
//! Each writer takes a ticket after its transaction committed in memory. A flush that starts
//! after ticket `n` was handed out makes every write up to `n` durable, so a writer returns as
//! soon as a flush that started after its ticket has finished. Only one flush runs at a time;
//! under load, one fsync covers every write that queued behind the previous one.

use std::sync::{Condvar, Mutex, PoisonError};

/// The shared flush state of one database.
#[derive(Default)]
pub(super) struct GroupFlush {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// The last ticket handed out.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Whether a writer is flushing now.
    flushing: bool,
}

impl GroupFlush {
    /// Returns once the writes the caller committed before calling this are durable: either a
    /// flush that started later finished, or the caller ran one itself with `flush`.
    pub(super) fn wait_durable<E>(&self, flush: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.durable >= ticket {
                return Ok(());
            }
            if st.flushing {
                st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st.flushing = true;
            let covers = st.issued;
            drop(st);
            let result = flush();
            st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.flushing = false;
            if result.is_ok() {
                st.durable = st.durable.max(covers);
            }
            // Waiters whose tickets were not covered (or whose flush failed) try again.
            self.done.notify_all();
            result?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn writers_that_wait_together_share_flushes_and_none_returns_before_one_covering_it() {
        let group = Arc::new(GroupFlush::default());
        let flushes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (group, flushes) = (group.clone(), flushes.clone());
                std::thread::spawn(move || {
                    group.wait_durable(|| {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        Ok::<_, ()>(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..16).contains(&n), "16 writers needed {n} flushes");
        let st = group.state.lock().unwrap();
        assert_eq!(st.durable, 16);
    }

    #[test]
    fn a_failed_flush_is_reported_and_the_next_writer_flushes_again() {
        let group = GroupFlush::default();
        assert_eq!(group.wait_durable(|| Err("disk full")), Err("disk full"));
        assert_eq!(group.wait_durable(|| Ok::<_, &str>(())), Ok(()));
        assert_eq!(group.state.lock().unwrap().durable, 2);
    }
}
