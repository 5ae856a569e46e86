//! The admin socket: while `jitpe serve` holds the store (sled locks its directory), `jitpe audit
//! verify|export` and `grants list` read it through `serve` instead of stopping it.
//!
//! ```text
//!  jitpe audit export ──(store locked)──▶ <store>/admin.sock ──peer uid check──▶ read-only routes
//!        │ (store free: opens it directly)                          │ one page per store-thread job
//!        ▼                                                          ▼
//!     SledStore                                             StoreThreads::run
//! ```
//!
//! A Unix socket, mode 0600, on which each connection is let in by the peer's credentials
//! (`SO_PEERCRED`): the user `serve` runs as, or root; anyone else is closed at once and logged
//! (`server.rs`). HTTP/1.1 over it, GET only (`routes.rs`): the audit head, the audit records
//! stored below a position as JSON Lines streamed one page at a time (memory stays bounded at
//! any log size), and the open requests. The client (`cli/admin_client.rs`) reads the head
//! first and the records up to it, so `verify` checks a consistent prefix of a chain `serve`
//! keeps appending to, and does every check itself with the same code as on the store.

mod routes;
mod server;

pub use server::{AdminError, AdminSocket, admits};

use serde::{Deserialize, Serialize};

/// `GET`: the stored audit head, [`Head`] as JSON (`null` when none is stored).
pub const HEAD_PATH: &str = "/v1/audit/head";
/// `GET ?to=N`: the audit records stored at positions below `N` (all of them without `to`), in
/// storage order, one JSON object a line.
pub const RECORDS_PATH: &str = "/v1/audit/records";
/// `GET`: the pending, approved and active requests, by id, as a JSON array.
pub const GRANTS_PATH: &str = "/v1/grants";

/// The newest audit record's `(seq, hash)` as the store keeps it, apart from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}
