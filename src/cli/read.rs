//! The read-only commands, `audit verify`, `audit export` and `grants list`, over a
//! [`StoreView`] (`view.rs`): the store itself when it is free, or a running `jitpe serve`
//! through its admin socket (`admin_client.rs`) while it holds the store. One formatting and
//! checking code for both, so their output is the same byte for byte.

use super::admin_client::AdminClient;
use super::view::StoreView;
use crate::config::StoreSettings;
use crate::domain::audit::ChainVerifier;
use crate::domain::duration::format_duration;
use crate::ports::StoreError;
use crate::store::sled::SledStore;
use anyhow::{anyhow, bail};
use std::io::Write;

/// `audit verify`: recomputes the hash chain, in pages; stops at the first problem.
pub fn audit_verify(log: &dyn StoreView, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut verifier = ChainVerifier::default();
    let head = log.audit_log(true, &mut |rec, hash_ok| {
        verifier
            .push_hashed(rec, hash_ok)
            .map_err(|e| anyhow!("audit chain BROKEN: {e}"))
    })?;
    match verifier.finish(head.as_ref().map(|(s, h)| (*s, h.as_str()))) {
        Ok(n) => {
            writeln!(
                out,
                "audit chain OK: {n} records, head {}",
                head.map_or("-".into(), |(_, h)| h)
            )?;
            Ok(())
        }
        Err(e) => bail!("audit chain BROKEN: {e}"),
    }
}

/// `audit export`: every record as JSON Lines, in pages.
pub fn audit_export(log: &dyn StoreView, out: &mut dyn Write) -> anyhow::Result<()> {
    log.audit_log(false, &mut |rec, _| {
        serde_json::to_writer(&mut *out, rec)?;
        Ok(writeln!(out)?)
    })?;
    Ok(())
}

/// `grants list`: the open requests with their time left at `now`.
pub fn grants_list(
    view: &dyn StoreView,
    now: jiff::Timestamp,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let open = view.open_requests()?;
    if open.is_empty() {
        writeln!(out, "no pending or active requests")?;
    }
    for q in open {
        let left = q.time_left(now).map_or("-".to_string(), format_duration);
        writeln!(
            out,
            "#{}\t{}\t{} on {}\t{}\tleft {left}\t{}",
            q.id, q.state, q.role, q.namespace, q.subject.user, q.requester
        )?;
    }
    Ok(())
}

/// Runs a read-only command on a blocking thread (sled and the socket client both block), with
/// stdout as its output: on the store if it is free, else through the admin socket of the
/// `serve` holding it, which it says on stderr.
pub async fn read_only<F>(settings: StoreSettings, run: F) -> anyhow::Result<()>
where
    F: FnOnce(&dyn StoreView, &mut dyn Write) -> anyhow::Result<()> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let out = &mut std::io::stdout().lock();
        match open_view(&settings, runtime)? {
            View::Store(store) => run(&store, out),
            View::Serve(client) => run(&client, out),
        }
    })
    .await?
}

/// Where a read-only command reads.
enum View {
    Store(SledStore),
    Serve(AdminClient),
}

/// The store, unless a running `serve` holds it: then its admin socket. A store that cannot be
/// opened for another reason is that error, never a detour through the socket.
fn open_view(s: &StoreSettings, runtime: tokio::runtime::Handle) -> anyhow::Result<View> {
    // Checked without waiting first: a held lock would otherwise be waited for before failing.
    if !SledStore::in_use(&s.path) {
        match open_store(s) {
            Ok(store) => return Ok(View::Store(store)),
            Err(e) if is_locked(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(socket) = s.admin_socket.clone() else {
        return Err(anyhow!(StoreError::Locked {
            path: s.path.clone()
        })
        .context(
            "the store is in use and server.admin_socket is \"off\", so the running jitpe \
             cannot be asked instead",
        ));
    };
    eprintln!(
        "the store at {} is in use by a running jitpe serve: reading through its admin socket {}",
        s.path.display(),
        socket.display()
    );
    Ok(View::Serve(AdminClient::new(socket, runtime)))
}

/// Opens the store read-write, with the configured cache so a long `audit verify` stays within
/// it. A store held by `jitpe serve` fails with [`StoreError::Locked`], whose message says what
/// to do.
pub fn open_store(s: &StoreSettings) -> anyhow::Result<SledStore> {
    Ok(SledStore::open_with_cache(&s.path, s.cache_bytes)?)
}

/// Whether `e` is the store's lock being held by another process (`jitpe serve`), and only that:
/// a corrupt or unreadable store must not be mistaken for a running jitpe.
pub(super) fn is_locked(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(StoreError::Locked { .. }))
}
