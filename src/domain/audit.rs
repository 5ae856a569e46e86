//! Audit events and their SHA-256 hash chain.
//!
//! Each record's hash covers its own fields and the previous record's hash, so editing, removing
//! or reordering any record breaks every hash after it. [`verify`] and [`ChainVerifier`] (chain.rs)
//! name the first bad record.

use super::identity::Actor;
use super::ids::RequestId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

mod chain;
pub use chain::{ChainError, ChainVerifier, verify};

/// The hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event before the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Who caused it.
    pub actor: Actor,
    /// What happened, as a snake_case verb (`requested`, `approved`, `expired`, `auth_failed`).
    pub action: String,
    /// The request concerned, if any.
    pub request_id: Option<RequestId>,
    /// Further facts, sorted by key so the hash is stable.
    pub details: BTreeMap<String, String>,
}

impl AuditDraft {
    /// A draft with no details.
    pub fn new(actor: Actor, action: &str, request_id: Option<RequestId>) -> Self {
        Self {
            actor,
            action: action.to_string(),
            request_id,
            details: BTreeMap::new(),
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.details.insert(key.to_string(), value.to_string());
        self
    }
}

/// A stored, chained audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded.
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub action: String,
    /// The request concerned, if any.
    pub request_id: Option<RequestId>,
    /// Further facts.
    pub details: BTreeMap<String, String>,
    /// Hash of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this record's fields and `prev_hash`.
    pub hash: String,
}

/// The fields that are hashed, in a fixed order; JSON with sorted maps is deterministic.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: &'a Timestamp,
    actor: &'a Actor,
    action: &'a str,
    request_id: Option<RequestId>,
    details: &'a BTreeMap<String, String>,
    prev_hash: &'a str,
}

/// Feeds serialized bytes straight into the hash, without building the JSON first.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AuditRecord {
    /// Numbers and chains a draft after the record whose hash is `prev_hash`.
    pub fn chain(draft: AuditDraft, seq: u64, at: Timestamp, prev_hash: &str) -> Self {
        let mut rec = Self {
            seq,
            at,
            actor: draft.actor,
            action: draft.action,
            request_id: draft.request_id,
            details: draft.details,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        rec
    }

    /// Recomputes this record's hash from its fields.
    pub fn compute_hash(&self) -> String {
        hex::encode(self.digest())
    }

    /// Whether the stored `hash` is the hash of this record's fields. Allocates nothing, as
    /// `audit verify` runs it on every record of the log.
    pub fn hash_matches(&self) -> bool {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.digest(), &mut hex).is_ok() && hex == self.hash.as_bytes()
    }

    /// SHA-256 of the hashed fields as JSON, streamed into the hasher.
    fn digest(&self) -> [u8; 32] {
        let hashed = Hashed {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            request_id: self.request_id,
            details: &self.details,
            prev_hash: &self.prev_hash,
        };
        let mut hasher = HashWriter(Sha256::new());
        serde_json::to_writer(&mut hasher, &hashed).expect("audit fields always serialize to JSON");
        hasher.0.finalize().into()
    }

    /// One concise line for the audit channel and logs.
    /// A revocation by rule starts with `ALERT`, so it stands out in the audit channel.
    pub fn line(&self) -> String {
        let alert = self.action == "revoked" && self.details.contains_key("rule");
        let mut s = format!(
            "{}#{} {} {}",
            if alert { "ALERT " } else { "" },
            self.seq,
            self.actor,
            self.action
        );
        if let Some(id) = self.request_id {
            s.push_str(&format!(" request #{id}"));
        }
        for (k, v) in &self.details {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn chain(n: u64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone());
            let draft = AuditDraft::new(Actor::system(), "expired", Some(RequestId(seq)))
                .with("role", "debug");
            let at = Timestamp::from_second(1_700_000_000 + seq as i64).unwrap();
            out.push(AuditRecord::chain(draft, seq, at, &prev));
        }
        out
    }

    #[test]
    fn lines_are_concise_and_name_the_request() {
        let c = chain(1);
        assert_eq!(c[0].line(), "#1 system:jitpe expired request #1 role=debug");
    }
}
