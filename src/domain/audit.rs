//! Audit events and their SHA-256 hash chain.
//!
//! Each record's hash covers its own fields and the previous record's hash, so editing, removing
//! or reordering any record breaks every hash after it. [`verify`] names the first bad record.

use super::identity::Actor;
use super::ids::RequestId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

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
        let hashed = Hashed {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            request_id: self.request_id,
            details: &self.details,
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&hashed).expect("audit fields always serialize to JSON");
        hex::encode(Sha256::digest(bytes))
    }

    /// One concise line for the audit channel and logs.
    pub fn line(&self) -> String {
        let mut s = format!("#{} {} {}", self.seq, self.actor, self.action);
        if let Some(id) = self.request_id {
            s.push_str(&format!(" request #{id}"));
        }
        for (k, v) in &self.details {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

/// The first problem found in a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The record's contents do not match its hash: it was edited.
    #[error("audit record {seq} was edited: its hash does not match its contents")]
    Edited {
        /// The record.
        seq: u64,
    },
    /// Records are missing before this one.
    #[error("audit record(s) {expected} to {} are missing (found {found} next)", .found - 1)]
    Missing {
        /// The sequence number that should have come next.
        expected: u64,
        /// The one that came.
        found: u64,
    },
    /// The record is out of order (moved, or a repeated sequence number).
    #[error("audit record {found} is out of order: expected record {expected} at this place")]
    Reordered {
        /// The sequence number that should have come next.
        expected: u64,
        /// The one that came.
        found: u64,
    },
    /// The record does not link to the one before it.
    #[error("audit record {seq} does not follow the record before it (its prev_hash differs)")]
    Unlinked {
        /// The record.
        seq: u64,
    },
    /// The newest records are missing: the stored head says more exist.
    #[error("audit records after {last} are missing: the log head says {head} records exist")]
    Truncated {
        /// Last record found.
        last: u64,
        /// Records the head says exist.
        head: u64,
    },
}

/// Checks a chain in storage order. `head` is the separately stored `(seq, hash)` of the newest
/// record, if known, which also catches removal of the newest records.
pub fn verify(records: &[AuditRecord], head: Option<(u64, &str)>) -> Result<u64, ChainError> {
    let mut expected = 1;
    let mut prev = GENESIS_HASH.to_string();
    for (i, rec) in records.iter().enumerate() {
        // A record that is out of place but present further on was moved, not removed.
        let later = || records[i + 1..].iter().any(|r| r.seq == expected);
        if rec.seq != expected && later() {
            return Err(ChainError::Reordered {
                expected,
                found: rec.seq,
            });
        }
        if rec.seq > expected {
            return Err(ChainError::Missing {
                expected,
                found: rec.seq,
            });
        }
        if rec.seq < expected {
            return Err(ChainError::Reordered {
                expected,
                found: rec.seq,
            });
        }
        if rec.compute_hash() != rec.hash {
            return Err(ChainError::Edited { seq: rec.seq });
        }
        if rec.prev_hash != prev {
            return Err(ChainError::Unlinked { seq: rec.seq });
        }
        prev.clone_from(&rec.hash);
        expected += 1;
    }
    let count = expected - 1;
    if let Some((head_seq, head_hash)) = head
        && (head_seq != count || (count > 0 && head_hash != prev))
    {
        return Err(ChainError::Truncated {
            last: count,
            head: head_seq,
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
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

    fn head(c: &[AuditRecord]) -> Option<(u64, &str)> {
        c.last().map(|r| (r.seq, r.hash.as_str()))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, head(&c)), Ok(5));
        assert_eq!(verify(&[], Some((0, GENESIS_HASH))), Ok(0));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut c = chain(5);
        let h = c[4].hash.clone();
        c[2].details.insert("role".into(), "cluster-admin".into());
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainError::Edited { seq: 3 })
        );
    }

    #[test]
    fn an_edited_record_with_a_recomputed_hash_breaks_the_next_link() {
        let mut c = chain(5);
        let h = c[4].hash.clone();
        c[1].action = "approved".into();
        c[1].hash = c[1].compute_hash();
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainError::Unlinked { seq: 3 })
        );
    }

    #[test]
    fn a_removed_record_is_named() {
        let mut c = chain(5);
        let h = c[4].hash.clone();
        c.remove(2);
        let err = verify(&c, Some((5, &h))).unwrap_err();
        assert_eq!(
            err,
            ChainError::Missing {
                expected: 3,
                found: 4
            }
        );
        assert!(err.to_string().contains("3 to 3 are missing"));
    }

    #[test]
    fn reordered_records_are_named() {
        let mut c = chain(5);
        let h = c[4].hash.clone();
        c.swap(1, 2);
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainError::Reordered {
                expected: 2,
                found: 3
            })
        );
        let mut c = chain(3);
        c.insert(3, c[1].clone());
        assert_eq!(
            verify(&c, None),
            Err(ChainError::Reordered {
                expected: 4,
                found: 2
            })
        );
    }

    #[test]
    fn removing_the_newest_record_is_caught_by_the_head() {
        let mut c = chain(5);
        let h = c[4].hash.clone();
        c.pop();
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainError::Truncated { last: 4, head: 5 })
        );
    }

    #[test]
    fn lines_are_concise_and_name_the_request() {
        let c = chain(1);
        assert_eq!(c[0].line(), "#1 system:jitpe expired request #1 role=debug");
    }
}
