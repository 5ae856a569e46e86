//! The admin socket's read-only routes. Every store read runs on the store threads
//! ([`StoreThreads::run`]), one page of the audit log per job, so a long export neither blocks a
//! tokio worker nor holds a store thread for long, and memory stays at one page: the next page
//! is read only when hyper asks the body for more, which it does as the client reads.

use super::{GRANTS_PATH, HEAD_PATH, Head, RECORDS_PATH};
use crate::domain::audit::AuditRecord;
use crate::domain::request::AccessRequest;
use crate::ports::StoreError;
use crate::store::threads::StoreThreads;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tracing::warn;

/// Audit positions read per store job (as `jitpe audit` reads the store itself).
const PAGE: u64 = 1024;

/// The routes, over the store threads of `serve`.
pub(super) fn router(threads: StoreThreads) -> Router {
    Router::new()
        .route(HEAD_PATH, get(head))
        .route(RECORDS_PATH, get(records))
        .route(GRANTS_PATH, get(grants))
        .with_state(threads)
}

/// A store failure, as 500 with the store's message (it names no secret).
struct Failed(StoreError);

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        warn!(error = %self.0, "admin socket: reading the store failed");
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

async fn head(State(threads): State<StoreThreads>) -> Result<Json<Option<Head>>, Failed> {
    let head = threads.run(|s| s.audit_head()).await.map_err(Failed)?;
    Ok(Json(head.map(|(seq, hash)| Head { seq, hash })))
}

async fn grants(State(threads): State<StoreThreads>) -> Result<Json<Vec<AccessRequest>>, Failed> {
    let open = threads.run(|s| s.list_open()).await.map_err(Failed)?;
    Ok(Json(open.into_iter().map(|r| r.value).collect()))
}

/// `?to=N`: positions below `N`; absent, every position.
#[derive(Debug, Deserialize)]
struct Below {
    to: Option<u64>,
}

/// The records as JSON Lines, a page at a time. A store failure part-way ends the body with an
/// error, which the client sees as a broken-off answer rather than a short, complete-looking log.
async fn records(State(threads): State<StoreThreads>, Query(below): Query<Below>) -> Body {
    let to = below.to;
    let pages = futures::stream::try_unfold(Some(1u64), move |from| {
        let threads = threads.clone();
        async move {
            let mut from = match from {
                Some(from) => from,
                None => return Ok::<_, StoreError>(None),
            };
            // Empty ranges (a gap in a tampered log) are crossed without sending an empty chunk.
            loop {
                let (lines, next) = threads.run(move |s| page(s, from, to)).await?;
                match next {
                    Some(next) if lines.is_empty() => from = next,
                    _ if lines.is_empty() => return Ok(None),
                    next => return Ok(Some((lines, next))),
                }
            }
        }
    });
    Body::from_stream(pages)
}

/// The records stored from position `from` (a page of them, below `to` if set) as JSON Lines,
/// and the position to read next, if any below `to`.
fn page(
    store: &dyn crate::ports::Store,
    from: u64,
    to: Option<u64>,
) -> Result<(Bytes, Option<u64>), StoreError> {
    let page = match to {
        Some(to) => store.audit_range(from, from.saturating_add(PAGE).min(to)),
        None => store.audit_page(from, PAGE as usize),
    }?;
    let next = page.next.filter(|n| to.is_none_or(|to| *n < to));
    Ok((json_lines(&page.records)?, next))
}

fn json_lines(records: &[AuditRecord]) -> Result<Bytes, StoreError> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for rec in records {
        serde_json::to_writer(&mut out, rec)
            .map_err(|e| StoreError::backend("encode an audit record", e))?;
        out.push(b'\n');
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditDraft;
    use crate::domain::identity::Actor;
    use crate::ports::Store;
    use crate::store::memory::MemStore;

    fn store_with(n: u64) -> MemStore {
        let store = MemStore::new();
        for i in 0..n {
            let at = jiff::Timestamp::from_second(1_700_000_000).unwrap();
            let draft = AuditDraft::new(Actor::system(), "reconcile_deleted", None).with("n", i);
            store.append_audit(draft, at).unwrap();
        }
        store
    }

    fn seqs(lines: &Bytes) -> Vec<u64> {
        std::str::from_utf8(lines)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().seq)
            .collect()
    }

    #[test]
    fn a_page_stops_below_the_bound_and_says_where_to_go_on() {
        let store = store_with(2_500);
        let (lines, next) = page(&store, 1, Some(2_001)).unwrap();
        assert_eq!(seqs(&lines), (1..=1024).collect::<Vec<_>>());
        assert_eq!(next, Some(1025));
        let (lines, next) = page(&store, 1025, Some(2_001)).unwrap();
        assert_eq!(seqs(&lines), (1025..=2000).collect::<Vec<_>>());
        assert_eq!(next, None, "2001 on is beyond the bound");
        let (lines, next) = page(&store, 2_049, None).unwrap();
        assert_eq!(seqs(&lines), (2049..=2500).collect::<Vec<_>>());
        assert_eq!(next, None);
    }
}
