//! Reading the whole audit log of a store in bounded memory and on every core, for `audit
//! verify` and `audit export` when the store is free (through a running `serve`, the log comes
//! from its admin socket instead: `admin_client.rs`).

use crate::domain::audit::AuditRecord;
use crate::ports::{AuditPage, Store, StoreError};
use anyhow::anyhow;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

/// Positions per chunk: memory stays bounded however long the log is.
const CHUNK: u64 = 1024;
/// Threads reading and decoding chunks ahead of the caller.
const READERS: u64 = 2;

/// A chunk, and whether each record's own hash matches (empty when not asked for).
type Chunk = (AuditPage, Vec<bool>);
type Sent = Result<Chunk, StoreError>;

/// Calls `each` on every stored audit record, in storage order, with whether its own hash
/// matches (checked on the reader threads when `hash` is set, else `true`); stops at the first
/// error of `each`.
///
/// Chunk `c` is positions `1 + c·CHUNK` up to the next chunk; reader `r` reads chunks `r`,
/// `r + READERS`, … while the caller checks the earlier ones in order, and frees the chunks the
/// caller hands back (freeing on the allocating thread is much cheaper). Positions are the
/// store's keys, so a tampered log is read exactly as stored. A gap wider than a chunk (only a
/// tampered log has one) is crossed by reading on from the next stored position, one page at a
/// time, instead of through empty chunks.
pub(super) fn each_record<S: Store + ?Sized>(
    store: &S,
    hash: bool,
    mut each: impl FnMut(&AuditRecord, bool) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let after_gap = std::thread::scope(|scope| -> anyhow::Result<Option<u64>> {
        let mut readers = Vec::new();
        for first in 0..READERS {
            let (pages, received) = sync_channel(2);
            let (done, checked) = channel::<Chunk>();
            scope.spawn(move || read_chunks(store, first, hash, &pages, &checked));
            readers.push((received, done));
        }
        for chunk in 0u64.. {
            let (received, done) = &readers[(chunk % READERS) as usize];
            let (page, hashed) = received
                .recv()
                .map_err(|_| anyhow!("an audit log reader stopped unexpectedly"))??;
            for (i, rec) in page.records.iter().enumerate() {
                each(rec, hashed.get(i).copied().unwrap_or(true))?;
            }
            let next = page.next;
            let _ = done.send((page, hashed));
            match next {
                None => return Ok(None),
                Some(n) if n >= start(chunk).saturating_add(2 * CHUNK) => return Ok(Some(n)),
                Some(_) => {}
            }
        }
        Ok(None)
    })?;
    let mut from = after_gap;
    while let Some(position) = from {
        let page = store.audit_page(position, CHUNK as usize)?;
        for rec in &page.records {
            each(rec, !hash || rec.hash_matches())?;
        }
        from = page.next;
    }
    Ok(())
}

/// The first position of chunk `c`.
fn start(chunk: u64) -> u64 {
    chunk.saturating_mul(CHUNK).saturating_add(1)
}

/// Reads chunks `first`, `first + READERS`, … until the log ends or the caller stops listening.
fn read_chunks<S: Store + ?Sized>(
    store: &S,
    first: u64,
    hash: bool,
    pages: &SyncSender<Sent>,
    checked: &Receiver<Chunk>,
) {
    let mut chunk = first;
    loop {
        let from = start(chunk);
        let page = store
            .audit_range(from, from.saturating_add(CHUNK))
            .map(|p| {
                let hashed = if hash {
                    p.records.iter().map(AuditRecord::hash_matches).collect()
                } else {
                    Vec::new()
                };
                (p, hashed)
            });
        let last = page.as_ref().map_or(true, |(p, _)| p.next.is_none());
        if pages.send(page).is_err() || last {
            return;
        }
        checked.try_iter().for_each(drop);
        chunk = chunk.saturating_add(READERS);
    }
}
