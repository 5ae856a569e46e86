//! Checking the hash chain, one record at a time so a log of any length is verified in
//! bounded memory: [`ChainVerifier`] takes records in storage order, [`verify`] is the same
//! check over a slice.

use super::{AuditRecord, GENESIS_HASH};

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

/// Checks records one at a time in storage order and names the first problem.
///
/// A gap is not reported at once: if the missing record turns up further on, it was moved
/// (reordered), not removed, and only the rest of the log can tell.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected: u64,
    prev: String,
    /// The first gap seen: (the record expected, the one found instead).
    gap: Option<(u64, u64)>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected: 1,
            prev: GENESIS_HASH.to_string(),
            gap: None,
        }
    }
}

impl ChainVerifier {
    /// Checks the next record. After an error the verifier must not be used further.
    pub fn push(&mut self, rec: &AuditRecord) -> Result<(), ChainError> {
        self.push_hashed(rec, rec.hash_matches())
    }

    /// [`Self::push`] for a record whose own hash was already checked (`hash_ok`, from
    /// [`AuditRecord::hash_matches`]), e.g. on another thread.
    pub fn push_hashed(&mut self, rec: &AuditRecord, hash_ok: bool) -> Result<(), ChainError> {
        if let Some((expected, found)) = self.gap {
            if rec.seq == expected {
                return Err(ChainError::Reordered { expected, found });
            }
            return Ok(());
        }
        let expected = self.expected;
        if rec.seq < expected {
            return Err(ChainError::Reordered {
                expected,
                found: rec.seq,
            });
        }
        if rec.seq > expected {
            // Decided by the rest of the log: see the type's docs.
            self.gap = Some((expected, rec.seq));
            return Ok(());
        }
        if !hash_ok {
            return Err(ChainError::Edited { seq: rec.seq });
        }
        if rec.prev_hash != self.prev {
            return Err(ChainError::Unlinked { seq: rec.seq });
        }
        self.prev.clone_from(&rec.hash);
        self.expected += 1;
        Ok(())
    }

    /// Ends the check: `head` is the separately stored `(seq, hash)` of the newest record, if
    /// known, which also catches removal of the newest records. Returns the number of records.
    pub fn finish(self, head: Option<(u64, &str)>) -> Result<u64, ChainError> {
        if let Some((expected, found)) = self.gap {
            return Err(ChainError::Missing { expected, found });
        }
        let count = self.expected - 1;
        if let Some((head_seq, head_hash)) = head
            && (head_seq != count || (count > 0 && head_hash != self.prev))
        {
            return Err(ChainError::Truncated {
                last: count,
                head: head_seq,
            });
        }
        Ok(count)
    }
}

/// Checks a chain in storage order. `head` is the separately stored `(seq, hash)` of the newest
/// record, if known, which also catches removal of the newest records.
pub fn verify(records: &[AuditRecord], head: Option<(u64, &str)>) -> Result<u64, ChainError> {
    let mut verifier = ChainVerifier::default();
    for rec in records {
        verifier.push(rec)?;
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::super::tests::chain;
    use super::*;

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
    fn a_gap_followed_by_an_edit_is_named_as_the_gap() {
        let mut c = chain(6);
        let h = c[5].hash.clone();
        c.remove(1);
        c[3].action = "approved".into();
        assert_eq!(
            verify(&c, Some((6, &h))),
            Err(ChainError::Missing {
                expected: 2,
                found: 3
            })
        );
    }
}
