//! Key layouts and value codecs of [`super::SledStore`].
//!
//! sled orders keys as raw bytes, so every key that is scanned in order is big-endian: request ids,
//! audit sequence numbers, outbox keys, and deadlines (whose signed nanosecond count is shifted
//! into unsigned space so that byte order equals time order, also before 1970).

use crate::domain::ids::RequestId;
use crate::domain::request::AccessRequest;
use crate::ports::StoreError;
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `meta` key: the highest request id handed out or stored (u64 BE).
pub(super) const META_LAST_ID: &[u8] = b"last_id";
/// `meta` key: the newest audit record's `(seq, hash)`, JSON [`Head`].
pub(super) const META_AUDIT_HEAD: &[u8] = b"audit_head";
/// `meta` key: the last outbox key handed out (u64 BE).
pub(super) const META_OUTBOX_LAST: &[u8] = b"outbox_last";
/// `meta` key prefix of named cursors (u64 BE values).
pub(super) const META_CURSOR_PREFIX: &str = "cursor/";

/// `meta` key prefix of auto-approval tallies (u64 BE values), one per requester, role and day.
pub(super) const META_TALLY_PREFIX: &str = "tally/";

/// `seen` key prefix: idempotency key -> first-seen time.
pub(super) const SEEN_KEY_PREFIX: &[u8] = b"k/";
/// `seen` key prefix: first-seen time ++ idempotency key -> empty, to forget old keys in order.
pub(super) const SEEN_TIME_PREFIX: &[u8] = b"t/";

/// A request as stored in the `requests` tree.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredRequest {
    /// CAS version: 1 on create, +1 per update.
    pub version: u64,
    /// The deadline under which the request is indexed in `deadlines`, kept here so the entry can
    /// be removed exactly even if a newer release computes `next_deadline()` differently.
    #[serde(default)]
    pub deadline: Option<Timestamp>,
    /// The request.
    pub request: AccessRequest,
}

/// The borrowed twin of [`StoredRequest`], so writing does not clone the request.
#[derive(Serialize)]
pub(super) struct StoredRequestRef<'a> {
    pub version: u64,
    pub deadline: Option<Timestamp>,
    pub request: &'a AccessRequest,
}

/// The audit head in `meta`.
#[derive(Serialize, Deserialize)]
pub(super) struct Head {
    pub seq: u64,
    pub hash: String,
}

/// A u64 as a big-endian key, so byte order equals numeric order.
pub(super) fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Reads a big-endian u64 value or key; `what` names it in the error.
pub(super) fn read_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is {} bytes, not 8", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// A timestamp as 16 bytes whose byte order is time order (sign bit flipped).
pub(super) fn time_key(t: Timestamp) -> [u8; 16] {
    let shifted = (t.as_nanosecond() as u128) ^ (1u128 << 127);
    shifted.to_be_bytes()
}

/// The inverse of [`time_key`].
pub(super) fn read_time(bytes: &[u8]) -> Result<Timestamp, StoreError> {
    let arr: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("deadline key is not 16+8 bytes".into()))?;
    let nanos = (u128::from_be_bytes(arr) ^ (1u128 << 127)) as i128;
    Timestamp::from_nanosecond(nanos)
        .map_err(|e| StoreError::Corrupt(format!("deadline key out of range: {e}")))
}

/// `deadlines` key: deadline ++ request id, so a range scan from the start yields the earliest.
pub(super) fn deadline_key(at: Timestamp, id: RequestId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&time_key(at));
    key[16..].copy_from_slice(&u64_key(id.0));
    key
}

/// Splits a `deadlines` key back into its deadline and request id.
pub(super) fn read_deadline_key(key: &[u8]) -> Result<(Timestamp, RequestId), StoreError> {
    if key.len() != 24 {
        return Err(StoreError::Corrupt(format!(
            "deadline key is {} bytes, not 24",
            key.len()
        )));
    }
    let at = read_time(&key[..16])?;
    let id = RequestId(read_u64(&key[16..], "deadline key id")?);
    Ok((at, id))
}

/// `cards` key: request id ++ platform name, so one prefix scan finds a request's cards.
pub(super) fn card_key(id: RequestId, platform: &str) -> Vec<u8> {
    let mut key = u64_key(id.0).to_vec();
    key.extend_from_slice(platform.as_bytes());
    key
}

/// `seen` key of an idempotency key.
pub(super) fn seen_key(key: &str) -> Vec<u8> {
    [SEEN_KEY_PREFIX, key.as_bytes()].concat()
}

/// `seen` time-index key of an idempotency key first seen at `at`.
pub(super) fn seen_time_key(at: Timestamp, key: &str) -> Vec<u8> {
    [SEEN_TIME_PREFIX, &time_key(at), key.as_bytes()].concat()
}

/// `meta` key of a named cursor.
pub(super) fn cursor_key(name: &str) -> Vec<u8> {
    format!("{META_CURSOR_PREFIX}{name}").into_bytes()
}

/// `meta` key of an auto-approval tally.
pub(super) fn tally_key(tally: &str) -> Vec<u8> {
    format!("{META_TALLY_PREFIX}{tally}").into_bytes()
}

/// Serializes a value; a failure is reported as corruption (it means a type cannot be stored).
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Deserializes a stored value; `what` names it in the error.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Maps a sled error met while doing `context` to a backend failure that keeps it as its source.
pub(super) fn backend(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times_also_before_1970() {
        let times = [-5_000_000_000i64, -1, 0, 1, 1_700_000_000, 1_700_000_001];
        let keys: Vec<_> = times
            .iter()
            .map(|s| time_key(Timestamp::from_second(*s).expect("in range")))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn deadline_keys_round_trip() {
        let at = Timestamp::from_second(1_700_000_000).expect("in range");
        let key = deadline_key(at, RequestId(42));
        assert_eq!(read_deadline_key(&key).expect("valid"), (at, RequestId(42)));
    }
}
